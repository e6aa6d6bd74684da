"""Difficulty arithmetic: post-rs `difficulty.rs` vectors and the mainnet constants (spec/post.md §2.1, §5)."""

from __future__ import annotations

import pytest

from core.post.difficulty import (
    DifficultyError,
    proving_difficulty,
    scale_pow_difficulty,
    split_difficulty,
    vrf_difficulty,
)


@pytest.mark.parametrize(("k1", "labels", "expected"), [(1, 2, 2**63), (1, 4, 2**62), (1, 128, 2**57)])
def test_proving_difficulty_vectors(k1, labels, expected):
    assert proving_difficulty(k1, labels) == expected


def test_mainnet_four_units():
    d = proving_difficulty(26, 4 * 2**32)
    assert d == 0x0000000680000000 == 26 * 2**30
    assert split_difficulty(d) == (0x00, 0x680000000)


def test_proving_vector_difficulty():
    # post-rs proving_vector: K1 = 4 over 128 labels → 2^59, msb 0x08
    assert split_difficulty(proving_difficulty(4, 128)) == (0x08, 0)


def test_split_difficulty():
    assert split_difficulty(0xABCDEF0123456789) == (0xAB, 0xCDEF0123456789)


@pytest.mark.parametrize(("k1", "labels"), [(1, 0), (4, 4), (5, 4), (0, 10)])
def test_proving_difficulty_errors(k1, labels):
    with pytest.raises(DifficultyError):
        proving_difficulty(k1, labels)


def test_scale_pow_difficulty_vectors():
    assert scale_pow_difficulty(b"\xff" * 32, 2) == b"\x7f" + b"\xff" * 31
    assert scale_pow_difficulty(b"\xff" * 32, 32) == b"\x07" + b"\xff" * 31
    assert scale_pow_difficulty(b"\xff" * 32, 1) == b"\xff" * 32


def test_scale_pow_difficulty_errors():
    with pytest.raises(DifficultyError):
        scale_pow_difficulty(b"\xff" * 31, 2)
    with pytest.raises(DifficultyError):
        scale_pow_difficulty(b"\xff" * 32, 0)


def test_vrf_difficulty():
    assert vrf_difficulty(64) == b"\x20" + bytes(31)  # standalone: 2^253
    assert vrf_difficulty(128) == b"\x10" + bytes(31)  # 2^252
    assert vrf_difficulty(4 * 2**32) == bytes.fromhex("00000002") + bytes(28)  # mainnet 4 SU
    assert vrf_difficulty(8) == b"\xff" * 32  # 2^256 capped
    with pytest.raises(DifficultyError):
        vrf_difficulty(0)
