"""Keccak-f[1600] and Keccak-512 with the ORIGINAL Keccak padding (spec/post.md §1.2 step 2).

scrypt-jane pads with 0x01 … 0x80 (pre-SHA-3), so `hashlib.sha3_512` (0x06 padding) gives different
digests.  This is the plain-Python reference; the CPU and OpenCL kernels carry their own copies of the
permutation and are tested against this one.
"""

from __future__ import annotations

RATE = 72  # bytes absorbed per permutation for a 512-bit capacity-1024 sponge
DIGEST_SIZE = 64
_MASK = (1 << 64) - 1

ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip

# Rotation offset of lane (x, y), stored at index x + 5y.
ROTATIONS = (
    0, 1, 62, 28, 27,
    36, 44, 6, 55, 20,
    3, 10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2, 61, 56, 14,
)  # fmt: skip


def _rotl(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _MASK if n else v


def keccak_f1600(state: list[int]) -> None:
    """Permute the 25 lanes (index x + 5y, each a u64 int) in place."""
    a = state
    for rc in ROUND_CONSTANTS:
        # θ
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for i in range(25):
            a[i] ^= d[i % 5]
        # ρ and π: B[y, 2x + 3y] = rot(A[x, y], r[x, y])
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(a[x + 5 * y], ROTATIONS[x + 5 * y])
        # χ
        for y in range(0, 25, 5):
            row = b[y : y + 5]
            for x in range(5):
                a[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5])
        # ι
        a[0] ^= rc


def absorb_block(state: list[int], block: bytes) -> None:
    """XOR one RATE-byte block into the state (little-endian lanes) and permute."""
    for i in range(RATE // 8):
        state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
    keccak_f1600(state)


class Keccak512:
    """Incremental Keccak-512 (original padding), with `copy()` for HMAC pad-state reuse."""

    __slots__ = ("_state", "_buffer")

    def __init__(self, data: bytes = b"") -> None:
        self._state = [0] * 25
        self._buffer = b""
        if data:
            self.update(data)

    def copy(self) -> Keccak512:
        other = Keccak512.__new__(Keccak512)
        other._state = list(self._state)
        other._buffer = self._buffer
        return other

    def update(self, data: bytes) -> None:
        buf = self._buffer + bytes(data)
        full = len(buf) - len(buf) % RATE
        for off in range(0, full, RATE):
            absorb_block(self._state, buf[off : off + RATE])
        self._buffer = buf[full:]

    def digest(self) -> bytes:
        state = list(self._state)
        block = bytearray(RATE)
        block[: len(self._buffer)] = self._buffer
        block[len(self._buffer)] = 0x01
        block[RATE - 1] |= 0x80
        absorb_block(state, bytes(block))
        return b"".join(lane.to_bytes(8, "little") for lane in state[: DIGEST_SIZE // 8])


def keccak512(data: bytes) -> bytes:
    """Keccak-512 digest (64 bytes) of `data` with the original 0x01…0x80 padding."""
    return Keccak512(data).digest()
