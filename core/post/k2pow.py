"""k2pow: the RandomX proof of work per nonce group (spec/post.md §2.2; post-rs `pow/randomx.rs`).

hash = RandomX_v1(key = "spacemesh-randomx-cache-key",
                  input = LE64(pow)[0:7] ‖ u8(group) ‖ challenge[0:8] ‖ miner_id(32))
is valid iff hash < target (32-byte big-endian compare), target = difficulty // num_units.

The search scans pow = 0, 1, 2, … in interleaved strides over threads (RandomX releases the GIL) and
returns the *smallest* valid pow, so results do not depend on the thread count.  Light mode needs a
256 MiB cache (≈1 s to build), fast mode a 2 GiB dataset (much faster hashing, slow to build); both
give identical hashes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from core.errors import SmeshError

RANDOMX_KEY = b"spacemesh-randomx-cache-key"
MAX_POW = (1 << 56) - 1  # the 8th byte of LE64(pow) is replaced by the nonce group


class PowError(SmeshError):
    """A k2pow that cannot be found or does not verify."""


def pow_input(pow_value: int, nonce_group: int, challenge: bytes, miner_id: bytes) -> bytes:
    """The 48-byte RandomX input; pow's top byte is ignored here (it still keys the AES)."""
    if not 0 <= nonce_group <= 255:
        raise PowError(f"nonce group {nonce_group} is out of bounds (max 255)")
    if len(miner_id) != 32:
        raise PowError("the miner id must be 32 bytes")
    if len(challenge) < 8:
        raise PowError("the challenge must have at least 8 bytes")
    return pow_value.to_bytes(8, "little")[:7] + bytes([nonce_group]) + challenge[:8] + miner_id


class PowProver(Protocol):
    def prove(self, nonce_group: int, challenge: bytes, target: bytes, miner_id: bytes) -> int: ...


class RandomXHasher:
    """One RandomX cache (and dataset in fast mode) for the spacemesh key; VMs per thread."""

    _shared: dict[str, RandomXHasher] = {}
    _shared_lock = threading.Lock()

    def __init__(self, mode: str = "light", init_threads: int = 0) -> None:
        import randomx

        if mode not in ("light", "fast"):
            raise PowError(f"RandomX mode must be light or fast, got {mode!r}")
        self.mode = mode
        flags = randomx.get_flags()
        if mode == "fast":
            flags |= randomx.FLAG_FULL_MEM
        self._flags = flags
        try:
            self._cache = randomx.Cache(flags, RANDOMX_KEY)
            self._dataset = None
            if mode == "fast":
                self._dataset = randomx.Dataset(flags)
                self._dataset.init_parallel(self._cache, threads=init_threads or 0)
        except MemoryError:
            need = "2 GiB" if mode == "fast" else "256 MiB"
            raise PowError(f"not enough memory for RandomX {mode} mode ({need}); try light mode") from None
        self._local = threading.local()

    @classmethod
    def shared(cls, mode: str = "light") -> RandomXHasher:
        """A process-wide hasher per mode (building one costs seconds)."""
        with cls._shared_lock:
            hasher = cls._shared.get(mode)
            if hasher is None:
                hasher = cls._shared[mode] = cls(mode)
            return hasher

    def _vm(self):  # noqa: ANN202 - randomx.VM
        vm = getattr(self._local, "vm", None)
        if vm is None:
            import randomx

            vm = self._local.vm = randomx.VM(self._flags, self._cache, self._dataset)
        return vm

    def hash(self, data: bytes) -> bytes:
        return bytes(self._vm().calculate_hash(data))


def k2pow_hash(hasher: RandomXHasher, pow_value: int, nonce_group: int, challenge: bytes, miner_id: bytes) -> bytes:
    return hasher.hash(pow_input(pow_value, nonce_group, challenge, miner_id))


def find_k2pow(
    nonce_group: int,
    challenge: bytes,
    target: bytes,
    miner_id: bytes,
    *,
    hasher: RandomXHasher | None = None,
    mode: str = "light",
    threads: int = 1,
    start: int = 0,
    stop: Callable[[], bool] | None = None,
) -> int:
    """The smallest pow ≥ `start` whose hash is below `target`."""
    if len(target) != 32:
        raise PowError("the k2pow target must be 32 bytes")
    hasher = hasher or RandomXHasher.shared(mode)
    prefix_tail = bytes([nonce_group]) + challenge[:8] + miner_id
    pow_input(start, nonce_group, challenge, miner_id)  # validates the arguments
    threads = max(1, threads)
    best: list[int | None] = [None]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            p = start + offset
            while p <= MAX_POW:
                found = best[0]
                if found is not None and p > found:
                    return  # every smaller candidate of this stride is checked
                if stop is not None and stop():
                    return
                if hasher.hash(p.to_bytes(8, "little")[:7] + prefix_tail) < target:
                    with lock:
                        if best[0] is None or p < best[0]:
                            best[0] = p
                    return
                p += threads
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            errors.append(e)

    if threads == 1:
        worker(0)
    else:
        pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
    if best[0] is None:
        if stop is not None and stop():
            raise PowError("k2pow search was stopped")
        raise PowError("no valid k2pow exists below 2^56")
    return best[0]


def verify_k2pow(
    pow_value: int,
    nonce_group: int,
    challenge: bytes,
    target: bytes,
    miner_id: bytes,
    *,
    hasher: RandomXHasher | None = None,
    mode: str = "light",
) -> bool:
    """One hash: is `pow_value` valid for this group, challenge, miner and target?"""
    hasher = hasher or RandomXHasher.shared(mode)
    return k2pow_hash(hasher, pow_value, nonce_group, challenge, miner_id) < target


class RandomXPowProver:
    """The real k2pow prover (light or fast mode)."""

    def __init__(self, mode: str = "fast", threads: int = 1, stop: Callable[[], bool] | None = None) -> None:
        self.mode = mode
        self.threads = threads
        self.stop = stop
        self._hasher: RandomXHasher | None = None

    @property
    def hasher(self) -> RandomXHasher:
        if self._hasher is None:
            self._hasher = RandomXHasher.shared(self.mode)
        return self._hasher

    def prove(self, nonce_group: int, challenge: bytes, target: bytes, miner_id: bytes) -> int:
        return find_k2pow(
            nonce_group, challenge, target, miner_id, hasher=self.hasher, threads=self.threads, stop=self.stop
        )
