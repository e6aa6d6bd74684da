"""The deprecated registration proof of work (spec/poet.md §2.3.2) and RIPEMD-256.

`hash = RIPEMD-256(pow challenge ‖ node id ‖ poet challenge ‖ LE64(nonce))` must start with
`difficulty` zero bits (most significant bit first).  Devnet presets use difficulty 0, where
any nonce passes, but the client must still echo the exact parameters it was given.

RIPEMD-256 is written here from its published specification (Dobbertin, Bosselaers and Preneel,
"RIPEMD-160: A Strengthened Version of RIPEMD", with the 256-bit extension; ISO/IEC 10118-3):
two parallel RIPEMD-128 lines over each 64-byte block, exchanging one chaining word after each
of the four rounds, and the eight words are added to the state without mixing the lines.
Python's hashlib has no RIPEMD-256.
"""

from __future__ import annotations

import dataclasses
import struct

from core.errors import InvalidInput

_MASK = 0xFFFFFFFF

# word order (r) and left-rotation amounts (s) for the left line, by step 0..63
_R_LEFT = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
    1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
)  # fmt: skip
_R_RIGHT = (
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
    6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
    8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
)  # fmt: skip
_S_LEFT = (
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
    7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
    11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
)  # fmt: skip
_S_RIGHT = (
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
    9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
    15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
)  # fmt: skip
_K_LEFT = (0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC)
_K_RIGHT = (0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x00000000)
_IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0x76543210, 0xFEDCBA98, 0x89ABCDEF, 0x01234567)


def _f(j: int, x: int, y: int, z: int) -> int:
    """The boolean function of round j (0..3); the right line uses them in reverse order."""
    if j == 0:
        return x ^ y ^ z
    if j == 1:
        return (x & y) | (~x & z)
    if j == 2:
        return (x | (~y & _MASK)) ^ z
    return (x & z) | (y & ~z)


def _rol(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _compress(state: list[int], block: bytes) -> None:
    x = struct.unpack("<16I", block)
    al, bl, cl, dl, ar, br, cr, dr = state
    for j in range(4):
        for i in range(16 * j, 16 * j + 16):
            t = _rol((al + _f(j, bl, cl, dl) + x[_R_LEFT[i]] + _K_LEFT[j]) & _MASK, _S_LEFT[i])
            al, dl, cl, bl = dl, cl, bl, t
            t = _rol((ar + _f(3 - j, br, cr, dr) + x[_R_RIGHT[i]] + _K_RIGHT[j]) & _MASK, _S_RIGHT[i])
            ar, dr, cr, br = dr, cr, br, t
        # after round j the lines exchange chaining word j (A, B, C, D in turn)
        if j == 0:
            al, ar = ar, al
        elif j == 1:
            bl, br = br, bl
        elif j == 2:
            cl, cr = cr, cl
        else:
            dl, dr = dr, dl
    for i, v in enumerate((al, bl, cl, dl, ar, br, cr, dr)):
        state[i] = (state[i] + v) & _MASK


def ripemd256(data: bytes) -> bytes:
    """The 32-byte RIPEMD-256 digest of `data`."""
    data = bytes(data)
    state = list(_IV)
    bit_length = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    padded = data + b"\x80" + bytes((55 - len(data)) % 64) + struct.pack("<Q", bit_length)
    for off in range(0, len(padded), 64):
        _compress(state, padded[off : off + 64])
    return struct.pack("<8I", *state)


# ------------------------------------------------------------------------------------------------
# The registration proof of work


@dataclasses.dataclass(frozen=True)
class PowParams:
    """What `/v1/pow_params` hands out and a Submit must echo."""

    difficulty: int
    challenge: bytes


MAX_DIFFICULTY = 256


def leading_zero_bits_ok(digest: bytes, difficulty: int) -> bool:
    """Whether the first `difficulty` bits of `digest` are zero (poet `CheckLeadingZeroBits`)."""
    if difficulty < 0 or len(digest) * 8 < difficulty:
        return False
    full, rest = divmod(difficulty, 8)
    if any(digest[:full]):
        return False
    return rest == 0 or digest[full] >> (8 - rest) == 0


def pow_hash(pow_challenge: bytes, node_id: bytes, poet_challenge: bytes, nonce: int) -> bytes:
    if not 0 <= nonce < 1 << 64:
        raise InvalidInput(f"nonce must be a 64-bit unsigned integer, got {nonce}")
    return ripemd256(bytes(pow_challenge) + bytes(node_id) + bytes(poet_challenge) + struct.pack("<Q", nonce))


def check_pow(params: PowParams, node_id: bytes, poet_challenge: bytes, nonce: int) -> bool:
    """Whether `nonce` solves the proof of work for this node id and challenge."""
    if params.difficulty == 0:
        return True
    return leading_zero_bits_ok(pow_hash(params.challenge, node_id, poet_challenge, nonce), params.difficulty)


def solve_pow(params: PowParams, node_id: bytes, poet_challenge: bytes, *, start: int = 0, limit: int | None = None) -> int:
    """The first nonce from `start` that solves the proof of work (CPU-bound: run it off the event loop)."""
    if not 0 <= params.difficulty <= MAX_DIFFICULTY:
        raise InvalidInput(f"proof-of-work difficulty must be 0..{MAX_DIFFICULTY}, got {params.difficulty}")
    if params.difficulty == 0:
        return start
    prefix = bytes(params.challenge) + bytes(node_id) + bytes(poet_challenge)
    nonce = start
    end = None if limit is None else start + limit
    while end is None or nonce < end:
        if nonce >> 64:
            break
        if leading_zero_bits_ok(ripemd256(prefix + struct.pack("<Q", nonce)), params.difficulty):
            return nonce
        nonce += 1
    raise InvalidInput(f"no proof-of-work nonce found at difficulty {params.difficulty} in the range searched")
