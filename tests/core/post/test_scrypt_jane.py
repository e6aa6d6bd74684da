"""The pure-Python scrypt-jane reference (spec/post.md §1.2, §5)."""

import struct

import pytest

from core.errors import InvalidInput, SmeshError
from core.post import scrypt_jane as sj
from core.post.keccak import RATE, keccak512

# floodyberry/scrypt-jane code/scrypt-jane-test-vectors.h, KECCAK512 + CHACHA
LIBRARY_N16 = (
    "77cb70bfaed44c5bbcd3ec8a82438db37f1ffb7036324da6b7133777300c3cfb"
    "2c208f2af4474d698eae2dadba35e92fe6997af8cf7078bb0c7264958b36773d"
)
LIBRARY_N1024_R8_P16 = (
    "c643171687095f12ed21e2b4ad55a1a149509070ab81837acddf235219c0a2d8"
    "8e98ebf037abadfd1c0497184285f74b182c55d3a9e689fb580ab237b9f8fbc5"
)
# scrypt-jane-chacha.h scrypt_test_mix: ChunkMix with r = 2 of words 0x00000000, 0x01010101, …
CHUNKMIX_R2_LAST16 = "482b2db8a1332273cd16c4b4b07fb18a"

C00 = bytes.fromhex("4d006976636a8696d909a630a4081aad4d7c50f81afdee04020bf05086ab6a55")  # commitment(0^32, 0^32)
POW_COMMITMENT = bytes.fromhex("e26b543725490682675f6f84ea7689601adeaf14caa7024ec1140c82754ca339")


def test_library_vector_n16():
    assert sj.scrypt(b"", b"", 16, 1, 1, 64).hex() == LIBRARY_N16


def test_library_vector_n1024_r8_p16():
    """The library's r = 8, p = 16 vector (~15 s): checks BlockMix ordering and the p loop."""
    assert sj.scrypt(b"password", b"NaCl", 1024, 8, 16, 64).hex() == LIBRARY_N1024_R8_P16


def test_chunkmix_self_test():
    words = [(i | i << 8) | (i | i << 8) << 16 for i in range(64)]
    mixed = sj.block_mix(words, 2)
    assert struct.pack("<4I", *mixed[-4:]).hex() == CHUNKMIX_R2_LAST16


def _xor(data: bytes, pad: int) -> bytes:
    return bytes(b ^ pad for b in data)


@pytest.mark.parametrize("key_len", [0, 32, RATE])
def test_hmac_short_key_is_padded(key_len):
    key = bytes(range(key_len))
    padded = key + bytes(RATE - key_len)
    inner = keccak512(_xor(padded, 0x36) + b"message")
    assert sj.hmac_keccak512(key, b"message") == keccak512(_xor(padded, 0x5C) + inner)


def test_hmac_long_key_is_hashed():
    key = bytes(range(100))
    padded = keccak512(key) + bytes(RATE - 64)
    inner = keccak512(_xor(padded, 0x36) + b"m")
    assert sj.hmac_keccak512(key, b"m") == keccak512(_xor(padded, 0x5C) + inner)


def test_pbkdf2_blocks_and_iterations():
    pw, salt = b"pw" * 36, b"salt"
    u1 = [sj.hmac_keccak512(pw, salt + struct.pack(">I", k)) for k in (1, 2)]
    assert sj.pbkdf2_keccak512(pw, salt, 128) == u1[0] + u1[1]
    assert sj.pbkdf2_keccak512(pw, salt, 32) == u1[0][:32]
    u2 = sj.hmac_keccak512(pw, u1[0])
    two_rounds = bytes(a ^ b for a, b in zip(u1[0], u2))
    assert sj.pbkdf2_keccak512(pw, salt, 64, iterations=2) == two_rounds


def test_label_password_layout():
    pw = sj.label_password(C00, 0x0102030405060708)
    assert len(pw) == 72
    assert pw[:32] == C00
    assert pw[32:40] == bytes([8, 7, 6, 5, 4, 3, 2, 1])
    assert pw[40:] == bytes(32)


@pytest.mark.parametrize("index", [-1, 1 << 64])
def test_label_index_out_of_range(index):
    with pytest.raises(InvalidInput):
        sj.label_password(C00, index)


def test_label_commitment_size():
    with pytest.raises(InvalidInput):
        sj.label_password(C00[:31], 0)


@pytest.mark.parametrize("n, r, p", [(0, 1, 1), (1, 1, 1), (3, 1, 1), (24, 1, 1), (16, 3, 1), (16, 1, 0), (16, 1, 6)])
def test_bad_params_rejected(n, r, p):
    with pytest.raises(sj.ScryptParamsError) as err:
        sj.scrypt(b"", b"", n, r, p)
    assert isinstance(err.value, SmeshError)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "commitment, n, index, expected",
    [
        (C00, 2, 0, "502009eefb489466fd46f63685e0d1cec99c7821c0a92eb013efba9f2e805abc"),
        (C00, 2, 1, "018139106d3f53e0dd0ff9cfcf7def98866f5eae6b0cd35592cb4c6c978d7a9d"),
        (POW_COMMITMENT, 32, 165545, "00001f81fadfc488b990c940aba8367a97e85cbb5bc0720a308d293b22902a74"),
    ],
)
def test_label_vectors(commitment, n, index, expected):
    assert sj.label_output(commitment, index, n).hex() == expected


def test_label_vector_mainnet_n():
    """Zero commitment, index 0, N = 8192 (~1 s in pure Python)."""
    expected = "8c7b34d495266b23799ddaddc2a1836babdd6719c20aca272b42e9d9675ad2b7"
    assert sj.label_output(bytes(32), 0, 8192).hex() == expected
