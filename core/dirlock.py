"""An exclusive lock on a data directory for the lifetime of the process that uses it.

`smesh node run`, `smesh poet serve` and `smesh post init` each own their directory: two processes
on one SQLite database or one set of PoST files corrupt each other's work (a second PoET would
close and publish the first one's rounds).  The lock is an advisory `flock` on a file in the
directory, so the kernel drops it when its process dies (kill -9 included) and a restart never
finds a stale lock.  The file holds the owner's pid, for the refusal message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from core.errors import SmeshError


class DirInUse(SmeshError):
    """The directory is locked by another running process."""


class DirLock:
    """`with DirLock(path, "smesh poet serve"):` or `acquire()` / `release()`; path is the lock file."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path, self.owner = Path(path), owner
        self.fd: int | None = None

    def acquire(self) -> DirLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            holder = f"another {self.owner}" + (f" (pid {pid})" if pid.isdigit() else "")
            raise DirInUse(f"{self.path.parent} is in use by {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
