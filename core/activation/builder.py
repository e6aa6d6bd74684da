"""The NIPoST / ATX builder of one identity (spec/node.md §2.3; spec/poet.md §4).

Once: initialise the PoST data (in a thread) bound to the node id and a commitment ATX, and prove
it on the zero challenge (the initial PoST, carried by the first ATX).  Then, for every epoch e:

1. at `RoundStart(e) − GracePeriod` build the NIPoST challenge for publish epoch e+1 (first ATX:
   sequence 0, commitment ATX, initial PoST; later: previous ATX + 1) with the positioning ATX,
   and persist it;
2. register its hash with every PoET before `RoundStart(e) = EpochStart(e) + PhaseShift`
   (signed in the POET domain) and persist the registrations;
3. after `RoundEnd(e) = EpochStart(e+1) + PhaseShift − CycleGap` fetch each PoET's proof, check
   it and our membership path, keep the one with the most leaves (in the `poets` table); a proof
   still missing at round e+1's challenge time is given up, so that a lost round costs one ATX,
   not also the next one (`PoetSchedule.proof_wait_until`);
4. prove PoST over the proof's reference (in a thread), persist the NIPoST;
5. assemble and sign the ATX, wait for the first layer of e+1, validate it through the same
   `AtxHandler` path as a peer's ATX (which stores it and tells subscribers), and hand it to
   `publish` (gossip).

Every step's result is persisted in `local.sql` (`post`, `challenge`, `poet_registration`,
`nipost`), so a restarted builder resumes where it stopped and never registers a second
challenge for a round.  A step that fails is logged and retried at the next layer; state whose
deadline has passed is discarded and the builder moves on to the next epoch.

Time comes from the injected `LayerClock` and `sleep_until`, so tests drive it on simulated time;
PoST work runs in worker threads (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from core.activation.atxstore import AtxStore
from core.activation.handler import AtxHandler
from core.activation.proofs import PoetProofStore
from core.activation.validation import AtxError, AtxInfo, AtxRules
from core.config.node import NodeConfig
from core.crypto.signing import public_key_of
from core.errors import SmeshError
from core.mesh.store import LocalStore
from core.node.clock import LayerClock
from core.poet.posw import LABEL_HASH_DEPTH
from core.post.params import DEFAULT_MAX_FILE_SIZE, EASY_POW_DIFFICULTY
from core.post.params import PRESETS as POST_PRESETS
from core.types.atx import (
    ATXV1,
    EMPTY_ID,
    InnerATXV1,
    MerkleProofV1,
    NIPostChallengeV1,
    NIPostV1,
    PostMetadataV1,
    PostV1,
)

log = logging.getLogger("smesh.activation")

ZERO_CHALLENGE = bytes(32)  # the initial PoST's challenge (spec/post.md §2.3)


class ActivationError(SmeshError):
    """A step of the ATX cycle that failed; the builder retries at the next opportunity."""


class Phase(enum.StrEnum):
    """What the builder is doing, for status displays."""

    IDLE = "idle"
    INITIALIZING = "initializing"
    WAITING_FOR_ROUND = "waiting-for-round"
    REGISTERING = "registering"
    WAITING_FOR_PROOF = "waiting-for-proof"
    PROVING = "proving"
    WAITING_TO_PUBLISH = "waiting-to-publish"
    RETRYING = "retrying"
    STOPPED = "stopped"


@dataclasses.dataclass(frozen=True)
class BuilderStatus:
    phase: Phase
    publish_epoch: int | None  # of the ATX in the making
    poet_round: str | None  # the PoET round it is registered in
    last_atx: AtxInfo | None  # the last ATX this builder published
    last_error: str | None


@dataclasses.dataclass(frozen=True)
class BuilderConfig:
    """What the builder needs besides the network rules: the identity's PoST setup and the PoET schedule."""

    post_dir: Path
    coinbase: bytes
    num_units: int
    labels_per_unit: int
    scrypt_n: int
    k1: int
    k2: int
    phase_shift: float
    cycle_gap: float
    grace_period: float
    pow_difficulty: bytes = EASY_POW_DIFFICULTY
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    nonces: int = 16
    randomx_mode: str = "light"
    provider: str | int = "cpu"
    poet_label_depth: int = LABEL_HASH_DEPTH  # the PoSW depth PoET proofs are checked with

    @classmethod
    def from_node_config(
        cls, config: NodeConfig, post_dir: Path, coinbase: bytes, num_units: int | None = None, **overrides: Any
    ) -> BuilderConfig:
        post_preset = POST_PRESETS.get(config.preset)
        values: dict[str, Any] = dict(
            post_dir=Path(post_dir), coinbase=coinbase,
            num_units=config.min_num_units if num_units is None else num_units,
            labels_per_unit=config.labels_per_unit, scrypt_n=config.scrypt_n, k1=config.k1, k2=config.k2,
            phase_shift=config.phase_shift, cycle_gap=config.cycle_gap, grace_period=config.poet_grace_period,
            pow_difficulty=post_preset.pow_difficulty if post_preset else EASY_POW_DIFFICULTY,
        )  # fmt: skip
        values.update(overrides)
        return cls(**values)


# ------------------------------------------------------------------------------------------------
# The schedule (pure)


@dataclasses.dataclass(frozen=True)
class PoetSchedule:
    """Node-side PoET round times (spec/node.md §1.3, §2.3; spec/poet.md §2.2)."""

    clock: LayerClock
    phase_shift: float
    cycle_gap: float
    grace_period: float

    def round_start(self, epoch: int) -> float:
        """Registration for ATXs published in epoch+1 closes here."""
        return self.clock.epoch_start(epoch) + self.phase_shift

    def round_end(self, epoch: int) -> float:
        """The round's proof can be fetched from here (inside the publish epoch when PhaseShift ≥ CycleGap)."""
        return self.clock.epoch_start(epoch + 1) + self.phase_shift - self.cycle_gap

    def challenge_time(self, epoch: int) -> float:
        return self.round_start(epoch) - self.grace_period

    def proof_deadline(self, publish_epoch: int) -> float:
        """The PoET proof is needed by the end of the publish epoch minus the cycle gap."""
        return self.clock.epoch_start(publish_epoch + 1) - self.cycle_gap

    def proof_wait_until(self, publish_epoch: int) -> float:
        """How long a missing PoET proof for `publish_epoch` is waited for.

        Not until `proof_deadline`: the next ATX's challenge must be built at the next round's
        challenge time, and it needs this ATX as its previous one.  Waiting past that time for a
        proof that may never come (the PoET was down over the round's end) costs the next ATX as
        well; giving up then costs this one only.  (With a grace period reaching back before the
        round's end there is no such window and the deadline rules.)
        """
        next_challenge = self.challenge_time(publish_epoch)
        if next_challenge <= self.round_end(publish_epoch - 1):
            return self.proof_deadline(publish_epoch)
        return min(self.proof_deadline(publish_epoch), next_challenge)

    def publish_deadline(self, publish_epoch: int) -> float:
        return self.clock.epoch_start(publish_epoch + 1)

    def registration_epoch(self, now: float, last_publish_epoch: int | None) -> int:
        """The epoch whose round the next ATX registers in: not before the previous ATX's publish
        epoch, and the next one if this round has already started (spec §2.3 step 2)."""
        epoch = max(0, self.clock.epoch_of(self.clock.layer_at(now)))
        if last_publish_epoch is not None:
            epoch = max(epoch, last_publish_epoch)
        while now >= self.round_start(epoch):
            epoch += 1
        return epoch


def choose_positioning(candidate: AtxInfo | None, previous: AtxInfo | None, golden_atx: bytes) -> bytes:
    """Spec §2.3 step 3: the highest-tick ATX, the golden ATX if there is none, our previous ATX if
    it is at least as high."""
    if previous is not None and (candidate is None or previous.tick_height >= candidate.tick_height):
        return previous.id
    return golden_atx if candidate is None else candidate.id


def make_challenge(
    publish_epoch: int, previous: AtxInfo | None, positioning: bytes, commitment: bytes, initial_post: PostV1 | None
) -> NIPostChallengeV1:
    """The NIPoST challenge (spec §2.2): the first carries the commitment ATX and the initial PoST."""
    if previous is None:
        if initial_post is None:
            raise ActivationError("the first ATX needs the initial PoST")
        return NIPostChallengeV1(publish_epoch, 0, EMPTY_ID, positioning, commitment, initial_post)
    return NIPostChallengeV1(publish_epoch, previous.sequence + 1, previous.id, positioning, None, None)


# ------------------------------------------------------------------------------------------------
# Persistence (local.sql)


@dataclasses.dataclass(frozen=True)
class InitialPost:
    post: PostV1
    num_units: int
    commitment_atx: bytes
    vrf_nonce: int


@dataclasses.dataclass(frozen=True)
class PoetRegistration:
    address: str
    round_id: str
    round_end: float
    challenge_hash: bytes


@dataclasses.dataclass(frozen=True)
class BuiltNipost:
    nipost: NIPostV1
    num_units: int
    vrf_nonce: int


def _nanos(t: float) -> int:
    return int(round(t * 1e9))


class ActivationState:
    """The builder's progress in `local.sql`, keyed by node id."""

    COMMITMENT_KEY = "activation/commitment"

    def __init__(self, local: LocalStore, node_id: bytes) -> None:
        self.conn = local.conn
        self.local = local
        self.node_id = node_id

    def commitment(self) -> bytes | None:
        return self.local.get(self.COMMITMENT_KEY)

    def set_commitment(self, atx_id: bytes) -> None:
        self.local.put(self.COMMITMENT_KEY, atx_id)

    def initial_post(self) -> InitialPost | None:
        row = self.conn.execute(
            "SELECT post_nonce, post_indices, post_pow, num_units, commit_atx, vrf_nonce FROM post WHERE id = ?",
            (self.node_id,),
        ).fetchone()
        if row is None:
            return None
        nonce, indices, pow_, units, commitment, vrf = row
        return InitialPost(PostV1(nonce, bytes(indices), pow_), units, bytes(commitment), vrf)

    def save_initial_post(self, p: InitialPost) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO post (id, post_nonce, post_indices, post_pow, num_units, commit_atx, vrf_nonce, "
            "challenge) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.node_id, p.post.nonce, p.post.indices, p.post.pow, p.num_units, p.commitment_atx, p.vrf_nonce,
             ZERO_CHALLENGE),
        )  # fmt: skip

    def challenge(self) -> NIPostChallengeV1 | None:
        row = self.conn.execute(
            "SELECT epoch, sequence, prev_atx, pos_atx, commit_atx, post_nonce, post_indices, post_pow "
            "FROM challenge WHERE id = ?",
            (self.node_id,),
        ).fetchone()
        if row is None:
            return None
        epoch, seq, prev, pos, commitment, nonce, indices, pow_ = row
        initial = PostV1(nonce, bytes(indices), pow_) if indices is not None else None
        commitment = bytes(commitment) if commitment is not None else None
        return NIPostChallengeV1(epoch, seq, bytes(prev), bytes(pos), commitment, initial)

    def save_challenge(self, c: NIPostChallengeV1) -> None:
        p = c.initial_post
        with self.local.transaction() as tx:
            self._clear(tx)
            tx.execute(
                "INSERT INTO challenge (id, epoch, sequence, prev_atx, pos_atx, commit_atx, post_nonce, "
                "post_indices, post_pow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.node_id, c.publish_epoch, c.sequence, c.prev_atx_id, c.positioning_atx_id, c.commitment_atx_id,
                 p.nonce if p else None, p.indices if p else None, p.pow if p else None),
            )  # fmt: skip

    def registrations(self) -> list[PoetRegistration]:
        rows = self.conn.execute(
            "SELECT address, round_id, round_end, hash FROM poet_registration WHERE id = ? ORDER BY address",
            (self.node_id,),
        )
        return [PoetRegistration(a, r, end / 1e9, bytes(h)) for a, r, end, h in rows]

    def save_registration(self, r: PoetRegistration) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO poet_registration (id, hash, address, round_id, round_end) VALUES (?, ?, ?, ?, ?)",
            (self.node_id, r.challenge_hash, r.address, r.round_id, _nanos(r.round_end)),
        )

    def nipost(self) -> BuiltNipost | None:
        row = self.conn.execute(
            "SELECT post_nonce, post_indices, post_pow, num_units, vrf_nonce, poet_proof_membership, "
            "poet_proof_ref, labels_per_unit FROM nipost WHERE id = ?",
            (self.node_id,),
        ).fetchone()
        if row is None:
            return None
        nonce, indices, pow_, units, vrf, membership, ref, lpu = row
        nipost = NIPostV1(
            MerkleProofV1.decode(bytes(membership)), PostV1(nonce, bytes(indices), pow_),
            PostMetadataV1(bytes(ref), lpu),
        )  # fmt: skip
        return BuiltNipost(nipost, units, vrf)

    def save_nipost(self, b: BuiltNipost, publish_epoch: int) -> None:
        n = b.nipost
        self.conn.execute(
            "INSERT OR REPLACE INTO nipost (id, epoch, post_nonce, post_indices, post_pow, num_units, vrf_nonce, "
            "poet_proof_membership, poet_proof_ref, labels_per_unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.node_id, publish_epoch, n.post.nonce, n.post.indices, n.post.pow, b.num_units, b.vrf_nonce,
             n.membership.encode(), n.post_metadata.challenge, n.post_metadata.labels_per_unit),
        )  # fmt: skip

    def clear_cycle(self) -> None:
        """Forget the challenge, its registrations and NIPoST (published, or expired)."""
        with self.local.transaction() as tx:
            self._clear(tx)

    def _clear(self, tx: Any) -> None:
        for table in ("challenge", "poet_registration", "nipost"):
            tx.execute(f"DELETE FROM {table} WHERE id = ?", (self.node_id,))


# ------------------------------------------------------------------------------------------------
# PoST (the side effect: files and CPU, in worker threads)


class PostService:
    """The identity's PoST data: initialised once, proven per challenge, both off the event loop."""

    def __init__(self, config: BuilderConfig, node_id: bytes) -> None:
        self.config = config
        self.node_id = node_id
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask a running init or proof to stop (the data on disk stays resumable)."""
        self._stop.set()

    def resume(self) -> None:
        """Allow work again after `stop`."""
        self._stop.clear()

    async def initialize(self, commitment_atx: bytes) -> int:
        """Create or resume the data for (node id, commitment ATX); returns the VRF nonce."""
        return await asyncio.to_thread(self._initialize, commitment_atx)

    async def prove(self, challenge: bytes) -> PostV1:
        return await asyncio.to_thread(self._prove, challenge)

    def _initialize(self, commitment_atx: bytes) -> int:
        from core.post.init import Initializer, InitOptions
        from core.post.labels import get_backend

        c = self.config
        options = InitOptions(
            c.post_dir, self.node_id, commitment_atx, c.num_units, c.labels_per_unit, c.max_file_size, c.scrypt_n
        )
        result = Initializer(options, get_backend(c.provider), stop=self._stop.is_set).run()
        if result.metadata.nonce is None:
            raise ActivationError("PoST init ended without a VRF nonce")
        return result.metadata.nonce

    def _prove(self, challenge: bytes) -> PostV1:
        from core.post.prove import generate_proof

        c = self.config
        result = generate_proof(
            c.post_dir, challenge, k1=c.k1, k2=c.k2, pow_difficulty=c.pow_difficulty, nonces=c.nonces,
            randomx_mode=c.randomx_mode, stop=self._stop.is_set,
        )  # fmt: skip
        p = result.proof
        return PostV1(p.nonce, p.indices, p.pow)


class PoetApi(Protocol):
    """What the builder uses of `core.poet.client.PoetClient`.

    `deadline` and `retry_until` are times of the builder's clock: in a node that is the wall clock
    the client retries against.
    """

    base_url: str
    address: str  # names the PoET in persisted registrations: its URL, or a name that outlives a changing port

    async def submit(self, challenge: bytes, secret_key: bytes, genesis_id: bytes, **kw: Any) -> Any: ...

    async def verified_proof(self, round_id: str, challenge: bytes, **kw: Any) -> Any: ...


# ------------------------------------------------------------------------------------------------
# The builder


class ActivationBuilder:
    """Builds and publishes one ATX per epoch for one identity; `start()` runs it as a task."""

    def __init__(
        self,
        config: BuilderConfig,
        *,
        secret_key: bytes,
        rules: AtxRules,
        clock: LayerClock,
        sleep_until: Callable[[float], Awaitable[None]],
        local: LocalStore,
        handler: AtxHandler,
        poet_proofs: PoetProofStore,
        poets: Sequence[PoetApi],
        publish: Callable[[ATXV1], Any] | None = None,
        post: PostService | None = None,
    ) -> None:
        if not poets:
            raise ActivationError("the ATX builder needs at least one PoET")
        self.config = config
        self.secret_key = secret_key
        self.node_id = public_key_of(secret_key)
        self.rules = rules
        self.clock = clock
        self.sleep_until = sleep_until
        self.schedule = PoetSchedule(clock, config.phase_shift, config.cycle_gap, config.grace_period)
        self.state = ActivationState(local, self.node_id)
        self.handler = handler
        self.atxs: AtxStore = handler.atxs
        self.poet_proofs = poet_proofs
        self.poets = {p.address: p for p in poets}
        self.publish = publish
        self.post = post or PostService(config, self.node_id)
        self._vrf_nonce: int | None = None
        self._phase = Phase.IDLE
        self._publish_epoch: int | None = None
        self._poet_round: str | None = None
        self._last_atx: AtxInfo | None = None
        self._last_error: str | None = None
        self._task: asyncio.Task | None = None

    # -- control and status ------------------------------------------------------------------

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self.post.resume()
            self._task = asyncio.create_task(self.run(), name="atx-builder")
        return self._task

    async def stop(self) -> None:
        """Stop the task; everything done so far stays persisted for the next start."""
        self.post.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._phase = Phase.STOPPED

    def status(self) -> BuilderStatus:
        return BuilderStatus(self._phase, self._publish_epoch, self._poet_round, self._last_atx, self._last_error)

    async def run(self) -> None:
        """Set up PoST, then build ATXs until cancelled; failures are logged and retried."""
        self._last_atx = self.atxs.latest_by_identity(self.node_id)
        await self._retrying("PoST setup", self._ensure_post)
        while True:
            await self._retrying("ATX", self._cycle)

    async def _retrying(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` until it succeeds once, retrying at the next layer after a failure."""
        while True:
            try:
                await step()
                self._last_error = None
                return
            except Exception as e:  # noqa: BLE001 - a failed step must not end the builder
                self._last_error = f"{what}: {e}"
                step_name = what if self._publish_epoch is None else f"{what} for epoch {self._publish_epoch}"
                if isinstance(e, SmeshError):
                    log.warning("%s failed: %s; retrying at the next layer", step_name, e)
                else:
                    log.exception("%s failed unexpectedly; retrying at the next layer", step_name)
                await self._wait(Phase.RETRYING, self.clock.layer_start(self.clock.layer_at(self.clock.now()) + 1))

    async def _wait(self, phase: Phase, until: float) -> None:
        self._phase = phase
        await self.sleep_until(until)

    # -- PoST setup (once) -------------------------------------------------------------------

    async def _ensure_post(self) -> None:
        """Init (or resume) the PoST data and make the initial PoST if no ATX carries one yet (spec §2.3 step 1)."""
        self._phase = Phase.INITIALIZING
        commitment = self._commitment()
        self.state.set_commitment(commitment)
        self._vrf_nonce = await self.post.initialize(commitment)
        units, lpu = self.config.num_units, self.config.labels_per_unit
        log.info("PoST data ready: %d unit(s), commitment ATX %s, VRF nonce %d", units, commitment.hex()[:12],
                 self._vrf_nonce)  # fmt: skip
        if self.atxs.latest_by_identity(self.node_id) is not None or self.state.initial_post() is not None:
            return
        self._phase = Phase.PROVING
        post = await self.post.prove(ZERO_CHALLENGE)
        check = self.handler.proofs.check_post
        await asyncio.to_thread(check, self.node_id, commitment, post, ZERO_CHALLENGE, units, lpu)
        self.state.save_initial_post(InitialPost(post, units, commitment, self._vrf_nonce))
        log.info("initial PoST proven and checked")

    def _commitment(self) -> bytes:
        """The data's commitment ATX: as recorded, as our first ATX says, else the highest-tick ATX or golden."""
        recorded = self.state.commitment()
        if recorded is not None:
            return recorded
        ours = self.atxs.latest_by_identity(self.node_id)
        if ours is not None:
            return ours.commitment_atx
        best = self.atxs.highest_tick(max(0, self.clock.current_epoch()))
        return self.rules.golden_atx if best is None else best.id

    # -- one ATX -----------------------------------------------------------------------------

    async def _cycle(self) -> None:
        challenge = self._resume() or await self._new_challenge()
        self._publish_epoch = challenge.publish_epoch
        built = self.state.nipost()
        if built is None:
            built = await self._build_nipost(challenge)
        await self._publish_when_due(self._assemble(challenge, built))

    def _resume(self) -> NIPostChallengeV1 | None:
        """The persisted challenge if it can still make an ATX in time; else it is discarded."""
        challenge = self.state.challenge()
        if challenge is None:
            return None
        epoch = challenge.publish_epoch
        if self.state.nipost() is not None:
            deadline = self.schedule.publish_deadline(epoch)
        elif self.state.registrations():
            deadline = self.schedule.proof_wait_until(epoch)
        else:
            deadline = self.schedule.round_start(epoch - 1)
        if self.atxs.by_identity(self.node_id, epoch) is not None:
            log.info("the ATX for epoch %d is already stored; forgetting its challenge", epoch)
        elif self.clock.now() >= deadline:
            log.warning("discarding the NIPoST challenge for epoch %d: its deadline passed", epoch)
        else:
            regs = self.state.registrations()
            self._poet_round = regs[0].round_id if regs else None
            log.info("resuming the ATX for epoch %d (%s)", epoch, "registered" if regs else "not registered yet")
            return challenge
        self.state.clear_cycle()
        self._poet_round = None
        return None

    async def _new_challenge(self) -> NIPostChallengeV1:
        """Wait for `RoundStart − GracePeriod`, then build and persist the challenge (spec §2.3 steps 2–4)."""
        previous = self.atxs.latest_by_identity(self.node_id)
        epoch = self.schedule.registration_epoch(self.clock.now(), previous.publish_epoch if previous else None)
        self._publish_epoch, self._poet_round = epoch + 1, None
        await self._wait(Phase.WAITING_FOR_ROUND, self.schedule.challenge_time(epoch))
        previous = self.atxs.latest_by_identity(self.node_id)
        candidate = self.atxs.highest_tick(epoch)
        positioning = choose_positioning(candidate, previous, self.rules.golden_atx)
        initial = self.state.initial_post()
        commitment = self.state.commitment() or self.rules.golden_atx
        challenge = make_challenge(epoch + 1, previous, positioning, commitment, initial.post if initial else None)
        self.state.save_challenge(challenge)
        log.info("NIPoST challenge for epoch %d: sequence %d, positioning ATX %s", epoch + 1, challenge.sequence,
                 positioning.hex()[:12])  # fmt: skip
        return challenge

    async def _build_nipost(self, challenge: NIPostChallengeV1) -> BuiltNipost:
        registrations = self.state.registrations() or await self._register(challenge)
        best = await self._fetch_proof(challenge, registrations)
        self._phase = Phase.PROVING
        post = await self.post.prove(best.ref)
        membership = MerkleProofV1(tuple(best.membership_path), best.member_index)
        nipost = NIPostV1(membership, post, PostMetadataV1(best.ref, self.config.labels_per_unit))
        built = BuiltNipost(nipost, self.config.num_units, self._vrf_nonce)
        self.state.save_nipost(built, challenge.publish_epoch)
        return built

    async def _register(self, challenge: NIPostChallengeV1) -> list[PoetRegistration]:
        """Submit the challenge hash to every PoET before the round starts (spec §2.3 step 5)."""
        epoch = challenge.publish_epoch - 1
        round_start = self.schedule.round_start(epoch)
        if self.clock.now() >= round_start:
            raise ActivationError(f"too late to register for the PoET round of epoch {epoch}")
        self._phase = Phase.REGISTERING
        deadline = self.schedule.proof_deadline(challenge.publish_epoch)
        poets = list(self.poets.values())
        outcomes = await asyncio.gather(
            *(self._submit(p, challenge.hash, deadline, round_start) for p in poets), return_exceptions=True
        )
        registrations = []
        for poet, outcome in zip(poets, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning("PoET %s refused the registration for epoch %d: %s", poet.address, epoch + 1, outcome)
                continue
            reg = PoetRegistration(poet.address, str(outcome.round_id), self.schedule.round_end(epoch), challenge.hash)
            self.state.save_registration(reg)
            registrations.append(reg)
        if not registrations:
            raise ActivationError(f"no PoET accepted the challenge for epoch {epoch + 1}")
        self._poet_round = registrations[0].round_id
        log.info("registered with %d PoET(s) for round %s", len(registrations), self._poet_round)
        return registrations

    async def _submit(self, poet: PoetApi, challenge_hash: bytes, deadline: float, round_start: float) -> Any:
        return await poet.submit(
            challenge_hash, self.secret_key, self.rules.genesis_id, deadline=deadline, retry_until=round_start
        )

    async def _fetch_proof(self, challenge: NIPostChallengeV1, registrations: list[PoetRegistration]) -> Any:
        """After the round ends, fetch and check every proof; keep the one with most leaves (spec §2.3 step 6)."""
        await self._wait(Phase.WAITING_FOR_PROOF, max(r.round_end for r in registrations))
        deadline = self.schedule.proof_wait_until(challenge.publish_epoch)
        known = [r for r in registrations if r.address in self.poets]
        outcomes = await asyncio.gather(
            *(
                self.poets[r.address].verified_proof(
                    r.round_id, challenge.hash, depth=self.config.poet_label_depth, retry_until=deadline
                )
                for r in known
            ),
            return_exceptions=True,
        )
        proofs = []
        for reg, outcome in zip(known, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning("no usable proof from PoET %s for round %s: %s", reg.address, reg.round_id, outcome)
            else:
                proofs.append(outcome)
        if not proofs:
            raise ActivationError(f"no PoET proof for the ATX of epoch {challenge.publish_epoch}")
        best = max(proofs, key=lambda p: p.leaves)
        self.poet_proofs.add_verified(best)
        log.info("PoET proof for round %s: %d leaves", best.round_id, best.leaves)
        return best

    def _assemble(self, challenge: NIPostChallengeV1, built: BuiltNipost) -> ATXV1:
        """Sign the ATX (spec §2.2): a first ATX carries the node id and the VRF nonce."""
        first = challenge.prev_atx_id == EMPTY_ID
        inner = InnerATXV1(
            challenge, self.config.coinbase, built.num_units, built.nipost,
            self.node_id if first else None, built.vrf_nonce if first else None,
        )  # fmt: skip
        return ATXV1.sign(inner, self.secret_key, self.node_id, self.rules.genesis_id)

    async def _publish_when_due(self, atx: ATXV1) -> None:
        """From the publish epoch's first layer: validate and store through the handler, then gossip."""
        epoch = atx.publish_epoch
        await self._wait(Phase.WAITING_TO_PUBLISH, self.clock.epoch_start(epoch))
        existing = self.atxs.by_identity(self.node_id, epoch)
        if existing is not None and existing.id != atx.id:
            self.state.clear_cycle()  # publishing a second one would make us malicious
            raise ActivationError(f"an ATX for epoch {epoch} already exists ({existing.id.hex()[:12]})")
        try:
            info = await self.handler.handle_own(atx)
        except AtxError:
            self.state.clear_cycle()  # our own checks reject it: retrying the same NIPoST cannot help
            raise
        await self._announce(atx)
        self.state.clear_cycle()
        self._last_atx, self._poet_round = info, None
        log.info("published ATX %s for epoch %d: sequence %d, weight %d (%d unit(s) × %d ticks)", atx.id.hex()[:12],
                 epoch, info.sequence, info.weight, info.num_units, info.tick_count)  # fmt: skip

    async def _announce(self, atx: ATXV1) -> None:
        if self.publish is None:
            return
        try:
            result = self.publish(atx)
            if inspect.isawaitable(result):
                await result
        except Exception as e:  # noqa: BLE001 - the ATX is stored; peers still get it by sync
            log.warning("gossiping ATX %s failed: %s", atx.id.hex()[:12], e)
