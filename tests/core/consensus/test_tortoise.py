"""The verifying tortoise (spec/node.md §6) driven as a simulated network of smeshers in one process.

Every smesher gets `proofs` eligibilities per layer out of `LPE * proofs` per epoch, so its ballots
weigh exactly its ATX weight / LPE and a layer's ballots carry exactly the layer's expected weight.
Expected opinion hashes are computed here with blake3 directly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from fractions import Fraction

import pytest
from blake3 import blake3

from core.consensus.tortoise import DecodedBallot, Tortoise, TortoiseConfig, TortoiseError
from core.crypto.hashing import hash20, hash32
from core.types.ballot import EMPTY_BALLOT, Ballot, EpochData, InnerBallot, Vote, Votes, VotingEligibility

LPE = 4
GENESIS = 2 * LPE - 1  # effective genesis layer: 7
FIRST = GENESIS + 1
CONFIG = TortoiseConfig(hdist=4, zdist=2, layers_per_epoch=LPE)
BEACON = b"\xbe\xac\x04\x01"


def b3(data: bytes) -> bytes:
    return blake3(data).digest()


def block_height(layer: int) -> int:
    return (layer // LPE) * 100


def atx_height(epoch: int) -> int:
    return epoch * 100 + 50  # taller than any block of the epoch


def block_id(layer: int, tag: bytes = b"") -> bytes:
    return hash20(b"block", struct.pack("<I", layer), tag)


@dataclass
class Smesher:
    node_id: bytes
    weight: int
    proofs: int
    tortoise: Tortoise
    ballots: dict[int, DecodedBallot] = field(default_factory=dict)

    def atx(self, epoch: int) -> bytes:
        return hash32(b"atx", self.node_id, struct.pack("<I", epoch))


class Net:
    """Smeshers (each with its own tortoise) plus observers that only listen."""

    def __init__(self, weights: list[int], observers: int = 0, proofs: list[int] | None = None):
        proofs = proofs or [1 + i % 3 for i in range(len(weights))]
        self.smeshers = [
            Smesher(hash32(b"node", bytes([i])), w, k, Tortoise(CONFIG))
            for i, (w, k) in enumerate(zip(weights, proofs, strict=True))
        ]
        self.observers = [Tortoise(CONFIG) for _ in range(observers)]
        self.hare_blocks: dict[int, bytes | None] = {}
        for epoch in range(2, 12):
            for node in self.nodes:
                node.on_beacon(epoch, BEACON)
                for s in self.smeshers:
                    node.on_atx(epoch, s.atx(epoch), s.weight, atx_height(epoch))

    @property
    def nodes(self) -> list[Tortoise]:
        return [s.tortoise for s in self.smeshers] + self.observers

    def make_ballot(self, s: Smesher, layer: int, votes: Votes, opinion: bytes) -> DecodedBallot:
        epoch_data = EpochData(bytes(32), BEACON, LPE * s.proofs)
        inner = InnerBallot(layer, s.atx(layer // LPE), opinion, EMPTY_BALLOT, epoch_data)
        proofs = tuple(VotingEligibility(j, bytes(80)) for j in range(s.proofs))
        wire = Ballot(inner, bytes(64), s.node_id, votes, proofs).encode()
        received = Ballot.decode(wire)  # what another node decodes off the wire
        return DecodedBallot.of(received, received.inner.epoch_data)

    def publish_ballots(self, layer: int, voters: list[Smesher] | None = None) -> list[DecodedBallot]:
        ballots = []
        for s in self.smeshers if voters is None else voters:
            encoded = s.tortoise.encode_votes(layer)
            ballots.append(self.make_ballot(s, layer, encoded.votes, encoded.opinion_hash))
            s.ballots[layer] = ballots[-1]
        for ballot in ballots:
            for node in self.nodes:
                node.on_ballot(ballot)
        return ballots

    def hare(self, layer: int, output: bytes | None | bool = True, skip: tuple[Tortoise, ...] = ()) -> bytes | None:
        """Hare terminates with a fresh block (True), empty (None) or a given block id."""
        block = block_id(layer) if output is True else output
        self.hare_blocks[layer] = block
        for node in self.nodes:
            if block is not None:
                node.on_block(block, layer, block_height(layer))
            if node not in skip:
                node.on_hare_output(layer, block)
        return block

    def tally(self, layer: int) -> None:
        for node in self.nodes:
            node.tally_votes(layer)

    def run_layer(self, layer: int, output: bytes | None | bool = True, skip: tuple[Tortoise, ...] = ()) -> None:
        self.publish_ballots(layer)
        self.hare(layer, output, skip)
        self.tally(layer)


def expected_chain(hare_blocks: dict[int, bytes | None], upto: int) -> dict[int, bytes]:
    """Opinions when every layer's hare output is supported, computed independently with blake3."""
    previous = b3(b"")
    chain = {GENESIS: previous}
    for layer in range(FIRST, upto + 1):
        block = hare_blocks[layer]
        x = b"" if block is None else block + struct.pack("<Q", block_height(layer))
        previous = chain[layer] = b3(previous + x)
    return chain


def valid_blocks(node: Tortoise, layer: int) -> list[bytes]:
    return [b.id for b in node.result(layer).blocks if b.valid]


# ------------------------------------------------------------------------------------------------


def test_honest_network_verifies_one_layer_behind_with_identical_results():
    net = Net([10, 25, 40, 70], observers=1)
    last = FIRST + 3 * LPE  # through three epochs
    for layer in range(FIRST, last + 1):
        net.run_layer(layer)
        chain = expected_chain(net.hare_blocks, layer)
        for node in net.nodes:
            assert node.verified == layer - 1
            for x in range(FIRST, layer + 1):
                assert node.opinion(x) == chain[x]
            for x in range(FIRST, layer):
                assert valid_blocks(node, x) == [net.hare_blocks[x]]
            assert node.proposal_mesh_hash(layer + 1) == chain[layer]
        for s in net.smeshers:  # every ballot is good everywhere and weighs ATX weight / LPE
            ballot = s.ballots[layer]
            assert ballot.opinion_hash == chain[layer - 1]
            for node in net.nodes:
                assert node.is_good(ballot.id)
                assert node.ballot_weight(ballot.id) == Fraction(s.weight, LPE)
    # updates report each layer once it is verified, with the hare block valid
    updates = net.observers[0].updates()
    verified = {u.layer: u for u in updates if u.verified}
    assert sorted(verified) == list(range(FIRST, last))
    for layer, update in verified.items():
        assert update.block_to_apply() == net.hare_blocks[layer]
        flags = [(b.valid, b.invalid, b.hare, b.local, b.data) for b in update.blocks]
        assert flags == [(True, False, True, True, True)]
    assert net.observers[0].updates() == []  # nothing changed since


def test_encoded_votes_list_only_exceptions_to_a_recent_good_ballot():
    net = Net([10, 20, 30])
    for layer in range(FIRST, FIRST + 4):
        net.run_layer(layer)
    s = net.smeshers[0]
    encoded = s.tortoise.encode_votes(FIRST + 4)
    base_layer = FIRST + 3
    heaviest = net.smeshers[2].ballots[base_layer]  # candidates are tried heaviest first
    assert encoded.votes.base == heaviest.id
    previous = FIRST + 3
    assert encoded.votes.support == (Vote(net.hare_blocks[previous], previous, block_height(previous)),)
    assert encoded.votes.against == () and encoded.votes.abstain == ()
    # the first ballots after genesis have nothing to vote on
    assert net.smeshers[0].ballots[FIRST].votes == Votes(EMPTY_BALLOT, (), (), ())
    assert net.smeshers[0].ballots[FIRST].opinion_hash == b3(b"")


def test_encode_then_decode_on_another_instance_reproduces_the_opinion_hash():
    net = Net([10, 20, 30], observers=1)
    lagging = net.observers[0]
    for layer in range(FIRST, FIRST + 3):
        net.run_layer(layer, skip=(lagging,) if layer == FIRST + 2 else ())
    # the lagging node has not seen hare for FIRST+2: its opinion differs from everybody else's
    current = FIRST + 3
    lagging.tally_votes(current)
    encoded = lagging.encode_votes(current)
    assert encoded.votes.abstain == (FIRST + 2,)
    assert encoded.opinion_hash != net.smeshers[0].tortoise.opinion(current - 1)
    ballot = net.make_ballot(net.smeshers[0], current, encoded.votes, encoded.opinion_hash)
    other = net.smeshers[1].tortoise
    other.on_ballot(ballot)  # decodes to exactly the hash carried: accepted
    other.tally_votes(current)
    assert not other.is_good(ballot.id)  # but it disagrees with this node's opinion
    # and an honest encoding decodes to the honest opinion everywhere
    honest = net.smeshers[2].tortoise.encode_votes(current)
    honest_ballot = net.make_ballot(net.smeshers[2], current, honest.votes, honest.opinion_hash)
    other.on_ballot(honest_ballot)
    assert other.is_good(honest_ballot.id)
    assert honest.opinion_hash == expected_chain(net.hare_blocks, current - 1)[current - 1]


def test_decoding_applies_against_and_abstain_exceptions_to_older_layers():
    net = Net([10, 20])
    for layer in range(FIRST, FIRST + 4):
        net.run_layer(layer)
    current = FIRST + 4
    node = net.smeshers[0].tortoise
    base = net.smeshers[1].ballots[FIRST + 3]
    older, abstained = FIRST + 1, FIRST + 2
    b = net.hare_blocks
    votes = Votes(
        base=base.id,
        support=(Vote(b[FIRST + 3], FIRST + 3, block_height(FIRST + 3)),),
        against=(Vote(b[older], older, block_height(older)),),
        abstain=(abstained,),
    )
    h = b3(b3(b"") + b[FIRST] + struct.pack("<Q", block_height(FIRST)))
    h = b3(h)  # FIRST+1: against its only block -> empty
    h = b3(h + b"\x00")  # FIRST+2: abstain
    h = b3(h + b[FIRST + 3] + struct.pack("<Q", block_height(FIRST + 3)))
    node.on_ballot(net.make_ballot(net.smeshers[1], current, votes, h))
    with pytest.raises(TortoiseError, match="opinion"):
        node.on_ballot(net.make_ballot(net.smeshers[0], current, votes, expected_chain(b, current - 1)[current - 1]))


def test_tampered_votes_or_hash_are_rejected():
    net = Net([10, 20])
    for layer in range(FIRST, FIRST + 3):
        net.run_layer(layer)
    current = FIRST + 3
    s = net.smeshers[0]
    encoded = s.tortoise.encode_votes(current)
    dropped = Votes(encoded.votes.base, (), (), ())
    node = net.smeshers[1].tortoise
    with pytest.raises(TortoiseError, match="opinion"):
        node.on_ballot(net.make_ballot(s, current, dropped, encoded.opinion_hash))
    with pytest.raises(TortoiseError, match="opinion"):
        node.on_ballot(net.make_ballot(s, current, encoded.votes, b3(b"something else")))
    with pytest.raises(TortoiseError, match="unknown base"):
        node.on_ballot(net.make_ballot(s, current, Votes(b"\x01" * 20, (), (), ()), encoded.opinion_hash))
    conflicting = Votes(encoded.votes.base, encoded.votes.support, encoded.votes.support, ())
    with pytest.raises(TortoiseError, match="conflicting"):
        node.on_ballot(net.make_ballot(s, current, conflicting, encoded.opinion_hash))
    future = Votes(encoded.votes.base, (Vote(block_id(current), current, 0),), (), ())
    with pytest.raises(TortoiseError, match="vote on layer"):
        node.on_ballot(net.make_ballot(s, current, future, encoded.opinion_hash))


def test_layer_with_empty_hare_output():
    net = Net([10, 20, 30])
    empty = FIRST + 2
    stray = block_id(empty, b"stray")  # a block exists, but hare agreed on nothing
    for layer in range(FIRST, FIRST + 5):
        if layer == empty:
            net.publish_ballots(layer)
            for node in net.nodes:
                node.on_block(stray, layer, block_height(layer))
            net.hare(layer, None)
            net.tally(layer)
        else:
            net.run_layer(layer)
    chain = expected_chain(net.hare_blocks, FIRST + 4)
    assert chain[empty] == b3(chain[empty - 1])
    for node in net.nodes:
        assert node.verified == FIRST + 3
        assert node.opinion(empty) == chain[empty]
        result = node.result(empty)
        assert result.verified and result.hare_terminated
        assert [(b.id, b.valid, b.invalid, b.hare) for b in result.blocks] == [(stray, False, True, False)]
        assert result.block_to_apply() is None


def test_zdist_turns_a_missing_hare_output_into_an_empty_layer():
    net = Net([10, 20, 30], observers=1)
    missing = FIRST + 2
    for layer in range(FIRST, missing):
        net.run_layer(layer)
    # hare never outputs for `missing`
    net.publish_ballots(missing)
    net.tally(missing)
    abstain_hash = b3(net.observers[0].opinion(missing - 1) + b"\x00")
    for layer in (missing, missing + 1):
        if layer > missing:
            ballots = net.publish_ballots(layer)
            assert all(b.votes.abstain == (missing,) for b in ballots)  # voters abstain meanwhile
            net.hare(layer)
            net.tally(layer)
        for node in net.nodes:
            assert not node.result(missing).hare_terminated
            assert node.opinion(missing) == abstain_hash
            assert node.verified == missing - 1  # cannot verify a layer whose hare has not terminated
    net.tally(missing + 2)  # zdist layers later: terminated, empty
    for node in net.nodes:
        assert node.result(missing).hare_terminated
        assert node.opinion(missing) == b3(node.opinion(missing - 1))
    net.hare_blocks[missing] = None
    # ballots of missing+1 abstained and are no longer good; with 2 layers of the expected weight
    # unseen-or-bad, verifying mode needs good ballots from 4 layers: margin 3-1 > 4/3 + 1/3
    net.publish_ballots(missing + 2)
    net.hare(missing + 2)
    net.tally(missing + 2)
    for layer in range(missing + 3, missing + 6):
        net.run_layer(layer)
        for node in net.nodes:
            assert node.verified == (missing - 1 if layer < missing + 4 else layer - 1)
    chain = expected_chain(net.hare_blocks, missing + 5)
    for node in net.nodes:
        assert [node.opinion(x) for x in range(FIRST, missing + 6)] == [chain[x] for x in range(FIRST, missing + 6)]
        assert node.result(missing).verified and node.result(missing).blocks == ()


def test_late_hare_output_makes_the_layer_valid_and_is_reported():
    net = Net([10, 20, 30], observers=1)
    late = net.observers[0]
    x = FIRST + 2
    for layer in range(FIRST, x):
        net.run_layer(layer)
    net.run_layer(x, skip=(late,))  # the block arrives, the hare output does not
    net.run_layer(x + 1)
    assert net.smeshers[0].tortoise.verified == x
    assert late.verified == x - 1  # others' ballots support a block it does not vote for
    before = {u.layer: u for u in late.updates()}
    assert [(b.valid, b.hare, b.local) for b in before[x].blocks] == [(False, False, False)]
    assert not before[x].verified

    late.on_hare_output(x, net.hare_blocks[x])
    late.tally_votes(x + 1)
    assert late.verified == x
    after = {u.layer: u for u in late.updates()}
    assert after[x].verified and [(b.valid, b.hare, b.local) for b in after[x].blocks] == [(True, True, True)]
    assert after[x].block_to_apply() == net.hare_blocks[x]
    assert set(after) == {x, x + 1}  # the opinion of every later layer changed with it
    for layer in (x, x + 1):
        assert late.opinion(layer) == net.smeshers[0].tortoise.opinion(layer)


def test_changed_hare_output_unverifies_the_layer_and_is_reported():
    net = Net([10, 20, 30], observers=1)
    x = FIRST + 2
    for layer in range(FIRST, x + 2):
        net.run_layer(layer)
    node = net.observers[0]
    node.updates()
    assert valid_blocks(node, x) == [net.hare_blocks[x]]
    # a verified layer's hare output changes (say a certificate for an empty output is synced)
    node.on_hare_output(x, None)
    node.tally_votes(x + 1)
    changed = {u.layer: u for u in node.updates()}
    assert set(changed) == {x, x + 1}
    assert not changed[x].verified
    assert [(b.valid, b.invalid, b.hare, b.local) for b in changed[x].blocks] == [(False, False, False, False)]
    assert changed[x].opinion == b3(node.opinion(x - 1))


def test_hare_output_corrected_before_anybody_voted_flips_validity():
    net = Net([10, 20, 30], observers=1)
    node = net.observers[0]
    y = FIRST + 2
    for layer in range(FIRST, y):
        net.run_layer(layer)
    net.publish_ballots(y)
    net.hare(y)
    net.tally(y)
    approved = {u.layer: u for u in node.updates()}[y]
    assert not approved.verified and approved.block_to_apply() == net.hare_blocks[y]  # hare output, applied early
    net.hare(y, None)
    net.run_layer(y + 1)
    flip = {u.layer: u for u in node.updates()}
    assert flip[y].verified
    assert [(b.valid, b.invalid, b.hare) for b in flip[y].blocks] == [(False, True, False)]
    assert flip[y].block_to_apply() is None


def test_malicious_identity_ballots_weigh_nothing():
    net = Net([70, 10, 10, 10], observers=1)
    big = net.smeshers[0]
    for layer in range(FIRST, FIRST + 3):
        net.run_layer(layer)
    assert net.observers[0].verified == FIRST + 1
    for node in net.nodes:
        node.on_malicious(big.node_id)
    for layer in range(FIRST + 3, FIRST + 6):
        net.run_layer(layer)
        for node in net.nodes:
            assert node.ballot_weight(big.ballots[layer].id) == 0
            assert not node.is_good(big.ballots[layer].id)
            assert node.ballot_weight(net.smeshers[1].ballots[layer].id) == Fraction(10, LPE)
            # 30 of 100 expected: margin 30 - 70 never beats the threshold
            assert node.verified == FIRST + 1


def test_ballot_weight_is_atx_weight_over_eligibilities_times_proofs():
    net = Net([10, 33], proofs=[1, 3])
    net.run_layer(FIRST)
    node = net.smeshers[0].tortoise
    assert node.ballot_weight(net.smeshers[1].ballots[FIRST].id) == Fraction(33 * 3, LPE * 3)
    votes = Votes(EMPTY_BALLOT, (Vote(net.hare_blocks[FIRST], FIRST, block_height(FIRST)),), (), ())
    odd = net.make_ballot(net.smeshers[1], FIRST + 1, votes, expected_chain(net.hare_blocks, FIRST)[FIRST])
    odd = replace(odd, eligibility_count=7, proofs=2)
    node.on_ballot(odd)
    assert node.ballot_weight(odd.id) == Fraction(33 * 2, 7)


def test_ballots_with_a_different_opinion_are_not_good_and_do_not_help_verify():
    net = Net([40, 30, 30])
    dissenter = net.smeshers[2]  # never hears hare: abstains, later votes layers empty
    honest = net.smeshers[0].tortoise
    net.run_layer(FIRST, skip=(dissenter.tortoise,))
    for last in range(FIRST + 1, FIRST + 9):
        net.run_layer(last, skip=(dissenter.tortoise,))
        assert honest.ballot_weight(dissenter.ballots[last].id) == Fraction(30, LPE)
        assert not honest.is_good(dissenter.ballots[last].id)
        assert honest.is_good(net.smeshers[1].ballots[last].id)
        # layers left outside hdist unverified are voted by counted margin: still the hare blocks
        chain = expected_chain(net.hare_blocks, last)
        assert [honest.opinion(x) for x in range(FIRST, last + 1)] == [chain[x] for x in range(FIRST, last + 1)]
        # 70% good weight per layer, the other 30% counted against: n layers after a candidate give
        # margin 0.7n - 0.3n against the threshold n/3 + 1/3, crossed only from n = 6
        assert honest.verified == (GENESIS if last < FIRST + 6 else last - 6)


def test_beacon_mismatch_or_short_atx_is_not_good():
    net = Net([10, 20])
    for layer in range(FIRST, FIRST + 2):
        net.run_layer(layer)
    s = net.smeshers[0]
    other = net.smeshers[1].tortoise
    encoded = s.tortoise.encode_votes(FIRST + 2)
    ballot = net.make_ballot(s, FIRST + 2, encoded.votes, encoded.opinion_hash)
    wrong_beacon = replace(ballot, id=b"\x01" * 20, beacon=b"\x00" * 4)
    other.on_ballot(wrong_beacon)
    other.on_atx(FIRST // LPE, hash32(b"short"), 5, height=0)  # below the blocks it would vouch for
    short = replace(ballot, id=b"\x02" * 20, atx_id=hash32(b"short"))
    other.on_ballot(short)
    other.on_ballot(ballot)
    other.tally_votes(FIRST + 2)
    assert other.is_good(ballot.id)
    assert not other.is_good(wrong_beacon.id)
    assert not other.is_good(short.id)


def test_late_block_header_of_a_verified_layer_is_reported_invalid():
    net = Net([10, 20], observers=1)
    for layer in range(FIRST, FIRST + 4):
        net.run_layer(layer)
    node = net.observers[0]
    node.updates()
    late = block_id(FIRST + 1, b"late")
    node.on_block(late, FIRST + 1, block_height(FIRST + 1))
    node.tally_votes(FIRST + 3)
    changed = node.updates()
    assert [u.layer for u in changed] == [FIRST + 1]  # nothing else changed
    assert {b.id: (b.valid, b.invalid) for b in changed[0].blocks} == {
        net.hare_blocks[FIRST + 1]: (True, False),
        late: (False, True),
    }
    assert node.verified == FIRST + 2


def test_genesis_layers_are_rejected():
    node = Tortoise(CONFIG)
    with pytest.raises(TortoiseError):
        node.on_hare_output(GENESIS, None)
    with pytest.raises(TortoiseError):
        node.encode_votes(GENESIS)
    assert node.encode_votes(FIRST).opinion_hash == b3(b"")


def test_hare_block_header_arriving_after_the_hare_output_joins_the_opinion():
    net = Net([10, 20], observers=1)
    node = net.observers[0]
    x = FIRST + 1
    net.run_layer(FIRST)
    net.publish_ballots(x)
    block = block_id(x)
    for other in net.nodes:
        if other is not node:
            other.on_block(block, x, block_height(x))
        other.on_hare_output(x, block)
    net.tally(x)
    assert node.opinion(x) == b3(node.opinion(x - 1))  # a block it cannot name is not in its opinion
    node.on_block(block, x, block_height(x))
    node.tally_votes(x)
    assert node.opinion(x) == net.smeshers[0].tortoise.opinion(x)
    assert [(b.hare, b.local) for b in node.updates()[-1].blocks] == [(True, True)]


def test_hare_block_header_arriving_after_verification_reopens_the_layer():
    net = Net([10, 20], observers=1)
    node = net.observers[0]
    x = FIRST + 1
    net.run_layer(FIRST)
    net.publish_ballots(x)
    block = block_id(x)
    for other in net.nodes:  # nobody has the header: everybody votes the layer empty
        other.on_hare_output(x, block)
    net.tally(x)
    net.run_layer(x + 1)
    assert node.verified == x and node.result(x).blocks == ()
    node.updates()
    node.on_block(block, x, block_height(x))
    node.tally_votes(x + 1)
    changed = {u.layer: u for u in node.updates()}
    assert set(changed) == {x, x + 1} and not changed[x].verified
    assert [(b.hare, b.local, b.valid) for b in changed[x].blocks] == [(True, True, False)]
