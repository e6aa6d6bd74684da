"""PoST init on a Dask cluster (issue 14): labels/s of `post init --cluster local:1` and `local:2` vs a plain
init of the same data in the same run (the baseline), numba CPU kernel.

Every figure is end to end, as a user sees it: from the call to the complete data and metadata, so
the cluster figures include starting the LocalCluster and its workers (numba loads its cached kernel in
each worker process).  A plain run uses every core in one process; `local:N` gives each of its N workers
cores/N numba threads, so on one machine the ratio shows the cluster's overhead, not a speed-up: the
speed-up comes from workers on other machines (`smesh post worker`).  Each result is checked
byte-identical to the plain run's; the best of --rounds rounds is shown.

    .venv/bin/python bench/post_cluster.py [--n 8192] [--files 8] [--labels-per-file 2048] [--provider cpu]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def digest(datadir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(datadir.glob("postdata_*"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="scrypt N (default 8192, mainnet)")
    parser.add_argument("--files", type=int, default=8, help="PoST files (= cluster tasks)")
    parser.add_argument("--labels-per-file", type=int, default=2048)
    parser.add_argument("--provider", default="cpu", help="label provider of the plain run and the workers")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (best of each)")
    args = parser.parse_args()

    from core.post import labels
    from core.post.cluster import ClusterInitializer
    from core.post.init import InitOptions, Initializer

    total = args.files * args.labels_per_file
    node, atx = bytes(range(32)), bytes(range(32, 64))

    def options(datadir: Path) -> InitOptions:
        return InitOptions(datadir, node, atx, args.files, args.labels_per_file, args.labels_per_file * 16, args.n)

    backend = labels.get_backend(args.provider)
    backend.compute(bytes(32), 0, 16, args.n)  # compile or load the kernel before timing
    print(f"PoST init of {total} labels ({args.files} files of {args.labels_per_file}), N={args.n}, "
          f"provider {backend.name}, {os.cpu_count()} CPUs")  # fmt: skip
    runs = {"plain": None, "local:1": 1, "local:2": 2}
    best = dict.fromkeys(runs, 0.0)
    with tempfile.TemporaryDirectory(prefix="post-cluster-bench-") as tmp:
        want = None
        for round_ in range(args.rounds):  # the runs take turns: each figure sees the same background load
            for name, workers in runs.items():
                datadir = Path(tmp) / f"{name.replace(':', '')}-{round_}"
                began = time.perf_counter()
                if workers is None:
                    Initializer(options(datadir), backend).run()
                else:
                    ClusterInitializer(options(datadir), name, provider=args.provider).run()
                best[name] = max(best[name], total / (time.perf_counter() - began))
                got = digest(datadir)
                want = want or got
                if got != want:
                    print(f"{name}: the data differs from the plain run's")
                    return 1
    plain = best.pop("plain")
    print(f"{'plain init (baseline)':28s} {plain:10.1f} labels/s")
    for name, rate in best.items():
        print(f"{'--cluster ' + name:28s} {rate:10.1f} labels/s   ratio to plain {rate / plain:5.2f}x   "
              f"({total / rate:.1f} s, byte-identical)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
