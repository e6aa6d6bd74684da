"""RIPEMD-256 from its specification and the registration proof of work (spec/poet.md §2.3.2, §5.1)."""

import struct

import pytest

from core.errors import InvalidInput
from core.poet.pow import PowParams, check_pow, leading_zero_bits_ok, pow_hash, ripemd256, solve_pow

# The official RIPEMD-256 vectors (Bosselaers' RIPEMD page; ISO/IEC 10118-3)
VECTORS = [
    (b"", "02ba4c4e5f8ecd1877fc52d64d30e37a2d9774fb1e5d026380ae0168e3c5522d"),
    (b"a", "f9333e45d857f5d90a91bab70a1eba0cfb1be4b0783c9acfcd883a9134692925"),
    (b"abc", "afbd6e228b9d8cbbcef5ca2d03e6dba10ac0bc7dcbe4680e1e42d2e975459b65"),
    (b"message digest", "87e971759a1ce47a514d5c914c392c9018c7c46bc14465554afcdf54a5070c0e"),
    (b"abcdefghijklmnopqrstuvwxyz", "649d3034751ea216776bf9a18acc81bc7896118a5197968782dd1fd97d8d5133"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "3843045583aac6c8c8d9128573e7a9809afb2a0f34ccc36ea9e72f16f6368e3f",
    ),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "5740a408ac16b720b84424ae931cbb1fe363d1d0bf4017f1a89f7ea6de77a0b8",
    ),
    (b"1234567890" * 8, "06fdcc7a409548aaf91368c06a6275b553e3f099bf0ea4edfd6778df89a890dd"),
]


@pytest.mark.parametrize(("message", "digest"), VECTORS)
def test_ripemd256_official_vectors(message, digest):
    assert ripemd256(message).hex() == digest


def test_ripemd256_million_a():
    assert ripemd256(b"a" * 1_000_000).hex() == "ac953744e10e31514c150d4d8d7b677342e33399788296e43ae4850ce4f97978"


@pytest.mark.parametrize("n", [55, 56, 57, 63, 64, 65, 119, 120])
def test_ripemd256_padding_edges_differ(n):
    # around the one- and two-block padding boundaries every length gives its own digest
    assert ripemd256(b"x" * n) != ripemd256(b"x" * (n + 1))
    assert len(ripemd256(b"x" * n)) == 32


@pytest.mark.parametrize(
    ("data", "bits", "ok"),
    [("00", 0, True), ("00", 8, True), ("00", 9, False), ("0F", 4, True), ("0F", 5, False),
     ("000F", 5, True), ("000F", 12, True), ("000F", 13, False)],
)  # fmt: skip
def test_leading_zero_bits_go_vectors(data, bits, ok):
    # poet/shared/pow_test.go CheckLeadingZeroBits (spec §5.1)
    assert leading_zero_bits_ok(bytes.fromhex(data), bits) is ok


def test_pow_hash_input_layout():
    # RIPEMD-256(pow challenge ‖ node id ‖ poet challenge ‖ LE64(nonce))
    pc, node, ch = b"P" * 32, b"N" * 32, b"C" * 32
    assert pow_hash(pc, node, ch, 258) == ripemd256(pc + node + ch + bytes([2, 1, 0, 0, 0, 0, 0, 0]))


def test_difficulty_zero_accepts_any_nonce():
    params = PowParams(0, b"c" * 32)
    assert check_pow(params, b"n" * 32, b"x" * 32, 12345)
    assert solve_pow(params, b"n" * 32, b"x" * 32) == 0


def test_solve_and_check_at_difficulty_8():
    params = PowParams(8, bytes(range(32)))
    node, challenge = b"\x07" * 32, b"\x09" * 32
    nonce = solve_pow(params, node, challenge)
    digest = ripemd256(params.challenge + node + challenge + struct.pack("<Q", nonce))
    assert digest[0] == 0
    assert check_pow(params, node, challenge, nonce)
    # every smaller nonce fails (solve returns the first), and the found one fails for another node
    assert not any(check_pow(params, node, challenge, k) for k in range(nonce))
    assert not check_pow(params, b"\x08" * 32, challenge, nonce) or ripemd256(
        params.challenge + b"\x08" * 32 + challenge + struct.pack("<Q", nonce)
    )[0] == 0


def test_solve_gives_up_within_its_limit():
    with pytest.raises(InvalidInput, match="no proof-of-work nonce"):
        solve_pow(PowParams(64, b"c"), b"n", b"x", limit=10)
    with pytest.raises(InvalidInput):
        pow_hash(b"", b"", b"", -1)
