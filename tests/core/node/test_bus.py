"""The in-memory gossip bus (core/node/bus.py): delivery, dedup, verdicts, controls, requests."""

from __future__ import annotations

import pytest

from core.node.bus import Bus, BusError, Topic, Verdict


class Recorder:
    """A peer that records what it receives and answers with a fixed verdict."""

    def __init__(self, bus: Bus, name: str, verdict: Verdict = Verdict.ACCEPT, answers: dict | None = None):
        self.name = name
        self.got: list[tuple[Topic, bytes, str]] = []
        self.verdict = verdict
        self.answers = answers or {}
        self.endpoint = bus.join(name, {t: self._handler(t) for t in Topic}, self._serve)

    def _handler(self, topic):
        def handle(payload: bytes, sender: str) -> Verdict:
            self.got.append((topic, payload, sender))
            return self.verdict

        return handle

    def _serve(self, protocol: str, payload: bytes) -> bytes | None:
        return self.answers.get((protocol, payload))

    def payloads(self) -> list[bytes]:
        return [p for _, p, _ in self.got]


def make(n: int, **kw) -> tuple[Bus, list[Recorder]]:
    bus = Bus()
    return bus, [Recorder(bus, f"p{i}", **kw) for i in range(n)]


def test_gossip_reaches_every_other_peer_once_with_the_sender():
    bus, (a, b, c) = make(3)
    a.endpoint.publish(Topic.PROPOSAL, b"hello")
    assert a.got == []
    assert b.got == [(Topic.PROPOSAL, b"hello", "p0")]
    assert c.got == [(Topic.PROPOSAL, b"hello", "p0")]
    assert bus.stats.published[Topic.PROPOSAL] == 1
    assert bus.stats.delivered[Topic.PROPOSAL] == 2


def test_the_same_payload_is_delivered_once_per_peer_whoever_sends_it():
    bus, (a, b, c) = make(3)
    a.endpoint.publish(Topic.TX, b"tx")
    b.endpoint.publish(Topic.TX, b"tx")  # b relays what it already saw: nobody handles it twice
    a.endpoint.publish(Topic.TX, b"tx")
    assert a.payloads() == [] and b.payloads() == [b"tx"] and c.payloads() == [b"tx"]
    a.endpoint.publish(Topic.TX, b"tx2")
    assert c.payloads() == [b"tx", b"tx2"]


def test_verdicts_are_counted_per_peer_and_topic():
    bus = Bus()
    Recorder(bus, "sender")
    Recorder(bus, "strict", verdict=Verdict.REJECT)
    Recorder(bus, "lenient", verdict=Verdict.IGNORE)
    bus.publish("sender", Topic.ATX, b"bad atx")
    bus.publish("sender", Topic.HARE, b"msg")
    assert bus.stats.rejected() == 2
    assert bus.stats.rejected(peer="strict", topic=Topic.ATX) == 1
    assert bus.stats.rejected(peer="lenient") == 0
    assert bus.stats.verdicts[("lenient", Topic.HARE, Verdict.IGNORE)] == 1


def test_a_handler_that_publishes_only_queues_so_delivery_order_is_fifo():
    bus = Bus()
    order: list[tuple[str, bytes]] = []

    def relay(payload: bytes, sender: str) -> Verdict:
        order.append(("b", payload))
        if payload == b"first":
            bus.publish("b", Topic.HARE, b"reaction")
        return Verdict.ACCEPT

    def observe(payload: bytes, sender: str) -> Verdict:
        order.append(("c", payload))
        return Verdict.ACCEPT

    bus.join("a", {})
    bus.join("b", {Topic.HARE: relay})
    bus.join("c", {Topic.HARE: observe})
    bus.publish("a", Topic.HARE, b"first")
    # c hears a's message before b's reaction to it, although b reacted while a's was in flight
    assert order == [("b", b"first"), ("c", b"first"), ("c", b"reaction")]


def test_offline_peers_neither_send_nor_receive():
    bus, (a, b, c) = make(3)
    bus.set_online("p1", False)
    a.endpoint.publish(Topic.TX, b"while b is away")
    b.endpoint.publish(Topic.TX, b"from b while away")
    assert b.got == [] and c.payloads() == [b"while b is away"]
    assert bus.stats.dropped[Topic.TX] == 3
    bus.set_online("p1", True)
    a.endpoint.publish(Topic.TX, b"back")
    assert b.payloads() == [b"back"]
    assert b.endpoint.online


def test_partition_splits_the_network_until_healed():
    bus, (a, b, c, d) = make(4)
    bus.partition(["p0", "p1"], ["p2"])  # p3 is in no group: cut off from everyone
    a.endpoint.publish(Topic.CERTIFY, b"side A")
    c.endpoint.publish(Topic.CERTIFY, b"side B")
    assert b.payloads() == [b"side A"] and c.payloads() == [] and d.payloads() == []
    assert a.payloads() == []
    bus.heal()
    c.endpoint.publish(Topic.CERTIFY, b"healed")
    assert a.payloads() == [b"healed"] and d.payloads() == [b"healed"]


def test_drop_rules_cut_single_links():
    bus, (a, b, c) = make(3)
    bus.add_drop_rule(lambda topic, sender, recipient, payload: recipient == "p2" and topic is Topic.HARE)
    a.endpoint.publish(Topic.HARE, b"h")
    a.endpoint.publish(Topic.TX, b"t")
    assert c.payloads() == [b"t"] and b.payloads() == [b"h", b"t"]
    bus.clear_drop_rules()
    a.endpoint.publish(Topic.HARE, b"h2")
    assert c.payloads() == [b"t", b"h2"]


def test_requests_ask_the_preferred_peer_first_then_the_others():
    bus = Bus()
    Recorder(bus, "asker")
    Recorder(bus, "empty")
    Recorder(bus, "x", answers={("hs/x", b"id"): b"from x"})
    Recorder(bus, "y", answers={("hs/x", b"id"): b"from y"})
    assert bus.request("asker", "hs/x", b"id", peer="y") == b"from y"
    assert bus.request("asker", "hs/x", b"id") == b"from x"  # join order; "empty" has nothing
    assert bus.request("asker", "hs/x", b"other") is None
    bus.set_online("x", False)
    assert bus.request("asker", "hs/x", b"id") == b"from y"
    bus.set_online("asker", False)
    assert bus.request("asker", "hs/x", b"id") is None  # an offline peer reaches nobody
    assert bus.stats.requests["hs/x"] == 5


def test_membership_errors_and_leaving():
    bus, (a, b) = make(2)
    with pytest.raises(BusError):
        bus.join("p0", {})
    with pytest.raises(BusError):
        bus.set_online("nobody", False)
    bus.leave("p1")
    a.endpoint.publish(Topic.TX, b"x")
    assert b.got == [] and a.endpoint.peers() == []
    Recorder(bus, "p1")  # the name can join again (a restarted process)
    assert a.endpoint.peers() == ["p1"]
