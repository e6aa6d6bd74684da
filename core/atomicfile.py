"""Crash-safe writes of small secret files: keys, wallets, metadata (ARCHITECTURE.md, Storage).

Data goes to a fsynced temp file in the target's directory, which is then linked (new files:
fails if the target exists, so nothing is ever overwritten) or renamed (replacements) into
place; the directory is fsynced so the name survives a crash.  Files get mode 0600.
Errors are plain `OSError`s (`FileExistsError` for an existing target): callers word them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def ensure_directory(directory: Path, mode: int = 0o700) -> None:
    """Create `directory` (and parents) with `mode` if missing."""
    if os.path.lexists(directory) and not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    if not directory.is_dir():
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
        os.chmod(directory, mode)


def fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


def _write_fd(fd: int, data: bytes, mode: int) -> None:
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_temp(target: Path, data: bytes, mode: int) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        _write_fd(fd, data, mode)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_new(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> Path:
    """Create `path` holding `data`; raise FileExistsError rather than replace anything."""
    target = Path(path)
    if os.path.lexists(target):
        raise FileExistsError(target)
    tmp = _write_temp(target, data, mode)
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this file system: an exclusive create is the next best thing.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            _write_fd(fd, data, mode)
        except BaseException:
            os.unlink(target)
            raise
    finally:
        os.unlink(tmp)
    fsync_directory(target.parent)
    return target


def replace(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> Path:
    """Atomically replace the content of `path`: readers see the old or the new file, never a mix."""
    target = Path(path)
    tmp = _write_temp(target, data, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_directory(target.parent)
    return target
