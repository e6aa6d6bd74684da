"""The ATX builder: schedule rules, simulated-time cycles with restarts and failures, and one run
against a real PoET server on the wall clock.

Simulated-time tests use a stand-in PoET that keeps registrations like the real service (one
challenge per node id per round) and answers with real proofs from the real PoSW prover; PoST data,
PoST proofs and every ATX check are real.  Simulated time only moves while the builder sleeps on
it, so its schedule is exact however long the PoST threads take.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from pathlib import Path

import pytest

from core.activation.atxstore import AtxStore
from core.activation.builder import (
    ActivationBuilder,
    BuilderConfig,
    Phase,
    PoetSchedule,
    PostService,
    choose_positioning,
)
from core.activation.handler import AtxHandler, atx_rules
from core.activation.proofs import AtxProofChecker, PoetProofStore
from core.activation.validation import AtxInfo, validate_atx
from core.config.node import STANDALONE
from core.crypto.signing import public_key_of
from core.mesh.store import LocalStore, MeshStore
from core.node.clock import LayerClock, SimulatedTime, sleep_until_wall
from core.poet.client import PoetClient, PoetClientError, Registration, verify_proof
from core.poet.rounds import RoundSchedule
from core.poet.service import ServiceConfig
from core.types.atx import EMPTY_ID, ATXV1
from tests.core.activation.test_proofs import CONFIG, GOLDEN, poet_round
from tests.core.poet.test_service import ServerThread

COINBASE = bytes(4) + b"\xc0" * 20
SEED = b"\x51" * 32
NODE_ID = public_key_of(SEED)
GENESIS = CONFIG.genesis_time


# ------------------------------------------------------------------------------------------------
# pure rules


def _clock() -> LayerClock:
    return LayerClock(GENESIS, 6.0, 10)  # standalone: 60 s epochs


def test_schedule_times_follow_the_spec():
    s = PoetSchedule(_clock(), phase_shift=30.0, cycle_gap=20.0, grace_period=12.0)
    assert s.round_start(2) == GENESIS + 150
    assert s.round_end(2) == GENESIS + 180 + 30 - 20  # inside publish epoch 3
    assert s.challenge_time(2) == GENESIS + 138
    assert s.proof_deadline(3) == GENESIS + 240 - 20
    assert s.publish_deadline(3) == GENESIS + 240


@pytest.mark.parametrize(
    ("offset", "last_publish", "expected"),
    [
        (-100.0, None, 0),  # before genesis: round 0
        (10.0, None, 0),  # epoch 0, before its round starts
        (30.0, None, 1),  # epoch 0's round has started: the next one
        (95.0, None, 2),
        (10.0, 3, 3),  # never before the previous ATX's publish epoch
    ],
)
def test_registration_epoch(offset, last_publish, expected):
    s = PoetSchedule(_clock(), phase_shift=30.0, cycle_gap=30.0, grace_period=12.0)
    assert s.registration_epoch(GENESIS + offset, last_publish) == expected


def _info(n: int, height: int) -> AtxInfo:
    return AtxInfo(bytes([n]) * 32, NODE_ID, 1, 0, COINBASE, 1, 0, height, 0, GOLDEN)


def test_positioning_choice():
    assert choose_positioning(None, None, GOLDEN) == GOLDEN
    assert choose_positioning(_info(1, 10), None, GOLDEN) == bytes([1]) * 32
    assert choose_positioning(_info(1, 10), _info(2, 10), GOLDEN) == bytes([2]) * 32  # ours, as high
    assert choose_positioning(_info(1, 11), _info(2, 10), GOLDEN) == bytes([1]) * 32
    assert choose_positioning(None, _info(2, 0), GOLDEN) == bytes([2]) * 32


# ------------------------------------------------------------------------------------------------
# simulated time


class Driver:
    """Moves simulated time to the builder's next wake-up whenever it sleeps, and only then."""

    def __init__(self, start: float) -> None:
        self.sim = SimulatedTime(start)
        self.sleeping_until: float | None = None

    async def sleep_until(self, t: float) -> None:
        self.sleeping_until = t
        try:
            await self.sim.sleep_until(t)
        finally:
            self.sleeping_until = None

    async def run_until(self, condition, max_steps: int = 20000) -> None:
        for _ in range(max_steps):
            if condition():
                return
            target = self.sleeping_until
            if target is not None and target > self.sim.now():
                await self.sim.advance(target - self.sim.now())
            else:  # a PoST thread or a PoET call is running, or the builder is about to wake
                await asyncio.sleep(0.002)
        raise AssertionError("the builder never reached the expected state")


class StandInPoet:
    """The PoET registration rules (one challenge per node id per round), real PoSW proofs."""

    def __init__(self, schedule: RoundSchedule, now, workdir: Path, leaves: int = 300) -> None:
        self.base_url = "http://poet.test"
        self.address = "poet.test"
        self.schedule, self.now, self.workdir, self.leaves = schedule, now, workdir, leaves
        self.rounds: dict[int, dict[bytes, bytes]] = {}
        self.submissions: list[tuple[int, bytes, float]] = []  # (round, challenge, time)
        self.refused = 0
        self.refuse = False
        self.gate: asyncio.Event | None = None
        self.lost: set[int] = set()  # rounds whose proof never comes (the PoET was down over their end)

    async def submit(self, challenge, secret_key, genesis_id, *, deadline=None, retry_until=None) -> Registration:
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse:
            self.refused += 1
            raise PoetClientError("PoET refused: HTTP 503", status=503)
        node = public_key_of(secret_key)
        round_id = self.schedule.open_round_id(self.now())
        members = self.rounds.setdefault(round_id, {})
        if members.get(node, challenge) != challenge:
            raise PoetClientError("conflicting registration", status=409)
        members[node] = challenge
        self.submissions.append((round_id, challenge, self.now()))
        return Registration(str(round_id), self.schedule.round_end(round_id))

    async def verified_proof(self, round_id, challenge, *, depth, retry_until=None):
        r = int(round_id)
        if self.now() < self.schedule.round_end(r) or r in self.lost:
            raise PoetClientError("proof not found (HTTP 404)", status=404)
        members = [c for _, c in sorted(self.rounds[r].items())]
        resp = poet_round(members, self.workdir / round_id, self.leaves, round_id)
        return verify_proof(resp, challenge, depth=depth)


class CountingPost(PostService):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.challenges: list[bytes] = []

    async def prove(self, challenge: bytes):
        self.challenges.append(challenge)
        return await super().prove(challenge)


@dataclasses.dataclass
class SimNode:
    driver: Driver
    config: BuilderConfig
    mesh: MeshStore
    local: LocalStore
    atxs: AtxStore
    poets: PoetProofStore
    handler: AtxHandler
    poet: StandInPoet
    published: list
    post: CountingPost | None = None

    def builder(self) -> ActivationBuilder:
        self.post = CountingPost(self.config, NODE_ID)
        clock = LayerClock(GENESIS, CONFIG.layer_duration, CONFIG.layers_per_epoch, now=self.driver.sim.now)
        return ActivationBuilder(
            self.config, secret_key=SEED, rules=atx_rules(CONFIG), clock=clock,
            sleep_until=self.driver.sleep_until, local=self.local, handler=self.handler, poet_proofs=self.poets,
            poets=[self.poet], publish=self._publish, post=self.post,
        )  # fmt: skip

    def _publish(self, atx: ATXV1) -> None:
        self.published.append((atx, self.driver.sim.now()))


@pytest.fixture
def node(tmp_path):
    driver = Driver(GENESIS - 1.0)
    clock = LayerClock(GENESIS, CONFIG.layer_duration, CONFIG.layers_per_epoch, now=driver.sim.now)
    mesh, local = MeshStore(tmp_path / "state.sql"), LocalStore(tmp_path / "local.sql")
    atxs, poets = AtxStore(mesh), PoetProofStore(mesh)
    handler = AtxHandler(
        atx_rules(CONFIG), clock.current_epoch, atxs, AtxProofChecker.from_config(CONFIG, poets), poets,
        now=driver.sim.now,
    )  # fmt: skip
    schedule = RoundSchedule(GENESIS, CONFIG.epoch_duration, CONFIG.phase_shift, CONFIG.cycle_gap)
    poet = StandInPoet(schedule, driver.sim.now, tmp_path / "poet")
    config = BuilderConfig.from_node_config(CONFIG, tmp_path / "post", COINBASE)
    yield SimNode(driver, config, mesh, local, atxs, poets, handler, poet, [])
    mesh.close()
    local.close()


def sim(coro):
    return asyncio.run(coro)


def test_two_atxs_on_simulated_time(node):
    schedule = PoetSchedule(_clock(), CONFIG.phase_shift, CONFIG.cycle_gap, CONFIG.poet_grace_period)

    async def scenario():
        builder = node.builder()
        builder.start()
        await node.driver.run_until(lambda: len(node.published) == 2)
        status = builder.status()
        await builder.stop()
        return status

    status = sim(scenario())
    (first, t1), (second, t2) = node.published
    c1, c2 = first.inner.challenge, second.inner.challenge
    # the first ATX: registered in round 0 before it started, published from the first layer of epoch 1
    assert [(r, c) for r, c, _ in node.poet.submissions] == [(0, c1.hash), (1, c2.hash)]
    reg1, reg2 = (t for _, _, t in node.poet.submissions)
    assert schedule.challenge_time(0) <= reg1 < schedule.round_start(0)
    assert schedule.challenge_time(1) <= reg2 < schedule.round_start(1)
    assert t1 >= GENESIS + 60 and t2 >= GENESIS + 120
    assert (c1.publish_epoch, c1.sequence, c1.prev_atx_id, c1.positioning_atx_id) == (1, 0, EMPTY_ID, GOLDEN)
    assert c1.commitment_atx_id == GOLDEN and c1.initial_post is not None
    assert first.inner.node_id == NODE_ID and first.inner.vrf_nonce is not None
    assert first.inner.coinbase == COINBASE and first.inner.num_units == 1
    # the second: chained to the first, positioned on it, without first-ATX fields
    assert (c2.publish_epoch, c2.sequence, c2.prev_atx_id, c2.positioning_atx_id) == (2, 1, first.id, first.id)
    assert c2.commitment_atx_id is None and c2.initial_post is None
    assert second.inner.node_id is None and second.inner.vrf_nonce is None
    # both were validated and stored: 300 leaves // tick size 10 = 30 ticks
    one, two = node.atxs.get(first.id), node.atxs.get(second.id)
    assert (one.weight, one.tick_height) == (30, 30)
    assert (two.weight, two.base_tick_height, two.tick_height) == (30, 30, 60)
    assert status.last_atx == two and status.last_error is None
    # PoST proofs: the initial one on the zero challenge, then one per PoET proof reference
    assert node.post.challenges == [bytes(32), first.inner.nipost.post_metadata.challenge,
                                    second.inner.nipost.post_metadata.challenge]  # fmt: skip
    assert node.local.conn.execute("SELECT COUNT(*) FROM challenge").fetchone() == (0,)


def test_restart_while_waiting_for_the_proof_keeps_the_registration(node):
    async def scenario():
        builder = node.builder()
        builder.start()
        await node.driver.run_until(lambda: builder.status().phase is Phase.WAITING_FOR_PROOF)
        assert builder.status().poet_round == "0" and builder.status().publish_epoch == 1
        await builder.stop()
        assert node.published == []
        restarted = node.builder()
        restarted.start()
        await node.driver.run_until(lambda: len(node.published) == 1)
        await restarted.stop()

    sim(scenario())
    (atx, _), = node.published
    assert [(r, c) for r, c, _ in node.poet.submissions] == [(0, atx.inner.challenge.hash)]  # registered once
    assert node.post.challenges == [atx.inner.nipost.post_metadata.challenge]  # no second initial PoST
    assert node.atxs.get(atx.id).weight == 30


def test_a_poet_on_another_port_after_a_restart_still_holds_the_registration(node):
    """A node's embedded PoET on port 0 gets a new URL at every start; registrations name it by address."""

    async def scenario():
        builder = node.builder()
        builder.start()
        await node.driver.run_until(lambda: builder.status().phase is Phase.WAITING_FOR_PROOF)
        await builder.stop()
        node.poet.base_url = "http://127.0.0.1:40123"  # the same PoET, listening elsewhere now
        restarted = node.builder()
        restarted.start()
        await node.driver.run_until(lambda: len(node.published) == 1)
        await restarted.stop()

    sim(scenario())
    (atx, _), = node.published
    assert atx.publish_epoch == 1  # the registered round's proof was fetched: nothing lost
    assert [r for r, _, _ in node.poet.submissions] == [0]


def test_restart_before_registering_registers_the_persisted_challenge(node):
    node.poet.gate = asyncio.Event()

    async def scenario():
        builder = node.builder()
        builder.start()
        await node.driver.run_until(lambda: builder.status().phase is Phase.REGISTERING)
        await builder.stop()  # the submit never got through
        row = node.local.conn.execute("SELECT epoch, sequence, pos_atx FROM challenge").fetchone()
        assert row == (1, 0, GOLDEN) and node.poet.submissions == []
        # a higher ATX arrives meanwhile: a challenge built afresh would be positioned on it
        node.atxs.add(AtxInfo(b"\x0a" * 32, b"\x0b" * 32, 0, 0, COINBASE, 1, 0, 5, 0, GOLDEN), b"blob")
        node.poet.gate.set()
        restarted = node.builder()
        restarted.start()
        await node.driver.run_until(lambda: len(node.published) == 1)
        await restarted.stop()

    sim(scenario())
    (atx, _), = node.published
    assert atx.inner.challenge.positioning_atx_id == GOLDEN  # the persisted challenge, not a new one
    assert [(r, c) for r, c, _ in node.poet.submissions] == [(0, atx.inner.challenge.hash)]


def test_poet_failures_are_retried_then_the_next_epoch_is_used(node, caplog):
    node.poet.refuse = True
    round0_start = GENESIS + CONFIG.phase_shift

    async def scenario():
        builder = node.builder()
        builder.start()
        await node.driver.run_until(lambda: node.driver.sim.now() > round0_start)
        assert builder.status().last_error is not None
        node.poet.refuse = False
        await node.driver.run_until(lambda: len(node.published) == 1)
        await builder.stop()

    with caplog.at_level(logging.INFO, logger="smesh.activation"):
        sim(scenario())
    (atx, t), = node.published
    assert node.poet.refused >= 2  # retried at the next layer while round 0 was still open
    assert atx.publish_epoch == 2 and atx.inner.challenge.sequence == 0  # still our first ATX
    assert [r for r, _, _ in node.poet.submissions] == [1]
    assert "no PoET accepted the challenge for epoch 1" in caplog.text
    assert "discarding the NIPoST challenge for epoch 1" in caplog.text


def test_a_proof_that_never_comes_costs_one_atx_not_two(node, caplog):
    """Round 0's proof is lost: waiting for it until its deadline (round 1's start with PhaseShift =
    CycleGap) would miss round 1's registration too.  The builder gives up at round 1's challenge time."""
    node.poet.lost = {0}
    schedule = PoetSchedule(_clock(), CONFIG.phase_shift, CONFIG.cycle_gap, CONFIG.poet_grace_period)

    async def scenario():
        builder = node.builder()
        builder.start()
        await node.driver.run_until(lambda: len(node.published) == 1)
        await builder.stop()

    with caplog.at_level(logging.INFO, logger="smesh.activation"):
        sim(scenario())
    (atx, _), = node.published
    assert [r for r, _, _ in node.poet.submissions] == [0, 1]
    _, _, registered = node.poet.submissions[1]
    assert schedule.challenge_time(1) <= registered < schedule.round_start(1)
    assert atx.publish_epoch == 2 and atx.inner.challenge.sequence == 0  # epoch 1 lost, epoch 2 kept
    assert "discarding the NIPoST challenge for epoch 1" in caplog.text


def test_the_proof_wait_ends_at_the_next_challenge_time():
    s = PoetSchedule(_clock(), phase_shift=30.0, cycle_gap=30.0, grace_period=12.0)
    assert s.proof_wait_until(1) == s.challenge_time(1) == GENESIS + 78 < s.proof_deadline(1)
    late = PoetSchedule(_clock(), phase_shift=30.0, cycle_gap=20.0, grace_period=12.0)
    assert late.proof_wait_until(3) == late.challenge_time(3)  # round 2 ends at +190, round 3's challenge +198
    # a grace period longer than the gap between a round's end and the next challenge: the deadline rules
    odd = PoetSchedule(_clock(), phase_shift=30.0, cycle_gap=30.0, grace_period=40.0)
    assert odd.proof_wait_until(1) == odd.proof_deadline(1)


# ------------------------------------------------------------------------------------------------
# the real thing: a PoET server on loopback, the wall clock, PoSW at depth 400


async def _until(condition, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the builder did not get there in time")
        await asyncio.sleep(0.05)


def test_builder_against_a_real_poet_server(tmp_path):
    genesis = int(time.time()) + 2
    config = dataclasses.replace(
        STANDALONE, genesis_time=genesis, layer_duration=1.0, layers_per_epoch=6, scrypt_n=16, tick_size=10,
        poet_phase_shift=3.0, poet_cycle_gap=2.5, poet_grace_period=1.0,
    ).validate()  # fmt: skip
    poet_config = ServiceConfig(
        datadir=tmp_path / "poet", schedule=RoundSchedule(genesis, config.epoch_duration, 3.0, 2.5),
        checkpoint_seconds=0.5,
    )  # fmt: skip
    rules = atx_rules(config)
    clock = LayerClock(genesis, config.layer_duration, config.layers_per_epoch)
    secret = os.urandom(32)
    published: list[ATXV1] = []

    async def scenario(url: str):
        mesh, local = MeshStore(tmp_path / "state.sql"), LocalStore(tmp_path / "local.sql")
        atxs, poets = AtxStore(mesh), PoetProofStore(mesh)
        handler = AtxHandler(rules, clock.current_epoch, atxs, AtxProofChecker.from_config(config, poets), poets)
        async with PoetClient(url, retry_delay=0.2) as poet:

            def builder() -> ActivationBuilder:
                return ActivationBuilder(
                    BuilderConfig.from_node_config(config, tmp_path / "post", COINBASE), secret_key=secret,
                    rules=rules, clock=clock, sleep_until=sleep_until_wall, local=local, handler=handler,
                    poet_proofs=poets, poets=[poet], publish=published.append,
                )  # fmt: skip

            first = builder()
            first.start()
            # restart once registered for the round after the first ATX's (whichever epoch a slow machine makes it)
            await _until(lambda: len(published) == 1 and first.status().phase is Phase.WAITING_FOR_PROOF)
            await first.stop()  # restart mid-cycle, registered for round 1
            registered = local.conn.execute("SELECT hash, round_id FROM poet_registration").fetchone()
            second = builder()
            second.start()
            await _until(lambda: len(published) == 2)
            await second.stop()
            rounds = [await poet.proof(str(a.publish_epoch - 1)) for a in published]
            poet_messages = [poets.message_bytes(a.inner.nipost.post_metadata.challenge) for a in published]
        mesh.close()
        local.close()
        return registered, rounds, poet_messages

    with ServerThread(poet_config, grpc=False) as srv:
        registered, rounds, poet_messages = asyncio.run(scenario(srv.url))

    atx1, atx2 = published
    c1, c2 = atx1.inner.challenge, atx2.inner.challenge
    # every PoET round held exactly our challenge; the restart did not register another one
    assert [r.members for r in rounds] == [(c1.hash,), (c2.hash,)]
    assert registered == (c2.hash, str(c2.publish_epoch - 1))
    assert c2.publish_epoch > c1.publish_epoch
    # the PoST of each ATX is over the reference of the PoET's own proof
    refs = [verify_proof(r, c.hash).ref for r, c in zip(rounds, (c1, c2), strict=True)]
    assert [a.inner.nipost.post_metadata.challenge for a in published] == refs

    # a fresh node validates both with the real checks: PoET proofs re-verified from their messages
    mesh = MeshStore(tmp_path / "fresh.sql")
    fresh_atxs, fresh_poets = AtxStore(mesh), PoetProofStore(mesh)
    for message, ref in zip(poet_messages, refs, strict=True):
        fresh_poets.add_message(message, expected_ref=ref)
    checker = AtxProofChecker.from_config(config, fresh_poets, seed=b"fresh")
    info1 = validate_atx(atx1, c1.publish_epoch, rules, fresh_atxs, checker)
    fresh_atxs.add(info1, atx1.encode())
    info2 = validate_atx(atx2, c2.publish_epoch, rules, fresh_atxs, checker)
    mesh.close()
    ticks1, ticks2 = rounds[0].leaves // 10, rounds[1].leaves // 10
    assert ticks1 > 0 and ticks2 > 0
    assert (info1.sequence, info1.num_units, info1.weight, info1.base_tick_height) == (0, 1, 1 * ticks1, 0)
    assert (c2.sequence, c2.prev_atx_id, c2.positioning_atx_id) == (1, atx1.id, atx1.id)
    assert (info2.sequence, info2.num_units, info2.weight, info2.base_tick_height) == (1, 1, 1 * ticks2, ticks1)
