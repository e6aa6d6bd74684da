"""The PoET REST/JSON API, as the grpc-gateway of the Go poet serves it (spec/poet.md §2.7).

| route                     | RPC       |
|---------------------------|-----------|
| GET  /v1/info             | Info      |
| GET  /v1/pow_params       | PowParams |
| POST /v1/submit           | Submit    |
| GET  /v1/proofs/{round}   | Proof     |

JSON follows protojson: lowerCamelCase field names out (snake_case accepted in), bytes as
standard base64 (URL-safe and unpadded accepted in), uint64 as decimal strings, Duration as
"<seconds>[.frac]s", Timestamp as RFC 3339; unset fields are written too.  Unknown input fields
are ignored, as the gateway does.  Errors are `{"code": <gRPC code>, "message": ..., "details": []}`
with the gateway's HTTP status.  Request bodies are bounded; nothing a client sends stops the
server.  `/metrics` (Prometheus text) is a smesh addition for `smesh poet status` and operators.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from typing import Any

from aiohttp import web

from core.errors import InvalidInput
from core.httplog import ClientErrorLog
from core.poet.pow import PowParams
from core.poet.rounds import duration_to_json, timestamp_from_json, timestamp_to_json
from core.poet.service import (
    ApiError,
    Certificate,
    InvalidArgument,
    PoetService,
    PublishedProof,
    SubmitRequest,
)

log = logging.getLogger("smesh.poet.rest")

MAX_BODY = 64 * 1024  # a Submit is well under 1 KiB; a certificate under 1 KiB more

# gRPC code → HTTP status (grpc-gateway runtime.HTTPStatusFromCode)
HTTP_STATUS = {
    0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}  # fmt: skip


# ------------------------------------------------------------------------------------------------
# protojson decoding


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def decode_bytes(value: Any, field: str) -> bytes:
    """protojson bytes: standard or URL-safe base64, padded or not; null is empty."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid value for bytes field {field}: expected a base64 string")
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"invalid value for bytes field {field}: not base64") from None


_DECIMAL = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def decode_uint(value: Any, field: str, bits: int) -> int:
    """protojson unsigned integers: a JSON number or a decimal string; null is 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise InvalidArgument(f"invalid value for uint{bits} field {field}: {value!r}")
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise InvalidArgument(f"invalid value for uint{bits} field {field}: {value!r}")
        try:
            number = int(value)
        except ValueError:
            as_float = float(value)
            if not as_float.is_integer():
                raise InvalidArgument(f"invalid value for uint{bits} field {field}: {value!r}") from None
            number = int(as_float)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    else:
        raise InvalidArgument(f"invalid value for uint{bits} field {field}: {value!r}")
    if number < 0 or number >> bits:
        raise InvalidArgument(f"invalid value for uint{bits} field {field}: {value!r} is out of range")
    return number


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def pick_fields(obj: Any, names: tuple[str, ...], message: str) -> dict[str, Any]:
    """Map a JSON object onto proto field names (JSON or proto names accepted; unknown ignored)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InvalidArgument(f"invalid {message}: expected a JSON object")
    out: dict[str, Any] = {}
    for name in names:
        for key in {name, _camel(name)}:
            if key in obj:
                if name in out:
                    raise InvalidArgument(f"invalid {message}: field {name} is given twice")
                out[name] = obj[key]
    return out


_SUBMIT_FIELDS = (
    "nonce", "pow_params", "prefix", "challenge", "pubkey", "signature", "deadline", "certificate",
    "certificate_pubkey_hint",
)  # fmt: skip


def parse_submit(body: Any) -> SubmitRequest:
    """A SubmitRequest from its protojson form."""
    f = pick_fields(body, _SUBMIT_FIELDS, "SubmitRequest")
    pow_params = None
    if f.get("pow_params") is not None:
        p = pick_fields(f["pow_params"], ("difficulty", "challenge"), "powParams")
        pow_params = PowParams(
            decode_uint(p.get("difficulty"), "powParams.difficulty", 32),
            decode_bytes(p.get("challenge"), "powParams.challenge"),
        )
    deadline = None
    if f.get("deadline") is not None:
        if not isinstance(f["deadline"], str):
            raise InvalidArgument("invalid value for deadline: expected an RFC 3339 timestamp string")
        try:
            deadline = timestamp_from_json(f["deadline"])
        except InvalidInput as e:
            raise InvalidArgument(str(e)) from None
    certificate = None
    if f.get("certificate") is not None:
        c = pick_fields(f["certificate"], ("data", "signature"), "certificate")
        certificate = Certificate(
            decode_bytes(c.get("data"), "certificate.data"), decode_bytes(c.get("signature"), "certificate.signature")
        )
    hint = None
    if f.get("certificate_pubkey_hint") is not None:
        hint = decode_bytes(f["certificate_pubkey_hint"], "certificatePubkeyHint")
    return SubmitRequest(
        challenge=decode_bytes(f.get("challenge"), "challenge"),
        pubkey=decode_bytes(f.get("pubkey"), "pubkey"),
        signature=decode_bytes(f.get("signature"), "signature"),
        prefix=decode_bytes(f.get("prefix"), "prefix"),
        nonce=decode_uint(f.get("nonce"), "nonce", 64),
        pow_params=pow_params,
        deadline=deadline,
        certificate=certificate,
        certificate_pubkey_hint=hint,
    )


# ------------------------------------------------------------------------------------------------
# protojson encoding of the responses


def submit_request_json(req: SubmitRequest) -> dict[str, Any]:
    """The protojson body of a Submit (what clients send)."""
    body: dict[str, Any] = {
        "nonce": str(req.nonce),
        "prefix": b64(req.prefix),
        "challenge": b64(req.challenge),
        "pubkey": b64(req.pubkey),
        "signature": b64(req.signature),
    }
    if req.pow_params is not None:
        body["powParams"] = {"difficulty": req.pow_params.difficulty, "challenge": b64(req.pow_params.challenge)}
    if req.deadline is not None:
        body["deadline"] = timestamp_to_json(req.deadline)
    if req.certificate is not None:
        body["certificate"] = {"data": b64(req.certificate.data), "signature": b64(req.certificate.signature)}
    if req.certificate_pubkey_hint is not None:
        body["certificatePubkeyHint"] = b64(req.certificate_pubkey_hint)
    return body


def proof_json(p: PublishedProof) -> dict[str, Any]:
    return {
        "proof": {
            "proof": {
                "root": b64(p.root),
                "provenLeaves": [b64(x) for x in p.proven_leaves],
                "proofNodes": [b64(x) for x in p.proof_nodes],
            },
            "members": [b64(m) for m in p.members],
            "leaves": str(p.leaves),
        },
        "pubkey": b64(p.pubkey),
    }


def info_json(service: PoetService) -> dict[str, Any]:
    info = service.info()
    certifier = None
    if info.certifier_pubkey is not None or info.certifier_url is not None:
        certifier = {"url": info.certifier_url or "", "pubkey": b64(info.certifier_pubkey or b"")}
    return {
        "servicePubkey": b64(info.service_pubkey),
        "phaseShift": duration_to_json(info.phase_shift),
        "cycleGap": duration_to_json(info.cycle_gap),
        "certifier": certifier,
    }


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": []}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def _error(code: int, message: str, status: int | None = None) -> web.Response:
    return _json(error_body(code, message), HTTP_STATUS.get(code, 500) if status is None else status)


# ------------------------------------------------------------------------------------------------
# handlers


def make_app(service: PoetService) -> web.Application:
    @web.middleware
    async def errors(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
        try:
            return await handler(request)
        except ApiError as e:
            return _error(e.code, str(e))
        except web.HTTPRequestEntityTooLarge:
            return _error(3, f"request body too large: at most {MAX_BODY} bytes", 413)
        except web.HTTPMethodNotAllowed:
            return _error(12, "Method Not Allowed", 405)
        except web.HTTPNotFound:
            return _error(5, "Not Found")
        except web.HTTPException as e:
            return _error(2, e.reason or "error", e.status)
        except Exception:  # noqa: BLE001 - the server keeps running; the client sees a 500
            log.exception("internal error serving %s %s", request.method, request.path)
            return _error(13, "internal error")

    async def info(_: web.Request) -> web.Response:
        return _json(info_json(service))

    async def pow_params(_: web.Request) -> web.Response:
        p = service.pow_params()
        return _json({"powParams": {"difficulty": p.difficulty, "challenge": b64(p.challenge)}})

    async def submit(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise InvalidArgument(f"invalid JSON body: {getattr(e, 'msg', None) or e}") from None
        if not isinstance(body, dict):
            raise InvalidArgument("invalid SubmitRequest: expected a JSON object")
        result = await service.submit(parse_submit(body))
        return _json({"roundId": result.round_id, "roundEnd": duration_to_json(result.round_end)})

    async def proof(request: web.Request) -> web.Response:
        return _json(proof_json(await service.proof(request.match_info["round_id"])))

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics_text(await service.status()), content_type="text/plain")

    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors])
    app.router.add_get("/v1/info", info)
    app.router.add_get("/v1/pow_params", pow_params)
    app.router.add_post("/v1/submit", submit)
    app.router.add_get("/v1/proofs/{round_id}", proof)
    app.router.add_get("/metrics", metrics)
    return app


def metrics_text(status: dict[str, Any]) -> str:
    """Prometheus text exposition of `PoetService.status()` (the Go poet's metric names where they exist)."""
    lines = [
        "# TYPE poet_open_round gauge",
        f"poet_open_round {status['open_round']}",
        "# TYPE poet_open_round_close_timestamp_seconds gauge",
        f"poet_open_round_close_timestamp_seconds {status['open_round_closes']:.3f}",
        "# TYPE poet_round_members_total gauge",
        f'poet_round_members_total{{id="{status["open_round"]}"}} {status["open_round_members"]}',
    ]
    lines += [f'poet_round_members_total{{id="{c["round"]}"}} {c["members"]}' for c in status["closed"]]
    lines.append("# TYPE poet_round_leaves_total gauge")
    executing = status.get("executing")
    if executing:
        lines.append(f'poet_round_leaves_total{{id="{executing["round"]}"}} {executing["leaves"]}')
        lines.append("# TYPE poet_round_end_timestamp_seconds gauge")
        lines.append(f'poet_round_end_timestamp_seconds{{id="{executing["round"]}"}} {executing["ends"]:.3f}')
    lines.append("# TYPE poet_proof_leaves gauge")
    lines += [f'poet_proof_leaves{{id="{p["round"]}"}} {p["leaves"]}' for p in status["proofs"]]
    return "\n".join(lines) + "\n"


def parse_listen(text: str, what: str = "listen address") -> tuple[str, int]:
    """(host, port) from "host:port", ":port" or "[v6]:port"; an empty host means localhost."""
    clean = text.strip()
    if clean.startswith("["):
        host, sep, port = clean[1:].partition("]:")
    else:
        host, sep, port = clean.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"{what} {text!r} is not host:port")
    return host or "localhost", int(port)


async def start_rest(service: PoetService, host: str, port: int) -> tuple[web.AppRunner, tuple[str, int]]:
    """Serve the API on host:port (0 picks a free port); returns the runner and the bound address."""
    # a client that is no HTTP/1.1 client (a gRPC client on this port) is one warning line, not a traceback
    server_log = ClientErrorLog(log, f"PoET REST {host}:{port}", "REST")
    runner = web.AppRunner(make_app(service), access_log=None, handle_signals=False, logger=server_log)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise InvalidInput(f"cannot listen on {host}:{port} for REST: {e.strerror or e}") from None
    bound = runner.addresses[0]
    server_log.listener = f"PoET REST {bound[0]}:{bound[1]}"
    return runner, (bound[0], bound[1])
