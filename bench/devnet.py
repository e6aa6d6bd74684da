"""`smesh devnet up` to the first applied block, against the schedule's bound.

Runs `smesh --json devnet up --nodes N --detach` (real PoST + PoET activations, default timing)
in a fresh directory and measures the wall time until it returns, which is when every node has
applied a block.  The schedule allows no block before epoch 2 starts: genesis + 2 epochs after
`up` was called.  Printed: the time to ready, that bound, and their ratio (1.00 would be a block
applied the instant the schedule allows, on every node; the hare takes part of the first layer).
The devnet is stopped and deleted afterwards.  `--runs` repeats it (median printed too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMESH = str(Path(sys.executable).parent / "smesh")


def one_run(nodes: int, layer: float, lpe: int, delay: float) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-devnet-") as tmp:
        directory = Path(tmp) / "dn"
        began = time.time()
        up = subprocess.run(
            [SMESH, "--json", "devnet", "up", "--nodes", str(nodes), "--detach", "--dir", str(directory),
             "--layer-duration", f"{layer:g}", "--layers-per-epoch", str(lpe), "--genesis-delay", f"{delay:g}"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        took = time.time() - began
        subprocess.run([SMESH, "devnet", "down", "--purge", "--dir", str(directory)], capture_output=True, timeout=120)
        if up.returncode != 0:
            raise SystemExit(f"devnet up failed: {up.stderr.strip()[-2000:]}")
        ready = json.loads(up.stdout)["ready"]
        bound = ready["first_block_bound"] - began
        return took, bound, ready["layer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--layer-duration", type=float, default=3.0)
    parser.add_argument("--layers-per-epoch", type=int, default=4)
    parser.add_argument("--genesis-delay", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    ratios = []
    for run in range(args.runs):
        took, bound, layer = one_run(args.nodes, args.layer_duration, args.layers_per_epoch, args.genesis_delay)
        ratios.append(took / bound)
        print(f"run {run + 1}: {args.nodes} nodes ready (every node applied a block, layer {layer}) in {took:.1f} s; "
              f"schedule bound (genesis + 2 epochs) {bound:.1f} s; ratio {took / bound:.2f}")  # fmt: skip
    if args.runs > 1:
        print(f"median ratio {statistics.median(ratios):.2f} over {args.runs} runs")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
