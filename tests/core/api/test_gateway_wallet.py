"""The JSON gateway in front of the node's own servicers, read as the smapp-lite browser wallet reads it (issue 11).

smapp-lite checks every reply against zod schemas that need each field present, zero or not, as go-spacemesh's
grpc-gateway writes them (protojson EmitUnpopulated): `connectedPeers`, zero `counter`s, `projected.layer`,
`tx.method`, `nonce.counter`, `maxSpend`, `txResult.message`, empty `rewards`/`transactions` arrays.  The mesh is
the session's simulated one (tests/core/api/conftest.py); expected values come from its notes.
"""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest

from core.api.backend import NodeBackend
from core.api.server import ApiServer
from core.mesh.store import MeshStore
from core.node.clock import LayerClock
from core.wallet.address import encode_address
from tests.core.api.conftest import AMOUNT, CONFIG, END, OTHER, UNITS, WALLET

T = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="module")
def backend(mesh) -> NodeBackend:  # noqa: ANN001
    return NodeBackend(CONFIG, mesh.node.store, version="v0.0.0-wallet-test", node=mesh.node)


def b32(address: bytes) -> str:
    return encode_address(address, CONFIG.hrp)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def calls(backend: NodeBackend, requests: list[tuple[str, dict]]) -> list[dict]:
    """POST each (path, body) to a gateway in front of the public listener; the 200 replies' JSON."""

    async def main() -> list[dict]:
        server = ApiServer(backend, public_listen="127.0.0.1:0", private_listen="", json_listen="127.0.0.1:0")
        ports = await server.start()
        try:
            replies = []
            async with aiohttp.ClientSession(f"http://127.0.0.1:{ports.json}", timeout=T) as http:
                for path, body in requests:
                    async with http.post(path, data=json.dumps(body)) as resp:
                        text = await resp.text()
                        assert resp.status == 200, text
                        replies.append(json.loads(text))
            return replies
        finally:
            await server.stop()

    return asyncio.run(main())


def test_node_status_has_every_field(backend):
    (status,) = calls(backend, [("/spacemesh.v2alpha1.NodeService/Status", {})])
    assert set(status) == {"connectedPeers", "status", "latestLayer", "appliedLayer", "processedLayer", "currentLayer"}
    assert status["connectedPeers"] == str(len(UNITS) - 1)  # the other smesher; a uint64 as a string
    assert status["currentLayer"] == END and status["appliedLayer"] == END - 1


def test_node_status_before_genesis_writes_the_zeros(tmp_path):
    store = MeshStore(tmp_path / "state.sql")
    try:
        genesis = CONFIG.require_genesis_time()
        clock = LayerClock(genesis, CONFIG.layer_duration, CONFIG.layers_per_epoch, now=lambda: genesis - 100.0)
        (status,) = calls(NodeBackend(CONFIG, store, version="v0", clock=clock), [
            ("/spacemesh.v2alpha1.NodeService/Status", {}),
        ])  # fmt: skip
    finally:
        store.close()
    assert status == {"connectedPeers": "0", "status": "SYNC_STATUS_SYNCING", "latestLayer": 0, "appliedLayer": 0,
                      "processedLayer": 0, "currentLayer": 0}  # fmt: skip


def test_accounts_have_zero_counters_and_projected_layer(backend):
    (listed,) = calls(backend, [
        ("/spacemesh.v2alpha1.AccountService/List", {"addresses": [b32(WALLET), b32(OTHER)], "limit": 10}),
    ])  # fmt: skip
    wallet, other = listed["accounts"]
    # the wallet spent nonces 0 (spawn) and 1 (transfer); nonce 2 is pending in the mempool
    assert (wallet["current"]["counter"], wallet["projected"]["counter"]) == ("2", "3")
    assert wallet["current"]["layer"] == END - 1 and wallet["projected"]["layer"] == 0  # go-spacemesh sets no layer
    # an account never touched: every field is there, zero
    assert other == {
        "address": b32(OTHER),
        "current": {"counter": "0", "balance": "0", "layer": END - 1},
        "projected": {"counter": "0", "balance": "0", "layer": 0},
        "template": "",
    }


def test_transactions_have_method_nonce_max_spend_and_result_message(backend, mesh):
    ids = [mesh.spawn, mesh.transfer, mesh.pending]
    request = {"txid": [b64(i) for i in ids], "limit": 10, "includeResult": True, "includeState": True}
    (listed, none) = calls(backend, [
        ("/spacemesh.v2alpha1.TransactionService/List", request),
        ("/spacemesh.v2alpha1.TransactionService/List", {"address": b32(OTHER), "limit": 10}),
    ])  # fmt: skip
    assert none == {"transactions": []}
    by_id = {base64.b64decode(t["tx"]["id"]): t for t in listed["transactions"]}
    assert set(by_id) == set(ids)
    spawn, transfer, pending = (by_id[i] for i in ids)
    # the self-spawn: method 0, nonce 0 and max spend 0 are all written
    assert (spawn["tx"]["method"], spawn["tx"]["nonce"], spawn["tx"]["maxSpend"]) == (0, {"counter": "0"}, "0")
    assert (transfer["tx"]["method"], transfer["tx"]["nonce"], transfer["tx"]["maxSpend"]) == (
        16, {"counter": "1"}, str(AMOUNT)
    )  # fmt: skip
    for executed in (spawn, transfer):
        result = executed["txResult"]
        assert result["status"] == "TRANSACTION_STATUS_SUCCESS" and result["message"] == ""
        assert set(result) == {"status", "message", "gasConsumed", "fee", "block", "layer", "touchedAddresses"}
        assert executed["txState"] == "TRANSACTION_STATE_PROCESSED"
    # still in the mempool: no result yet (null, as go-spacemesh's gateway writes an unset message)
    assert pending["txResult"] is None and pending["txState"] == "TRANSACTION_STATE_MEMPOOL"
    assert (pending["tx"]["nonce"], pending["tx"]["maxSpend"]) == ({"counter": "2"}, "5")


def test_no_rewards_is_an_empty_array(backend):
    (rewards,) = calls(backend, [("/spacemesh.v2alpha1.RewardService/List", {"coinbase": b32(OTHER), "limit": 10})])
    assert rewards == {"rewards": []}
