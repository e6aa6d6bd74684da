"""`smesh poet serve` and `smesh poet status` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from core.poet import posw
from core.poet.client import PoetClient
from core.poet.service import decode_poet_proof, make_poet_proof
from tests.e2e.helpers import SMESH, WIDE, one_error_line


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = WIDE
    # the PoSW kernel is compiled once per machine: share the real cache, not the test's HOME
    env.setdefault("SMESH_CACHE_DIR", str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "smesh"))
    return env


def _serve(args: list[str]) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [str(SMESH), "--json", "poet", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=_env(),
    )
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else b""
    if not line:
        proc.kill()
        raise AssertionError(f"serve did not start: {proc.stderr.read().decode()[-2000:]}")
    return proc, json.loads(line)


def _short(datadir: Path, *extra: str) -> list[str]:
    return [
        "--preset", "standalone", "--datadir", str(datadir), "--epoch-duration", "3s", "--phase-shift", "1.5s",
        "--cycle-gap", "1s", "--restlisten", "127.0.0.1:0", "--rpclisten", "127.0.0.1:0", *extra,
    ]  # fmt: skip


def test_serve_help_lists_the_poet_flags(smesh):
    rc, out, _ = smesh("poet", "serve", "--help")
    assert rc == 0
    for flag in (
        "--genesis-time", "--epoch-duration", "--phase-shift", "--cycle-gap", "--datadir", "--restlisten",
        "--rpclisten", "--pow-difficulty", "--certifier-url", "--certifier-pubkey", "--trusted-keys-dir",
        "--max-round-members", "--preset",
    ):  # fmt: skip
        assert flag in out, flag
    assert "--label-depth" not in out  # test-only


def test_serve_status_and_clean_shutdown(tmp_path, smesh):
    proc, ready = _serve(_short(tmp_path / "poet"))
    try:
        assert ready["event"] == "ready"
        assert (ready["epoch_duration"], ready["phase_shift"], ready["cycle_gap"]) == (3.0, 1.5, 1.0)
        assert len(bytes.fromhex(ready["pubkey"])) == 32 and ready["grpc"]
        url = f"http://{ready['rest']}"

        rc, out, err = smesh("--json", "poet", "status", "--url", url, env=_env())
        assert rc == 0, err
        status = json.loads(out)
        assert status["service_pubkey"] == ready["pubkey"]
        assert status["phase_shift"] == 1.5 and status["cycle_gap"] == 1.0

        # round 0 has no members: it still runs, with the empty statement, and its proof verifies
        async def fetch():
            async with PoetClient(url, retry_delay=0.2) as c:
                return await c.proof("0", retry_until=time.time() + 30)

        got = asyncio.run(fetch())
        assert got.members == () and got.pubkey == bytes.fromhex(ready["pubkey"])
        posw.verify(b"", make_poet_proof(got.root, got.proven_leaves, got.proof_nodes, got.leaves))

        rc, out, err = smesh("poet", "status", "--url", url, env=_env())
        assert rc == 0, err
        assert "open round" in out and "published proofs" in out
        assert f"{got.leaves:,}" in out  # round 0's proof is listed with its leaf count

        rc, out, err = smesh("--json", "poet", "status", "--datadir", tmp_path / "poet", env=_env())
        assert rc == 0, err
        offline = json.loads(out)
        assert {"round": 0, "leaves": got.leaves} in offline["proofs"]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert json.loads(proc.stdout.read().decode().strip().splitlines()[-1]) == {"event": "stopped"}
    finally:
        if proc.poll() is None:
            proc.kill()
    # the stored proof is the one served
    from core.poet.store import Store

    store = Store.in_datadir(tmp_path / "poet", readonly=True)
    stored = decode_poet_proof(store.proof(0).proof)
    store.close()
    assert stored.merkle.root == got.root and stored.leaf_count == got.leaves


def test_ctrl_c_stops_cleanly(tmp_path):
    proc, ready = _serve(_short(tmp_path / "poet", "--rpclisten", "off"))
    try:
        assert ready["grpc"] is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epoch-duration", "60s", "--cycle-gap", "70s"], "cycle gap must be at least 0 and shorter than the epoch"),
        (["--epoch-duration", "5x"], "is not a duration"),
        (["--preset", "moon"], "unknown preset 'moon'"),
        (["--restlisten", "nonsense"], "REST listen address 'nonsense' is not host:port"),
        (["--restlisten", "off", "--rpclisten", "off"], "both listeners are off"),
        (["--certifier-pubkey", "not base64!"], "certifier public key is neither base64 nor hex"),
        (["--genesis-time", "someday"], "invalid genesis time"),
    ],
)
def test_bad_serve_flags_give_one_error_line(tmp_path, smesh, args, message):
    result = smesh("poet", "serve", "--datadir", tmp_path / "d", *args, env=_env())
    assert message in one_error_line(result)


def test_port_in_use(tmp_path, smesh):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = smesh(
            "poet", "serve", "--datadir", tmp_path / "d", "--restlisten", f"127.0.0.1:{port}", "--rpclisten", "off",
            env=_env(),
        )
    assert "cannot listen on 127.0.0.1:" in one_error_line(result)


def test_rpc_port_in_use(tmp_path, smesh):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = smesh(
            "poet", "serve", "--datadir", tmp_path / "d", "--restlisten", "127.0.0.1:0",
            "--rpclisten", f"127.0.0.1:{port}", env=_env(),
        )  # fmt: skip
    assert one_error_line(result) == f"error: cannot listen on 127.0.0.1:{port} for gRPC: the port is taken or the address is not local"


def test_a_second_serve_on_one_datadir_is_refused_and_kill_9_frees_it(tmp_path, smesh):
    first, _ = _serve(_short(tmp_path / "d"))
    try:
        line = one_error_line(smesh("poet", "serve", *_short(tmp_path / "d"), env=_env()))
        assert line == f"error: {tmp_path / 'd'} is in use by another smesh poet serve (pid {first.pid})"
        assert first.poll() is None  # the first one keeps serving
    finally:
        first.kill()
        first.wait()
    again, info = _serve(_short(tmp_path / "d"))  # the kernel dropped the lock with the process
    again.terminate()
    assert again.wait(timeout=30) == 0


def test_status_without_a_server(smesh, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert "cannot reach the PoET" in one_error_line(smesh("poet", "status", "--url", f"127.0.0.1:{port}"))
    assert "no PoET database" in one_error_line(smesh("poet", "status", "--datadir", tmp_path / "none"))


def test_restart_keeps_the_data_directory_schedule(tmp_path, smesh):
    datadir = tmp_path / "poet"
    args = ["--datadir", str(datadir), "--restlisten", "127.0.0.1:0", "--rpclisten", "off"]
    first, ready = _serve(args)  # genesis: now
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    time.sleep(1.1)  # a later "now" would be another genesis
    second, again = _serve(args)  # no --genesis-time: the data directory's
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
    assert again["genesis"] == ready["genesis"] and again["pubkey"] == ready["pubkey"]
    result = smesh("poet", "serve", *args, "--genesis-time", "2020-01-01T00:00:00Z", env=_env())
    assert "holds rounds of another schedule" in one_error_line(result)
