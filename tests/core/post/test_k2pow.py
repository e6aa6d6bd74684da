"""k2pow with RandomX (spec/post.md §2.2, §5): the RandomX vector, the input layout, the pow=11 vector."""

from __future__ import annotations

import pytest

from core.post.k2pow import (
    PowError,
    RandomXHasher,
    RandomXPowProver,
    find_k2pow,
    k2pow_hash,
    pow_input,
    verify_k2pow,
)

CHALLENGE = b"hello!!!" + bytes(24)  # only the first 8 bytes enter the hash
MINER = b"\x06" * 32
TARGET = b"\x0f" + b"\xff" * 31
GROUP = 7


@pytest.fixture(scope="module")
def hasher() -> RandomXHasher:
    return RandomXHasher.shared("light")


def test_randomx_standard_vector():
    # tevador/RandomX tests.cpp: the binding must be RandomX v1 before k2pow can rely on it
    import randomx

    flags = randomx.get_flags()
    vm = randomx.VM(flags, randomx.Cache(flags, b"test key 000"))
    assert bytes(vm.calculate_hash(b"This is a test")).hex() == (
        "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
    )


def test_input_layout():
    assert pow_input(0, GROUP, CHALLENGE, MINER).hex() == "000000000000000768656c6c6f212121" + "06" * 32
    # the top byte of the u64 pow is replaced by the group
    assert pow_input(0xAA00000000000001, 3, CHALLENGE, MINER)[:8].hex() == "0100000000000003"


def test_hash_vectors(hasher):
    assert k2pow_hash(hasher, 0, GROUP, CHALLENGE, MINER).hex() == (
        "ecfd93b007ad0df4d3eefde56dcb87a2419cc0afa9500a80c12d2b92dc4c0203"
    )
    assert k2pow_hash(hasher, 1, GROUP, CHALLENGE, MINER).hex() == (
        "424fd0bd494640fbb20383c502cb3f6cc3fb13eebfe7bf84ff6c03fbaa4c3903"
    )
    assert k2pow_hash(hasher, 11, GROUP, CHALLENGE, MINER).hex() == (
        "0ac7ee491508a84ae09161ac961750ce668a69e0e6def2271b811e162c217f0e"
    )


@pytest.mark.parametrize("threads", [1, 3])
def test_smallest_valid_pow_is_11(hasher, threads):
    assert find_k2pow(GROUP, CHALLENGE, TARGET, MINER, hasher=hasher, threads=threads) == 11


def test_prover_interface(hasher):
    prover = RandomXPowProver("light")
    prover._hasher = hasher
    assert prover.prove(GROUP, CHALLENGE, TARGET, MINER) == 11


def test_verify(hasher):
    assert verify_k2pow(11, GROUP, CHALLENGE, TARGET, MINER, hasher=hasher)
    assert not verify_k2pow(10, GROUP, CHALLENGE, TARGET, MINER, hasher=hasher)
    # strictly below: a target equal to the hash rejects, one more accepts
    h = bytes.fromhex("0ac7ee491508a84ae09161ac961750ce668a69e0e6def2271b811e162c217f0e")
    assert not verify_k2pow(11, GROUP, CHALLENGE, h, MINER, hasher=hasher)
    assert verify_k2pow(11, GROUP, CHALLENGE, (int.from_bytes(h, "big") + 1).to_bytes(32, "big"), MINER, hasher=hasher)
    # the verifier ignores pow's top byte in the hash input
    assert verify_k2pow(11 | 0x55 << 56, GROUP, CHALLENGE, TARGET, MINER, hasher=hasher)


def test_bad_arguments():
    with pytest.raises(PowError, match="out of bounds"):
        pow_input(0, 256, CHALLENGE, MINER)
    with pytest.raises(PowError, match="miner id"):
        pow_input(0, 1, CHALLENGE, MINER[:31])


def test_stop(hasher):
    with pytest.raises(PowError, match="stopped"):
        find_k2pow(GROUP, CHALLENGE, bytes(32), MINER, hasher=hasher, stop=lambda: True)
