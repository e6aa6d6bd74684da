"""Helpers shared by the end-to-end tests: running `smesh` and checking its error lines."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

SMESH = Path(sys.executable).parent / "smesh"
PASSWORD = "correct horse battery staple"
# wide enough that rich never folds a key, address or transaction in human output
WIDE = "1000"


@dataclasses.dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    def __iter__(self):  # allows `rc, out, err = smesh(...)`
        return iter((self.rc, self.stdout, self.stderr))


def run_smesh(
    args: Sequence[str | os.PathLike],
    *,
    env: dict[str, str] | None = None,
    password: str | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> Result:
    """Run the `smesh` executable; stdin is empty unless given, no password in the environment unless given."""
    base = dict(os.environ if env is None else env)
    base.pop("SMESH_WALLET_PASSWORD", None)
    base.setdefault("COLUMNS", WIDE)
    base["NO_COLOR"] = "1"
    if password is not None:
        base["SMESH_WALLET_PASSWORD"] = password
    proc = subprocess.run(
        [str(SMESH), *map(str, args)],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        env=base,
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def one_error_line(result: Result) -> str:
    """Assert a failed command printed exactly one 'error:' line and no traceback; return it."""
    assert result.rc != 0, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]
