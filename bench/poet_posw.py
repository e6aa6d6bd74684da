"""PoSW prover speed against this machine's single-core SHA-256 limit (target ratio ≥ 0.6).

limit = SHA-256 blocks/s of hashlib over one large buffer (one core, OpenSSL's best code path)
divided by 401 blocks per leaf (400 label hashes + about one Merkle node).  Printed, all
measured in this run: the limit, the prover's leaves/s end to end (layer files and checkpoints
included), the bare compiled kernel per SHA-256 implementation, and a plain hashlib loop.

    .venv/bin/python bench/poet_posw.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.poet import native  # noqa: E402
from core.poet.posw import LABEL_HASH_DEPTH, merkle_hash  # noqa: E402
from core.poet.prover import Prover  # noqa: E402

BLOCKS_PER_LEAF = 401
STATEMENT = bytes(range(32))


def sha256_blocks_per_second(size: int = 256 << 20, repeats: int = 3) -> float:
    buf = bytes(size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        hashlib.sha256(buf).digest()
        best = min(best, time.perf_counter() - start)
    return size / 64 / best


def hashlib_loop_rate(seconds: float) -> float:
    """Leaves/s of the obvious Python loop (label chain plus one Merkle hash per leaf)."""
    sha256 = hashlib.sha256
    mh = merkle_hash(STATEMENT)
    prev = bytes(32)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            h = sha256(STATEMENT + n.to_bytes(8, "big") + prev).digest()
            for _ in range(LABEL_HASH_DEPTH - 1):
                h = sha256(h).digest()
            prev = mh(prev, h)
            n += 1
    return n / (time.perf_counter() - start)


def kernel_rate(kernel: native.NativeKernel, seconds: float) -> float:
    parked = bytearray(64 * 32)
    n = 0
    count = 2048
    out = bytearray(32 * 2 * count + 32 * 64)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        kernel.extend(STATEMENT, LABEL_HASH_DEPTH, n, parked, count, out)
        n += count
    return n / (time.perf_counter() - start)


def prover_rate(seconds: float) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        prover = Prover(STATEMENT, Path(d))
        start = time.time()
        leaves = prover.run(deadline=start + seconds)
        return leaves / (time.time() - start), leaves


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    args = ap.parse_args()

    blocks = sha256_blocks_per_second()
    limit = blocks / BLOCKS_PER_LEAF
    print(f"hashlib SHA-256 over 256 MiB: {blocks / 1e6:.1f} M blocks/s ({64 * blocks / 2**30:.2f} GiB/s)")
    print(f"single-core limit: {limit:,.0f} leaves/s at depth {LABEL_HASH_DEPTH}")

    kernel = native.load()
    if kernel is None:
        print("native kernel: unavailable (no C compiler?); the prover uses hashlib")
    else:
        print(f"native kernel: {kernel.name}")
        for impl in kernel.available:
            rate = kernel_rate(kernel.with_impl(impl), min(args.seconds, 1.5))
            print(f"  kernel only, {native.IMPL_NAMES[impl]:<27} {rate:>10,.0f} leaves/s  ratio {rate / limit:.2f}")

    rate, leaves = prover_rate(args.seconds)
    print(
        f"Prover.run end to end ({leaves:,} leaves in {args.seconds:g} s): {rate:,.0f} leaves/s"
        f"  ratio {rate / limit:.2f}"
    )
    loop = hashlib_loop_rate(min(args.seconds, 1.5))
    print(f"plain hashlib loop: {loop:,.0f} leaves/s  ratio {loop / limit:.2f}")
    print(f"prover / hashlib loop: {rate / loop:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
