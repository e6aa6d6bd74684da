"""The PoET service end to end on loopback: registration rules, rounds, the real prover, recovery.

Servers are real: `ServerThread` runs `start_server` (REST + gRPC on ephemeral ports) on its
own event loop in a thread, and the recovery test runs `smesh poet serve` as a process and
kills it with SIGKILL.  Proofs are built by the real `core.poet.prover.Prover` at the network's
label depth (400) over rounds of a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.crypto.hashing import hash32
from core.crypto.signing import Domain, public_key_of, sign_message, sign_raw
from core.poet import posw
from core.poet.certifier import make_certificate
from core.poet.client import PoetClient, PoetClientError, PoetUnauthorized
from core.poet.membership import membership_root, verify_membership
from core.poet.pow import PowParams, solve_pow
from core.poet.rounds import RoundSchedule
from core.poet.service import (
    Certificate,
    PoetConfigError,
    ServiceConfig,
    SubmitRequest,
    load_or_create_key,
    start_server,
)

GENESIS_ID = bytes(range(20))
SMESH = Path(sys.executable).parent / "smesh"


# ------------------------------------------------------------------------------------------------
# helpers shared by the PoET test modules


class Node:
    """A node identity with a fresh challenge."""

    def __init__(self) -> None:
        self.secret = os.urandom(32)
        self.id = public_key_of(self.secret)
        self.challenge = os.urandom(32)

    def request(self, **changes) -> SubmitRequest:
        base = dict(
            challenge=self.challenge,
            pubkey=self.id,
            signature=sign_message(self.secret, GENESIS_ID, Domain.POET, self.challenge),
            prefix=GENESIS_ID + bytes([Domain.POET]),
        )
        base.update(changes)
        return SubmitRequest(**base)


class ServerThread:
    """A PoET server (service + REST + gRPC) on 127.0.0.1 with its own event loop in a thread."""

    def __init__(self, config: ServiceConfig, *, grpc: bool = True) -> None:
        self.config = config
        self.grpc = grpc
        self.server = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.server = loop.run_until_complete(
                start_server(self.config, ("127.0.0.1", 0), ("127.0.0.1", 0) if self.grpc else None)
            )
        except BaseException as e:  # noqa: BLE001 - reported to the test
            self.error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.server.close())
        loop.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(60)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self.server is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)

    @property
    def url(self) -> str:
        host, port = self.server.rest_address
        return f"http://{host}:{port}"

    @property
    def grpc_target(self) -> str:
        host, port = self.server.grpc_address
        return f"{host}:{port}"

    @property
    def service(self):
        return self.server.service

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


def schedule(phase_shift: float, epoch: float, cycle_gap: float, genesis: float | None = None) -> RoundSchedule:
    return RoundSchedule(time.time() if genesis is None else genesis, epoch, phase_shift, cycle_gap)


def idle_schedule() -> RoundSchedule:
    """Round 0 stays open for an hour: for tests that never need a proof."""
    return schedule(3600.0, 7200.0, 60.0)


def run(coro):
    return asyncio.run(coro)


async def with_client(url: str, fn, **kw):
    async with PoetClient(url, retry_delay=0.2, **kw) as client:
        return await fn(client)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict | str]:
    """A plain HTTP request: (status, parsed JSON or text)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# ------------------------------------------------------------------------------------------------
# the full round trip with the real prover at depth 400


def test_round_trip_with_real_prover(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=schedule(phase_shift=4.0, epoch=3.5, cycle_gap=1.0))
    nodes = [Node() for _ in range(5)]
    with ServerThread(config) as srv:

        async def register(client: PoetClient):
            return [await client.submit(n.challenge, n.secret, GENESIS_ID) for n in nodes]

        regs = run(with_client(srv.url, register))
        round_id = regs[0].round_id
        assert {r.round_id for r in regs} == {round_id}
        assert all(r.round_end == pytest.approx(config.schedule.round_end(int(round_id)), abs=2) for r in regs)

        # the same challenge again is accepted; another one from the same node id is a conflict
        again = run(with_client(srv.url, lambda c: c.submit(nodes[0].challenge, nodes[0].secret, GENESIS_ID)))
        assert again.round_id == round_id
        with pytest.raises(PoetClientError) as conflict:
            run(with_client(srv.url, lambda c: c.submit(os.urandom(32), nodes[0].secret, GENESIS_ID)))
        assert conflict.value.status == 409 and "conflicting registration" in str(conflict.value)

        # every member fetches the proof (404 is retried until it is published) and checks it
        deadline = time.time() + 60
        verified = [
            run(with_client(srv.url, lambda c, n=n: c.verified_proof(round_id, n.challenge, retry_until=deadline)))
            for n in nodes
        ]
        status, body = http("GET", f"{srv.url}/v1/proofs/{round_id}")
        status_info = srv.call(srv.service.status())

    ordered = [n.challenge for n in sorted(nodes, key=lambda n: n.id)]  # members in node-id order
    statement = membership_root(ordered)
    assert status == 200
    assert [base64.b64decode(m) for m in body["proof"]["members"]] == ordered
    assert isinstance(body["proof"]["leaves"], str) and int(body["proof"]["leaves"]) == verified[0].leaves
    assert base64.b64decode(body["pubkey"]) == srv.service.pubkey
    proof = verified[0].proof
    posw.verify(statement, proof)  # depth 400, T = 150
    assert proof.leaf_count >= posw.T
    assert len(proof.merkle.proven_leaves) == posw.T
    for n, v in zip(nodes, verified, strict=True):
        assert v.statement == statement
        assert v.member_index == ordered.index(n.challenge)
        assert verify_membership(n.challenge, v.member_index, v.membership_path, statement)
        assert v.ref == hash32(proof.encode()) == verified[0].ref
        assert v.service_pubkey == srv.service.pubkey
    assert any(p["round"] == int(round_id) and p["leaves"] == proof.leaf_count for p in status_info["proofs"])


# ------------------------------------------------------------------------------------------------
# restart recovery: kill -9 during a round


def _start_cli(args: list[str], env: dict) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [str(SMESH), "--json", "poet", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else b""
    if not line:
        proc.kill()
        raise AssertionError(f"smesh poet serve did not start: {proc.stderr.read().decode()[-2000:]}")
    return proc, json.loads(line)


def _wait_for(check, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_restart_after_kill_9_resumes_the_round(tmp_path):
    datadir = tmp_path / "poet"
    sched = schedule(phase_shift=4.0, epoch=10.0, cycle_gap=2.0, genesis=int(time.time()))
    args = [
        "--datadir", str(datadir), "--genesis-time", str(int(sched.genesis)), "--epoch-duration", "10s",
        "--phase-shift", "4s", "--cycle-gap", "2s", "--restlisten", "127.0.0.1:0", "--rpclisten", "off",
        "--checkpoint-seconds", "0.3",
    ]  # fmt: skip
    env = dict(os.environ)
    proc, ready = _start_cli(args, env)
    try:
        url = f"http://{ready['rest']}"
        nodes = [Node() for _ in range(3)]
        regs = [run(with_client(url, lambda c, n=n: c.submit(n.challenge, n.secret, GENESIS_ID))) for n in nodes]
        (round_id,) = {r.round_id for r in regs}  # round 0, or later if starting up took long
        r = int(round_id)
        # wait until the round executes and has checkpointed, then register in the next round and kill -9
        checkpoint = datadir / "rounds" / round_id / "posw_state.json"
        _wait_for(lambda: checkpoint.exists() and json.loads(checkpoint.read_bytes())["leaves"] > 0, 30, "a checkpoint")
        late = Node()
        reg1 = run(with_client(url, lambda c: c.submit(late.challenge, late.secret, GENESIS_ID)))
        assert reg1.round_id == str(r + 1)
        proc.kill()
        proc.wait(10)
        checkpointed = json.loads(checkpoint.read_bytes())["leaves"]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.time() < sched.round_end(r), "the round ended before the kill: the machine is too slow for this test"

    proc, ready = _start_cli(args, env)  # same datadir, same schedule
    try:
        url = f"http://{ready['rest']}"
        assert ready["pubkey"] == public_key_of_state(datadir)  # the service key survived too
        verified = [
            run(with_client(url, lambda c, n=n: c.verified_proof(round_id, n.challenge, retry_until=time.time() + 40)))
            for n in nodes
        ]
        statement = membership_root([n.challenge for n in sorted(nodes, key=lambda n: n.id)])
        posw.verify(statement, verified[0].proof)
        assert verified[0].leaves >= checkpointed  # it went on from the checkpoint (the log line below proves it)
        for n, v in zip(nodes, verified, strict=True):
            assert verify_membership(n.challenge, v.member_index, v.membership_path, statement)
        # the next round's registration survived: the same challenge is accepted again, another is refused
        again = run(with_client(url, lambda c: c.submit(late.challenge, late.secret, GENESIS_ID)))
        assert again.round_id == str(r + 1)
        with pytest.raises(PoetClientError) as conflict:
            run(with_client(url, lambda c: c.submit(os.urandom(32), late.secret, GENESIS_ID)))
        assert conflict.value.status == 409
        assert not (datadir / "rounds" / round_id).exists()  # the worker directory is removed after publishing
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        log = proc.stderr.read().decode()
        assert f"round {r}: resumed from a checkpoint at {checkpointed} leaves" in log
    finally:
        if proc.poll() is None:
            proc.kill()


def public_key_of_state(datadir: Path) -> str:
    return load_or_create_key(datadir, env={})[32:].hex()


# ------------------------------------------------------------------------------------------------
# registration rules


def test_deadline_too_late_and_in_time(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=idle_schedule())
    n = Node()
    with ServerThread(config, grpc=False) as srv:
        end = config.schedule.round_end(0)
        with pytest.raises(PoetClientError) as late:
            run(with_client(srv.url, lambda c: c.submit(n.challenge, n.secret, GENESIS_ID, deadline=end - 1)))
        assert late.value.status == 400 and "too late to register" in str(late.value)
        reg = run(with_client(srv.url, lambda c: c.submit(n.challenge, n.secret, GENESIS_ID, deadline=end + 1)))
        assert reg.round_id == "0"


def test_round_member_limit(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=idle_schedule(), max_round_members=2)
    nodes = [Node() for _ in range(3)]
    with ServerThread(config, grpc=False) as srv:
        for n in nodes[:2]:
            run(with_client(srv.url, lambda c, n=n: c.submit(n.challenge, n.secret, GENESIS_ID)))
        with pytest.raises(PoetClientError) as full:
            run(with_client(srv.url, lambda c: c.submit(nodes[2].challenge, nodes[2].secret, GENESIS_ID)))
        assert full.value.status == 429
        # a member repeating itself is still fine
        run(with_client(srv.url, lambda c: c.submit(nodes[0].challenge, nodes[0].secret, GENESIS_ID)))


def test_proof_of_work_is_checked(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=idle_schedule(), pow_difficulty=6)
    n = Node()
    with ServerThread(config, grpc=False) as srv:
        service = srv.service
        params = service.pow_params()
        assert params.difficulty == 6 and len(params.challenge) == 32
        good = solve_pow(params, n.id, n.challenge)
        bad = next(k for k in range(good + 1, good + 10_000) if not _solves(params, n, k))
        for req, message in [
            (n.request(pow_params=params, nonce=bad), "invalid proof of work"),
            (n.request(pow_params=PowParams(6, os.urandom(32)), nonce=good), "invalid pow params"),
            (n.request(pow_params=PowParams(5, params.challenge), nonce=good), "invalid pow params"),
            (n.request(), "invalid pow params"),
        ]:
            status, body = http("POST", f"{srv.url}/v1/submit", json.dumps(_json(req)).encode())
            assert (status, body["code"]) == (400, 3) and message in body["message"]
        # the client solves the PoW itself
        reg = run(with_client(srv.url, lambda c: c.submit(n.challenge, n.secret, GENESIS_ID)))
        assert reg.round_id == "0"


def _solves(params, n, nonce):
    from core.poet.pow import check_pow

    return check_pow(params, n.id, n.challenge, nonce)


def _json(req: SubmitRequest) -> dict:
    from core.poet.rest import submit_request_json

    return submit_request_json(req)


def test_certificates(tmp_path):
    certifier_secret, trusted_secret = os.urandom(32), os.urandom(32)
    keys = tmp_path / "trusted"
    keys.mkdir()
    (keys / "other.key").write_text(base64.b64encode(public_key_of(trusted_secret)).decode() + "\n")
    config = ServiceConfig(
        datadir=tmp_path / "data",
        schedule=idle_schedule(),
        pow_difficulty=30,  # far too hard: only a certificate gets in
        certifier_url="http://certifier.example",
        certifier_pubkey=public_key_of(certifier_secret),
        trusted_keys_dir=keys,
    )
    with ServerThread(config, grpc=False) as srv:
        status, info = http("GET", f"{srv.url}/v1/info")
        assert info["certifier"] == {
            "url": "http://certifier.example",
            "pubkey": base64.b64encode(public_key_of(certifier_secret)).decode(),
        }

        def submit(node, data, sig, hint=None):
            req = node.request(certificate=Certificate(data, sig), certificate_pubkey_hint=hint)
            return http("POST", f"{srv.url}/v1/submit", json.dumps(_json(req)).encode())

        a, b, c, d = Node(), Node(), Node(), Node()
        # the configured certifier, no hint; a trusted key named by its hint; an expiry in the future
        assert submit(a, *make_certificate(certifier_secret, a.id))[0] == 200
        assert submit(b, *make_certificate(trusted_secret, b.id), hint=public_key_of(trusted_secret)[:4])[0] == 200
        assert submit(c, *make_certificate(certifier_secret, c.id, int(time.time()) + 3600))[0] == 200

        refused = [
            submit(d, *make_certificate(trusted_secret, d.id)),  # no hint: only the configured key is tried
            submit(d, *make_certificate(certifier_secret, d.id, int(time.time()) - 1)),  # expired
            submit(d, *make_certificate(certifier_secret, a.id)),  # issued for another node
            submit(d, *make_certificate(os.urandom(32), d.id), hint=b"\x00\x01\x02\x03"),  # unknown certifier
            submit(d, b"\xff" * 40, sign_raw(certifier_secret, b"\xff" * 40)),  # signed junk
        ]
        for status, body in refused:
            assert (status, body["code"]) == (401, 16), body
            assert "certificate" in body["message"]
        status, body = submit(d, *make_certificate(certifier_secret, d.id), hint=b"\x01\x02\x03")
        assert (status, body["code"]) == (400, 3) and "hint" in body["message"]

        # the node client re-certifies on 401
        with pytest.raises(PoetUnauthorized):
            run(
                with_client(
                    srv.url,
                    lambda cl: cl.submit(
                        d.challenge, d.secret, GENESIS_ID, certificate=Certificate(*make_certificate(os.urandom(32), d.id))
                    ),
                )
            )
        data, sig = make_certificate(certifier_secret, d.id)
        reg = run(with_client(srv.url, lambda cl: cl.submit(d.challenge, d.secret, GENESIS_ID, certificate=Certificate(data, sig))))
        assert reg.round_id == "0"


def test_service_key_persistence_and_environment(tmp_path, monkeypatch):
    key = load_or_create_key(tmp_path, env={})
    assert len(key) == 64 and public_key_of(key[:32]) == key[32:]
    state = tmp_path / "state.bin"
    assert state.read_bytes()[:4] == b"\x00\x00\x00\x40"  # XDR length-prefixed, as the Go poet writes it
    assert state.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(tmp_path, env={}) == key
    assert load_or_create_key(tmp_path, env={"POET_PRIVATE_KEY": base64.b64encode(key).decode()}) == key
    other = os.urandom(32)
    other_key = other + public_key_of(other)
    with pytest.raises(PoetConfigError, match="does not match"):
        load_or_create_key(tmp_path, env={"POET_PRIVATE_KEY": base64.b64encode(other_key).decode()})
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert load_or_create_key(fresh, env={"POET_PRIVATE_KEY": base64.b64encode(other_key).decode()}) == other_key
    with pytest.raises(PoetConfigError, match="64-byte"):
        load_or_create_key(tmp_path / "x", env={"POET_PRIVATE_KEY": base64.b64encode(b"short").decode()})


def test_bad_configuration_fails_at_start(tmp_path):
    with pytest.raises(PoetConfigError):
        ServiceConfig(datadir=tmp_path, schedule=idle_schedule(), pow_difficulty=300)
    with pytest.raises(PoetConfigError):
        ServiceConfig(datadir=tmp_path, schedule=idle_schedule(), max_round_members=0)
    missing = ServiceConfig(datadir=tmp_path, schedule=idle_schedule(), trusted_keys_dir=tmp_path / "nope")
    with pytest.raises(Exception, match="does not exist"):
        with ServerThread(missing):
            pass


def test_restart_removes_leftovers_of_finished_rounds(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=idle_schedule())
    rounds = tmp_path / "rounds"
    (rounds / "7").mkdir(parents=True)
    (rounds / "7" / "layercache_0.bin").write_bytes(b"x" * 64)
    (rounds / "7.proof").write_bytes(b"junk")
    with ServerThread(config, grpc=False):
        assert list(rounds.iterdir()) == []
