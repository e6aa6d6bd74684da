"""Difficulty arithmetic in plain integers (spec/post.md §1.5, §2.1; post-rs `difficulty.rs`).

Targets that are compared against hashes or labels are 32-byte big-endian strings; the proving
difficulty is a u64 compared against `msb ‖ LE56(second AES block)`.
"""

from __future__ import annotations

from core.errors import InvalidInput

U64_MAX = (1 << 64) - 1
LSB_MASK = (1 << 56) - 1


class DifficultyError(InvalidInput):
    """Parameters for which no difficulty is defined."""


def proving_difficulty(k1: int, num_labels: int) -> int:
    """d = ⌊2^64 · K1 / L⌋: the per-(label, nonce) success threshold, a u64."""
    if num_labels <= 0:
        raise DifficultyError("the number of labels must be positive")
    if k1 <= 0:
        raise DifficultyError(f"K1 must be positive, got {k1}")
    if num_labels <= k1:
        raise DifficultyError(f"K1 ({k1}) must be smaller than the number of labels ({num_labels})")
    d = (k1 << 64) // num_labels
    if d > U64_MAX:  # unreachable given num_labels > k1, kept as the u64 guard of post-rs
        raise DifficultyError("difficulty does not fit in 64 bits")
    return d


def split_difficulty(difficulty: int) -> tuple[int, int]:
    """(msb, lsb): the top byte and the low 56 bits (post-rs `Prover8_56::split_difficulty`)."""
    return difficulty >> 56, difficulty & LSB_MASK


def scale_pow_difficulty(difficulty: bytes, num_units: int) -> bytes:
    """The k2pow target for `num_units`: U256_BE(difficulty) // num_units, back to 32 bytes."""
    if len(difficulty) != 32:
        raise DifficultyError("the k2pow difficulty must be 32 bytes")
    if num_units <= 0:
        raise DifficultyError("the number of units must be positive")
    return (int.from_bytes(difficulty, "big") // num_units).to_bytes(32, "big")


def vrf_difficulty(num_labels: int) -> bytes:
    """The VRF-nonce target (Go `shared.PowDifficulty`): (2^256 // L) << 3, 32 bytes big-endian.

    Capped at 2^256 − 1 for L ≤ 8, where every label qualifies.
    """
    if num_labels <= 0:
        raise DifficultyError("the number of labels must be positive")
    value = min(((1 << 256) // num_labels) << 3, (1 << 256) - 1)
    return value.to_bytes(32, "big")
