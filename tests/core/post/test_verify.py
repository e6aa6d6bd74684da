"""Proof verification (spec/post.md §3) and the stored-data check."""

from __future__ import annotations

import pytest

from core.crypto.hashing import hash32
from core.post import metadata as md
from core.post.compression import compress_indices
from core.post.prove import Proof, ProofMetadata
from core.post.verify import (
    All,
    One,
    Subset,
    VerifyError,
    VerifyParams,
    random_values,
    select_positions,
    verify_data,
    verify_proof,
)

# post-rs random_values_gen.rs::test_vec (empty seed, items 0..99)
RANDOM_VALUES = [
    39, 13, 95, 77, 36, 41, 74, 17, 59, 87, 91, 63, 40, 20, 94, 78, 48, 60, 18, 32, 67, 43,
    23, 69, 71, 1, 51, 79, 19, 53, 86, 80, 14, 84, 97, 92, 83, 26, 2, 81, 42, 55, 50, 88,
    75, 82, 44, 34, 58, 72, 35, 25, 10, 68, 12, 11, 70, 27, 98, 57, 96, 16, 45, 73, 0, 15,
    62, 46, 30, 89, 33, 54, 9, 29, 7, 90, 38, 5, 49, 61, 93, 99, 22, 6, 64, 24, 76, 85, 37,
    65, 31, 4, 52, 3, 56, 21, 8, 28, 66, 47,
]  # fmt: skip

# the post-rs proving vector as a proof: 128 labels (2 units of 64), K1 4, K2 32, nonce 3, pow 0
CHALLENGE = b"hello world, CHALLENGE me!!!!!!!"
DATA = bytes(k % 12 for k in range(128 * 16))
INDICES = list(range(0, 94, 3))
PARAMS = VerifyParams(k1=4, k2=32, k3=32, pow_difficulty=b"\xff" * 32, labels_per_unit=64,
                      min_num_units=1, max_num_units=4, scrypt_n=16)  # fmt: skip
META = ProofMetadata(b"\x07" * 32, bytes(32), CHALLENGE, 2, 64)
PROOF = Proof(3, compress_indices(INDICES, 8), 0)


def stored_label(commitment: bytes, index: int, n: int) -> bytes:
    return DATA[16 * index : 16 * index + 16]


def pow_ok(*_args) -> bool:
    return True


def check(proof=PROOF, meta=META, params=PARAMS, mode=None, label_fn=stored_label, pow_check=pow_ok):
    return verify_proof(proof, meta, params, mode, label_fn=label_fn, pow_check=pow_check)


def test_random_values_vector():
    assert random_values(range(100), [], 100) == RANDOM_VALUES
    assert random_values(range(100), [], 5) == RANDOM_VALUES[:5]


def test_select_positions():
    assert select_positions(All(), 5, bytes(32), bytes(32)) == [0, 1, 2, 3, 4]
    assert select_positions(One(3), 5, bytes(32), bytes(32)) == [3]
    assert select_positions(Subset(9, b"x"), 5, bytes(32), bytes(32)) == [0, 1, 2, 3, 4]  # k3 ≥ K2: all
    # subset: seed ‖ node id ‖ challenge drives the draw
    seed, node, ch = b"peer", b"\x01" * 32, b"\x02" * 32
    assert select_positions(Subset(3, seed), 37, node, ch) == random_values(range(37), [seed + node + ch], 3)
    assert select_positions(Subset(3, seed), 37, node, ch) != select_positions(Subset(3, b"other"), 37, node, ch)
    with pytest.raises(VerifyError):
        select_positions(One(5), 5, bytes(32), bytes(32))


def test_valid_proof_all_modes():
    assert check() == INDICES
    assert check(mode=One(7)) == [INDICES[7]]
    picked = check(mode=Subset(2, b"seed"))
    assert len(picked) == 2 and set(picked) <= set(INDICES)


def test_tampered_index_is_named():
    bad = list(INDICES)
    bad[7] = 1  # label 1 is not good for nonce 3
    with pytest.raises(VerifyError, match=r"index: 1 \(position 7\)") as e:
        check(proof=Proof(3, compress_indices(bad, 8), 0))
    assert (e.value.position, e.value.index) == (7, 1)
    # a mode that does not look at position 7 accepts it, as post-rs does
    assert check(proof=Proof(3, compress_indices(bad, 8), 0), mode=One(6)) == [INDICES[6]]


def test_wrong_nonce_or_pow_changes_the_keys():
    with pytest.raises(VerifyError, match="doesn't satisfy difficulty"):
        check(proof=Proof(4, PROOF.indices, 0))
    with pytest.raises(VerifyError, match="doesn't satisfy difficulty"):
        check(proof=Proof(3, PROOF.indices, 1))


def test_invalid_pow():
    seen = []

    def pow_check(pow_value, group, challenge, target, miner):
        seen.append((pow_value, group, challenge, target, miner))
        return False

    with pytest.raises(VerifyError, match="invalid proof of work"):
        check(pow_check=pow_check)
    assert seen == [(0, 0, CHALLENGE, b"\x7f" + b"\xff" * 31, b"\x07" * 32)]  # target scaled by 2 units


def test_length_and_bounds():
    with pytest.raises(VerifyError, match="invalid number of indices"):
        check(proof=Proof(3, PROOF.indices[:-1], 0))
    with pytest.raises(VerifyError, match="nonce group"):
        check(proof=Proof(256 * 16, PROOF.indices, 0))
    with pytest.raises(VerifyError, match="numunits too large"):
        check(meta=ProofMetadata(META.node_id, bytes(32), CHALLENGE, 5, 64))
    with pytest.raises(VerifyError, match="numunits too small"):
        check(meta=ProofMetadata(META.node_id, bytes(32), CHALLENGE, 0, 64))
    with pytest.raises(VerifyError, match="labels_per_unit"):
        check(meta=ProofMetadata(META.node_id, bytes(32), CHALLENGE, 2, 32))


def test_labels_are_recomputed_from_the_commitment():
    seen = []

    def label_fn(commitment, index, n):
        seen.append((commitment, index, n))
        return stored_label(commitment, index, n)

    check(mode=One(0), label_fn=label_fn)
    assert seen == [(hash32(META.node_id, META.commitment_atx_id), 0, 16)]


# --- stored data -------------------------------------------------------------------------------


def fake_output(commitment: bytes, index: int) -> bytes:
    return hash32(commitment, index.to_bytes(8, "little"))


def fake_compute(commitment, start, count, n):
    import numpy as np

    return np.frombuffer(b"".join(fake_output(commitment, start + i) for i in range(count)), dtype=np.uint8).reshape(
        count, 32
    )


def _fake_datadir(tmp_path, nonce=None):
    node, atx = b"\x01" * 32, b"\x02" * 32
    commitment = hash32(node, atx)
    md.save(tmp_path, md.PostMetadata(node, atx, 64, 3, 1024, nonce))
    for k in range(3):
        labels = b"".join(fake_output(commitment, 64 * k + i)[:16] for i in range(64))
        (tmp_path / f"postdata_{k}.bin").write_bytes(labels)
    return commitment


def test_verify_data_all_labels(tmp_path):
    _fake_datadir(tmp_path)
    report = verify_data(tmp_path, 100, 16, compute=fake_compute)
    assert (report.files, report.labels_checked, report.bad, report.nonce_ok) == (3, 192, (), None)


def test_verify_data_names_file_and_offset(tmp_path):
    commitment = _fake_datadir(tmp_path)
    path = tmp_path / "postdata_1.bin"
    raw = bytearray(path.read_bytes())
    raw[16 * 9 + 5] ^= 0x40
    path.write_bytes(bytes(raw))
    report = verify_data(tmp_path, 100, 16, compute=fake_compute)
    assert len(report.bad) == 1
    bad = report.bad[0]
    assert (bad.file, bad.offset, bad.index) == (1, 144, 73)
    assert bad.expected == fake_output(commitment, 73)[:16]
    assert bad.describe() == "invalid label in file postdata_1.bin at offset 144 (label index 73)"


def test_verify_data_samples_every_file(tmp_path):
    _fake_datadir(tmp_path)
    seen = []

    def compute(commitment, start, count, n):
        seen.extend(range(start, start + count))
        return fake_compute(commitment, start, count, n)

    report = verify_data(tmp_path, 5, 16, compute=compute, seed=1)
    assert report.labels_checked == 3 * 4  # ceil(64 · 5 %) per file
    assert {i // 64 for i in seen} == {0, 1, 2}


def test_verify_data_checks_the_nonce(tmp_path):
    commitment = _fake_datadir(tmp_path)
    from core.post.difficulty import vrf_difficulty

    target = vrf_difficulty(192)
    good = next(i for i in range(192) if fake_output(commitment, i) < target)
    bad = next(i for i in range(192) if fake_output(commitment, i) >= target)
    md.save(tmp_path, md.load(tmp_path).replace(nonce=good))
    assert verify_data(tmp_path, 1, 16, compute=fake_compute).nonce_ok is True
    md.save(tmp_path, md.load(tmp_path).replace(nonce=bad))
    assert verify_data(tmp_path, 1, 16, compute=fake_compute).nonce_ok is False


def test_verify_data_incomplete(tmp_path):
    _fake_datadir(tmp_path)
    (tmp_path / "postdata_2.bin").write_bytes(bytes(100))
    with pytest.raises(Exception, match="postdata_2.bin holds 100 of 1024 bytes"):
        verify_data(tmp_path, 100, 16, compute=fake_compute)


def test_verify_data_fraction_bounds(tmp_path):
    _fake_datadir(tmp_path)
    for bad in (0, -1, 101):
        with pytest.raises(Exception, match="percentage"):
            verify_data(tmp_path, bad, 16, compute=fake_compute)
