"""The JSON gateway (core.api.gateway): HTTP calls through a live gateway in front of a live grpc.aio server.

The gRPC side is served by small servicers defined here (subclasses of the generated bases), so the tests do
not depend on the node's servicers. Expected JSON is written out by hand from protojson's rules
(spec/api-ecosystem.md §1.2): lowerCamelCase names, 64-bit integers as strings, bytes as base64, enums by name,
and, as grpc-gateway's default marshaler (protojson EmitUnpopulated), every field written: zeros as zeros, empty
lists as [], unset message fields as null, unset oneof members left out; error bodies and HTTP statuses as
grpc-gateway writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import dataclasses
import json
import logging
import socket

import aiohttp
import aiohttp.http_parser
import aiohttp.web_protocol
import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2, empty_pb2, timestamp_pb2

from core.api import gateway_routes
from core.api.gateway import JsonGateway, dial_target, to_protojson
from core.api.gen.google.rpc import status_pb2
from core.api.gen.spacemesh.v1 import (
    activation_pb2_grpc,
    global_state_pb2,
    global_state_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    types_pb2,
)
from core.api.gen.spacemesh.v2alpha1 import layer_pb2, layer_pb2_grpc, network_pb2, network_pb2_grpc, tx_pb2
from core.api.gen.spacemesh.v2alpha1 import node_pb2 as node2_pb2
from core.api.gen.spacemesh.v2alpha1 import node_pb2_grpc as node2_pb2_grpc
from core.errors import InvalidInput

VERSION = "v9.9.9-gateway-test"
PUBLIC = [name for name, listener in gateway_routes.SERVICES.items() if listener is gateway_routes.Listener.PUBLIC]
LAYER_STREAM = "spacemesh.v2alpha1.LayerStreamService"
WALLET = "https://wallet.example"


# --- the gRPC side ---------------------------------------------------------------------------------------------------


class NodeV1(node_pb2_grpc.NodeServiceServicer):
    async def Echo(self, request, context):
        if not request.HasField("msg"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "msg is required")
        await context.send_initial_metadata((("x-served-by", "test-node"),))
        tag = dict(context.invocation_metadata()).get("x-tag")
        text = request.msg.value + (f"|{tag}" if tag else "")
        return node_pb2.EchoResponse(msg=types_pb2.SimpleString(value=text))

    async def Version(self, request, context):
        return node_pb2.VersionResponse(version_string=types_pb2.SimpleString(value=VERSION))

    async def Status(self, request, context):
        detail = any_pb2.Any()
        detail.Pack(types_pb2.LayerNumber(number=7))
        status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="no layer 7", details=[detail])
        await context.abort(
            grpc.StatusCode.NOT_FOUND, "no layer 7",
            trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
        )  # fmt: skip


class GlobalState(global_state_pb2_grpc.GlobalStateServiceServicer):
    async def Account(self, request, context):
        if request.account_id.address == "sm1notsynced":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "node is not synced")
        state = global_state_pb2.AccountState(counter=3, balance=types_pb2.Amount(value=10**17))
        account = global_state_pb2.Account(account_id=request.account_id, state_current=state)
        return global_state_pb2.AccountResponse(account_wrapper=account)


class Activation(activation_pb2_grpc.ActivationServiceServicer):
    async def Highest(self, request, context):
        await asyncio.sleep(10)  # outlives any Grpc-Timeout the tests send


class NodeV2(node2_pb2_grpc.NodeServiceServicer):
    async def Status(self, request, context):
        return node2_pb2.NodeStatusResponse(
            connected_peers=2**40 + 7, status=node2_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING, latest_layer=50373
        )


class Network(network_pb2_grpc.NetworkServiceServicer):
    async def Info(self, request, context):
        return network_pb2.NetworkInfoResponse(
            genesis_time=timestamp_pb2.Timestamp(seconds=1_700_000_000),
            layer_duration=duration_pb2.Duration(seconds=300),
            genesis_id=b"smesh-genesis-id-20!",
            hrp="stest",
            effective_genesis_layer=7,
            layers_per_epoch=4,
            labels_per_unit=2**32,
        )


class LayerStream(layer_pb2_grpc.LayerStreamServiceServicer):
    """Layers start..end of a mesh whose newest layer is 3; `watch` then waits for layers that never come."""

    def __init__(self) -> None:
        self.watch_ended = asyncio.Event()

    async def Stream(self, request, context):
        if request.start_layer > request.end_layer:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "start_layer after end_layer")
        for n in range(max(request.start_layer, 1), min(request.end_layer, 3) + 1):  # the mesh starts at layer 1
            yield layer_pb2.Layer(number=n, status=layer_pb2.Layer.LAYER_STATUS_APPLIED, state_hash=bytes([n]) * 4)
        if request.end_layer > 3:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, "no layer 4 yet")
        if request.watch:
            try:
                await asyncio.sleep(30)
            finally:
                self.watch_ended.set()


@dataclasses.dataclass
class Env:
    http: aiohttp.ClientSession
    gateway: JsonGateway
    grpc_server: grpc.aio.Server
    layers: LayerStream


@contextlib.asynccontextmanager
async def serving(cors: tuple[str, ...] = (), services: list[str] | None = None):
    """A gRPC server with the test servicers on 127.0.0.1:0 and a gateway on 127.0.0.1:0 in front of it."""
    server = grpc.aio.server()
    layers = LayerStream()
    node_pb2_grpc.add_NodeServiceServicer_to_server(NodeV1(), server)
    global_state_pb2_grpc.add_GlobalStateServiceServicer_to_server(GlobalState(), server)
    activation_pb2_grpc.add_ActivationServiceServicer_to_server(Activation(), server)
    node2_pb2_grpc.add_NodeServiceServicer_to_server(NodeV2(), server)
    network_pb2_grpc.add_NetworkServiceServicer_to_server(Network(), server)
    layer_pb2_grpc.add_LayerStreamServiceServicer_to_server(layers, server)
    # MeshService is left out on purpose: its methods answer UNIMPLEMENTED
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = JsonGateway(f"127.0.0.1:{grpc_port}", "127.0.0.1:0", cors, services)
    try:
        port = await gateway.start()
        assert port > 0 and gateway.port == port
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", timeout=timeout) as http:
            yield Env(http, gateway, server, layers)
    finally:
        await gateway.stop()
        await server.stop(None)


async def post(http: aiohttp.ClientSession, path: str, body: str | bytes | io.BytesIO | None = None, **kw):
    """POST and return (status, content type, parsed JSON body, headers)."""
    async with http.post(path, data=body, **kw) as resp:
        return resp.status, resp.content_type, json.loads(await resp.read()), resp.headers


def run(check, **kw) -> None:  # noqa: ANN001
    async def main():
        async with serving(**kw) as env:
            await check(env)

    asyncio.run(main())


# --- protojson ------------------------------------------------------------------------------------------------------


def test_to_protojson_writes_unpopulated_fields_as_grpc_gateway_does():
    # protojson EmitUnpopulated: zeros, "" and [] written; unset message fields null; unset oneof members and
    # proto3 optional fields left out; declaration order
    tx = tx_pb2.Transaction(id=b"\x01", nonce=tx_pb2.Nonce())
    listed = to_protojson(tx_pb2.TransactionList(transactions=[tx_pb2.TransactionResponse(tx=tx)]))
    assert listed == {"transactions": [{
        "tx": {"id": "AQ==", "principal": "", "template": "", "method": 0, "nonce": {"counter": "0"}, "maxGas": "0",
               "gasPrice": "0", "maxSpend": "0", "raw": "", "type": "TRANSACTION_TYPE_UNSPECIFIED", "contents": None},
        "txResult": None,
    }]}  # fmt: skip
    assert list(listed["transactions"][0]["tx"]) == [
        "id", "principal", "template", "method", "nonce", "maxGas", "gasPrice", "maxSpend", "raw", "type", "contents"
    ]  # fmt: skip
    assert to_protojson(tx_pb2.TransactionList()) == {"transactions": []}
    result = to_protojson(tx_pb2.TransactionResponse(tx_result=tx_pb2.TransactionResult(), tx_state=0))
    assert result == {"tx": None, "txResult": {"status": "TRANSACTION_STATUS_UNSPECIFIED", "message": "",
                      "gasConsumed": "0", "fee": "0", "block": "", "layer": 0, "touchedAddresses": []},
                      "txState": "TRANSACTION_STATE_UNSPECIFIED"}  # fmt: skip
    assert to_protojson(tx_pb2.TransactionContents()) == {}
    send = to_protojson(tx_pb2.TransactionContents(send=tx_pb2.ContentsSend()))
    assert send == {"send": {"destination": "", "amount": "0"}}
    # inside an Any (error details) too
    detail = any_pb2.Any()
    detail.Pack(global_state_pb2.Account(state_current=global_state_pb2.AccountState()))
    assert dict(to_protojson(detail)) == {
        "@type": "type.googleapis.com/spacemesh.v1.Account", "accountId": None,
        "stateCurrent": {"counter": "0", "balance": None}, "stateProjected": None,
    }  # fmt: skip


# --- unary calls -----------------------------------------------------------------------------------------------------


def test_both_path_styles_and_an_empty_body():
    async def check(env: Env):
        for path in ("/v1/node/version", "/spacemesh.v1.NodeService/Version"):
            for body in (None, "", "{}", " \n"):
                status, ctype, reply, _ = await post(env.http, path, body)
                assert (status, ctype) == (200, "application/json")
                assert reply == {"versionString": {"value": VERSION}}

    run(check)


def test_protojson_names_integers_bytes_enums():
    async def check(env: Env):
        async with env.http.post("/spacemesh.v2alpha1.NodeService/Status") as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            text = await resp.text()
        # uint64 as a JSON string, uint32 as a number, the enum by name, zero fields written as zeros
        assert json.loads(text) == {"connectedPeers": "1099511627783", "status": "SYNC_STATUS_SYNCING",
                                    "latestLayer": 50373, "appliedLayer": 0, "processedLayer": 0,
                                    "currentLayer": 0}  # fmt: skip
        # compact and in declaration order, as grpc-gateway writes it
        assert text.startswith('{"connectedPeers":"1099511627783","status":"SYNC_STATUS_SYNCING","latestLayer":50373,')

        status, _, info, _ = await post(env.http, "/spacemesh.v2alpha1.NetworkService/Info", "{}")
        assert status == 200
        assert info == {
            "genesisTime": "2023-11-14T22:13:20Z",
            "layerDuration": "300s",
            "genesisId": "c21lc2gtZ2VuZXNpcy1pZC0yMCE=",  # base64 of b"smesh-genesis-id-20!"
            "hrp": "stest",
            "effectiveGenesisLayer": 7,
            "layersPerEpoch": 4,
            "labelsPerUnit": "4294967296",
        }

    run(check)


def test_request_names_and_forwarded_metadata():
    async def check(env: Env):
        state = {"counter": "3", "balance": {"value": "100000000000000000"}}
        wrapper = {"accountId": {"address": "sm1qqq"}, "stateCurrent": state, "stateProjected": None}  # unset: null
        expected = {"accountWrapper": wrapper}
        for body in ('{"accountId": {"address": "sm1qqq"}}', '{"account_id": {"address": "sm1qqq"}}'):
            for path in ("/v1/globalstate/account", "/spacemesh.v1.GlobalStateService/Account"):
                status, _, reply, _ = await post(env.http, path, body)
                assert (status, reply) == (200, expected)

        # Grpc-Metadata-<key> reaches the servicer as <key>; its header metadata comes back the same way
        status, _, reply, headers = await post(
            env.http, "/v1/node/echo", '{"msg": {"value": "hi"}}', headers={"Grpc-Metadata-X-Tag": "blue"}
        )
        assert (status, reply) == (200, {"msg": {"value": "hi|blue"}})
        assert headers["Grpc-Metadata-x-served-by"] == "test-node"

    run(check)


def test_bad_request_bodies_are_400():
    async def check(env: Env):
        for body in ('{"msg": {"value": "hi"', "[]", "null", '"hi"', b"\xff\xfe{}"):
            status, ctype, reply, _ = await post(env.http, "/v1/node/echo", body)
            assert (status, ctype) == (400, "application/json"), body
            assert reply["code"] == 3 and reply["message"] and reply["details"] == []
        status, _, reply, _ = await post(env.http, "/v1/node/echo", '{"msg": {"value": "hi"}, "sender": "me"}')
        assert status == 400 and reply["code"] == 3 and "sender" in reply["message"]
        status, _, reply, _ = await post(env.http, "/v1/node/echo", '{"msg": {"value": 5}}')  # wrong type
        assert status == 400 and reply["code"] == 3
        # over 10 MiB: refused before any gRPC call
        big = b'{"msg": {"value": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
        status, _, reply, _ = await post(env.http, "/v1/node/echo", io.BytesIO(big))
        assert status == 413 and reply["code"] == 8

    run(check)


def test_bytes_fields_must_be_base64():
    async def check(env: Env):
        submit = "/spacemesh.v1.TransactionService/SubmitTransaction"
        listing = "/spacemesh.v2alpha1.TransactionService/List"
        for body, field, shown in [
            ('{"transaction": "!!!"}', "transaction", '"!!!"'),  # json_format alone would send no bytes
            ('{"transaction": "YW=Jj"}', "transaction", '"YW=Jj"'),  # padding inside
            ('{"transaction": "deadbeef!"}', "transaction", '"deadbeef!"'),
            ('{"transaction": "Y"}', "transaction", '"Y"'),  # one character is no byte
        ]:
            status, ctype, reply, _ = await post(env.http, submit, body)
            assert (status, ctype, reply["code"], reply["details"]) == (400, "application/json", 3, []), body
            assert reply["message"] == f"invalid value for bytes field {field}: {shown} is not base64"
        # in a list and nested in a message, named by its place
        status, _, reply, _ = await post(env.http, listing, '{"txid": ["AAAA", "@@"], "limit": 1}')
        assert (status, reply["message"]) == (400, 'invalid value for bytes field txid[1]: "@@" is not base64')
        status, _, reply, _ = await post(
            env.http, "/spacemesh.v1.TransactionService/TransactionsState", '{"transactionId": [{"id": "x!"}]}'
        )
        assert status == 400
        assert reply["message"] == 'invalid value for bytes field transactionId[0].id: "x!" is not base64'
        # standard or URL-safe, padded or not, all pass (and reach gRPC: the test server has no TransactionService)
        for value in ("AAEC", "AAE=", "AAE", "_-8", "_-8=", ""):
            status, _, reply, _ = await post(env.http, submit, json.dumps({"transaction": value}))
            assert (status, reply["code"]) == (501, 12), value

    run(check)


def test_grpc_errors_map_to_http_statuses():
    async def check(env: Env):
        status, ctype, reply, _ = await post(env.http, "/v1/node/echo", "{}")
        assert (status, ctype) == (400, "application/json")
        assert reply == {"code": 3, "message": "msg is required", "details": []}
        status, _, reply, _ = await post(env.http, "/v1/node/status")
        assert status == 404
        detail = {"@type": "type.googleapis.com/spacemesh.v1.LayerNumber", "number": 7}
        assert reply == {"code": 5, "message": "no layer 7", "details": [detail]}
        body = '{"accountId": {"address": "sm1notsynced"}}'
        status, _, reply, _ = await post(env.http, "/v1/globalstate/account", body)
        assert (status, reply) == (400, {"code": 9, "message": "node is not synced", "details": []})
        status, _, reply, _ = await post(env.http, "/v1/mesh/currentlayer")  # MeshService is not served
        assert status == 501 and reply["code"] == 12
        status, _, reply, _ = await post(env.http, "/spacemesh.v1.ActivationService/Highest",
                                         headers={"Grpc-Timeout": "100m"})  # fmt: skip
        assert status == 504 and reply["code"] == 4
        status, _, reply, _ = await post(env.http, "/v1/node/version", headers={"Grpc-Timeout": "soon"})
        assert status == 400 and reply["code"] == 3

    run(check)


def test_unknown_path_and_wrong_method():
    async def check(env: Env):
        not_found = {"code": 5, "message": "Not Found", "details": []}
        for path in ("/v1/node/nope", "/spacemesh.v1.NodeService/Nope", "/", "/v1/node/version/"):
            assert (await post(env.http, path))[:3] == (404, "application/json", not_found)
        # private services are not mounted by default
        assert (await post(env.http, "/v1/smesher/postconfig"))[0] == 404
        assert (await post(env.http, f"/{LAYER_STREAM}/Stream"))[0] == 404
        for path in ("/v1/node/version", "/spacemesh.v2alpha1.NodeService/Status"):
            for method in ("GET", "PUT", "DELETE"):
                async with env.http.request(method, path) as resp:
                    assert resp.status == 405 and resp.content_type == "application/json"
                    assert resp.headers["Allow"] == "POST"
                    assert await resp.json() == {"code": 12, "message": "Method Not Allowed", "details": []}
        # every public route of the route table is mounted (each resolves to a generated method)
        assert env.gateway.paths == sorted(gateway_routes.gateway_routes())

    run(check)


# --- server streams --------------------------------------------------------------------------------------------------


def layer_line(n: int, state_hash: str) -> dict:
    # unset strings and bytes are "" and the unset block null, in every line of a stream too
    return {"result": {"number": n, "status": "LAYER_STATUS_APPLIED", "consensusHash": "", "stateHash": state_hash,
                       "cumulativeStateHash": "", "block": None}}  # fmt: skip


LAYERS = [layer_line(1, "AQEBAQ=="), layer_line(2, "AgICAg=="), layer_line(3, "AwMDAw==")]


def test_server_stream_lines_and_mid_stream_error():
    async def check(env: Env):
        path = f"/{LAYER_STREAM}/Stream"
        for body in ('{"startLayer": 1, "endLayer": 3}', '{"start_layer": 1, "end_layer": 3}'):
            async with env.http.post(path, data=body) as resp:
                assert resp.status == 200 and resp.content_type == "application/json"
                raw = await resp.read()
            assert raw.endswith(b"\n")
            assert [json.loads(line) for line in raw.splitlines()] == LAYERS
        # an error after some messages is the last line of the 200 stream
        async with env.http.post(path, data='{"startLayer": 1, "endLayer": 9}') as resp:
            assert resp.status == 200
            lines = [json.loads(line) for line in (await resp.read()).splitlines()]
        assert lines == [*LAYERS, {"error": {"code": 11, "message": "no layer 4 yet", "details": []}}]
        # an error before the first message is a plain error reply
        status, ctype, reply, _ = await post(env.http, path, '{"startLayer": 5, "endLayer": 2}')
        assert (status, ctype) == (400, "application/json")
        assert reply == {"code": 3, "message": "start_layer after end_layer", "details": []}
        # an empty stream is an empty 200 body
        async with env.http.post(path, data='{"startLayer": 0, "endLayer": 0}') as resp:
            assert resp.status == 200 and await resp.read() == b""

    run(check, services=[*PUBLIC, LAYER_STREAM])


def test_client_disconnect_cancels_the_grpc_stream():
    async def check(env: Env):
        resp = await env.http.post(f"/{LAYER_STREAM}/Stream", data='{"startLayer": 1, "endLayer": 3, "watch": true}')
        assert resp.status == 200
        assert [json.loads(await resp.content.readline()) for _ in range(3)] == LAYERS
        assert not env.layers.watch_ended.is_set()
        resp.close()  # drops the connection
        await asyncio.wait_for(env.layers.watch_ended.wait(), 5)

    run(check, services=[*PUBLIC, LAYER_STREAM])


def test_stop_ends_open_streams():
    async def check(env: Env):
        resp = await env.http.post(f"/{LAYER_STREAM}/Stream", data='{"startLayer": 1, "endLayer": 1, "watch": true}')
        assert json.loads(await resp.content.readline()) == LAYERS[0]
        await asyncio.wait_for(env.gateway.stop(), 1.5)  # no waiting out the shutdown grace for the stream
        await asyncio.wait_for(env.layers.watch_ended.wait(), 5)
        resp.close()

    run(check, services=[*PUBLIC, LAYER_STREAM])


# --- the gRPC target down --------------------------------------------------------------------------------------------


def test_grpc_target_down_is_503():
    async def check(env: Env):
        assert (await post(env.http, "/v1/node/version"))[0] == 200
        await env.grpc_server.stop(None)
        for path in ("/v1/node/version", f"/{LAYER_STREAM}/Stream"):
            status, ctype, reply, _ = await post(env.http, path)
            assert (status, ctype, reply["code"]) == (503, "application/json", 14)

    run(check, services=[*PUBLIC, LAYER_STREAM])


def test_gateway_starts_while_the_grpc_target_is_down():
    async def main():
        with socket.socket() as probe:  # a loopback port with nothing listening on it
            probe.bind(("127.0.0.1", 0))
            dead = probe.getsockname()[1]
        gateway = JsonGateway(f"127.0.0.1:{dead}", "127.0.0.1:0")
        port = await gateway.start()
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                status, _, reply, _ = await post(http, "/spacemesh.v2alpha1.NodeService/Status")
                assert (status, reply["code"]) == (503, 14)
        finally:
            await gateway.stop()

    asyncio.run(main())


# --- CORS ------------------------------------------------------------------------------------------------------------


def test_cors_allowed_disallowed_and_preflight():
    async def check(env: Env):
        _, _, _, headers = await post(env.http, "/v1/node/version", headers={"Origin": WALLET})
        assert headers["Access-Control-Allow-Origin"] == WALLET and "Origin" in headers["Vary"]
        status, _, reply, headers = await post(env.http, "/v1/node/version", headers={"Origin": "https://evil.example"})
        assert status == 200 and "Access-Control-Allow-Origin" not in headers  # the browser blocks the reply
        status, _, reply, headers = await post(env.http, "/v1/node/version")  # curl: no Origin
        assert (status, reply) == (200, {"versionString": {"value": VERSION}})
        assert "Access-Control-Allow-Origin" not in headers
        # errors carry CORS headers too, or a browser could not read them
        _, _, _, headers = await post(env.http, "/v1/node/nope", headers={"Origin": WALLET})
        assert headers["Access-Control-Allow-Origin"] == WALLET

        preflight = {"Origin": WALLET, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,x-trace"}  # fmt: skip
        async with env.http.options("/v1/node/version", headers=preflight) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == WALLET
            assert resp.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
            assert resp.headers["Access-Control-Allow-Headers"] == "content-type,x-trace"
        refused = {**preflight, "Origin": "https://evil.example"}
        async with env.http.options("/v1/node/version", headers=refused) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
            assert "Access-Control-Allow-Methods" not in resp.headers
        async with env.http.options(
            "/v1/node/version", headers={"Origin": WALLET, "Access-Control-Request-Method": "POST"}
        ) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Headers"] == "Content-Type"

    run(check, cors=(WALLET,))


def test_cors_wildcard_and_no_cors():
    async def check(env: Env):
        _, _, _, headers = await post(env.http, "/v1/node/version", headers={"Origin": "http://localhost:3000"})
        assert headers["Access-Control-Allow-Origin"] == "*"
        async with env.http.options(
            "/v1/node/version", headers={"Origin": "http://x.example", "Access-Control-Request-Method": "POST"}
        ) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == "*"

    run(check, cors=("*",))

    async def check_none(env: Env):
        _, _, _, headers = await post(env.http, "/v1/node/version", headers={"Origin": WALLET})
        assert "Access-Control-Allow-Origin" not in headers
        async with env.http.options(
            "/v1/node/version", headers={"Origin": WALLET, "Access-Control-Request-Method": "POST"}
        ) as resp:
            assert resp.status == 405 and "Access-Control-Allow-Origin" not in resp.headers

    run(check_none)


# --- not an HTTP/1.1 client ------------------------------------------------------------------------------------------

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # the frame a gRPC client sends right after the preface


async def send_raw(port: int, data: bytes) -> bytes:
    """Write `data` on a fresh connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("parser", ["c", "python"])
def test_an_http2_client_is_one_warning_line_and_the_gateway_keeps_serving(parser, caplog, monkeypatch):
    if parser == "python":  # aiohttp without its C extension words the parse error differently
        monkeypatch.setattr(aiohttp.web_protocol, "HttpRequestParser", aiohttp.http_parser.HttpRequestParserPy)
    elif aiohttp.http_parser.HttpRequestParserC is aiohttp.http_parser.HttpRequestParserPy:
        pytest.skip("aiohttp's C parser is not built here")
    caplog.set_level(logging.DEBUG)
    ports = []

    async def check(env: Env):
        ports.append(env.gateway.port)
        reply = await send_raw(env.gateway.port, HTTP2_PREFACE + EMPTY_SETTINGS)
        assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
        status, _, body, _ = await post(env.http, "/v1/node/version")  # still serving
        assert (status, body) == (200, {"versionString": {"value": VERSION}})

    run(check)
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)
    lines = [record for record in caplog.records if "HTTP/1.1" in record.getMessage()]
    assert [(record.levelno, record.getMessage()) for record in lines] == [(
        logging.WARNING,
        f"JSON gateway 127.0.0.1:{ports[0]}: not HTTP/1.1 (an HTTP/2 or gRPC client on the JSON port?) from 127.0.0.1",
    )]  # fmt: skip


def test_a_grpc_client_on_the_json_port_and_other_bad_http_are_one_line_each(caplog):
    caplog.set_level(logging.DEBUG)

    async def check(env: Env):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{env.gateway.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await node_pb2_grpc.NodeServiceStub(channel).Version(empty_pb2.Empty(), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        reply = await send_raw(env.gateway.port, b"POST /v1/node/version HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        assert b" 400 " in reply.split(b"\r\n", 1)[0]
        assert (await post(env.http, "/v1/node/version"))[0] == 200

    run(check)
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)
    messages = [record.getMessage() for record in caplog.records if "HTTP/1.1" in record.getMessage()]
    assert messages and all("\n" not in message for message in messages)
    assert any("not HTTP/1.1 (an HTTP/2 or gRPC client on the JSON port?)" in message for message in messages)
    assert any("not a valid HTTP/1.1 request" in message for message in messages)


# --- listening -------------------------------------------------------------------------------------------------------


def test_taken_port_and_bad_listen_address():
    async def main():
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            gateway = JsonGateway("127.0.0.1:1", f"127.0.0.1:{port}")
            with pytest.raises(InvalidInput) as err:
                await gateway.start()
            message = str(err.value)
            assert message.startswith(f"cannot listen on 127.0.0.1:{port} for the JSON gateway: ")
            assert "\n" not in message
            await gateway.stop()  # a no-op: never started

    asyncio.run(main())
    for listen in ("9095", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(InvalidInput):
            JsonGateway("127.0.0.1:1", listen)
    with pytest.raises(InvalidInput):
        JsonGateway("127.0.0.1:1", "127.0.0.1:0", services=["spacemesh.v1.NoSuchService"])


def test_dial_target_of_a_wildcard_listener():
    assert dial_target("0.0.0.0:9092") == "127.0.0.1:9092"
    assert dial_target(":9092") == "127.0.0.1:9092"
    assert dial_target("[::]:9092") == "[::1]:9092"
    assert dial_target("10.0.0.5:9092") == "10.0.0.5:9092"
