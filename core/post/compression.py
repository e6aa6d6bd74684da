"""Bit-packing of proof indices (spec/post.md §2.4; post-rs `compression.rs`).

Each index takes `required_bits(L)` bits, written least-significant bit first into a little-endian
bit stream; the last byte is zero-padded.
"""

from __future__ import annotations

from collections.abc import Iterable


def required_bits(value: int) -> int:
    """Bits needed to write `value`: ⌊log2 value⌋ + 1, and 0 for 0."""
    if value < 0:
        raise ValueError("required_bits of a negative number")
    return value.bit_length()


def expected_indices_bytes(bits: int, k2: int) -> int:
    """Length of K2 packed indices: ceil(bits · K2 / 8)."""
    return (bits * k2 + 7) // 8


def compress_indices(indices: Iterable[int], bits: int) -> bytes:
    """Pack the indices, keeping the low `bits` bits of each."""
    mask = (1 << bits) - 1
    acc = 0
    count = 0
    for i, index in enumerate(indices):
        if index < 0:
            raise ValueError("indices are unsigned")
        acc |= (index & mask) << (i * bits)
        count += 1
    return acc.to_bytes((count * bits + 7) // 8, "little")


def decompress_indices(data: bytes, bits: int) -> list[int]:
    """Every whole `bits`-bit value in `data` (trailing padding bits are dropped)."""
    if bits <= 0:
        return []
    acc = int.from_bytes(data, "little")
    mask = (1 << bits) - 1
    return [(acc >> (i * bits)) & mask for i in range(len(data) * 8 // bits)]
