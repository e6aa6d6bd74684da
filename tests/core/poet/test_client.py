"""The node-side PoET client: proof checks, membership, proof reference, retries (spec/poet.md §4, §5.3)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import threading
import time

import pytest
from aiohttp import web

from core.crypto.hashing import hash32
from core.crypto.signing import Domain, verify_message
from core.poet.client import (
    InvalidPoetProof,
    PoetClient,
    PoetClientError,
    ProofResponse,
    parse_proof_response,
    verify_proof,
)
from core.poet.membership import verify_membership
from core.poet.prover import Prover
from core.poet.service import proof_parts
from tests.core.poet.test_service import GENESIS_ID, Node

HELLO = b"hello world, this is a challenge"  # 32 bytes: a single member is its own statement


@pytest.fixture(scope="module")
def hello_proof(tmp_path_factory):
    prover = Prover(HELLO, tmp_path_factory.mktemp("hello"))
    prover.run(max_leaves=150)
    return prover.proof()


def response(proof, members, round_id="3", pubkey=b"P" * 32) -> ProofResponse:
    root, leaves, nodes, n = proof_parts(proof)
    return ProofResponse(round_id, root, leaves, nodes, tuple(members), n, pubkey)


def test_spec_vector_n150_through_the_client(hello_proof):
    # spec §5.3: statement "hello world, this is a challenge", N = 150, depth 400
    v = verify_proof(response(hello_proof, [HELLO]), HELLO)
    assert v.statement == HELLO
    assert v.proof.merkle.root.hex() == "aa37a357d64153cc1e817057b9f300803bbc535c09e93e4526fd90d17263784f"
    assert v.proof.merkle.proven_leaves[0].hex() == "1ae76a359be94b11a6d6b8f0d5cec6b495e3ce9660649babec21607316b68eec"
    assert len(v.proof.encode()) == 5120
    assert v.ref.hex() == "afe66a373d87685cda5c2994a2b126f256d163685afa76449ebe98ba284ce87c"
    assert (v.member_index, v.membership_path, v.leaves, v.members) == (0, (), 150, 1)


def test_tampered_proofs_are_rejected(hello_proof):
    good = response(hello_proof, [HELLO])
    leaves = list(good.proven_leaves)
    leaves[7] = bytes(32)
    cases = {
        "a changed label": dataclasses.replace(good, proven_leaves=tuple(leaves)),
        "another leaf count": dataclasses.replace(good, leaves=151),
        "a missing label": dataclasses.replace(good, proven_leaves=good.proven_leaves[:-1]),
        "another root": dataclasses.replace(good, root=bytes(32)),
        "a short root": dataclasses.replace(good, root=b"x"),
        "an extra proof node": dataclasses.replace(good, proof_nodes=good.proof_nodes + (bytes(32),)),
        "another statement": dataclasses.replace(good, members=(HELLO, bytes(32))),
    }
    for name, bad in cases.items():
        with pytest.raises(InvalidPoetProof, match="invalid PoET proof"):
            verify_proof(bad, HELLO)
            pytest.fail(name)


def test_a_challenge_outside_the_members_is_not_usable(hello_proof):
    with pytest.raises(InvalidPoetProof, match="not a member"):
        verify_proof(response(hello_proof, [HELLO]), bytes(32))


def test_membership_path_of_a_multi_member_round(tmp_path):
    members = [bytes([i]) * 32 for i in range(1, 6)]
    from core.poet.membership import membership_root

    statement = membership_root(members)
    prover = Prover(statement, tmp_path)
    prover.run(max_leaves=200)
    proof = prover.proof()
    for i, m in enumerate(members):
        v = verify_proof(response(proof, members), m)
        assert v.member_index == i and len(v.membership_path) == 3
        assert verify_membership(m, i, v.membership_path, statement)
        assert v.ref == hash32(proof.encode())


def test_malformed_proof_json():
    with pytest.raises(PoetClientError, match="malformed"):
        parse_proof_response("1", {"proof": {"leaves": "x"}})
    with pytest.raises(PoetClientError, match="malformed"):
        parse_proof_response("1", {"proof": {"proof": {"root": "***"}, "leaves": "1"}, "pubkey": ""})
    p = parse_proof_response("1", {"proof": {"proof": {"root": "AA=="}, "members": None, "leaves": "7"}, "pubkey": None})
    assert (p.root, p.members, p.leaves, p.pubkey) == (b"\x00", (), 7, b"")


# ------------------------------------------------------------------------------------------------
# retries against a scripted server


class ScriptedPoet:
    """An HTTP server on 127.0.0.1 answering each path from a list of (status, body) replies."""

    def __init__(self, script: dict[str, list[tuple[int, dict]]]) -> None:
        self.script = script
        self.requests: list[tuple[str, dict | None]] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append((request.path, json.loads(raw) if raw else None))
        replies = self.script.get(request.path) or [(404, {"code": 5, "message": "Not Found", "details": []})]
        status, body = replies.pop(0) if len(replies) > 1 else replies[0]
        return web.json_response(body, status=status)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.url = "http://%s:%d" % self._runner.addresses[0][:2]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def __enter__(self) -> ScriptedPoet:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


PROOF_BODY = {
    "proof": {"proof": {"root": "AQ==", "provenLeaves": [], "proofNodes": []}, "members": ["Ag=="], "leaves": "9"},
    "pubkey": "Aw==",
}
ERROR_503 = (503, {"code": 14, "message": "busy", "details": []})
ERROR_404 = (404, {"code": 5, "message": "proof not found", "details": []})


def client_call(url: str, fn):
    async def go():
        async with PoetClient(url, retry_delay=0.05, timeout=5) as c:
            return await fn(c)

    return asyncio.run(go())


def test_proof_retries_404_and_5xx_until_ready():
    with ScriptedPoet({"/v1/proofs/4": [ERROR_404, ERROR_503, ERROR_404, (200, PROOF_BODY)]}) as poet:
        got = client_call(poet.url, lambda c: c.proof("4", retry_until=time.time() + 20))
        assert len(poet.requests) == 4
    assert (got.root, got.members, got.leaves, got.pubkey) == (b"\x01", (b"\x02",), 9, b"\x03")


def test_without_retry_until_errors_surface_at_once():
    with ScriptedPoet({"/v1/proofs/4": [ERROR_404]}) as poet:
        with pytest.raises(PoetClientError) as err:
            client_call(poet.url, lambda c: c.proof("4"))
        assert err.value.status == 404 and "proof not found" in str(err.value)
        assert len(poet.requests) == 1


def test_retries_stop_at_the_deadline():
    with ScriptedPoet({"/v1/proofs/4": [ERROR_503]}) as poet:
        with pytest.raises(PoetClientError, match="busy"):
            client_call(poet.url, lambda c: c.proof("4", retry_until=time.time() + 0.5))
        assert len(poet.requests) >= 2


def test_client_errors_are_not_retried():
    bad = (400, {"code": 3, "message": "invalid signature", "details": []})
    pow_params = (200, {"powParams": {"difficulty": 0, "challenge": base64.b64encode(b"c" * 32).decode()}})
    with ScriptedPoet({"/v1/submit": [bad], "/v1/pow_params": [pow_params]}) as poet:
        n = Node()
        with pytest.raises(PoetClientError, match="HTTP 400: invalid signature") as err:
            client_call(poet.url, lambda c: c.submit(n.challenge, n.secret, GENESIS_ID, retry_until=time.time() + 10))
        assert err.value.code == 3
        assert [p for p, _ in poet.requests].count("/v1/submit") == 1


def test_unreachable_poet():
    with pytest.raises(PoetClientError, match="cannot reach PoET"):
        client_call("http://127.0.0.1:9", lambda c: c.info())


def test_submit_body_is_signed_for_the_poet_domain():
    ok = (200, {"roundId": "12", "roundEnd": "30.5s"})
    pow_params = (200, {"powParams": {"difficulty": 0, "challenge": base64.b64encode(b"c" * 32).decode()}})
    with ScriptedPoet({"/v1/submit": [ERROR_503, ok], "/v1/pow_params": [pow_params]}) as poet:
        n = Node()
        before = time.time()
        reg = client_call(
            poet.url, lambda c: c.submit(n.challenge, n.secret, GENESIS_ID, deadline=before + 99, retry_until=time.time() + 10)
        )
        bodies = [b for p, b in poet.requests if p == "/v1/submit"]
    assert reg.round_id == "12" and before + 30.5 <= reg.round_end <= time.time() + 30.5
    assert len(bodies) == 2  # the 503 was retried
    body = bodies[-1]
    unb64 = base64.b64decode
    assert unb64(body["prefix"]) == GENESIS_ID + bytes([Domain.POET])
    assert unb64(body["pubkey"]) == n.id and unb64(body["challenge"]) == n.challenge
    assert verify_message(n.id, GENESIS_ID, Domain.POET, n.challenge, unb64(body["signature"]))
    assert body["powParams"] == {"difficulty": 0, "challenge": base64.b64encode(b"c" * 32).decode()}
    assert body["nonce"] == "0"
    assert body["deadline"].endswith("Z")


def test_info_parsing():
    info_body = {
        "servicePubkey": base64.b64encode(b"k" * 32).decode(),
        "phaseShift": "30s",
        "cycleGap": "1.5s",
        "certifier": {"url": "http://c", "pubkey": base64.b64encode(b"q" * 32).decode()},
    }
    with ScriptedPoet({"/v1/info": [(200, info_body)]}) as poet:
        info = client_call(poet.url, lambda c: c.info())
    assert (info.service_pubkey, info.phase_shift, info.cycle_gap) == (b"k" * 32, 30.0, 1.5)
    assert (info.certifier_url, info.certifier_pubkey) == ("http://c", b"q" * 32)


class SlowStreamingPoet(ScriptedPoet):
    """Sends the proof body in two writes 0.2 s apart, as a big proof arrives over TCP."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.dumps(PROOF_BODY).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await asyncio.sleep(0.2)
        await response.write(body[len(body) // 2 :])
        await response.write_eof()
        return response


def test_a_proof_body_arriving_in_pieces_is_read_whole():
    with SlowStreamingPoet({}) as poet:
        got = client_call(poet.url, lambda c: c.proof("4"))
    assert (got.root, got.members, got.leaves, got.pubkey) == (b"\x01", (b"\x02",), 9, b"\x03")
