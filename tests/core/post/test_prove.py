"""Proving (spec/post.md §2.3–2.4): the post-rs proving vector, the compiled scan against a plain
reference of the per-label test, post-rs's single-thread winner order, proof encodings, a data dir."""

from __future__ import annotations

import os
import random

import blake3
import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from core.post import metadata as md
from core.post.compression import decompress_indices
from core.post.difficulty import proving_difficulty
from core.post.prove import (
    BatchProver,
    Proof,
    ProofMetadata,
    ProveError,
    aes128_round_keys,
    aesni_available,
    generate_proof,
    prove_labels,
    prove_over,
)

# both scan kernels: the portable one (gather + one AES call per nonce) and the AES-NI one
PATHS = [False, pytest.param(True, marks=pytest.mark.skipif(not aesni_available(), reason="no AES-NI"))]
from core.errors import DecodeError, InvalidInput

VECTOR_CHALLENGE = b"hello world, CHALLENGE me!!!!!!!"
VECTOR_DATA = bytes(k % 12 for k in range(128 * 16))
VECTOR_INDICES = list(range(0, 94, 3))


# --- an independent, plain reference of §2.3 ---------------------------------------------------


def _aes(key: bytes, block: bytes) -> bytes:
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(block)


def ref_good(label: bytes, challenge: bytes, nonce: int, pow_value: int, d: int) -> bool:
    g = nonce // 16
    base = challenge + g.to_bytes(4, "little") + pow_value.to_bytes(8, "little")
    c = _aes(blake3.blake3(base).digest()[:16], label)
    value = c[nonce % 16] << 56  # msb ‖ LE56(second AES) compared to d as one u64
    if c[nonce % 16] == d >> 56:
        c2 = _aes(blake3.blake3(base + nonce.to_bytes(4, "little")).digest()[:16], label)
        value |= int.from_bytes(c2[:8], "little") & ((1 << 56) - 1)
        return value < d
    return value < d


def ref_post_rs(data: bytes, challenge: bytes, groups: dict[int, int], d: int, k2: int):
    """post-rs Prover8_56::prove on one thread: chunks of 8 labels, then groups, labels, nonces."""
    found: dict[int, list[int]] = {}
    n = len(data) // 16
    for chunk in range(0, n, 8):
        for g in sorted(groups):
            for i in range(chunk, min(chunk + 8, n)):
                for j in range(16):
                    nonce = 16 * g + j
                    if ref_good(data[16 * i : 16 * i + 16], challenge, nonce, groups[g], d):
                        found.setdefault(nonce, []).append(i)
                        if len(found[nonce]) == k2:
                            return nonce, found[nonce]
    return None


# --- vectors -----------------------------------------------------------------------------------


def test_proving_vector():
    # post-rs prove.rs::proving_vector: K1=4, K2=32, 128 labels, pow forced to 0, nonces 0..15
    assert prove_labels(VECTOR_DATA, VECTOR_CHALLENGE, 4, 32, range(16), {0: 0}) == (3, VECTOR_INDICES)


def test_proving_vector_reference_agrees():
    assert ref_post_rs(VECTOR_DATA, VECTOR_CHALLENGE, {0: 0}, proving_difficulty(4, 128), 32) == (3, VECTOR_INDICES)


def test_nonces_must_be_whole_groups():
    with pytest.raises(InvalidInput):
        prove_labels(VECTOR_DATA, VECTOR_CHALLENGE, 4, 32, range(1, 17), {0: 0})
    with pytest.raises(InvalidInput):
        prove_labels(VECTOR_DATA, VECTOR_CHALLENGE, 4, 32, range(0, 8), {0: 0})


# --- the compiled scan against the reference ---------------------------------------------------


@pytest.mark.parametrize("aesni", PATHS)
@pytest.mark.parametrize(
    "d",
    [
        proving_difficulty(26, 4 * 2**32),  # mainnet: msb 0, everything through the second AES
        0x03_00000000000000 | 0x80000000000000 >> 1,  # small msb with an LSB part
        0x7F_FFFFFFFFFFFFFF,  # msb 127: the widest SWAR lane test
        0x80_12345678ABCDEF,  # msb ≥ 128: the plain byte path
        0xFF_FFFFFFFFFFFFFF,
    ],
)
def test_scan_matches_reference(d, aesni):
    rng = random.Random(d)
    data = rng.randbytes(16 * 300)
    challenge = rng.randbytes(32)
    groups = {0: 5, 3: 0, 7: 2**60 + 3}
    prover = BatchProver(challenge, groups, d, use_aesni=aesni)
    assert prover.aesni is aesni
    got = prover.process(data, 1000)
    ordinals = {0: 0, 3: 1, 7: 2}
    want: dict[int, list[int]] = {}
    for i in range(300):
        for g, pw in groups.items():
            for j in range(16):
                if ref_good(data[16 * i : 16 * i + 16], challenge, 16 * g + j, pw, d):
                    want.setdefault(ordinals[g] * 16 + j, []).append(1000 + i)
    assert {o: list(v) for o, v in got.items()} == want


@pytest.mark.parametrize("aesni", PATHS)
def test_lsb_path_is_exercised(aesni):
    # msb 0 and a large lsb: labels whose group-ciphertext byte 5 is 0 are decided by the second AES
    d = 0x00_F0000000000000
    rng = random.Random(1)
    challenge = rng.randbytes(32)
    key = blake3.blake3(challenge + bytes(4) + bytes(8)).digest()[:16]
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    labels = b"".join(dec.update(bytes(5) + b"\x00" + rng.randbytes(10)) for _ in range(64))
    got = BatchProver(challenge, {0: 0}, d, use_aesni=aesni).process(labels, 0)
    want = [i for i in range(64) if ref_good(labels[16 * i : 16 * i + 16], challenge, 5, 0, d)]
    assert 0 < len(want) < 64  # both outcomes of the LSB test occur
    assert got[5].tolist() == want


@pytest.mark.parametrize("aesni", PATHS)
def test_big_batches_and_hit_growth(aesni):
    # msb 200: most bytes are hits, far more than the initial estimate of the hit arrays
    rng = random.Random(2)
    data = rng.randbytes(16 * 5000)
    challenge = rng.randbytes(32)
    d = 0xC8_00000000000000
    prover = BatchProver(challenge, {0: 1}, d, batch_bytes=16 * 100, use_aesni=aesni)
    got = prover.process(data, 0)
    for o in (0, 9, 15):
        want = [i for i in range(5000) if ref_good(data[16 * i : 16 * i + 16], challenge, o, 1, d)]
        assert got[o].tolist() == want


@pytest.mark.parametrize("seed", range(6))
def test_winner_order_matches_post_rs(seed):
    rng = random.Random(seed)
    n = 200
    data = rng.randbytes(16 * n)
    challenge = rng.randbytes(32)
    groups = {0: rng.randrange(2**64), 1: rng.randrange(2**64)}
    d = proving_difficulty(40, n)
    k2 = rng.choice([20, 35, 45])
    want = ref_post_rs(data, challenge, groups, d, k2)
    batches = [(i, data[16 * i : 16 * (i + 24)]) for i in range(0, n, 24)]  # batches not aligned to 8
    assert prove_over(batches, challenge, groups, d, k2) == want


def test_unaligned_batches():
    rng = random.Random(3)
    raw = rng.randbytes(16 * 100 + 1)
    data = memoryview(raw)[1:]  # starts at an odd address
    d = 0x10_00000000000000
    challenge = rng.randbytes(32)
    got = BatchProver(challenge, {2: 9}, d).process(data, 0)
    want = [i for i in range(100) if ref_good(bytes(data[16 * i : 16 * i + 16]), challenge, 40, 9, d)]
    assert got.get(8, np.array([], dtype=np.int64)).tolist() == want


def test_aes_round_keys_fips197():
    # FIPS-197 appendix A.1: the last round key of 2b7e1516…
    rk = aes128_round_keys(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    assert rk[:2].tobytes().hex() == "2b7e151628aed2a6abf7158809cf4f3c"
    assert rk[-2:].tobytes().hex() == "d014f9a8c9ee2589e13f0cc8b6630ca6"


# --- encodings ---------------------------------------------------------------------------------


def test_proof_json_like_post_rs():
    proof = Proof(3, bytes([1, 2, 255]), 11)
    assert proof.to_json() == {"nonce": 3, "indices": "AQL/", "pow": 11}
    assert Proof.from_json({"nonce": 3, "indices": "AQL/", "pow": 11}) == proof
    for bad in ({"nonce": 3, "pow": 1}, {"nonce": -1, "indices": "", "pow": 0}, {"nonce": 1, "indices": "!", "pow": 0}):
        with pytest.raises(InvalidInput):
            Proof.from_json(bad)


def test_post_v1_scale():
    # go-spacemesh types.Post: compact32 nonce, byte slice (max 800), compact64 pow
    proof = Proof(3, bytes([1, 2]), 11)
    assert proof.encode().hex() == "0c0801022c"
    assert Proof.decode(bytes.fromhex("0c0801022c")) == proof
    big = Proof(2**32 - 1, bytes(800), 2**64 - 1)
    assert Proof.decode(big.encode()) == big
    with pytest.raises(DecodeError):
        Proof.decode(bytes.fromhex("0c0801022c00"))
    with pytest.raises(ValueError):
        Proof(0, bytes(801), 0).encode()


def test_proof_metadata_json():
    pm = ProofMetadata(bytes(32), b"\x01" * 32, b"\x02" * 32, 4, 2**32)
    data = pm.to_json()
    assert data["num_units"] == 4 and data["challenge"] == "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
    assert ProofMetadata.from_json(data) == pm
    del data["labels_per_unit"]
    assert ProofMetadata.from_json(data, 2**32) == pm


# --- a data directory --------------------------------------------------------------------------


class FixedPow:
    """post-rs MockProver returning 0; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def prove(self, group, challenge, target, miner):
        self.calls.append((group, challenge[:8], target, miner))
        return 0


def _vector_datadir(tmp_path):
    # 128 labels of the vector data split over two files of 1024 bytes
    node = b"\x07" * 32
    md.save(tmp_path, md.PostMetadata(node, bytes(32), 64, 2, 1024))
    (tmp_path / "postdata_0.bin").write_bytes(VECTOR_DATA[:1024])
    (tmp_path / "postdata_1.bin").write_bytes(VECTOR_DATA[1024:])
    return node


def test_generate_proof_from_files(tmp_path):
    node = _vector_datadir(tmp_path)
    pow_prover = FixedPow()
    result = generate_proof(
        tmp_path, VECTOR_CHALLENGE, k1=4, k2=32, pow_difficulty=b"\xff" * 32, nonces=16, pow_prover=pow_prover
    )
    assert (result.proof.nonce, result.proof.pow) == (3, 0)
    assert list(result.indices) == VECTOR_INDICES
    assert decompress_indices(result.proof.indices, 8)[:32] == VECTOR_INDICES  # L = 128 → 8 bits
    assert len(result.proof.indices) == 32
    assert result.metadata == ProofMetadata(node, bytes(32), VECTOR_CHALLENGE, 2, 64)
    # one group; the k2pow target is divided by the number of units
    assert pow_prover.calls == [(0, VECTOR_CHALLENGE[:8], b"\x7f" + b"\xff" * 31, node)]


def test_generate_proof_refuses_incomplete_data(tmp_path):
    _vector_datadir(tmp_path)
    (tmp_path / "postdata_1.bin").write_bytes(VECTOR_DATA[1024:2000])
    with pytest.raises(ProveError, match="postdata_1.bin holds 976 of 1024 bytes"):
        generate_proof(tmp_path, VECTOR_CHALLENGE, k1=4, k2=32, pow_difficulty=b"\xff" * 32, pow_prover=FixedPow())


def test_generate_proof_parallel_matches(tmp_path):
    _vector_datadir(tmp_path)
    kwargs = dict(k1=4, k2=32, pow_difficulty=b"\xff" * 32, nonces=32, pow_prover=FixedPow())
    one = generate_proof(tmp_path, VECTOR_CHALLENGE, threads=1, **kwargs)
    two = generate_proof(tmp_path, VECTOR_CHALLENGE, threads=2, **kwargs)
    assert one.proof == two.proof


def test_generate_proof_stop(tmp_path):
    _vector_datadir(tmp_path)
    with pytest.raises(ProveError, match="stopped"):
        generate_proof(tmp_path, VECTOR_CHALLENGE, k1=4, k2=32, pow_difficulty=b"\xff" * 32,
                       pow_prover=FixedPow(), stop=lambda: True)  # fmt: skip


def test_generate_proof_gives_up_after_4096_nonces(tmp_path):
    _vector_datadir(tmp_path)
    # K2 above the number of labels: no nonce can ever succeed
    with pytest.raises(ProveError, match="no proof found with nonces below 4096"):
        generate_proof(tmp_path, os.urandom(32), k1=4, k2=129, pow_difficulty=b"\xff" * 32, nonces=4096,
                       pow_prover=FixedPow())  # fmt: skip
