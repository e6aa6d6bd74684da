"""Starting, finding and stopping the devnet's `smesh` processes.

Each process runs in a session of its own, so a Ctrl-C in the terminal reaches only `smesh devnet up`,
which then stops them in order.  A process is known by pid *and* start time: a pid the kernel gave
to another program after ours died is never signalled.  Without `--detach` the processes are also
tied to `devnet up` by the kernel (PR_SET_PDEATHSIG): if `devnet up` is killed outright, they get a
SIGTERM and stop cleanly instead of running on as orphans.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from devnet.state import DevnetError, Process

_PR_SET_PDEATHSIG = 1


def smesh_command() -> list[str]:
    """The `smesh` executable of this installation (the one next to this Python), else this Python."""
    script = Path(sys.executable).with_name("smesh")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import run; run()"]


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _tie_to_parent() -> None:  # runs in the child between fork and exec: nothing that allocates or locks
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start(proc: Process, tie_to_parent: bool = False) -> None:
    """Start `smesh ARGS` with its output appended to its log; records pid and start time."""
    log_path = Path(proc.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} smesh {' '.join(proc.args)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                [*smesh_command(), *proc.args], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, preexec_fn=_tie_to_parent if tie_to_parent else None,
            )  # fmt: skip
        except OSError as e:
            raise DevnetError(f"cannot start {proc.name}: {e}") from None
    proc.pid = child.pid
    try:
        proc.started = psutil.Process(child.pid).create_time()
    except psutil.Error:  # it died at once; its log says why
        proc.started = None


def find(proc: Process) -> psutil.Process | None:
    """The running process recorded for `proc`, or None (never started, exited, or the pid is another's)."""
    if proc.pid is None or proc.started is None:
        return None
    try:
        found = psutil.Process(proc.pid)
        if abs(found.create_time() - proc.started) > 0.05 or found.status() == psutil.STATUS_ZOMBIE:
            return None
        return found
    except psutil.Error:
        return None


def alive(proc: Process) -> bool:
    return find(proc) is not None


def reap() -> None:
    """Collect our exited children (in `devnet up` the processes are children until it exits)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(procs: Iterable[Process], timeout: float = 20.0, sig: signal.Signals = signal.SIGTERM) -> list[str]:
    """Signal every running one, wait up to `timeout`, SIGKILL the rest; names of those that needed SIGKILL."""
    running = [(proc, found) for proc in procs if (found := find(proc)) is not None]
    for _, found in running:
        try:
            found.send_signal(sig)
        except psutil.Error:
            pass
    _, left = psutil.wait_procs([found for _, found in running], timeout=timeout)
    for found in left:
        try:
            found.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)
    reap()
    killed = {found.pid for found in left}
    for proc, _ in running:
        proc.pid = proc.started = None
    return [proc.name for proc, found in running if found.pid in killed]


def kill(proc: Process) -> bool:
    """SIGKILL (a crash, for fault injection); False if it was not running."""
    found = find(proc)
    if found is None:
        return False
    try:
        found.kill()
        found.wait(10)
    except psutil.Error:
        pass
    reap()
    proc.pid = proc.started = None
    return True


def log_tail(proc: Process, lines: int = 5) -> str:
    """The last lines of a process's log (for an error message)."""
    try:
        text = Path(proc.log).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def listening_ports(proc: Process) -> list[int]:
    """TCP ports the process listens on (empty if it is not running)."""
    found = find(proc)
    if found is None:
        return []
    try:
        return sorted({c.laddr.port for c in found.net_connections("tcp") if c.status == psutil.CONN_LISTEN})
    except psutil.Error:
        return []
