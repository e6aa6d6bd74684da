"""An in-memory gossip network for running many nodes in one process (spec/node.md §9.2, §9.3, §9.5).

Every node joins the `Bus` as a peer with one handler per gossip topic and one request server.
The bus keeps the properties a node relies on from the real network and nothing more:

- **topic gossip with dedup by message hash**: a payload reaches every reachable peer once
  (BLAKE3 of the payload is the message id), never its publisher;
- **validation verdicts**: a handler answers accept / reject / ignore; the bus counts them per
  peer and topic so tests (and later peer scoring) can see what was refused;
- **request / response** by protocol name (`ld/1`-like layer fetches, hash fetches), answered
  synchronously by one reachable peer;
- **controls** for simulations: a peer can be taken offline, the network partitioned, and
  messages dropped by a predicate.

Delivery is synchronous and in FIFO order: `publish` queues the message for every recipient and,
unless a delivery is already under way, drains the queue before returning.  A handler that
publishes in turn only queues, so handlers never nest and the order of events is the same in
every run: that is what lets a simulation on `SimulatedTime` be deterministic.

Payloads are bytes (the wire encoding), so receivers decode and validate exactly what a socket
would hand them: every handler is one real gossip could feed later.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Mapping

from core.crypto.hashing import hash32
from core.errors import SmeshError
from core.p2p.protocol import GossipHandler, RequestServer, Topic, Verdict


class BusError(SmeshError):
    """Misuse of the bus (an unknown or duplicate peer)."""


@dataclasses.dataclass
class _Peer:
    name: str
    handlers: Mapping[Topic, GossipHandler]
    server: RequestServer | None
    seen: set[bytes] = dataclasses.field(default_factory=set)
    online: bool = True


@dataclasses.dataclass
class Stats:
    """Counts of what happened on the bus, for tests and status output."""

    published: collections.Counter[Topic] = dataclasses.field(default_factory=collections.Counter)
    delivered: collections.Counter[Topic] = dataclasses.field(default_factory=collections.Counter)
    dropped: collections.Counter[Topic] = dataclasses.field(default_factory=collections.Counter)
    verdicts: collections.Counter[tuple[str, Topic, Verdict]] = dataclasses.field(default_factory=collections.Counter)
    requests: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def rejected(self, peer: str | None = None, topic: Topic | None = None) -> int:
        """How many messages were rejected (by one peer, on one topic, or in all)."""
        return sum(
            n
            for (name, t, verdict), n in self.verdicts.items()
            if verdict is Verdict.REJECT and (peer is None or name == peer) and (topic is None or t is topic)
        )


DropRule = Callable[[Topic, str, str, bytes], bool]
"""(topic, sender, recipient, payload) -> True to drop the message on that link."""


class Bus:
    """A full-mesh in-memory network of named peers."""

    def __init__(self) -> None:
        self._peers: dict[str, _Peer] = {}
        self._queue: collections.deque[tuple[Topic, str, str, bytes, bytes]] = collections.deque()
        self._delivering = False
        self._groups: dict[str, int] | None = None
        self._drop_rules: list[DropRule] = []
        self.stats = Stats()

    # --- membership ------------------------------------------------------------------------

    def join(
        self, name: str, handlers: Mapping[Topic, GossipHandler], server: RequestServer | None = None
    ) -> Endpoint:
        """Add a peer; returns the endpoint it publishes and requests through."""
        if name in self._peers:
            raise BusError(f"peer {name!r} already joined")
        self._peers[name] = _Peer(name, dict(handlers), server)
        return Endpoint(self, name)

    def leave(self, name: str) -> None:
        """Remove a peer (a killed process); its name may join again later."""
        self._peer(name)
        del self._peers[name]

    def peers(self) -> list[str]:
        return list(self._peers)

    def _peer(self, name: str) -> _Peer:
        try:
            return self._peers[name]
        except KeyError:
            raise BusError(f"unknown peer {name!r}") from None

    # --- controls --------------------------------------------------------------------------

    def set_online(self, name: str, online: bool) -> None:
        """An offline peer neither sends, receives nor answers requests."""
        self._peer(name).online = online

    def is_online(self, name: str) -> bool:
        return self._peer(name).online

    def partition(self, *groups: Iterable[str]) -> None:
        """Only peers in the same group reach each other; peers in no group reach nobody."""
        self._groups = {name: i for i, group in enumerate(groups) for name in group}

    def heal(self) -> None:
        self._groups = None

    def add_drop_rule(self, rule: DropRule) -> None:
        self._drop_rules.append(rule)

    def clear_drop_rules(self) -> None:
        self._drop_rules.clear()

    def reachable(self, sender: str, recipient: str) -> bool:
        """Both online and, under a partition, on the same side."""
        a, b = self._peers.get(sender), self._peers.get(recipient)
        if a is None or b is None or not a.online or not b.online:
            return False
        if self._groups is not None:
            side = self._groups.get(sender)
            return side is not None and side == self._groups.get(recipient)
        return True

    # --- gossip ----------------------------------------------------------------------------

    def publish(self, sender: str, topic: Topic, payload: bytes) -> None:
        """Gossip `payload` from `sender` to every peer it reaches (each peer handles it once)."""
        peer = self._peer(sender)
        msg_id = hash32(payload)
        peer.seen.add(msg_id)  # our own message never comes back to us
        self.stats.published[topic] += 1
        for name in self._peers:
            if name == sender:
                continue
            if not self.reachable(sender, name) or any(rule(topic, sender, name, payload) for rule in self._drop_rules):
                self.stats.dropped[topic] += 1
                continue
            self._queue.append((topic, sender, name, payload, msg_id))
        self._drain()

    def _drain(self) -> None:
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                self._deliver(*self._queue.popleft())
        finally:
            self._delivering = False

    def _deliver(self, topic: Topic, sender: str, recipient: str, payload: bytes, msg_id: bytes) -> None:
        peer = self._peers.get(recipient)
        if peer is None or not peer.online or msg_id in peer.seen:
            return
        peer.seen.add(msg_id)
        handler = peer.handlers.get(topic)
        if handler is None:
            return
        verdict = handler(payload, sender)
        self.stats.delivered[topic] += 1
        self.stats.verdicts[(recipient, topic, verdict)] += 1

    # --- request / response ----------------------------------------------------------------

    def request(self, sender: str, protocol: str, payload: bytes, peer: str | None = None) -> bytes | None:
        """Ask `peer` (or, if None or unreachable, each other reachable peer in join order) and
        return the first answer; None when nobody reachable has one."""
        self.stats.requests[protocol] += 1
        candidates = [peer] if peer is not None and peer in self._peers else []
        candidates += [name for name in self._peers if name not in candidates]
        for name in candidates:
            if name == sender or not self.reachable(sender, name):
                continue
            server = self._peers[name].server
            if server is None:
                continue
            answer = server(protocol, payload)
            if answer is not None:
                return answer
        return None


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One peer's view of the bus: what a node holds instead of a socket."""

    bus: Bus
    name: str

    def publish(self, topic: Topic, payload: bytes) -> None:
        self.bus.publish(self.name, topic, payload)

    def request(self, protocol: str, payload: bytes, peer: str | None = None) -> bytes | None:
        return self.bus.request(self.name, protocol, payload, peer)

    @property
    def online(self) -> bool:
        return self.bus.is_online(self.name)

    def peers(self) -> list[str]:
        return [p for p in self.bus.peers() if p != self.name]
