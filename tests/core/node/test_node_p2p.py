"""A real node behind a real p2p host (issue 12): what a hostile peer's messages do to it.

Malformed, invalid and wrong-network messages are dropped, the peer is penalised and banned, the
node keeps running and nothing reaches its store.  An honest peer's transaction reaches the mempool.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from core.crypto.hashing import genesis_id
from core.crypto.signing import public_key_of
from core.node.node import Node
from core.p2p import wire
from core.p2p.host import Host, HostConfig
from core.p2p.identity import peer_id
from core.p2p.protocol import Topic
from core.tx.build import wallet_spawn
from core.tx.signing import sign_single
from tests.core.node.test_node import CONFIG, GENESIS_LAYER, KEY, bare_node
from tests.core.p2p.test_host import FAST, RawPeer, seed_of, wait_until

COUNTED = ("atxs", "ballots", "blocks", "transactions", "malfeasance")


class Attached:
    """A node on its own loop thread, attached to a host listening on 127.0.0.1."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.host = Host(seed_of(node.name), node.genesis_id, HostConfig(listen=("127.0.0.1", 0), **FAST))
        self.host.start()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._attach(), self.loop).result(5)

    async def _attach(self) -> None:
        self.node.attach(self.host)

    @property
    def address(self) -> str:
        return self.host.listen_address

    def stop(self) -> None:
        self.host.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.node.store.close()


LIVE = GENESIS_LAYER + 1  # a node started here missed nothing: it judges gossip at once


@pytest.fixture
def attached(tmp_path):
    made = Attached(bare_node(tmp_path, at_layer=LIVE))
    yield made
    made.stop()


def rows(db, tables=COUNTED) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables if t in found}  # noqa: S608
    finally:
        conn.close()


def gossip(topic: Topic, payload: bytes) -> bytes:
    return wire.encode_frame(wire.Gossip(topic.value, payload))


@pytest.mark.parametrize("topic", [Topic.ATX, Topic.PROPOSAL, Topic.HARE, Topic.CERTIFY, Topic.BEACON,
                                   Topic.MALFEASANCE, Topic.TX])  # fmt: skip
def test_invalid_gossip_gets_the_peer_banned_and_stores_nothing(attached, tmp_path, topic):
    before = rows(tmp_path / "bare.sql")
    raw = RawPeer(attached, genesis=CONFIG.genesis_id)  # a well-behaved handshake, then garbage the node's validators reject
    raw.run([gossip(topic, b"\x07garbage-%d" % i) for i in range(5)], read_after=1.0)
    raw_id = peer_id(raw.public_key)
    assert wait_until(lambda: any(p == raw_id for p, _ in attached.host.stats.banned))
    assert dict(attached.host.stats.banned)[raw_id] == f"it sent invalid {topic.value} messages"
    assert attached.host.stats.verdicts[(topic.value, "reject")] >= 3
    assert rows(tmp_path / "bare.sql") == before
    assert raw.run([]) == "refused"  # banned
    assert attached.node.status()["layer"] == LIVE  # the node is fine


def test_a_node_that_has_not_caught_up_ignores_what_it_cannot_judge_yet(tmp_path):
    """Gossip gating (spec §9.1): started at layer 10 with layers to catch up, the node takes ATXs
    (they are judged on their own) but ignores hare messages until its first sync pass."""
    behind = Attached(bare_node(tmp_path, at_layer=10))
    try:
        raw = RawPeer(behind, genesis=CONFIG.genesis_id)
        raw.run([gossip(Topic.HARE, b"\x07garbage-%d" % i) for i in range(5)] + [gossip(Topic.ATX, b"\x07bad")])
        assert wait_until(lambda: behind.host.stats.verdicts[(Topic.ATX.value, "reject")] == 1)
        assert behind.host.stats.verdicts[(Topic.HARE.value, "ignore")] == 5
        assert behind.host.stats.banned == []  # ignoring costs the sender nothing
    finally:
        behind.stop()


def test_a_peer_of_another_network_never_reaches_the_node(attached, tmp_path):
    before = rows(tmp_path / "bare.sql")
    raw = RawPeer(attached, genesis=genesis_id(1, "another network"))
    assert raw.run([gossip(Topic.TX, b"x")]) == "refused"
    assert any("another network" in r for r in attached.host.stats.refused)
    assert attached.host.stats.gossip_in == 0 and rows(tmp_path / "bare.sql") == before


def test_a_transaction_from_a_peer_reaches_the_mempool_and_is_relayed(tmp_path):
    first = Attached(bare_node(tmp_path, "first"))
    second = Attached(bare_node(tmp_path, "second"))
    try:
        relay = Host(seed_of("relay"), CONFIG.genesis_id,
                     HostConfig(listen=("127.0.0.1", 0), bootnodes=(first.address, second.address), **FAST))  # fmt: skip
        relay.start()
        try:
            # first and second know only the relay; it tells each where the other listens
            assert wait_until(lambda: second.host.id in first.host.peers())
            raw = sign_single(wallet_spawn(public_key_of(KEY)), KEY, CONFIG.genesis_id).raw()
            asyncio.run_coroutine_threadsafe(_submit(first.node, raw), first.loop).result(5)
            assert len(first.node.mempool) == 1
            # the relay runs no node, so it validates (and relays) nothing: second has it from first
            assert wait_until(lambda: len(second.node.mempool) == 1, 10)
            assert rows(tmp_path / "second.sql", ("transactions",)) == {"transactions": 1}
        finally:
            relay.stop()
    finally:
        first.stop()
        second.stop()


async def _submit(node: Node, raw: bytes) -> None:
    node.submit_tx(raw)
    await asyncio.sleep(0)
