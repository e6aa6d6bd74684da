"""A node's PoET client over REST/JSON (spec/poet.md §4): register, fetch, verify, reference.

* `submit` signs `genesis id ‖ 0x04 ‖ challenge` with the node key, authenticates with a
  certificate when the poet has a certifier and one is given, otherwise with the PoW of
  `/v1/pow_params` (solved off the event loop), and retries 5xx/429/network failures until
  `retry_until`.
* `proof` fetches `/v1/proofs/{round}`, retrying 404 (not ready yet) the same way.
* `verify_proof` rebuilds the statement from the members, checks the PoSW, finds the node's
  challenge and its membership path, and computes the proof reference
  `BLAKE3(SCALE(PoetProof{MerkleProof, LeafCount}))` that becomes the PoST challenge.
* `check_schedule` refuses a PoET whose `/v1/info` round schedule is not the node's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import math
import random
import time
from typing import Any

import aiohttp

from core.crypto.hashing import hash32
from core.crypto.signing import Domain, public_key_of, sign_message
from core.errors import SmeshError
from core.poet.membership import MembershipTree, membership_root
from core.poet.pow import PowParams, solve_pow
from core.poet.rounds import duration_from_json, format_duration
from core.poet.service import (
    LABEL_DEPTH,
    Certificate,
    ServiceInfo,
    SubmitRequest,
    make_poet_proof,
    verify_poet_proof,
)

PoetInfo = ServiceInfo  # what GET /v1/info describes, as the server itself has it

MAX_PROOF_RESPONSE = 256 * 1024 * 1024


class PoetClientError(SmeshError):
    """A PoET request that failed for good (or ran out of retries)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class PoetUnauthorized(PoetClientError):
    """HTTP 401: the certificate was refused; a node re-certifies and retries once."""


class InvalidPoetProof(PoetClientError):
    """A proof that does not verify or does not contain the node's challenge."""


class IncompatiblePoet(SmeshError):
    """A PoET whose rounds do not line up with the node's epochs (go-spacemesh: ErrIncompatiblePhaseShift)."""


def check_schedule(url: str, info: PoetInfo, phase_shift: float, cycle_gap: float) -> None:
    """Refuse a PoET whose round schedule is not the node's (spec/poet.md §4 step 2).

    go-spacemesh compares the phase shift only.  The cycle gap is compared too: with another gap
    the round's proof is ready at another time than the node's schedule expects it, and nodes that
    share one PoET must agree on it anyway.  `/v1/info` carries neither the epoch length nor the
    genesis time, so those cannot be checked here.
    """
    wrong = [
        f"its {what} is {format_duration(theirs)}, the node's {key} is {format_duration(ours)}"
        for what, theirs, ours, key in (
            ("phase shift", info.phase_shift, phase_shift, "poet-phase-shift"),
            ("cycle gap", info.cycle_gap, cycle_gap, "poet-cycle-gap"),
        )
        if not math.isclose(theirs, ours, rel_tol=0.0, abs_tol=1e-6)
    ]
    if wrong:
        raise IncompatiblePoet(f"PoET {url} runs another round schedule: {'; '.join(wrong)}")


@dataclasses.dataclass(frozen=True)
class Registration:
    round_id: str
    round_end: float  # Unix seconds: now + the roundEnd duration the poet returned


@dataclasses.dataclass(frozen=True)
class ProofResponse:
    """`GET /v1/proofs/{round}` decoded."""

    round_id: str
    root: bytes
    proven_leaves: tuple[bytes, ...]
    proof_nodes: tuple[bytes, ...]
    members: tuple[bytes, ...]
    leaves: int
    pubkey: bytes


@dataclasses.dataclass(frozen=True)
class VerifiedPoetProof:
    """A checked proof and what a node keeps of it (PoetProofMessage + its membership path)."""

    round_id: str
    proof: Any  # posw.PoetProof
    statement: bytes
    service_pubkey: bytes
    leaves: int
    member_index: int
    membership_path: tuple[bytes, ...]
    ref: bytes  # BLAKE3(SCALE(proof)): the PoST challenge
    members: int


def _unb64(value: Any, field: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise PoetClientError(f"malformed PoET response: {field} is not base64")
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PoetClientError(f"malformed PoET response: {field} is not base64") from None


def parse_proof_response(round_id: str, body: Any) -> ProofResponse:
    try:
        outer = body["proof"]
        merkle = outer["proof"]
        leaves = int(outer["leaves"])
        return ProofResponse(
            round_id,
            _unb64(merkle.get("root"), "root"),
            tuple(_unb64(x, "provenLeaves") for x in merkle.get("provenLeaves") or ()),
            tuple(_unb64(x, "proofNodes") for x in merkle.get("proofNodes") or ()),
            tuple(_unb64(x, "members") for x in outer.get("members") or ()),
            leaves,
            _unb64(body.get("pubkey"), "pubkey"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PoetClientError("malformed PoET proof response") from None


def verify_proof(resp: ProofResponse, challenge: bytes, *, depth: int = LABEL_DEPTH) -> VerifiedPoetProof:
    """Check the PoSW against the statement rebuilt from the members; locate `challenge` (CPU-bound)."""
    statement = membership_root(resp.members)
    try:
        proof = make_poet_proof(resp.root, resp.proven_leaves, resp.proof_nodes, resp.leaves)
        verify_poet_proof(statement, proof, depth)
    except SmeshError as e:
        raise InvalidPoetProof(f"invalid PoET proof for round {resp.round_id}: {e}") from None
    except ValueError as e:  # a part that does not fit the SCALE limits
        raise InvalidPoetProof(f"invalid PoET proof for round {resp.round_id}: {e}") from None
    tree = MembershipTree(resp.members)
    try:
        index = tree.index_of(challenge)
    except SmeshError:
        raise InvalidPoetProof(f"the challenge is not a member of round {resp.round_id}") from None
    return VerifiedPoetProof(
        round_id=resp.round_id,
        proof=proof,
        statement=statement,
        service_pubkey=resp.pubkey,
        leaves=resp.leaves,
        member_index=index,
        membership_path=tree.path(index),
        ref=hash32(proof.encode()),
        members=len(resp.members),
    )


async def _read_body(response: aiohttp.ClientResponse, limit: int, path: str) -> bytes:
    """The whole body, refused beyond `limit` bytes.  (StreamReader.read(n) returns what has arrived,
    at most n bytes: a big proof arriving in several TCP reads came back cut, as "malformed".)"""
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise PoetClientError(f"PoET response to {path} is too large")
    return bytes(body)


class PoetClient:
    """One PoET server's REST API.  Use as `async with PoetClient(url) as poet: ...`."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, retry_delay: float = 1.0, address: str | None = None
    ) -> None:
        """address: how an ATX builder's persisted registrations name this PoET (default: the URL)."""
        self.base_url = base_url.rstrip("/")
        if "://" not in self.base_url:
            self.base_url = "http://" + self.base_url
        self.address = address or self.base_url
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PoetClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _request(
        self, method: str, path: str, body: Any = None, *, retry_until: float | None = None, retry_404: bool = False
    ) -> Any:
        """JSON request with retries on 5xx, 429, network errors (and 404 if asked) until `retry_until`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._http().request(method, self.base_url + path, json=body) as r:
                    raw = await _read_body(r, MAX_PROOF_RESPONSE, path)
                    try:
                        data = json.loads(raw) if raw else None
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        data = None
                    if r.status == 200:
                        if data is None:
                            raise PoetClientError(f"PoET sent a malformed response to {path}")
                        return data
                    message = data.get("message") if isinstance(data, dict) else None
                    code = data.get("code") if isinstance(data, dict) else None
                    retryable = r.status >= 500 or r.status == 429 or (retry_404 and r.status == 404)
                    error_cls = PoetUnauthorized if r.status == 401 else PoetClientError
                    error = error_cls(
                        f"PoET {self.base_url} refused {method} {path}: HTTP {r.status}: {message or r.reason}",
                        status=r.status,
                        code=code,
                    )
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                retryable = True
                error = PoetClientError(f"cannot reach PoET {self.base_url}: {e or type(e).__name__}")
            if not retryable or retry_until is None:
                raise error
            delay = self.retry_delay * (1 + random.random())  # linear jitter, as go-spacemesh does
            if time.time() + delay > retry_until:
                raise error
            await asyncio.sleep(delay)

    # -- the four calls --------------------------------------------------------------------

    async def info(self) -> PoetInfo:
        data = await self._request("GET", "/v1/info")
        try:
            certifier = data.get("certifier")
            return PoetInfo(
                _unb64(data.get("servicePubkey"), "servicePubkey"),
                duration_from_json(data.get("phaseShift") or "0s"),
                duration_from_json(data.get("cycleGap") or "0s"),
                certifier.get("url") if certifier else None,
                _unb64(certifier.get("pubkey"), "certifier.pubkey") if certifier else None,
            )
        except (AttributeError, SmeshError) as e:
            raise PoetClientError(f"malformed PoET info: {e}") from None

    async def pow_params(self) -> PowParams:
        data = await self._request("GET", "/v1/pow_params")
        try:
            p = data["powParams"]
            return PowParams(int(p.get("difficulty") or 0), _unb64(p.get("challenge"), "powParams.challenge"))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PoetClientError("malformed PoET pow params") from None

    async def submit(
        self,
        challenge: bytes,
        secret_key: bytes,
        genesis_id: bytes,
        *,
        deadline: float | None = None,
        certificate: Certificate | None = None,
        certifier_pubkey: bytes | None = None,
        retry_until: float | None = None,
    ) -> Registration:
        """Register `challenge` for the node `secret_key` belongs to in the open round."""
        node_id = public_key_of(secret_key)
        signature = sign_message(secret_key, genesis_id, Domain.POET, challenge)
        prefix = bytes(genesis_id) + bytes([Domain.POET])
        req = SubmitRequest(challenge=bytes(challenge), pubkey=node_id, signature=signature, prefix=prefix, deadline=deadline)
        use_cert = certificate is not None and (await self.info()).certifier_pubkey is not None
        if use_cert:
            hint = certifier_pubkey[:4] if certifier_pubkey else None
            req = dataclasses.replace(req, certificate=certificate, certificate_pubkey_hint=hint)
        else:
            params = await self.pow_params()
            loop = asyncio.get_running_loop()
            nonce = await loop.run_in_executor(None, solve_pow, params, node_id, bytes(challenge))
            req = dataclasses.replace(req, pow_params=params, nonce=nonce)
        from core.poet.rest import submit_request_json

        data = await self._request("POST", "/v1/submit", submit_request_json(req), retry_until=retry_until)
        try:
            return Registration(str(data["roundId"]), time.time() + duration_from_json(data.get("roundEnd") or "0s"))
        except (KeyError, TypeError, SmeshError):
            raise PoetClientError("malformed PoET submit response") from None

    async def proof(self, round_id: str, *, retry_until: float | None = None) -> ProofResponse:
        """The round's proof; with `retry_until`, 404 (not ready) is retried until then."""
        data = await self._request("GET", f"/v1/proofs/{round_id}", retry_until=retry_until, retry_404=True)
        return parse_proof_response(round_id, data)

    async def verified_proof(
        self, round_id: str, challenge: bytes, *, depth: int = LABEL_DEPTH, retry_until: float | None = None
    ) -> VerifiedPoetProof:
        """Fetch, verify (off the event loop) and locate the node's challenge."""
        resp = await self.proof(round_id, retry_until=retry_until)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: verify_proof(resp, challenge, depth=depth))
