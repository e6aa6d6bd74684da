"""The PoET service: registration, round closing, the PoSW worker and proof publication (spec/poet.md §2).

One asyncio service owns the database (through a single DB thread) and the round schedule:

* **Registration** (`submit`): size, signature, certificate-or-PoW and deadline checks, then one
  registration per node id per open round (the same challenge again is accepted, another one is a
  conflict).  A registration is acknowledged only once it is on disk.
* **Closing**: at `RoundStart(id)` the round's members (node-id order) give the statement, which is
  recorded before the worker sees it, so a restart finds it again.
* **Worker**: each closed round's proof of sequential work runs in its own process (the real
  `core.poet.prover.Prover`) until `RoundEnd(id)`, checkpointing into `<datadir>/rounds/<id>/`.
  Rounds run one at a time.  The worker dies with the service (PDEATHSIG, parent checks and a
  lock on the round), so a restarted service can resume the round from its checkpoint.
* **Publication**: the proof is verified, stored with the statement and served forever.

Errors raised to API callers are `ApiError`s carrying a gRPC status code; rest.py and
grpc_server.py turn them into HTTP statuses and gRPC statuses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import dataclasses
import importlib
import json
import logging
import os
import secrets
import shutil
import signal
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import atomicfile
from core.crypto.signing import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, public_key_of, verify_raw
from core.dirlock import DirLock
from core.errors import InvalidInput, SmeshError
from core.poet import certifier as certs
from core.poet.membership import membership_root
from core.poet.pow import MAX_DIFFICULTY, PowParams, check_pow
from core.poet.rounds import RoundSchedule, parse_round_id, timestamp_to_json
from core.poet.store import AddResult, ClosedRound, RoundState, Store, StoredProof

log = logging.getLogger("smesh.poet")

CHALLENGE_SIZE = 32
MAX_PREFIX_SIZE = 64
PRIVATE_KEY_ENV = "POET_PRIVATE_KEY"
STATE_FILE = "state.bin"
ROUNDS_DIR = "rounds"
DATA_DIR_LOCK = "LOCK"  # flock-ed while a service runs on the directory (core/dirlock.py)
DEFAULT_PROVER = "core.poet.prover:Prover"
LABEL_DEPTH = 400

# worker exit codes
_EXIT_PROOF = 0
_EXIT_STOPPED = 3


# ------------------------------------------------------------------------------------------------
# API errors (gRPC status codes; rest.py maps them to HTTP)


class ApiError(SmeshError):
    """An error returned to an API caller."""

    code = 13  # INTERNAL
    status = "INTERNAL"


class InvalidArgument(ApiError):
    code, status = 3, "INVALID_ARGUMENT"


class NotFound(ApiError):
    code, status = 5, "NOT_FOUND"


class AlreadyExists(ApiError):
    code, status = 6, "ALREADY_EXISTS"


class ResourceExhausted(ApiError):
    code, status = 8, "RESOURCE_EXHAUSTED"


class FailedPrecondition(ApiError):
    code, status = 9, "FAILED_PRECONDITION"


class Unavailable(ApiError):
    code, status = 14, "UNAVAILABLE"


class Unauthenticated(ApiError):
    code, status = 16, "UNAUTHENTICATED"


class PoetConfigError(InvalidInput):
    """A PoET configuration that cannot work, found at start-up."""


# ------------------------------------------------------------------------------------------------
# Configuration and plain data


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    datadir: Path
    schedule: RoundSchedule
    pow_difficulty: int = 0
    certifier_url: str | None = None
    certifier_pubkey: bytes | None = None
    trusted_keys_dir: Path | None = None
    max_round_members: int = 1 << 32
    label_depth: int = LABEL_DEPTH  # tests only: the network uses 400
    checkpoint_seconds: float = 2.0
    prover: str = DEFAULT_PROVER  # "module:Class", importable by the worker process

    def __post_init__(self) -> None:
        if not 0 <= self.pow_difficulty <= MAX_DIFFICULTY:
            raise PoetConfigError(f"pow difficulty must be 0..{MAX_DIFFICULTY}, got {self.pow_difficulty}")
        if self.max_round_members < 1:
            raise PoetConfigError("max round members must be at least 1")
        if self.label_depth < 1:
            raise PoetConfigError("label depth must be at least 1")
        if self.certifier_pubkey is not None and len(self.certifier_pubkey) != PUBLIC_KEY_SIZE:
            raise PoetConfigError(f"certifier public key must be {PUBLIC_KEY_SIZE} bytes")


@dataclasses.dataclass(frozen=True)
class Certificate:
    data: bytes
    signature: bytes


@dataclasses.dataclass(frozen=True)
class SubmitRequest:
    """A registration as the API layers decode it (SubmitRequest of poet.proto)."""

    challenge: bytes
    pubkey: bytes
    signature: bytes
    prefix: bytes = b""
    nonce: int = 0
    pow_params: PowParams | None = None
    deadline: float | None = None  # Unix seconds
    certificate: Certificate | None = None
    certificate_pubkey_hint: bytes | None = None


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    round_id: str
    round_end: float  # seconds from now until RoundEnd


@dataclasses.dataclass(frozen=True)
class ServiceInfo:
    service_pubkey: bytes
    phase_shift: float
    cycle_gap: float
    certifier_url: str | None
    certifier_pubkey: bytes | None


@dataclasses.dataclass(frozen=True)
class PublishedProof:
    """`Proof(round)`: the PoSW Merkle proof, the ordered members and the leaf count."""

    round_id: int
    root: bytes
    proven_leaves: tuple[bytes, ...]
    proof_nodes: tuple[bytes, ...]
    leaves: int
    members: tuple[bytes, ...]
    pubkey: bytes
    statement: bytes


# ------------------------------------------------------------------------------------------------
# The PoSW proof (core.poet.posw): imported on first use, so registration-only code stays light


def _posw():
    return importlib.import_module("core.poet.posw")


def proof_parts(proof: Any) -> tuple[bytes, tuple[bytes, ...], tuple[bytes, ...], int]:
    """(root, proven leaves, proof nodes, leaf count) of a `posw.PoetProof`."""
    m = proof.merkle
    return bytes(m.root), tuple(m.proven_leaves), tuple(m.proof_nodes), proof.leaf_count


def make_poet_proof(root: bytes, proven_leaves, proof_nodes, leaves: int) -> Any:
    """A `posw.PoetProof` from its parts (as the API carries them)."""
    posw = _posw()
    merkle = posw.MerkleProof(root=bytes(root), proven_leaves=tuple(proven_leaves), proof_nodes=tuple(proof_nodes))
    return posw.PoetProof(merkle=merkle, leaf_count=leaves)


def decode_poet_proof(data: bytes) -> Any:
    return _posw().PoetProof.decode(data)


def verify_poet_proof(statement: bytes, proof: Any, depth: int = LABEL_DEPTH) -> None:
    """Raise posw.PoswError unless `proof` is a valid PoSW for `statement`."""
    _posw().verify(statement, proof, depth=depth)


# ------------------------------------------------------------------------------------------------
# The service key: <datadir>/state.bin, XDR {PrivKey []byte} as the Go poet writes it


def _encode_state(private_key: bytes) -> bytes:
    pad = bytes(-len(private_key) % 4)
    return struct.pack(">I", len(private_key)) + private_key + pad


def _decode_state(data: bytes, path: Path) -> bytes:
    if len(data) < 4:
        raise PoetConfigError(f"{path} is too short to hold a key")
    (n,) = struct.unpack(">I", data[:4])
    if n != 64 or len(data) < 4 + n:
        raise PoetConfigError(f"{path} does not hold a 64-byte ed25519 key")
    return data[4 : 4 + n]


def load_or_create_key(datadir: Path, env: dict[str, str] | None = None) -> bytes:
    """The service's 64-byte ed25519 key (seed ‖ public key), created on first start."""
    env = os.environ if env is None else env
    path = Path(datadir) / STATE_FILE
    from_env = None
    if env.get(PRIVATE_KEY_ENV):
        try:
            from_env = base64.b64decode(env[PRIVATE_KEY_ENV], validate=True)
        except (binascii.Error, ValueError):
            raise PoetConfigError(f"{PRIVATE_KEY_ENV} is not base64") from None
        if len(from_env) != 64:
            raise PoetConfigError(f"{PRIVATE_KEY_ENV} must hold a 64-byte ed25519 key, got {len(from_env)} bytes")
        try:
            public_key_of(from_env)
        except InvalidInput as e:
            raise PoetConfigError(f"{PRIVATE_KEY_ENV}: {e}") from None
    if path.exists():
        try:
            key = _decode_state(path.read_bytes(), path)
        except OSError as e:
            raise PoetConfigError(f"cannot read {path}: {e.strerror}") from None
        try:
            public_key_of(key)
        except InvalidInput as e:
            raise PoetConfigError(f"{path}: {e}") from None
        if from_env is not None and from_env != key:
            raise PoetConfigError(f"{PRIVATE_KEY_ENV} does not match the key in {path}")
        return key
    if from_env is not None:
        key = from_env
    else:
        seed = secrets.token_bytes(32)
        key = seed + public_key_of(seed)
    atomicfile.write_new(path, _encode_state(key))
    return key


# ------------------------------------------------------------------------------------------------
# The worker process
#
# A fresh interpreter (`python -c "...worker_entry()"`) rather than multiprocessing: it does not
# re-import the caller's main module, and asyncio can await it and read its progress lines.
# The job comes as JSON on stdin; progress is printed as "leaves <n>" lines; SIGTERM asks it to
# checkpoint and stop.

_WORKER_CODE = "import sys; from core.poet.service import worker_entry; sys.exit(worker_entry())"


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the service dies, so a restart can resume the round."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(_EXIT_STOPPED)


def _load_prover(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class _StopFlag:
    """The `stop` the prover polls: set by SIGTERM, or when the service is gone."""

    def __init__(self, parent_pid: int) -> None:
        self.parent_pid = parent_pid
        self.requested = False

    def is_set(self) -> bool:
        return self.requested or os.getppid() != self.parent_pid


def worker_entry() -> int:
    """Build one round's PoSW until its deadline (resuming a checkpoint), then write its proof."""
    import fcntl

    job = json.loads(sys.stdin.read())
    parent_pid = int(job["parent_pid"])
    _die_with_parent(parent_pid)
    stop = _StopFlag(parent_pid)

    def on_term(*_: Any) -> None:
        stop.requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the service decides
    lock = os.open(job["lock"], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # waits until an earlier worker on this round is gone

    def on_progress(leaves: int, *_: Any) -> None:
        sys.stdout.write(f"leaves {int(leaves)}\n")
        sys.stdout.flush()

    deadline = float(job["deadline"])
    prover = _load_prover(job["prover"])(
        bytes.fromhex(job["statement"]),
        Path(job["workdir"]),
        depth=int(job["depth"]),
        checkpoint_seconds=float(job["checkpoint_seconds"]),
    )
    on_progress(prover.leaves)
    prover.run(deadline=deadline, stop=stop, on_progress=on_progress)
    if stop.is_set() and time.time() < deadline:
        return _EXIT_STOPPED
    atomicfile.replace(job["proof"], prover.proof().encode())
    return _EXIT_PROOF


# ------------------------------------------------------------------------------------------------
# The service


class PoetService:
    """Registration, the round schedule, the worker and published proofs of one PoET."""

    def __init__(self, config: ServiceConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.schedule = config.schedule
        self.clock = clock
        self._db_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="poet-db")
        self._store: Store | None = None
        self._lock: DirLock | None = None
        self._key = b""
        self.pubkey = b""
        self._certifier = certs.Certifier(None, None)
        self._pow = PowParams(config.pow_difficulty, b"")
        self._pow_previous: PowParams | None = None
        self._first_round = 0
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._worker: asyncio.subprocess.Process | None = None
        self._executing: list[int] | None = None  # [round, leaves so far]
        self.proof_published = asyncio.Event()  # set (and replaced) whenever a proof is published
        self.worker_failures = 0

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        datadir = Path(self.config.datadir)
        try:
            atomicfile.ensure_directory(datadir)
            atomicfile.ensure_directory(datadir / ROUNDS_DIR)
        except OSError as e:
            raise PoetConfigError(f"cannot use data directory {datadir}: {e}") from None
        trusted: tuple[bytes, ...] = ()
        if self.config.trusted_keys_dir is not None:
            trusted = certs.load_trusted_keys(Path(self.config.trusted_keys_dir))
        self._certifier = certs.Certifier(self.config.certifier_url, self.config.certifier_pubkey, trusted)
        self._lock = DirLock(datadir / DATA_DIR_LOCK, "smesh poet serve").acquire()  # one service per database
        self._key = load_or_create_key(datadir)
        self.pubkey = public_key_of(self._key)
        self._store = await self._db(Store.in_datadir, datadir)
        await self._db(self._load_state)
        for closed in await self._db(self._recover_rounds):
            self._enqueue(closed.round)
        await self._close_due_rounds()
        self._tasks = [
            asyncio.create_task(self._scheduler(), name="poet-scheduler"),
            asyncio.create_task(self._worker_loop(), name="poet-worker"),
        ]

    def _load_state(self) -> None:
        store = self._store
        s = self.schedule
        stored = store.get_meta("schedule")
        mine = {"genesis": s.genesis, "epoch": s.epoch, "phase_shift": s.phase_shift}
        if stored is None:
            store.set_meta("schedule", json.dumps(mine).encode())
        elif json.loads(stored) != mine:
            old = json.loads(stored)
            raise PoetConfigError(
                f"{self.config.datadir} holds rounds of another schedule (genesis {timestamp_to_json(old['genesis'])}, "
                f"epoch {old['epoch']:g}s, phase shift {old['phase_shift']:g}s): use the same settings or another data directory"
            )
        challenge = store.get_meta("pow_challenge")
        if challenge is None:
            challenge = secrets.token_bytes(32)
            store.set_meta("pow_challenge", challenge)
        self._pow = PowParams(self.config.pow_difficulty, challenge)
        first = store.get_meta("first_round")
        if first is None:
            self._first_round = self.schedule.open_round_id(self.clock())
            store.set_meta("first_round", str(self._first_round).encode())
        else:
            self._first_round = int(first)

    def _recover_rounds(self) -> list[ClosedRound]:
        """Rounds to (re)run after a restart; worker directories of finished rounds are removed (DB thread)."""
        pending = self._store.closed_rounds((RoundState.CLOSED, RoundState.EXECUTING))
        keep = {str(r.round) for r in pending}
        keep |= {f"{r.round}.proof" for r in pending} | {f"{r.round}.lock" for r in pending}
        for entry in (Path(self.config.datadir) / ROUNDS_DIR).iterdir():
            if entry.name not in keep:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()
        return pending

    async def stop(self) -> None:
        """Stop closing rounds, let the worker checkpoint and exit, close the database."""
        self._stopping = True
        worker = self._worker
        if worker is not None and worker.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.terminate()  # the prover checkpoints and exits
            try:
                await asyncio.wait_for(asyncio.shield(worker.wait()), 15)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.kill()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._store is not None:
            await self._db(self._store.close)
            self._store = None
        self._db_pool.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def _db(self, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db_pool, fn, *args)

    # -- registration ----------------------------------------------------------------------

    def pow_params(self) -> PowParams:
        return self._pow

    def info(self) -> ServiceInfo:
        c = self._certifier
        return ServiceInfo(
            self.pubkey,
            self.schedule.phase_shift,
            self.schedule.cycle_gap,
            c.url if c.enabled else None,
            c.pubkey if c.enabled else None,
        )

    async def submit(self, req: SubmitRequest) -> SubmitResult:
        if self._store is None or self._stopping:
            raise Unavailable("the PoET service is shutting down")
        _check_sizes(req)
        if not verify_raw(req.pubkey, req.prefix + req.challenge, req.signature):
            raise InvalidArgument("invalid signature")
        self._authorize(req)
        now = self.clock()
        round_id, result = await self._db(self._register, req, now)
        if result is AddResult.CONFLICT:
            raise AlreadyExists(
                f"conflicting registration: node id {req.pubkey.hex()} already registered another challenge in round {round_id}"
            )
        if result is AddResult.FULL:
            raise ResourceExhausted(f"round {round_id} is full ({self.config.max_round_members} members)")
        return SubmitResult(str(round_id), self.schedule.round_end(round_id) - self.clock())

    def _authorize(self, req: SubmitRequest) -> None:
        if self._certifier.enabled and req.certificate is not None:
            try:
                certs.check_certificate(
                    self._certifier,
                    req.pubkey,
                    req.certificate.data,
                    req.certificate.signature,
                    req.certificate_pubkey_hint,
                    self.clock(),
                )
            except certs.CertificateError as e:
                raise Unauthenticated(str(e)) from None
            except InvalidInput as e:
                raise InvalidArgument(str(e)) from None
            return
        params = req.pow_params
        if params is None or (params != self._pow and params != self._pow_previous):
            raise InvalidArgument("invalid pow params: use the current ones from /v1/pow_params")
        if not check_pow(params, req.pubkey, req.challenge, req.nonce):
            raise InvalidArgument("invalid proof of work: the hash lacks the required leading zero bits")

    def _register(self, req: SubmitRequest, now: float) -> tuple[int, AddResult]:
        """Runs on the DB thread, so it cannot interleave with closing a round."""
        store = self._store
        round_id = max(self.schedule.open_round_id(now), self._first_round)
        last_closed = store.last_closed_round()
        if last_closed is not None and round_id <= last_closed:
            round_id = last_closed + 1
        if req.deadline is not None and self.schedule.round_end(round_id) > req.deadline:
            raise FailedPrecondition(
                f"too late to register: round {round_id} ends at "
                f"{timestamp_to_json(self.schedule.round_end(round_id))}, after the deadline "
                f"{timestamp_to_json(req.deadline)}"
            )
        return round_id, store.add_member(round_id, req.pubkey, req.challenge, self.config.max_round_members)

    # -- proofs ----------------------------------------------------------------------------

    async def proof(self, round_text: str) -> PublishedProof:
        if self._store is None:
            raise Unavailable("the PoET service is shutting down")
        try:
            round_id = parse_round_id(round_text)
        except InvalidInput:
            raise NotFound(f"proof not found: {round_text!r} is not a round id") from None
        return await self._db(self._load_proof, round_id)

    def _load_proof(self, round_id: int) -> PublishedProof:
        stored = self._store.proof(round_id)
        if stored is None:
            raise NotFound(f"proof not found for round {round_id}")
        root, leaves_proven, nodes, leaves = proof_parts(decode_poet_proof(stored.proof))
        members = tuple(self._store.members(round_id))
        return PublishedProof(round_id, root, leaves_proven, nodes, leaves, members, stored.pubkey, stored.statement)

    async def status(self) -> dict[str, Any]:
        """Open round, members, the executing round's leaves so far, published proofs."""
        now = self.clock()
        open_id = max(self.schedule.open_round_id(now), self._first_round)

        def read() -> dict[str, Any]:
            store = self._store
            last = store.last_closed_round()
            oid = open_id if last is None or open_id > last else last + 1
            return {
                "open_round": oid,
                "open_round_members": store.member_count(oid),
                "open_round_closes": self.schedule.round_start(oid),
                "closed": [
                    {"round": r.round, "members": r.members, "state": r.state.value}
                    for r in store.closed_rounds((RoundState.CLOSED, RoundState.EXECUTING))
                ],
                "proofs": [{"round": r, "leaves": n, "published_at": t} for r, n, t in store.proof_summaries()],
            }

        out = await self._db(read)
        executing = self._executing
        out["executing"] = None
        if executing is not None:
            round_id, leaves = executing
            out["executing"] = {"round": round_id, "leaves": leaves, "ends": self.schedule.round_end(round_id)}
        return out

    # -- round closing ---------------------------------------------------------------------

    async def _scheduler(self) -> None:
        while not self._stopping:
            now = self.clock()
            closes = self.schedule.round_start(self.schedule.open_round_id(now))
            await asyncio.sleep(max(0.0, closes - now) + 0.001)
            try:
                await self._close_due_rounds()
            except Exception:  # noqa: BLE001 - a bad round must not stop the schedule
                log.exception("closing rounds failed")
                await asyncio.sleep(1.0)

    async def _close_due_rounds(self) -> None:
        for closed in await self._db(self._close_rounds, self.clock()):
            if closed.state is RoundState.CLOSED:
                log.info("round %d closed with %d members", closed.round, closed.members)
                self._enqueue(closed.round)
            else:
                log.warning("round %d closed after its end passed (the service was down): skipped", closed.round)

    def _close_rounds(self, now: float) -> list[ClosedRound]:
        """Fix the statement of every round whose start has passed (DB thread)."""
        store = self._store
        open_id = self.schedule.open_round_id(now)
        last = store.last_closed_round()
        first = self._first_round if last is None else last + 1
        done = []
        for round_id in range(first, open_id):
            members = store.members(round_id)
            statement = membership_root(members)
            ended = self.schedule.round_end(round_id) <= now
            state = RoundState.SKIPPED if ended else RoundState.CLOSED
            store.close_round(round_id, statement, len(members), now, state)
            done.append(ClosedRound(round_id, statement, len(members), now, state))
        return done

    def _enqueue(self, round_id: int) -> None:
        if round_id not in self._queued:
            self._queued.add(round_id)
            self._queue.put_nowait(round_id)

    # -- the worker ------------------------------------------------------------------------

    def round_dir(self, round_id: int) -> Path:
        return Path(self.config.datadir) / ROUNDS_DIR / str(round_id)

    async def _worker_loop(self) -> None:
        while not self._stopping:
            round_id = await self._queue.get()
            try:
                await self._execute(round_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep serving; the round is retried at the next start
                self.worker_failures += 1
                log.exception("round %d failed", round_id)
            finally:
                self._queued.discard(round_id)

    async def _execute(self, round_id: int) -> None:
        closed = await self._db(self._store.closed_round, round_id)
        if closed is None or closed.state not in (RoundState.CLOSED, RoundState.EXECUTING):
            return
        end = self.schedule.round_end(round_id)
        workdir = self.round_dir(round_id)
        if closed.state is RoundState.CLOSED and end <= self.clock():
            log.warning("round %d ended before the worker could start it: skipped", round_id)
            await self._db(self._store.set_round_state, round_id, RoundState.SKIPPED)
            return
        proof_path = workdir.parent / f"{round_id}.proof"
        if not proof_path.exists():
            await self._db(self._store.set_round_state, round_id, RoundState.EXECUTING)
            for attempt in range(3):
                code = await self._run_worker(round_id, closed.statement, workdir, proof_path, end)
                if code == _EXIT_PROOF or self._stopping:
                    break
                self.worker_failures += 1
                log.error("worker for round %d exited with code %s (attempt %d)", round_id, code, attempt + 1)
                await asyncio.sleep(0.5)
            if self._stopping or not proof_path.exists():
                return
        await self._publish(round_id, closed.statement, proof_path, workdir)

    async def _run_worker(self, round_id: int, statement: bytes, workdir: Path, proof_path: Path, end: float) -> int:
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        job = {
            "prover": self.config.prover,
            "statement": statement.hex(),
            "workdir": str(workdir),
            "proof": str(proof_path),
            "lock": str(workdir.parent / f"{round_id}.lock"),
            "deadline": end,
            "depth": self.config.label_depth,
            "checkpoint_seconds": self.config.checkpoint_seconds,
            "parent_pid": os.getpid(),
        }
        log.info("round %d: proof of sequential work runs until %s", round_id, timestamp_to_json(end))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER_CODE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._worker = proc
        self._executing = [round_id, 0]
        pid_file = Path(self.config.datadir) / "round.pid"  # for operators who pin the worker (taskset, chrt)
        with contextlib.suppress(OSError):
            atomicfile.replace(pid_file, f"{proc.pid}\n".encode(), mode=0o644)
        try:
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
            first = True
            async for line in proc.stdout:
                word, _, value = line.decode(errors="replace").partition(" ")
                if word == "leaves" and value.strip().isdigit():
                    self._executing[1] = int(value)
                    if first and int(value) > 0:
                        log.info("round %d: resumed from a checkpoint at %d leaves", round_id, int(value))
                    first = False
            return await proc.wait()
        finally:
            self._executing = None
            self._worker = None
            with contextlib.suppress(OSError):
                pid_file.unlink()

    async def _publish(self, round_id: int, statement: bytes, proof_path: Path, workdir: Path) -> None:
        try:
            data = proof_path.read_bytes()
            proof = decode_poet_proof(data)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, verify_poet_proof, statement, proof, self.config.label_depth)
        except Exception:
            # never publish a bad proof; the next attempt rebuilds it from the worker's checkpoint
            with contextlib.suppress(OSError):
                proof_path.unlink()
            raise
        root, _, _, leaves = proof_parts(proof)
        stored = StoredProof(round_id, data, leaves, statement, self.pubkey, self.clock())
        await self._db(self._store.publish_proof, stored)
        self._pow_previous, self._pow = self._pow, PowParams(self.config.pow_difficulty, root)
        log.info("round %d: proof published with %d leaves", round_id, leaves)
        shutil.rmtree(workdir, ignore_errors=True)
        for leftover in (proof_path, workdir.parent / f"{round_id}.lock"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        event, self.proof_published = self.proof_published, asyncio.Event()
        event.set()


def _check_sizes(req: SubmitRequest) -> None:
    if len(req.pubkey) != PUBLIC_KEY_SIZE:
        raise InvalidArgument(f"invalid pubkey: must be {PUBLIC_KEY_SIZE} bytes, got {len(req.pubkey)}")
    if len(req.challenge) != CHALLENGE_SIZE:
        raise InvalidArgument(f"invalid challenge: must be {CHALLENGE_SIZE} bytes, got {len(req.challenge)}")
    if len(req.signature) != SIGNATURE_SIZE:
        raise InvalidArgument(f"invalid signature: must be {SIGNATURE_SIZE} bytes, got {len(req.signature)}")
    if len(req.prefix) > MAX_PREFIX_SIZE:
        raise InvalidArgument(f"invalid prefix: at most {MAX_PREFIX_SIZE} bytes, got {len(req.prefix)}")
    if not 0 <= req.nonce < 1 << 64:
        raise InvalidArgument("invalid nonce: must be a 64-bit unsigned integer")


# ------------------------------------------------------------------------------------------------
# The whole server: service + REST + gRPC


@dataclasses.dataclass
class RunningServer:
    service: PoetService
    rest_address: tuple[str, int] | None
    grpc_address: tuple[str, int] | None
    _rest_runner: Any = None
    _grpc_server: Any = None

    async def close(self) -> None:
        """Stop taking requests, then stop the service (the worker checkpoints and exits)."""
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace=1.0)
        if self._rest_runner is not None:
            await self._rest_runner.cleanup()
        await self.service.stop()


async def start_server(
    config: ServiceConfig,
    rest_listen: tuple[str, int] | None,
    grpc_listen: tuple[str, int] | None,
    *,
    clock: Callable[[], float] = time.time,
) -> RunningServer:
    """Start the service and its REST and gRPC listeners (None disables one)."""
    from core.poet.grpc_server import start_grpc
    from core.poet.rest import start_rest

    service = PoetService(config, clock=clock)
    running = RunningServer(service, None, None)
    try:
        await service.start()
        if rest_listen is not None:
            running._rest_runner, running.rest_address = await start_rest(service, *rest_listen)
        if grpc_listen is not None:
            running._grpc_server, running.grpc_address = await start_grpc(service, *grpc_listen)
    except BaseException:
        await running.close()
        raise
    return running
