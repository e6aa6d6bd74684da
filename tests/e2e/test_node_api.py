"""A real `smesh node run` process serving the API: every listed method over gRPC and over JSON, and
`smesh tx send` until the transfer is applied (issue #6's integration test).

The node runs the standalone preset with short layers (2 s, 4 per epoch: the first block is in layer 8,
about 16 s after genesis) and stand-in ATXs (`--simulated-activation`), with the K2 wallet of
spec/wallet.md §5.1 funded at genesis.  Listeners bind port 0; the node reports the ports as its `api`
JSON event.  Public services are called over gRPC and through the JSON gateway; the private ones (v1
SmesherService and the v2alpha1 streams) over gRPC only, as go-spacemesh mounts only public services on
its gateway.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory

from core.api.gateway import to_protojson
from core.tx.templates import wallet_principal
from core.wallet.address import encode_address
from tests.core.tx.test_vectors import K2_PUB
from tests.e2e.helpers import SMESH, WIDE, run_smesh

HRP = "standalone"
FUNDS = 1000 * 10**9  # 1000 SMH
K2_ADDRESS = encode_address(wallet_principal(K2_PUB), HRP)
RECIPIENT = encode_address(bytes(4) + b"\x42" * 20, HRP)
FAST = {"layer-duration": 2, "layers-per-epoch": 4, "hare-preround-delay": 0.3, "hare-round-duration": 0.1}
FIRST_BLOCK = 8  # the first layer of epoch 2
T = 10  # seconds per call


@dataclasses.dataclass
class Node:
    proc: subprocess.Popen
    events: queue.Queue
    seen: list
    public: str
    private: str
    json: str

    def wait_for(self, event: str, timeout: float = 60, **match: object) -> dict:
        """The first event (seen before or arriving within `timeout`) with these fields."""
        return self.until(lambda e: e.get("event") == event and all(e.get(k) == v for k, v in match.items()), timeout)

    def until(self, predicate, timeout: float = 60) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            while index < len(self.seen):
                index += 1
                if predicate(self.seen[index - 1]):
                    return self.seen[index - 1]
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no matching event within {timeout} s"
            try:
                self.seen.append(self.events.get(timeout=remaining))
            except queue.Empty:
                pass

    def applied_at_least(self, layer: int, timeout: float = 60) -> None:
        self.until(lambda e: e.get("event") == "applied" and e["layer"] >= layer, timeout)


def _reader(stream, events: queue.Queue) -> None:
    for line in stream:
        try:
            events.put(json.loads(line))
        except ValueError:
            pass


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("api-node")
    config = directory / "fast.json"
    config.write_text(json.dumps(FAST))
    env = {**os.environ, "COLUMNS": WIDE, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [
            str(SMESH), "--json", "node", "run", "--preset", "standalone", "--config", str(config),
            "--data-dir", str(directory / "data"), "--genesis-time", "now+2s", "--simulated-activation",
            "--account", f"{K2_ADDRESS}=1000smh",
            "--grpc-public-listener", "127.0.0.1:0", "--grpc-private-listener", "127.0.0.1:0",
            "--grpc-json-listener", "127.0.0.1:0", "--grpc-cors-allowed-origin", "http://wallet.example",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    events: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, events), daemon=True).start()
    seen: list = []
    try:
        api = Node(proc, events, seen, "", "", "").wait_for("api", 30)
        running = Node(proc, events, seen, api["public"], api["private"], api["json"])
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        stderr = proc.stderr.read()
        assert "Traceback" not in stderr, stderr


# --- calling a method by name, over gRPC or JSON --------------------------------------------------


def _classes(service: str, method: str):
    from core.api.gateway import load_generated_modules

    load_generated_modules()  # every generated module into the default pool
    descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
    get = message_factory.GetMessageClass
    return get(descriptor.input_type), get(descriptor.output_type), descriptor


def grpc_call(target: str, service: str, method: str, request: dict, timeout: float = T) -> list[dict]:
    """Call a method with a protojson request; the responses as protojson dicts (one for unary), written as the
    gateway writes them (every field, grpc-gateway's EmitUnpopulated) so the two can be compared."""
    request_cls, response_cls, descriptor = _classes(service, method)
    message = json_format.ParseDict(request, request_cls())
    with grpc.insecure_channel(target) as channel:
        path = f"/{service}/{method}"
        if descriptor.server_streaming:
            call = channel.unary_stream(path, request_cls.SerializeToString, response_cls.FromString)
            return [to_protojson(r) for r in call(message, timeout=timeout)]
        call = channel.unary_unary(path, request_cls.SerializeToString, response_cls.FromString)
        return [to_protojson(call(message, timeout=timeout))]


def json_call(address: str, path: str, body: dict | str, origin: str | None = None) -> tuple[int, list[dict], dict]:
    """POST to the gateway: (HTTP status, the JSON objects of the body, headers)."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
    request = urllib.request.Request(f"http://{address}{path}", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=T) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        status, raw, got = e.code, e.read(), dict(e.headers)
    lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return status, lines, got


def both(node: Node, service: str, method: str, request: dict, same: bool = True) -> dict:
    """Call a public unary method over gRPC and JSON; both must succeed, with the same answer unless
    `same` is off (for answers that move with the clock)."""
    via_grpc = grpc_call(node.public, service, method, request)[0]
    status, body, _ = json_call(node.json, f"/{service}/{method}", request)
    assert status == 200, body
    if same:
        assert body == [via_grpc], (service, method)
    else:
        assert len(body) == 1 and set(body[0]) <= set(via_grpc) | {"connectedPeers"}, (service, method)
    return via_grpc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the tests ----------------------------------------------------------------------------------


def test_health_and_reflection(node: Node):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for target in (node.public, node.private):
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=T)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(node.public) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        reply = check(health_pb2.HealthCheckRequest(service="spacemesh.v2alpha1.TransactionService"), timeout=T)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_network_node_and_mesh_methods(node: Node):
    node.applied_at_least(FIRST_BLOCK + 3)  # FIRST_BLOCK is verified by now: its answers stand still
    info = both(node, "spacemesh.v2alpha1.NetworkService", "Info", {})
    assert info["hrp"] == HRP and info["layersPerEpoch"] == 4 and info["effectiveGenesisLayer"] == 7
    assert info["layerDuration"] == "2s" and info["labelsPerUnit"] == "64"
    status = both(node, "spacemesh.v2alpha1.NodeService", "Status", {}, same=False)
    assert status["status"] == "SYNC_STATUS_SYNCED"
    assert status["appliedLayer"] >= FIRST_BLOCK and status["currentLayer"] >= status["appliedLayer"]

    assert both(node, "spacemesh.v1.NodeService", "Echo", {"msg": {"value": "hi"}}) == {"msg": {"value": "hi"}}
    assert both(node, "spacemesh.v1.NodeService", "Version", {})["versionString"]["value"]
    v1_status = both(node, "spacemesh.v1.NodeService", "Status", {}, same=False)["status"]
    assert v1_status["isSynced"] is True and v1_status["syncedLayer"]["number"] >= FIRST_BLOCK
    node_info = both(node, "spacemesh.v1.NodeService", "NodeInfo", {})
    assert node_info["hrp"] == HRP and node_info["effectiveGenesis"] == 7 and node_info["epochSize"] == 4
    gid = both(node, "spacemesh.v1.MeshService", "GenesisID", {})["genesisId"]
    assert base64.b64decode(gid) == base64.b64decode(info["genesisId"])
    assert both(node, "spacemesh.v1.MeshService", "EpochNumLayers", {})["numlayers"]["value"] == "4"
    assert both(node, "spacemesh.v1.MeshService", "LayerDuration", {})["duration"]["value"] == "2"
    for method in ("GenesisTime", "CurrentLayer", "CurrentEpoch"):
        grpc_call(node.public, "spacemesh.v1.MeshService", method, {})
        status_code, _, _ = json_call(node.json, f"/spacemesh.v1.MeshService/{method}", {})
        assert status_code == 200
    # the v1 REST path of an annotated method answers the same
    status_code, body, _ = json_call(node.json, "/v1/node/echo", {"msg": {"value": "rest"}})
    assert (status_code, body) == (200, [{"msg": {"value": "rest"}}])

    layers = both(node, "spacemesh.v1.MeshService", "LayersQuery",
                  {"startLayer": {"number": FIRST_BLOCK}, "endLayer": {"number": FIRST_BLOCK}})
    assert [layer["number"]["number"] for layer in layers["layer"]] == [FIRST_BLOCK]
    listed = both(node, "spacemesh.v2alpha1.LayerService", "List",
                  {"startLayer": FIRST_BLOCK, "endLayer": FIRST_BLOCK, "limit": 10})
    assert [layer["number"] for layer in listed["layers"]] == [FIRST_BLOCK]


def test_activation_and_reward_methods(node: Node):
    node.applied_at_least(FIRST_BLOCK + 1)
    atxs = both(node, "spacemesh.v2alpha1.ActivationService", "List", {"startEpoch": 0, "endEpoch": 10, "limit": 100})
    assert len(atxs["activations"]) >= 2  # one published in epoch 0... as the stand-in builder does: at least two by now
    count = both(node, "spacemesh.v2alpha1.ActivationService", "ActivationsCount", {})
    assert int(count.get("count", 0)) == len(atxs["activations"])
    highest = both(node, "spacemesh.v1.ActivationService", "Highest", {})
    assert highest["atx"]["id"]["id"] in {a["id"] for a in atxs["activations"]}
    rewards = both(node, "spacemesh.v2alpha1.RewardService", "List", {"startLayer": FIRST_BLOCK, "limit": 100})
    assert rewards["rewards"] and all(int(r["layerReward"]) > 0 for r in rewards["rewards"])
    coinbase = rewards["rewards"][0]["coinbase"]
    data = both(node, "spacemesh.v1.GlobalStateService", "AccountDataQuery",
                {"filter": {"accountId": {"address": coinbase}, "accountDataFlags": 2}, "maxResults": 5})
    assert int(data["totalResults"]) >= len(data["accountItem"]) > 0


def test_private_listener_smesher_methods_and_streams(node: Node):
    node.applied_at_least(FIRST_BLOCK + 1)
    smesher = "spacemesh.v1.SmesherService"
    assert grpc_call(node.private, smesher, "IsSmeshing", {})[0]["isSmeshing"] is True
    ids = grpc_call(node.private, smesher, "SmesherIDs", {})[0]
    assert len(ids["publicKeys"]) == 1
    assert grpc_call(node.private, smesher, "Coinbase", {})[0]["accountId"]["address"].startswith(HRP + "1")
    config = grpc_call(node.private, smesher, "PostConfig", {})[0]
    assert config["labelsPerUnit"] == "64" and config["bitsPerLabel"] == 128
    grpc_call(node.private, smesher, "PostSetupStatus", {})
    grpc_call(node.private, smesher, "PostSetupProviders", {})
    # a status stream ticks every second: take two, then stop
    request_cls, response_cls, _ = _classes(smesher, "PostSetupStatusStream")
    with grpc.insecure_channel(node.private) as channel:
        stream = channel.unary_stream(f"/{smesher}/PostSetupStatusStream", request_cls.SerializeToString,
                                      response_cls.FromString)(request_cls(), timeout=T)
        assert [next(stream), next(stream)]
        stream.cancel()
    # the v2alpha1 streams replay history without watch
    for service, request in [
        ("spacemesh.v2alpha1.LayerStreamService", {"startLayer": FIRST_BLOCK, "endLayer": FIRST_BLOCK}),
        ("spacemesh.v2alpha1.RewardStreamService", {"startLayer": FIRST_BLOCK, "endLayer": FIRST_BLOCK}),
        ("spacemesh.v2alpha1.ActivationStreamService", {"startEpoch": 0, "endEpoch": 1}),
        ("spacemesh.v2alpha1.TransactionStreamService", {"startLayer": 0}),
    ]:
        grpc_call(node.private, service, "Stream", request)
    layers = grpc_call(node.private, "spacemesh.v2alpha1.LayerStreamService", "Stream",
                       {"startLayer": FIRST_BLOCK, "endLayer": FIRST_BLOCK})
    assert [layer["number"] for layer in layers] == [FIRST_BLOCK]
    # with watch, a layer applied after the call arrives live
    start = max(e["layer"] for e in node.seen if e.get("event") == "applied") + 1
    request_cls, response_cls, _ = _classes("spacemesh.v2alpha1.LayerStreamService", "Stream")
    with grpc.insecure_channel(node.private) as channel:
        stream = channel.unary_stream("/spacemesh.v2alpha1.LayerStreamService/Stream", request_cls.SerializeToString,
                                      response_cls.FromString)(request_cls(start_layer=start, watch=True), timeout=20)
        assert next(stream).number == start
        stream.cancel()


def test_public_streams_over_grpc_and_json(node: Node):
    node.applied_at_least(FIRST_BLOCK + 1)
    layer = FIRST_BLOCK + 1
    over_grpc = grpc_call(node.public, "spacemesh.v1.TransactionService", "StreamResults", {"start": 0, "end": layer})
    status, lines, headers = json_call(node.json, "/spacemesh.v1.TransactionService/StreamResults",
                                       {"start": 0, "end": layer})
    assert status == 200 and lines == [{"result": r} for r in over_grpc]
    # v1 LayerStream only streams new layers: read the first line as it arrives, then hang up
    body = json.dumps({}).encode()
    http = urllib.request.Request(f"http://{node.json}/spacemesh.v1.MeshService/LayerStream", data=body, method="POST")
    with urllib.request.urlopen(http, timeout=20) as response:
        first = json.loads(response.readline())
    assert first["result"]["layer"]["number"]["number"] > layer
    request_cls, response_cls, _ = _classes("spacemesh.v1.MeshService", "LayerStream")
    with grpc.insecure_channel(node.public) as channel:
        stream = channel.unary_stream("/spacemesh.v1.MeshService/LayerStream", request_cls.SerializeToString,
                                      response_cls.FromString)(request_cls(), timeout=20)
        assert next(stream).layer.number.number > layer
        stream.cancel()


def test_malformed_requests_get_the_right_codes(node: Node):
    tx_service = "spacemesh.v2alpha1.TransactionService"
    with pytest.raises(grpc.RpcError) as err:
        grpc_call(node.public, tx_service, "SubmitTransaction", {"transaction": b64(b"\x00junk")})
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status, body, _ = json_call(node.json, f"/{tx_service}/SubmitTransaction", {"transaction": b64(b"\x00junk")})
    assert status == 400 and body[0]["code"] == 3
    status, body, _ = json_call(node.json, f"/{tx_service}/List", "{not json")
    assert status == 400
    status, body, _ = json_call(node.json, "/spacemesh.v2alpha1.AccountService/List", {"addresses": [K2_ADDRESS]})
    assert status == 400 and "limit" in body[0]["message"]  # limit is required
    with pytest.raises(grpc.RpcError) as err:
        grpc_call(node.public, "spacemesh.v1.GlobalStateService", "Account", {"accountId": {"address": "sm1nope"}})
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status, _, _ = json_call(node.json, "/spacemesh.v9.Nothing/Here", {})
    assert status == 404
    # CORS: the configured origin may call, another may not
    _, _, headers = json_call(node.json, "/spacemesh.v2alpha1.NetworkService/Info", {}, origin="http://wallet.example")
    assert headers.get("Access-Control-Allow-Origin") == "http://wallet.example"
    _, _, headers = json_call(node.json, "/spacemesh.v2alpha1.NetworkService/Info", {}, origin="http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers


def test_tx_send_is_applied_and_visible_everywhere(node: Node, k2):
    node.applied_at_least(FIRST_BLOCK)
    result = run_smesh(
        ["--json", "tx", "send", *k2.args(), "--to", RECIPIENT, "--amount", "1.5smh", "--yes",
         "--api", node.public, "--timeout", "60"],
        timeout=90,
    )  # fmt: skip
    assert result.rc == 0, result
    sent = json.loads(result.stdout)
    # not spawned yet: the self-spawn went first, then the spend
    assert sent["result"]["status"] == "SUCCESS", sent
    tx_id = bytes.fromhex(sent["id"])
    # the recipient holds exactly the amount; the sender paid amount + both fees
    account = both(node, "spacemesh.v2alpha1.AccountService", "List", {"addresses": [RECIPIENT], "limit": 1})
    assert account["accounts"][0]["current"]["balance"] == str(1_500_000_000)
    v1 = both(node, "spacemesh.v1.GlobalStateService", "Account", {"accountId": {"address": K2_ADDRESS}})
    state = v1["accountWrapper"]
    assert state["stateCurrent"]["counter"] == "2"  # spawn (nonce 0) and spend (nonce 1)
    listed = both(node, "spacemesh.v2alpha1.TransactionService", "List",
                  {"address": K2_ADDRESS, "limit": 10, "includeState": True, "includeResult": True})
    fees = sum(int(t["txResult"]["fee"]) for t in listed["transactions"])
    assert len(listed["transactions"]) == 2
    assert int(state["stateCurrent"]["balance"]["value"]) == FUNDS - 1_500_000_000 - fees
    states = both(node, "spacemesh.v1.TransactionService", "TransactionsState",
                  {"transactionId": [{"id": b64(tx_id)}], "includeTransactions": True})
    assert states["transactionsState"][0]["state"] == "TRANSACTION_STATE_PROCESSED"
    # the applied spend's bytes: parsed, priced and (again) submitted, over gRPC and JSON
    raw = next(t["tx"]["raw"] for t in listed["transactions"] if t["tx"]["id"] == b64(tx_id))
    parsed = both(node, "spacemesh.v2alpha1.TransactionService", "ParseTransaction", {"transaction": raw, "verify": True})
    assert parsed["tx"]["principal"] == K2_ADDRESS and parsed["tx"]["contents"]["send"]["destination"] == RECIPIENT
    assert parsed["tx"]["nonce"]["counter"] == "1"
    parsed_v1 = both(node, "spacemesh.v1.TransactionService", "ParseTransaction", {"transaction": raw, "verify": True})
    assert parsed_v1["tx"]["id"] == b64(tx_id) and parsed_v1["tx"]["principal"]["address"] == K2_ADDRESS
    gas = both(node, "spacemesh.v2alpha1.TransactionService", "EstimateGas", {"transaction": raw})
    assert int(gas["recommendedMaxGas"]) == int(parsed["tx"]["maxGas"])
    again = both(node, "spacemesh.v1.TransactionService", "SubmitTransaction", {"transaction": raw})
    assert again["txstate"]["id"]["id"] == b64(tx_id)
    again_v2 = both(node, "spacemesh.v2alpha1.TransactionService", "SubmitTransaction", {"transaction": raw})
    assert again_v2["txId"] == b64(tx_id)
    # the CLI sees the same
    status = run_smesh(["--json", "tx", "status", tx_id.hex(), "--api", node.public])
    assert status.rc == 0 and "SUCCESS" in status.stdout
    balance = run_smesh(["--json", "wallet", "balance", RECIPIENT, "--api", node.public])
    assert balance.rc == 0 and "1500000000" in balance.stdout
