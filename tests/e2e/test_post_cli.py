"""`smesh post` end to end: init (kill -9 and resume), status, prove/verify, verify-data, merge, errors.

Tiny parameters keep it fast: 2 units of 128 labels at scrypt N=32 in 4 files of 64 labels, computed
by the pure-Python reference backend (no compile step), standalone K1/K2 for proving.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.crypto.hashing import hash32
from tests.e2e.helpers import SMESH, WIDE, one_error_line, run_smesh

NODE = "01" * 32
ATX = "02" * 32
SHAPE = ["--preset", "standalone", "--num-units", "2", "--labels-per-unit", "128", "--scrypt-n", "32",
         "--max-file-size", "1024"]  # fmt: skip
CHECK = ["--preset", "standalone", "--labels-per-unit", "128", "--scrypt-n", "32"]
DATA_CHECK = ["--preset", "standalone", "--scrypt-n", "32"]
FILES = [f"postdata_{k}.bin" for k in range(4)]


def init_args(datadir: Path, *extra: str) -> list[str]:
    return ["post", "init", "--datadir", str(datadir), "--node-id", NODE, "--commitment-atx-id", ATX, *SHAPE,
            "--provider", "reference", "--batch-size", "4", *extra]  # fmt: skip


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name.startswith("postdata_")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run."""
    datadir = tmp_path_factory.mktemp("post") / "reference"
    result = run_smesh(init_args(datadir), timeout=300)
    assert result.rc == 0, result.stderr
    return datadir


def test_reference_run(reference):
    files = snapshot(reference)
    assert sorted(files) == sorted([*FILES, "postdata_metadata.json"])
    assert all(len(files[name]) == 1024 for name in FILES)
    meta = json.loads(files["postdata_metadata.json"])
    assert meta["NodeId"] == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    assert (meta["LabelsPerUnit"], meta["NumUnits"], meta["MaxFileSize"]) == (128, 2, 1024)
    # the label at index 0 is scrypt-jane of commitment ‖ 0 (checked against the reference directly)
    from core.post.labels import scrypt_output

    commitment = hash32(bytes.fromhex(NODE), bytes.fromhex(ATX))
    assert files["postdata_0.bin"][:16] == scrypt_output(commitment, 0, 32)[:16]
    assert files["postdata_3.bin"][-16:] == scrypt_output(commitment, 255, 32)[:16]
    nonce = meta["Nonce"]
    assert scrypt_output(commitment, nonce, 32)[:16].hex() == meta["NonceValue"]


def _written(datadir: Path) -> int:
    return sum(p.stat().st_size for p in datadir.glob("postdata_*.bin"))


def _kill_when(datadir: Path, at_least: int) -> None:
    env = {**os.environ, "COLUMNS": WIDE, "NO_COLOR": "1"}
    proc = subprocess.Popen([str(SMESH), *init_args(datadir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _written(datadir) < at_least and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "init finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kill_9_and_resume_is_byte_identical(tmp_path, reference):
    datadir = tmp_path / "data"
    _kill_when(datadir, 1)  # inside file 0
    _kill_when(datadir, 1024 + 600)  # inside file 1, later than the first kill
    assert 0 < _written(datadir) < 4096
    result = run_smesh(init_args(datadir), timeout=300)
    assert result.rc == 0, result.stderr
    assert "resuming" in result.stderr
    assert snapshot(datadir) == snapshot(reference)


def _sha256s(datadir: Path) -> dict[str, str]:
    return {name: hashlib.sha256(raw).hexdigest() for name, raw in snapshot(datadir).items()}


def _start_init(datadir: Path, *extra: str, env: dict[str, str] | None = None, json_output: bool = False
                ) -> subprocess.Popen:  # fmt: skip
    env = {**os.environ, "COLUMNS": WIDE, "NO_COLOR": "1", **(env or {})}
    return subprocess.Popen([str(SMESH), *(["--json"] if json_output else []), *init_args(datadir, *extra)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, text=True)  # fmt: skip


def _kept_prefix_is_right(datadir: Path, reference: Path) -> int:
    """The labels on disk are the reference's first labels; how many bytes are there."""
    raw = (datadir / "postdata_0.bin").read_bytes()
    assert raw == (reference / "postdata_0.bin").read_bytes()[: len(raw)]
    return _written(datadir)


def test_kill_9_inside_a_batch_keeps_the_checkpointed_labels(tmp_path, reference):
    """One batch is a whole file (64 labels, ~0.6 s), the checkpoint interval 0.05 s: a kill -9 in the
    first batch leaves its labels computed so far on disk, and the resumed init ends byte-identical."""
    datadir = tmp_path / "data"
    proc = _start_init(datadir, "--batch-size", "64", env={"SMESH_POST_CHECKPOINT_SECONDS": "0.05"})
    try:
        deadline = time.monotonic() + 120
        while _written(datadir) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "init finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    kept = _kept_prefix_is_right(datadir, reference)
    assert 0 < kept < 1024  # inside the first batch: without checkpoints nothing of it would be on disk
    assert (datadir / "postdata_metadata.json").exists()
    result = run_smesh(init_args(datadir, "--batch-size", "64"), timeout=300)
    assert result.rc == 0, result.stderr
    assert "resuming" in result.stderr
    assert _sha256s(datadir) == _sha256s(reference)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_writes_the_running_batch_and_stops(tmp_path, reference, sig):
    """No checkpoint is due (default interval, 64-label batches): the signal comes in the middle of the
    first batch, init writes what it computed, says how far it got and exits 130."""
    datadir = tmp_path / "data"
    proc = _start_init(datadir, "--batch-size", "64", json_output=True)
    try:
        line = proc.stdout.readline()  # the first progress line: a chunk of the first batch is computed
        assert json.loads(line)["labelsDone"] > 0 and _written(datadir) == 0
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    message = json.loads(err.strip().splitlines()[-1])["error"]  # --json: the error is a JSON object too
    kept = _kept_prefix_is_right(datadir, reference)
    assert 0 < kept < 4096
    assert message == (
        f"init stopped: {kept // 16} of 256 labels of this range are written; run the same command again to continue"
    )
    if sig == signal.SIGINT:
        result = run_smesh(init_args(datadir), timeout=300)
        assert result.rc == 0, result.stderr
        assert _sha256s(datadir) == _sha256s(reference)


def test_status(cli, reference):
    result = cli("--json", "post", "status", "--datadir", reference)
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["labelsWritten"], data["numLabels"], data["files"], data["filesComplete"]) == (256, 256, 4, 4)
    assert data["complete"] is True
    assert data["metadata"]["NumUnits"] == 2


def test_status_of_partial_data(cli, reference, tmp_path):
    shutil.copytree(reference, tmp_path / "d")
    (tmp_path / "d" / "postdata_3.bin").write_bytes(b"x" * 100)
    data = json.loads(cli("--json", "post", "status", "--datadir", tmp_path / "d").stdout)
    assert (data["labelsWritten"], data["filesComplete"], data["complete"]) == (198, 3, False)


def test_status_of_empty_dir_is_one_error_line(smesh, tmp_path):
    one_error_line(smesh("post", "status", "--datadir", tmp_path))


def test_json_progress_lines(tmp_path):
    result = run_smesh(["--json", *init_args(tmp_path / "j", "--to-file", "0")], timeout=300)
    assert result.rc == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(line["event"] == "progress" for line in lines[:-1])
    assert lines[-2]["labelsDone"] == lines[-2]["labelsTotal"] == 64
    assert {"labelsPerSecond", "mibPerSecond", "etaSeconds", "file"} <= set(lines[0])
    done = lines[-1]
    assert done["event"] == "done" and done["rangeComplete"] is True and done["complete"] is False


def test_refuses_another_identity_and_keeps_data(smesh, reference, tmp_path):
    datadir = tmp_path / "d"
    shutil.copytree(reference, datadir)
    before = snapshot(datadir)
    result = smesh(*init_args(datadir)[:4], "--node-id", "03" * 32, *init_args(datadir)[6:])
    assert "NodeId" in one_error_line(result)
    result = smesh(*init_args(datadir)[:-2], "--num-units", "1")
    assert "NumUnits" in one_error_line(result)
    assert snapshot(datadir) == before


def test_corrupted_byte_is_named(smesh, cli, reference, tmp_path):
    datadir = tmp_path / "d"
    shutil.copytree(reference, datadir)
    assert cli("post", "verify-data", "--datadir", datadir, "--fraction", "100", *DATA_CHECK).rc == 0
    path = datadir / "postdata_2.bin"
    raw = bytearray(path.read_bytes())
    raw[16 * 37 + 3] ^= 1
    path.write_bytes(bytes(raw))
    result = smesh("post", "verify-data", "--datadir", datadir, "--fraction", "100", *DATA_CHECK)
    assert one_error_line(result) == "error: invalid label in file postdata_2.bin at offset 592 (label index 165)"
    as_json = smesh("--json", "post", "verify-data", "--datadir", datadir, "--fraction", "100", *DATA_CHECK)
    assert as_json.rc != 0
    assert json.loads(as_json.stdout)["bad"] == [{"file": 2, "offset": 592, "index": 165}]


def test_prove_and_verify_proof(cli, reference, tmp_path):
    challenge = "ab" * 32
    result = cli("post", "prove", "--datadir", reference, "--challenge", challenge, "--preset", "standalone")
    assert result.rc == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"proof", "metadata"} and set(out["proof"]) == {"nonce", "indices", "pow"}
    assert out["metadata"]["challenge"] == "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(result.stdout)
    for mode in (["--mode", "all"], ["--mode", "subset", "--seed", "0102"], ["--mode", "one", "--index", "3"]):
        ok = cli("--json", "post", "verify-proof", "--proof", proof_file, *CHECK, *mode)
        assert ok.rc == 0, ok.stderr
        assert json.loads(ok.stdout)["valid"] is True
        ok = cli("--json", "post", "verify-proof", proof_file, *CHECK, *mode)  # positional, as the README shows
        assert ok.rc == 0, ok.stderr
        assert json.loads(ok.stdout)["valid"] is True
    # another challenge invalidates it; so does a different identity
    bad = cli("post", "verify-proof", "--proof", proof_file, "--challenge", "cd" * 32, *CHECK)
    assert bad.rc != 0 and "invalid proof" in bad.stderr
    bad = cli("post", "verify-proof", "--proof", proof_file, "--node-id", "05" * 32, *CHECK)
    assert bad.rc != 0 and "invalid proof" in bad.stderr


def test_partial_runs_and_merge_nonces(cli, reference, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_smesh(init_args(a, "--from-file", "0", "--to-file", "1"), timeout=300).rc == 0
    assert run_smesh(init_args(b, "--from-file", "2", "--to-file", "3"), timeout=300).rc == 0
    for name in ("postdata_2.bin", "postdata_3.bin"):
        shutil.copy(b / name, a / name)
    result = cli("--json", "post", "merge-nonces", "--datadir", a, b / "postdata_metadata.json", *DATA_CHECK)
    assert result.rc == 0, result.stderr
    assert snapshot(a) == snapshot(reference)


def test_providers_without_opencl(tmp_path):
    fake = tmp_path / "pyopencl"  # an environment whose OpenCL binding cannot load
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('libOpenCL.so.1: cannot open shared object file')\n")
    result = run_smesh(["post", "providers"], env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.rc == 0, result.stderr
    assert "4294967295" in result.stdout
    assert "no OpenCL device" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["post", "prove", "--datadir", ".", "--challenge", "zz"], "--challenge"),
        (["post", "prove", "--datadir", "/nonexistent", "--challenge", "00" * 32], "postdata_metadata.json"),
        (["post", "init", "--datadir", "/tmp/x", "--node-id", NODE, "--preset", "standalone"], "--commitment-atx-id"),
        (["post", "init", "--datadir", "/tmp/x", "--commitment-atx-id", ATX, "--preset", "mainnet", "--num-units", "1",
          "--node-id", NODE], "minimum of 4"),  # fmt: skip
        (["post", "init", "--datadir", "/tmp/x", "--commitment-atx-id", ATX, "--node-id", NODE, "--preset", "nope"],
         "unknown preset"),  # fmt: skip
        (["post", "verify-proof", "--proof", "{}"], "lacks"),
        (["post", "verify-data", "--datadir", "/nonexistent"], "postdata_metadata.json"),
        (["post", "verify-proof"], "give the proof once"),
        # sysfs: 0 B free and not writable, even as root; the message says the second, not the first
        (["post", "init", "--datadir", "/sys/kernel/smesh-test", "--commitment-atx-id", ATX, "--node-id", NODE,
          *SHAPE], "cannot write in /sys/kernel/smesh-test: /sys/kernel is not writable"),  # fmt: skip
        (["post", "verify-proof", "{}", "--proof", "{}"], "give the proof once"),
        (["post", "init", "--datadir", "/tmp/x", "--commitment-atx-id", ATX, "--node-id", NODE, *SHAPE,
          "--provider", "77"], "provider"),  # fmt: skip
    ],
)
def test_bad_input_is_one_line(smesh, args, needle):
    line = one_error_line(smesh(*args))
    assert needle in line


@pytest.mark.parametrize("fraction", ["0", "-1", "100.5"])
def test_verify_data_refuses_a_fraction_that_checks_nothing_or_too_much(smesh, reference, fraction):
    result = smesh("post", "verify-data", "--datadir", reference, "--fraction", fraction, *DATA_CHECK)
    assert "--fraction must be a percentage above 0 and at most 100" in one_error_line(result)
    assert result.rc == 2


def test_reset_needs_confirmation(smesh, reference, tmp_path):
    datadir = tmp_path / "d"
    shutil.copytree(reference, datadir)
    before = snapshot(datadir)
    line = one_error_line(smesh(*init_args(datadir, "--reset")))
    assert "--yes" in line
    assert snapshot(datadir) == before


# --- init on a Dask cluster (core/post/cluster.py) -------------------------------------------------


def test_cluster_init_equals_plain_init(tmp_path, reference):
    result = run_smesh(["--json", *init_args(tmp_path / "c", "--cluster", "local:2")], timeout=300)
    assert result.rc == 0, result.stderr
    assert _sha256s(tmp_path / "c") == _sha256s(reference)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    progress, done = lines[:-1], lines[-1]
    assert progress and all(line["event"] == "progress" for line in progress)
    assert {"labelsPerSecond", "etaSeconds", "filesDone", "filesTotal", "workers"} <= set(progress[0])
    assert progress[-1]["labelsDone"] == progress[-1]["labelsTotal"] == 256
    assert done["event"] == "done" and done["complete"] is True and done["cluster"] == "local:2"
    assert done["workers"] and set(done["workers"]) <= {"0", "1"}  # LocalCluster names its workers 0, 1
    assert not (tmp_path / "c" / ".smesh-cluster").exists()


def test_post_worker_serves_a_cluster_init(tmp_path, reference):
    """A scheduler, one `smesh post worker` process, and `smesh post init --cluster tcp://…`."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None,
                      scheduler_port=0) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        env = {**os.environ, "COLUMNS": WIDE, "NO_COLOR": "1"}
        worker = subprocess.Popen(
            [str(SMESH), "post", "worker", "--scheduler", address, "--provider", "reference", "--name", "w1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True,
        )  # fmt: skip
        try:
            line = worker.stderr.readline()
            assert line.startswith("worker w1 ([CPU] scrypt-jane (pure Python reference)) joined tcp://"), line
            result = run_smesh(init_args(tmp_path / "c", "--cluster", address), timeout=300)
            assert result.rc == 0, result.stderr
            assert _sha256s(tmp_path / "c") == _sha256s(reference)
            worker.send_signal(signal.SIGINT)
            assert worker.wait(timeout=60) == 0
            assert "Traceback" not in worker.stderr.read()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("tcp://scheduler", "--cluster must be tcp://HOST:PORT or local:N (N workers on this machine), got"),
        ("127.0.0.1:8786", "--cluster must be tcp://HOST:PORT or local:N"),
        ("http://scheduler:8786", "--cluster must be tcp://HOST:PORT or local:N"),
        ("local:0", "--cluster: local:N needs 1 <= N <= 256"),
        ("tcp://scheduler:99999", "--cluster: port 99999 is outside 1..65535"),
    ],
)
def test_malformed_cluster_address_is_one_line(smesh, tmp_path, value, needle):
    result = smesh(*init_args(tmp_path / "d", "--cluster", value))
    assert needle in one_error_line(result)
    assert result.rc == 2
    assert not (tmp_path / "d").exists()


def test_unreachable_scheduler_is_one_line(smesh, tmp_path):
    port = _closed_port()
    result = smesh(*init_args(tmp_path / "d", "--cluster", f"tcp://127.0.0.1:{port}", "--cluster-timeout", "1"))
    line = one_error_line(result)
    assert line == f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: Connection refused"
    assert result.rc == 1
    assert not (tmp_path / "d").exists()  # nothing written, not even a generated identity


@pytest.mark.parametrize(
    ("scheduler", "rc", "needle"),
    [
        ("local:2", 2, "--scheduler must be tcp://HOST:PORT, got 'local:2'"),
        ("tcp://127.0.0.1", 2, "--scheduler must be tcp://HOST:PORT"),
        ("tcp://127.0.0.1:{port}", 1, "cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: Connection refused"),
    ],
)
def test_post_worker_bad_scheduler_is_one_line(smesh, scheduler, rc, needle):
    port = _closed_port()
    result = smesh("post", "worker", "--scheduler", scheduler.format(port=port), "--timeout", "1")
    assert needle.format(port=port) in one_error_line(result)
    assert result.rc == rc
