"""The p2p layer (core/p2p/host.py): gossip latency across processes, and a late node's sync speed.

1. Gossip: 4 and 8 OS processes, each one `Host` on 127.0.0.1 (they meet through the first one's
   address and peer exchange) with a node thread whose handlers note the wall time each payload
   arrives.  The processes take turns publishing ~300-byte TX gossip; a message's latency at a
   receiver is its arrival time there minus its publish time (one machine, one clock).  Printed:
   p50 and p99 over every (message, receiver) pair, the delivery ratio, and the ratio of p50 to the
   baseline measured in the same run, a gRPC unary echo round trip between two processes (the
   transport's own floor: how many one-hop gRPC round trips a gossip costs).
2. Late-node sync: three `smesh node run` processes with short layers run a few epochs, then a
   fourth (fresh data directory, same genesis) starts; printed is how many layers per second it
   applies from its start until it has applied the layer the others had at that moment, and that
   rate times the layer duration (layers it catches up per layer of network time).

`--quick` runs fewer messages and a shorter network.  No figure is asserted: the script exits 0
whenever it could measure (a late node that never catches up is an error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SMESH = str(Path(sys.executable).parent / "smesh")
PAYLOAD = 300
SPACING = 0.005  # between two publishes, network-wide
GRACE = 5.0  # after the last publish, for stragglers
JOIN_TIMEOUT = 60.0

# the late-node network (as tests/e2e/test_network.py)
LAYER = 2.0
LPE = 4
CONFIG = {
    "layer-duration": LAYER, "layers-per-epoch": LPE, "layer-avg-size": 5, "hdist": 3,
    "hare-preround-delay": 0.5, "hare-round-duration": 0.25, "hare-committee": 50, "certificate-committee": 50,
}  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# ================================================================================================
# baseline: gRPC unary echo between two processes


def _echo_server(conn) -> None:
    import grpc

    async def main() -> None:
        async def echo(request: bytes, context) -> bytes:
            return request

        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(echo)  # no (de)serializers: raw bytes
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        conn.send(port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.stop(0.2)

    asyncio.run(main())


def grpc_echo(ctx, count: int) -> list[float]:
    """Round trips (s) of `count` echo calls of a PAYLOAD-byte message, spaced as the gossip is."""
    import grpc

    parent, child = ctx.Pipe()
    server = ctx.Process(target=_echo_server, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(JOIN_TIMEOUT):
            raise RuntimeError("the echo server did not start")
        port = parent.recv()

        async def client() -> list[float]:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/bench.Echo/Echo")
                payload = os.urandom(PAYLOAD)
                for _ in range(20):  # warm-up: connection, HTTP/2 windows
                    await call(payload)
                times = []
                for _ in range(count):
                    start = time.perf_counter()
                    answer = await call(payload)
                    times.append(time.perf_counter() - start)
                    assert answer == payload
                    await asyncio.sleep(SPACING)
                return times

        return asyncio.run(client())
    finally:
        parent.send("stop")
        server.join(5)
        if server.is_alive():
            server.terminate()
            server.join(5)


# ================================================================================================
# gossip across processes


def _gossip_worker(index: int, n: int, bootnodes: tuple[str, ...], conn) -> None:
    """One process: a Host, a node thread recording arrivals, and our share of the publishes."""
    import hashlib

    from core.crypto.hashing import genesis_id
    from core.p2p.host import Host, HostConfig
    from core.p2p.protocol import Topic, Verdict

    seed = hashlib.sha256(f"bench-p2p-{n}-{index}".encode()).digest()
    host = Host(seed, genesis_id(1_700_000_000, "bench-p2p"), HostConfig(listen=("127.0.0.1", 0), bootnodes=bootnodes))
    host.start()
    arrivals: dict[int, float] = {}
    repeats = 0
    loop = asyncio.new_event_loop()
    node = threading.Thread(target=loop.run_forever, name="node", daemon=True)
    node.start()

    def handler(payload: bytes, sender: str) -> Verdict:
        nonlocal repeats
        now = time.time()
        (msg_id,) = struct.unpack_from(">Q", payload)
        if msg_id in arrivals:
            repeats += 1
        else:
            arrivals[msg_id] = now
        return Verdict.ACCEPT

    async def attach() -> None:
        host.attach({topic: handler for topic in Topic}, None)

    asyncio.run_coroutine_threadsafe(attach(), loop).result(10)
    conn.send(("address", host.listen_address))
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while len(host.peers()) < n - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        conn.send(("linked", time.time(), len(host.peers())))

        command, t0, schedule, expected = conn.recv()  # ("run", start, [(id, offset)], ids from others)
        published: dict[int, float] = {}
        cpu = time.process_time()
        for msg_id, offset in schedule:
            delay = t0 + offset - time.time()
            if delay > 0:
                time.sleep(delay)
            payload = struct.pack(">Q", msg_id) + os.urandom(PAYLOAD - 8)
            published[msg_id] = time.time()
            host.publish(Topic.TX, payload)
        last = t0 + (max(o for _, o in schedule) if schedule else 0.0)
        deadline = max(time.time(), last) + GRACE
        while len(arrivals) < expected and time.time() < deadline:
            time.sleep(0.01)
        cpu = time.process_time() - cpu  # this process's CPU while the messages went round
        time.sleep(0.05)
        s = host.stats
        stats = {"gossip_in": s.gossip_in, "duplicates": s.duplicates, "relayed": s.relayed,
                 "dropped_slow": s.dropped_slow, "banned": len(s.banned), "peers": len(host.peers()),
                 "repeats": repeats, "cpu": cpu}  # fmt: skip
        conn.send(("result", published, dict(arrivals), stats))
        conn.recv()  # "stop"
    finally:
        host.stop()
        loop.call_soon_threadsafe(loop.stop)
        node.join(5)


def gossip(ctx, n: int, messages: int) -> dict:
    pipes, procs = [], []
    try:
        started = time.monotonic()
        for i in range(n):
            parent, child = ctx.Pipe()
            boot = () if i == 0 else (first,)
            proc = ctx.Process(target=_gossip_worker, args=(i, n, boot, child), daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
            if i == 0:
                if not parent.poll(JOIN_TIMEOUT):
                    raise RuntimeError("the first host did not start")
                first = parent.recv()[1]
        for i, pipe in enumerate(pipes):
            if i > 0:
                if not pipe.poll(JOIN_TIMEOUT):
                    raise RuntimeError(f"host {i} did not start")
                pipe.recv()
        linked = []
        for i, pipe in enumerate(pipes):
            if not pipe.poll(JOIN_TIMEOUT + 10):
                raise RuntimeError(f"host {i} did not report its peers")
            _, when, peers = pipe.recv()
            linked.append((when, peers))
        join_s = time.monotonic() - started
        short = [(i, p) for i, (_, p) in enumerate(linked) if p < n - 1]

        # message k is published by process k % n at t0 + k * SPACING
        t0 = time.time() + 0.5
        for i, pipe in enumerate(pipes):
            mine = [(k, k * SPACING) for k in range(messages) if k % n == i]
            pipe.send(("run", t0, mine, messages - len(mine)))
        results = []
        for i, pipe in enumerate(pipes):
            if not pipe.poll(messages * SPACING + GRACE + 30):
                raise RuntimeError(f"host {i} did not report")
            results.append(pipe.recv()[1:])
        for pipe in pipes:
            pipe.send("stop")
        for proc in procs:
            proc.join(10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)

    published = {k: t for sent, _, _ in results for k, t in sent.items()}
    latencies, pairs, delivered = [], 0, 0
    for i, (sent, arrivals, _) in enumerate(results):
        for k, t in published.items():
            if k in sent:
                continue
            pairs += 1
            if k in arrivals:
                delivered += 1
                latencies.append(arrivals[k] - t)
    return {"latencies": latencies, "pairs": pairs, "delivered": delivered, "join_s": join_s, "short": short,
            "stats": [stats for _, _, stats in results]}  # fmt: skip


# ================================================================================================
# late-node sync


class NodeProc:
    """A `smesh --json node run` process and the JSON events it printed."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.events: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.stderr: list[str] = []
        self.started = time.time()
        env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1"}
        self.proc = subprocess.Popen([SMESH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.append(self.proc.stderr.read()), daemon=True).start()
        self.last_applied = -1
        self.state_hashes: dict[int, str] = {}  # layer -> state hash of its latest application

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "applied":
                self.last_applied = event["layer"]
                self.state_hashes[event["layer"]] = event["state_hash"]
            elif event.get("event") == "reverted":
                self.last_applied = event["to_layer"]
            self.events.put(event)

    def wait_for(self, predicate, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.name}: not reached in {timeout:.0f} s; stderr: {''.join(self.stderr)[-1500:]}")
            try:
                event = self.events.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {''.join(self.stderr)[-1500:]}")
                continue
            self.seen.append(event)
            if predicate(event):
                return event

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def late_node(base: Path, epochs: int) -> dict:
    from core.wallet.address import encode_address

    (base / "config.json").write_text(json.dumps(CONFIG))
    genesis = int(time.time()) + 10
    nodes: list[NodeProc] = []

    def start(i: int, bootnodes: tuple[str, ...]) -> NodeProc:
        args = [
            "--json", "node", "run", "--data-dir", str(base / f"n{i}"), "--config", str(base / "config.json"),
            "--simulated-activation", "--genesis-time", str(genesis),
            "--coinbase", encode_address(bytes(4) + bytes([0x10 + i]) * 20, "standalone"), "--units", "1",
            "--listen", "127.0.0.1:0", "--grpc-public-listener", "", "--grpc-private-listener", "",
            "--grpc-json-listener", "", *(a for b in bootnodes for a in ("--bootnode", b)),
        ]  # fmt: skip
        node = NodeProc(f"n{i}", args)
        nodes.append(node)
        return node

    try:
        n0 = start(0, ())
        boot = n0.wait_for(lambda e: e["event"] == "p2p", 60)["listen"]
        start(1, (boot,))
        start(2, (boot,))
        join_at = epochs * LPE
        until = genesis - time.time() + join_at * LAYER + 60
        n0.wait_for(lambda e: e["event"] == "status" and e["layer"] >= join_at, until)
        holder = max(nodes, key=lambda n: n.last_applied)
        target = holder.last_applied
        reference = holder.state_hashes[target]  # the late node is caught up when it has this state
        late = start(3, (boot,))
        t_start = late.started
        started = late.wait_for(lambda e: e["event"] == "started", 60)
        peer = late.wait_for(lambda e: e["event"] == "peer_connected", 60)
        done = late.wait_for(
            lambda e: e["event"] == "applied" and e["layer"] == target and e["state_hash"] == reference, 120
        )
        events = [e["event"] for e in late.seen]
        early = [e["layer"] for e in late.seen[: events.index("peer_connected")] if e["event"] == "applied"]
        reverts = [(e["to_layer"], e["layers"]) for e in late.seen if e["event"] == "reverted"]
        others_now = max(n.last_applied for n in nodes[:3])
        peers = None
        try:
            peers = late.wait_for(lambda e: e["event"] == "status", 10).get("peers")
        except RuntimeError:
            pass
        return {"target": target, "layers": target - started["last_applied"], "seconds": done["time"] - t_start,
                "first_peer": peer["time"] - t_start, "applied_alone": early, "reverts": reverts,
                "others_at_done": others_now, "peers": peers}  # fmt: skip
    finally:
        for node in nodes:
            node.stop()


# ================================================================================================


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages, a shorter network")
    quick = parser.parse_args().quick
    messages = 100 if quick else 200
    epochs = 3 if quick else 4

    def terminated(signum, frame):  # run the clean-ups of `finally` on SIGTERM too
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    ctx = multiprocessing.get_context("spawn")

    echo = grpc_echo(ctx, messages)
    base_p50, base_p99 = percentile(echo, 50), percentile(echo, 99)
    print(f"baseline gRPC unary echo (2 procs, {PAYLOAD} B): round trip p50 {base_p50 * 1e3:.2f} ms, "
          f"p99 {base_p99 * 1e3:.2f} ms over {len(echo)} calls")  # fmt: skip

    for n in (4, 8):
        r = gossip(ctx, n, messages)
        lat = r["latencies"]
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        ratio = 100.0 * r["delivered"] / r["pairs"] if r["pairs"] else 0.0
        print(f"gossip {n} procs: p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, delivered {ratio:.1f}% "
              f"(ratio to gRPC echo p50: {p50 / base_p50:.1f}x)")  # fmt: skip
        totals = {k: sum(s[k] for s in r["stats"]) for k in r["stats"][0]}
        print(f"  {messages} messages x {n - 1} receivers = {r['pairs']} pairs, max {max(lat) * 1e3:.1f} ms; "
              f"mesh formed in {r['join_s']:.1f} s (process start to {n - 1} peers each); "
              f"frames in {totals['gossip_in']}, duplicates {totals['duplicates']}, "
              f"dropped (slow peer) {totals['dropped_slow']}, bans {totals['banned']}")  # fmt: skip
        print(f"  CPU of the {n} processes while the messages went round: {totals['cpu']:.2f} s for "
              f"{messages * SPACING:.1f} s of publishing ({totals['cpu'] / messages * 1e3:.2f} ms per message, "
              f"{os.cpu_count()} CPUs here)")  # fmt: skip
        if totals["repeats"]:
            print(f"  a handler saw the same payload twice {totals['repeats']} times")
        if r["short"]:
            print(f"  hosts short of {n - 1} peers before publishing: {r['short']}")

    with tempfile.TemporaryDirectory(prefix="bench-p2p-") as tmp:
        s = late_node(Path(tmp), epochs)
    rate = s["layers"] / s["seconds"]
    print(f"late-node sync: {s['layers']} layers in {s['seconds']:.1f} s = {rate:.2f} layers/s "
          f"(layer duration {LAYER:g} s: {rate * LAYER:.1f} layers per layer-duration)")  # fmt: skip
    rest = s["seconds"] - s["first_peer"]
    after = s["layers"] / rest if rest > 0 else float("nan")
    print(f"  joined after {epochs} epochs, caught up to layer {s['target']} (same state hash as the others); "
          f"first peer {s['first_peer']:.1f} s after start, then {after:.1f} layers/s; "
          f"others at layer {s['others_at_done']} when it caught up; peers {s['peers']}")  # fmt: skip
    if s["applied_alone"] or s["reverts"]:
        print(f"  before its first peer it applied layers {s['applied_alone']} on its own; "
              f"reverts (to layer, layers): {s['reverts']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the processes are gone already (the `finally` clauses)
        sys.exit(130)
