"""Bit-packed proof indices: post-rs `compression.rs` vectors and round trips (spec/post.md §2.4, §5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.post.compression import compress_indices, decompress_indices, expected_indices_bytes, required_bits

VECTOR = [0, 0xFFF5, 0, 0xFF0F]


def test_compress_vectors():
    assert compress_indices(VECTOR, 3) == bytes([0x28, 0x0E])
    assert compress_indices(VECTOR, 16) == bytes([0x00, 0x00, 0xF5, 0xFF, 0x00, 0x00, 0x0F, 0xFF])


def test_decompress_vectors():
    assert decompress_indices(bytes([0x00, 0x00, 0xF5, 0xFF, 0x00, 0x00, 0x0F, 0xFF]), 16) == VECTOR
    assert decompress_indices(bytes([0x28, 0x0E]), 3)[:4] == [0, 0b101, 0, 0b111]  # low 3 bits of each


def test_required_bits():
    assert required_bits(0) == 0
    assert required_bits(1) == 1
    assert required_bits(2**19) == 20
    assert required_bits(2**63 - 1) == 63
    assert required_bits(2**64 - 1) == 64


def test_mainnet_proof_size():
    bits = required_bits(4 * 2**32)
    assert bits == 35
    assert expected_indices_bytes(bits, 37) == 162


def test_expected_bytes():
    assert expected_indices_bytes(1, 8) == 1
    assert expected_indices_bytes(3, 10) == 4
    assert expected_indices_bytes(8, 10) == 10


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=64))
def test_round_trip(indices):
    bits = required_bits(max(indices, default=0)) or 1
    packed = compress_indices(indices, bits)
    assert len(packed) == (bits * len(indices) + 7) // 8
    assert decompress_indices(packed, bits)[: len(indices)] == indices
