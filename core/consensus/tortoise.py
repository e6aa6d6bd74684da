"""The tortoise: verifying mode and full mode (spec/node.md §6, §3.4–3.6; go-spacemesh `tortoise/`).

A `Tortoise` is a state machine over events: ATXs (epoch weights and tick heights), beacons,
malfeasance, block headers, hare outputs, weak coins and ballots.  `tally_votes(last)` recounts
and verifies layers; `updates()` reports the layers whose result changed so the mesh can apply (or
revert and re-apply) them; `encode_votes(current)` builds the votes of our own ballot.

Model
-----
Every opinion about a layer is a `LayerVote`: abstain, or a set of supported blocks (every other
block is voted against).  A ballot's votes are exceptions to its base ballot's opinion: layers the
base voted on are inherited, layers from the base's layer on start as "against everything", and
the `support` / `against` / `abstain` lists patch that.  Decoded votes are kept as an immutable
chain of per-layer nodes shared with the base ballot, each node caching its chained opinion hash,
so a ballot whose base is one layer back costs one node.

Counted votes (both modes use them for local votes, full mode to verify): every ballot of the last
`window` layers with weight is counted, except that one with a beacon other than ours counts only
`bad_beacon_delay` layers after its own.  For every layer it voted on (not abstaining), it adds its
weight to the margin of each block it supports and subtracts it from each other block of that layer
(a block taller than the ballot's ATX is left out), and adds its weight to the layer's "empty"
weight if it supports none of them, subtracts it otherwise.

Local opinion of layer X (`_local_vote`):
- verified: the validity fixed when it was verified;
- within hdist of the last layer (X + hdist > last): the hare output (abstain until hare
  terminates; hare is declared terminated-empty after zdist layers);
- otherwise: per block, the counted margin against the local threshold; in full mode a block
  still undecided takes the weak coin of the layer before the last one (support if it is set);
  one block left undecided (verifying mode, or no coin known) makes the layer abstain.
  A layer no counted ballot voted on keeps the hare vote (a deviation from go-spacemesh, which
  abstains and then flips the coin): with no votes there is no disagreement to heal, and a node
  that was down past hdist right after its hare output must not let its own coin void a block
  it already applied.

Verifying mode (the normal path): a ballot is *good* when it has weight, carries our beacon for its
epoch, its ATX height is at least the reference height (tallest block we support up to its previous
layer) and its opinion hash equals our opinion of its previous layer.  Layer X is verified when the
good weight of ballots after X, less the expected weight not yet seen, exceeds the global threshold;
its blocks then keep our local vote as validity.  Any input that changes our opinion of a layer
at or below the verified one (late hare output, a late block header that hare chose) resets
verification to just before it; layers are then re-verified from the ballots we have.

Full mode (self-healing, spec §6.4): entered when verifying mode cannot verify the next layer X,
X is outside hdist (X + hdist <= last), and verifying mode is stuck on X rather than slow (see
`_stuck`: we abstain on X, ballots whose opinion of history up to X differs from ours carry a third
of the weight after X, or X is 2 * hdist layers old).  In full mode every layer from X on is
re-verified at each tally from the counted votes: a layer is verified when every block's margin
crosses +/- the global threshold of the counted window (valid = positive), a block left undecided
counting as invalid if the layer's empty weight crosses it; a layer without blocks is verified
(empty) by its empty weight alone.  So a layer verified in full mode can change validity, or become
unverified, when more votes arrive (a healed partition); `updates()` reports that and the mesh
reverts and re-applies.  Full mode is left when verifying mode, on our opinions so corrected,
verifies every layer from X to last - 1 again.
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
    """hdist, zdist (spec §6.5), and the full-mode counting window and bad-beacon delay.

    `window_size` (go-spacemesh WindowSize, 10 000 layers on mainnet: ~2.5 epochs, 50 hdist): how
    many recent layers of ballots are counted; 0 picks max(10 * hdist, 3 * layers_per_epoch).
    `bad_beacon_vote_delay` (go-spacemesh BadBeaconVoteDelayLayers, 4032 on mainnet: one epoch):
    how many layers after its own a ballot with a beacon other than ours starts to count; 0 picks
    one epoch, `layers_per_epoch`.  The window must be longer than the delay.
    """

    hdist: int
    zdist: int
    layers_per_epoch: int
    window_size: int = 0
    bad_beacon_vote_delay: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.zdist <= self.hdist or self.layers_per_epoch < 1:
            raise ValueError("tortoise needs 0 < zdist <= hdist and layers_per_epoch >= 1")
        if self.window_size < 0 or self.bad_beacon_vote_delay < 0:
            raise ValueError("the tortoise window and bad-beacon delay cannot be negative")
        if self.window <= self.bad_beacon_delay:
            raise ValueError("the tortoise window must be longer than the bad-beacon vote delay")

    @property
    def effective_genesis(self) -> int:
        return 2 * self.layers_per_epoch - 1

    @property
    def window(self) -> int:
        return self.window_size or max(10 * self.hdist, 3 * self.layers_per_epoch)

    @property
    def bad_beacon_delay(self) -> int:
        return self.bad_beacon_vote_delay or self.layers_per_epoch

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
        node = self._node_at(layer)
        return node.vote if node else None

    def opinion_of(self, layer: int) -> bytes | None:
        """The ballot's chained opinion hash of `layer` (None: it does not vote on it)."""
        node = self._node_at(layer)
        return node.opinion if node else None

    def _node_at(self, layer: int) -> _VoteNode | None:
        for node in self.tail.walk() if self.tail else ():
            if node.layer <= layer:
                return node if node.layer == layer else None
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


@dataclass
class _Tally:
    """Counted votes on one layer: block id -> margin, and the weight voting the layer empty."""

    margins: dict[bytes, Fraction]
    empty: Fraction = Fraction(0)
    voted: Fraction = Fraction(0)  # weight of the ballots that voted on the layer (did not abstain)


# ------------------------------------------------------------------------------------------------


class Tortoise:
    """The tortoise of one node; pure: no I/O, no clock, driven by its inputs."""

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
        self._coins: dict[int, bool] = {}
        self._full = False
        self._full_from = _NEVER  # full mode re-verifies every layer from here on
        self._tally_cache: tuple[int, dict[int, _Tally]] | None = None  # (first layer, tallies)
        self.full_mode_entries = 0  # how often verifying mode got stuck and full mode took over
        self.full_mode_layers: set[int] = set()  # layers full mode has verified at some point

    # -- queries ---------------------------------------------------------------------------------

    @property
    def last(self) -> int:
        return self._last

    @property
    def verified(self) -> int:
        """The highest layer verified (the effective genesis layer before any)."""
        return self._verified

    @property
    def mode(self) -> str:
        """"verifying" (the normal path) or "full" (self-healing, spec §6.4)."""
        return "full" if self._full else "verifying"

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

    def on_weak_coin(self, layer: int, coin: bool) -> None:
        """The weak coin of a layer's hare session (spec §5.3); full mode votes it on undecided blocks."""
        self._coins[layer] = coin

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
        self._tally_cache = None  # ballots, blocks, weights or `last` may have changed since
        self._refresh_opinions(start)
        start = min(start, self._verify_layers())
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

    def _window_start(self) -> int:
        """The first layer whose ballots are counted."""
        return self._last - self.config.window + 1

    def _full_threshold(self, target: int) -> Fraction:
        """The global threshold over the layers whose ballots full mode counts for `target`."""
        first = max(target + 1, self._window_start())
        return self._expected_weight(first, self._last) / 3 + self._local_threshold()

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
        """Outside hdist and not verified: follow the counted votes; in full mode the weak coin
        decides blocks they leave undecided; otherwise one undecided block makes the layer abstain."""
        threshold = self._local_threshold()
        tally = self._tallies(layer)[layer]
        if not tally.voted:  # nobody's votes speak for or against it: our hare output is all we know
            return self._hare_vote(self._layer(layer))
        margins = tally.margins
        coin = self._coins.get(self._last - 1) if self._full else None
        support = []
        for block in self._layer(layer).blocks.values():
            margin = margins[block.id]
            if abs(margin) > threshold:
                supported = margin > 0
            elif coin is None:
                return ABSTAIN
            else:
                supported = coin
            if supported:
                support.append(BlockRef(block.height, block.id))
        return LayerVote(support=frozenset(support))

    # -- counted votes (spec §6.4) -----------------------------------------------------------------

    def _tallies(self, first: int) -> dict[int, _Tally]:
        """Counted votes on every layer from `first` to last - 1 (cached for one tally)."""
        if self._tally_cache is None or self._tally_cache[0] > first:
            self._tally_cache = (first, self._count_votes(first))
        return self._tally_cache[1]

    def _count_votes(self, first: int) -> dict[int, _Tally]:
        tallies = {
            layer: _Tally({block_id: Fraction(0) for block_id in self._layer(layer).blocks})
            for layer in range(first, self._last)
        }
        for ballot_layer in range(max(first + 1, self._window_start()), self._last + 1):
            for ballot in self._layer(ballot_layer).ballots:
                weight = self._counted_weight(ballot)
                if not weight:
                    continue
                height = self._atxs[ballot.info.atx_id].height
                for node in ballot.tail.walk() if ballot.tail else ():
                    if node.layer < first:
                        break
                    if node.vote.abstain:
                        continue
                    tally = tallies[node.layer]
                    tally.voted += weight
                    supported = node.vote.supported_ids
                    empty = True
                    for block in self._layers[node.layer].blocks.values():
                        if block.height > height:  # a ballot cannot vouch for a block taller than its ATX
                            continue
                        if block.id in supported:
                            tally.margins[block.id] += weight
                            empty = False
                        else:
                            tally.margins[block.id] -= weight
                    tally.empty += weight if empty else -weight
        return tallies

    def _counted_weight(self, ballot: _Ballot) -> Fraction:
        """A ballot's weight if its votes count now: with a bad beacon only after the delay."""
        info = ballot.info
        if self._beacons.get(self._epoch(info.layer)) != info.beacon:
            if info.layer + self.config.bad_beacon_delay > self._last:
                return Fraction(0)
        return self._weight(info)

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

    def _verify_layers(self) -> int:
        """Verify what can be verified, switching modes as needed; returns the lowest layer whose
        result may have changed beyond what verifying mode fixes (_NEVER: none)."""
        if not self._full:
            upto = self._verifiable_from(self._verified + 1)
            for layer in range(self._verified + 1, upto + 1):
                lay = self._layers[layer]
                lay.verdict = lay.vote
            self._verified = upto
            if not self._stuck(upto + 1):
                return _NEVER
            self._full, self._full_from = True, upto + 1
            self.full_mode_entries += 1
        first = self._full_from = min(self._full_from, self._verified + 1)
        self._verify_full(first)
        self._refresh_opinions(first)  # new validities, and the weak coin for undecided layers
        if self._verifiable_from(first) == self._last - 1:  # verifying mode agrees again: leave
            for layer in range(self._verified + 1, self._last):
                lay = self._layers[layer]
                lay.verdict = lay.vote
            self._verified = self._last - 1
            self._full, self._full_from = False, _NEVER
        return first

    def _verifiable_from(self, first: int) -> int:
        """The last layer verifying mode verifies, in order from `first`, on our current opinions."""
        good = {layer: self._good_weight(layer) for layer in range(first + 1, self._last + 1)}
        after = sum(good.values(), Fraction(0))  # good weight of ballots after the candidate
        candidate = first
        while candidate < self._last:
            lay = self._layer(candidate)
            if not lay.hare_terminated or lay.vote.abstain or not self._crosses(candidate, after):
                break
            candidate += 1
            after -= good[candidate]
        return candidate - 1

    def _stuck(self, candidate: int) -> bool:
        """Verifying mode cannot verify `candidate`, it is outside hdist, and waiting will not help:

        - we abstain on it (its margins are undecided): no ballot can agree with us enough;
        - disagreement about history: ballots whose opinion of the layers up to it (their chained
          hash at it) differs from ours carry at least a third of the weight after it, so they will
          never be good and verifying mode's margin (good minus the rest) never outgrows a third of
          the expected weight, the threshold's growth.  (Ballots that differ from us only on later
          layers, still within hdist, usually agree once hare outputs and certificates settle.)
        - missing weight: it is still unverified 2 * hdist layers on.  A layer's weight is lumpy
          (a few eligibilities each), so a few light layers alone are no reason to switch.
        """
        if candidate >= self._last or candidate + self.config.hdist > self._last:
            return False
        if self._layer(candidate).vote.abstain or candidate + 2 * self.config.hdist <= self._last:
            return True
        ours = self.opinion(candidate)
        disagree = counted = Fraction(0)
        for layer in range(candidate + 1, self._last + 1):
            for ballot in self._layer(layer).ballots:
                weight = self._weight(ballot.info)
                counted += weight
                disagree += weight if ballot.opinion_of(candidate) != ours else 0
        return counted > 0 and 3 * disagree >= counted

    def _verify_full(self, first: int) -> None:
        """Full mode (spec §6.4): re-verify every layer from `first` on by the counted votes."""
        tallies = self._tallies(first)
        verified = first - 1
        for target in range(first, self._last):
            verdict = self._full_verdict(target, tallies[target])
            if verdict is None:
                break
            self._layers[target].verdict = verdict
            self.full_mode_layers.add(target)
            verified = target
        self._verified = verified

    def _full_verdict(self, target: int, tally: _Tally) -> LayerVote | None:
        """Valid blocks of `target` if every margin (or the empty weight) decides it, else None."""
        threshold = self._full_threshold(target)
        empty = tally.empty > threshold
        blocks = self._layer(target).blocks.values()
        if not blocks:
            return EMPTY if empty else None
        support = []
        for block in blocks:
            margin = tally.margins[block.id]
            if margin > threshold:
                support.append(BlockRef(block.height, block.id))
            elif margin >= -threshold and not empty:
                return None
        return LayerVote(support=frozenset(support))

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
