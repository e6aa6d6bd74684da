"""The tortoise in verifying mode (spec/node.md §6, §3.4–3.6; go-spacemesh `tortoise/`).

A `Tortoise` is a state machine over events: ATXs (epoch weights and tick heights), beacons,
malfeasance, block headers, hare outputs and ballots.  `tally_votes(last)` recounts and verifies
layers; `updates()` reports the layers whose result changed so the mesh can apply (or revert and
re-apply) them; `encode_votes(current)` builds the votes of our own ballot.

Model
-----
Every opinion about a layer is a `LayerVote`: abstain, or a set of supported blocks (every other
block is voted against).  A ballot's votes are exceptions to its base ballot's opinion: layers the
base voted on are inherited, layers from the base's layer on start as "against everything", and
the `support` / `against` / `abstain` lists patch that.  Decoded votes are kept as an immutable
chain of per-layer nodes shared with the base ballot, each node caching its chained opinion hash,
so a ballot whose base is one layer back costs one node.

Local opinion of layer X (`_local_vote`):
- verified: the validity fixed when it was verified;
- within hdist of the last layer (X + hdist > last): the hare output (abstain until hare
  terminates; hare is declared terminated-empty after zdist layers);
- otherwise: per block, the weight of ballots supporting minus against it (the margin) against
  the local threshold; one undecided block makes the layer abstain (no weak coin here).

Verifying mode: a ballot is *good* when it has weight, carries our beacon for its epoch, its ATX
height is at least the reference height (tallest block we support up to its previous layer) and
its opinion hash equals our opinion of its previous layer.  Layer X is verified when the good
weight of ballots after X, less the expected weight not yet seen, exceeds the global threshold;
its blocks then keep our local vote as validity.  Any input that changes our opinion of a layer
at or below the verified one (late hare output, a late block header that hare chose) resets
verification to just before it; layers are then re-verified from the ballots we have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from core.config.node import NodeConfig
from core.consensus.opinion import ABSTAIN, EMPTY, GENESIS_OPINION, BlockRef, LayerVote, layer_opinion
from core.errors import SmeshError
from core.types.ballot import EMPTY_BALLOT, Ballot, EpochData, Vote, Votes

_NEVER = 1 << 62  # "no layer": larger than any layer id


class TortoiseError(SmeshError):
    """A ballot or event the tortoise cannot accept (undecodable votes, wrong opinion hash)."""


@dataclass(frozen=True)
class TortoiseConfig:
    hdist: int
    zdist: int
    layers_per_epoch: int

    def __post_init__(self) -> None:
        if not 0 < self.zdist <= self.hdist or self.layers_per_epoch < 1:
            raise ValueError("tortoise needs 0 < zdist <= hdist and layers_per_epoch >= 1")

    @property
    def effective_genesis(self) -> int:
        return 2 * self.layers_per_epoch - 1

    @classmethod
    def from_node(cls, config: NodeConfig) -> TortoiseConfig:
        return cls(hdist=config.hdist, zdist=config.zdist, layers_per_epoch=config.layers_per_epoch)


@dataclass(frozen=True)
class DecodedBallot:
    """What the tortoise needs of a syntactically valid ballot; epoch data comes from its ref ballot."""

    id: bytes
    layer: int
    atx_id: bytes
    smesher_id: bytes
    eligibility_count: int
    proofs: int
    beacon: bytes
    opinion_hash: bytes
    votes: Votes

    @classmethod
    def of(cls, ballot: Ballot, epoch_data: EpochData) -> DecodedBallot:
        return cls(
            id=ballot.id,
            layer=ballot.layer,
            atx_id=ballot.inner.atx_id,
            smesher_id=ballot.smesher_id,
            eligibility_count=epoch_data.eligibility_count,
            proofs=len(ballot.eligibility_proofs),
            beacon=epoch_data.beacon,
            opinion_hash=ballot.inner.opinion_hash,
            votes=ballot.votes,
        )


@dataclass(frozen=True)
class EncodedVotes:
    """Votes for our own ballot and the opinion hash they decode to."""

    votes: Votes
    opinion_hash: bytes


@dataclass(frozen=True)
class BlockResult:
    id: bytes
    layer: int
    height: int
    valid: bool  # layer verified and the block supported
    invalid: bool  # layer verified and the block not supported
    hare: bool  # the hare output of its layer
    local: bool  # supported by our current local opinion
    data: bool  # its header arrived through on_block (not only named in votes)


@dataclass(frozen=True)
class LayerResult:
    """What the mesh consumes for one layer (spec §6 outputs)."""

    layer: int
    verified: bool
    hare_terminated: bool
    opinion: bytes
    blocks: tuple[BlockResult, ...]  # in (height, id) order

    def block_to_apply(self) -> bytes | None:
        """Spec §6.6: the first valid block, else the hare block unless invalid, else None (empty)."""
        for block in self.blocks:
            if block.valid:
                return block.id
        for block in self.blocks:
            if block.hare and not block.invalid:
                return block.id
        return None


# ------------------------------------------------------------------------------------------------
# internal state


@dataclass(frozen=True)
class _Atx:
    epoch: int
    weight: int
    height: int


@dataclass
class _Block:
    id: bytes
    height: int
    data: bool


class _VoteNode:
    """One layer of a ballot's decoded opinion, linked to the layer before it."""

    __slots__ = ("layer", "vote", "opinion", "prev")

    def __init__(self, layer: int, vote: LayerVote, opinion: bytes, prev: _VoteNode | None) -> None:
        self.layer, self.vote, self.opinion, self.prev = layer, vote, opinion, prev

    def walk(self) -> Iterator[_VoteNode]:
        node: _VoteNode | None = self
        while node is not None:
            yield node
            node = node.prev


@dataclass
class _Ballot:
    info: DecodedBallot
    tail: _VoteNode | None  # opinion of layer-1 (None: layer-1 is the genesis layer)

    @property
    def layer(self) -> int:
        return self.info.layer

    def vote_on(self, layer: int) -> LayerVote | None:
        for node in self.tail.walk() if self.tail else ():
            if node.layer <= layer:
                return node.vote if node.layer == layer else None
        return None


@dataclass
class _Layer:
    blocks: dict[bytes, _Block] = field(default_factory=dict)
    ballots: list[_Ballot] = field(default_factory=list)
    hare_terminated: bool = False
    hare_block: bytes | None = None
    vote: LayerVote = ABSTAIN  # current local opinion (valid up to `last`)
    opinion: bytes = GENESIS_OPINION
    ref_height: int = 0
    verdict: LayerVote = EMPTY  # local vote fixed when verified (valid up to `verified`)


@dataclass
class _Exceptions:
    """The exceptions a ballot lists for one layer."""

    support: dict[bytes, int] = field(default_factory=dict)
    against: set[bytes] = field(default_factory=set)
    abstain: bool = False

    def apply(self, inherited: LayerVote) -> LayerVote:
        """Patch the inherited vote; any support or against vote replaces an inherited abstention."""
        if self.abstain:
            return ABSTAIN
        support = inherited.supported_ids
        for block_id in self.against:
            support.pop(block_id, None)
        support.update(self.support)
        return LayerVote(support=frozenset(BlockRef(h, i) for i, h in support.items()))


# ------------------------------------------------------------------------------------------------


class Tortoise:
    """Verifying-mode tortoise for one node; pure: no I/O, no clock, driven by its inputs."""

    def __init__(self, config: TortoiseConfig) -> None:
        self.config = config
        self._genesis = config.effective_genesis
        self._atxs: dict[bytes, _Atx] = {}
        self._epoch_weight: dict[int, int] = {}
        self._beacons: dict[int, bytes] = {}
        self._malicious: set[bytes] = set()
        self._layers: dict[int, _Layer] = {}
        self._ballots: dict[bytes, _Ballot] = {}
        self._last = self._genesis
        self._verified = self._genesis
        self._hare_expiry_next = self._genesis + 1  # first layer zdist may still expire
        self._dirty = _NEVER  # lowest layer whose local opinion inputs changed since the last tally
        self._report_from = self._genesis + 1
        self._reported: dict[int, LayerResult] = {}

    # -- queries ---------------------------------------------------------------------------------

    @property
    def last(self) -> int:
        return self._last

    @property
    def verified(self) -> int:
        """The highest layer verified (the effective genesis layer before any)."""
        return self._verified

    def opinion(self, layer: int) -> bytes:
        """Our aggregated opinion hash of a layer up to the last tallied one."""
        self._check_tallied(layer, allow_genesis=True)
        return GENESIS_OPINION if layer == self._genesis else self._layers[layer].opinion

    def result(self, layer: int) -> LayerResult:
        self._check_tallied(layer)
        lay = self._layers[layer]
        verified = layer <= self._verified
        valid_ids = lay.verdict.supported_ids if verified else {}
        local_ids = lay.vote.supported_ids
        blocks = tuple(
            BlockResult(
                id=b.id,
                layer=layer,
                height=b.height,
                valid=b.id in valid_ids,
                invalid=verified and b.id not in valid_ids,
                hare=lay.hare_terminated and b.id == lay.hare_block,
                local=b.id in local_ids,
                data=b.data,
            )
            for b in sorted(lay.blocks.values(), key=lambda b: (b.height, b.id))
        )
        return LayerResult(layer, verified, lay.hare_terminated, lay.opinion, blocks)

    def ballot_weight(self, ballot_id: bytes) -> Fraction:
        return self._weight(self._ballots[ballot_id].info)

    def is_good(self, ballot_id: bytes) -> bool:
        """Whether a ballot counts in verifying mode, judged by our current opinion."""
        return self._is_good(self._ballots[ballot_id])

    def proposal_mesh_hash(self, current: int) -> bytes | None:
        """Spec §3.6: our opinion of current-1 for a proposal, if history is settled enough, else None."""
        previous = current - 1
        self._check_tallied(previous, allow_genesis=True)
        if self._verified < previous - self.config.hdist - 1:
            return None
        if any(not self._layers[x].hare_terminated for x in range(self._verified + 1, previous + 1)):
            return None
        return self.opinion(previous)

    # -- inputs ----------------------------------------------------------------------------------

    def on_atx(self, epoch: int, atx_id: bytes, weight: int, height: int) -> None:
        """An ATX targeting `epoch` with its weight (units × ticks) and tick height."""
        if atx_id in self._atxs:
            return
        self._atxs[atx_id] = _Atx(epoch, weight, height)
        self._epoch_weight[epoch] = self._epoch_weight.get(epoch, 0) + weight

    def on_malicious(self, node_id: bytes) -> None:
        """From now on every ballot of this identity weighs nothing."""
        self._malicious.add(node_id)

    def on_beacon(self, epoch: int, beacon: bytes) -> None:
        self._beacons[epoch] = beacon

    def on_block(self, block_id: bytes, layer: int, height: int) -> None:
        """A block header (we hold the block)."""
        self._check_layer(layer)
        self._add_block(layer, block_id, height, data=True)

    def on_hare_output(self, layer: int, block_id: bytes | None) -> None:
        """Hare terminated for `layer` with this block, or with an empty output (None)."""
        self._check_layer(layer)
        lay = self._layer(layer)
        if lay.hare_terminated and lay.hare_block == block_id:
            return
        lay.hare_terminated, lay.hare_block = True, block_id
        self._mark_dirty(layer)

    def on_ballot(self, ballot: DecodedBallot) -> None:
        """A ballot whose votes decode against a known base to exactly its opinion hash.

        Raises `TortoiseError` if the base is unknown, the exceptions are malformed, or the
        decoded opinion differs from the hash the ballot carries (the ballot must be dropped).
        """
        if ballot.id in self._ballots:
            return
        self._check_layer(ballot.layer)
        if ballot.eligibility_count < 1 or ballot.proofs < 1:
            raise TortoiseError("ballot without eligibilities")
        tail = self._decode_votes(ballot.layer, ballot.votes)
        decoded = tail.opinion if tail else GENESIS_OPINION
        if decoded != ballot.opinion_hash:
            raise TortoiseError(
                f"ballot {ballot.id.hex()}: votes decode to opinion {decoded.hex()}, "
                f"ballot carries {ballot.opinion_hash.hex()}"
            )
        for vote in ballot.votes.support:
            self._add_block(vote.layer, vote.block_id, vote.height, data=False)
        record = _Ballot(ballot, tail)
        self._ballots[ballot.id] = record
        self._layer(ballot.layer).ballots.append(record)

    # -- counting --------------------------------------------------------------------------------

    def tally_votes(self, last: int) -> None:
        """Bring local opinions up to `last`, count good ballots and verify what can be verified."""
        self._last = max(self._last, last)
        self._expire_hare()
        if self._dirty <= self._verified:
            self._verified = self._dirty - 1
        start = min(self._dirty, self._verified + 1)
        self._dirty = _NEVER
        self._refresh_opinions(start)
        self._verify_layers()
        self._report_from = min(self._report_from, start)

    def updates(self) -> list[LayerResult]:
        """Results of layers that changed since the previous call, in layer order."""
        changed = []
        for layer in range(self._report_from, self._last + 1):
            result = self.result(layer)
            if self._reported.get(layer) != result:
                self._reported[layer] = result
                changed.append(result)
        self._report_from = self._last + 1
        return changed

    # -- encoding our own votes ------------------------------------------------------------------

    def encode_votes(self, current: int) -> EncodedVotes:
        """Votes for a ballot in `current`: exceptions to a good ballot of the most recent layer.

        Tallies first (up to `current` at least).  An encoding is decoded again and used only if it
        reproduces our opinion of `current - 1`; the genesis base (every block listed) always does.
        """
        self._check_layer(current)
        self.tally_votes(current)
        want = self.opinion(current - 1)
        for base in self._base_candidates(current):
            votes = self._exceptions_to(base, current)
            if self._decodes_to(current, votes, want):
                return EncodedVotes(votes, want)
        votes = self._exceptions_to(None, current)
        if not self._decodes_to(current, votes, want):
            raise AssertionError("votes listing every supported block must decode to our opinion")
        return EncodedVotes(votes, want)

    # ============================================================================================
    # internals

    def _layer(self, layer: int) -> _Layer:
        lay = self._layers.get(layer)
        if lay is None:
            lay = self._layers[layer] = _Layer()
        return lay

    def _epoch(self, layer: int) -> int:
        return layer // self.config.layers_per_epoch

    def _check_layer(self, layer: int) -> None:
        if layer <= self._genesis:
            raise TortoiseError(f"layer {layer} is not after the effective genesis layer {self._genesis}")

    def _check_tallied(self, layer: int, allow_genesis: bool = False) -> None:
        low = self._genesis if allow_genesis else self._genesis + 1
        if not low <= layer <= self._last:
            raise TortoiseError(f"layer {layer} is outside the tallied range {low}..{self._last}")

    def _mark_dirty(self, layer: int) -> None:
        self._dirty = min(self._dirty, layer)

    def _add_block(self, layer: int, block_id: bytes, height: int, data: bool) -> None:
        """Record a block header (data) or a block only named in a support vote."""
        lay = self._layer(layer)
        block = lay.blocks.get(block_id)
        if block is None:
            lay.blocks[block_id] = _Block(block_id, height, data)
        elif data and not block.data:
            if block.height != height:  # the header's height wins over what a vote claimed
                self._mark_dirty(layer)
            block.height, block.data = height, True
        else:
            return
        if lay.hare_block == block_id:  # hare chose it: our vote on the layer may now include it
            self._mark_dirty(layer)
        self._report_from = min(self._report_from, layer)

    # -- weights and thresholds (spec §6.1) --------------------------------------------------------

    def _weight(self, ballot: DecodedBallot) -> Fraction:
        atx = self._atxs.get(ballot.atx_id)
        if atx is None or atx.epoch != self._epoch(ballot.layer) or ballot.smesher_id in self._malicious:
            return Fraction(0)
        return Fraction(atx.weight * ballot.proofs, ballot.eligibility_count)

    def _layer_weight(self, layer: int) -> Fraction:
        return Fraction(self._epoch_weight.get(self._epoch(layer), 0), self.config.layers_per_epoch)

    def _expected_weight(self, first: int, last: int) -> Fraction:
        """Expected weight of layers first..last: each layer a share of its epoch's weight."""
        total = Fraction(0)
        layer = first
        while layer <= last:
            epoch_end = (self._epoch(layer) + 1) * self.config.layers_per_epoch - 1
            upto = min(epoch_end, last)
            total += self._layer_weight(layer) * (upto - layer + 1)
            layer = upto + 1
        return total

    def _local_threshold(self) -> Fraction:
        return self._layer_weight(self._last) / 3

    def _global_threshold(self, target: int) -> Fraction:
        return self._expected_weight(target + 1, self._last) / 3 + self._local_threshold()

    # -- local opinion (spec §6.2) -----------------------------------------------------------------

    def _expire_hare(self) -> None:
        """zdist: a layer without hare output zdist layers later counts as terminated empty."""
        upto = self._last - self.config.zdist
        for layer in range(self._hare_expiry_next, upto + 1):
            lay = self._layer(layer)
            if not lay.hare_terminated:
                lay.hare_terminated, lay.hare_block = True, None
                self._mark_dirty(layer)
        self._hare_expiry_next = max(self._hare_expiry_next, upto + 1)

    def _local_vote(self, layer: int) -> LayerVote:
        lay = self._layer(layer)
        if layer <= self._verified:
            return lay.verdict
        if layer + self.config.hdist > self._last:
            return self._hare_vote(lay)
        return self._margin_vote(layer)

    @staticmethod
    def _hare_vote(lay: _Layer) -> LayerVote:
        if not lay.hare_terminated:
            return ABSTAIN
        block = lay.blocks.get(lay.hare_block) if lay.hare_block is not None else None
        return LayerVote(support=frozenset([BlockRef(block.height, block.id)])) if block else EMPTY

    def _margin_vote(self, layer: int) -> LayerVote:
        """Outside hdist and not verified: follow the counted votes, abstain if any block is undecided."""
        threshold = self._local_threshold()
        support = []
        for block in self._layer(layer).blocks.values():
            margin = self._margin(layer, block)
            if abs(margin) <= threshold:
                return ABSTAIN
            if margin > 0:
                support.append(BlockRef(block.height, block.id))
        return LayerVote(support=frozenset(support))

    def _margin(self, layer: int, block: _Block) -> Fraction:
        """Weight of ballots after `layer` supporting the block minus weight voting against it."""
        margin = Fraction(0)
        for ballot_layer in range(layer + 1, self._last + 1):
            for ballot in self._layer(ballot_layer).ballots:
                if not self._counts_in_margin(ballot, block):
                    continue
                vote = ballot.vote_on(layer)
                if vote is None or vote.abstain:
                    continue
                weight = self._weight(ballot.info)
                margin += weight if block.id in vote.supported_ids else -weight
        return margin

    def _counts_in_margin(self, ballot: _Ballot, block: _Block) -> bool:
        # ballots with a bad beacon are left out (full mode would count them after a delay), and a
        # ballot cannot vote on a block taller than its own ATX
        atx = self._atxs.get(ballot.info.atx_id)
        return (
            atx is not None
            and atx.height >= block.height
            and self._beacons.get(self._epoch(ballot.layer)) == ballot.info.beacon
        )

    def _refresh_opinions(self, start: int) -> None:
        previous = self.opinion(start - 1)
        ref_height = self._ref_height(start - 1)
        for layer in range(start, self._last + 1):
            lay = self._layer(layer)
            lay.vote = self._local_vote(layer)
            previous = lay.opinion = layer_opinion(previous, lay.vote)
            ref_height = lay.ref_height = max([ref_height, *(ref.height for ref in lay.vote.support)])

    def _ref_height(self, layer: int) -> int:
        return 0 if layer <= self._genesis else self._layers[layer].ref_height

    # -- verifying mode (spec §6.3) ----------------------------------------------------------------

    def _is_good(self, ballot: _Ballot) -> bool:
        info = ballot.info
        previous = info.layer - 1
        if previous > self._last:
            return False
        atx = self._atxs.get(info.atx_id)
        return (
            atx is not None
            and self._weight(info) > 0
            and self._beacons.get(self._epoch(info.layer)) == info.beacon
            and atx.height >= self._ref_height(previous)
            and info.opinion_hash == self.opinion(previous)
        )

    def _good_weight(self, layer: int) -> Fraction:
        return sum((self._weight(b.info) for b in self._layer(layer).ballots if self._is_good(b)), Fraction(0))

    def _verify_layers(self) -> None:
        """Verify layers in order while good weight after each crosses the global threshold."""
        good = {layer: self._good_weight(layer) for layer in range(self._verified + 2, self._last + 1)}
        after = sum(good.values(), Fraction(0))  # good weight of ballots after the candidate
        candidate = self._verified + 1
        while candidate < self._last:
            lay = self._layer(candidate)
            if not lay.hare_terminated or lay.vote.abstain or not self._crosses(candidate, after):
                return
            lay.verdict = lay.vote
            self._verified = candidate
            candidate += 1
            after -= good[candidate]

    def _crosses(self, target: int, good: Fraction) -> bool:
        """Good weight, less every expected-but-unseen unit (assumed against), beats the threshold."""
        expected = self._expected_weight(target + 1, self._last)
        margin = good - max(Fraction(0), expected - good)
        return margin > self._global_threshold(target)

    # -- vote decoding and encoding (spec §3.4, §6.2) ----------------------------------------------

    def _decode_votes(self, layer: int, votes: Votes) -> _VoteNode | None:
        """The opinion chain of a ballot in `layer`, from its base ballot and exceptions."""
        if votes.base == EMPTY_BALLOT:
            base_layer, base_tail = self._genesis + 1, None
        else:
            base = self._ballots.get(votes.base)
            if base is None:
                raise TortoiseError(f"unknown base ballot {votes.base.hex()}")
            if base.layer >= layer:
                raise TortoiseError(f"base ballot of layer {base.layer} is not before layer {layer}")
            base_layer, base_tail = base.layer, base.tail
        exceptions = self._group_exceptions(layer, votes)
        start = min([base_layer, *exceptions])
        inherited: dict[int, LayerVote] = {}
        node = base_tail
        while node is not None and node.layer >= start:
            inherited[node.layer] = node.vote
            node = node.prev
        previous = node.opinion if node is not None else GENESIS_OPINION
        for voted in range(start, layer):
            vote = inherited.get(voted, EMPTY)  # layers from the base's own on: against everything
            if voted in exceptions:
                vote = exceptions[voted].apply(vote)
            previous = layer_opinion(previous, vote)
            node = _VoteNode(voted, vote, previous, node)
        return node

    def _group_exceptions(self, layer: int, votes: Votes) -> dict[int, _Exceptions]:
        by_layer: dict[int, _Exceptions] = {}

        def at(voted: int) -> _Exceptions:
            if not self._genesis < voted < layer:
                raise TortoiseError(f"vote on layer {voted} from a ballot in layer {layer}")
            return by_layer.setdefault(voted, _Exceptions())

        for vote in votes.support:
            exc = at(vote.layer)
            if vote.block_id in exc.support:
                raise TortoiseError(f"block {vote.block_id.hex()} supported twice")
            exc.support[vote.block_id] = vote.height
        for vote in votes.against:
            exc = at(vote.layer)
            if vote.block_id in exc.support or vote.block_id in exc.against:
                raise TortoiseError(f"conflicting votes on block {vote.block_id.hex()}")
            exc.against.add(vote.block_id)
        for voted in votes.abstain:
            exc = at(voted)
            if exc.abstain or exc.support or exc.against:
                raise TortoiseError(f"conflicting abstain vote on layer {voted}")
            exc.abstain = True
        return by_layer

    def _decodes_to(self, layer: int, votes: Votes, want: bytes) -> bool:
        try:
            tail = self._decode_votes(layer, votes)
        except TortoiseError:
            return False
        return (tail.opinion if tail else GENESIS_OPINION) == want

    def _base_candidates(self, current: int) -> list[_Ballot]:
        """Good ballots of the most recent layer that has any, heaviest first (ties by id)."""
        for layer in range(current - 1, max(self._genesis, current - 1 - self.config.hdist), -1):
            good = [b for b in self._layer(layer).ballots if self._is_good(b)]
            if good:
                return sorted(good, key=lambda b: (-self._weight(b.info), b.info.id))
        return []

    def _exceptions_to(self, base: _Ballot | None, current: int) -> Votes:
        """Our opinion of layers before `current` as exceptions to `base` (None: the genesis base).

        A good base agrees with us on every layer before its own (equal chained hashes), and every
        layer from its own on starts as "against everything", so only those layers need listing.
        """
        support: list[Vote] = []
        abstain: list[int] = []
        for layer in range(base.layer if base else self._genesis + 1, current):
            vote = self._layer(layer).vote
            if vote.abstain:
                abstain.append(layer)
            support.extend(Vote(ref.id, layer, ref.height) for ref in sorted(vote.support))
        base_id = base.info.id if base else EMPTY_BALLOT
        return Votes(base=base_id, support=tuple(support), against=(), abstain=tuple(abstain))


__all__ = [
    "BlockResult",
    "DecodedBallot",
    "EncodedVotes",
    "LayerResult",
    "Tortoise",
    "TortoiseConfig",
    "TortoiseError",
]
