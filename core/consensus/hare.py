"""Hare 3: per-layer agreement on a set of proposal ids (spec/node.md §5).

Every honest node starts a `HareSession` for layer L with the proposals it saw for L and, after
a few rounds of committee-sampled voting, outputs the *same* sorted set of proposal ids (maybe
empty) as every other honest node - or, after `iteration_limit` iterations without agreement,
nothing (the tortoise then treats the layer as empty, spec §5.3, §6).

The session is a pure state machine: `on_round(r)` runs round r's rule and returns the
messages to gossip, `on_message(msg)` validates and records a received message.  Time enters
only through the driver (`HareSchedule`, `HareRunner`), which calls `on_round` at
`start(L) + PreroundDelay + (r-1)·RoundDuration` (spec §5.1), so tests run many nodes on
simulated time in one process.

Rounds of an iteration (absolute round = iter·7 + round; iteration 0 has a preround and no
hardlock, so its absolute rounds are 0, 2..7 and iteration i > 0 has 7i+1 .. 7i+7):
preround(0) hardlock(1) softlock(2) propose(3) wait1(4) wait2(5) commit(6) notify(7).

Grades (spec §5.2): a message received in its own round has grade 5 and loses one grade per
round it is late; thresholds are evaluated "at grade g", counting only messages of grade >= g.
The session measures lateness against its own current round, so a driver that calls
`on_round` on time grades messages exactly as go-spacemesh does.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Protocol

from core.codec import Compact, FixedBytes, Option, Slice, Struct, UInt
from core.consensus.sortition import eligibility_count, hare_vrf_message
from core.crypto import ecvrf
from core.crypto.hashing import hash32
from core.crypto.signing import Domain, public_key_of, sign_message, verify_message
from core.errors import SmeshError

if TYPE_CHECKING:
    from core.config.node import NodeConfig
    from core.node.clock import LayerClock

__all__ = [
    "MAX_PROPOSALS",
    "Body",
    "Eligibility",
    "EpochWeights",
    "Equivocation",
    "HareConfig",
    "HareMetadata",
    "HareOutput",
    "HareRunner",
    "HareSchedule",
    "HareSession",
    "Identity",
    "IneligibleHere",
    "InvalidHareMessage",
    "Message",
    "Round",
    "Value",
    "Verdict",
    "WeightsOracle",
    "absolute_round",
    "next_round",
    "proposals_hash",
    "split_round",
    "validate_message",
]

MAX_PROPOSALS = 2350  # wire bound on a proposal set; ~50 proposals are expected per layer
PROPOSAL_ID_SIZE = 20
ROUNDS_PER_ITERATION = 7
BEST_GRADE = 5


class InvalidHareMessage(SmeshError):
    """A hare message that fails validation; the network layer drops it (and may score the peer)."""


class IneligibleHere(InvalidHareMessage):
    """A well-formed, signed message whose sender is not eligible in *this* node's view (beacon,
    active set, known malicious identities).  An honest peer whose view differs sends such
    messages, so the node ignores them rather than penalise the peer that relayed one."""


class Round(enum.IntEnum):
    PREROUND = 0
    HARDLOCK = 1
    SOFTLOCK = 2
    PROPOSE = 3
    WAIT1 = 4
    WAIT2 = 5
    COMMIT = 6
    NOTIFY = 7


MESSAGE_ROUNDS = frozenset({Round.PREROUND, Round.PROPOSE, Round.COMMIT, Round.NOTIFY})
_SET_ROUNDS = frozenset({Round.PREROUND, Round.PROPOSE})  # rounds whose value is a proposal set


def absolute_round(iteration: int, rnd: int) -> int:
    """iter·7 + round: the round number VRFs and signatures are bound to (spec §5.1)."""
    return iteration * ROUNDS_PER_ITERATION + rnd


def split_round(abs_round: int) -> tuple[int, Round]:
    """(iteration, round) of an absolute round; 7 is iteration 0's notify, not a preround."""
    if abs_round < 0:
        raise ValueError("rounds are not negative")
    if abs_round == 0:
        return 0, Round.PREROUND
    iteration, offset = divmod(abs_round - 1, ROUNDS_PER_ITERATION)
    return iteration, Round(offset + 1)


def next_round(abs_round: int) -> int:
    """The round after `abs_round`: iteration 0 skips hardlock, so the preround is followed by 2."""
    return 2 if abs_round == 0 else abs_round + 1


def _time_slot(abs_round: int) -> int:
    """Rounds elapsed since the preround on the time axis: hardlock 1 shares the preround's slot."""
    return max(0, abs_round - 1)


def proposals_hash(proposals: Iterable[bytes]) -> bytes:
    """H(set) = BLAKE3 of the sorted ids concatenated: what commit and notify messages refer to."""
    return hash32(*sorted(proposals))


# --- wire types (spec §5.2) -------------------------------------------------------------------


class Value(Struct):
    """A proposal set (preround, propose) or a reference to one (commit, notify)."""

    proposals: Annotated[tuple[bytes, ...], Slice(FixedBytes(PROPOSAL_ID_SIZE), MAX_PROPOSALS)]
    reference: Annotated[bytes | None, Option(FixedBytes(32))]


class Eligibility(Struct):
    proof: Annotated[bytes, FixedBytes(ecvrf.PROOF_SIZE)]
    count: Annotated[int, Compact(16)]


class Body(Struct):
    layer: Annotated[int, Compact(32)]
    iter: Annotated[int, UInt(8)]
    round: Annotated[int, UInt(8)]
    value: Value
    eligibility: Eligibility

    @property
    def abs_round(self) -> int:
        return absolute_round(self.iter, self.round)


class HareMetadata(Struct):
    """What the sender signs: the body is bound through its hash (spec §5.2)."""

    layer: Annotated[int, Compact(32)]
    round: Annotated[int, Compact(32)]
    msg_hash: Annotated[bytes, FixedBytes(32)]


class Message(Struct):
    body: Body
    sender: Annotated[bytes, FixedBytes(32)]
    signature: Annotated[bytes, FixedBytes(64)]

    @property
    def msg_hash(self) -> bytes:
        """BLAKE3(scale(Body)): two messages of one sender and round with different hashes equivocate."""
        return hash32(self.body.encode())

    def signed_bytes(self) -> bytes:
        return HareMetadata(self.body.layer, self.body.abs_round, self.msg_hash).encode()


# --- inputs ---------------------------------------------------------------------------------


class WeightsOracle(Protocol):
    """The epoch's hare active set: ATX weights, their total and the identities known malicious."""

    def weight(self, node_id: bytes) -> int: ...

    def total_weight(self) -> int: ...

    def is_malicious(self, node_id: bytes) -> bool: ...


@dataclasses.dataclass(frozen=True)
class EpochWeights:
    """A `WeightsOracle` over a plain mapping; the total defaults to the sum of the weights."""

    weights: Mapping[bytes, int]
    malicious: frozenset[bytes] = frozenset()
    total: int | None = None

    def weight(self, node_id: bytes) -> int:
        return self.weights.get(node_id, 0)

    def total_weight(self) -> int:
        return sum(self.weights.values()) if self.total is None else self.total

    def is_malicious(self, node_id: bytes) -> bool:
        return node_id in self.malicious


@dataclasses.dataclass(frozen=True)
class Identity:
    """This node's signing identity; its VRF uses the same ed25519 key (spec §0)."""

    secret_key: bytes

    @functools.cached_property
    def node_id(self) -> bytes:
        return public_key_of(self.secret_key)


@dataclasses.dataclass(frozen=True)
class HareConfig:
    committee: int = 800
    leaders: int = 5
    iteration_limit: int = 4
    preround_delay: float = 25.0
    round_duration: float = 12.0

    def __post_init__(self) -> None:
        if not 0 < self.committee < 1 << 15 or not 0 < self.leaders < 1 << 15:
            raise ValueError("hare committee and leaders must be between 1 and 32767")  # counts are u16
        if not 0 < self.iteration_limit < 1 << 8:
            raise ValueError("hare iteration limit must be between 1 and 255")  # iter is a byte
        if self.preround_delay < 0 or self.round_duration <= 0:
            raise ValueError("hare preround delay must be >= 0 and round duration > 0")

    @classmethod
    def from_node_config(cls, config: NodeConfig) -> HareConfig:
        return cls(
            committee=config.hare_committee,
            leaders=config.hare_leaders,
            iteration_limit=config.hare_iteration_limit,
            preround_delay=config.hare_preround_delay,
            round_duration=config.hare_round_duration,
        )

    @property
    def threshold(self) -> int:
        """committee/2 + 1 eligibility seats: any two such quorums share an honest seat."""
        return self.committee // 2 + 1

    def committee_for(self, rnd: int) -> int:
        """Propose is sampled from the small leaders committee, every other round from the committee."""
        return self.leaders if rnd == Round.PROPOSE else self.committee


@dataclasses.dataclass(frozen=True)
class HareOutput:
    """The agreed proposal set of a layer, handed to the block generator (spec §1.2 step 3)."""

    layer: int
    proposals: tuple[bytes, ...]


@dataclasses.dataclass(frozen=True)
class Equivocation:
    """Two validly signed, different messages of one sender for one round: malfeasance evidence."""

    first: Message
    second: Message

    @property
    def node_id(self) -> bytes:
        return self.first.sender


class Verdict(enum.Enum):
    """What `on_message` did with a valid message (gossip relays ACCEPTED and EQUIVOCATION)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    EQUIVOCATION = "equivocation"
    IGNORED = "ignored"  # from a known equivocator, or the session is over


# --- validation (one path for our own messages and received ones) ------------------------------


@functools.lru_cache(maxsize=8192)
def _vrf_valid(public_key: bytes, proof: bytes, alpha: bytes) -> bool:
    """VRF verification is the costly check and a pure function, so repeats are cached."""
    return ecvrf.is_valid(public_key, proof, alpha)


@functools.lru_cache(maxsize=8192)
def _seats(proof: bytes, weight: int, total_weight: int, committee: int) -> int:
    return eligibility_count(proof, weight, total_weight, committee)


def validate_message(
    msg: Message, *, layer: int, beacon: bytes, genesis_id: bytes, oracle: WeightsOracle, config: HareConfig
) -> None:
    """Raise `InvalidHareMessage` unless `msg` is a well-formed, signed, eligible message for `layer`.

    Cheap structural checks go first so that junk costs no signature or VRF verification.
    """
    body = msg.body
    if body.layer != layer:
        raise InvalidHareMessage(f"message is for layer {body.layer}, not {layer}")
    _check_round(body, config)
    _check_value(body)
    sender = msg.sender
    if oracle.is_malicious(sender):
        raise IneligibleHere("sender is a known malicious identity")
    weight = oracle.weight(sender)
    if weight <= 0:
        raise IneligibleHere("sender has no weight in this epoch's active set")
    if not verify_message(sender, genesis_id, Domain.HARE, msg.signed_bytes(), msg.signature):
        raise InvalidHareMessage("bad signature")
    proof = body.eligibility.proof
    if not _vrf_valid(sender, proof, hare_vrf_message(beacon, body.abs_round, layer)):
        raise IneligibleHere("eligibility proof does not verify")
    seats = _seats(proof, weight, oracle.total_weight(), config.committee_for(body.round))
    if seats == 0:
        raise IneligibleHere("sender is not eligible in this round")
    if body.eligibility.count != seats:
        raise IneligibleHere(f"message claims {body.eligibility.count} seats, its proof grants {seats}")


def _check_round(body: Body, config: HareConfig) -> None:
    if body.round not in MESSAGE_ROUNDS:
        raise InvalidHareMessage(f"round {body.round} carries no messages")
    if body.round == Round.PREROUND and body.iter != 0:
        raise InvalidHareMessage("only iteration 0 has a preround")
    if body.iter >= config.iteration_limit:
        raise InvalidHareMessage(f"iteration {body.iter} is beyond the limit {config.iteration_limit}")


def _check_value(body: Body) -> None:
    value = body.value
    if body.round in _SET_ROUNDS:
        if value.reference is not None:
            raise InvalidHareMessage("preround and propose messages carry a proposal set, not a reference")
        if any(a >= b for a, b in zip(value.proposals, value.proposals[1:])):
            raise InvalidHareMessage("proposal ids must be sorted and distinct")
    elif value.reference is None or value.proposals:
        raise InvalidHareMessage("commit and notify messages carry only a reference")


# --- the per-layer state machine ------------------------------------------------------------


@dataclasses.dataclass
class _Received:
    """A stored message with the lateness (in rounds) it arrived with."""

    message: Message
    msg_hash: bytes
    lateness: int
    conflict_lateness: int | None = None  # when an equivocating twin for the same round arrived

    @property
    def grade(self) -> int:
        return max(0, BEST_GRADE - self.lateness)

    @property
    def seats(self) -> int:
        return self.message.body.eligibility.count

    @property
    def gradecast_grade(self) -> int:
        """Leader-message grade (spec §5.3 commit): 2 on time, 1 a round late; a twin demotes it."""
        twin = self.conflict_lateness
        if self.lateness <= 0 and (twin is None or twin > 2):
            return 2
        if self.lateness <= 1 and (twin is None or twin > 1):
            return 1
        return 0


class HareSession:
    """One node's hare instance for one layer (spec §5.3).

    `identity=None` makes an observer: it follows the protocol and outputs, but sends nothing.
    """

    def __init__(
        self,
        layer: int,
        *,
        beacon: bytes,
        genesis_id: bytes,
        oracle: WeightsOracle,
        config: HareConfig,
        identity: Identity | None = None,
        initial: Iterable[bytes] = (),
    ) -> None:
        if len(beacon) != 4:
            raise ValueError("a beacon is 4 bytes")
        self.layer = layer
        self.beacon = beacon
        self.genesis_id = genesis_id
        self.oracle = oracle
        self.config = config
        self.identity = identity
        self._current = -1  # the round whose time slot we are in; -1 before the preround
        self.initial: tuple[bytes, ...] = ()
        self.set_initial(initial)

        self.output: HareOutput | None = None
        self.output_round: int | None = None
        self.coin: bool | None = None  # weak coin, known after the preround (spec §1.2 step 4)
        self.terminated = False
        self.done = False
        self.equivocations: dict[bytes, Equivocation] = {}

        self._next = 0
        self._received: dict[int, dict[bytes, _Received]] = {}  # abs round -> sender -> message
        self._sets: dict[bytes, tuple[bytes, ...]] = {}  # H(set) -> set, learned from propose messages
        self._valid: dict[int, tuple[bytes, ...]] = {}  # T_g: grade -> preround proposals at threshold
        self._locked: bytes | None = None
        self._hard_locked = False
        self._result: bytes | None = None

    # --- public surface --------------------------------------------------------------------

    def set_initial(self, proposals: Iterable[bytes]) -> None:
        """This node's preround set S (spec §5.3); may be replaced until the preround runs."""
        if self._current >= 0:
            raise ValueError("the preround has already run")
        ids = tuple(sorted(set(proposals)))
        if any(len(p) != PROPOSAL_ID_SIZE for p in ids):
            raise ValueError("proposal ids are 20 bytes")
        self.initial = ids

    @property
    def next_round(self) -> int | None:
        """The absolute round `on_round` expects next; None once the session is over."""
        return None if self.done else self._next

    @property
    def failed(self) -> bool:
        """Over without an output: no agreement within the iteration limit."""
        return self.done and self.output is None

    def on_round(self, abs_round: int) -> list[Message]:
        """Run round `abs_round`'s rule at its start; returns this node's messages to gossip."""
        if self.done:
            raise ValueError("the hare session is over")
        if abs_round != self._next:
            raise ValueError(f"expected round {self._next}, got {abs_round}")
        self._current = abs_round
        iteration, rnd = split_round(abs_round)
        value = self._execute(iteration, rnd)
        outgoing = []
        if value is not None and not self.terminated:
            msg = self._make_message(iteration, rnd, value)
            if msg is not None:
                self.on_message(msg)
                outgoing.append(msg)
        self._advance(iteration, rnd)
        return outgoing

    def on_message(self, msg: Message, *, grade: int | None = None) -> Verdict:
        """Validate and record a message; raises `InvalidHareMessage` if it is not valid.

        Lateness is measured against the session's current round unless the caller grades it
        (`grade`, 0..5, e.g. when it tracks receive times itself).
        """
        if grade is not None and not 0 <= grade <= BEST_GRADE:
            raise ValueError(f"grades run from 0 to {BEST_GRADE}")
        if self.done:
            return Verdict.IGNORED
        validate_message(
            msg, layer=self.layer, beacon=self.beacon, genesis_id=self.genesis_id, oracle=self.oracle, config=self.config
        )
        lateness = self._lateness(msg.body.abs_round) if grade is None else BEST_GRADE - grade
        return self._record(msg, lateness)

    # --- gossip bookkeeping ----------------------------------------------------------------

    def _lateness(self, abs_round: int) -> int:
        return max(0, _time_slot(self._current) - _time_slot(abs_round))

    def _record(self, msg: Message, lateness: int) -> Verdict:
        by_sender = self._received.setdefault(msg.body.abs_round, {})
        msg_hash = msg.msg_hash
        seen = by_sender.get(msg.sender)
        if seen is not None:
            if seen.msg_hash == msg_hash:
                return Verdict.DUPLICATE
            if seen.conflict_lateness is None:
                seen.conflict_lateness = lateness
            if msg.sender in self.equivocations:
                return Verdict.IGNORED
            # spec §5.2: two messages for one round = equivocation; keep the first, drop the second
            self.equivocations[msg.sender] = Equivocation(seen.message, msg)
            return Verdict.EQUIVOCATION
        if msg.sender in self.equivocations:
            return Verdict.IGNORED  # a known equivocator is not heard again
        by_sender[msg.sender] = _Received(msg, msg_hash, lateness)
        if msg.body.round == Round.PROPOSE:
            proposals = msg.body.value.proposals
            self._sets[proposals_hash(proposals)] = proposals
        return Verdict.ACCEPTED

    def _messages(self, abs_round: int, min_grade: int) -> Iterable[tuple[bytes, _Received]]:
        for sender, received in self._received.get(abs_round, {}).items():
            if received.grade >= min_grade:
                yield sender, received

    def _threshold_proposals(self, min_grade: int) -> tuple[bytes, ...]:
        """T_g: proposals whose preround supporters hold >= threshold seats at grade >= g."""
        seats: dict[bytes, int] = {}
        honest: set[bytes] = set()
        for sender, received in self._messages(0, min_grade):
            for proposal in received.message.body.value.proposals:
                seats[proposal] = seats.get(proposal, 0) + received.seats
                if sender not in self.equivocations:
                    honest.add(proposal)
        return tuple(sorted(p for p, n in seats.items() if n >= self.config.threshold and p in honest))

    def _threshold_reference(self, abs_round: int, min_grade: int) -> bytes | None:
        """The set reference that commit/notify messages of a round back with threshold seats.

        Equivocators' first messages still count toward the seats (others may have counted
        them), but at least one supporter must be a non-equivocator (spec §5.2).  Only
        references whose set we know are usable.
        """
        seats: dict[bytes, int] = {}
        honest: set[bytes] = set()
        for sender, received in self._messages(abs_round, min_grade):
            ref = received.message.body.value.reference
            assert ref is not None
            seats[ref] = seats.get(ref, 0) + received.seats
            if sender not in self.equivocations:
                honest.add(ref)
        usable = sorted(r for r, n in seats.items() if n >= self.config.threshold and r in honest and r in self._sets)
        return usable[0] if usable else None

    # --- round rules (spec §5.3) -----------------------------------------------------------

    def _execute(self, iteration: int, rnd: Round) -> Value | None:
        if iteration == 0 and Round.SOFTLOCK <= rnd <= Round.WAIT2:
            # T_5 at softlock, T_4 at propose, T_3 at wait1, T_2 at wait2: each as soon as every
            # preround message of that grade can have arrived, then frozen for later iterations
            grade = BEST_GRADE - (rnd - Round.SOFTLOCK)
            self._valid[grade] = self._threshold_proposals(grade)
        rule = {
            Round.PREROUND: self._preround,
            Round.HARDLOCK: self._hardlock,
            Round.SOFTLOCK: self._softlock,
            Round.PROPOSE: self._propose,
            Round.COMMIT: self._commit,
            Round.NOTIFY: self._notify,
        }.get(rnd)
        return rule(iteration) if rule is not None else None

    def _preround(self, iteration: int) -> Value:
        return Value(proposals=self.initial, reference=None)

    def _hardlock(self, iteration: int) -> None:
        """Output on a notify quorum of the last iteration; hard-lock on its commit quorum."""
        if self._result is not None:
            self.terminated = True  # we output one iteration ago and helped others since
            return
        previous = absolute_round(iteration - 1, Round.NOTIFY)
        ref = self._threshold_reference(previous, BEST_GRADE)
        if ref is not None:
            self._result = ref
            self.output = HareOutput(self.layer, self._sets[ref])
            self.output_round = absolute_round(iteration, Round.HARDLOCK)
        locked = self._threshold_reference(absolute_round(iteration - 1, Round.COMMIT), 4)
        self._locked, self._hard_locked = locked, locked is not None

    def _softlock(self, iteration: int) -> None:
        if iteration == 0:
            self._settle_coin()
        elif not self._hard_locked:
            ref = self._threshold_reference(absolute_round(iteration - 1, Round.COMMIT), 3)
            if ref is not None:
                self._locked = ref

    def _propose(self, iteration: int) -> Value:
        """Leaders propose T_4, or the set the last iteration committed to at grade >= 2."""
        proposals = self._valid[4]
        if iteration > 0:
            ref = self._threshold_reference(absolute_round(iteration - 1, Round.COMMIT), 2)
            if ref is not None:
                proposals = self._sets[ref]
        return Value(proposals=proposals, reference=None)

    def _commit(self, iteration: int) -> Value | None:
        """Commit to the lowest-VRF leader's set if it passes every gradecast condition."""
        if self._hard_locked and self._locked is not None:
            return Value(proposals=(), reference=self._locked)
        leader = self._leader(iteration)
        if leader is None:
            return None
        proposals, grade = leader
        ref = proposals_hash(proposals)
        committed_before = None
        if iteration > 0:
            committed_before = self._threshold_reference(absolute_round(iteration - 1, Round.COMMIT), 1)
        acceptable = (
            grade == 2
            and _is_subset(proposals, self._valid[3])
            and (_is_subset(self._valid[5], proposals) or ref == committed_before)
            and (self._locked is None or self._locked == ref)
        )
        return Value(proposals=(), reference=ref) if acceptable else None

    def _leader(self, iteration: int) -> tuple[tuple[bytes, ...], int] | None:
        """The lowest-VRF propose message whose set is valid (a subset of T_2), with its grade."""
        candidates = [r for _, r in self._messages(absolute_round(iteration, Round.PROPOSE), 0) if r.gradecast_grade]
        candidates.sort(key=lambda r: r.message.body.eligibility.proof)
        for received in candidates:
            proposals = received.message.body.value.proposals
            if _is_subset(proposals, self._valid[2]):
                return proposals, received.gradecast_grade
        return None

    def _notify(self, iteration: int) -> Value | None:
        ref = self._result
        if ref is None:
            ref = self._threshold_reference(absolute_round(iteration, Round.COMMIT), BEST_GRADE)
        return None if ref is None else Value(proposals=(), reference=ref)

    def _settle_coin(self) -> None:
        """Weak coin = lowest bit of the smallest preround VRF proof seen (bytes order, spec §5.3)."""
        proofs = [r.message.body.eligibility.proof for _, r in self._messages(0, 0)]
        self.coin = bool(min(proofs)[0] & 1) if proofs else None

    def _advance(self, iteration: int, rnd: Round) -> None:
        """Stop after terminating, or after the hardlock of iteration `iteration_limit` (failure)."""
        if self.terminated or (iteration >= self.config.iteration_limit and rnd == Round.HARDLOCK):
            self.done = True
        else:
            self._next = next_round(absolute_round(iteration, rnd))

    # --- sending --------------------------------------------------------------------------

    def _make_message(self, iteration: int, rnd: Round, value: Value) -> Message | None:
        """Sign `value` for this round if our identity is eligible in it, else None."""
        identity = self.identity
        if identity is None or self.oracle.is_malicious(identity.node_id):
            return None
        weight = self.oracle.weight(identity.node_id)
        if weight <= 0:
            return None
        abs_round = absolute_round(iteration, rnd)
        proof = ecvrf.prove(identity.secret_key, hare_vrf_message(self.beacon, abs_round, self.layer))
        seats = _seats(proof, weight, self.oracle.total_weight(), self.config.committee_for(rnd))
        if seats == 0:
            return None
        body = Body(self.layer, iteration, rnd, value, Eligibility(proof, seats))
        return sign_body(identity, self.genesis_id, body)


def sign_body(identity: Identity, genesis_id: bytes, body: Body) -> Message:
    """A message with `identity`'s HARE-domain signature over its metadata (spec §5.2)."""
    unsigned = Message(body, identity.node_id, bytes(64))
    return dataclasses.replace(
        unsigned, signature=sign_message(identity.secret_key, genesis_id, Domain.HARE, unsigned.signed_bytes())
    )


def _is_subset(small: tuple[bytes, ...], big: tuple[bytes, ...]) -> bool:
    return set(small) <= set(big)


# --- driving a session from time (spec §5.1) ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HareSchedule:
    """Round start times of one layer's session: preround at start(L) + PreroundDelay, round r
    (r >= 1) at start(L) + PreroundDelay + (r-1)·RoundDuration."""

    layer_start: float
    preround_delay: float
    round_duration: float

    @classmethod
    def for_layer(cls, clock: LayerClock, layer: int, config: HareConfig) -> HareSchedule:
        return cls(clock.layer_start(layer), config.preround_delay, config.round_duration)

    def round_start(self, abs_round: int) -> float:
        return self.layer_start + self.preround_delay + _time_slot(abs_round) * self.round_duration

    def round_at(self, t: float) -> int | None:
        """The latest round started by time t (None before the preround)."""
        elapsed = t - self.layer_start - self.preround_delay
        if elapsed < 0:
            return None
        slot = math.floor(elapsed / self.round_duration)
        # the division may round across a boundary; the start times themselves decide
        if self.round_start(slot + 2) <= t:
            slot += 1
        elif slot > 0 and self.round_start(slot + 1) > t:
            slot -= 1
        return 0 if slot == 0 else slot + 1


class HareRunner:
    """Runs a session's rounds when their time comes; received messages go to `session.on_message`."""

    def __init__(self, session: HareSession, schedule: HareSchedule) -> None:
        self.session = session
        self.schedule = schedule

    def next_deadline(self) -> float | None:
        """When the next round starts; None once the session is over."""
        upcoming = self.session.next_round
        return None if upcoming is None else self.schedule.round_start(upcoming)

    def tick(self, now: float) -> list[Message]:
        """Run every round that has started by `now`, in order; returns the messages to gossip."""
        outgoing: list[Message] = []
        while (upcoming := self.session.next_round) is not None and self.schedule.round_start(upcoming) <= now:
            outgoing += self.session.on_round(upcoming)
        return outgoing

    async def run(
        self,
        sleep_until: Callable[[float], Awaitable[None]],
        publish: Callable[[Message], Awaitable[None] | None],
    ) -> HareOutput | None:
        """Sleep to each round start (a wall or simulated clock), run it and publish its messages."""
        while (deadline := self.next_deadline()) is not None:
            await sleep_until(deadline)
            for msg in self.tick(deadline):
                sent = publish(msg)
                if inspect.isawaitable(sent):
                    await sent
        return self.session.output
