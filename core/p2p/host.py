"""A node's network host (spec/node.md §9.1, §9.5): links to peers, flood gossip, request/response.

Transport: one gRPC bidirectional stream per pair of peers (`grpc.aio`, which the node already uses
for its API: HTTP/2 flow control, message size limits, keepalive).  PyPI `libp2p` was the other
candidate; it is trio-only and beta, and its gossipsub drops bursts beyond 10 messages per topic per
second per peer, which a hare round exceeds.  On top of the stream (core/p2p/wire.py):

- a **handshake bound to the network**: both sides prove their ed25519 key over the other's nonce
  and the genesis id; a peer of another network is refused with one log line;
- **flood gossip with dedup by hash**: a payload is handed to the node once (BLAKE3 of the payload
  is the message id), relayed to the other peers only when the node's validator accepts it; a peer
  whose messages the validator rejects loses score (regained slowly) and is dropped and banned below a threshold,
  one that sends a malformed frame at once;
- **request/response by protocol name** with size limits and timeouts: the peer that sent the
  referencing object is asked first, then a few others at a time, first answer wins;
- **peers**: bootnodes and the peers of earlier runs (`p2p/peers.json`) are dialled and redialled
  with backoff, and peers tell each other the addresses they know, so one bootnode is enough;
- **a blocklist** (`p2p/blocklist.json`, a JSON list of peer ids and HOST:PORT addresses, read
  again whenever it changes): the node keeps no link to those peers, without penalising them.
  `smesh devnet partition` uses it to split a network without root (no firewall rules).

Threads.  The node is a synchronous state machine on its own asyncio loop: its handlers, `serve`
and `request` run there.  The host runs its own loop in a thread, so the node may block in
`request` while the network goes on.  Gossip reaches the node through its loop (handlers never
nest); requests from peers are answered on the node thread too, also while the node is itself
waiting in `request` (serving only reads), so two nodes fetching from each other never deadlock.

Not here (spec §11 allows it): encryption of the link (the handshake authenticates it; run it
over a trusted network or a tunnel), DHT discovery, NAT traversal, rate limits.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc

from core import atomicfile
from core.crypto.hashing import hash32
from core.crypto.signing import public_key_of
from core.errors import DecodeError, InvalidInput
from core.p2p.protocol import GossipHandler, P2PError, RequestServer, Topic, Verdict, parse_address
from core.p2p import wire
from core.p2p.identity import peer_id

log = logging.getLogger("smesh.p2p")

PATH = "/smesh.p2p.v1.Link/Connect"
PEERS_FILE = "peers.json"
BLOCKLIST_FILE = "blocklist.json"
BLOCKED = "it is on this node's blocklist"
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", wire.MAX_FRAME),
    ("grpc.max_send_message_length", wire.MAX_FRAME),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.so_reuseport", 0),  # a taken port is an error, not a second listener
]


@dataclasses.dataclass(frozen=True)
class HostConfig:
    listen: tuple[str, int] | None = None  # None: dial out only
    bootnodes: tuple[str, ...] = ()  # HOST:PORT of peers to keep a link to
    max_peers: int = 32
    request_timeout: float = 3.0  # one peer's answer
    request_fanout: int = 3  # peers asked at once after the hinted one
    handshake_timeout: float = 5.0
    redial: tuple[float, float] = (0.5, 10.0)  # first and longest wait between dials of one address
    ban_seconds: float = 300.0
    reject_penalty: int = 10  # score lost per message the validator rejects
    drop_score: int = -25  # at or below: dropped and banned (three rejects in a row, less what faded)
    score_recovery: float = 1 / 6  # points a penalised peer regains per second, up to 0 (one reject a minute)
    max_inflight: int = 32  # a peer's requests being answered at once
    send_queue: int = 8192  # frames waiting for a slow peer before gossip to it is dropped
    seen_size: int = 200_000  # message ids remembered for dedup


@dataclasses.dataclass
class HostStats:
    """Counts for tests, status output and benchmarks."""

    gossip_in: int = 0
    duplicates: int = 0
    relayed: int = 0
    published: int = 0
    verdicts: collections.Counter[tuple[str, str]] = dataclasses.field(default_factory=collections.Counter)
    penalties: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    banned: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (peer id, reason)
    refused: list[str] = dataclasses.field(default_factory=list)  # handshakes refused, with the reason
    requests: int = 0
    served: int = 0
    timeouts: int = 0
    dropped_slow: int = 0


def _observed_host(peer: str) -> str:
    """The IP of grpc's `context.peer()` ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000")."""
    rest = peer.partition(":")[2]
    return rest.rpartition(":")[0].strip("[]") or "127.0.0.1"


class _Closed(Exception):
    """The link ended (the peer left, or we dropped it)."""


class _Link:
    """One established, authenticated link (either side of the stream)."""

    def __init__(self, peer: str, address: str, dialer: str, send_queue: int) -> None:
        self.peer = peer
        self.address = address  # where the peer listens ("" if it does not), for PEX and redials
        self.dialer = dialer  # peer id of the side that opened the stream (settles duplicate links)
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue(send_queue)
        self.gossip: asyncio.Queue[wire.Gossip] = asyncio.Queue(send_queue)
        self.pending: dict[int, asyncio.Future[wire.Response]] = {}
        self.score = 0.0
        self.scored_at = time.monotonic()  # when `score` was last brought up to date
        self.inflight = 0
        self.task: asyncio.Task | None = None  # the coroutine reading the link; cancelled to drop it

    def send(self, frame: bytes) -> bool:
        try:
            self.outbox.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            return False

    def close(self) -> None:
        """End the link (from another task; the link's own task just returns from its read loop)."""
        if self.task is not None and not self.task.done() and self.task is not asyncio.current_task():
            self.task.cancel()


class _NodeThread:
    """Runs work on the node's loop thread: gossip as loop callbacks, serving also while the node waits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.get_ident()
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()

    def call(self, fn: Callable[[], Any], reentrant: bool = False) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()

        def job() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as e:  # noqa: BLE001 - handed to the waiting side
                    future.set_exception(e)

        try:
            if reentrant:
                self.jobs.put(job)
                self.loop.call_soon_threadsafe(self.drain)
            else:
                self.loop.call_soon_threadsafe(job)
        except RuntimeError:  # the node's loop is closed: it is shutting down
            future.cancel()
        return future

    def drain(self) -> None:
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job()

    def wait(self, future: concurrent.futures.Future, deadline: float) -> None:
        """Block the node thread until `future` is done, answering peers' requests meanwhile."""
        future.add_done_callback(lambda _: self.jobs.put(None))
        while not future.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                future.cancel()
                return
            try:
                job = self.jobs.get(timeout=remaining)
            except queue.Empty:
                continue
            if job is not None:
                job()


@dataclasses.dataclass
class _Target:
    """An address to keep a link to."""

    address: str
    keep: bool  # a bootnode or a peer of an earlier run: redialled forever
    peer: str | None = None  # learnt at the first handshake
    wait: float = 0.0
    next_try: float = 0.0
    failures: int = 0
    dialing: bool = False


class Host:
    """This node's presence on the network.  `start()`, `attach(...)` from the node's loop, `stop()`.

    The node sees the same interface as the in-process bus's Endpoint: `publish`, `request`, `peers`.
    """

    online = True

    def __init__(self, seed: bytes, genesis_id: bytes, config: HostConfig, state_dir: Path | None = None) -> None:
        self.seed = seed
        self.public_key = public_key_of(seed)
        self.id = peer_id(self.public_key)
        self.genesis_id = genesis_id
        self.config = config
        self.state_dir = state_dir  # where peers.json is kept (None: nowhere)
        self.stats = HostStats()
        self.listen_address: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self._links: dict[str, _Link] = {}
        self._targets: dict[str, _Target] = {}
        self._banned: dict[str, float] = {}  # peer id or address -> until (monotonic)
        self._seen: collections.OrderedDict[bytes, set[str]] = collections.OrderedDict()  # id -> senders
        self._ids = itertools.count(1)
        self._node: _NodeThread | None = None
        self._handlers: Mapping[str, GossipHandler] = {}
        self._server_fn: RequestServer | None = None
        self._listening: Callable[[Topic], bool] | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        self._saved_peers = self._load_peers()
        self._blocked: frozenset[str] = frozenset()  # peer ids and addresses of p2p/blocklist.json
        self._blocklist_stamp: tuple[int, int] | None = None
        self.expects_peers = bool(config.bootnodes or self._saved_peers)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []  # ("peer_connected", {...}), ...

    # ============================================================================================
    # lifecycle (any thread)

    def start(self) -> None:
        """Start the network thread; returns once listening (P2PError if the address is taken)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main(ready, failure))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                ready.set()

        self._thread = threading.Thread(target=main, name=f"p2p-{self.id[-6:]}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]

    def stop(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)

    def attach(
        self,
        handlers: Mapping[Topic, GossipHandler],
        server: RequestServer | None,
        listening: Callable[[Topic], bool] | None = None,
    ) -> Host:
        """Connect the node: call from the node's running loop.  `listening(topic)` gates gossip
        (spec §9.1: an unsynced node ignores most topics); None listens to everything."""
        self._node = _NodeThread(asyncio.get_running_loop())
        self._handlers = {Topic(t).value: h for t, h in handlers.items()}
        self._server_fn = server
        self._listening = listening
        return self

    # ============================================================================================
    # the node's side (the node's thread)

    def peers(self) -> list[str]:
        return list(self._links)

    def peer_addresses(self) -> dict[str, str]:
        return {p: link.address for p, link in list(self._links.items())}

    def publish(self, topic: Topic | str, payload: bytes) -> None:
        """Gossip our own message to every peer."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._publish, Topic(topic).value, payload)

    def request(self, protocol: str, payload: bytes, peer: str | None = None) -> bytes | None:
        """Ask `peer` (if linked) first, then others; the first answer, or None."""
        loop = self._loop
        if loop is None or not self._links:
            return None
        future = asyncio.run_coroutine_threadsafe(self._ask(protocol, payload, peer), loop)
        deadline = time.monotonic() + 3 * self.config.request_timeout + 1.0
        node = self._node
        if node is not None and node.thread == threading.get_ident():
            node.wait(future, deadline)
        else:
            with contextlib.suppress(concurrent.futures.TimeoutError):
                future.result(max(0.0, deadline - time.monotonic()))
        if not future.done() or future.cancelled() or future.exception() is not None:
            future.cancel()
            return None
        return future.result()

    # ============================================================================================
    # the network thread

    async def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        self._stopping = asyncio.Event()
        try:
            await self._listen()
        except BaseException as e:  # noqa: BLE001 - reported to start()
            failure.append(e)
            ready.set()
            return
        for address in (*self.config.bootnodes, *self._saved_peers):
            self._target(address, keep=True)
        ready.set()
        dialer = asyncio.create_task(self._dial_loop())
        try:
            await self._stopping.wait()
        finally:
            dialer.cancel()
            for link in list(self._links.values()):
                link.close()
            tasks = [t for t in self._tasks if not t.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(dialer, *tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.stop(0.5)

    async def _listen(self) -> None:
        if self.config.listen is None:
            return
        host, port = self.config.listen
        server = grpc.aio.server(options=_GRPC_OPTIONS)
        handler = grpc.stream_stream_rpc_method_handler(self._accept)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("smesh.p2p.v1.Link", {"Connect": handler}),))
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = server.add_insecure_port(where)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise P2PError(f"cannot listen on {host}:{port} for p2p: the port is taken or the address is not local")
        await server.start()
        self._server = server
        self.listen_address = f"{host}:{bound}"

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _emit(self, event: str, **fields: Any) -> None:
        for listener in self.listeners:
            listener(event, fields)

    # --- dialling -------------------------------------------------------------------------------

    def _target(self, address: str, keep: bool, peer: str | None = None) -> None:
        if not address or address == self.listen_address or self._is_self_address(address):
            return
        target = self._targets.get(address)
        if target is None:
            if not keep and len(self._targets) >= 4 * self.config.max_peers:
                return
            target = self._targets[address] = _Target(address, keep)
        target.keep = target.keep or keep
        target.peer = peer or target.peer

    def _is_self_address(self, address: str) -> bool:
        if self.listen_address is None:
            return False
        host, port = address.rpartition(":")[::2]
        mine_host, mine_port = self.listen_address.rpartition(":")[::2]
        return port == mine_port and (host == mine_host or mine_host in ("0.0.0.0", "::") and host in ("127.0.0.1", "localhost"))

    async def _dial_loop(self) -> None:
        while True:
            self._check_blocklist()
            now = time.monotonic()
            for target in list(self._targets.values()):
                if target.dialing or target.next_try > now or len(self._links) >= self.config.max_peers:
                    continue
                if target.peer is not None and target.peer in self._links:
                    continue
                if target.address in self._blocked or target.peer in self._blocked:
                    continue
                if self._is_banned(target.address, now) or (target.peer and self._is_banned(target.peer, now)):
                    continue
                target.dialing = True
                self._spawn(self._dial(target))
            await asyncio.sleep(0.2)

    async def _dial(self, target: _Target) -> None:
        first, longest = self.config.redial
        connected = False
        channel = grpc.aio.insecure_channel(target.address, options=_GRPC_OPTIONS)
        try:
            await asyncio.wait_for(channel.channel_ready(), self.config.handshake_timeout)
            call = channel.stream_stream(PATH)()
            try:
                connected = await self._run_link(call.read, call.write, target.address, dialed=True, target=target)
            finally:
                call.cancel()
        except (asyncio.TimeoutError, grpc.aio.AioRpcError, OSError):
            pass
        finally:
            await channel.close()
            target.dialing = False
            if connected:
                target.failures, target.wait = 0, first
            else:
                target.failures += 1
                target.wait = min(longest, max(first, target.wait * 2))
            target.next_try = time.monotonic() + target.wait
            if not target.keep and target.failures >= 5:
                self._targets.pop(target.address, None)

    async def _accept(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        observed = _observed_host(context.peer())
        if len(self._links) >= self.config.max_peers:
            return
        await self._run_link(context.read, context.write, observed, dialed=False, target=None)

    # --- one link -------------------------------------------------------------------------------

    async def _run_link(
        self, read: Callable, write: Callable, address: str, dialed: bool, target: _Target | None
    ) -> bool:
        """Handshake, then serve the link until it ends.  True if the handshake succeeded."""
        nonce = os.urandom(32)
        hello = wire.Hello(wire.PROTOCOL_VERSION, self.genesis_id, self.public_key, nonce, self.listen_address or "")
        try:
            await write(wire.encode_frame(hello))
            theirs = await self._handshake_frame(read, wire.Hello)
            refusal = self._refuse_hello(theirs, address)
            if refusal is not None:
                self._refused(address, refusal, target)
                return False
            await write(wire.encode_frame(wire.sign_handshake(self.seed, self.genesis_id, theirs.nonce, self.public_key)))
            auth = await self._handshake_frame(read, wire.Auth)
            if not wire.verify_handshake(auth, self.genesis_id, nonce, theirs.public_key):
                self._refused(address, "its handshake signature does not verify", target, ban=True)
                return False
        except (_Closed, asyncio.TimeoutError, grpc.aio.AioRpcError, DecodeError):
            return False
        peer = peer_id(theirs.public_key)
        listen = self._advertised(theirs.listen, address)
        if dialed and target is not None:
            listen = target.address  # the address that worked
        link = _Link(peer, listen, self.id if dialed else peer, self.config.send_queue)
        link.task = asyncio.current_task()
        if not self._register(link):
            return True
        if target is not None:
            target.peer = peer
        if listen:
            self._target(listen, keep=False, peer=peer)
            self._remember(listen)
        writer = asyncio.get_running_loop().create_task(self._write_loop(link, write))
        worker = asyncio.get_running_loop().create_task(self._gossip_loop(link))
        try:
            link.send(wire.encode_frame(wire.Peers(self._known_addresses(exclude=peer))))
            await self._read_loop(link, read)
        except asyncio.CancelledError:
            if self._stopping is not None and self._stopping.is_set():
                raise
        except grpc.aio.AioRpcError as e:
            if e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                self._ban(link, f"it sent a frame over {wire.MAX_FRAME} bytes")
        finally:
            self._unregister(link)  # first: an await below may be cut short by a cancellation
            writer.cancel()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(writer, worker, return_exceptions=True)
        return True

    async def _handshake_frame(self, read: Callable, cls: type) -> Any:
        frame = await asyncio.wait_for(read(), self.config.handshake_timeout)
        if frame is grpc.aio.EOF or frame is None:
            raise _Closed
        body = wire.decode_frame(frame)
        if not isinstance(body, cls):
            raise DecodeError(f"expected {cls.__name__} in the handshake")
        return body

    def _refuse_hello(self, hello: wire.Hello, address: str) -> str | None:
        if hello.genesis_id != self.genesis_id:
            return (
                f"it is on another network (genesis id {hello.genesis_id.hex()}, ours {self.genesis_id.hex()})"
            )
        if hello.version != wire.PROTOCOL_VERSION:
            return f"it speaks protocol version {hello.version}, we speak {wire.PROTOCOL_VERSION}"
        if hello.public_key == self.public_key:
            return "it is this node"
        peer = peer_id(hello.public_key)
        if self._is_banned(peer, time.monotonic()):
            return "it is banned for misbehaving"
        if peer in self._blocked or (hello.listen and self._advertised(hello.listen, address) in self._blocked):
            return BLOCKED
        return None

    def _refused(self, address: str, reason: str, target: _Target | None, ban: bool = False) -> None:
        self.stats.refused.append(reason)
        if reason == "it is this node":
            if target is not None:
                self._targets.pop(target.address, None)
            return
        if reason == BLOCKED:  # our own choice, not the peer's fault: no penalty, no long wait
            log.info("p2p: refused peer at %s: %s", address, reason)
            return
        log.warning("p2p: refused peer at %s: %s", address, reason)
        if target is not None:  # no use redialling it soon: another network does not change
            target.wait = self.config.ban_seconds
        if ban:
            self._banned[address] = time.monotonic() + self.config.ban_seconds

    @staticmethod
    def _advertised(listen: str, observed: str) -> str:
        if not listen:
            return ""
        try:
            host, port = parse_address(listen)
        except InvalidInput:
            return ""
        if host in ("0.0.0.0", "::", ""):
            host = observed
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _register(self, link: _Link) -> bool:
        existing = self._links.get(link.peer)
        if existing is not None:
            keep_new = link.dialer == min(self.id, link.peer) or existing.dialer == link.dialer
            if not keep_new:
                return False
            existing.close()
        self._links[link.peer] = link
        if existing is None:
            log.info("p2p: connected to %s (%s)", link.peer, link.address or "inbound")
            self._emit("peer_connected", peer=link.peer, address=link.address)
        return True

    def _unregister(self, link: _Link) -> None:
        for future in link.pending.values():
            if not future.done():
                future.cancel()
        if self._links.get(link.peer) is link:
            del self._links[link.peer]
            log.info("p2p: disconnected from %s", link.peer)
            self._emit("peer_disconnected", peer=link.peer)

    async def _write_loop(self, link: _Link, write: Callable) -> None:
        while True:
            frame = await link.outbox.get()
            if frame is None:
                return
            await write(frame)

    async def _read_loop(self, link: _Link, read: Callable) -> None:
        while True:
            frame = await read()
            if frame is grpc.aio.EOF or frame is None:
                return
            try:
                body = wire.decode_frame(frame)
            except DecodeError as e:
                self._ban(link, f"it sent a malformed frame ({e})")
                return
            if isinstance(body, wire.Gossip):
                self._on_gossip(link, body)
            elif isinstance(body, wire.Request):
                self._on_request(link, body)
            elif isinstance(body, wire.Response):
                future = link.pending.pop(body.id, None)
                if future is not None and not future.done():
                    future.set_result(body)
            elif isinstance(body, wire.Peers):
                for address in body.addresses:
                    with contextlib.suppress(InvalidInput):
                        parse_address(address)
                        self._target(address, keep=False)
            else:
                self._ban(link, f"it sent {type(body).__name__} after the handshake")
                return

    # --- penalties ------------------------------------------------------------------------------

    def _is_banned(self, key: str, now: float) -> bool:
        until = self._banned.get(key)
        if until is not None and until <= now:
            del self._banned[key]
            return False
        return until is not None

    def _penalize(self, link: _Link, points: int, reason: str) -> None:
        # an honest peer may now and then send what only our view rejects: old penalties fade, so
        # only a steady stream of invalid messages gets a peer dropped, however long the link lives
        now = time.monotonic()
        link.score = min(0.0, link.score + (now - link.scored_at) * self.config.score_recovery) - points
        link.scored_at = now
        self.stats.penalties[link.peer] += points
        if link.score <= self.config.drop_score:
            self._ban(link, reason)

    def _ban(self, link: _Link, reason: str) -> None:
        until = time.monotonic() + self.config.ban_seconds
        self._banned[link.peer] = until
        if link.address:
            self._banned[link.address] = until
        self.stats.banned.append((link.peer, reason))
        log.warning("p2p: dropped peer %s (%s) for %g s: %s", link.peer, link.address or "inbound",
                    self.config.ban_seconds, reason)  # fmt: skip
        self._emit("peer_banned", peer=link.peer, reason=reason)
        link.close()

    # --- gossip ---------------------------------------------------------------------------------

    def _first_sight(self, payload: bytes, sender: str | None) -> bool:
        """True the first time a payload is seen; every sender of it is remembered, so relaying
        skips the peers that already have it (in a full mesh most copies arrive while the first
        one is being validated)."""
        msg_id = hash32(payload)
        senders = self._seen.get(msg_id)
        if senders is not None:
            if sender is not None:
                senders.add(sender)
            return False
        self._seen[msg_id] = {sender} if sender is not None else set()
        if len(self._seen) > self.config.seen_size:
            self._seen.popitem(last=False)
        return True

    def _publish(self, topic: str, payload: bytes) -> None:
        self._first_sight(payload, None)  # our own message never comes back to the node
        self.stats.published += 1
        self._relay(topic, payload)

    def _relay(self, topic: str, payload: bytes) -> None:
        frame = wire.encode_frame(wire.Gossip(topic, payload))
        has_it = self._seen.get(hash32(payload), set())
        for link in list(self._links.values()):
            if link.peer not in has_it and not link.send(frame):
                self.stats.dropped_slow += 1

    def _on_gossip(self, link: _Link, msg: wire.Gossip) -> None:
        self.stats.gossip_in += 1
        if msg.topic not in self._handlers and self._node is not None:
            return  # a topic we do not take (e.g. one a newer version added)
        if not self._first_sight(msg.payload, link.peer):
            self.stats.duplicates += 1
            return
        try:
            link.gossip.put_nowait(msg)
        except asyncio.QueueFull:
            self.stats.dropped_slow += 1

    async def _gossip_loop(self, link: _Link) -> None:
        """Hand a link's gossip to the node in arrival order; relay what it accepts."""
        while True:
            msg = await link.gossip.get()
            verdict = await self._validate(msg.topic, msg.payload, link.peer)
            self.stats.verdicts[(msg.topic, verdict.value)] += 1
            if verdict is Verdict.ACCEPT:
                self.stats.relayed += 1
                self._relay(msg.topic, msg.payload)  # not to its sender nor to peers that sent it too
            elif verdict is Verdict.REJECT:
                self._penalize(link, self.config.reject_penalty, f"it sent invalid {msg.topic} messages")

    async def _validate(self, topic: str, payload: bytes, sender: str) -> Verdict:
        if self._node is None:
            return Verdict.IGNORE
        handler, listening = self._handlers.get(topic), self._listening

        def handle() -> Verdict:
            if handler is None or (listening is not None and not listening(Topic(topic))):
                return Verdict.IGNORE
            return handler(payload, sender)

        try:
            return await asyncio.wrap_future(self._node.call(handle))
        except asyncio.CancelledError:
            raise
        except concurrent.futures.CancelledError:
            return Verdict.IGNORE
        except Exception as e:  # noqa: BLE001 - a bug in a handler must not take the link down
            log.error("p2p: the %s handler failed on a message from %s: %r", topic, sender, e)
            return Verdict.IGNORE

    # --- request / response -----------------------------------------------------------------------

    async def _ask(self, protocol: str, payload: bytes, hint: str | None) -> bytes | None:
        links = list(self._links.values())
        first = self._links.get(hint) if hint is not None else None
        if first is not None:
            answer = await self._ask_one(first, protocol, payload)
            if answer is not None:
                return answer
        others = [link for link in links if link is not first]
        fanout = max(1, self.config.request_fanout)
        for i in range(0, len(others), fanout):
            tasks = [asyncio.ensure_future(self._ask_one(link, protocol, payload)) for link in others[i : i + fanout]]
            try:
                for done in asyncio.as_completed(tasks):
                    answer = await done
                    if answer is not None:
                        return answer
            finally:
                for task in tasks:
                    task.cancel()
        return None

    async def _ask_one(self, link: _Link, protocol: str, payload: bytes) -> bytes | None:
        request_id = next(self._ids)
        future: asyncio.Future[wire.Response] = asyncio.get_running_loop().create_future()
        link.pending[request_id] = future
        self.stats.requests += 1
        try:
            if not link.send(wire.encode_frame(wire.Request(request_id, protocol, payload))):
                return None
            response = await asyncio.wait_for(future, self.config.request_timeout)
        except asyncio.TimeoutError:
            self.stats.timeouts += 1
            return None
        except asyncio.CancelledError:
            if not future.cancelled():
                raise
            return None  # the link closed under us
        finally:
            link.pending.pop(request_id, None)
        return response.data if not response.error else None

    def _on_request(self, link: _Link, request: wire.Request) -> None:
        if link.inflight >= self.config.max_inflight:
            link.send(wire.encode_frame(wire.Response(request.id, None, "busy")))
            return
        link.inflight += 1
        self._spawn(self._answer(link, request))

    async def _answer(self, link: _Link, request: wire.Request) -> None:
        try:
            data, error = await self._serve(request.protocol, request.payload), ""
        except Exception as e:  # noqa: BLE001 - the peer gets an error, not a dead link
            data, error = None, f"cannot answer: {type(e).__name__}"
        finally:
            link.inflight -= 1
        if data is not None and len(data) > wire.MAX_RESPONSE:
            data, error = None, "answer too large"
        self.stats.served += 1
        link.send(wire.encode_frame(wire.Response(request.id, data, error)))

    async def _serve(self, protocol: str, payload: bytes) -> bytes | None:
        server, node = self._server_fn, self._node
        if server is None or node is None:
            return None
        future = node.call(lambda: server(protocol, payload), reentrant=True)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.config.request_timeout)
        except (asyncio.TimeoutError, concurrent.futures.CancelledError):
            return None

    # --- the blocklist ----------------------------------------------------------------------------

    def _check_blocklist(self) -> None:
        """Reread `blocklist.json` when it changed (or appeared, or went); drop links it now names."""
        if self.state_dir is None:
            return
        path = self.state_dir / BLOCKLIST_FILE
        try:
            info = path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp == self._blocklist_stamp:
            return
        self._blocklist_stamp = stamp
        entries: list[Any] = []
        if stamp is not None:
            try:
                entries = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                log.warning("p2p: ignoring %s: %s", path, e)
            if not isinstance(entries, list):
                log.warning("p2p: ignoring %s: it must hold a JSON list of peer ids and HOST:PORT addresses", path)
                entries = []
        blocked = frozenset(e for e in entries if isinstance(e, str))
        if blocked != self._blocked:
            log.info("p2p: blocklist now names %d peers or addresses", len(blocked))
        self._blocked = blocked
        for link in list(self._links.values()):
            if link.peer in blocked or link.address in blocked:
                log.info("p2p: dropping %s (%s): %s", link.peer, link.address or "inbound", BLOCKED)
                link.close()

    # --- addresses ------------------------------------------------------------------------------

    def _known_addresses(self, exclude: str) -> tuple[str, ...]:
        addresses = [link.address for link in self._links.values() if link.address and link.peer != exclude]
        return tuple(addresses[: wire.MAX_ADDRESSES])

    def _load_peers(self) -> list[str]:
        if self.state_dir is None:
            return []
        try:
            data = json.loads((self.state_dir / PEERS_FILE).read_text())
        except (OSError, ValueError):
            return []
        return [a for a in data if isinstance(a, str)][: wire.MAX_ADDRESSES] if isinstance(data, list) else []

    def _remember(self, address: str) -> None:
        """Peers of this run are dialled at the next start too (a restarted node finds its network)."""
        if self.state_dir is None or address in self._saved_peers:
            return
        self._saved_peers = [*self._saved_peers, address][-wire.MAX_ADDRESSES :]
        with contextlib.suppress(OSError):
            atomicfile.ensure_directory(self.state_dir)
            atomicfile.replace(self.state_dir / PEERS_FILE, json.dumps(self._saved_peers).encode())


def start_host(
    seed: bytes, genesis_id: bytes, listen: str | None, bootnodes: Iterable[str], state_dir: Path | None = None,
    **overrides: Any,
) -> Host:
    """A started host from command-line style arguments (HOST:PORT strings)."""
    for address in bootnodes:
        parse_address(address, "--bootnode")
    config = HostConfig(
        listen=parse_address(listen, "--listen") if listen else None, bootnodes=tuple(bootnodes), **overrides
    )
    host = Host(seed, genesis_id, config, state_dir)
    host.start()
    return host
