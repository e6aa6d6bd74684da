"""PoST init on a Dask cluster (core/post/cluster.py): addresses, progress, and real clusters whose
results must equal a plain single-process `Initializer` run byte for byte (sha256 of every file and of
postdata_metadata.json).  The expected bytes always come from the plain run.

Tiny shapes: 2 units × 128 labels in 4 files of 64 labels at scrypt N=32 (or 64).  The cluster's tasks
use the pure-Python reference backend (no compile step, slow enough to kill a worker mid-file); the
plain runs use the numba CPU kernel, an independent implementation of the same labels.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.post import metadata as md
from core.post.cluster import (
    SCRATCH_DIR,
    ClusterAddress,
    ClusterInitializer,
    ClusterUnreachable,
    ProgressBoard,
    parse_cluster_address,
)
from core.post.init import InitOptions, Initializer, InitStopped, MetadataMismatch

NODE = b"\x01" * 32
ATX = b"\x02" * 32
NO_NONCE_NODE = (36).to_bytes(32, "big")  # with ATX: none of the 256 labels at N=32 is below the VRF target


def options(datadir: Path, node: bytes = NODE, n: int = 32, **kw) -> InitOptions:
    return InitOptions(datadir, node, ATX, 2, 128, 1024, n, **kw)


def sha256s(datadir: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(datadir.iterdir())
        if p.name.startswith("postdata_")
    }


def plain(datadir: Path, **kw) -> dict[str, str]:
    from core.post import labels

    Initializer(options(datadir, **kw), labels.get_backend("cpu")).run()
    return sha256s(datadir)


# --- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("tcp://127.0.0.1:8786", ClusterAddress("tcp", "127.0.0.1", 8786)),
        ("tcp://sched-1.example.org:1", ClusterAddress("tcp", "sched-1.example.org", 1)),
        ("tcp://[::1]:65535", ClusterAddress("tcp", "[::1]", 65535)),
        (" local:2 ", ClusterAddress("local", workers=2)),
    ],
)
def test_parse_cluster_address(text, want):
    assert parse_cluster_address(text) == want
    assert str(want) == text.strip()


@pytest.mark.parametrize(
    "text",
    ["tcp://host", "127.0.0.1:8786", "http://host:80", "tcp://host:0", "tcp://host:65536", "tcp://:80",
     "tcp://a b:80", "local:0", "local:", "local:x", "local:257", "", "tls://host:80"],
)  # fmt: skip
def test_malformed_cluster_address_is_invalid_input(text):
    with pytest.raises(InvalidInput, match="--cluster"):
        parse_cluster_address(text)


def test_a_worker_needs_a_scheduler_address_not_local():
    with pytest.raises(InvalidInput, match="--scheduler must be tcp://HOST:PORT, got 'local:2'"):
        parse_cluster_address("local:2", what="--scheduler", local=False)


def test_unreachable_scheduler_is_refused_before_anything_is_written(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    init = ClusterInitializer(options(tmp_path / "d"), f"tcp://127.0.0.1:{port}", connect_timeout=1)
    with pytest.raises(ClusterUnreachable, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        init.preflight()
    assert ClusterUnreachable.exit_code == 1
    assert not (tmp_path / "d").exists()


# --- progress ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def report(file, name, done, rate, phase="labels"):
    return {"file": file, "name": name, "pid": 7, "done": done, "total": 64, "rate": rate, "phase": phase}


def test_progress_board_sums_files_and_busy_workers():
    clock = Clock()
    board = ProgressBoard({0: (0, 64), 1: (10, 64), 2: (64, 64)}, clock=clock, stale_seconds=5)
    assert board.snapshot().phase == "starting"
    board.report(report(0, "a", 32, 100.0))
    board.report(report(1, "b", 20, 50.0))
    clock.now += 2
    p = board.snapshot()
    assert (p.phase, p.labels_done, p.labels_total, p.files_done, p.files_total) == ("labels", 116, 192, 1, 3)
    assert p.labels_per_second == 150.0
    assert p.eta_seconds == pytest.approx((192 - 116) / 150.0)
    assert [(w.name, w.file, w.labels_per_second, w.file_done) for w in p.workers] == [
        ("a", 0, 100.0, 32), ("b", 1, 50.0, 20)
    ]  # fmt: skip
    assert p.to_json()["workers"][0] == {"name": "a", "pid": 7, "file": 0, "labelsPerSecond": 100.0}
    board.file_done(0)
    p = board.snapshot()
    assert (p.labels_done, p.files_done, p.labels_per_second) == (148, 2, 50.0)
    assert [w.file for w in p.workers] == [None, 1]
    board.report(report(0, "a", 40, 80.0))  # a late report of a finished file changes nothing
    assert board.snapshot().labels_done == 148


def test_progress_board_after_a_worker_died():
    clock = Clock()
    board = ProgressBoard({0: (0, 64)}, clock=clock, stale_seconds=5)
    board.report(report(0, "a", 48, 100.0))
    clock.now += 6  # "a" fell silent: it no longer counts; the retry resumes from what is on disk
    assert board.snapshot().workers[0].file is None
    board.report(report(0, "b", 16, 30.0))
    p = board.snapshot()
    assert (p.labels_done, p.labels_per_second) == (16, 30.0)


def test_progress_board_nonce_search_and_mean_rate():
    clock = Clock()
    board = ProgressBoard({0: (0, 64)}, clock=clock)
    board.report(report(0, "a", 64, 10.0))
    board.file_done(0)
    clock.now += 4
    assert board.snapshot().labels_per_second == 16.0  # nobody busy: the run's mean
    board.report(report(None, "a", 256, 10.0, phase="nonce-search"))
    p = board.snapshot()
    assert (p.phase, p.labels_done, p.labels_total, p.eta_seconds) == ("nonce-search", 256, 0, None)


# --- refusals (no cluster needed: they come first) -----------------------------------------------


def test_refuses_data_of_another_identity_and_keeps_it(tmp_path):
    datadir = tmp_path / "d"
    plain(datadir)
    before = sha256s(datadir)
    init = ClusterInitializer(options(datadir, node=b"\x09" * 32), "local:1")
    with pytest.raises(MetadataMismatch, match="NodeId"):
        init.preflight()
    with pytest.raises(MetadataMismatch, match="NodeId"):
        init.run()
    assert sha256s(datadir) == before


def test_complete_data_needs_no_cluster(tmp_path):
    datadir = tmp_path / "d"
    want = plain(datadir)
    result = ClusterInitializer(options(datadir), "tcp://127.0.0.1:9").run()  # nobody listens: not contacted
    assert result.data_complete and result.outcomes == () and result.labels_computed == 0
    assert sha256s(datadir) == want


# --- real clusters -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scheduler():
    """A scheduler with two worker processes (each behind a nanny, which restarts a killed one)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_port=0) as cluster:  # fmt: skip
        yield cluster.scheduler_address


def test_cluster_run_equals_a_plain_run(tmp_path, scheduler):
    want = plain(tmp_path / "plain")
    seen = []
    result = ClusterInitializer(options(tmp_path / "c"), scheduler, provider="reference", progress=seen.append).run()
    assert sha256s(tmp_path / "c") == want
    assert result.data_complete and result.range_complete and not result.nonce_searched
    assert sorted(o.file for o in result.outcomes) == [0, 1, 2, 3]
    assert len({o.pid for o in result.outcomes}) == 2  # both workers took files
    assert result.metadata == md.load(tmp_path / "plain")
    assert seen and seen[-1].labels_done == seen[-1].labels_total == 256
    assert not (tmp_path / "c" / SCRATCH_DIR).exists()


def test_a_worker_killed_mid_file_changes_nothing(tmp_path, scheduler):
    """SIGKILL the worker process computing a file while its file is at most half done: the scheduler runs
    that task again on a live worker, which resumes from the checkpointed labels."""
    want = plain(tmp_path / "plain", n=64)
    killed: dict[str, int] = {}

    def progress(p):
        for w in p.workers:
            if not killed and w.file is not None and w.pid and 0 < w.file_done <= w.file_total // 2:
                os.kill(w.pid, signal.SIGKILL)
                killed.update(pid=w.pid, file=w.file)

    result = ClusterInitializer(
        options(tmp_path / "c", n=64), scheduler, provider="reference", batch_size=8, checkpoint_seconds=0,
        progress=progress,
    ).run()  # fmt: skip
    assert killed, "no worker was caught in the first half of a file"
    assert sha256s(tmp_path / "c") == want
    redone = [o for o in result.outcomes if o.file == killed["file"]]
    assert len(redone) == 1 and redone[0].pid != killed["pid"]  # finished by another process after the kill


def test_resumes_a_partial_plain_run(tmp_path, scheduler):
    """A plain run stopped inside file 1: the cluster continues that file (moved to its scratch dir after
    its last label was recomputed) and computes the others."""
    from core.post import labels

    want = plain(tmp_path / "plain")
    datadir = tmp_path / "d"
    calls = iter(range(6))
    with pytest.raises(InitStopped):
        Initializer(options(datadir), labels.get_backend("reference"), batch_size=16,
                    stop=lambda: next(calls, None) is None).run()  # fmt: skip
    sizes = {p.name: p.stat().st_size for p in datadir.glob("postdata_*.bin")}
    assert sizes["postdata_0.bin"] == 1024 and 0 < sizes["postdata_1.bin"] < 1024
    result = ClusterInitializer(options(datadir), scheduler, provider="reference").run()
    assert sha256s(datadir) == want
    resumed = {o.file: o.labels_resumed for o in result.outcomes}
    assert sorted(resumed) == [1, 2, 3] and resumed[1] == sizes["postdata_1.bin"] // 16


def test_stopped_cluster_run_resumes_byte_identical(tmp_path, scheduler):
    want = plain(tmp_path / "plain")
    datadir = tmp_path / "d"
    progress_seen = []

    def stop() -> bool:
        return any(p.labels_done > 0 for p in progress_seen)

    with pytest.raises(InitStopped, match=r"init stopped: \d+ of 256 labels of this range are written"):
        ClusterInitializer(options(datadir), scheduler, provider="reference", batch_size=8, checkpoint_seconds=0,
                           progress=progress_seen.append, stop=stop).run()  # fmt: skip
    assert sha256s(datadir) != want  # really stopped early
    ClusterInitializer(options(datadir), scheduler, provider="reference").run()
    assert sha256s(datadir) == want


def test_nonce_search_beyond_the_data(tmp_path, scheduler):
    """No label of the data is below the target: the search past the end runs as a task and leaves the
    same Nonce, NonceValue and LastPosition as a plain run."""
    want = plain(tmp_path / "plain", node=NO_NONCE_NODE)
    meta = md.load(tmp_path / "plain")
    assert meta.nonce is not None and meta.nonce >= 256 and meta.last_position is not None
    result = ClusterInitializer(options(tmp_path / "c", node=NO_NONCE_NODE), scheduler, provider="cpu").run()
    assert result.nonce_searched
    assert sha256s(tmp_path / "c") == want


def test_a_worker_that_cannot_see_the_datadir_is_named(tmp_path, scheduler, monkeypatch):
    import core.post.cluster as cluster

    monkeypatch.setattr(cluster, "sees_token", lambda root, token: False)  # what a worker without the share says
    with pytest.raises(cluster.ClusterError, match="does not see .* shared by every worker"):
        ClusterInitializer(options(tmp_path / "d"), scheduler, provider="reference").run()
    assert not list((tmp_path / "d").glob("postdata_*.bin"))


def test_scratch_of_another_setup_is_refused(tmp_path):
    datadir = tmp_path / "d"
    other = datadir / SCRATCH_DIR / "file-2"
    other.mkdir(parents=True)
    md.save(other, md.PostMetadata(b"\x09" * 32, ATX, 128, 2, 1024))
    with pytest.raises(MetadataMismatch, match="file-2 .* another setup"):
        ClusterInitializer(options(datadir), "local:1").preflight()
    shutil.rmtree(datadir)
