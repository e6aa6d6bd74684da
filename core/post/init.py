"""PoST initialization: fill `postdata_<k>.bin` with labels and find the VRF nonce (spec/post.md §1.3–1.7).

Crash safety.  Labels are a pure function of (commitment, index, N), so a file's content never depends
on how it was batched; every run re-derives its position from the file sizes.  A torn trailing partial
label (killed mid-write) is truncated away before appending.  The metadata is written (atomically)
with a batch's better VRF nonce *before* the batch's labels are appended, so every label on disk has
been considered for the nonce and a re-run after `kill -9` ends with byte-identical files and
metadata.  The beyond-the-data nonce search advances `LastPosition` in fixed steps from the end of the
data, so it too resumes deterministically.

Safety.  Existing data is never deleted, truncated (beyond a torn partial label) or overwritten unless
`reset=True`; metadata that disagrees with the requested identity or shape is refused with the field
named.  Free disk space is checked before anything is written.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from core import atomicfile
from core.dirlock import DirLock
from core.errors import InvalidInput, SmeshError
from core.post import metadata as md
from core.post.difficulty import vrf_difficulty
from core.post.layout import LABEL_SIZE, Layout, data_files, disk_state, file_path
from core.post.params import check_max_file_size, check_scrypt_n

IDENTITY_FILE = "identity.key"
LOCK_FILE = ".postdata.lock"
DEFAULT_GPU_BATCH = 1 << 20  # Go's ComputeBatchSize
DEFAULT_CPU_BATCH = 1 << 15  # ~20 s of two CPU cores at N=8192; the reference re-check costs ~1 s
DEFAULT_REFERENCE_BATCH = 64
DEFAULT_SEARCH_STEP = 1 << 20  # beyond-the-data VRF search step, capped at the data size (post#317)
TARGET_CHUNK_SECONDS = 0.5  # progress granularity
CHECKPOINT_SECONDS = 5.0  # computed labels are written at least this often, whatever the batch: what kill -9 loses


class InitError(SmeshError):
    """Init cannot start or continue."""


class MetadataMismatch(InitError):
    """Existing metadata describes different data than requested."""


class LabelMismatch(InitError):
    """A backend produced a label that differs from the CPU recomputation (bad GPU/driver)."""


class InitStopped(InitError):
    """Init was stopped on request; what is on disk is consistent and resumable."""

    exit_code = 130


class LabelBackend(Protocol):
    name: str

    def compute(self, commitment: bytes, start: int, count: int, n: int) -> Any: ...


Checker = Callable[[bytes, int, int], bytes]  # (commitment, index, N) → 32-byte scrypt output


@dataclasses.dataclass(frozen=True)
class InitOptions:
    datadir: Path
    node_id: bytes
    commitment_atx_id: bytes
    num_units: int
    labels_per_unit: int
    max_file_size: int
    scrypt_n: int
    from_file: int | None = None
    to_file: int | None = None

    def validate(self) -> None:
        if len(self.node_id) != 32:
            raise InvalidInput(f"the node id must be 32 bytes, got {len(self.node_id)}")
        if len(self.commitment_atx_id) != 32:
            raise InvalidInput(f"the commitment ATX id must be 32 bytes, got {len(self.commitment_atx_id)}")
        if self.num_units < 1 or self.num_units > (1 << 32) - 1:
            raise InvalidInput(f"the number of units must be between 1 and 2^32−1, got {self.num_units}")
        if self.labels_per_unit < 1:
            raise InvalidInput(f"labels per unit must be at least 1, got {self.labels_per_unit}")
        check_max_file_size(self.max_file_size)
        check_scrypt_n(self.scrypt_n)
        n = self.layout.num_files
        first, last = self.file_range
        if not 0 <= first <= last < n:
            raise InvalidInput(
                f"file range {first}..{last} is outside the {n} file(s) of this setup (0..{n - 1})"
            )

    @property
    def layout(self) -> Layout:
        return Layout.of(self.num_units, self.labels_per_unit, self.max_file_size)

    @property
    def file_range(self) -> tuple[int, int]:
        last = self.layout.num_files - 1
        first = 0 if self.from_file is None else self.from_file
        return first, last if self.to_file is None else self.to_file

    @property
    def num_labels(self) -> int:
        return self.num_units * self.labels_per_unit


@dataclasses.dataclass(frozen=True)
class InitProgress:
    phase: str  # "labels" or "nonce-search"
    labels_done: int  # labels present in the requested file range (or searched beyond the data)
    labels_total: int  # labels of the requested file range (0 in the nonce search: open-ended)
    labels_computed: int  # labels computed by this run (for rates)
    elapsed: float  # seconds since this run started
    file: int | None
    nonce: int | None

    @property
    def labels_per_second(self) -> float:
        return self.labels_computed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.labels_per_second
        if self.phase != "labels" or rate <= 0:
            return None
        return (self.labels_total - self.labels_done) / rate

    def to_json(self) -> dict[str, Any]:
        return {
            **progress_json(self.phase, self.labels_done, self.labels_total, self.labels_per_second, self.eta_seconds),
            "file": self.file,
            "nonce": self.nonce,
        }


def progress_json(phase: str, done: int, total: int, rate: float, eta: float | None) -> dict[str, Any]:
    """The fields every `post init --json` progress line has (plain and cluster runs)."""
    return {
        "event": "progress",
        "phase": phase,
        "labelsDone": done,
        "labelsTotal": total,
        "bytesDone": done * LABEL_SIZE,
        "bytesTotal": total * LABEL_SIZE,
        "labelsPerSecond": round(rate, 1),
        "mibPerSecond": round(rate * LABEL_SIZE / (1 << 20), 4),
        "etaSeconds": None if eta is None else round(eta, 1),
    }


@dataclasses.dataclass(frozen=True)
class InitResult:
    metadata: md.PostMetadata
    labels_computed: int  # labels computed by this run (stored ones and searched ones)
    range_complete: bool  # every file of the requested range is complete
    data_complete: bool  # every file of the whole data is complete
    nonce_searched: bool  # a beyond-the-data nonce search ran
    seconds: float


# ------------------------------------------------------------------------------------------------
# Identity


def read_identity(datadir: str | os.PathLike) -> bytes | None:
    """The node id of `identity.key` in `datadir` (hex of the 64-byte ed25519 key), None if absent."""
    from core.crypto.signing import public_key_of

    path = Path(datadir) / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        raw = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as e:
        raise InitError(f"cannot read the identity key {path}: {e}") from None
    try:
        return public_key_of(raw)
    except InvalidInput as e:
        raise InitError(f"bad identity key {path}: {e}") from None


def new_identity() -> tuple[bytes, bytes]:
    """A fresh ed25519 key: (64-byte secret = seed ‖ public key, public key = node id)."""
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    public = bytes(key.verify_key)
    return bytes(key) + public, public


def save_identity(datadir: str | os.PathLike, secret: bytes) -> Path:
    """Write `identity.key` (hex, mode 0600) like postcli; never replaces an existing key."""
    path = Path(datadir) / IDENTITY_FILE
    try:
        atomicfile.ensure_directory(Path(datadir))
        return atomicfile.write_new(path, secret.hex().encode())
    except FileExistsError:
        raise InitError(f"{path} already exists; not replacing it") from None
    except OSError as e:
        raise InitError(f"cannot write the identity key {path}: {e}") from None


def load_or_create_identity(datadir: str | os.PathLike) -> tuple[bytes, bool]:
    """The node id from `identity.key` in `datadir`, creating the key if missing; (node id, created)."""
    node = read_identity(datadir)
    if node is not None:
        return node, False
    secret, node = new_identity()
    save_identity(datadir, secret)
    return node, True


# ------------------------------------------------------------------------------------------------
# VRF nonce


def vrf_best(outputs: Any, first_index: int, target: bytes) -> tuple[int, bytes] | None:
    """(index, 32-byte value) of the smallest output below `target` (ties: the lowest index)."""
    import numpy as np

    if len(outputs) == 0:
        return None
    arr = np.ascontiguousarray(outputs[:, :32], dtype=np.uint8)
    head = arr[:, :8].copy().view(">u8").ravel()
    t0 = int.from_bytes(target[:8], "big")
    best: tuple[int, bytes] | None = None
    for i in np.flatnonzero(head <= np.uint64(t0)).tolist():
        value = arr[i].tobytes()
        if value < target and (best is None or value < best[1]):
            best = (first_index + i, value)
    return best


# ------------------------------------------------------------------------------------------------
# The initializer


def default_checker(backend: LabelBackend) -> Checker | None:
    """How the last label of each batch is re-checked: GPU → the numba CPU kernel, CPU → the
    plain-Python reference, reference → not at all."""
    from core.post import labels

    kind = backend_kind(backend)
    if kind == "reference":
        return None
    if kind == "cpu":
        return labels.scrypt_output
    cpu = labels.get_backend("cpu")
    return lambda commitment, index, n: bytes(cpu.compute(commitment, index, 1, n)[0])


def backend_kind(backend: LabelBackend) -> str:
    """"reference", "cpu" (the numba kernel) or "gpu" (anything else: OpenCL devices)."""
    from core.post import labels

    kind = getattr(backend, "kind", None)
    if kind in ("reference", "cpu", "gpu"):
        return kind
    if isinstance(backend, labels.ReferenceBackend):
        return "reference"
    if getattr(backend, "name", None) == labels.CPU_PROVIDER_NAME:
        return "cpu"
    return "gpu"


def default_batch(backend: LabelBackend) -> int:
    batches = {"reference": DEFAULT_REFERENCE_BATCH, "cpu": DEFAULT_CPU_BATCH}
    return batches.get(backend_kind(backend), DEFAULT_GPU_BATCH)


class Initializer:
    """Creates or resumes the PoST data of one identity in one directory."""

    def __init__(
        self,
        options: InitOptions,
        backend: LabelBackend,
        *,
        checker: Checker | None | str = "default",
        batch_size: int | None = None,
        search_step: int | None = None,
        progress: Callable[[InitProgress], None] | None = None,
        stop: Callable[[], bool] | None = None,
        reset: bool = False,
        check_space: bool = True,
        checkpoint_seconds: float | None = None,
        search_beyond: bool = True,
    ) -> None:
        options.validate()
        self.opts = options
        self.backend = backend
        self.checker = default_checker(backend) if checker == "default" else checker
        self.batch_size = max(1, batch_size or default_batch(backend))
        self.search_step = max(1, min(search_step or DEFAULT_SEARCH_STEP, options.num_labels))
        self.progress = progress
        self.stop = stop
        self.reset = reset
        self.check_space = check_space
        # a batch longer than this is written in parts (checkpoints): its labels survive a kill -9
        self.checkpoint_seconds = CHECKPOINT_SECONDS if checkpoint_seconds is None else max(0.0, checkpoint_seconds)
        # off for a part of the data computed elsewhere (a cluster task): its metadata's nonce covers only
        # that part, so "no nonce" there does not mean "no nonce in the data"
        self.search_beyond = search_beyond
        self.layout = options.layout
        self.target = vrf_difficulty(options.num_labels)
        from core.crypto.hashing import hash32

        self.commitment = hash32(options.node_id, options.commitment_atx_id)  # spec §1.1
        self._computed = 0
        self._started = 0.0
        self._chunk = 0
        self._range_total = 0
        self._range_done = 0

    # ---- public ----

    def preflight(self) -> md.PostMetadata | None:
        """Every refusal `run` would make, without writing anything; the existing metadata if any."""
        datadir = Path(self.opts.datadir)
        if self.reset or not datadir.exists():
            first, last = self.opts.file_range
            needed = sum(self.layout.file_bytes(k) for k in range(first, last + 1))
            freed = sum(p.stat().st_size for p in data_files(datadir).values()) if self.reset else 0
            self._check_space(datadir, max(0, needed - freed))
            return None
        meta = self._check_metadata(datadir)
        self._prepare_files(datadir, dry_run=True)
        return meta

    def run(self) -> InitResult:
        datadir = Path(self.opts.datadir)
        try:
            atomicfile.ensure_directory(datadir)
        except OSError as e:
            raise InitError(f"cannot create {datadir}: {e}") from None
        self._started = time.monotonic()
        with DirLock(datadir / LOCK_FILE, "smesh post init"):  # one init per directory
            meta = self.prepare()
            first, last = self.opts.file_range
            state = disk_state(datadir, self.layout)
            self._range_total = sum(f.expected_bytes for f in state.files[first : last + 1]) // LABEL_SIZE
            self._range_done = sum(f.labels_present for f in state.files[first : last + 1])
            best = self._current_best(meta)
            for k in range(first, last + 1):
                meta, best = self._fill_file(datadir, k, meta, best)
            state = disk_state(datadir, self.layout)
            searched = False
            if state.complete and meta.nonce is None and self.search_beyond:
                meta = self._search_beyond(datadir, meta)
                searched = True
            return InitResult(
                meta, self._computed, state.complete_range(first, last), state.complete, searched,
                time.monotonic() - self._started,
            )  # fmt: skip

    def prepare(self) -> md.PostMetadata:
        """What `run` does before computing, for a caller that holds the directory's lock (`run` itself,
        or a cluster run that fills the files elsewhere): --reset, the refusals, the torn-label cut, the
        disk-space check, the metadata (written if new) and the check of every resume point."""
        datadir = Path(self.opts.datadir)
        if self.reset:
            self._reset(datadir)
        meta = self._check_metadata(datadir)
        self._prepare_files(datadir)  # refusals and the disk-space check before anything is written
        if meta is None:
            o = self.opts
            meta = md.PostMetadata(o.node_id, o.commitment_atx_id, o.labels_per_unit, o.num_units, o.max_file_size)
            md.save(datadir, meta)
        self._check_resume_points(datadir)
        return meta

    def search_nonce(self, meta: md.PostMetadata, where: str | os.PathLike | None = None) -> md.PostMetadata:
        """The beyond-the-data VRF search alone, from `meta`'s LastPosition (or the end of the data), for
        complete data without a nonce; its progress is saved as metadata in `where` (default: the datadir)."""
        self._started = time.monotonic()
        return self._search_beyond(Path(where if where is not None else self.opts.datadir), meta)

    # ---- steps ----

    def _reset(self, datadir: Path) -> None:
        for path in data_files(datadir).values():
            path.unlink()
        md.metadata_path(datadir).unlink(missing_ok=True)

    def _check_metadata(self, datadir: Path) -> md.PostMetadata | None:
        o = self.opts
        if md.exists(datadir):
            meta = md.load(datadir)
            for field, want, have, show in (
                ("NodeId", o.node_id, meta.node_id, bytes.hex),
                ("CommitmentAtxId", o.commitment_atx_id, meta.commitment_atx_id, bytes.hex),
                ("LabelsPerUnit", o.labels_per_unit, meta.labels_per_unit, str),
                ("NumUnits", o.num_units, meta.num_units, str),
                ("MaxFileSize", o.max_file_size, meta.max_file_size, str),
            ):
                if want != have:
                    raise MetadataMismatch(
                        f"{datadir} holds PoST data for another setup: {field} is {show(have)} there, "
                        f"{show(want)} requested (use another --datadir, or --reset to delete that data)"
                    )
            return meta
        if data_files(datadir):
            raise InitError(
                f"{datadir} holds postdata files but no {md.METADATA_FILE}: refusing to touch them "
                "(use another --datadir, or --reset to delete them)"
            )
        return None

    def _prepare_files(self, datadir: Path, dry_run: bool = False) -> None:
        state = disk_state(datadir, self.layout)
        if state.extra:
            raise InitError(
                f"{state.extra[0]} is beyond the {self.layout.num_files} file(s) of this setup: "
                "refusing to delete it (remove it yourself or use --reset)"
            )
        first, last = self.opts.file_range
        for f in state.files:
            if f.oversized:
                raise InitError(
                    f"postdata_{f.number}.bin holds {f.size} bytes, more than the {f.expected_bytes} of this setup: "
                    "refusing to truncate it (use --reset to start over)"
                )
        needed = 0
        for f in state.files[first : last + 1]:
            if f.torn and not dry_run:  # a partial label from an interrupted write: garbage, cut it off
                with open(file_path(datadir, f.number), "r+b") as fh:
                    fh.truncate(f.size - f.size % LABEL_SIZE)
                    os.fsync(fh.fileno())
            needed += f.expected_bytes - f.labels_present * LABEL_SIZE
        self._check_space(datadir, needed)

    def _check_space(self, datadir: Path, needed: int) -> None:
        if not self.check_space or not needed:
            return
        where = datadir
        while not where.exists() and where != where.parent:  # a directory still to be made
            where = where.parent
        free = shutil.disk_usage(where).free
        if free < needed:
            try:  # no space, or no place to write at all (read-only, permissions, /proc or /sys)?
                with tempfile.TemporaryFile(dir=where):
                    pass
            except OSError as e:
                raise InitError(f"cannot write in {datadir}: {where} is not writable ({e.strerror})") from None
            raise InitError(f"not enough disk space in {datadir}: {_size(needed)} needed, {_size(free)} free")

    def _check_resume_points(self, datadir: Path) -> None:
        """Before appending to a partial file, recompute its last stored label: data made with other
        parameters (another scrypt N, say) or damaged at the end must not be extended."""
        first, last = self.opts.file_range
        for f in disk_state(datadir, self.layout).files[first : last + 1]:
            if 0 < f.labels_present < f.expected_bytes // LABEL_SIZE:
                start, _ = self.layout.file_range(f.number)
                index = start + f.labels_present - 1
                offset = (f.labels_present - 1) * LABEL_SIZE
                with open(file_path(datadir, f.number), "rb") as fh:
                    fh.seek(offset)
                    stored = fh.read(LABEL_SIZE)
                if stored != self._label32(index)[:LABEL_SIZE]:
                    raise InitError(
                        f"postdata_{f.number}.bin: the label at offset {offset} differs from its recomputation: "
                        f"the data was made with other parameters (scrypt N?) or is damaged; "
                        "not appending to it (check with 'smesh post verify-data', or --reset)"
                    )

    def _current_best(self, meta: md.PostMetadata) -> tuple[int, bytes] | None:
        """The full 32-byte value of the metadata's nonce (recomputed: only 16 bytes are stored)."""
        if meta.nonce is None:
            return None
        return meta.nonce, self._label32(meta.nonce)

    def _label32(self, index: int) -> bytes:
        out = self.backend.compute(self.commitment, index, 1, self.opts.scrypt_n)
        return bytes(out[0][:32])

    def _fill_file(self, datadir: Path, k: int, meta: md.PostMetadata, best):  # noqa: ANN001, ANN202
        start, end = self.layout.file_range(k)
        path = file_path(datadir, k)
        present = path.stat().st_size // LABEL_SIZE if path.exists() else 0
        if start + present >= end:
            self._report("labels", k, meta)
            return meta, best
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as fh:
            position = start + present
            while position < end:
                outputs = self._compute_batch(
                    "labels", position, min(self.batch_size, end - position), k, meta, self.checkpoint_seconds
                )
                count = len(outputs)
                self._check_last(position, count, outputs)
                found = vrf_best(outputs, position, self.target)
                if found is not None and (best is None or found[1] < best[1]):
                    best = found
                    meta = meta.replace(nonce=found[0], nonce_value=found[1][:LABEL_SIZE])
                    md.save(datadir, meta)  # before the labels: everything on disk was considered
                fh.write(_labels_bytes(outputs))
                fh.flush()
                os.fsync(fh.fileno())
                position += count
                self._range_done += count
                self._report("labels", k, meta)
        return meta, best

    def _compute_batch(self, phase: str, position: int, count: int, k: int | None, meta: md.PostMetadata,
                       max_seconds: float | None = None):  # noqa: ANN202  # fmt: skip
        """Up to `count` outputs from `position`, in chunks sized for ~TARGET_CHUNK_SECONDS each (progress);
        with `max_seconds`, fewer once that much time went by (bounds the work a kill can lose)."""
        import numpy as np

        parts = []
        done = 0
        began = time.monotonic()
        while done < count and not (max_seconds is not None and done and time.monotonic() - began > max_seconds):
            if self.stop is not None and self.stop():
                if done and phase == "labels":  # Ctrl-C keeps what is computed: the caller writes it first
                    break
                raise InitStopped(self._stopped_message(phase))
            n = min(self._next_chunk(count), count - done)
            t0 = time.monotonic()
            out = np.asarray(self.backend.compute(self.commitment, position + done, n, self.opts.scrypt_n))
            self._tune_chunk(n, time.monotonic() - t0)
            if out.shape[0] != n or out.shape[1] < 32:
                raise InitError(f"label backend {self.backend.name} returned {out.shape} for {n} labels")
            parts.append(out)
            done += n
            self._computed += n
            self._report(phase, k, meta, extra=done)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _stopped_message(self, phase: str) -> str:
        if phase == "labels":
            kept = f"{self._range_done} of {self._range_total} labels of this range are written"
        else:
            kept = "the VRF nonce search keeps its position"
        return f"init stopped: {kept}; run the same command again to continue"

    def _next_chunk(self, batch: int) -> int:
        if self._chunk == 0:  # GPUs need big launches; chunks then grow to ~TARGET_CHUNK_SECONDS
            self._chunk = 4096 if backend_kind(self.backend) == "gpu" else 16
        return self._chunk

    def _tune_chunk(self, n: int, seconds: float) -> None:
        if n >= self._chunk and seconds > 0:
            scale = TARGET_CHUNK_SECONDS / seconds
            self._chunk = int(min(max(self._chunk * min(scale, 4.0), 16), self.batch_size))

    def _check_last(self, position: int, count: int, outputs) -> None:  # noqa: ANN001
        if self.checker is None:
            return
        index = position + count - 1
        want = bytes(self.checker(self.commitment, index, self.opts.scrypt_n))[:32]
        got = bytes(outputs[count - 1][:32])
        if got != want:
            raise LabelMismatch(
                f"label backend {self.backend.name} computed a wrong label at index {index} "
                f"(CPU re-check differs); nothing of that batch was written"
            )

    def _search_beyond(self, datadir: Path, meta: md.PostMetadata) -> md.PostMetadata:
        """No label of the data is below the target: keep computing (not storing) labels past the end."""
        position = meta.last_position if meta.last_position is not None else self.opts.num_labels
        while True:
            count = self.search_step
            outputs = self._compute_batch("nonce-search", position, count, None, meta)
            found = vrf_best(outputs, position, self.target)
            position += count
            if found is not None:
                meta = meta.replace(nonce=found[0], nonce_value=found[1][:LABEL_SIZE], last_position=position)
                md.save(datadir, meta)
                self._report("nonce-search", None, meta)
                return meta
            meta = meta.replace(last_position=position)
            md.save(datadir, meta)
            self._report("nonce-search", None, meta)

    def _report(self, phase: str, k: int | None, meta: md.PostMetadata, extra: int = 0) -> None:
        if self.progress is None:
            return
        if phase == "labels":
            total = self._range_total
            done = min(self._range_done + extra, total)
        else:
            total = 0
            done = (meta.last_position or self.opts.num_labels) - self.opts.num_labels + extra
        self.progress(
            InitProgress(phase, done, total, self._computed, time.monotonic() - self._started, k, meta.nonce)
        )


def _labels_bytes(outputs) -> bytes:  # noqa: ANN001
    import numpy as np

    return np.ascontiguousarray(outputs[:, :LABEL_SIZE]).tobytes()


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# ------------------------------------------------------------------------------------------------
# Merging the VRF nonces of partial runs


@dataclasses.dataclass(frozen=True)
class MergeResult:
    metadata: md.PostMetadata
    source: Path | None  # where the winning nonce came from (None: no nonce anywhere)
    candidates: tuple[tuple[Path, int, bool], ...]  # (file, nonce, valid)


def merge_nonces(
    datadir: str | os.PathLike,
    sources: list[str | os.PathLike],
    scrypt_n: int,
    *,
    label_fn: Checker | None = None,
    write: bool = True,
) -> MergeResult:
    """Put the best VRF nonce of `datadir`'s and the sources' metadata into `datadir`'s metadata.

    All files must describe the same identity and shape.  Every claimed nonce is recomputed (the full
    32-byte label): invalid ones are skipped, the smallest value wins (ties: the smaller nonce).
    """
    target_path = md.metadata_path(datadir)
    base = md.load(datadir)
    metas: list[tuple[Path, md.PostMetadata]] = [(target_path, base)]
    for src in sources:
        p = Path(src)
        path = md.metadata_path(p) if p.is_dir() else p
        metas.append((path, md.load_file(path)))
    for path, m in metas[1:]:
        for field in ("node_id", "commitment_atx_id", "labels_per_unit", "num_units", "max_file_size"):
            if getattr(m, field) != getattr(base, field):
                raise MetadataMismatch(f"{path} describes other data than {target_path}: {field} differs")
    if label_fn is None:
        from core.post import labels

        cpu = labels.get_backend("cpu")

        def label_fn(commitment: bytes, index: int, n: int) -> bytes:
            return bytes(cpu.compute(commitment, index, 1, n)[0])

    return _merge(base, metas, scrypt_n, label_fn, write, datadir)


def _merge(base, metas, scrypt_n, label_fn, write, datadir):  # noqa: ANN001, ANN202
    from core.crypto.hashing import hash32 as calc_commitment

    commitment = calc_commitment(base.node_id, base.commitment_atx_id)
    target = vrf_difficulty(base.num_labels)
    values: dict[int, bytes] = {}
    candidates = []
    best: tuple[bytes, int, Path, md.PostMetadata] | None = None
    for path, m in metas:
        if m.nonce is None:
            continue
        if m.nonce not in values:
            values[m.nonce] = bytes(label_fn(commitment, m.nonce, scrypt_n))[:32]
        value = values[m.nonce]
        valid = value < target
        candidates.append((path, m.nonce, valid))
        if valid and (best is None or (value, m.nonce) < (best[0], best[1])):
            best = (value, m.nonce, path, m)
    if best is None:
        return MergeResult(base, None, tuple(candidates))
    value, nonce, path, source = best
    merged = base.replace(nonce=nonce, nonce_value=value[:LABEL_SIZE], last_position=source.last_position)
    if write and merged != base:
        md.save(datadir, merged)
    return MergeResult(merged, path, tuple(candidates))
