"""The long-running PoSW prover: grows the tree until a deadline, survives kill -9, builds the proof.

Work directory (spec/poet.md §2.6, our own checkpoint format):

* `layercache_<h>.bin`: layer h of the tree, the raw concatenation of its 32-byte complete
  nodes (leaves are layer 0).  Every layer is kept on disk, so the disk use is about
  2 × N × 32 bytes and the memory of a running prover only the 64 parked nodes.
* `posw_state.json`: the checkpoint, replaced atomically every `checkpoint_seconds` of work
  and when `run` returns, after the layer files were flushed and fsynced: statement, T,
  depth, NumLeaves and the parked nodes.
* `posw.lock`: flock-ed while a prover works in the directory.

Recovery: layer files may hold nodes written after the last checkpoint (the process was
killed); they are truncated to the width the checkpoint implies (N >> h nodes) and the
work is redone.  A file shorter than that, or whose last node disagrees with the parked node
of the checkpoint, means the directory was damaged: the prover refuses to continue.

The prover is a plain object holding only paths and bytes, so it can be handed to a child
process (spawn or fork) and run there; the service re-reads progress from the checkpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from core import atomicfile
from core.poet import merkle
from core.poet.native import layer_offsets
from core.poet.posw import (
    LABEL_HASH_DEPTH,
    MerkleProof,
    PoetProof,
    PoswError,
    T,
    best_kernel,
    fiat_shamir,
    merkle_hash,
    verify,
)

__all__ = ["CHECKPOINT_FILE", "Prover", "layer_file_name", "prove"]

CHECKPOINT_FILE = "posw_state.json"
LOCK_FILE = "posw.lock"
FORMAT = "smesh-posw-1"
BATCH_SECONDS = 0.05  # one kernel call: how quickly a stop or deadline is noticed
PROGRESS_SECONDS = 0.25  # how often on_progress is called at most
MAX_BATCH = 1 << 16


def layer_file_name(height: int) -> str:
    return f"layercache_{height}.bin"


class _StopFlag(Protocol):
    """threading.Event or multiprocessing.Event."""

    def is_set(self) -> bool: ...


class Prover:
    """Grows the PoSW tree for `statement` in `workdir`, resuming what a checkpoint there holds."""

    def __init__(
        self,
        statement: bytes,
        workdir: Path,
        *,
        t: int = T,
        depth: int = LABEL_HASH_DEPTH,
        checkpoint_seconds: float = 2.0,
    ) -> None:
        if not isinstance(statement, (bytes, bytearray, memoryview)):
            raise TypeError("the statement must be bytes")
        if t < 1 or depth < 1:
            raise ValueError("t and depth must be at least 1")
        if not checkpoint_seconds > 0:
            raise ValueError("checkpoint_seconds must be positive")
        self.statement = bytes(statement)
        self.workdir = Path(workdir)
        self.t = t
        self.depth = depth
        self.checkpoint_seconds = checkpoint_seconds
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._load_checkpoint()

    # -- state -------------------------------------------------------------------------------

    @property
    def leaves(self) -> int:
        """Leaves in the tree (in this process: as of the last batch; else as of the checkpoint)."""
        return self._n

    def _checkpoint_path(self) -> Path:
        return self.workdir / CHECKPOINT_FILE

    def _load_checkpoint(self) -> None:
        """Take N and the parked nodes from the checkpoint (none: an empty tree)."""
        path = self._checkpoint_path()
        self._n = 0
        self._parked = bytearray(64 * 32)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            state = json.loads(raw)
            if state.get("format") != FORMAT:
                raise ValueError(f"unknown format {state.get('format')!r}")
            statement = bytes.fromhex(state["statement"])
            t, depth, n = int(state["t"]), int(state["depth"]), int(state["leaves"])
            parked = [bytes.fromhex(p) for p in state["parked"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise PoswError(f"cannot read the PoSW checkpoint {path}: {exc}") from None
        if statement != self.statement:
            raise PoswError(
                f"{self.workdir} holds work for statement {statement.hex() or '(empty)'}, "
                f"not {self.statement.hex() or '(empty)'}"
            )
        if depth != self.depth or t != self.t:
            raise PoswError(
                f"{self.workdir} holds work with T={t} and depth {depth}, not T={self.t} and depth {self.depth}"
            )
        heights = [h for h in range(64) if (n >> h) & 1]
        if n < 0 or len(parked) != len(heights) or any(len(p) != 32 for p in parked):
            raise PoswError(f"the PoSW checkpoint {path} is inconsistent: {len(parked)} parked nodes for {n} leaves")
        for h, node in zip(heights, parked, strict=True):
            self._parked[32 * h : 32 * h + 32] = node
        self._n = n

    def _parked_list(self) -> list[bytes | None]:
        return [bytes(self._parked[32 * h : 32 * h + 32]) if (self._n >> h) & 1 else None for h in range(64)]

    def _write_checkpoint(self, files: dict[int, IO[bytes]]) -> None:
        for f in files.values():
            f.flush()
            os.fsync(f.fileno())
        state = {
            "format": FORMAT,
            "statement": self.statement.hex(),
            "t": self.t,
            "depth": self.depth,
            "leaves": self._n,
            "parked": [p.hex() for p in self._parked_list() if p is not None],
        }
        atomicfile.replace(self._checkpoint_path(), json.dumps(state).encode(), mode=0o644)

    @contextmanager
    def _locked(self):
        fd = os.open(self.workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PoswError(f"another PoSW prover is working in {self.workdir}") from None
            except OSError as exc:
                raise PoswError(f"cannot lock {self.workdir / LOCK_FILE}: {exc}") from exc
            yield
        finally:
            os.close(fd)

    # -- layer files -------------------------------------------------------------------------

    def _open_layers(self) -> dict[int, IO[bytes]]:
        """Open every layer file for appending, cut back to the checkpoint (see the module doc)."""
        files: dict[int, IO[bytes]] = {}
        try:
            heights = set(range(self._n.bit_length()))
            for entry in os.listdir(self.workdir):
                if entry.startswith("layercache_") and entry.endswith(".bin"):
                    try:
                        heights.add(int(entry[len("layercache_") : -len(".bin")]))
                    except ValueError:
                        continue
            for h in sorted(heights):
                path = self.workdir / layer_file_name(h)
                width = self._n >> h if h < 64 else 0
                if not path.exists():
                    if width:
                        raise PoswError(f"{path} is missing; the checkpoint needs {width} nodes there")
                    continue
                f = open(path, "r+b")  # noqa: SIM115 - kept open for the whole run
                files[h] = f
                size = os.fstat(f.fileno()).st_size
                if size < 32 * width:
                    raise PoswError(
                        f"{path} holds {size // 32} nodes but the checkpoint needs {width}: "
                        "the work directory is damaged"
                    )
                f.truncate(32 * width)
                f.seek(32 * width)
                if width & 1:
                    f.seek(32 * (width - 1))
                    if f.read(32) != bytes(self._parked[32 * h : 32 * h + 32]):
                        raise PoswError(
                            f"{path} disagrees with the checkpoint's parked node: the work directory is damaged"
                        )
            return files
        except BaseException:
            for f in files.values():
                f.close()
            raise

    # -- work --------------------------------------------------------------------------------

    def run(
        self,
        deadline: float | None = None,
        stop: _StopFlag | None = None,
        max_leaves: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Add leaves until the wall-clock `deadline`, `stop` is set or `max_leaves` are reached.

        Whatever comes first, the tree gets at least `t` leaves.  Checkpoints every
        `checkpoint_seconds` and before returning.  `on_progress(leaves)` is called a few times a
        second and at the end.  Returns the number of leaves.
        """
        if deadline is None and stop is None and max_leaves is None:
            raise ValueError("run needs a deadline, a stop event or max_leaves")
        target = None if max_leaves is None else max(max_leaves, self.t)
        kernel = best_kernel()
        with self._locked():
            self._load_checkpoint()  # another process may have worked here since
            try:
                files = self._open_layers()
                try:
                    self._grow(kernel, files, deadline, stop, target, on_progress)
                finally:
                    try:
                        self._write_checkpoint(files)
                    finally:
                        for f in files.values():
                            f.close()
            except OSError as exc:
                raise PoswError(f"the PoSW prover in {self.workdir} cannot go on: {exc}") from exc
        if on_progress:
            on_progress(self._n)
        return self._n

    def _grow(self, kernel: Any, files: dict, deadline, stop, target, on_progress) -> None:
        out = bytearray()
        rate = 0.0  # leaves per second, measured
        batch = 16
        last_checkpoint = last_progress = time.monotonic()
        while True:
            n = self._n
            if n >= self.t:
                if target is not None and n >= target:
                    return
                if stop is not None and stop.is_set():
                    return
                if deadline is not None and time.time() >= deadline:
                    return
            # Size the batch so that a deadline is met closely, and a stop or deadline that has
            # already passed before t leaves only finishes those.
            count = batch
            if target is not None:
                count = min(count, target - n)
            if deadline is not None:
                left = deadline - time.time()
                if left <= 0:
                    count = min(count, self.t - n)
                elif rate > 0:
                    count = min(count, max(int(left * rate), self.t - n, 1))
            if stop is not None and stop.is_set():
                count = min(count, self.t - n)

            need = 32 * layer_offsets(n, count)[64]
            if len(out) < need:
                out = bytearray(need)
            began = time.monotonic()
            parked = bytearray(self._parked)
            offsets = kernel.extend(self.statement, self.depth, n, parked, count, out)
            self._append(files, n, count, offsets, out)
            self._parked = parked
            self._n = n + count
            now = time.monotonic()

            elapsed = now - began
            if elapsed > 0:
                measured = count / elapsed
                rate = measured if rate == 0 else 0.7 * rate + 0.3 * measured
                batch = max(1, min(MAX_BATCH, int(rate * BATCH_SECONDS)))
            elif batch < MAX_BATCH:
                batch *= 2
            if now - last_checkpoint >= self.checkpoint_seconds:
                self._write_checkpoint(files)
                last_checkpoint = time.monotonic()
            if on_progress and now - last_progress >= PROGRESS_SECONDS:
                on_progress(self._n)
                last_progress = now

    def _append(self, files: dict[int, IO[bytes]], start: int, count: int, offsets: list[int], out: bytearray) -> None:
        view = memoryview(out)
        for h in range(64):
            lo, hi = offsets[h], offsets[h + 1]
            if lo == hi:
                break
            f = files.get(h)
            if f is None:
                f = files[h] = open(self.workdir / layer_file_name(h), "w+b")  # noqa: SIM115
            f.write(view[32 * lo : 32 * hi])

    # -- proof -------------------------------------------------------------------------------

    def proof(self) -> PoetProof:
        """Open the Fiat–Shamir leaves of the tree as it stands (needs at least t leaves)."""
        mh = merkle_hash(self.statement)
        with self._locked():
            self._load_checkpoint()
            n = self._n
            if n < self.t:
                raise PoswError(f"the tree has {n} leaves; a proof needs at least {self.t}")
            readers: dict[int, IO[bytes]] = {}

            def stored(h: int, j: int) -> bytes:
                f = readers.get(h)
                if f is None:
                    f = readers[h] = open(self.workdir / layer_file_name(h), "rb")  # noqa: SIM115
                f.seek(32 * j)
                node = f.read(32)
                if len(node) != 32:
                    raise PoswError(f"{layer_file_name(h)} ends before node {j}: the work directory is damaged")
                return node

            try:
                root = merkle.root_from_parked(n, self._parked_list(), mh)
                indices = fiat_shamir(root, n, self.t)
                leaves = tuple(stored(0, i) for i in indices)
                nodes = tuple(merkle.proof_nodes(n, indices, stored, mh))
            except FileNotFoundError as exc:
                raise PoswError(f"{exc.filename} is missing: the work directory is damaged") from None
            finally:
                for f in readers.values():
                    f.close()
        proof = PoetProof(merkle=MerkleProof(root=root, proven_leaves=leaves, proof_nodes=nodes), leaf_count=n)
        try:
            verify(self.statement, proof, self.t, depth=self.depth)
        except PoswError as exc:
            raise PoswError(
                f"the stored tree in {self.workdir} gives a bad proof ({exc}): the work directory is damaged"
            ) from None
        return proof


def prove(statement: bytes, workdir: Path, deadline: float, **kw: Any) -> PoetProof:
    """Run (or resume) a prover in `workdir` until `deadline` and return its proof.

    Keyword arguments go to `Prover` (t, depth, checkpoint_seconds) or to `Prover.run` (stop,
    max_leaves, on_progress).
    """
    init = {k: kw.pop(k) for k in ("t", "depth", "checkpoint_seconds") if k in kw}
    prover = Prover(statement, workdir, **init)
    prover.run(deadline=deadline, **kw)
    return prover.proof()

