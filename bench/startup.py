"""Startup time of the `smesh` executable (target: `smesh --help` ≤ 0.3 s).

Prints the median wall time of a few commands and each one's ratio to a bare `python -c pass`
measured in the same run, so the figure is comparable across machines of different speed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7
TARGET_S = 0.3
SMESH = str(Path(sys.executable).parent / "smesh")
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "smesh --version": [SMESH, "--version"],
    "smesh --help": [SMESH, "--help"],
    "smesh tx --help": [SMESH, "tx", "--help"],
    "completion of 'smesh tx s'": [SMESH],
}
COMPLETION_ENV = {"_SMESH_COMPLETE": "complete_bash", "COMP_WORDS": "smesh tx s", "COMP_CWORD": "2"}


def median_seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    import os

    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    baseline = None
    worst = 0.0
    for name, argv in COMMANDS.items():
        env = COMPLETION_ENV if name.startswith("completion") else None
        seconds = median_seconds(argv, env)
        baseline = baseline or seconds
        if name != "python -c pass (baseline)":
            worst = max(worst, seconds)
        print(f"{name:32s} {seconds * 1000:7.1f} ms   ratio to baseline {seconds / baseline:5.1f}x")
    verdict = "ok" if worst <= TARGET_S else "over target"
    print(f"slowest smesh command: {worst * 1000:.1f} ms (target {TARGET_S * 1000:.0f} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
