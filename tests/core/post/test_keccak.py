"""Keccak-512 with the original padding (spec/post.md §1.2 step 2, §5)."""

import hashlib
import random

import numpy as np
import pytest

from core.post.keccak import RATE, Keccak512, keccak512, keccak_f1600

EMPTY_DIGEST = (
    "0eab42de4c3ceb9235fc91acffe746b29c29a8c366b7c60e4e67c466f36a4304"
    "c00fa9caf9d87976ba469bcbe06713b435f091ef2769fb160cdab33d3670680e"
)
# floodyberry/scrypt-jane code/scrypt-jane-hash_keccak.h, scrypt_test_hash_expected (Keccak-512)
SELF_TEST_DIGEST = (
    "17c78ca0d9081dba8ac83e0790da918825bdd3f8784a8d5ee4969c01f3ebdc12"
    "ea3557ba94b8e9b927450a485c3d69f0db2238b5522229ea7ab2e607aa374de6"
)


def test_empty_message():
    assert keccak512(b"").hex() == EMPTY_DIGEST


def test_not_sha3_padding():
    assert keccak512(b"").hex() != hashlib.sha3_512(b"").hexdigest()


def test_scrypt_jane_self_test():
    """scrypt_test_hash: feed the digests of msg[:i] (msg = 0, 1, …, 256; i = 0 … 257) into one hash."""
    msg = bytes(i & 0xFF for i in range(257))
    state = Keccak512()
    for i in range(len(msg) + 1):
        state.update(keccak512(msg[:i]))
    assert state.digest().hex() == SELF_TEST_DIGEST


@pytest.mark.parametrize("length", [RATE - 1, RATE, RATE + 1, 2 * RATE])
def test_chunked_updates_match_one_shot(length):
    data = bytes(random.Random(length).randbytes(length))
    state = Keccak512()
    for off in range(0, length, 7):
        state.update(data[off : off + 7])
    copy = state.copy()
    assert state.digest() == keccak512(data)
    copy.update(b"x")
    assert copy.digest() != state.digest()  # copies are independent


def test_numba_permutation_matches_reference():
    from core.post.cpu import keccak_f1600 as compiled

    rng = random.Random(1600)
    for _ in range(5):
        lanes = [rng.getrandbits(64) for _ in range(25)]
        expected = list(lanes)
        keccak_f1600(expected)
        state = np.array(lanes, dtype=np.uint64)
        compiled(state, np.empty(25, np.uint64), np.empty(5, np.uint64))
        assert [int(v) for v in state] == expected
