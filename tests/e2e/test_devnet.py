"""`smesh devnet` as CI uses it (issue 13): up --detach --json, a transaction, a crash and a restart,
a partition 1|3 and its heal, the faucet, and down leaving no process and no listening port.

One devnet of four node processes (PoST units 1, 2, 1, 2) and one PoET with real activations runs
the whole scenario in the fixture; the tests then check what it recorded and the nodes' stores.
The oracles are go-spacemesh systest's: after the partition heals every node has the same block,
state hash and aggregated hash for every layer, and the transaction is applied once everywhere.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sqlite3
import time
from pathlib import Path

import psutil
import pytest

from core.node.wire import EMPTY_BLOCK
from core.wallet.address import encode_address
from tests.e2e.helpers import SMESH, one_error_line, run_smesh

LAYER = 3.0
LPE = 4
RECIPIENT = encode_address(bytes(4) + b"\x43" * 20, "standalone")
FAUCET_TO = encode_address(bytes(4) + b"\x44" * 20, "standalone")


def devnet_cmd(directory: Path, *args: str, timeout: float = 120):
    return run_smesh(["--json", "devnet", *args, "--dir", directory], timeout=timeout)


def status(directory: Path) -> dict:
    result = devnet_cmd(directory, "status", timeout=60)
    assert result.rc == 0, result
    return json.loads(result.stdout)


def wait_status(directory: Path, predicate, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        seen = status(directory)
        if predicate(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s: {json.dumps(seen)[-3000:]}")
        time.sleep(2)


def tx_everywhere(up: dict, txid: str) -> list[dict]:
    found = []
    for node in up["nodes"]:
        result = run_smesh(["--json", "tx", "status", txid, "--api", node["api"]], timeout=30)
        assert result.rc == 0, result
        found.append(json.loads(result.stdout))
    return found


def balance_everywhere(up: dict, address: str) -> list[int]:
    balances = []
    for node in up["nodes"]:
        result = run_smesh(["--json", "wallet", "balance", address, "--api", node["api"]], timeout=30)
        assert result.rc == 0, result
        balances.append(json.loads(result.stdout)[0]["balance"])
    return balances


def min_applied(seen: dict) -> int:
    return min(n["applied_layer"] if n["applied_layer"] is not None else -1 for n in seen["nodes"])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    directory = tmp_path_factory.mktemp("devnet") / "dn"
    record: dict = {"dir": directory}
    up = devnet_cmd(directory, "up", "--nodes", "4", "--units", "1,2,1,2", "--accounts", "2", "--detach",
                    "--layer-duration", f"{LAYER:g}", "--layers-per-epoch", str(LPE), timeout=400)  # fmt: skip
    try:
        assert up.rc == 0, up
        record["up"] = data = json.loads(up.stdout)
        record["pids"] = [data["poet"]["pid"], *(n["pid"] for n in data["nodes"])]
        record["ports"] = [int(data["poet"]["url"].rpartition(":")[2])] + [
            int(n[k].rpartition(":")[2]) for n in data["nodes"] for k in ("p2p", "api", "private_api", "json_api")
        ]
        wallet = data["wallet"]

        # a spend sent to node-1 reaches every node's mempool and is applied once everywhere
        sent = run_smesh(
            ["--json", "tx", "send", "--api", data["nodes"][1]["api"], "--file", wallet["file"], "--password-file",
             wallet["password_file"], "--to", RECIPIENT, "--amount", "2smh", "--yes", "--timeout", "90"],
            timeout=120,
        )  # fmt: skip
        assert sent.rc == 0, sent
        record["tx"] = tx = json.loads(sent.stdout)
        layer = tx["result"]["layer"]
        wait_status(directory, lambda s: min_applied(s) >= layer, 60, f"layer {layer} applied everywhere")
        record["tx_everywhere"] = tx_everywhere(data, tx["id"])
        record["recipient"] = balance_everywhere(data, RECIPIENT)

        # a crash and a restart: node-2 syncs what it missed
        killed = devnet_cmd(directory, "kill", "2")
        assert killed.rc == 0, killed
        record["after_kill"] = status(directory)
        time.sleep(2 * LAYER)
        restarted = devnet_cmd(directory, "restart", "node-2", timeout=240)
        assert restarted.rc == 0, restarted

        # a partition of one epoch, 1 | 3, then heal
        parted = devnet_cmd(directory, "partition", "0", "1,2,3")
        assert parted.rc == 0, parted
        record["partitioned"] = wait_status(
            directory, lambda s: s["nodes"][0]["peers"] == 0 and all(n["peers"] == 2 for n in s["nodes"][1:]), 30,
            "the partition",
        )  # fmt: skip
        time.sleep(LPE * LAYER)
        record["heal_layer"] = heal_layer = max(n["current_layer"] for n in status(directory)["nodes"])
        healed = devnet_cmd(directory, "heal")
        assert healed.rc == 0, healed
        record["healed"] = wait_status(
            directory,
            lambda s: s["agreement"]["agree"] and s["agreement"]["layer"] >= heal_layer + 3
            and all(n["peers"] == 3 for n in s["nodes"]),
            150, "agreement after the heal",
        )  # fmt: skip

        faucet = devnet_cmd(directory, "faucet", FAUCET_TO, "3smh", "--account", "1", timeout=180)
        assert faucet.rc == 0, faucet
        record["faucet"] = json.loads(faucet.stdout)
        record["faucet_balance"] = balance_everywhere(data, FAUCET_TO)
        # the stores are compared up to a layer every node applied alike (the newest layers may still
        # differ until the tortoise settles a hare split: it votes on them hdist layers later)
        paid = record["faucet"]["result"]["layer"]
        record["final"] = wait_status(
            directory, lambda s: s["agreement"]["agree"] and s["agreement"]["layer"] >= paid, 90, "final agreement"
        )
    finally:
        down = devnet_cmd(directory, "down", timeout=120)
        record["down"] = down
    yield record


def test_up_reports_every_endpoint_and_is_ready_on_schedule(scenario):
    up = scenario["up"]
    assert len(up["nodes"]) == 4 and [n["units"] for n in up["nodes"]] == [1, 2, 1, 2]
    assert json.loads(Path(up["state_file"]).read_text())["nodes"][0]["api"] == up["nodes"][0]["api"]
    assert up["wallet"]["mnemonic"] and len(up["accounts"]) == 2
    # ready means every node applied a block: not before the schedule allows (epoch 2's first layer)
    assert up["ready"]["layer"] >= 2 * LPE
    assert up["ready"]["seconds"] > 0


def test_a_transaction_sent_to_one_node_is_applied_once_on_every_node(scenario):
    tx = scenario["tx"]
    assert tx["result"]["status"] == "SUCCESS" and tx["spawn"] is not None  # account 0 self-spawned first
    for record in scenario["tx_everywhere"]:
        assert record["state"] == "PROCESSED" and record["result"]["status"] == "SUCCESS"
        assert record["result"]["layer"] == tx["result"]["layer"]
    assert scenario["recipient"] == [2 * 10**9] * 4


def test_a_killed_node_is_reported_stopped_and_comes_back(scenario):
    nodes = scenario["after_kill"]["nodes"]
    assert not nodes[2]["running"] and all(n["running"] for i, n in enumerate(nodes) if i != 2)
    final = scenario["final"]["nodes"]
    assert final[2]["running"] and final[2]["sync"] == "SYNCED"


def test_a_partition_cuts_links_and_the_network_converges_after_the_heal(scenario):
    healed = scenario["healed"]
    assert healed["agreement"]["agree"]
    assert len({json.dumps(h, sort_keys=True) for h in healed["agreement"]["hashes"].values()}) == 1
    # the stores: every layer every node applied is the same block, state and aggregated hash everywhere
    rows = []
    for i in range(4):
        conn = sqlite3.connect(scenario["dir"] / f"node-{i}" / "state.sql")
        try:
            rows.append(dict((r[0], r[1:]) for r in conn.execute(
                "SELECT id, applied_block, state_hash, aggregated_hash FROM layers WHERE state_hash IS NOT NULL")))
        finally:
            conn.close()
    common = scenario["final"]["agreement"]["layer"]
    assert common >= scenario["heal_layer"] + 3
    for layer in range(2 * LPE, common + 1):
        values = {i: r.get(layer) for i, r in enumerate(rows)}
        assert len(set(values.values())) == 1 and values[0] is not None, (layer, values)
    assert sum(rows[0][layer][0] != EMPTY_BLOCK for layer in range(2 * LPE, common + 1)) >= LPE


def test_the_faucet_pays_from_a_funded_account(scenario):
    assert scenario["faucet"]["result"]["status"] == "SUCCESS"
    assert scenario["faucet_balance"] == [3 * 10**9] * 4


def test_down_leaves_no_process_and_no_listening_port(scenario):
    down = scenario["down"]
    assert down.rc == 0, down
    assert sorted(json.loads(down.stdout)["stopped"]) == sorted(["poet", "node-0", "node-1", "node-2", "node-3"])
    for pid in scenario["pids"][:1]:  # the PoET never restarted: its first pid is gone
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(scenario["dir"]) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    for port in scenario["ports"]:
        with contextlib.suppress(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            raise AssertionError(f"port {port} still accepts connections")


def test_devnet_commands_on_a_directory_without_a_devnet_are_one_line(tmp_path):
    tmp_path = tmp_path / "here"
    tmp_path.mkdir()
    for args in (["status"], ["down"], ["kill", "0"], ["faucet", FAUCET_TO, "1smh"]):
        result = run_smesh(["devnet", *args, "--dir", tmp_path], timeout=30)
        assert "holds no devnet" in one_error_line(result) and result.rc == 2
    (tmp_path / "junk").write_text("x")
    result = run_smesh(["devnet", "up", "--dir", tmp_path], timeout=30)
    assert "exists and is not empty" in one_error_line(result) and result.rc == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk"]  # nothing written next to it
    result = run_smesh(["devnet", "up", "--dir", tmp_path / "new", "--units", "1,x"], timeout=30)
    assert "--units" in one_error_line(result) and not (tmp_path / "new").exists()


def test_logs_print_a_tail_and_follow_new_lines(scenario):
    directory = scenario["dir"]
    tail = run_smesh(["devnet", "logs", "node-1", "-n", "3", "--dir", directory], timeout=30)
    assert tail.rc == 0 and len(tail.stdout.splitlines()) == 3
    assert tail.stdout.splitlines() == (directory / "logs" / "node-1.log").read_text().splitlines()[-3:]
    assert run_smesh(["devnet", "logs", "poet", "--dir", directory], timeout=30).stdout.startswith("===")
    assert "no node '9'" in one_error_line(run_smesh(["devnet", "logs", "9", "--dir", directory], timeout=30))
    follow = subprocess.Popen([str(SMESH), "devnet", "logs", "0", "-f", "-n", "1", "--dir", str(directory)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        follow.stdout.readline()  # the last line already there
        with (directory / "logs" / "node-0.log").open("a") as log:
            log.write("a line written later\n")
        assert follow.stdout.readline() == "a line written later\n"
    finally:
        follow.send_signal(signal.SIGINT)
        assert follow.wait(10) == 0


def test_manifest_describes_the_same_network(scenario, tmp_path):
    import yaml

    directory = scenario["dir"]
    out = tmp_path / "k8s.yaml"
    made = run_smesh(["devnet", "manifest", "--format", "k8s", "--like", directory, "-o", out], timeout=60)
    assert made.rc == 0, made
    docs = list(yaml.safe_load_all(out.read_text()))
    sets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
    assert sorted(sets) == ["node-0", "node-1", "node-2", "node-3", "poet"]
    args = sets["node-1"]["spec"]["template"]["spec"]["containers"][0]["args"]
    accounts = sorted(args[i + 1] for i, a in enumerate(args) if a == "--account")
    assert accounts == sorted(f"{a['address']}={a['balance']}" for a in scenario["up"]["accounts"])
    assert args[args.index("--units") + 1] == "2"
    compose = run_smesh(["devnet", "manifest", "--format", "compose", "--nodes", "2"], timeout=60)
    assert compose.rc == 0 and sorted(yaml.safe_load(compose.stdout)["services"]) == ["node-0", "node-1", "poet"]
    bad = run_smesh(["devnet", "manifest", "--format", "helm"], timeout=60)
    assert "unknown manifest format 'helm'" in one_error_line(bad) and bad.rc == 2
