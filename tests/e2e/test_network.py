"""Separate `smesh node run` processes form one network over p2p (issue 12, spec/node.md §9, §11 oracles).

One run, checked by several tests: four node processes on 127.0.0.1 with ephemeral ports, PoST
units 1, 2, 1, 2 (weights differ), short layers.  n0 is the bootnode; n1 and n2 join through it;
n3 joins two epochs late through n1 (it learns the others by peer exchange); n1 is killed with
SIGKILL mid-epoch and restarted on its data directory.  A spend from a genesis account goes to
n0's API.  Every node stops itself at the same layer (`--until-layer`), then the stores are
compared: the oracles are go-spacemesh systest's (same beacon, block, state and aggregated hash
everywhere; eligibility and rewards by weight; the transaction applied once).

Activation is the deterministic stand-in (`--simulated-activation`): the real PoST + PoET path of
several processes is in test_network_poet.py.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import queue
import signal
import sqlite3
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from core.config.node import load_config
from core.mesh.store import MeshStore
from core.node.simulation import TICKS_PER_ROUND
from core.node.wire import EMPTY_BLOCK
from core.tx.templates import wallet_principal
from core.wallet.address import encode_address
from tests.core.tx.test_vectors import K2_PUB
from tests.e2e.helpers import SMESH, WIDE, run_smesh

HRP = "standalone"
LPE = 4
LAYER = 2.5  # with 2 s layers a loaded CI machine once left an epoch with too few smeshers' ballots
CONFIG = {
    "layer-duration": LAYER, "layers-per-epoch": LPE, "layer-avg-size": 5, "hdist": 3,
    "hare-preround-delay": LAYER / 4, "hare-round-duration": LAYER / 8, "hare-committee": 50,
    "certificate-committee": 50,
}  # fmt: skip
UNITS = (1, 2, 1, 2)
LATE_JOIN = 2 * LPE  # n3 starts when epoch 2 starts
KILL_AT, RESTART_AT = 3 * LPE + 1, 3 * LPE + 3  # n1: down for two layers inside epoch 3
LAST = 7 * LPE  # every node stops once this layer is applied
FUNDS = 1000 * 10**9
K2_ADDRESS = encode_address(wallet_principal(K2_PUB), HRP)
RECIPIENT = encode_address(bytes(4) + b"\x43" * 20, HRP)


def coinbase(i: int) -> str:
    return encode_address(bytes(4) + bytes([0x10 + i]) * 20, HRP)


@dataclasses.dataclass
class Proc:
    """One node process and the JSON events it printed."""

    name: str
    args: list[str]
    log: Path  # every line the node printed (kept in the test's directory for a post-mortem)
    proc: subprocess.Popen | None = None
    events: list[dict] = dataclasses.field(default_factory=list)
    new: queue.Queue = dataclasses.field(default_factory=queue.Queue)
    stderr: list[str] = dataclasses.field(default_factory=list)

    def start(self) -> None:
        env = {**os.environ, "COLUMNS": WIDE, "NO_COLOR": "1"}
        self.proc = subprocess.Popen([str(SMESH), *self.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
        proc = self.proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()
        threading.Thread(target=lambda: self.stderr.append(proc.stderr.read()), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        with self.log.open("a") as log:
            for line in proc.stdout:
                log.write(line)
                self._take(line)

    def _take(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        self.events.append(event)
        self.new.put(event)

    def wait_for(self, predicate, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: not reached in {timeout} s; stderr: {''.join(self.stderr)[-2000:]}")
            try:
                event = self.new.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if self.proc.poll() is not None and self.new.empty():
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {''.join(self.stderr)[-2000:]}")
                continue
            if predicate(event):
                return event

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclasses.dataclass
class Network:
    dir: Path
    nodes: list[Proc]
    genesis: int
    tx: dict | None = None
    status: dict | None = None  # `smesh node status` of n0 after the late node joined


def applied(layer: int):
    return lambda e: e["event"] == "applied" and e["layer"] >= layer


@pytest.fixture(scope="module")
def network(tmp_path_factory, k2) -> Network:
    base = tmp_path_factory.mktemp("network")
    (base / "config.json").write_text(json.dumps(CONFIG))
    genesis = int(time.time()) + 10

    def node(i: int, bootnodes: tuple[str, ...]) -> Proc:
        args = [
            "--json", "node", "run", "--data-dir", str(base / f"n{i}"), "--config", str(base / "config.json"),
            "--simulated-activation", "--genesis-time", str(genesis), "--coinbase", coinbase(i),
            "--units", str(UNITS[i]), "--account", f"{K2_ADDRESS}=1000smh", "--listen", "127.0.0.1:0",
            "--grpc-public-listener", "127.0.0.1:0", "--grpc-private-listener", "", "--grpc-json-listener", "",
            "--until-layer", str(LAST), *(a for b in bootnodes for a in ("--bootnode", b)),
        ]  # fmt: skip
        return Proc(f"n{i}", args, base / f"n{i}.log")

    nodes: list[Proc] = []
    try:
        n0 = node(0, ())
        nodes.append(n0)
        n0.start()
        boot = n0.wait_for(lambda e: e["event"] == "p2p", 60)["listen"]
        for i in (1, 2):
            nodes.append(node(i, (boot,)))
            nodes[i].start()
        n1_listen = nodes[1].wait_for(lambda e: e["event"] == "p2p", 60)["listen"]
        api = n0.wait_for(lambda e: e["event"] == "api", 60)["public"]

        n0.wait_for(lambda e: e["event"] == "status" and e["layer"] >= LATE_JOIN, 120)
        late = node(3, (n1_listen,))
        nodes.append(late)
        late.start()

        n0.wait_for(applied(2 * LPE + 1), 120)  # the first blocks
        sent = run_smesh(
            ["--json", "tx", "send", *k2.args(), "--to", RECIPIENT, "--amount", "2smh", "--yes", "--api", api,
             "--timeout", "60"],
            timeout=90,
        )  # fmt: skip
        assert sent.rc == 0, sent
        tx = json.loads(sent.stdout)

        status = run_smesh(["--json", "node", "status", "--api", api], timeout=30)  # v1 and v2alpha1 peers
        assert status.rc == 0, status

        nodes[1].wait_for(applied(KILL_AT), 120)
        nodes[1].proc.send_signal(signal.SIGKILL)
        nodes[1].proc.wait(10)
        n0.wait_for(applied(RESTART_AT), 60)
        nodes[1].start()  # same data directory, same flags: it continues from its store and syncs

        for proc in nodes:
            assert proc.proc.wait(timeout=(LAST + 20) * LAYER + 120) == 0, "".join(proc.stderr)[-3000:]
        yield Network(base, nodes, genesis, tx, json.loads(status.stdout))
    finally:
        for proc in nodes:
            proc.stop()


def stored(network: Network, i: int) -> MeshStore:
    return MeshStore(network.dir / f"n{i}" / "state.sql")


def layer_rows(base: Path, i: int) -> dict[int, tuple]:
    """Applied block, state hash and aggregated hash of every applied layer of node i."""
    conn = sqlite3.connect(base / f"n{i}" / "state.sql")
    try:
        rows = conn.execute(
            "SELECT id, applied_block, state_hash, aggregated_hash FROM layers WHERE state_hash IS NOT NULL"
        )
        return {row[0]: row[1:] for row in rows}
    finally:
        conn.close()


def test_every_node_has_the_same_blocks_state_and_aggregated_hashes(network: Network):
    rows = [layer_rows(network.dir, i) for i in range(4)]
    for i, r in enumerate(rows):
        assert max(r) >= LAST, f"n{i} applied only up to {max(r)}"
    compared = range(LPE * 2, LAST - 1)  # layers <= current - 2 when the nodes stopped
    for layer in compared:
        values = {i: r.get(layer) for i, r in enumerate(rows)}
        assert len(set(values.values())) == 1, (layer, values)
    blocks = [rows[0][layer][0] for layer in compared]
    # most layers have a block (hare may fail around the kill and the restart: that is still consensus)
    assert sum(b != EMPTY_BLOCK for b in blocks) >= len(blocks) // 2


def test_every_node_has_the_same_beacon_per_epoch(network: Network):
    beacons = []
    for i in range(4):
        store = stored(network, i)
        try:
            beacons.append({e: b for e, b in store.beacons().items() if 2 <= e <= LAST // LPE})
        finally:
            store.close()
    assert set(beacons[0]) >= set(range(2, LAST // LPE + 1))
    assert all(b == beacons[0] for b in beacons[1:])


def _ref_ballots(store: MeshStore) -> list:
    return [b for b in store.ballots() if b.inner.epoch_data is not None]


def test_eligibility_counts_follow_weight(network: Network):
    """spec §3.2: slots = max(1, w * LayerAvgSize * LayersPerEpoch // W) for each smesher and epoch."""
    conn = sqlite3.connect(network.dir / "n0" / "state.sql")
    try:
        atxs = conn.execute("SELECT epoch, pubkey, weight, received FROM atxs").fetchall()  # received: Unix ns
    finally:
        conn.close()
    config = load_config("standalone", None, {k.replace("-", "_"): v for k, v in CONFIG.items()})
    start = lambda epoch: network.genesis + epoch * LPE * LAYER  # noqa: E731
    store = stored(network, 0)
    try:
        checked = collections.Counter()
        for ballot in _ref_ballots(store):
            epoch = ballot.layer // LPE
            weights = {pk: w for e, pk, w, received in atxs if e == epoch - 1 and received / 1e9 <= start(epoch)}
            total = sum(weights.values())
            expected = max(1, weights[ballot.smesher_id] * config.layer_avg_size * LPE // total)
            assert ballot.inner.epoch_data.eligibility_count == expected, (epoch, ballot.smesher_id.hex())
            checked[epoch] += 1
    finally:
        store.close()
    assert all(checked[e] >= 3 for e in range(3, LAST // LPE))  # most smeshers, every full epoch


def test_rewards_are_split_by_weight(network: Network):
    """spec §7.3: each coinbase gets floor(total * w_i / sum w), w_i = ATX weight per slot x proofs."""
    store = stored(network, 2)
    conn = store.conn
    try:
        weights = {(e, pk): (w, u) for e, pk, w, u in conn.execute("SELECT epoch, pubkey, weight, effective_num_units FROM atxs")}
        ballots = collections.defaultdict(list)
        for ballot in store.ballots():
            ballots[ballot.layer].append(ballot)
        ref_slots = {(b.layer // LPE, b.smesher_id): b.inner.epoch_data.eligibility_count for b in _ref_ballots(store)}
        checked = 0
        for layer in range(3 * LPE, LAST - 1):
            rows = conn.execute(
                "SELECT pubkey, coinbase, total_reward FROM rewards WHERE layer = ?", (layer,)
            ).fetchall()
            if not rows:
                continue
            share = {}
            for smesher in {r[0] for r in rows}:
                epoch = layer // LPE
                weight, units = weights[(epoch - 1, smesher)]
                assert weight == units * TICKS_PER_ROUND  # the stand-in ATXs' ticks
                ballot = next(b for b in ballots[layer] if b.smesher_id == smesher)
                share[smesher] = Fraction(weight, ref_slots[(epoch, smesher)]) * len(ballot.eligibility_proofs)
            total = sum(r[2] for r in rows)
            for smesher, _, reward in rows:
                # every reward is the same fraction of one pot (the block's subsidy + fees, minus dust)
                assert abs(reward - total * share[smesher] / sum(share.values())) < len(rows) + 1
            checked += 1
    finally:
        store.close()
    assert checked >= 2 * LPE


def test_a_transaction_sent_to_one_node_is_applied_once_everywhere(network: Network):
    assert network.tx["result"]["status"] == "SUCCESS", network.tx
    tx_id = bytes.fromhex(network.tx["id"])
    for i in range(4):
        store = stored(network, i)
        try:
            sender = store.account(wallet_principal(K2_PUB))
            recipient = store.account(bytes(4) + b"\x43" * 20)
            assert (sender.next_nonce, recipient.balance) == (2, 2 * 10**9), f"n{i}"  # spawn + spend, once
            assert store.transaction_blob(tx_id) is not None
        finally:
            store.close()


def test_peers_found_each_other_and_the_late_node_caught_up(network: Network):
    n0, n1, n2, n3 = network.nodes
    peers = [max(e["peers"] for e in node.events if e["event"] == "status") for node in network.nodes]
    assert peers == [3, 3, 3, 3]  # n3 was given only n1: the others it learnt by peer exchange
    first_status = next(e for e in n3.events if e["event"] == "status" and e["layer"] >= LATE_JOIN)
    assert first_status["last_applied"] < LATE_JOIN  # it really started late
    connected = [e for e in n3.events if e["event"] == "peer_connected"]
    assert len({e["peer"] for e in connected}) == 3
    assert network.status["connectedPeers"] >= 2 and network.status["status"] == "SYNCED"
