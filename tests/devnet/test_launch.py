"""Creating a devnet directory, its record, partitions and process handling (no node is started here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest

from core.config.node import load_config
from core.crypto.hashing import genesis_id
from core.crypto.signing import public_key_of
from core.errors import InvalidInput
from core.p2p.identity import peer_id
from core.tx.templates import wallet_principal
from core.wallet.address import encode_address
from core.wallet.slip10 import keypair_from_mnemonic
from core.wallet.walletfile import read_wallet
from devnet import launch, processes
from devnet.state import Devnet, DevnetError, Process

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dn") / "devnet"
    options = launch.DevnetOptions(nodes=3, units=(1, 2), accounts=2, balance=7 * 10**9, layer_duration=2.0)
    devnet, mnemonic = launch.create(directory, options, now=NOW)
    return directory, devnet, mnemonic


def _flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_the_record_names_every_endpoint_and_reads_back(made):
    directory, devnet, _ = made
    again = Devnet.load(directory)
    assert again == devnet
    assert devnet.genesis_time == NOW + 20
    assert devnet.genesis_id == genesis_id(int(NOW + 20), "devnet").hex()  # the devnet preset's extra data
    endpoints = [devnet.poet.url.rpartition(":")[2]] + [
        address.rpartition(":")[2] for n in devnet.nodes for address in (n.p2p, n.api, n.private_api, n.json_api)
    ]
    assert len(set(endpoints)) == 1 + 4 * 3  # every port distinct
    assert [n.units for n in devnet.nodes] == [1, 2, 1]  # --units repeated over the nodes


def test_accounts_and_coinbases_come_from_the_printed_mnemonic(made):
    directory, devnet, mnemonic = made
    def address(i):
        return encode_address(wallet_principal(keypair_from_mnemonic(mnemonic, i).public_key), "standalone")

    assert [(a.index, a.address, a.balance) for a in devnet.accounts] == [(0, address(0), 7 * 10**9), (1, address(1), 7 * 10**9)]
    assert [n.coinbase for n in devnet.nodes] == [address(2), address(3), address(4)]
    password = (directory / "password").read_text()
    wallet = read_wallet(directory / "wallet.json", password)
    assert wallet.secrets.mnemonic == mnemonic and len(wallet.secrets.accounts) == 5
    assert (directory / "password").stat().st_mode & 0o777 == 0o600


def test_nodes_form_a_full_mesh_with_the_same_genesis_accounts_and_config(made):
    directory, devnet, _ = made
    for i, node in enumerate(devnet.nodes):
        args = node.args
        assert _flag_values(args, "--listen") == [node.p2p]
        assert sorted(_flag_values(args, "--bootnode")) == sorted(n.p2p for j, n in enumerate(devnet.nodes) if j != i)
        assert _flag_values(args, "--genesis-time") == [str(devnet.genesis_time)]
        assert _flag_values(args, "--account") == [f"{a.address}={a.balance}" for a in devnet.accounts]
        assert _flag_values(args, "--poet-server") == [devnet.poet.url]
        # the node's p2p key exists before it starts, so its peer id is known to partitions and CI
        seed = bytes.fromhex((directory / f"node-{i}" / "p2p" / "p2p.key").read_text())
        assert node.peer_id == peer_id(public_key_of(seed))
    config = load_config("devnet", directory / "config.json", {"genesis_time": devnet.genesis_time})
    assert config.layer_duration == 2.0 and config.layers_per_epoch == devnet.layers_per_epoch
    poet = devnet.poet.args
    epoch = 2.0 * devnet.layers_per_epoch
    assert _flag_values(poet, "--epoch-duration") == [f"{epoch:g}s"]
    assert _flag_values(poet, "--phase-shift") == [f"{config.phase_shift:g}s"] == [f"{epoch / 2:g}s"]


def test_a_directory_in_use_or_bad_options_are_refused(made, tmp_path):
    directory, _, _ = made
    with pytest.raises(InvalidInput, match="exists and is not empty"):
        launch.create(directory, launch.DevnetOptions())
    for options, message in [
        (launch.DevnetOptions(nodes=0), "--nodes"),
        (launch.DevnetOptions(units=(0,)), "--units"),
        (launch.DevnetOptions(units=(3,)), r"--units must be 1\.\.2"),
        (launch.DevnetOptions(genesis_delay=1), "--genesis-delay"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            launch.create(tmp_path / "new", options)
        assert not (tmp_path / "new").exists()  # nothing written for a refused command
    with pytest.raises(InvalidInput, match="holds no devnet"):
        Devnet.load(tmp_path)
    (tmp_path / "devnet.json").write_text("{not json")
    with pytest.raises(DevnetError, match="cannot read"):
        Devnet.load(tmp_path)


def test_partition_writes_blocklists_of_the_other_groups_and_heal_removes_them(made):
    directory, devnet, _ = made
    named = launch.partition(devnet, launch.parse_groups(["0", "node-1,2"]))
    assert named == [["node-0"], ["node-1", "node-2"]]
    n0, n1, n2 = devnet.nodes

    def blocklist(i):
        return set(json.loads((directory / f"node-{i}" / "p2p" / "blocklist.json").read_text()))

    assert blocklist(0) == {n1.peer_id, n1.p2p, n2.peer_id, n2.p2p}
    assert blocklist(1) == blocklist(2) == {n0.peer_id, n0.p2p}
    assert Devnet.load(directory).partition == named
    launch.heal(devnet)
    assert not any((directory / f"node-{i}" / "p2p" / "blocklist.json").exists() for i in range(3))
    assert Devnet.load(directory).partition is None
    for groups, message in [
        (["0,1,2"], "at least two groups"),
        (["0", "1"], "missing: node-2"),
        (["0,1", "1,2"], "in two groups"),
        (["0", "7"], "no node '7'"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            launch.partition(devnet, launch.parse_groups(groups))


def test_a_recorded_pid_is_only_ours_while_its_start_time_matches():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(child.pid).create_time()
        ours = Process("x", [], "/dev/null", child.pid, started)
        reused = Process("y", [], "/dev/null", child.pid, started - 5)  # the pid of a process that is gone
        assert processes.alive(ours) and not processes.alive(reused)
        assert processes.stop([reused], timeout=1) == [] and child.poll() is None  # never signalled
        assert processes.stop([ours], timeout=5) == []  # SIGTERM was enough
        # (stop reaps its children itself, so Popen cannot see the exit status: the pid is gone)
        assert not psutil.pid_exists(child.pid) and ours.pid is None and not processes.alive(ours)
    finally:
        child.kill()


def test_stop_kills_what_ignores_sigterm():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ok\n"  # the handler is installed
        proc = Process("stubborn", [], "/dev/null", child.pid, psutil.Process(child.pid).create_time())
        began = time.monotonic()
        assert processes.stop([proc], timeout=0.5) == ["stubborn"]
        assert not psutil.pid_exists(child.pid) and time.monotonic() - began < 5
    finally:
        child.kill()


def test_a_base_port_gives_each_node_a_block_of_ten_and_standalone_ports_to_the_first(tmp_path):
    options = launch.DevnetOptions(nodes=2, base_port=10090)
    devnet, _ = launch.create(tmp_path / "dn", options, now=NOW)
    assert [(n.p2p, n.api, n.private_api, n.json_api) for n in devnet.nodes] == [
        ("127.0.0.1:10090", "127.0.0.1:10092", "127.0.0.1:10093", "127.0.0.1:10095"),
        ("127.0.0.1:10100", "127.0.0.1:10102", "127.0.0.1:10103", "127.0.0.1:10105"),
    ]
    assert devnet.poet.url == "http://127.0.0.1:10110"
    with pytest.raises(InvalidInput, match="--base-port must be 1024"):
        launch.create(tmp_path / "other", launch.DevnetOptions(nodes=2, base_port=65530))


def test_a_devnet_that_cannot_be_written_leaves_nothing_behind(tmp_path, monkeypatch):
    from core.wallet import walletfile

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(walletfile, "create_wallet_file", full_disk)
    with pytest.raises(DevnetError, match="cannot write a devnet in .*: No space left on device"):
        launch.create(tmp_path / "new", launch.DevnetOptions())
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DevnetError):
        launch.create(tmp_path / "empty", launch.DevnetOptions())
    assert list((tmp_path / "empty").iterdir()) == []  # the directory the user made stays, empty
