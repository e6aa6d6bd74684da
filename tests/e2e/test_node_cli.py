"""`smesh node run` refuses bad flags with one line, before creating anything on disk."""

import pytest

from tests.e2e.helpers import one_error_line, run_smesh


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--preset", "moonnet"], "unknown preset"),
        (["--genesis-time", "tomorrow"], "genesis time"),
        (["--account", "foo=bar"], "address"),
        (["--coinbase", "sm1bad"], "bech32"),
        (["--units", "9"], "--units"),
        (["--poet-server", "ftp://127.0.0.1:1"], "--poet-server 'ftp://127.0.0.1:1': use http://HOST:PORT"),
        (["--poet-server", "http://127.0.0.1"], "use http://HOST:PORT"),
    ],
)
def test_bad_flags_create_nothing(tmp_path, flags, message):
    data_dir = tmp_path / "node"
    result = run_smesh(["node", "run", "--data-dir", data_dir, "--genesis-time", "now+60s", *flags])
    assert message in one_error_line(result)
    assert result.rc == 2
    assert not data_dir.exists()


def test_a_taken_api_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_smesh(["node", "run", "--data-dir", tmp_path / "node", "--genesis-time", "now+60s",
                            "--simulated-activation", "--grpc-public-listener", f"127.0.0.1:{port}"])
    assert result.rc != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (  # after the start-up note, one error line and no grpc log
        f"error: cannot listen on 127.0.0.1:{port} for the public gRPC API: Failed to bind to address 127.0.0.1:{port}"
    )
    assert len(result.stderr.strip().splitlines()) == 2


@pytest.mark.parametrize(
    "flag", ["--grpc-public-listener", "--grpc-private-listener", "--grpc-json-listener", "--listen", "--bootnode"]
)
def test_a_malformed_listener_is_refused_before_anything_is_created(tmp_path, flag):
    data_dir = tmp_path / "node"
    result = run_smesh(["node", "run", "--data-dir", data_dir, "--genesis-time", "now+60s", flag, "localhost"])
    assert "is not HOST:PORT" in one_error_line(result)
    assert result.rc == 2
    assert not data_dir.exists()


def test_a_taken_p2p_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_smesh(["node", "run", "--data-dir", tmp_path / "node", "--genesis-time", "now+60s",
                            "--simulated-activation", "--grpc-public-listener", "", "--grpc-private-listener", "",
                            "--grpc-json-listener", "", "--listen", f"127.0.0.1:{port}"])  # fmt: skip
    assert result.rc != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port} for p2p: the port is taken or the address is not local"
    )
    assert len(result.stderr.strip().splitlines()) == 2  # the start-up note and the error: no grpc log


def test_node_run_prints_a_progress_line_per_layer_when_stdout_is_not_a_terminal(tmp_path):
    """`make run` piped to a file or a CI log: plain lines, not a live table nobody sees."""
    import json

    config = tmp_path / "fast.json"
    # layers longer than the 1 s the node waits between two looks at its status: no layer goes unseen
    config.write_text(json.dumps({"layer-duration": 1.5, "layers-per-epoch": 4, "hare-preround-delay": 0.2,
                                  "hare-round-duration": 0.05}))
    result = run_smesh(["node", "run", "--data-dir", tmp_path / "node", "--config", config, "--genesis-time",
                        "now+1s", "--simulated-activation", "--until-layer", "8", "--grpc-public-listener", "",
                        "--grpc-private-listener", "", "--grpc-json-listener", "", "--poet-listen", "127.0.0.1:0"])
    assert result.rc == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("layer ")]
    layers = [int(line.split()[1]) for line in lines]
    assert layers == sorted(set(layers)) and len(layers) >= 5 and max(layers) >= 8
    last = lines[-1]
    assert "): applied " in last and "activation simulated" in last and "coinbase 0 SMH" not in last


def _locked_by(lock, proc, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not (lock.exists() and lock.read_text().strip() == str(proc.pid)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the node never locked its data dir"
        time.sleep(0.05)


def test_a_second_node_on_one_data_dir_is_refused_and_kill_9_frees_it(tmp_path):
    import subprocess

    from tests.e2e.helpers import SMESH

    data_dir, lock = tmp_path / "node", tmp_path / "node" / "LOCK"
    args = ["node", "run", "--data-dir", str(data_dir), "--genesis-time", "now+60s", "--simulated-activation",
            "--grpc-public-listener", "", "--grpc-private-listener", "", "--grpc-json-listener", "",
            "--poet-listen", "127.0.0.1:0"]  # fmt: skip

    def start():
        return subprocess.Popen([str(SMESH), "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)  # fmt: skip

    first = start()
    try:
        _locked_by(lock, first)
        genesis = (data_dir / "genesis.json").read_bytes()
        result = run_smesh(args)
        assert one_error_line(result) == f"error: {data_dir} is in use by another smesh node run (pid {first.pid})"
        assert first.poll() is None and (data_dir / "genesis.json").read_bytes() == genesis
    finally:
        first.kill()
        first.wait()
    again = start()  # the kernel dropped the lock with the killed process
    try:
        _locked_by(lock, again)
        assert again.stdout.readline().startswith('{"event": ')  # running, its signal handlers set
    finally:
        again.terminate()
        assert again.wait(timeout=60) == 0


def test_a_poet_with_another_round_schedule_is_refused_in_one_line(tmp_path):
    """The PoET runs the network test's short epochs (phase shift = cycle gap = half of one), the node
    the standalone preset's 60 s epochs (30 s): its ATXs could never be proven in time, so the node
    refuses to start."""
    import time

    from tests.e2e.test_network_poet import LAYER, LPE, _poet

    genesis = int(time.time()) + 30
    poet, ready = _poet(tmp_path, genesis)
    shift = LPE * LAYER / 2
    assert ready["phase_shift"] == shift
    try:
        result = run_smesh(["node", "run", "--data-dir", tmp_path / "node", "--genesis-time", str(genesis),
                            "--poet-server", f"http://{ready['rest']}", "--grpc-public-listener", "",
                            "--grpc-private-listener", "", "--grpc-json-listener", ""], timeout=120)  # fmt: skip
    finally:
        poet.terminate()
        poet.wait(15)
    assert result.rc != 0 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"error: PoET http://{ready['rest']} runs another round schedule: its phase shift is {shift:g}s"
    )
    assert "the node's poet-phase-shift is 30s" in line, line
