"""The p2p host on 127.0.0.1 with ephemeral ports: handshake, gossip, requests, penalties.

Every peer runs as it does in a node process: its own network thread (the host) and a "node"
thread with an asyncio loop where handlers and the request server run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable

import grpc
import pytest

from core.crypto.hashing import genesis_id
from core.errors import InvalidInput
from core.p2p import wire
from core.p2p.host import Host, HostConfig, start_host
from core.p2p.identity import load_or_create_key, peer_id, public_key_of_peer
from core.p2p.protocol import P2PError, Topic, Verdict

GENESIS = genesis_id(1_700_000_000, "p2p-test")
OTHER_NETWORK = genesis_id(1_700_000_000, "another")
FAST = {"request_timeout": 1.0, "redial": (0.1, 0.5), "handshake_timeout": 2.0}


def seed_of(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


class Peer:
    """A host plus a node thread that records gossip and answers `echo/1` and `slow/1` requests."""

    def __init__(self, name: str, bootnodes: tuple[str, ...] = (), genesis: bytes = GENESIS, validate=None,
                 **config) -> None:  # fmt: skip
        self.name = name
        self.received: list[tuple[str, bytes, str]] = []
        self.arrived = threading.Condition()
        self.validate: Callable[[bytes], Verdict] = validate or (lambda payload: Verdict.ACCEPT)
        self.host = Host(seed_of(name), genesis, HostConfig(listen=("127.0.0.1", 0), bootnodes=bootnodes,
                                                            **{**FAST, **config}))  # fmt: skip
        self.host.start()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        handlers = {topic: self._handler(topic) for topic in Topic}
        asyncio.run_coroutine_threadsafe(self._attach(handlers), self.loop).result(5)

    async def _attach(self, handlers) -> None:
        self.host.attach(handlers, self.serve)

    def _handler(self, topic: Topic):
        def handle(payload: bytes, sender: str) -> Verdict:
            verdict = self.validate(payload)
            if verdict is Verdict.ACCEPT:
                with self.arrived:
                    self.received.append((topic.value, payload, sender))
                    self.arrived.notify_all()
            return verdict

        return handle

    def serve(self, protocol: str, payload: bytes) -> bytes | None:
        if protocol == "echo/1":
            return self.name.encode() + b":" + payload
        if protocol == "big/1":
            return bytes(wire.MAX_RESPONSE + 1)
        return None

    @property
    def address(self) -> str:
        return self.host.listen_address

    @property
    def id(self) -> str:
        return self.host.id

    def on_node_thread(self, fn):
        """Run fn on the node thread (where the node calls `request`), return its result."""
        future = asyncio.run_coroutine_threadsafe(self._call(fn), self.loop)
        return future.result(30)

    async def _call(self, fn):
        return fn()

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.arrived.wait(min(remaining, 0.05))
        return True

    def stop(self) -> None:
        self.host.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def peers():
    made: list[Peer] = []

    def make(name: str, *bootnodes: Peer, **kwargs) -> Peer:
        peer = Peer(name, tuple(b.address for b in bootnodes), **kwargs)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.stop()


# ed25519 peer ids as real libp2p nodes print them (bootnode lists of public networks)
REAL_PEER_IDS = [
    "12D3KooWNvSZnPi3RrhrTwEY4LuHBeB6K6idsA5DZtEt3yBHk5CQ",
    "12D3KooWPs19932secARrxoRR5J8ZtBMt2vqwyHH1Q9p8thYP7cn",
    "12D3KooWLGpxvuNUmMLrQNKTqvxXbXkR1GceyRSpQXd8ZGmprvjH",
]


@pytest.mark.parametrize("real", REAL_PEER_IDS)
def test_peer_ids_are_libp2p_ed25519_ids(real):
    key = public_key_of_peer(real)  # the identity-multihash prefix and length libp2p uses
    assert len(key) == 32 and peer_id(key) == real


def test_a_peer_id_that_is_not_ed25519_is_refused():
    with pytest.raises(InvalidInput, match="is not an ed25519 peer id"):
        public_key_of_peer("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")  # an RSA (sha256) peer id


def test_the_node_key_is_created_once_and_private(tmp_path):
    seed = load_or_create_key(tmp_path)
    path = tmp_path / "p2p" / "p2p.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(tmp_path) == seed


def test_peers_link_through_one_bootnode_and_learn_each_other(peers):
    a = peers("a")
    b = peers("b", a)
    c = peers("c", a)  # knows only a; a tells it where b listens
    assert wait_until(lambda: len(a.host.peers()) == 2 and len(b.host.peers()) == 2 and len(c.host.peers()) == 2)
    assert set(c.host.peers()) == {a.id, b.id}
    assert set(a.host.peers()) == {b.id, c.id}


def test_gossip_reaches_every_peer_once_and_never_the_publisher(peers):
    a = peers("a")
    b = peers("b", a)
    c = peers("c", b)  # a line a - b - c until c learns a: relaying or direct, each gets it once
    assert wait_until(lambda: len(b.host.peers()) == 2)
    a.host.publish(Topic.TX, b"tx-1")
    assert b.wait_for(lambda: len(b.received) == 1)
    assert c.wait_for(lambda: len(c.received) == 1)
    time.sleep(0.3)  # duplicates would have arrived by now
    assert [(t, p) for t, p, _ in b.received] == [("tx1", b"tx-1")]
    assert [(t, p) for t, p, _ in c.received] == [("tx1", b"tx-1")]
    assert a.received == []
    assert b.received[0][2] == a.id  # the handler learns who sent it


def test_rejected_gossip_is_not_relayed_and_its_sender_is_dropped(peers):
    a = peers("a")
    judge = peers("judge", a, validate=lambda p: Verdict.REJECT if p.startswith(b"bad") else Verdict.ACCEPT)
    c = peers("c", judge)
    assert wait_until(lambda: len(judge.host.peers()) == 2)
    c.host.publish(Topic.ATX, b"bad-0")  # c publishes invalid data straight to the judge
    assert wait_until(lambda: c.id in judge.host.stats.penalties)
    assert c.id in judge.host.peers()  # one rejection costs score, not the link
    for i in range(1, 3):
        c.host.publish(Topic.ATX, b"bad-%d" % i)
    assert wait_until(lambda: c.id not in judge.host.peers())
    assert judge.host.stats.banned[0] == (c.id, "it sent invalid ax1 messages")
    time.sleep(0.5)
    assert c.id not in judge.host.peers()  # banned: its redials are refused
    assert all(not p.startswith(b"bad") for _, p, _ in a.received)  # never relayed


def test_requests_ask_the_hinted_peer_first_then_others(peers):
    a = peers("a")
    b = peers("b", a)
    c = peers("c", a, b)
    assert wait_until(lambda: len(a.host.peers()) == 2)
    assert a.on_node_thread(lambda: a.host.request("echo/1", b"x", peer=c.id)) == b"c:x"
    assert a.on_node_thread(lambda: a.host.request("echo/1", b"y", peer=b.id)) == b"b:y"
    assert a.on_node_thread(lambda: a.host.request("nothing/1", b"z")) is None  # nobody has it
    assert a.on_node_thread(lambda: a.host.request("big/1", b"")) is None  # over the response limit


def test_two_nodes_fetching_from_each_other_at_once_do_not_deadlock(peers):
    """Each node thread blocks in `request` while the other asks it: serving goes on meanwhile."""
    a = peers("a")
    b = peers("b", a)
    assert wait_until(lambda: a.host.peers() and b.host.peers())
    results: dict[str, bytes | None] = {}
    gate = threading.Barrier(2)

    def ask(me: Peer, other: Peer) -> Callable[[], None]:
        def run() -> None:
            gate.wait(5)
            results[me.name] = me.host.request("echo/1", b"n", peer=other.id)

        return run

    started = time.monotonic()
    futures = [asyncio.run_coroutine_threadsafe(p._call(ask(p, o)), p.loop) for p, o in ((a, b), (b, a))]
    for f in futures:
        f.result(20)
    assert results == {"a": b"b:n", "b": b"a:n"}
    assert time.monotonic() - started < a.host.config.request_timeout  # neither waited for a timeout


def test_a_peer_of_another_network_is_refused_with_a_clear_line(peers, caplog):
    a = peers("a")
    with caplog.at_level(logging.WARNING, logger="smesh.p2p"):
        stranger = peers("stranger", a, genesis=OTHER_NETWORK)
        assert wait_until(lambda: a.host.stats.refused and stranger.host.stats.refused)
    time.sleep(0.3)
    assert a.host.peers() == [] and stranger.host.peers() == []
    expected = f"it is on another network (genesis id {OTHER_NETWORK.hex()}, ours {GENESIS.hex()})"
    assert expected in a.host.stats.refused
    assert any(expected in r.getMessage() for r in caplog.records)


class RawPeer:
    """A hand-driven stream to a host: the handshake done right, then whatever a test sends."""

    def __init__(self, target: Peer, genesis: bytes = GENESIS, name: str = "raw") -> None:
        self.seed = seed_of(name)
        from core.crypto.signing import public_key_of

        self.public_key = public_key_of(self.seed)
        self.target = target
        self.genesis = genesis
        self.loop = asyncio.new_event_loop()

    def run(self, frames: list[bytes], read_after: float = 0.5) -> list[bytes] | str:
        """Handshake, send frames, collect what comes back until the stream ends or `read_after` s."""
        return self.loop.run_until_complete(self._run(frames, read_after))

    async def _run(self, frames, read_after):
        channel = grpc.aio.insecure_channel(self.target.address,
                                            options=[("grpc.max_send_message_length", 64 << 20)])  # fmt: skip
        call = channel.stream_stream("/smesh.p2p.v1.Link/Connect")()
        nonce = bytes(32)
        await call.write(wire.encode_frame(wire.Hello(1, self.genesis, self.public_key, nonce, "")))
        theirs = wire.decode_frame(await call.read())
        received = []
        try:
            await call.write(wire.encode_frame(wire.sign_handshake(self.seed, self.genesis, theirs.nonce, self.public_key)))
            frame = await call.read()
            if frame is grpc.aio.EOF:
                return "refused"
            auth = wire.decode_frame(frame)
            assert wire.verify_handshake(auth, self.genesis, nonce, theirs.public_key)
            for frame in frames:
                await call.write(frame)
            while True:
                frame = await asyncio.wait_for(call.read(), read_after)
                if frame is grpc.aio.EOF:
                    return received
                received.append(frame)
        except asyncio.TimeoutError:
            return received
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):  # the host may end the stream before our reply
            return "refused" if not received else received
        finally:
            call.cancel()
            await channel.close()


@pytest.mark.parametrize(
    "frame, reason",
    [
        (b"\x09hello", "it sent a malformed frame (unknown frame kind 9)"),
        (wire.encode_frame(wire.Gossip("tx1", b"x")) + b"\x00", "it sent a malformed frame"),
        (bytes([wire.Kind.GOSSIP]) + b"\x0ctx1", "it sent a malformed frame"),  # truncated
        (wire.encode_frame(wire.Hello(1, GENESIS, bytes(32), bytes(32), "")), "it sent Hello after the handshake"),
    ],
)
def test_malformed_frames_drop_and_ban_the_peer(peers, frame, reason):
    a = peers("a")
    raw = RawPeer(a)
    raw.run([frame])
    assert wait_until(lambda: a.host.stats.banned)
    raw_id = peer_id(raw.public_key)
    assert a.host.stats.banned[0][0] == raw_id and a.host.stats.banned[0][1].startswith(reason)
    assert wait_until(lambda: raw_id not in a.host.peers())
    assert a.received == []  # nothing was handed to the node
    assert raw.run([]) == "refused"  # a banned peer's next link ends at the handshake


def test_an_oversized_frame_ends_the_link_and_nothing_is_stored(peers):
    a = peers("a")
    raw = RawPeer(a)
    huge = wire.encode_frame(wire.Gossip("tx1", b"")) + bytes(wire.MAX_FRAME + 10)
    raw.run([huge])
    assert wait_until(lambda: peer_id(raw.public_key) not in a.host.peers())
    assert a.received == []


def test_a_gossip_payload_over_the_limit_is_refused(peers):
    a = peers("a")
    raw = RawPeer(a)
    frame = bytes([wire.Kind.GOSSIP]) + wire.Gossip("tx1", b"").encode()[:-1] + _compact(wire.MAX_GOSSIP + 1)
    raw.run([frame + bytes(wire.MAX_GOSSIP + 1)])
    assert wait_until(lambda: a.host.stats.banned)
    assert "exceeds the maximum" in a.host.stats.banned[0][1]
    assert a.received == []


def _compact(n: int) -> bytes:
    from core.codec import encode_compact

    return encode_compact(n)


def test_a_taken_listen_port_is_one_clear_error(peers):
    a = peers("a")
    host, port = a.address.rsplit(":", 1)
    with pytest.raises(P2PError, match=f"cannot listen on 127.0.0.1:{port} for p2p: the port is taken"):
        start_host(seed_of("b"), GENESIS, a.address, [])


def test_bad_addresses_are_refused_up_front():
    with pytest.raises(InvalidInput, match="--bootnode 'nowhere' is not HOST:PORT"):
        start_host(seed_of("b"), GENESIS, None, ["nowhere"])
    with pytest.raises(InvalidInput, match="--listen '1.2.3.4:99999' is not HOST:PORT"):
        start_host(seed_of("b"), GENESIS, "1.2.3.4:99999", [])


def started_with_state(name: str, state_dir, *bootnodes: Peer) -> Host:
    """A started host that keeps peers.json (and reads blocklist.json) in `state_dir`."""
    host = Host(seed_of(name), GENESIS, HostConfig(listen=("127.0.0.1", 0), bootnodes=tuple(b.address for b in bootnodes),
                                                   **FAST), state_dir=state_dir)  # fmt: skip
    host.start()
    return host


def test_a_restarted_peer_is_redialled_and_peers_are_remembered(peers, tmp_path):
    a = peers("a")
    b_host = started_with_state("b", tmp_path, a)
    try:
        assert wait_until(lambda: b_host.peers() == [a.id])
    finally:
        b_host.stop()
    assert wait_until(lambda: a.host.peers() == [])
    # the next start has no --bootnode: it dials the peers of the last run from peers.json
    again = Host(seed_of("b"), GENESIS, HostConfig(listen=("127.0.0.1", 0), **FAST), state_dir=tmp_path)
    assert again.expects_peers
    again.start()
    try:
        assert wait_until(lambda: again.peers() == [a.id])
    finally:
        again.stop()


def test_a_blocklist_drops_and_refuses_a_peer_without_penalty_until_it_is_lifted(peers, tmp_path):
    a = peers("a")
    b_host = started_with_state("b", tmp_path, a)
    try:
        assert wait_until(lambda: b_host.peers() == [a.id])
        (tmp_path / "blocklist.json").write_text(json.dumps([a.id]))
        assert wait_until(lambda: b_host.peers() == [] and a.host.peers() == [])
        time.sleep(1.5)  # a keeps redialling b (b is not its bootnode, but b's address was learnt): refused
        assert b_host.peers() == [] and a.host.peers() == []
        assert a.id not in b_host.stats.penalties and not b_host.stats.banned
        (tmp_path / "blocklist.json").write_text(json.dumps([]))
        assert wait_until(lambda: b_host.peers() == [a.id] and a.host.peers() == [b_host.id])
        # an address blocks too, and a file that is not a list is ignored with a warning, not obeyed
        (tmp_path / "blocklist.json").write_text(json.dumps([a.address]))
        assert wait_until(lambda: b_host.peers() == [])
        (tmp_path / "blocklist.json").write_text('{"peers": []}')
        assert wait_until(lambda: b_host.peers() == [a.id])
    finally:
        b_host.stop()


def test_penalties_fade_so_only_a_steady_stream_of_invalid_messages_gets_a_peer_dropped(peers):
    a = peers("a")
    judge = peers("judge", a, validate=lambda p: Verdict.REJECT if p.startswith(b"bad") else Verdict.ACCEPT,
                  score_recovery=10.0)  # fmt: skip
    c = peers("c", judge)
    assert wait_until(lambda: len(judge.host.peers()) == 2)
    for i in range(5):  # five rejects, each after the last one's penalty has faded (10 points a second)
        c.host.publish(Topic.ATX, b"bad-%d" % i)
        assert wait_until(lambda: judge.host.stats.penalties[c.id] == 10 * (i + 1))
        time.sleep(1.2)
    assert c.id in judge.host.peers() and not judge.host.stats.banned
