"""The REST/JSON API: protojson shapes, HTTP statuses and bad input (spec/poet.md §2.7)."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.crypto.signing import Domain, sign_message
from core.poet.rest import HTTP_STATUS, MAX_BODY, decode_bytes, decode_uint, parse_listen, parse_submit
from core.poet.service import InvalidArgument, ServiceConfig
from tests.core.poet.test_service import GENESIS_ID, Node, ServerThread, _json, http, idle_schedule


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    config = ServiceConfig(datadir=tmp_path_factory.mktemp("rest"), schedule=idle_schedule())
    with ServerThread(config, grpc=False) as server:
        yield server


def submit_body(node: Node, **fields) -> dict:
    body = _json(node.request())
    body["powParams"] = {"difficulty": 0, "challenge": ""}
    body.update(fields)
    return body


def post(srv, body, raw: bytes | None = None, headers=None):
    data = raw if raw is not None else json.dumps(body).encode()
    return http("POST", f"{srv.url}/v1/submit", data, headers or {"Content-Type": "application/json"})


def pow_body(srv) -> dict:
    status, body = http("GET", f"{srv.url}/v1/pow_params")
    assert status == 200
    return body["powParams"]


def test_info_shape(srv):
    status, body = http("GET", f"{srv.url}/v1/info")
    assert status == 200
    assert body == {
        "servicePubkey": b64(srv.service.pubkey),
        "phaseShift": "3600s",
        "cycleGap": "60s",
        "certifier": None,  # unset fields are emitted, as by the gateway
    }


def test_pow_params_shape(srv):
    p = pow_body(srv)
    assert p["difficulty"] == 0
    assert len(base64.b64decode(p["challenge"])) == 32


def test_submit_shape_and_snake_case_input(srv):
    n = Node()
    body = submit_body(n, powParams=pow_body(srv))
    status, out = post(srv, body)
    assert status == 200
    assert out["roundId"] == "0"
    assert re.fullmatch(r"\d+(\.\d{3}|\.\d{6}|\.\d{9})?s", out["roundEnd"])
    # proto field names are accepted on input, u64 as a number, unknown fields ignored
    m = Node()
    snake = {
        "challenge": b64(m.challenge),
        "pubkey": b64(m.id),
        "signature": b64(sign_message(m.secret, GENESIS_ID, Domain.POET, m.challenge)),
        "prefix": b64(GENESIS_ID + b"\x04"),
        "nonce": 7,
        "pow_params": pow_body(srv),
        "some_future_field": {"x": 1},
    }
    status, out = post(srv, snake)
    assert (status, out["roundId"]) == (200, "0")


def test_url_safe_unpadded_base64_is_accepted():
    assert decode_bytes("-_8", "f") == b"\xfb\xff"
    assert decode_bytes("+/8=", "f") == b"\xfb\xff"
    assert decode_bytes(None, "f") == b""
    with pytest.raises(InvalidArgument):
        decode_bytes("a", "f")
    with pytest.raises(InvalidArgument):
        decode_bytes(12, "f")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 0), (5, 5), ("5", 5), ("18446744073709551615", 2**64 - 1), (5.0, 5), ("1e3", 1000)]
)
def test_uint64_forms(value, expected):
    assert decode_uint(value, "nonce", 64) == expected


@pytest.mark.parametrize("value", [-1, "-1", 2**64, "18446744073709551616", 1.5, "1.5", True, "x", [], {}])
def test_bad_uint64(value):
    with pytest.raises(InvalidArgument):
        decode_uint(value, "nonce", 64)


def test_a_field_given_twice_is_rejected():
    with pytest.raises(InvalidArgument, match="given twice"):
        parse_submit({"powParams": {}, "pow_params": {}})


def _bad_requests(srv) -> list[tuple[str, dict | None, bytes | None, int, int, str]]:
    n = Node()
    good = submit_body(n, powParams=pow_body(srv))
    other = Node()
    return [
        ("not JSON", None, b"{nope", 400, 3, "invalid JSON"),
        ("not an object", None, b"[1, 2]", 400, 3, "expected a JSON object"),
        ("bad base64", {**good, "challenge": "***"}, None, 400, 3, "challenge"),
        ("short pubkey", {**good, "pubkey": b64(b"x" * 31)}, None, 400, 3, "pubkey"),
        ("long challenge", {**good, "challenge": b64(b"x" * 33)}, None, 400, 3, "challenge"),
        ("short signature", {**good, "signature": b64(b"x" * 10)}, None, 400, 3, "signature"),
        ("bad signature", {**good, "signature": b64(bytes(64))}, None, 400, 3, "invalid signature"),
        ("signature of another key", {**good, "pubkey": b64(other.id)}, None, 400, 3, "invalid signature"),
        ("wrong prefix", {**good, "prefix": b64(bytes(20) + b"\x04")}, None, 400, 3, "invalid signature"),
        ("negative nonce", {**good, "nonce": "-1"}, None, 400, 3, "nonce"),
        ("bad deadline", {**good, "deadline": "tomorrow"}, None, 400, 3, "timestamp"),
        ("deadline type", {**good, "deadline": 12}, None, 400, 3, "deadline"),
        ("pow params type", {**good, "powParams": "x"}, None, 400, 3, "powParams"),
        ("no pow params", {k: v for k, v in good.items() if k != "powParams"}, None, 400, 3, "pow params"),
        ("deadline passed", {**good, "deadline": "2020-01-01T00:00:00Z"}, None, 400, 9, "too late to register"),
        ("huge body", None, b'{"challenge": "' + b"A" * (MAX_BODY + 10) + b'"}', 413, 3, "too large"),
        ("deep JSON", None, b"[" * 30_000 + b"]" * 30_000, 400, 3, "invalid JSON"),
        ("empty body", None, b"", 400, 3, "invalid JSON"),
        ("invalid UTF-8", None, b'{"challenge": "\xff"}', 400, 3, "invalid JSON"),
    ]


def test_bad_submissions_get_4xx_with_a_message_and_the_server_lives(srv):
    for name, body, raw, status, code, message in _bad_requests(srv):
        got_status, got = post(srv, body, raw)
        assert got_status == status, (name, got)
        assert got["code"] == code and message in got["message"] and got["details"] == [], (name, got)
        assert HTTP_STATUS[code] == status or status == 413
    status, _ = http("GET", f"{srv.url}/v1/info")
    assert status == 200


def test_unknown_rounds_paths_and_methods(srv):
    for path, status, code in [
        ("/v1/proofs/0", 404, 5),  # not published yet
        ("/v1/proofs/99999999999", 404, 5),
        ("/v1/proofs/abc", 404, 5),
        ("/v1/proofs/-1", 404, 5),
        ("/v1/nothing", 404, 5),
    ]:
        got_status, body = http("GET", srv.url + path)
        assert (got_status, body["code"]) == (status, code), path
        assert body["message"]
    got_status, body = http("DELETE", f"{srv.url}/v1/info")
    assert got_status == 405 and body["code"] == 12
    got_status, body = http("GET", f"{srv.url}/v1/submit")
    assert got_status == 405
    assert http("GET", f"{srv.url}/v1/info")[0] == 200


def test_metrics_text(srv):
    n = Node()
    assert post(srv, submit_body(n, powParams=pow_body(srv)))[0] == 200
    status, text = http("GET", f"{srv.url}/metrics")
    assert status == 200
    assert "poet_open_round 0" in text
    count = int(re.search(r'poet_round_members_total\{id="0"\} (\d+)', text).group(1))
    assert count >= 1


def test_an_http2_client_is_one_warning_line_and_the_server_keeps_serving(srv, caplog):
    caplog.set_level(logging.DEBUG)
    host, port = srv.server.rest_address
    with socket.create_connection((host, port), timeout=5) as conn:  # a gRPC client on the REST port
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        reply = b""
        while chunk := conn.recv(4096):  # the server answers 400 and closes
            reply += chunk
    assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert http("GET", f"{srv.url}/v1/info")[0] == 200
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "HTTP/1.1" in r.getMessage()]
    message = f"PoET REST {host}:{port}: not HTTP/1.1 (an HTTP/2 or gRPC client on the REST port?) from 127.0.0.1"
    assert lines == [(logging.WARNING, message)]


def test_listen_addresses():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen(":0") == ("localhost", 0)
    assert parse_listen("[::1]:50002") == ("::1", 50002)
    for bad in ("8080", "host:", "host:99999", "host:x"):
        with pytest.raises(Exception, match="host:port"):
            parse_listen(bad)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_field_names = st.sampled_from(
    ["nonce", "powParams", "pow_params", "prefix", "challenge", "pubkey", "signature", "deadline", "certificate",
     "certificatePubkeyHint", "certificate_pubkey_hint", "difficulty", "data", "other"]
)  # fmt: skip


@given(st.dictionaries(_field_names, _json_values | st.dictionaries(_field_names, _json_values, max_size=3), max_size=8))
def test_any_json_object_parses_or_fails_as_invalid_argument(body):
    try:
        parse_submit(body)
    except InvalidArgument:
        pass
