"""The tortoise's full mode (spec/node.md §6.2 weak coin, §6.4 self-healing) on hand-built ballots.

An observer tortoise hears scripted voters: each voter has a fixed view of every layer (the blocks
it supports, or an abstention) and casts one ballot per layer listing that view in full against
the genesis base, with the opinion hash computed here with blake3 directly.  Every voter has one
eligibility of `LPE` per epoch, so its ballot weighs its ATX weight / LPE and a layer's expected
weight is the voters' total / LPE (100 / 4 = 25 with the weights used here).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest

from core.consensus.tortoise import DecodedBallot, Tortoise, TortoiseConfig
from core.crypto.hashing import hash20, hash32
from core.types.ballot import EMPTY_BALLOT, Vote, Votes
from tests.core.consensus.test_tortoise import (
    BEACON, CONFIG, FIRST, GENESIS, LPE, atx_height, b3, block_height, block_id,
)

ABSTAINS = None  # a voter's view of a layer it abstains on
BAD_BEACON = b"\x00\x00\x00\x01"
TALL = 10**9  # taller than any ATX: no ballot can vouch for a block this high


@dataclass
class Voter:
    name: str
    weight: int
    beacon: bytes = BEACON
    view: dict[int, tuple[tuple[bytes, int], ...] | None] = field(default_factory=dict)  # layer -> blocks

    @property
    def node_id(self) -> bytes:
        return hash32(b"voter", self.name.encode())

    def atx(self, epoch: int) -> bytes:
        return hash32(b"atx", self.node_id, struct.pack("<I", epoch))

    def sees(self, layer: int) -> tuple[tuple[bytes, int], ...] | None:
        """Its view of a layer: by default the layer's one block."""
        return self.view.get(layer, ((block_id(layer), block_height(layer)),))


def chain(views: dict[int, tuple[tuple[bytes, int], ...] | None], upto: int) -> bytes:
    """Spec §3.6 opinion hash of `upto`, written out independently: abstain is 0x00, else each
    supported block's id || height (u64 LE) in (height, id) order."""
    previous = b3(b"")
    for layer in range(FIRST, upto + 1):
        blocks = views[layer]
        if blocks is ABSTAINS:
            x = b"\x00"
        else:
            x = b"".join(i + struct.pack("<Q", h) for i, h in sorted(blocks, key=lambda b: (b[1], b[0])))
        previous = b3(previous + x)
    return previous


def ballot(voter: Voter, layer: int) -> DecodedBallot:
    """The voter's ballot in `layer`: its whole view of earlier layers, as exceptions to the genesis base."""
    support, abstain = [], []
    for voted in range(FIRST, layer):
        blocks = voter.sees(voted)
        if blocks is ABSTAINS:
            abstain.append(voted)
        else:
            support.extend(Vote(i, voted, h) for i, h in blocks)
    votes = Votes(EMPTY_BALLOT, tuple(support), (), tuple(abstain))
    opinion = chain({x: voter.sees(x) for x in range(FIRST, layer)}, layer - 1)
    return DecodedBallot(
        hash20(b"ballot", voter.node_id, struct.pack("<I", layer)), layer, voter.atx(layer // LPE), voter.node_id,
        LPE, 1, voter.beacon, opinion, votes,
    )


class Script:
    """Scripted voters (and silent weight: ATXs that never vote) heard by observer tortoises."""

    def __init__(self, voters: list[Voter], silent: int = 0, configs: tuple[TortoiseConfig, ...] = (CONFIG,)):
        self.voters = voters
        self.observers = [Tortoise(config) for config in configs]
        self.node = self.observers[0]
        self.hare: dict[int, bytes | None] = {}  # the observers' hare outputs (default: the layer's block)
        self.headers: dict[int, list[tuple[bytes, int]]] = {}  # block headers held (default: the layer's block)
        for epoch in range(2, 12):
            for node in self.observers:
                node.on_beacon(epoch, BEACON)
                for v in voters:
                    node.on_atx(epoch, v.atx(epoch), v.weight, atx_height(epoch))
                if silent:
                    node.on_atx(epoch, hash32(b"silent", struct.pack("<I", epoch)), silent, atx_height(epoch))

    def run(self, upto: int, start: int = FIRST) -> None:
        """Layers start..upto: every voter's ballot, the block headers and hare output, a tally."""
        for layer in range(start, upto + 1):
            for node in self.observers:
                for v in self.voters:
                    node.on_ballot(ballot(v, layer))
                for header, height in self.headers.get(layer, [(block_id(layer), block_height(layer))]):
                    node.on_block(header, layer, height)
                node.on_hare_output(layer, self.hare.get(layer, block_id(layer)))
                node.tally_votes(layer)


def blocks_of(node: Tortoise, layer: int) -> list[tuple[bytes, bool, bool, bool, bool]]:
    return [(b.id, b.valid, b.invalid, b.hare, b.local) for b in node.result(layer).blocks]


def our_views(upto: int, override: dict | None = None) -> dict[int, tuple[tuple[bytes, int], ...] | None]:
    """Views supporting every layer's block, but where `override` says otherwise."""
    views: dict = {x: ((block_id(x), block_height(x)),) for x in range(FIRST, upto + 1)}
    views.update(override or {})
    return views


# ------------------------------------------------------------------------------------------------

W = FIRST + 1  # the layer the network disagrees about


def stubborn_network() -> Script:
    """A (45) and B (20) support every block; D (35) abstains on W forever, so its ballots are never
    good after W: verifying mode has 65% good weight, too little to ever verify W.  Our hare output
    for W is empty although we hold W's block."""
    d = Voter("D", 35)
    d.view[W] = ABSTAINS
    script = Script([Voter("A", 45), Voter("B", 20), d])
    script.hare[W] = None
    return script


def test_full_mode_verifies_by_margins_what_verifying_mode_cannot():
    script = stubborn_network()
    node = script.node
    bw = block_id(W)
    script.run(W + 3)
    # within hdist: we vote our (empty) hare output; every ballot after W disagrees with that
    assert node.mode == "verifying" and node.full_mode_entries == 0
    assert node.verified == FIRST
    assert blocks_of(node, W) == [(bw, False, False, False, False)]
    reported = {u.layer: u for u in node.updates()}
    assert reported[W].block_to_apply() is None  # the mesh would apply W empty

    script.run(W + 4, start=W + 4)  # W leaves hdist (W + hdist == last) with verifying mode stuck on it
    assert node.mode == "full" and node.full_mode_entries == 1
    # margin of W's block: 4 layers of A + B = 4 * 16.25 = 65 > global threshold 4 * 25 / 3 + 25 / 3;
    # W+3 has one layer of every voter after it: 25 > 2 * 25 / 3
    assert node.verified == W + 3
    assert {W, W + 1, W + 2, W + 3} <= node.full_mode_layers
    # the block supported by the network is valid although our hare output was empty
    assert blocks_of(node, W) == [(bw, True, False, False, True)]
    assert node.opinion(W + 3) == chain(our_views(W + 3), W + 3)
    changed = {u.layer: u for u in node.updates()}
    assert changed[W].verified and changed[W].block_to_apply() == bw  # reported: the mesh re-applies W
    # verifying mode still cannot count D: its chained opinion differs from ours at W
    assert not node.is_good(ballot(script.voters[2], W + 4).id)
    assert node.is_good(ballot(script.voters[0], W + 4).id)


def test_full_mode_verifies_empty_layers_by_their_empty_weight():
    script = stubborn_network()
    empty, tall = W + 2, W + 3
    stray = block_id(tall, b"stray")  # taller than every ATX: no ballot can vouch for it
    for v in script.voters:
        v.view[empty] = ()  # a layer without blocks
        v.view[tall] = ((stray, TALL),)  # supported, but the support cannot count: an empty vote
    script.hare[empty] = script.hare[tall] = None
    script.headers[empty] = []
    script.headers[tall] = [(stray, TALL)]
    script.run(W + 4)
    node = script.node
    assert node.mode == "full" and node.verified == tall
    # no blocks: the empty weight of two layers of ballots, 50, beats 2 * 25 / 3 + 25 / 3
    assert node.result(empty).verified and node.result(empty).blocks == ()
    # the stray block's margin is 0 (undecided), but the layer's empty weight (25 > 25 / 3 + 25 / 3)
    # decides it: verified, the block invalid although every ballot names it
    assert node.result(tall).verified
    assert blocks_of(node, tall) == [(stray, False, True, False, False)]
    assert node.result(tall).block_to_apply() is None


def test_weak_coin_decides_a_block_the_margins_leave_undecided():
    u = FIRST + 1
    a, b = Voter("A", 50), Voter("B", 50)
    b.view[u] = ()  # B votes against U's block, A for it: margin exactly 0
    script = Script([a, b])
    node = script.node
    bu = block_id(u)
    script.run(u + 3)
    assert node.mode == "verifying"
    assert blocks_of(node, u)[0][4]  # within hdist we vote our hare output: the block
    with_block, without, abstaining = our_views(u), our_views(u, {u: ()}), our_views(u, {u: ABSTAINS})

    node.on_weak_coin(u + 3, True)  # the coin of the layer before the last one is what counts
    script.run(u + 4, start=u + 4)
    assert node.mode == "full" and node.verified == u - 1  # U itself stays undecided
    assert blocks_of(node, u) == [(bu, False, False, True, True)]
    assert node.opinion(u) == chain(with_block, u)

    node.on_weak_coin(u + 4, False)
    script.run(u + 5, start=u + 5)
    assert blocks_of(node, u) == [(bu, False, False, True, False)]
    assert node.opinion(u) == chain(without, u)
    votes = node.encode_votes(u + 5).votes  # our ballot in u + 5 votes the coin of u + 4 on U
    assert all(v.block_id != bu for v in votes.support) and u not in votes.abstain

    script.run(u + 6, start=u + 6)  # no coin known for u + 5: still undecided, we abstain
    assert node.opinion(u) == chain(abstaining, u)


def test_full_mode_is_left_when_verifying_mode_agrees_again():
    script = stubborn_network()
    node = script.node
    script.run(W + 4)
    assert node.mode == "full"
    del script.voters[2].view[W]  # D finally supports W's block: its new ballots are good
    script.run(W + 5, start=W + 5)
    # verifying mode verifies W..W+4 again: e.g. W has good A + B (5 * 16.25) + D (8.75) after it,
    # less the 35 of D's old ballots, 55 > 5 * 25 / 3 + 25 / 3
    assert node.mode == "verifying" and node.full_mode_entries == 1
    assert node.verified == W + 4
    for layer in range(W + 6, W + 10):
        script.run(layer, start=layer)
        assert node.mode == "verifying" and node.verified == layer - 1
    assert node.full_mode_entries == 1
    assert [b.valid for b in node.result(W).blocks] == [True]


def test_ballots_with_a_bad_beacon_count_in_full_mode_only_after_the_delay():
    """G (30) has our beacon, Bb (70) another: verifying mode only has G, 30%, and is stuck for
    missing weight 2 * hdist layers on; full mode counts Bb's ballots from `delay` layers later."""
    quick = TortoiseConfig(hdist=4, zdist=2, layers_per_epoch=LPE, bad_beacon_vote_delay=1)
    slow = TortoiseConfig(hdist=4, zdist=2, layers_per_epoch=LPE, bad_beacon_vote_delay=6)
    script = Script([Voter("G", 30), Voter("Bb", 70, beacon=BAD_BEACON)], configs=(quick, slow))
    last = FIRST + 2 * CONFIG.hdist
    script.run(last - 1)
    assert all(n.mode == "verifying" and n.verified == GENESIS for n in script.observers)
    script.run(last, start=last)

    def expected_verified(delay: int) -> int:
        """Spec §6.4 written out: margin of ballots after T (G always, Bb once `delay` old) against
        the global threshold expected(T+1..last) / 3 + 25 / 3."""
        verified = GENESIS
        for target in range(FIRST, last):
            margin = sum(7.5 + (17.5 if x + delay <= last else 0) for x in range(target + 1, last + 1))
            if margin <= (last - target) * 25 / 3 + 25 / 3:
                break
            verified = target
        return verified

    assert expected_verified(1) == last - 2 and expected_verified(6) == FIRST + 1
    for node, config in zip(script.observers, (quick, slow), strict=True):
        assert node.mode == "full"
        assert node.verified == expected_verified(config.bad_beacon_delay)


def test_config_defaults_and_limits():
    config = TortoiseConfig(hdist=4, zdist=2, layers_per_epoch=LPE)
    assert config.window == 40 and config.bad_beacon_delay == LPE
    assert TortoiseConfig(hdist=200, zdist=10, layers_per_epoch=4032).window == 3 * 4032
    with pytest.raises(ValueError):
        TortoiseConfig(hdist=4, zdist=2, layers_per_epoch=LPE, window_size=4, bad_beacon_vote_delay=4)
