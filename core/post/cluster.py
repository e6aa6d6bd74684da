"""PoST init across machines on Dask distributed (`smesh post init --cluster`, `smesh post worker`).

One task per PoST file.  A task runs the ordinary `Initializer` for that one file on a worker, in a
scratch directory of its own under the data directory (`<datadir>/.smesh-cluster/file-<k>/`), with the
worker's label backend (numba CPU or an OpenCL device: `post worker --provider`).  The data directory
must be on a filesystem every worker sees at the same path (NFS, a cluster filesystem, or one machine
for `local:N`); files are not streamed back.  The client checks that every worker sees it before any
task starts (a token file), and each task checks again.

Why a scratch directory per task: the Initializer's crash safety rests on "the metadata's nonce has
considered every label in the directory", and it locks its directory.  A task's scratch metadata holds
the best VRF nonce of that file's labels only.  When a task is done, the client (the only writer of the
real metadata, holding the data directory's lock all along) first merges that nonce into
`postdata_metadata.json` (`merge_nonces`), then renames the file into the data directory, then removes
the scratch directory.  So at every instant each label in the data directory has been considered for
its metadata's nonce, exactly as in a plain run: a client, worker or machine that dies at any point
leaves data that a rerun (cluster or plain) completes byte-identically.

Retries: a task whose worker dies is re-run elsewhere by the scheduler (`allowed-failures`), a task
that raised is re-run `retries` times; either way the new attempt resumes from the file's checkpointed
labels in the scratch directory (same bytes: labels are a pure function of the index).  A file left
partial in the data directory by an earlier plain run is moved into its scratch directory, after the
client recomputed its last label (the same resume check as a plain run), and continued there.

When the whole data is complete and no label in it is below the VRF target, the beyond-the-data nonce
search runs as one more task (resumable through its own scratch metadata), as a plain run would.

Progress: each task reports its file's label count, rate and worker through Dask's event log
(`Worker.log_event`); `ProgressBoard` turns the reports into one cluster-wide figure (labels/s in
total and per worker, ETA) for the caller's callback.  Ctrl-C: the client tells every worker to stop
(`Client.run`); each task writes the labels it computed and returns, and the run says how far it got.

Dask is imported only here, and only when a cluster is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core import atomicfile
from core.dirlock import DirLock
from core.errors import InvalidInput, SmeshError
from core.post import metadata as md
from core.post.difficulty import vrf_difficulty
from core.post.init import (
    LOCK_FILE,
    InitError,
    InitOptions,
    Initializer,
    InitProgress,
    InitStopped,
    MetadataMismatch,
    merge_nonces,
    progress_json,
)
from core.post.layout import LABEL_SIZE, Layout, data_files, disk_state, file_path

SCRATCH_DIR = ".smesh-cluster"
TOKEN_FILE = "run-token"
NONCE_SEARCH_DIR = "nonce-search"
PROVIDER_ENV = "SMESH_POST_PROVIDER"  # a worker's own provider (set by `smesh post worker --provider`)
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
EVENT_TOPIC = "smesh-post-init"
REPORT_SECONDS = 0.25  # a task reports its progress at most this often
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 60.0  # after Ctrl-C, how long running tasks get to write their labels
STALE_WORKER_SECONDS = 20.0  # a worker silent this long no longer counts in the cluster's rate
MAX_LOCAL_WORKERS = 256


class ClusterError(SmeshError):
    """A cluster run cannot start or continue."""


class ClusterUnreachable(ClusterError):
    """No Dask scheduler answers at the given address."""


# ------------------------------------------------------------------------------------------------
# Addresses


@dataclasses.dataclass(frozen=True)
class ClusterAddress:
    """`tcp://HOST:PORT` (a running Dask scheduler) or `local:N` (a LocalCluster of N worker processes)."""

    kind: str  # "tcp" or "local"
    host: str = ""
    port: int = 0
    workers: int = 0

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}" if self.kind == "tcp" else f"local:{self.workers}"

    def __str__(self) -> str:
        return self.address


_HOST = r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"  # [IPv6], IPv4 or a DNS name
_TCP_RE = re.compile(rf"^tcp://(?P<host>{_HOST}):(?P<port>\d{{1,5}})$")
_LOCAL_RE = re.compile(r"^local:(?P<n>\d{1,4})$")


def parse_cluster_address(text: str, *, what: str = "--cluster", local: bool = True) -> ClusterAddress:
    """Parse `tcp://HOST:PORT` or (if `local`) `local:N`; InvalidInput (exit 2) names the expected forms."""
    value = (text or "").strip()
    forms = "tcp://HOST:PORT or local:N (N workers on this machine)" if local else "tcp://HOST:PORT"
    m = _TCP_RE.match(value)
    if m:
        port = int(m.group("port"))
        if not 1 <= port <= 65535:
            raise InvalidInput(f"{what}: port {port} is outside 1..65535 in {text!r}")
        return ClusterAddress("tcp", host=m.group("host"), port=port)
    m = _LOCAL_RE.match(value)
    if m and local:
        n = int(m.group("n"))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise InvalidInput(f"{what}: local:N needs 1 <= N <= {MAX_LOCAL_WORKERS}, got {text!r}")
        return ClusterAddress("local", workers=n)
    raise InvalidInput(f"{what} must be {forms}, got {text!r}")


def check_reachable(address: ClusterAddress, timeout: float) -> None:
    """A TCP connect to the scheduler within `timeout` seconds, or ClusterUnreachable with the reason."""
    host = address.host.strip("[]")
    try:
        with socket.create_connection((host, address.port), timeout=timeout):
            pass
    except socket.gaierror as e:
        raise ClusterUnreachable(f"cannot reach the Dask scheduler at {address}: unknown host ({e.strerror})") from None
    except TimeoutError:
        raise ClusterUnreachable(
            f"cannot reach the Dask scheduler at {address}: no answer within {timeout:g} s"
        ) from None
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise ClusterUnreachable(f"cannot reach the Dask scheduler at {address}: {reason}") from None


# ------------------------------------------------------------------------------------------------
# Tasks (run on the workers)


@dataclasses.dataclass(frozen=True)
class FileTask:
    """One task: file `file` of the data (or, with file None, the beyond-the-data nonce search) computed in
    `scratch`.  Plain data, pickled to the worker."""

    run_id: str
    datadir: str
    token: str
    options: InitOptions  # the run's options for this one file, with the scratch directory as datadir
    provider: Any = None  # None/"cpu"/"reference"/OpenCL id, or a backend object; a worker's own wins
    batch_size: int | None = None
    checkpoint_seconds: float | None = None

    @property
    def file(self) -> int | None:
        return self.options.from_file

    @property
    def scratch(self) -> str:
        return str(self.options.datadir)


@dataclasses.dataclass(frozen=True)
class TaskOutcome:
    file: int | None
    worker: str
    pid: int
    backend: str
    complete: bool = False
    stopped: bool = False
    error: str | None = None
    nonce: int | None = None
    nonce_value: bytes | None = None  # the full 32-byte value of `nonce` (for the merge)
    labels_computed: int = 0
    labels_resumed: int = 0  # labels the attempt found in the scratch file (0: started from scratch)
    seconds: float = 0.0
    metadata: str | None = None  # nonce search: the final metadata JSON


_stopped_runs: set[str] = set()  # run ids whose tasks must stop (set on each worker by Client.run)


def request_stop(run_id: str) -> bool:
    """Run on every worker on Ctrl-C: the running tasks of `run_id` write their labels and return."""
    _stopped_runs.add(run_id)
    return True


def sees_token(root: str, token: str) -> bool:
    """Run on every worker: does it see the client's scratch directory (a shared filesystem)?"""
    try:
        return (Path(root) / TOKEN_FILE).read_text().strip() == token
    except OSError:
        return False


def _worker_identity() -> tuple[Any, str]:
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None, f"{socket.gethostname()}/{os.getpid()}"
    name = worker.name
    label = str(name) if name is not None and str(name) != worker.address else worker.address
    return worker, label


def task_backend(provider: Any):  # noqa: ANN201
    """The worker's own provider (`PROVIDER_ENV`) if it announced one, else the task's, else the CPU."""
    from core.post import labels

    own = os.environ.get(PROVIDER_ENV)
    if own:
        return labels.get_backend(own)
    if provider is not None and hasattr(provider, "compute"):
        return provider  # a backend object (tests)
    return labels.get_backend(provider)


class _Reporter:
    """Initializer progress → Dask events (throttled), tagged with the run, file and worker."""

    def __init__(self, task: FileTask, worker: Any, label: str, sink: Callable[[dict], None] | None) -> None:
        self.task, self.worker, self.label, self.sink = task, worker, label, sink
        self.last = 0.0

    def __call__(self, p: InitProgress) -> None:
        now = time.monotonic()
        if now - self.last < REPORT_SECONDS:
            return
        self.last = now
        msg = {
            "run": self.task.run_id, "file": self.task.file, "phase": p.phase, "name": self.label,
            "pid": os.getpid(), "done": p.labels_done, "total": p.labels_total, "computed": p.labels_computed,
            "rate": p.labels_per_second,
        }  # fmt: skip
        if self.sink is not None:
            self.sink(msg)
        elif self.worker is not None:
            with contextlib.suppress(Exception):  # progress must never fail a task
                self.worker.log_event(EVENT_TOPIC, msg)


def run_file_task(task: FileTask, progress: Callable[[dict], None] | None = None) -> TaskOutcome:
    """The task body: the Initializer for one file (or the nonce search) in the task's scratch directory.

    Expected failures come back as an outcome with `error` (not retried: they would fail again);
    anything else raises and Dask retries it."""
    worker, label = _worker_identity()
    began = time.monotonic()
    base = {"file": task.file, "worker": label, "pid": os.getpid()}
    if not sees_token(str(Path(task.scratch).parent), task.token):
        return TaskOutcome(
            **base, backend="", error=f"worker {label} does not see {task.datadir} (or another run took it over): "
            "the data directory must be on a filesystem shared by every worker, at the same path",
        )  # fmt: skip
    try:
        backend = task_backend(task.provider)
    except SmeshError as e:
        return TaskOutcome(**base, backend="", error=f"worker {label}: {e}")
    base["backend"] = backend.name
    stop = lambda: task.run_id in _stopped_runs  # noqa: E731
    reporter = _Reporter(task, worker, label, progress)
    init = Initializer(
        task.options, backend, batch_size=task.batch_size, checkpoint_seconds=task.checkpoint_seconds,
        progress=reporter, stop=stop, search_beyond=False,
    )  # fmt: skip
    try:
        if task.file is None:
            return _nonce_search(task, init, base, began)
        path = file_path(task.scratch, task.file)
        resumed = path.stat().st_size // LABEL_SIZE if path.exists() else 0
        result = init.run()
    except InitStopped:
        return TaskOutcome(**base, stopped=True, seconds=time.monotonic() - began)
    except SmeshError as e:
        return TaskOutcome(**base, error=f"file {task.file} on worker {label}: {e}")
    meta = result.metadata
    value = None
    if meta.nonce is not None:  # the full 32 bytes (only 16 are stored), by the backend that found it
        value = bytes(backend.compute(init.commitment, meta.nonce, 1, task.options.scrypt_n)[0])[:32]
    return TaskOutcome(
        **base, complete=result.range_complete, nonce=meta.nonce, nonce_value=value,
        labels_computed=result.labels_computed, labels_resumed=resumed, seconds=time.monotonic() - began,
    )  # fmt: skip


def _nonce_search(task: FileTask, init: Initializer, base: dict, began: float) -> TaskOutcome:
    with DirLock(Path(task.scratch) / LOCK_FILE, "smesh post init (nonce search)"):
        meta = md.load(task.scratch)
        if meta.nonce is None:
            meta = init.search_nonce(meta, task.scratch)
    return TaskOutcome(
        **base, complete=True, nonce=meta.nonce, labels_computed=init._computed, metadata=meta.to_json(),
        seconds=time.monotonic() - began,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Progress


@dataclasses.dataclass(frozen=True)
class WorkerRate:
    name: str
    pid: int
    file: int | None  # the file it works on (None: idle, or silent too long)
    labels_per_second: float
    file_done: int = 0  # labels of that file on disk, at its last report
    file_total: int = 0


@dataclasses.dataclass(frozen=True)
class ClusterProgress:
    phase: str  # "starting", "labels", "nonce-search" or "stopping"
    labels_done: int  # labels on disk in the requested range (or searched beyond the data)
    labels_total: int  # labels of the requested range (0 in the nonce search)
    files_done: int
    files_total: int
    labels_per_second: float  # the whole cluster: the sum of the busy workers' rates (none busy: the run's mean)
    elapsed: float
    workers: tuple[WorkerRate, ...]

    @property
    def eta_seconds(self) -> float | None:
        if self.phase != "labels" or self.labels_per_second <= 0:
            return None
        return max(0, self.labels_total - self.labels_done) / self.labels_per_second

    def to_json(self) -> dict[str, Any]:
        return {
            **progress_json(self.phase, self.labels_done, self.labels_total, self.labels_per_second, self.eta_seconds),
            "filesDone": self.files_done,
            "filesTotal": self.files_total,
            "workers": [
                {"name": w.name, "pid": w.pid, "file": w.file, "labelsPerSecond": round(w.labels_per_second, 1)}
                for w in self.workers
            ],
        }


class ProgressBoard:
    """Per-file label counts and per-worker rates from task reports; `snapshot()` sums them up.

    A file's count is its latest report (a retried task may report fewer labels than the attempt that
    died: what counts is what is on disk).  A worker's rate is that of its current task; a worker whose
    task is done, or that fell silent for `stale_seconds`, no longer adds to the cluster's rate."""

    def __init__(self, files: dict[int, tuple[int, int]], *, clock: Callable[[], float] = time.monotonic,
                 stale_seconds: float = STALE_WORKER_SECONDS) -> None:  # fmt: skip
        self.files = {k: [done, total] for k, (done, total) in files.items()}  # k → [done, total]
        self.initial = sum(done for done, _ in files.values())
        self.finished: set[int] = set()
        self.clock = clock
        self.started = clock()
        self.stale_seconds = stale_seconds
        self.workers: dict[str, tuple[float, dict]] = {}  # name → (when, latest report)
        self.phase = "starting"
        self.searched = 0

    def report(self, msg: dict) -> None:
        k = msg.get("file")
        if msg.get("phase") == "nonce-search":
            self.phase = "nonce-search"
            self.searched = max(self.searched, int(msg.get("done", 0)))
        elif k in self.files and k not in self.finished:
            self.files[k][0] = min(int(msg.get("done", 0)), self.files[k][1])
            if self.phase == "starting":
                self.phase = "labels"
        else:
            return
        self.workers[str(msg.get("name"))] = (self.clock(), msg)  # ("worker" is the scheduler's: the address)

    def file_done(self, k: int) -> None:
        if k in self.files:
            self.files[k][0] = self.files[k][1]
            self.finished.add(k)
        for name, (_, msg) in list(self.workers.items()):
            if msg.get("file") == k:
                self.workers[name] = (self.clock(), {**msg, "rate": 0.0, "file": None})

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def snapshot(self) -> ClusterProgress:
        now = self.clock()
        rates = []
        for name, (when, msg) in sorted(self.workers.items()):
            active = now - when <= self.stale_seconds
            rate = float(msg.get("rate", 0.0)) if active else 0.0
            file = msg.get("file") if active else None
            done, total = (int(msg.get("done", 0)), int(msg.get("total", 0))) if file is not None else (0, 0)
            rates.append(WorkerRate(name, int(msg.get("pid", 0)), file, rate, done, total))
        search = self.phase == "nonce-search"
        done = sum(d for d, _ in self.files.values())
        elapsed = now - self.started
        rate = sum(w.labels_per_second for w in rates)
        if rate == 0 and not search and elapsed > 0:
            rate = (done - self.initial) / elapsed
        return ClusterProgress(
            phase=self.phase,
            labels_done=self.searched if search else done,
            labels_total=0 if search else sum(total for _, total in self.files.values()),
            files_done=sum(d == t for d, t in self.files.values()),
            files_total=len(self.files),
            labels_per_second=rate,
            elapsed=elapsed,
            workers=tuple(rates),
        )


# ------------------------------------------------------------------------------------------------
# The client


@dataclasses.dataclass(frozen=True)
class ClusterResult:
    """What `InitResult` says, plus what each task did."""

    metadata: md.PostMetadata
    labels_computed: int
    range_complete: bool
    data_complete: bool
    nonce_searched: bool
    seconds: float
    outcomes: tuple[TaskOutcome, ...]

    @property
    def workers(self) -> tuple[str, ...]:
        return tuple(sorted({o.worker for o in self.outcomes}))


def scratch_root(datadir: str | os.PathLike) -> Path:
    return Path(datadir) / SCRATCH_DIR


def scratch_dir(datadir: str | os.PathLike, k: int | None) -> Path:
    return scratch_root(datadir) / (NONCE_SEARCH_DIR if k is None else f"file-{k}")


class ClusterInitializer:
    """Creates or resumes the PoST data of one identity in one (shared) directory with a Dask cluster.

    Same refusals as `Initializer` (it runs the same checks, under the same directory lock), same
    bytes on disk at the end."""

    def __init__(
        self,
        options: InitOptions,
        cluster: ClusterAddress | str,
        *,
        provider: Any = None,
        batch_size: int | None = None,
        checkpoint_seconds: float | None = None,
        progress: Callable[[ClusterProgress], None] | None = None,
        stop: Callable[[], bool] | None = None,
        reset: bool = False,
        check_space: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        local_threads: int | None = None,
    ) -> None:
        options.validate()
        self.opts = options
        self.cluster = cluster if isinstance(cluster, ClusterAddress) else parse_cluster_address(cluster)
        self.provider = provider
        self.batch_size = batch_size
        self.checkpoint_seconds = checkpoint_seconds
        self.progress = progress
        self.stop = stop
        self.reset = reset
        self.check_space = check_space
        self.connect_timeout = connect_timeout
        self.retries = max(0, retries)
        self.local_threads = local_threads
        self.layout: Layout = options.layout
        self.datadir = Path(os.path.abspath(options.datadir))
        self.root = scratch_root(self.datadir)
        self._values: dict[int, bytes] = {}  # nonce → 32-byte value, as reported by the tasks
        self._run_id = secrets.token_hex(8)  # tags this run's tasks, events and stop requests
        self._local_backend = None

    # ---- public ----

    def preflight(self) -> md.PostMetadata | None:
        """Every refusal `run` would make, without writing anything; a scheduler must answer a TCP connect."""
        meta = self._plain(reset=self.reset).preflight()
        if not self.reset:
            first, last = self.opts.file_range
            for k in range(first, last + 1):
                self._check_scratch(scratch_dir(self.datadir, k))
        if self.cluster.kind == "tcp":
            check_reachable(self.cluster, self.connect_timeout)
        return meta

    def run(self) -> ClusterResult:
        try:
            atomicfile.ensure_directory(self.datadir)
        except OSError as e:
            raise InitError(f"cannot create {self.datadir}: {e}") from None
        started = time.monotonic()
        with DirLock(self.datadir / LOCK_FILE, "smesh post init"):  # no plain init in here meanwhile
            if self.reset:
                shutil.rmtree(self.root, ignore_errors=True)
            self._plain(reset=self.reset).prepare()
            todo = self._stage()
            outcomes: list[TaskOutcome] = []
            state = disk_state(self.datadir, self.layout)
            searching = state.complete and md.load(self.datadir).nonce is None
            if md.load(self.datadir).nonce is not None:  # a search whose result is in the metadata already
                shutil.rmtree(scratch_dir(self.datadir, None), ignore_errors=True)
            if todo or searching:
                board = self._board(todo)
                try:
                    with self._client() as client:
                        token = self._publish_token(client)
                        if todo:
                            outcomes += self._run_files(client, todo, token, board)
                        state = disk_state(self.datadir, self.layout)
                        if state.complete and md.load(self.datadir).nonce is None:
                            outcomes.append(self._run_nonce_search(client, token, board))
                finally:
                    self._cleanup()
            first, last = self.opts.file_range
            state = disk_state(self.datadir, self.layout)
            return ClusterResult(
                md.load(self.datadir), sum(o.labels_computed for o in outcomes), state.complete_range(first, last),
                state.complete, any(o.file is None for o in outcomes), time.monotonic() - started, tuple(outcomes),
            )  # fmt: skip

    # ---- preparing the directory ----

    def _plain(self, reset: bool) -> Initializer:
        """An Initializer for the checks a plain run makes (the reference backend: only resume points,
        one label per partial file, are computed here)."""
        return Initializer(self.opts, self._backend(), checker=None, reset=reset, check_space=self.check_space)

    def _backend(self):  # noqa: ANN202
        """The client's own label backend, for the few labels it computes itself."""
        if self._local_backend is None:
            from core.post import labels

            if self.provider is not None and hasattr(self.provider, "compute"):
                self._local_backend = self.provider
            else:
                self._local_backend = labels.get_backend("reference")
        return self._local_backend

    def _shape(self) -> md.PostMetadata:
        o = self.opts
        return md.PostMetadata(o.node_id, o.commitment_atx_id, o.labels_per_unit, o.num_units, o.max_file_size)

    def _check_scratch(self, where: Path) -> None:
        """A scratch directory left by an earlier cluster run must describe this very data."""
        if not where.exists():
            return
        if md.exists(where):
            meta = md.load(where)
            shape = self._shape()
            for field in ("node_id", "commitment_atx_id", "labels_per_unit", "num_units", "max_file_size"):
                if getattr(meta, field) != getattr(shape, field):
                    raise MetadataMismatch(
                        f"{where} (left by an earlier cluster run) holds data of another setup ({field} differs): "
                        "remove it, or use --reset"
                    )
        elif data_files(where):
            raise InitError(f"{where} holds postdata files but no {md.METADATA_FILE}: remove it, or use --reset")

    def _stage(self) -> list[int]:
        """The files to compute; a partial file of the data directory moves into its scratch directory
        (the longer of the two copies wins when an earlier cluster run left one there too)."""
        first, last = self.opts.file_range
        state = disk_state(self.datadir, self.layout)
        todo = []
        for f in state.files[first : last + 1]:
            where = scratch_dir(self.datadir, f.number)
            if f.complete:  # a rename into the data dir happened after the merge: the scratch copy is spent
                shutil.rmtree(where, ignore_errors=True)
                continue
            todo.append(f.number)
            self._check_scratch(where)
            if not f.exists:
                continue
            atomicfile.ensure_directory(where)
            if not md.exists(where):
                md.save(where, self._shape())
            ours, theirs = file_path(self.datadir, f.number), file_path(where, f.number)
            if theirs.exists():
                short, long = sorted((ours, theirs), key=lambda p: p.stat().st_size)
                _check_prefix(short, long)
                if short == theirs:
                    os.replace(ours, theirs)
                else:
                    ours.unlink()
            else:
                os.replace(ours, theirs)
        return todo

    def _publish_token(self, client: Any) -> str:
        token = secrets.token_hex(16)
        atomicfile.ensure_directory(self.root)
        atomicfile.replace(self.root / TOKEN_FILE, token.encode())
        seen = client.run(sees_token, str(self.root), token)
        blind = sorted(addr for addr, ok in seen.items() if not ok)
        if blind:
            raise ClusterError(
                f"worker {blind[0]} does not see {self.datadir}: the data directory must be on a filesystem "
                "shared by every worker, at the same path"
            )
        return token

    def _cleanup(self) -> None:
        token = self.root / TOKEN_FILE
        token.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only when empty: scratch files of an interrupted run stay

    # ---- the cluster ----

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        import logging

        import dask
        from distributed import Client, LocalCluster

        _quiet(logging.CRITICAL)
        with dask.config.set({"distributed.scheduler.allowed-failures": self.retries}):
            if self.cluster.kind == "local":
                n = self.cluster.workers
                threads = self.local_threads or max(1, (os.cpu_count() or 1) // n)
                env = {"NUMBA_NUM_THREADS": str(threads)}
                with _sigint_ignored():  # the workers inherit it: a Ctrl-C in the terminal stops the run, not them
                    cluster = LocalCluster(
                        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.CRITICAL, env=env,
                    )  # fmt: skip
                with cluster, Client(cluster) as client:
                    yield client
                return
            check_reachable(self.cluster, self.connect_timeout)  # a clear reason (refused, unknown host)
            try:
                client = Client(self.cluster.address, timeout=self.connect_timeout)
            except OSError as e:
                raise ClusterUnreachable(f"cannot reach the Dask scheduler at {self.cluster}: {e}") from None
            with client:
                yield client

    def _task(self, k: int | None, token: str) -> FileTask:
        options = dataclasses.replace(self.opts, datadir=Path(scratch_dir(self.datadir, k)), from_file=k, to_file=k)
        return FileTask(
            run_id=self._run_id, datadir=str(self.datadir), token=token, options=options, provider=self.provider,
            batch_size=self.batch_size, checkpoint_seconds=self.checkpoint_seconds,
        )  # fmt: skip

    def _board(self, todo: list[int]) -> ProgressBoard:
        first, last = self.opts.file_range
        files = {}
        for k in range(first, last + 1):
            total = self.layout.file_labels(k)
            if k in todo:
                theirs = file_path(scratch_dir(self.datadir, k), k)
                files[k] = (min(theirs.stat().st_size // LABEL_SIZE, total) if theirs.exists() else 0, total)
            else:
                files[k] = (total, total)
        return ProgressBoard(files)

    def _run_files(self, client: Any, todo: list[int], token: str, board: ProgressBoard) -> list[TaskOutcome]:
        futures = {
            client.submit(run_file_task, self._task(k, token), key=f"smesh-post-file-{k}-{self._run_id}",
                          retries=self.retries, pure=False): k
            for k in todo
        }  # fmt: skip
        outcomes = []
        stopped = False
        for fut, outcome in self._gather(client, futures, board):
            k = futures[fut]
            if outcome.error is not None:
                self._abort(client, futures)
                raise ClusterError(outcome.error)
            outcomes.append(outcome)
            if outcome.stopped or not outcome.complete:
                stopped = True
                continue
            self._finish_file(k, outcome)
            board.file_done(k)
            self._report(board)
        if stopped:
            state = disk_state(self.datadir, self.layout)
            first, last = self.opts.file_range
            written = 0
            for f in state.files[first : last + 1]:
                theirs = file_path(scratch_dir(self.datadir, f.number), f.number)
                spare = theirs.stat().st_size // LABEL_SIZE if theirs.exists() else 0
                written += min(f.labels_present + spare, f.expected_bytes // LABEL_SIZE)
            total = sum(self.layout.file_labels(k) for k in range(first, last + 1))
            raise InitStopped(
                f"init stopped: {written} of {total} labels of this range are written; "
                "run the same command again to continue"
            )
        return outcomes

    def _gather(self, client: Any, futures: dict, board: ProgressBoard) -> Iterator[tuple[Any, TaskOutcome]]:
        """(future, outcome) as tasks finish; reports progress and passes Ctrl-C on meanwhile."""
        import queue

        events: queue.SimpleQueue = queue.SimpleQueue()

        def on_event(event: tuple) -> None:
            msg = event[1]
            if isinstance(msg, dict) and msg.get("run") == self._run_id:
                events.put(msg)

        client.subscribe_topic(EVENT_TOPIC, on_event)
        pending = dict(futures)
        stop_sent = 0.0
        last_report = 0.0
        try:
            while pending:
                while True:
                    try:
                        board.report(events.get_nowait())
                    except queue.Empty:
                        break
                if self.stop is not None and self.stop() and not stop_sent:
                    stop_sent = time.monotonic()
                    board.set_phase("stopping")
                    with contextlib.suppress(Exception):
                        client.run(request_stop, self._run_id)
                if stop_sent and time.monotonic() - stop_sent > STOP_GRACE_SECONDS:
                    self._abort(client, pending)
                    raise InitStopped("init stopped; workers did not answer in time: run the same command again")
                done = [f for f in pending if f.done()]
                for fut in done:
                    del pending[fut]
                    try:
                        outcome = fut.result()
                    except Exception as e:  # noqa: BLE001 - a task that kept failing, or lost workers
                        self._abort(client, pending)
                        what = "the nonce search" if futures[fut] is None else f"file {futures[fut]}"
                        raise ClusterError(f"{what} failed on the cluster: {type(e).__name__}: {e}") from None
                    yield fut, outcome
                now = time.monotonic()
                if now - last_report >= REPORT_SECONDS:
                    last_report = now
                    self._report(board)
                if pending and not done:
                    time.sleep(POLL_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(EVENT_TOPIC)

    def _abort(self, client: Any, futures: dict) -> None:
        with contextlib.suppress(Exception):
            client.run(request_stop, self._run_id)
        with contextlib.suppress(Exception):
            client.cancel(list(futures))

    def _report(self, board: ProgressBoard) -> None:
        if self.progress is not None:
            self.progress(board.snapshot())

    def _label(self, commitment: bytes, index: int, n: int) -> bytes:
        value = self._values.get(index)
        if value is None:
            value = bytes(self._backend().compute(commitment, index, 1, n)[0])[:32]
        return value

    def _finish_file(self, k: int, outcome: TaskOutcome) -> None:
        """Merge the file's nonce into the metadata, then move the file in: in that order (module doc)."""
        where = scratch_dir(self.datadir, k)
        if outcome.nonce is not None and outcome.nonce_value is not None:
            self._values[outcome.nonce] = outcome.nonce_value
        merge_nonces(self.datadir, [md.metadata_path(where)], self.opts.scrypt_n, label_fn=self._label)
        os.replace(file_path(where, k), file_path(self.datadir, k))
        atomicfile.fsync_directory(self.datadir)
        shutil.rmtree(where, ignore_errors=True)

    def _run_nonce_search(self, client: Any, token: str, board: ProgressBoard) -> TaskOutcome:
        where = scratch_dir(self.datadir, None)
        current = md.load(self.datadir)
        self._check_scratch(where)
        atomicfile.ensure_directory(where)
        saved = md.load(where) if md.exists(where) else None
        if saved is None or (saved.last_position or 0) < (current.last_position or 0):
            md.save(where, current)
        board.set_phase("nonce-search")
        task = self._task(None, token)
        fut = client.submit(run_file_task, task, key=f"smesh-post-nonce-{self._run_id}", retries=self.retries,
                            pure=False)  # fmt: skip
        for _, outcome in self._gather(client, {fut: None}, board):
            if outcome.error is not None:
                raise ClusterError(outcome.error)
            if outcome.stopped:
                raise InitStopped("init stopped: the VRF nonce search keeps its position; run the same command again")
            found = md.PostMetadata.from_json(outcome.metadata)
            self._check_found(found)
            md.save(self.datadir, found)
            shutil.rmtree(where, ignore_errors=True)
            return outcome
        raise ClusterError("the nonce search returned nothing")  # not reached: one future, one outcome

    def _check_found(self, found: md.PostMetadata) -> None:
        """The searched nonce must be a real hit for this identity (recomputed here)."""
        base = self._shape()
        same = all(getattr(found, f) == getattr(base, f) for f in
                   ("node_id", "commitment_atx_id", "labels_per_unit", "num_units", "max_file_size"))  # fmt: skip
        if not same or found.nonce is None:
            raise ClusterError("the nonce search returned metadata of another setup")
        from core.crypto.hashing import hash32

        value = self._label(hash32(base.node_id, base.commitment_atx_id), found.nonce, self.opts.scrypt_n)
        if not value < vrf_difficulty(self.opts.num_labels) or found.nonce_value != value[:LABEL_SIZE]:
            raise ClusterError(f"the nonce search returned nonce {found.nonce}, which is not below the VRF target")


def _quiet(level: int) -> None:
    """Dask's own log lines below `level` off (they would break the one-line output of the CLI)."""
    import logging

    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "tornado", "bokeh")]
    for name in {"distributed", "tornado", "bokeh", *names}:
        logger = logging.getLogger(name)
        logger.setLevel(max(level, logger.getEffectiveLevel()))


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_prefix(short: Path, long: Path) -> None:
    size = short.stat().st_size - short.stat().st_size % LABEL_SIZE
    with open(short, "rb") as a, open(long, "rb") as b:
        while size:
            n = min(size, 1 << 20)
            if a.read(n) != b.read(n):
                raise InitError(
                    f"{short} and {long} hold different labels for the same file: "
                    "one was made with other parameters; remove the wrong one (or use --reset)"
                )
            size -= n



# ------------------------------------------------------------------------------------------------
# `smesh post worker`


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    address: str  # the worker's own address
    name: str
    scheduler: str
    backend: str
    resources: dict[str, float]


def serve_worker(
    scheduler: ClusterAddress,
    *,
    provider: Any = None,
    name: str | None = None,
    threads: int | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    on_started: Callable[[WorkerInfo], None] | None = None,
) -> None:
    """Run a Dask worker for PoST init tasks until SIGINT/SIGTERM (blocking).

    One task at a time (a task keeps the device or all its cores busy).  The provider is checked before
    connecting and announced: tasks run on it, and an OpenCL device adds the resource {"GPU": 1}.
    `threads` caps the numba CPU kernel's threads."""
    import asyncio
    import logging
    import signal

    if threads is not None:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
    from core.post import labels
    from core.post.init import backend_kind

    backend = labels.get_backend(provider)  # an unknown device fails here, in one line
    kind = backend_kind(backend)
    own = "reference" if kind == "reference" else ("cpu" if kind == "cpu" else str(provider))
    os.environ[PROVIDER_ENV] = own
    resources = {"GPU": 1.0} if kind == "gpu" else {}
    if name is None and kind == "gpu":
        name = f"{socket.gethostname()}/gpu{provider}"
    check_reachable(scheduler, connect_timeout)
    from distributed import Worker

    _quiet(logging.WARNING)  # after the import: importing distributed sets its log levels

    async def main() -> None:
        worker = Worker(scheduler.address, nthreads=1, name=name, resources=resources or None, dashboard=False)
        try:
            await asyncio.wait_for(worker.start(), timeout=max(connect_timeout, 10.0))
        except (TimeoutError, OSError) as e:
            await worker.close()
            reason = str(e) or type(e).__name__
            raise ClusterUnreachable(f"cannot join the Dask scheduler at {scheduler}: {reason}") from None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.close()))
        if on_started is not None:
            label = str(worker.name) if worker.name is not None else worker.address
            on_started(WorkerInfo(worker.address, label, scheduler.address, backend.name, resources))
        await worker.finished()

    if threading.current_thread() is not threading.main_thread():
        raise ClusterError("a worker must run in the main thread")
    asyncio.run(main())
