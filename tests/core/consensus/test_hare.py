"""Hare 3 (spec/node.md §5): wire format, validation, and many sessions on an in-memory bus."""

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.codec import encode_compact
from core.consensus.certificate import (
    CERTIFY_ROUND,
    CertificateCollector,
    CertifierIneligibleHere,
    InvalidCertificate,
    make_certify_message,
    validate_certificate,
)
from core.consensus.hare import (
    Body,
    Eligibility,
    EpochWeights,
    HareConfig,
    HareRunner,
    HareSchedule,
    HareSession,
    Identity,
    IneligibleHere,
    InvalidHareMessage,
    Message,
    Round,
    Value,
    Verdict,
    next_round,
    proposals_hash,
    sign_body,
    split_round,
)
from core.consensus.sortition import eligibility_count, hare_vrf_message
from core.crypto import ecvrf
from core.crypto.hashing import hash20, hash32
from core.crypto.signing import Domain, verify_message
from core.node.clock import LayerClock, SimulatedTime

GENESIS = hash20(b"hare test network")
BEACON = b"\x0b\xea\xc0\x11"
LAYER = 42
CONFIG = HareConfig(committee=800, leaders=5, iteration_limit=3, preround_delay=1.0, round_duration=0.1)
PROPOSALS = tuple(sorted(hash20(b"proposal", bytes([i])) for i in range(6)))
IDENTITIES = [Identity(bytes([i]) * 32) for i in range(1, 9)]
WEIGHTS = [3 * 10**11, 5 * 10**11, 7 * 10**11, 10**12, 13 * 10**11, 2 * 10**12, 4 * 10**11, 9 * 10**11]


def make_oracle(n: int, **kw) -> EpochWeights:
    return EpochWeights({i.node_id: w for i, w in zip(IDENTITIES[:n], WEIGHTS[:n])}, **kw)


def make_sessions(
    n: int, initial: Sequence[Sequence[bytes]] | None = None, oracle=None, config=CONFIG, layer=LAYER, beacon=BEACON
):
    oracle = oracle or make_oracle(n)
    initial = initial or [PROPOSALS] * n
    return [
        HareSession(layer, beacon=beacon, genesis_id=GENESIS, oracle=oracle, config=config, identity=ident, initial=s)
        for ident, s in zip(IDENTITIES[:n], initial)
    ]


def observer(oracle, config=CONFIG) -> HareSession:
    return HareSession(LAYER, beacon=BEACON, genesis_id=GENESIS, oracle=oracle, config=config)


Delivery = tuple[Message, Sequence[HareSession]]


class Bus:
    """A deterministic in-memory gossip network with no wall time.

    Every live session runs each round in lockstep; the messages of a round are delivered after
    all sessions ran it (on time), or `delay(msg, receiver)` rounds later; `grade(msg, receiver)`
    may grade a delivery explicitly (None: the session grades by its clock).  `rewrite` lets a test
    replace a sender's messages with arbitrary (message, receivers) deliveries, in order.
    """

    def __init__(
        self,
        sessions: Sequence[HareSession],
        *,
        delay: Callable[[Message, HareSession], int] = lambda msg, receiver: 0,
        grade: Callable[[Message, HareSession], int | None] = lambda msg, receiver: None,
        rewrite: Callable[[HareSession, list[Message]], list[Delivery]] | None = None,
    ) -> None:
        self.sessions = list(sessions)
        self.delay = delay
        self.grade = grade
        self.rewrite = rewrite or (lambda sender, msgs: [(m, self.sessions) for m in msgs])
        self.sent: list[Message] = []
        self.verdicts: list[Verdict] = []
        self._pending: dict[int, list[tuple[Message, HareSession]]] = {}

    def run(self) -> None:
        slot = 0
        while live := [s for s in self.sessions if not s.done]:
            rnd = min(s.next_round for s in live)
            for session in live:
                if session.next_round == rnd:
                    for msg, receivers in self.rewrite(session, session.on_round(rnd)):
                        self.sent.append(msg)
                        for receiver in receivers:
                            self._pending.setdefault(slot + self.delay(msg, receiver), []).append((msg, receiver))
            for msg, receiver in self._pending.pop(slot, []):
                self.verdicts.append(receiver.on_message(msg, grade=self.grade(msg, receiver)))
            slot += 1


def outputs(sessions):
    return [None if s.output is None else s.output.proposals for s in sessions]


# --- rounds, wire format ----------------------------------------------------------------------


def test_round_numbering():
    assert split_round(0) == (0, Round.PREROUND)
    assert split_round(2) == (0, Round.SOFTLOCK)
    assert split_round(7) == (0, Round.NOTIFY)  # not iteration 1's (non-existent) preround
    assert split_round(8) == (1, Round.HARDLOCK)
    assert split_round(14) == (1, Round.NOTIFY)
    assert split_round(15) == (2, Round.HARDLOCK)
    assert [next_round(r) for r in (0, 2, 7, 8)] == [2, 3, 8, 9]  # iteration 0 skips hardlock


def test_schedule_matches_spec_timing():
    # standalone preset: 6 s layers, preround 1 s, rounds 100 ms; output ~1.7 s into the layer
    clock = LayerClock(genesis_time=1000.0, layer_duration=6.0, layers_per_epoch=10)
    schedule = HareSchedule.for_layer(clock, 20, CONFIG)
    assert schedule.round_start(0) == pytest.approx(1121.0)
    assert schedule.round_start(2) == pytest.approx(1121.1)
    assert schedule.round_start(8) == pytest.approx(1121.7)
    assert schedule.round_at(1120.99) is None
    assert schedule.round_at(schedule.round_start(0)) == 0
    assert schedule.round_at(1121.05) == 0
    assert schedule.round_at(schedule.round_start(2)) == 2
    assert schedule.round_at(schedule.round_start(8)) == 8
    assert schedule.round_at(1121.75) == 8


def test_message_layout_and_signed_bytes():
    proof = bytes(range(80))
    body = Body(LAYER, 0, Round.PREROUND, Value(PROPOSALS[:2], None), Eligibility(proof, 70))
    expected_body = (
        encode_compact(LAYER)
        + b"\x00\x00"  # iter, round: one byte each
        + encode_compact(2)
        + PROPOSALS[0]
        + PROPOSALS[1]
        + b"\x00"  # no reference
        + proof
        + encode_compact(70)
    )
    assert body.encode() == expected_body
    msg = sign_body(IDENTITIES[0], GENESIS, body)
    assert msg.encode() == expected_body + IDENTITIES[0].node_id + msg.signature
    assert Message.decode(msg.encode()) == msg
    metadata = encode_compact(LAYER) + encode_compact(0) + hash32(expected_body)
    assert msg.signed_bytes() == metadata
    assert verify_message(IDENTITIES[0].node_id, GENESIS, Domain.HARE, metadata, msg.signature)

    commit = Body(LAYER, 2, Round.COMMIT, Value((), b"\x07" * 32), Eligibility(proof, 1))
    # the signature binds the absolute round: iteration 2's commit is round 2*7 + 6
    assert sign_body(IDENTITIES[0], GENESIS, commit).signed_bytes() == encode_compact(LAYER) + encode_compact(20) + hash32(
        commit.encode()
    )


@given(
    st.lists(st.binary(min_size=20, max_size=20), max_size=8),
    st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
)
def test_body_roundtrip(proposals, reference, layer, iteration):
    body = Body(layer, iteration, 6, Value(tuple(proposals), reference), Eligibility(b"\x01" * 80, 3))
    assert Body.decode(body.encode()) == body


# --- agreement --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [4, 5, 6])
def test_honest_nodes_agree_within_iteration_zero(n):
    sessions = make_sessions(n)
    watcher = observer(make_oracle(n))
    Bus([*sessions, watcher]).run()
    assert outputs(sessions) == [PROPOSALS] * n
    assert watcher.output is not None and watcher.output.proposals == PROPOSALS and watcher.output.layer == LAYER
    # iteration 0's notifies are counted at iteration 1's hardlock (abs 8); one iteration later the
    # session terminates (abs 15), well before the iteration limit
    assert {s.output_round for s in sessions} == {8}
    assert all(s.done and s.terminated and not s.failed for s in sessions)


def test_sessions_send_the_rounds_messages():
    sessions = make_sessions(5)
    bus = Bus(sessions)
    bus.run()
    preround = [m for m in bus.sent if m.body.round == Round.PREROUND]
    assert len(preround) == 5 and all(m.body.value.proposals == PROPOSALS for m in preround)
    commits = [m for m in bus.sent if m.body.round == Round.COMMIT and m.body.iter == 0]
    assert commits and {m.body.value.reference for m in commits} == {proposals_hash(PROPOSALS)}
    # eligibility counts are the sortition outcome of each sender's own VRF
    oracle = make_oracle(5)
    for m in bus.sent:
        committee = CONFIG.leaders if m.body.round == Round.PROPOSE else CONFIG.committee
        alpha = hare_vrf_message(BEACON, m.body.abs_round, LAYER)
        assert ecvrf.is_valid(m.sender, m.body.eligibility.proof, alpha)
        assert m.body.eligibility.count == eligibility_count(
            m.body.eligibility.proof, oracle.weight(m.sender), oracle.total_weight(), committee
        )
    assert not any(v in (Verdict.EQUIVOCATION,) for v in bus.verdicts)


def test_differing_initial_sets_agree_on_the_well_supported_proposals():
    common = PROPOSALS[:4]
    widely_seen, rarely_seen = hash20(b"wide"), hash20(b"rare")
    # weights 3,5,7,10,13 (x1e11): the first four (25 of 38) see `widely_seen`, only the lightest sees `rarely_seen`
    initial = [
        common + (widely_seen, rarely_seen),
        common + (widely_seen,),
        common + (widely_seen,),
        common + (widely_seen,),
        common,
    ]
    sessions = make_sessions(5, initial)
    Bus(sessions).run()
    agreed = tuple(sorted(common + (widely_seen,)))
    assert outputs(sessions) == [agreed] * 5


def test_empty_input_gives_agreed_empty_output():
    sessions = make_sessions(5, [()] * 5)
    Bus(sessions).run()
    assert outputs(sessions) == [()] * 5
    assert all(s.output_round == 8 and not s.failed for s in sessions)


def test_weak_coin_is_the_lowest_bit_of_the_smallest_preround_proof():
    sessions = make_sessions(6)
    bus = Bus(sessions)
    bus.run()
    smallest = min(m.body.eligibility.proof for m in bus.sent if m.body.round == Round.PREROUND)
    assert {s.coin for s in sessions} == {bool(smallest[0] & 1)}


def test_late_receiver_catches_up_from_notifies_of_the_next_iteration():
    """Notifies a round late (grade 4) cannot make an output; the notifies that nodes which already
    output send in the following iteration arrive on time and do."""
    sessions = make_sessions(5)
    laggard = observer(make_oracle(5))

    def delay(msg, receiver):
        return 1 if receiver is laggard and msg.body.round == Round.NOTIFY and msg.body.iter == 0 else 0

    Bus([*sessions, laggard], delay=delay).run()
    assert laggard.output is not None and laggard.output.proposals == PROPOSALS
    assert laggard.output_round == 15 and {s.output_round for s in sessions} == {8}


def test_notifies_graded_below_five_do_not_make_an_output():
    """The same on-time delivery as above, but graded 4 by the receiver (it knows they were late)."""
    sessions = make_sessions(5)
    laggard = observer(make_oracle(5))

    def grade(msg, receiver):
        return 4 if receiver is laggard and msg.body.round == Round.NOTIFY and msg.body.iter == 0 else None

    Bus([*sessions, laggard], grade=grade).run()
    assert laggard.output_round == 15 and laggard.output.proposals == PROPOSALS


def test_late_leader_messages_are_not_committed_to():
    """Gradecast: a propose message a round late has grade 1, and commits need grade 2 - so
    iteration 0 commits nothing (only each leader itself heard its own on time) and the
    nodes agree one iteration later."""
    sessions = make_sessions(5)

    def delay(msg, receiver):
        late = msg.body.round == Round.PROPOSE and msg.body.iter == 0 and msg.sender != receiver.identity.node_id
        return 1 if late else 0

    bus = Bus(sessions, delay=delay)
    bus.run()
    leaders = {m.sender for m in bus.sent if m.body.round == Round.PROPOSE and m.body.iter == 0}
    committers = {m.sender for m in bus.sent if m.body.round == Round.COMMIT and m.body.iter == 0}
    assert leaders and committers <= leaders  # nobody commits to a leader it heard late
    assert not any(m.body.round == Round.NOTIFY and m.body.iter == 0 for m in bus.sent)
    assert outputs(sessions) == [PROPOSALS] * 5 and {s.output_round for s in sessions} == {15}


def test_agreement_when_one_node_is_heard_a_round_late():
    sessions = make_sessions(5)
    slow = sessions[2]
    Bus(sessions, delay=lambda msg, receiver: 1 if msg.sender == slow.identity.node_id and receiver is not slow else 0).run()
    assert outputs(sessions) == [PROPOSALS] * 5


def test_equivocator_is_detected_and_agreement_still_reached():
    sessions = make_sessions(6)
    cheater = sessions[0]  # 3 of 61 weight units: the honest rest clear the threshold alone
    honest = sessions[1:]
    group_a, group_b = sessions[:3], sessions[3:]
    twins: dict[int, tuple[bytes, bytes]] = {}

    def rewrite(sender, msgs):
        deliveries = []
        for msg in msgs:
            if sender is not cheater or msg.body.round not in (Round.PREROUND, Round.COMMIT):
                deliveries.append((msg, sessions))
                continue
            if msg.body.round == Round.PREROUND:
                other = Value(PROPOSALS[:2] + (hash20(b"phantom"),), None)
            else:
                other = Value((), hash32(b"a set nobody proposed"))
            twin = sign_body(cheater.identity, GENESIS, dataclasses.replace(msg.body, value=other))
            twins[msg.body.abs_round] = (msg.msg_hash, twin.msg_hash)
            # each half hears a different version first; gossip then relays both everywhere
            deliveries += [(msg, group_a), (twin, group_b), (twin, group_a), (msg, group_b)]
        return deliveries

    bus = Bus(sessions, rewrite=rewrite)
    bus.run()
    cheater_id = cheater.identity.node_id
    for session in honest:
        evidence = session.equivocations[cheater_id]
        assert evidence.node_id == cheater_id
        assert {evidence.first.msg_hash, evidence.second.msg_hash} == set(twins[0])
        assert evidence.first.body.abs_round == evidence.second.body.abs_round == 0
    assert Verdict.EQUIVOCATION in bus.verdicts and Verdict.IGNORED in bus.verdicts  # later twins ignored
    assert 6 in twins  # it equivocated on its commit as well
    assert outputs(honest) == [PROPOSALS] * 5


def test_proposal_backed_only_by_an_equivocator_is_not_valid():
    """A heavy equivocator alone has threshold seats for a phantom proposal; without a single
    non-equivocating supporter it stays out of the valid sets (spec §5.2).  The equivocator is
    not heard after that, and the honest 45% are below the threshold: the layer fails rather
    than agreeing on anything the cheater pushed."""
    phantom = hash20(b"phantom")
    weights = [11, 2, 3, 2, 2]  # the cheater holds 55%: more than the threshold on its own
    oracle = EpochWeights({i.node_id: w * 10**11 for i, w in zip(IDENTITIES, weights)})
    sessions = make_sessions(5, oracle=oracle)
    cheater = sessions[0]

    def rewrite(sender, msgs):
        deliveries = [(m, sessions) for m in msgs]
        for msg in msgs:
            if sender is cheater and msg.body.round == Round.PREROUND:
                loud = Value(tuple(sorted(PROPOSALS + (phantom,))), None)
                twin = sign_body(cheater.identity, GENESIS, dataclasses.replace(msg.body, value=loud))
                deliveries = [(twin, sessions), (msg, sessions)]  # the phantom version arrives first
        return deliveries

    bus = Bus(sessions, rewrite=rewrite)
    bus.run()
    assert all(cheater.identity.node_id in s.equivocations for s in sessions)
    assert not any(phantom in m.body.value.proposals for m in bus.sent if m.body.round == Round.PROPOSE)
    assert all(s.failed for s in sessions)


def test_too_few_online_participants_fail_without_output():
    oracle = make_oracle(6)  # total weight 61 units; the two online hold 8
    online = make_sessions(2, oracle=oracle)
    watcher = observer(oracle)
    bus = Bus([*online, watcher])
    bus.run()
    assert all(s.done and s.failed and s.output is None and s.next_round is None for s in [*online, watcher])
    assert not any(m.body.round == Round.NOTIFY for m in bus.sent)  # no commit ever reached the threshold
    assert max(m.body.abs_round for m in bus.sent) < 7 * CONFIG.iteration_limit
    with pytest.raises(ValueError):
        online[0].on_round(7 * CONFIG.iteration_limit + 2)


def test_runner_drives_sessions_on_simulated_time():
    clock = LayerClock(genesis_time=0.0, layer_duration=6.0, layers_per_epoch=10)
    sessions = make_sessions(4)
    runners = [HareRunner(s, HareSchedule.for_layer(clock, LAYER, CONFIG)) for s in sessions]
    sim = SimulatedTime(start=clock.layer_start(LAYER))
    seen: list[tuple[float, int]] = []

    def publish(msg):
        seen.append((sim.now(), msg.body.abs_round))
        for s in sessions:
            s.on_message(msg)

    async def main():
        tasks = [asyncio.create_task(r.run(sim.sleep_until, publish)) for r in runners]
        await asyncio.sleep(0)
        await sim.advance(1.65)
        assert all(s.output is None for s in sessions)  # output is due 1.7 s into the layer
        await sim.advance(0.1)
        assert [s.output.proposals for s in sessions] == [PROPOSALS] * 4
        await sim.advance(5.0)
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    assert [r.proposals for r in results] == [PROPOSALS] * 4
    start = clock.layer_start(LAYER)
    for t, abs_round in seen:  # every message left at its round's start
        assert t == pytest.approx(start + 1.0 + max(0, abs_round - 1) * 0.1)
    assert runners[0].next_deadline() is None


def test_tick_runs_all_rounds_that_are_due():
    sessions = make_sessions(4)
    runner = HareRunner(sessions[0], HareSchedule(0.0, 1.0, 0.1))
    assert runner.tick(0.5) == []
    assert [m.body.round for m in runner.tick(1.0)] == [Round.PREROUND]
    assert sessions[0].next_round == 2
    runner.tick(1.45)  # softlock 1.1, propose 1.2, wait1 1.3, wait2 1.4
    assert sessions[0].next_round == 6
    assert runner.next_deadline() == pytest.approx(1.5)


# --- commit rules, one scripted session (spec §5.3 commit, softlock, hardlock) -----------------
# The session under test belongs to the lightest identity, which is no leader in the scripted
# propose rounds; the other identities' messages are made by hand and fed with chosen timing.

ORACLE5 = make_oracle(5)
ME, OTHERS = IDENTITIES[0], IDENTITIES[1:5]
PHANTOM = hash20(b"phantom")


@functools.lru_cache(maxsize=None)
def craft(identity: Identity, abs_round: int, value: tuple) -> Message | None:
    """`identity`'s message for a round, if its VRF makes it eligible there."""
    iteration, rnd = split_round(abs_round)
    proof = ecvrf.prove(identity.secret_key, hare_vrf_message(BEACON, abs_round, LAYER))
    seats = eligibility_count(proof, ORACLE5.weight(identity.node_id), ORACLE5.total_weight(), CONFIG.committee_for(rnd))
    return sign_body(identity, GENESIS, Body(LAYER, iteration, rnd, Value(*value), Eligibility(proof, seats))) if seats else None


def leaders(abs_round: int) -> list[Identity]:
    """The identities eligible to propose in a round, lowest VRF (highest priority) first."""
    eligible = [(m.body.eligibility.proof, i) for i in OTHERS if (m := craft(i, abs_round, ((), None)))]
    return [i for _, i in sorted(eligible)]


@pytest.fixture(scope="module")
def lead3() -> list[Identity]:
    assert craft(ME, 3, ((), None)) is None and craft(ME, 10, ((), None)) is None
    found = leaders(3)
    assert len(found) >= 2
    return found


def play_iteration_zero(session, proposes, preround_grade=None) -> list[Message]:
    """Preround with everybody's PROPOSALS, then `proposes` = [(leader, set, rounds late)];
    returns what the session sends in round 6 (its commit, if any)."""
    session.on_round(0)
    for ident in OTHERS:
        session.on_message(craft(ident, 0, (PROPOSALS, None)), grade=preround_grade)
    for rnd in (2, 3, 4, 5):
        session.on_round(rnd)
        for leader, proposals, late in proposes:
            if 3 + late == rnd:
                session.on_message(craft(leader, 3, (proposals, None)))
    return session.on_round(6)


def my_session() -> HareSession:
    return HareSession(LAYER, beacon=BEACON, genesis_id=GENESIS, oracle=ORACLE5, config=CONFIG, identity=ME, initial=PROPOSALS)


def committed(sent: list[Message]) -> bytes | None:
    assert len(sent) <= 1
    return sent[0].body.value.reference if sent else None


SUBSET = PROPOSALS[:3]
WITH_PHANTOM = tuple(sorted(PROPOSALS + (PHANTOM,)))


@pytest.mark.parametrize(
    "script, expected",
    [
        ([(0, PROPOSALS, 0)], PROPOSALS),  # the lowest leader's valid, complete set
        ([(0, SUBSET, 0)], None),  # misses proposals of T_5
        ([(0, PROPOSALS, 1)], None),  # heard a round late: gradecast grade 1
        ([(0, WITH_PHANTOM, 0), (1, PROPOSALS, 0)], PROPOSALS),  # invalid (not within T_2): next leader
        ([(0, SUBSET, 0), (1, PROPOSALS, 0)], None),  # the lowest *valid* leader decides, even if it fails
        ([(0, SUBSET, 2), (1, PROPOSALS, 0)], PROPOSALS),  # two rounds late: not a candidate at all
        ([(1, PROPOSALS, 0), (0, SUBSET, 1)], None),  # late (grade 1) but still the lowest candidate
    ],
)
def test_commit_follows_the_lowest_valid_leader(lead3, script, expected):
    proposes = [(lead3[rank], proposals, late) for rank, proposals, late in script]
    sent = play_iteration_zero(my_session(), proposes)
    assert committed(sent) == (None if expected is None else proposals_hash(expected))


def test_commit_needs_the_set_within_t3():
    """Most preround messages heard at grade 2: PROPOSALS is valid (within T_2) but not in T_3."""
    assert committed(play_iteration_zero(my_session(), [(leaders(3)[0], PROPOSALS, 0)], preround_grade=2)) is None
    # the empty set is within every T_g and contains T_5 = {} - it is committed
    assert committed(play_iteration_zero(my_session(), [(leaders(3)[0], (), 0)], preround_grade=2)) == proposals_hash(())


def _locked_session(lead3, commit_grade: int) -> HareSession:
    """Iteration 0 commits to PROPOSALS[:2] reach the threshold only at `commit_grade`; no output.

    Preround messages graded 4 keep T_5 empty, so both PROPOSALS[:2] and PROPOSALS are
    acceptable leader sets and only the lock tells them apart.
    """
    session = my_session()
    sent = play_iteration_zero(session, [(lead3[0], PROPOSALS[:2], 0)], preround_grade=4)
    assert committed(sent) == proposals_hash(PROPOSALS[:2])
    for ident in OTHERS:
        session.on_message(craft(ident, 6, ((), proposals_hash(PROPOSALS[:2]))), grade=commit_grade)
    assert session.on_round(7) == []  # commits below grade 5: no notify
    for rnd in (8, 9, 10):
        session.on_round(rnd)
    assert session.output is None
    return session


@pytest.mark.parametrize("leader_set, expected", [(PROPOSALS, None), (PROPOSALS[:2], PROPOSALS[:2])])
def test_soft_lock_rejects_other_sets(lead3, leader_set, expected):
    session = _locked_session(lead3, commit_grade=3)
    session.on_message(craft(leaders(10)[0], 10, (leader_set, None)))
    for rnd in (11, 12):
        session.on_round(rnd)
    assert committed(session.on_round(13)) == (None if expected is None else proposals_hash(expected))


def test_hard_lock_recommits_without_any_leader(lead3):
    session = _locked_session(lead3, commit_grade=4)
    for rnd in (11, 12):
        session.on_round(rnd)
    assert committed(session.on_round(13)) == proposals_hash(PROPOSALS[:2])


# --- validation -------------------------------------------------------------------------------


def _resign(msg: Message, identity: Identity, **body_changes) -> Message:
    return sign_body(identity, GENESIS, dataclasses.replace(msg.body, **body_changes))


@pytest.fixture(scope="module")
def preround_message() -> Message:
    sender = make_sessions(5)[3]
    (msg,) = sender.on_round(0)
    return msg


def test_valid_message_is_accepted_once(preround_message):
    receiver = make_sessions(5)[0]
    assert receiver.on_message(preround_message) == Verdict.ACCEPTED
    assert receiver.on_message(preround_message) == Verdict.DUPLICATE


def _forgeries(msg: Message) -> dict[str, Message]:
    sender = IDENTITIES[3]
    body = msg.body
    other_round_proof = ecvrf.prove(sender.secret_key, hare_vrf_message(BEACON, 6, LAYER))
    sig = bytearray(msg.signature)
    sig[5] ^= 1
    return {
        "bad signature": dataclasses.replace(msg, signature=bytes(sig)),
        "bad signature ": dataclasses.replace(msg, body=dataclasses.replace(body, value=Value(PROPOSALS[:1], None))),
        "eligibility proof does not verify": _resign(
            msg, sender, eligibility=Eligibility(other_round_proof, body.eligibility.count)
        ),
        "claims": _resign(msg, sender, eligibility=Eligibility(body.eligibility.proof, body.eligibility.count + 1)),
        "layer": _resign(msg, sender, layer=LAYER + 1),
        "sorted": _resign(msg, sender, value=Value(PROPOSALS[::-1], None)),
        "carry a proposal set": _resign(msg, sender, value=Value(PROPOSALS, b"\x00" * 32)),
        "only iteration 0": _resign(msg, sender, iter=1),
        "carries no messages": _resign(msg, sender, round=Round.WAIT1),
        "beyond the limit": _resign(msg, sender, iter=CONFIG.iteration_limit, round=Round.COMMIT, value=Value((), bytes(32))),
        "only a reference": _resign(msg, sender, round=Round.NOTIFY, value=Value(PROPOSALS, bytes(32))),
        "no weight": _resign(msg, IDENTITIES[7]),
    }


FORGERY_REASONS = [
    "bad signature",
    "bad signature ",  # a body changed under the original signature
    "eligibility proof does not verify",
    "claims",
    "layer",
    "sorted",
    "carry a proposal set",
    "only iteration 0",
    "carries no messages",
    "beyond the limit",
    "only a reference",
    "no weight",
]


# failures an honest sender with another beacon or active set could cause: the node ignores them
# instead of penalising the peer (core/node/agreement.py); the rest no honest node sends
VIEW_DEPENDENT = {"eligibility proof does not verify", "claims", "no weight"}


@pytest.mark.parametrize("reason", FORGERY_REASONS)
def test_invalid_messages_are_rejected_without_side_effects(preround_message, reason):
    receiver = make_sessions(5)[0]
    forged = _forgeries(preround_message)[reason]
    with pytest.raises(InvalidHareMessage, match=reason.strip()) as info:
        receiver.on_message(forged)
    assert isinstance(info.value, IneligibleHere) == (reason in VIEW_DEPENDENT)
    # the forgery was not recorded: the genuine message is neither a duplicate nor an equivocation
    assert receiver.on_message(preround_message) == Verdict.ACCEPTED
    assert receiver.equivocations == {}


def test_message_for_another_layers_session_is_rejected():
    (other_layer_msg,) = make_sessions(5, layer=LAYER + 1)[1].on_round(0)
    with pytest.raises(InvalidHareMessage, match="layer 43, not 42"):
        make_sessions(5)[0].on_message(other_layer_msg)


def test_a_message_made_under_another_beacon_is_ineligible_here_only(preround_message):
    """A sender that decided another beacon is honest in its own view: its messages fail our VRF
    check as ineligible (ignored), not as forgeries (penalised)."""
    receiver = make_sessions(5)[0]
    (theirs,) = make_sessions(5, beacon=bytes(a ^ 0xFF for a in BEACON))[3].on_round(0)
    with pytest.raises(IneligibleHere, match="eligibility proof does not verify"):
        receiver.on_message(theirs)
    assert receiver.on_message(preround_message) == Verdict.ACCEPTED


def test_known_malicious_sender_is_rejected_and_does_not_send(preround_message):
    oracle = make_oracle(5, malicious=frozenset({IDENTITIES[3].node_id}))
    receiver = make_sessions(5, oracle=oracle)[0]
    with pytest.raises(IneligibleHere, match="malicious"):  # the relaying peer may not know yet
        receiver.on_message(preround_message)
    assert make_sessions(5, oracle=oracle)[3].on_round(0) == []


def test_session_api_misuse():
    session = make_sessions(4)[0]
    with pytest.raises(ValueError, match="expected round 0"):
        session.on_round(2)
    session.on_round(0)
    with pytest.raises(ValueError):
        session.set_initial(PROPOSALS[:1])
    with pytest.raises(ValueError):
        HareSession(LAYER, beacon=b"\x00", genesis_id=GENESIS, oracle=make_oracle(4), config=CONFIG)


# --- certificates (spec §5.4) -------------------------------------------------------------------


def test_certificate_assembles_at_threshold_and_validates():
    oracle = make_oracle(6)
    block, other_block = hash20(b"block"), hash20(b"other block")
    params = dict(layer=LAYER, beacon=BEACON, genesis_id=GENESIS, oracle=oracle, committee=200)
    votes = [make_certify_message(ident, block_id=block, **params) for ident in IDENTITIES[:6]]
    assert all(v is not None for v in votes)
    for v in votes:
        alpha = hare_vrf_message(BEACON, CERTIFY_ROUND, LAYER)
        assert ecvrf.is_valid(v.smesher_id, v.content.proof, alpha)
    collector = CertificateCollector(LAYER, BEACON, GENESIS, oracle, 200)
    results = []
    seats = 0
    for v in sorted(votes, key=lambda v: v.content.eligibility_count):
        seats += v.content.eligibility_count
        results.append((seats >= 101, collector.add(v) is not None))
    assert all(expected == got for expected, got in results)
    cert = collector.certificate
    assert cert is not None and cert.block_id == block
    validate_certificate(cert, **params)

    conflicting = make_certify_message(IDENTITIES[0], block_id=other_block, **params)
    collector.add(conflicting)
    assert collector.conflicts == [(votes[0], conflicting)]

    with pytest.raises(InvalidCertificate, match="needs 101"):
        validate_certificate(dataclasses.replace(cert, signatures=cert.signatures[:1]), **params)
    with pytest.raises(InvalidCertificate, match="twice"):
        validate_certificate(dataclasses.replace(cert, signatures=cert.signatures + cert.signatures[:1]), **params)
    with pytest.raises(InvalidCertificate, match="another block"):
        validate_certificate(dataclasses.replace(cert, signatures=cert.signatures + (conflicting,)), **params)
    forged = dataclasses.replace(cert.signatures[0], content=dataclasses.replace(cert.signatures[0].content, layer=LAYER))
    forged = dataclasses.replace(forged, signature=bytes(64))
    with pytest.raises(InvalidCertificate, match="signature"):
        validate_certificate(dataclasses.replace(cert, signatures=(forged,) + cert.signatures[1:]), **params)


def test_certify_message_under_another_beacon_is_ineligible_here_a_forged_one_invalid():
    oracle = make_oracle(6)
    params = dict(layer=LAYER, genesis_id=GENESIS, oracle=oracle, committee=200)
    theirs = make_certify_message(IDENTITIES[0], block_id=hash20(b"block"), beacon=bytes(4), **params)
    collector = CertificateCollector(LAYER, BEACON, GENESIS, oracle, 200)
    with pytest.raises(CertifierIneligibleHere, match="does not verify"):
        collector.add(theirs)
    forged = dataclasses.replace(theirs, signature=bytes(64))
    with pytest.raises(InvalidCertificate, match="signature") as info:
        collector.add(forged)
    assert not isinstance(info.value, CertifierIneligibleHere)
