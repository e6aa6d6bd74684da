"""Where labels live on disk (spec/post.md §1.3) and what a data directory currently holds.

File `k` (`postdata_<k>.bin`, decimal k) holds the 16-byte labels of global indices
[k·labels_per_file, min((k+1)·labels_per_file, total)), concatenated without a header.  Files are
located by their parsed number, never by their rank in a directory listing, so a missing middle file
cannot silently shift indices.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

from core.errors import SmeshError

LABEL_SIZE = 16
FILE_RE = re.compile(r"^postdata_(\d+)\.bin$")


class LayoutError(SmeshError):
    """Data files that do not match the layout the metadata describes."""


@dataclasses.dataclass(frozen=True)
class Layout:
    """The file split of `total_labels` labels into files of at most `max_file_size` bytes."""

    total_labels: int
    max_file_size: int

    def __post_init__(self) -> None:
        if self.max_file_size < LABEL_SIZE or self.max_file_size % LABEL_SIZE:
            raise LayoutError(f"max file size {self.max_file_size} is not a positive multiple of {LABEL_SIZE}")
        if self.total_labels < 1:
            raise LayoutError("a PoST layout needs at least one label")

    @classmethod
    def of(cls, num_units: int, labels_per_unit: int, max_file_size: int) -> Layout:
        return cls(num_units * labels_per_unit, max_file_size)

    @property
    def labels_per_file(self) -> int:
        return self.max_file_size // LABEL_SIZE

    @property
    def num_files(self) -> int:
        return -(-self.total_labels // self.labels_per_file)

    @property
    def total_bytes(self) -> int:
        return self.total_labels * LABEL_SIZE

    def file_range(self, k: int) -> tuple[int, int]:
        """Global label indices [start, end) held by file k."""
        if not 0 <= k < self.num_files:
            raise LayoutError(f"file {k} is outside 0..{self.num_files - 1}")
        start = k * self.labels_per_file
        return start, min(start + self.labels_per_file, self.total_labels)

    def file_labels(self, k: int) -> int:
        start, end = self.file_range(k)
        return end - start

    def file_bytes(self, k: int) -> int:
        return self.file_labels(k) * LABEL_SIZE

    def locate(self, index: int) -> tuple[int, int]:
        """(file number, byte offset in that file) of global label `index`."""
        if not 0 <= index < self.total_labels:
            raise LayoutError(f"label index {index} is outside 0..{self.total_labels - 1}")
        return index // self.labels_per_file, (index % self.labels_per_file) * LABEL_SIZE


def file_name(k: int) -> str:
    return f"postdata_{k}.bin"


def file_path(datadir: str | os.PathLike, k: int) -> Path:
    return Path(datadir) / file_name(k)


def data_files(datadir: str | os.PathLike) -> dict[int, Path]:
    """Every `postdata_<k>.bin` in the directory, by parsed number."""
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(datadir))
    except FileNotFoundError:
        return found
    for entry in entries:
        m = FILE_RE.match(entry.name)
        if m and entry.is_file():
            k = int(m.group(1))
            if k in found:  # e.g. postdata_1.bin and postdata_01.bin
                raise LayoutError(f"two files claim number {k} in {datadir}: {found[k].name} and {entry.name}")
            found[k] = Path(entry.path)
    return found


@dataclasses.dataclass(frozen=True)
class FileState:
    number: int
    expected_bytes: int
    size: int  # bytes on disk (0 if the file is missing)
    exists: bool

    @property
    def labels_present(self) -> int:
        """Whole labels on disk (a torn trailing partial label does not count)."""
        return min(self.size, self.expected_bytes) // LABEL_SIZE

    @property
    def complete(self) -> bool:
        return self.size == self.expected_bytes

    @property
    def torn(self) -> bool:
        return self.size % LABEL_SIZE != 0

    @property
    def oversized(self) -> bool:
        return self.size > self.expected_bytes


@dataclasses.dataclass(frozen=True)
class DiskState:
    layout: Layout
    files: tuple[FileState, ...]  # one per file of the layout, in order
    extra: tuple[Path, ...]  # data files whose number is beyond the layout

    @property
    def labels_present(self) -> int:
        return sum(f.labels_present for f in self.files)

    @property
    def bytes_present(self) -> int:
        return sum(min(f.size, f.expected_bytes) for f in self.files)

    @property
    def complete(self) -> bool:
        return all(f.complete for f in self.files) and not self.extra

    def complete_range(self, first: int, last: int) -> bool:
        return all(f.complete for f in self.files[first : last + 1])


def disk_state(datadir: str | os.PathLike, layout: Layout) -> DiskState:
    present = data_files(datadir)
    states = []
    for k in range(layout.num_files):
        path = present.get(k)
        size = path.stat().st_size if path is not None else 0
        states.append(FileState(k, layout.file_bytes(k), size, path is not None))
    extra = tuple(p for k, p in sorted(present.items()) if k >= layout.num_files)
    return DiskState(layout, tuple(states), extra)


def read_labels(datadir: str | os.PathLike, layout: Layout, start: int, count: int) -> bytes:
    """`count` labels from global index `start`, across file boundaries."""
    out = bytearray()
    index = start
    end = start + count
    while index < end:
        k, offset = layout.locate(index)
        _, file_end = layout.file_range(k)
        n = min(end, file_end) - index
        path = file_path(datadir, k)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read(n * LABEL_SIZE)
        except FileNotFoundError:
            raise LayoutError(f"missing data file {path}") from None
        if len(chunk) != n * LABEL_SIZE:
            raise LayoutError(f"{path} is shorter than the layout requires ({offset + len(chunk)} bytes)")
        out += chunk
        index += n
    return bytes(out)


def iter_batches(
    datadir: str | os.PathLike, layout: Layout, batch_bytes: int = 1 << 20
) -> Iterator[tuple[int, bytes]]:
    """(first global label index, bytes) of every file in order, in batches of at most `batch_bytes`.

    Batches never span two files; a missing or short file is an error naming it.
    """
    batch_bytes = max(LABEL_SIZE, batch_bytes - batch_bytes % LABEL_SIZE)
    for k in range(layout.num_files):
        path = file_path(datadir, k)
        start, _ = layout.file_range(k)
        expected = layout.file_bytes(k)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise LayoutError(f"missing data file {path}") from None
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if size < expected:
                raise LayoutError(f"{path} holds {size} bytes, the layout requires {expected}: init is incomplete")
            done = 0
            while done < expected:
                chunk = fh.read(min(batch_bytes, expected - done))
                if not chunk:
                    raise LayoutError(f"{path} ended early at byte {done}")
                yield start + done // LABEL_SIZE, chunk
                done += len(chunk)
