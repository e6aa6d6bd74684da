"""PoST init (spec/post.md §1.3–1.7): layout, resume, refusals, VRF nonce (vectors), partial runs."""

from __future__ import annotations

import os
import shutil
import stat
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from core.crypto.hashing import hash32
from core.dirlock import DirInUse, DirLock
from core.post import metadata as md
from core.post.difficulty import vrf_difficulty
from core.post.init import (
    IDENTITY_FILE,
    InitError,
    InitOptions,
    Initializer,
    InitStopped,
    LabelMismatch,
    MetadataMismatch,
    load_or_create_identity,
    merge_nonces,
    vrf_best,
)

NODE = b"\x01" * 32
ATX = b"\x02" * 32
COMMITMENT = hash32(NODE, ATX)


def fake_output(commitment: bytes, index: int) -> bytes:
    """A cheap stand-in for scrypt: 32 pseudo-random bytes per (commitment, index)."""
    return hash32(commitment, index.to_bytes(8, "little"))


class FakeBackend:
    name = "fake"
    kind = "cpu"

    def __init__(self, output=fake_output) -> None:
        self.output = output
        self.calls: list[tuple[int, int]] = []

    def compute(self, commitment, start, count, n):
        self.calls.append((start, count))
        raw = b"".join(self.output(commitment, start + i) for i in range(count))
        return np.frombuffer(raw, dtype=np.uint8).reshape(count, 32)


def options(tmp_path: Path, units: int = 3, **kw) -> InitOptions:
    return InitOptions(tmp_path, kw.pop("node", NODE), kw.pop("atx", ATX), units, 64, 1024, 16, **kw)


def run(opts: InitOptions, backend=None, **kw):
    kw.setdefault("checker", None)
    kw.setdefault("batch_size", 10)
    return Initializer(opts, backend or FakeBackend(), **kw).run()


def expected_file(k: int, per_file: int = 64, commitment: bytes = COMMITMENT) -> bytes:
    return b"".join(fake_output(commitment, per_file * k + i)[:16] for i in range(per_file))


def expected_nonce(num_labels: int, commitment: bytes = COMMITMENT) -> tuple[int, bytes]:
    target = vrf_difficulty(num_labels)
    values = [(fake_output(commitment, i), i) for i in range(num_labels)]
    value, index = min(v for v in values if v[0] < target)
    return index, value


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if not p.name.startswith(".")}


def full_run_snapshot(tmp_path: Path, units: int = 3) -> dict[str, bytes]:
    ref = tmp_path / "reference"
    run(options(ref, units), batch_size=64)
    return snapshot(ref)


# --- a fresh run -------------------------------------------------------------------------------


def test_fresh_init(tmp_path):
    result = run(options(tmp_path))
    for k in range(3):
        assert (tmp_path / f"postdata_{k}.bin").read_bytes() == expected_file(k)
    nonce, value = expected_nonce(192)
    meta = md.load(tmp_path)
    assert meta == md.PostMetadata(NODE, ATX, 64, 3, 1024, nonce, value[:16])
    assert result.metadata == meta and result.data_complete and result.range_complete
    assert result.labels_computed == 192 and not result.nonce_searched


def test_files_are_private(tmp_path):
    run(options(tmp_path, 1))
    assert stat.S_IMODE((tmp_path / "postdata_0.bin").stat().st_mode) == 0o600
    assert stat.S_IMODE(md.metadata_path(tmp_path).stat().st_mode) == 0o600


def test_complete_data_is_not_recomputed(tmp_path):
    run(options(tmp_path))
    backend = FakeBackend()
    result = run(options(tmp_path), backend)
    assert result.labels_computed == 0
    assert backend.calls == [(md.load(tmp_path).nonce, 1)]  # only the stored nonce's full value


def test_progress_reports(tmp_path):
    seen = []
    run(options(tmp_path), progress=seen.append)
    done = [p.labels_done for p in seen]
    assert done == sorted(done) and done[-1] == 192
    assert all(p.labels_total == 192 for p in seen)
    assert {p.file for p in seen} == {0, 1, 2}
    assert seen[-1].to_json()["bytesDone"] == 192 * 16


# --- resume --------------------------------------------------------------------------------------


def test_resume_after_torn_write_is_byte_identical(tmp_path):
    want = full_run_snapshot(tmp_path)
    data = tmp_path / "data"
    run(options(data))
    f1 = data / "postdata_1.bin"
    f1.write_bytes(f1.read_bytes()[:100])  # 6 labels and 4 bytes of a torn seventh
    (data / "postdata_2.bin").unlink()
    run(options(data), batch_size=7)
    assert snapshot(data) == want


def test_resume_after_stop_is_byte_identical(tmp_path):
    want = full_run_snapshot(tmp_path)
    data = tmp_path / "data"
    for stop_after in (3, 5, 11, 17):  # stop every few chunks until done
        calls = iter(range(stop_after))
        try:
            run(options(data), batch_size=9, stop=lambda: next(calls, None) is None)
            break
        except InitStopped:
            pass
    else:
        run(options(data), batch_size=9)
    assert snapshot(data) == want


def test_a_stop_inside_a_batch_keeps_its_computed_labels(tmp_path):
    """Ctrl-C in the middle of a big batch: the chunks computed so far are written (and checked), not lost."""
    data = tmp_path / "data"
    backend = FakeBackend()
    calls = iter(range(1))  # one chunk (16 labels of the 64-label batch), then the stop flag is up
    with pytest.raises(InitStopped, match="init stopped: 16 of 192 labels of this range are written; run the same"):
        run(options(data), backend, batch_size=64, stop=lambda: next(calls, None) is None)
    computed = sum(count for _, count in backend.calls)
    assert 0 < computed < 64  # stopped inside the first batch of file 0
    assert (data / "postdata_0.bin").read_bytes() == expected_file(0)[: computed * 16]
    want = full_run_snapshot(tmp_path / "fresh")
    run(options(data), batch_size=64)  # resumes from there
    assert snapshot(data) == want


def test_metadata_is_written_before_labels(tmp_path):
    """Every label on disk has been considered for the nonce: stop right after each batch write."""
    want_nonce, _ = expected_nonce(192)
    data = tmp_path / "data"
    writes = []

    class Spy(FakeBackend):
        def compute(self, commitment, start, count, n):
            size = sum(p.stat().st_size for p in data.glob("postdata_*.bin")) // 16
            meta = md.load(data)
            writes.append((size, meta.nonce))
            return super().compute(commitment, start, count, n)

    run(options(data), Spy(), batch_size=16)
    # whenever the data already holds the winning label, the metadata already names it
    assert all(nonce == want_nonce for size, nonce in writes if size > want_nonce)


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (dict(node=b"\x09" * 32), "NodeId"),
        (dict(atx=b"\x09" * 32), "CommitmentAtxId"),
        (dict(units=2), "NumUnits"),
    ],
)
def test_refuses_mismatching_metadata(tmp_path, change, field):
    run(options(tmp_path, 1))
    before = snapshot(tmp_path)
    units = change.pop("units", 1)
    with pytest.raises(MetadataMismatch, match=f"{field} is .* there, .* requested"):
        run(options(tmp_path, units, **change))
    assert snapshot(tmp_path) == before


def test_refuses_data_without_metadata(tmp_path):
    (tmp_path / "postdata_0.bin").write_bytes(b"x" * 32)
    with pytest.raises(InitError, match="no postdata_metadata.json"):
        run(options(tmp_path))
    assert snapshot(tmp_path) == {"postdata_0.bin": b"x" * 32}


def test_refuses_extra_and_oversized_files(tmp_path):
    run(options(tmp_path, 1))
    (tmp_path / "postdata_3.bin").write_bytes(b"")
    with pytest.raises(InitError, match="postdata_3.bin is beyond the 1 file"):
        run(options(tmp_path, 1))
    (tmp_path / "postdata_3.bin").unlink()
    big = (tmp_path / "postdata_0.bin").read_bytes() + b"y" * 16
    (tmp_path / "postdata_0.bin").write_bytes(big)
    with pytest.raises(InitError, match="refusing to truncate"):
        run(options(tmp_path, 1))
    assert (tmp_path / "postdata_0.bin").read_bytes() == big


def test_reset_starts_over(tmp_path):
    load_or_create_identity(tmp_path)
    run(options(tmp_path, 1, node=b"\x09" * 32))
    key = (tmp_path / IDENTITY_FILE).read_bytes()
    run(options(tmp_path, 3), reset=True)
    assert snapshot(tmp_path) == {**full_run_snapshot(tmp_path / "ref"), IDENTITY_FILE: key}


def test_free_space_is_checked_first(tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: Usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(InitError, match=r"not enough disk space .*: 3.0 KiB needed"):
        run(options(tmp_path))
    assert not list(tmp_path.glob("postdata_*.bin")) and not md.exists(tmp_path)


def test_bad_label_from_backend_is_caught(tmp_path):
    def wrong_at_25(commitment, index):
        return b"\x00" * 32 if index == 25 else fake_output(commitment, index)

    def checker(commitment, index, n):
        return fake_output(commitment, index)

    with pytest.raises(LabelMismatch, match="wrong label at index 25"):
        run(options(tmp_path), FakeBackend(wrong_at_25), checker=checker, batch_size=13)
    # the bad batch [13, 26) was not written
    assert (tmp_path / "postdata_0.bin").read_bytes() == expected_file(0)[: 13 * 16]


def test_only_one_init_per_directory(tmp_path):
    with DirLock(tmp_path / ".postdata.lock", "smesh post init"):
        with pytest.raises(DirInUse, match=f"in use by another smesh post init \\(pid {os.getpid()}\\)"):
            run(options(tmp_path))


def test_bad_options(tmp_path):
    with pytest.raises(Exception, match="file range 0..5 is outside"):
        run(options(tmp_path, to_file=5))
    with pytest.raises(Exception, match="node id must be 32 bytes"):
        run(options(tmp_path, node=b"\x01"))


# --- partial runs and merging nonces -----------------------------------------------------------


def test_file_ranges_then_merge_equal_a_full_run(tmp_path):
    want = full_run_snapshot(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    ra = run(options(a, from_file=0, to_file=0))
    rb = run(options(b, from_file=1, to_file=2))
    assert ra.range_complete and not ra.data_complete
    assert sorted(p.name for p in a.glob("postdata_*.bin")) == ["postdata_0.bin"]
    for p in b.glob("postdata_*.bin"):
        shutil.copy(p, a / p.name)
    merged = merge_nonces(a, [b / "postdata_metadata.json"], 16, label_fn=lambda c, i, n: fake_output(c, i))
    assert merged.source is not None
    assert snapshot(a) == want
    # each part found the best nonce of its own range
    target = vrf_difficulty(192)

    def best_in(indices):
        return min((fake_output(COMMITMENT, i), i) for i in indices if fake_output(COMMITMENT, i) < target)[1]

    assert ra.metadata.nonce == best_in(range(64))
    assert rb.metadata.nonce == best_in(range(64, 192))


def test_merge_skips_invalid_nonces_and_refuses_other_data(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run(options(a))
    run(options(b))
    target = vrf_difficulty(192)
    invalid = next(i for i in range(192) if fake_output(COMMITMENT, i) >= target)
    md.save(b, md.load(b).replace(nonce=invalid, nonce_value=None))
    result = merge_nonces(a, [b], 16, label_fn=lambda cm, i, n: fake_output(cm, i))
    assert (b / "postdata_metadata.json", invalid, False) in result.candidates
    assert result.metadata.nonce == expected_nonce(192)[0]
    run(options(c, 3, node=b"\x05" * 32))
    with pytest.raises(MetadataMismatch, match="node_id differs"):
        merge_nonces(a, [c], 16, label_fn=lambda cm, i, n: fake_output(cm, i))


# --- the nonce search beyond the data ----------------------------------------------------------


def no_hit_in_data(num_labels):
    def output(commitment, index):
        value = fake_output(commitment, index)
        return b"\xff" + value[1:] if index < num_labels else value

    return output


def test_search_beyond_the_data(tmp_path):
    result = run(options(tmp_path, 1), FakeBackend(no_hit_in_data(64)), search_step=5)
    meta = result.metadata
    target = vrf_difficulty(64)
    first = next(i for i in range(64, 10**6) if fake_output(COMMITMENT, i) < target)
    step_end = 64 + 5 * ((first - 64) // 5 + 1)
    candidates = [(fake_output(COMMITMENT, i), i) for i in range(step_end - 5, step_end)]
    best = min(c for c in candidates if c[0] < target)
    assert result.nonce_searched
    assert (meta.nonce, meta.nonce_value, meta.last_position) == (best[1], best[0][:16], step_end)
    assert md.load(tmp_path).to_dict()["LastPosition"] == step_end


def test_search_resumes_from_last_position(tmp_path):
    want = tmp_path / "want"
    run(options(want, 1), FakeBackend(no_hit_in_data(64)), search_step=2)
    data = tmp_path / "data"


    def searching() -> bool:  # stop once the first search step is saved
        return md.exists(data) and md.load(data).last_position is not None

    with pytest.raises(InitStopped):
        run(options(data, 1), FakeBackend(no_hit_in_data(64)), search_step=2, stop=searching)
    assert md.load(data).last_position == 66 and md.load(data).nonce is None  # first hit is label 66
    backend = FakeBackend(no_hit_in_data(64))
    run(options(data, 1), backend, search_step=2)
    assert snapshot(data) == snapshot(want)
    assert min(start for start, _ in backend.calls) >= 64  # nothing before LastPosition was redone


# --- identity ------------------------------------------------------------------------------------


def test_identity_key(tmp_path):
    node, created = load_or_create_identity(tmp_path)
    path = tmp_path / IDENTITY_FILE
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert len(text) == 128 and bytes.fromhex(text)[32:] == node  # hex of seed ‖ public key
    assert load_or_create_identity(tmp_path) == (node, False)
    path.write_text("zz")
    with pytest.raises(InitError, match="identity key"):
        load_or_create_identity(tmp_path)


# --- VRF nonce vectors with real labels -----------------------------------------------------------


def test_vrf_best_ties_and_order():
    out = np.zeros((4, 32), dtype=np.uint8)
    out[:, 0] = [5, 3, 3, 9]
    assert vrf_best(out, 100, b"\x04" + bytes(31)) == (101, out[1].tobytes())  # tie: lowest index
    assert vrf_best(out, 100, b"\x03" + bytes(31)) is None  # strictly below


def test_vrf_nonce_vector_n32():
    # post internal/postrs/api_test.go Test_ScryptPositions_Pow / _NoPow
    from core.post import labels

    commitment = bytes.fromhex("e26b543725490682675f6f84ea7689601adeaf14caa7024ec1140c82754ca339")
    out = labels.get_backend("cpu").compute(commitment, 1024, 262144 - 1024 + 1, 32)
    nonce, value = vrf_best(out, 1024, bytes.fromhex("00003f") + b"\xff" * 29)
    assert nonce == 165545
    assert value.hex() == "00001f81fadfc488b990c940aba8367a97e85cbb5bc0720a308d293b22902a74"
    assert vrf_best(out, 1024, bytes(3) + b"\xff" * 29) is None


def test_standalone_init_nonce_31(tmp_path):
    # spec §5: node = atx = 0^32, 64 labels at N=8192 → nonce 31; the CPU batch is re-checked in Python
    from core.post import labels

    opts = InitOptions(tmp_path, bytes(32), bytes(32), 1, 64, 1024, 8192)
    result = Initializer(opts, labels.get_backend("cpu")).run()
    assert result.metadata.nonce == 31
    assert result.metadata.nonce_value.hex() == "00d4c22f6fd0f359c56a356561e7eb5a"
    first = bytes.fromhex("13f053790cc908fd17c1ed054ad849d6")  # label 0 (spec §5)
    assert (tmp_path / "postdata_0.bin").read_bytes()[:16] == first


def test_refuses_to_extend_data_made_with_other_parameters(tmp_path):
    run(options(tmp_path, 1))
    f0 = tmp_path / "postdata_0.bin"
    f0.write_bytes(f0.read_bytes()[:320])  # 20 labels left
    other_n = FakeBackend(lambda c, i: fake_output(c + b"", i + 1))  # stands in for another scrypt N
    with pytest.raises(InitError, match="postdata_0.bin: the label at offset 304 differs from its recomputation"):
        run(options(tmp_path, 1), other_n)
    assert f0.stat().st_size == 320
    run(options(tmp_path, 1))  # the right parameters resume it
    assert f0.read_bytes() == expected_file(0)


def test_slow_providers_write_at_least_every_checkpoint_seconds(tmp_path):
    sizes = []

    class Spy(FakeBackend):
        def compute(self, commitment, start, count, n):
            sizes.append(sum(p.stat().st_size for p in (tmp_path / "d").glob("postdata_*.bin")))
            return super().compute(commitment, start, count, n)

    run(options(tmp_path / "d"), Spy(), batch_size=10**6, checkpoint_seconds=0.0)  # every chunk is a checkpoint
    assert snapshot(tmp_path / "d") == full_run_snapshot(tmp_path)
    writes = [b - a for a, b in zip(sizes, sizes[1:]) if b > a]
    assert len(writes) >= 3  # a batch of a million labels was still written in pieces
