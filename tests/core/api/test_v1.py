"""The spacemesh.v1 servicers over the node backend (core.api.servicers_v1): live calls through the
generated stubs on a loopback port, against the `mesh` fixture's stopped network (conftest.py).

Expected values come from the fixture's notes (layers, amounts, who sent what), from the spec's numbers
(gas of a wallet self-spawn and spend, spec/wallet.md §3.5; the standalone PoST parameters, spec/post.md
§1.6) and from the store or the node read directly, never from the servicers' own helpers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2

from core.api.backend import NodeBackend, SmesherState
from core.api.gen.spacemesh.v1 import (
    activation_pb2_grpc,
    global_state_pb2,
    global_state_pb2_grpc,
    mesh_pb2,
    mesh_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    smesher_pb2,
    smesher_pb2_grpc,
    tx_pb2,
    tx_pb2_grpc,
    types_pb2,
)
from core.api.servicers_v1 import (
    MeshServicer,
    SmesherServicer,
    add_private,
    add_public,
    layer_status,
    paginate,
    receipt_result,
)
from core.crypto.hashing import golden_atx, hash32
from core.crypto.signing import public_key_of
from core.mesh.queries import LayerRow
from core.mesh.store import MeshStore
from core.node.simulation import GENESIS_TIME, Simulation
from core.post import labels
from core.post import metadata as md
from core.tx.build import spend, wallet_spawn
from core.tx.signing import sign_single
from core.tx.templates import wallet_principal
from core.vm.vm import TxStatus
from core.wallet.address import encode_address
from tests.core.api.conftest import AMOUNT, CONFIG, END, FUNDS, GENESIS_LAYER, OTHER, RECIPIENT, WALLET, WALLET_KEY

T = 10  # per-call timeout, seconds
VERSION = "v9.9.9-v1test"
HRP = "standalone"  # the simulation config keeps the standalone preset's HRP
SPAWN_GAS = 100_432  # wallet self-spawn, 148 bytes (spec/wallet.md §3.5)
SPEND_GAS = 36_090  # wallet spend with an amount of 1..4 compact bytes, 117..120 bytes (spec/wallet.md §3.5)
GAS_PRICE = 1  # core.tx.build's default
PENDING_AMOUNT = 5  # the fixture's pending transfer
WALLET_TEMPLATE = bytes(23) + b"\x01"  # template addresses: 23 zero bytes and the template number
Layer = types_pb2.Layer
State = tx_pb2.TransactionState
Setup = smesher_pb2.PostSetupStatus


def addr(address: bytes) -> str:
    return encode_address(address, HRP)


def account_id(address: bytes) -> types_pb2.AccountId:
    return types_pb2.AccountId(address=addr(address))


@pytest.fixture(scope="module")
def backend(mesh) -> NodeBackend:
    """The API's view of the fixture's node n0 (synced, its mempool holding the pending transfer)."""
    return NodeBackend(CONFIG, mesh.node.store, version=VERSION, node=mesh.node)


@pytest.fixture(scope="module")
def storeonly(mesh) -> NodeBackend:
    """The same store without a node: not synced, and with its own event hub to publish to."""
    return NodeBackend(CONFIG, mesh.node.store, version=VERSION, clock=mesh.node.clock)


async def serving(  # noqa: ANN001 - check and extra are callables
    check, public: NodeBackend | None = None, private: NodeBackend | None = None, extra=None
) -> None:
    """Serve add_public(public)/add_private(private) (and `extra(server)`) on a loopback port, run
    `check(channel)`, stop."""
    server = grpc.aio.server()
    if public is not None:
        add_public(server, public)
    if private is not None:
        add_private(server, private)
    if extra is not None:
        extra(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await check(channel)
    finally:
        await server.stop(1.0)  # a grace: streams a check cancelled wind down rather than being killed


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    """The error a unary call (an awaitable) or a stream (an async iterator) ends with."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        if hasattr(call, "read"):
            while await call.read() is not grpc.aio.EOF:
                pass
        else:
            await call
    return err.value


def signed(tx, key: bytes = WALLET_KEY) -> bytes:  # noqa: ANN001
    return sign_single(tx, key, CONFIG.genesis_id).raw()


# ------------------------------------------------------------------------------------------------
# pure helpers


def test_layer_status_picks_the_strongest():
    def row(applied=None, hare=None, certified=False):  # noqa: ANN001, ANN202
        return LayerRow(30, applied, None, None, hare, certified)

    verified = 25
    assert layer_status(30, None, verified) == Layer.LAYER_STATUS_UNSPECIFIED
    assert layer_status(30, row(hare=b"\x01" * 20), verified) == Layer.LAYER_STATUS_APPROVED
    assert layer_status(30, row(certified=True), verified) == Layer.LAYER_STATUS_APPROVED
    assert layer_status(24, row(hare=b"\x01" * 20), verified) == Layer.LAYER_STATUS_CONFIRMED
    assert layer_status(25, None, verified) == Layer.LAYER_STATUS_CONFIRMED
    assert layer_status(30, row(applied=bytes(20), hare=b"\x01" * 20), verified) == Layer.LAYER_STATUS_APPLIED
    assert layer_status(20, row(applied=b"\x02" * 20), verified) == Layer.LAYER_STATUS_APPLIED


def test_paginate_lays_segments_end_to_end():
    calls: list[tuple[str, int, int]] = []

    def segment(name: str, n: int):  # noqa: ANN202
        def fetch(offset: int, limit: int) -> list[str]:
            calls.append((name, offset, limit))
            return [f"{name}{i}" for i in range(offset, min(n, offset + limit))]

        return n, fetch

    segments = [segment("a", 3), segment("b", 0), segment("c", 4)]
    assert paginate(segments, 0, None) == ["a0", "a1", "a2", "c0", "c1", "c2", "c3"]
    calls.clear()
    assert paginate(segments, 2, 3) == ["a2", "c0", "c1"]
    assert calls == [("a", 2, 1), ("c", 0, 2)]  # only the rows needed are read
    assert paginate(segments, 6, 5) == ["c3"]
    assert paginate(segments, 7, 5) == []
    assert paginate(segments, 100, None) == []


def test_receipt_results():
    r = global_state_pb2.TransactionReceipt
    assert receipt_result(TxStatus.SUCCESS, "") == r.TRANSACTION_RESULT_EXECUTED
    assert receipt_result(TxStatus.FAILURE, "insufficient balance: 3 smidge, spend asks 9") == (
        r.TRANSACTION_RESULT_INSUFFICIENT_FUNDS
    )
    assert receipt_result(TxStatus.FAILURE, "account already spawned") == r.TRANSACTION_RESULT_RUNTIME_EXCEPTION
    assert receipt_result(TxStatus.INVALID, "nonce 1 is below the account's next nonce 2") == (
        r.TRANSACTION_RESULT_BAD_COUNTER
    )
    assert receipt_result(TxStatus.INVALID, "signature does not verify") == r.TRANSACTION_RESULT_UNSPECIFIED


# ------------------------------------------------------------------------------------------------
# registration, NodeService


def test_add_public_and_private_return_the_service_names(storeonly):
    async def register() -> tuple[list[str], list[str]]:
        server = grpc.aio.server()
        try:
            return add_public(server, storeonly), add_private(server, storeonly)
        finally:
            await server.stop(None)

    public, private = asyncio.run(register())
    assert public == [
        "spacemesh.v1.NodeService",
        "spacemesh.v1.MeshService",
        "spacemesh.v1.GlobalStateService",
        "spacemesh.v1.TransactionService",
        "spacemesh.v1.ActivationService",
    ]
    assert private == ["spacemesh.v1.SmesherService"]


def test_node_status_info_echo_version(backend, storeonly, mesh):
    async def check(channel):
        node = node_pb2_grpc.NodeServiceStub(channel)
        status = (await node.Status(node_pb2.StatusRequest(), timeout=T)).status
        assert status.is_synced and status.connected_peers == 1  # the fixture runs two nodes on one bus
        assert status.top_layer.number == END  # the clock stands at the start of layer 20
        assert status.synced_layer.number == END - 1  # the current layer has no hare output yet
        assert status.verified_layer.number == mesh.node.tortoise.verified == END - 2
        info = await node.NodeInfo(empty_pb2.Empty(), timeout=T)
        assert (info.hrp, info.first_genesis, info.effective_genesis, info.epoch_size) == (HRP, 7, 7, 4)
        assert (await node.Version(empty_pb2.Empty(), timeout=T)).version_string.value == VERSION
        echo = await node.Echo(node_pb2.EchoRequest(msg=types_pb2.SimpleString(value="ping")), timeout=T)
        assert echo.msg.value == "ping"

    asyncio.run(serving(check, backend))

    async def check_store_only(channel):
        status = (await node_pb2_grpc.NodeServiceStub(channel).Status(node_pb2.StatusRequest(), timeout=T)).status
        assert not status.is_synced and status.connected_peers == 0
        assert status.synced_layer.number == END - 1  # the store's last applied layer

    asyncio.run(serving(check_store_only, storeonly))


# ------------------------------------------------------------------------------------------------
# MeshService


def test_layers_query(backend, mesh):
    store = mesh.node.store

    async def check(channel):
        stub = mesh_pb2_grpc.MeshServiceStub(channel)
        assert (await stub.CurrentLayer(mesh_pb2.CurrentLayerRequest(), timeout=T)).layernum.number == END
        request = mesh_pb2.LayersQueryRequest(
            start_layer=types_pb2.LayerNumber(number=GENESIS_LAYER - 1), end_layer=types_pb2.LayerNumber(number=END)
        )
        layers = (await stub.LayersQuery(request, timeout=T)).layer
        assert [layer.number.number for layer in layers] == list(range(6, 21))
        by_number = {layer.number.number: layer for layer in layers}
        # before genesis: below the verified layer, nothing stored
        assert by_number[6].status == Layer.LAYER_STATUS_CONFIRMED and not by_number[6].blocks
        for n in range(7, 20):  # the effective genesis (empty) and every layer since are applied
            layer = by_number[n]
            applied, state_hash, aggregated = store.layer_hashes(n)
            assert layer.status == Layer.LAYER_STATUS_APPLIED
            assert layer.root_state_hash == state_hash and len(state_hash) == 32
            assert layer.hash == aggregated
            if n == GENESIS_LAYER:
                assert not layer.blocks
            else:
                assert [b.id for b in layer.blocks] == [mesh.node.applied[n]]
        current = by_number[END]  # no hare output yet, above the verified layer
        assert current.status == Layer.LAYER_STATUS_UNSPECIFIED
        assert not current.blocks and current.hash == b"" and current.root_state_hash == b""

        txs = {n: [t.id for b in by_number[n].blocks for t in b.transactions] for n in range(8, 20)}
        assert txs[10] == [mesh.spawn] and txs[13] == [mesh.transfer]
        assert all(not ids for n, ids in txs.items() if n not in (10, 13))
        spawn = by_number[10].blocks[0].transactions[0]
        assert spawn.principal.address == addr(WALLET) and spawn.template.address == addr(WALLET_TEMPLATE)
        assert (spawn.method, spawn.nonce.counter, spawn.max_gas, spawn.gas_price, spawn.max_spend) == (
            0, 0, SPAWN_GAS, GAS_PRICE, 0,
        )  # fmt: skip
        assert hash32(spawn.raw) == mesh.spawn
        transfer = by_number[13].blocks[0].transactions[0]
        assert transfer.template.address == addr(WALLET_TEMPLATE)  # from the principal's account
        assert (transfer.method, transfer.nonce.counter, transfer.max_gas, transfer.max_spend) == (
            16, 1, SPEND_GAS, AMOUNT,
        )  # fmt: skip

        one = await stub.LayersQuery(
            mesh_pb2.LayersQueryRequest(
                start_layer=types_pb2.LayerNumber(number=13), end_layer=types_pb2.LayerNumber(number=13)
            ),
            timeout=T,
        )
        assert [layer.number.number for layer in one.layer] == [13]

    asyncio.run(serving(check, backend))


def test_layers_query_rejects_bad_ranges(backend):
    def query(start: int, end: int) -> mesh_pb2.LayersQueryRequest:
        return mesh_pb2.LayersQueryRequest(
            start_layer=types_pb2.LayerNumber(number=start), end_layer=types_pb2.LayerNumber(number=end)
        )

    async def check(channel):
        stub = mesh_pb2_grpc.MeshServiceStub(channel)
        for start, end, words in ((15, 12, "before start_layer"), (18, 21, "after the current layer 20"),
                                  (25, 30, "after the current layer")):  # fmt: skip
            err = await rpc_error(stub.LayersQuery(query(start, end), timeout=T))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.details()

    asyncio.run(serving(check, backend))

    async def check_cap(channel):
        stub = mesh_pb2_grpc.MeshServiceStub(channel)
        assert len((await stub.LayersQuery(query(10, 14), timeout=T)).layer) == 5
        err = await rpc_error(stub.LayersQuery(query(10, 15), timeout=T))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 5 layers" in err.details()

    def capped(server):  # noqa: ANN001
        mesh_pb2_grpc.add_MeshServiceServicer_to_server(MeshServicer(backend, max_layers=5), server)

    asyncio.run(serving(check_cap, extra=capped))


def test_layer_stream_sends_each_applied_layer(storeonly, mesh):
    async def check(channel):
        stream = mesh_pb2_grpc.MeshServiceStub(channel).LayerStream(mesh_pb2.LayerStreamRequest(), timeout=T)
        await stream.wait_for_connection()  # the headers come once the stream has subscribed
        assert storeonly.events.subscribers == 1
        storeonly.events.publish("hare_output", {"layer": 12, "block": "00", "rewards": 0})  # not a layer applied
        storeonly.events.publish("applied", {"layer": 13, "block": mesh.node.applied[13].hex(), "state_hash": "",
                                             "txs": 1, "rewards": 0})  # fmt: skip
        storeonly.events.publish("applied", {"layer": 14, "block": mesh.node.applied[14].hex(), "state_hash": "",
                                             "txs": 0, "rewards": 0})  # fmt: skip
        first = (await stream.read()).layer
        assert first.number.number == 13 and first.status == Layer.LAYER_STATUS_APPLIED
        assert [t.id for b in first.blocks for t in b.transactions] == [mesh.transfer]
        assert first.root_state_hash == mesh.node.store.layer_hashes(13)[1]
        second = (await stream.read()).layer
        assert second.number.number == 14 and [b.id for b in second.blocks] == [mesh.node.applied[14]]
        stream.cancel()

    asyncio.run(serving(check, storeonly))
    assert storeonly.events.subscribers == 0  # the cancelled stream let go of its subscription


def test_streams_that_fall_behind_end_with_resource_exhausted(mesh):
    lagging = NodeBackend(CONFIG, mesh.node.store, version=VERSION, clock=mesh.node.clock)
    lagging.events.max_queue = 2

    async def check(channel):
        stream = mesh_pb2_grpc.MeshServiceStub(channel).LayerStream(mesh_pb2.LayerStreamRequest(), timeout=T)
        results = tx_pb2_grpc.TransactionServiceStub(channel).StreamResults(
            tx_pb2.TransactionResultsRequest(start=END, watch=True), timeout=T  # no history from layer 20 on
        )
        await stream.wait_for_connection()  # the headers come once the stream has subscribed
        await results.wait_for_connection()
        assert lagging.events.subscribers == 2
        for layer in range(10, 16):  # all at once: each stream has room for two
            lagging.events.publish("applied", {"layer": layer})
        got = [(await stream.read()).layer.number.number for _ in range(2)]
        assert got == [10, 11]
        for call in (stream, results):
            err = await rpc_error(call)
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "fell too far behind" in err.details()

    asyncio.run(serving(check, lagging))


# ------------------------------------------------------------------------------------------------
# GlobalStateService


def test_account_current_and_projected(backend, mesh):
    store = mesh.node.store
    spawn_fee, transfer_fee = store.transaction_result(mesh.spawn)[3], store.transaction_result(mesh.transfer)[3]
    assert (spawn_fee, transfer_fee) == (SPAWN_GAS * GAS_PRICE, SPEND_GAS * GAS_PRICE)
    balance = FUNDS - AMOUNT - spawn_fee - transfer_fee

    async def check(channel):
        stub = global_state_pb2_grpc.GlobalStateServiceStub(channel)

        async def account(address: bytes) -> global_state_pb2.Account:
            request = global_state_pb2.AccountRequest(account_id=account_id(address))
            return (await stub.Account(request, timeout=T)).account_wrapper

        wallet = await account(WALLET)
        assert wallet.account_id.address == addr(WALLET)
        assert (wallet.state_current.counter, wallet.state_current.balance.value) == (2, balance)
        # the pending transfer (nonce 2) is projected: its amount and its fee
        projected = (wallet.state_projected.counter, wallet.state_projected.balance.value)
        assert projected == (3, balance - PENDING_AMOUNT - SPEND_GAS * GAS_PRICE)
        recipient = await account(RECIPIENT)  # the pending transfer's amount is not projected onto the recipient
        assert (recipient.state_current.counter, recipient.state_current.balance.value) == (0, AMOUNT)
        assert (recipient.state_projected.counter, recipient.state_projected.balance.value) == (0, AMOUNT)
        unknown = await account(OTHER)
        assert unknown.account_id.address == addr(OTHER)
        assert (unknown.state_current.counter, unknown.state_current.balance.value) == (0, 0)
        assert (unknown.state_projected.counter, unknown.state_projected.balance.value) == (0, 0)

        for bad in ("standalone1qqqqq", encode_address(WALLET, "sm"), addr(WALLET)[:-1] + "x", ""):
            err = await rpc_error(
                stub.Account(global_state_pb2.AccountRequest(account_id=types_pb2.AccountId(address=bad)), timeout=T)
            )
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        err = await rpc_error(stub.Account(global_state_pb2.AccountRequest(), timeout=T))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        wrong_net = await rpc_error(
            stub.Account(global_state_pb2.AccountRequest(account_id=types_pb2.AccountId(
                address=encode_address(WALLET, "sm"))), timeout=T)
        )  # fmt: skip
        assert "expected 'standalone'" in wrong_net.details()

    asyncio.run(serving(check, backend))


def test_account_data_query(backend, mesh):
    coinbase = mesh.coinbases["n0"]
    rewards = mesh.node.store.rewards_of(coinbase)  # (layer, total, layer reward), oldest first
    assert rewards

    def query(address: bytes, flags: int, offset: int = 0, max_results: int = 0):  # noqa: ANN202
        return global_state_pb2.AccountDataQueryRequest(
            filter=global_state_pb2.AccountDataFilter(account_id=account_id(address), account_data_flags=flags),
            offset=offset, max_results=max_results,
        )  # fmt: skip

    async def check(channel):
        stub = global_state_pb2_grpc.GlobalStateServiceStub(channel)
        wallet = await stub.AccountDataQuery(query(WALLET, 1 | 2 | 4), timeout=T)
        assert wallet.total_results == 3  # two receipts, no rewards, the account
        spawn, transfer, account = wallet.account_item
        assert spawn.receipt.id.id == mesh.spawn and transfer.receipt.id.id == mesh.transfer
        r = spawn.receipt
        assert (r.result, r.gas_used, r.fee.value, r.layer.number, r.index) == (
            global_state_pb2.TransactionReceipt.TRANSACTION_RESULT_EXECUTED, SPAWN_GAS, SPAWN_GAS * GAS_PRICE, 10, 0,
        )  # fmt: skip
        assert (transfer.receipt.layer.number, transfer.receipt.fee.value) == (13, SPEND_GAS * GAS_PRICE)
        assert account.account_wrapper.account_id.address == addr(WALLET)
        assert account.account_wrapper.state_current.counter == 2

        touched = await stub.AccountDataQuery(query(RECIPIENT, 1), timeout=T)  # receipts of what touched it
        assert [i.receipt.id.id for i in touched.account_item] == [mesh.transfer] and touched.total_results == 1

        earned = await stub.AccountDataQuery(query(coinbase, 2), timeout=T)
        assert earned.total_results == len(rewards)
        got = [(i.reward.layer.number, i.reward.total.value, i.reward.layer_reward.value) for i in earned.account_item]
        assert got == [tuple(r) for r in rewards]
        first = earned.account_item[0].reward
        assert first.coinbase.address == addr(coinbase) and first.smesher.id == mesh.node.node_id

        page = await stub.AccountDataQuery(query(coinbase, 2 | 4, offset=len(rewards) - 1, max_results=5), timeout=T)
        assert page.total_results == len(rewards) + 1
        assert [i.WhichOneof("datum") for i in page.account_item] == ["reward", "account_wrapper"]
        assert page.account_item[0].reward.layer.number == rewards[-1][0]
        capped = await stub.AccountDataQuery(query(coinbase, 2, offset=1, max_results=2), timeout=T)
        assert [i.reward.layer.number for i in capped.account_item] == [rewards[1][0], rewards[2][0]]
        beyond = await stub.AccountDataQuery(query(coinbase, 2, offset=1000), timeout=T)
        assert beyond.total_results == len(rewards) and not beyond.account_item

        nothing = await stub.AccountDataQuery(query(OTHER, 1 | 2), timeout=T)
        assert nothing.total_results == 0 and not nothing.account_item

        no_account = global_state_pb2.AccountDataFilter(account_data_flags=7)
        other_network = global_state_pb2.AccountDataFilter(
            account_id=types_pb2.AccountId(address=encode_address(WALLET, "sm")), account_data_flags=7
        )
        for bad in (
            query(WALLET, 0),  # no flag
            query(WALLET, 8),  # no known flag
            global_state_pb2.AccountDataQueryRequest(),
            global_state_pb2.AccountDataQueryRequest(filter=no_account),
            global_state_pb2.AccountDataQueryRequest(filter=other_network),
        ):
            err = await rpc_error(stub.AccountDataQuery(bad, timeout=T))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    asyncio.run(serving(check, backend))


# ------------------------------------------------------------------------------------------------
# TransactionService


def test_submit_transaction_errors_and_a_known_transaction(backend, storeonly, mesh):
    pending_raw = mesh.node.store.transaction_blob(mesh.pending)
    stale = signed(spend(WALLET, RECIPIENT, 1, 0))  # nonce 0: the account's next nonce is 2

    async def check(channel):
        stub = tx_pb2_grpc.TransactionServiceStub(channel)
        known = await stub.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=pending_raw), timeout=T)
        assert known.status.code == 0
        assert (known.txstate.id.id, known.txstate.state) == (mesh.pending, State.TRANSACTION_STATE_MEMPOOL)

        err = await rpc_error(stub.SubmitTransaction(tx_pb2.SubmitTransactionRequest(), timeout=T))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        err = await rpc_error(stub.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=stale), timeout=T))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("Failed to verify transaction: ") and "nonce" in err.details()
        err = await rpc_error(
            stub.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=b"\x00\x01\x02"), timeout=T)
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("Failed to verify transaction: malformed")

    asyncio.run(serving(check, backend))
    assert len(mesh.node.mempool) == 1  # nothing was admitted

    async def check_not_synced(channel):
        request = tx_pb2.SubmitTransactionRequest(transaction=pending_raw)
        err = await rpc_error(tx_pb2_grpc.TransactionServiceStub(channel).SubmitTransaction(request, timeout=T))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "not in sync" in err.details()

    asyncio.run(serving(check_not_synced, storeonly))


def test_parse_transaction(backend, mesh):
    store = mesh.node.store
    spawn_raw, transfer_raw = store.transaction_blob(mesh.spawn), store.transaction_blob(mesh.transfer)
    forged = transfer_raw[:-1] + bytes([transfer_raw[-1] ^ 1])  # one signature bit flipped
    stranger_key = bytes(range(40, 72))
    unspawned = signed(spend(wallet_principal(public_key_of(stranger_key)), RECIPIENT, 1, 0), stranger_key)

    async def check(channel):
        stub = tx_pb2_grpc.TransactionServiceStub(channel)

        async def parse(raw: bytes, verify: bool = False) -> types_pb2.Transaction:
            request = tx_pb2.ParseTransactionRequest(transaction=raw, verify=verify)
            return (await stub.ParseTransaction(request, timeout=T)).tx

        tx = await parse(spawn_raw, verify=True)  # a self-spawn: the template is in the transaction
        assert (tx.id, tx.raw, tx.principal.address, tx.template.address) == (
            mesh.spawn, spawn_raw, addr(WALLET), addr(WALLET_TEMPLATE),
        )  # fmt: skip
        assert (tx.method, tx.nonce.counter, tx.max_gas, tx.gas_price, tx.max_spend) == (0, 0, SPAWN_GAS, 1, 0)
        tx = await parse(transfer_raw, verify=True)  # a spend: the template is the principal's
        assert (tx.id, tx.template.address, tx.method, tx.nonce.counter) == (
            mesh.transfer, addr(WALLET_TEMPLATE), 16, 1,
        )  # fmt: skip
        assert (tx.max_gas, tx.gas_price, tx.max_spend) == (SPEND_GAS, 1, AMOUNT)

        assert (await parse(forged)).id == hash32(forged)  # without verify a bad signature parses
        err = await rpc_error(stub.ParseTransaction(tx_pb2.ParseTransactionRequest(transaction=forged, verify=True),
                                                    timeout=T))  # fmt: skip
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details() == "signature is invalid"
        err = await rpc_error(stub.ParseTransaction(tx_pb2.ParseTransactionRequest(transaction=unspawned), timeout=T))
        assert err.code() == grpc.StatusCode.NOT_FOUND and err.details() == "account is not spawned"
        for junk in (b"", b"\x00\x01\x02", transfer_raw + b"\x00", b"\x01" + transfer_raw[1:]):
            err = await rpc_error(stub.ParseTransaction(tx_pb2.ParseTransactionRequest(transaction=junk), timeout=T))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, junk[:4]

    asyncio.run(serving(check, backend))


def test_transactions_state(backend, mesh):
    unknown = b"\x77" * 32

    async def check(channel):
        stub = tx_pb2_grpc.TransactionServiceStub(channel)
        ids = [mesh.spawn, mesh.transfer, mesh.pending, unknown]
        request = tx_pb2.TransactionsStateRequest(transaction_id=[types_pb2.TransactionId(id=i) for i in ids])
        states = await stub.TransactionsState(request, timeout=T)
        assert [(s.id.id, s.state) for s in states.transactions_state] == [
            (mesh.spawn, State.TRANSACTION_STATE_PROCESSED),
            (mesh.transfer, State.TRANSACTION_STATE_PROCESSED),
            (mesh.pending, State.TRANSACTION_STATE_MEMPOOL),
            (unknown, State.TRANSACTION_STATE_UNSPECIFIED),
        ]
        assert not states.transactions
        request.include_transactions = True
        txs = (await stub.TransactionsState(request, timeout=T)).transactions
        assert [t.id for t in txs] == [mesh.spawn, mesh.transfer, mesh.pending, b""]  # aligned with the states
        assert txs[2].nonce.counter == 2 and txs[2].max_spend == PENDING_AMOUNT
        assert all(hash32(t.raw) == t.id for t in txs[:3]) and txs[3] == types_pb2.Transaction()
        err = await rpc_error(stub.TransactionsState(tx_pb2.TransactionsStateRequest(), timeout=T))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    asyncio.run(serving(check, backend))


def test_stream_results_history_and_filters(backend, mesh):
    async def check(channel):
        stub = tx_pb2_grpc.TransactionServiceStub(channel)

        async def results(**fields) -> list[tx_pb2.TransactionResult]:  # noqa: ANN003
            return [r async for r in stub.StreamResults(tx_pb2.TransactionResultsRequest(**fields), timeout=T)]

        everything = await results()
        assert [r.tx.id for r in everything] == [mesh.spawn, mesh.transfer]  # the pending one has no result
        spawn, transfer = everything
        assert (spawn.status, spawn.layer, spawn.fee, spawn.gas_consumed) == (
            tx_pb2.TransactionResult.SUCCESS, 10, SPAWN_GAS * GAS_PRICE, SPAWN_GAS,
        )  # fmt: skip
        assert spawn.block == mesh.node.applied[10] and spawn.touched_addresses == [addr(WALLET)]
        assert (transfer.status, transfer.message, transfer.layer, transfer.fee, transfer.gas_consumed) == (
            tx_pb2.TransactionResult.SUCCESS, "", 13, SPEND_GAS * GAS_PRICE, SPEND_GAS,
        )  # fmt: skip
        assert transfer.block == mesh.node.applied[13]
        assert transfer.touched_addresses == [addr(WALLET), addr(RECIPIENT)]
        assert transfer.tx.principal.address == addr(WALLET) and transfer.tx.max_spend == AMOUNT

        def ids(rs: list[tx_pb2.TransactionResult]) -> list[bytes]:
            return [r.tx.id for r in rs]

        assert ids(await results(id=mesh.transfer)) == [mesh.transfer]
        assert ids(await results(id=mesh.pending)) == []
        assert ids(await results(address=addr(RECIPIENT))) == [mesh.transfer]
        assert ids(await results(address=addr(WALLET))) == [mesh.spawn, mesh.transfer]
        assert ids(await results(address=addr(OTHER))) == []
        assert ids(await results(start=11)) == [mesh.transfer]
        assert ids(await results(end=12)) == [mesh.spawn]
        assert ids(await results(start=10, end=10)) == [mesh.spawn]
        assert ids(await results(start=14)) == []

        for bad in ({"watch": True, "end": 15}, {"address": encode_address(WALLET, "sm")}, {"start": 12, "end": 11}):
            err = await rpc_error(stub.StreamResults(tx_pb2.TransactionResultsRequest(**bad), timeout=T))
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, bad

    asyncio.run(serving(check, backend))


def test_stream_results_watch_sends_new_and_reapplied_layers_once(storeonly, mesh):
    async def check(channel):
        request = tx_pb2.TransactionResultsRequest(address=addr(WALLET), watch=True)
        stream = tx_pb2_grpc.TransactionServiceStub(channel).StreamResults(request, timeout=T)
        history = [(await stream.read()).tx.id for _ in range(2)]
        assert history == [mesh.spawn, mesh.transfer]
        assert storeonly.events.subscribers == 1
        publish = storeonly.events.publish
        publish("applied", {"layer": 10})  # in the history already: not again
        publish("applied", {"layer": 13})
        publish("reverted", {"to_layer": 9, "layers": 10})  # 10..19 undone ...
        publish("applied", {"layer": 10})  # ... and applied anew: sent again, each once
        publish("applied", {"layer": 11})
        publish("applied", {"layer": 13})
        publish("applied", {"layer": 13})  # a repeat: not again
        publish("reverted", {"to_layer": 9, "layers": 4})  # a marker: the next result is the spawn's
        publish("applied", {"layer": 10})
        live = [await stream.read() for _ in range(3)]
        assert [(r.tx.id, r.layer) for r in live] == [(mesh.spawn, 10), (mesh.transfer, 13), (mesh.spawn, 10)]
        stream.cancel()

    asyncio.run(serving(check, storeonly))
    assert storeonly.events.subscribers == 0


def test_live_network_submit_watch_and_layer_stream(tmp_path):
    """A network of our own, running: a transaction submitted through the API shows up in a watched
    StreamResults and in LayerStream's layers as the network applies it."""
    gid = CONFIG.genesis_id
    spawn_raw = sign_single(wallet_spawn(public_key_of(WALLET_KEY)), WALLET_KEY, gid).raw()
    spawn_id = hash32(spawn_raw)

    async def scenario():
        sim = Simulation(tmp_path, CONFIG, seed=b"api-v1-live")
        try:
            sim.add_node("n0", 1)
            sim.add_node("n1", 2)
            await sim.run_until_layer(9, 5)
            live = NodeBackend(CONFIG, sim.nodes["n0"].store, version=VERSION, node=sim.nodes["n0"])

            async def check(channel):
                txs = tx_pb2_grpc.TransactionServiceStub(channel)
                results = txs.StreamResults(tx_pb2.TransactionResultsRequest(address=addr(WALLET), watch=True))
                layers = mesh_pb2_grpc.MeshServiceStub(channel).LayerStream(mesh_pb2.LayerStreamRequest())
                await results.wait_for_connection()
                await layers.wait_for_connection()
                reply = await txs.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=spawn_raw), timeout=T)
                assert reply.status.code == 0
                assert (reply.txstate.id.id, reply.txstate.state) == (spawn_id, State.TRANSACTION_STATE_MEMPOOL)
                gs = global_state_pb2_grpc.GlobalStateServiceStub(channel)
                wrapper = (await gs.Account(global_state_pb2.AccountRequest(account_id=account_id(WALLET)),
                                            timeout=T)).account_wrapper  # fmt: skip
                assert (wrapper.state_current.counter, wrapper.state_projected.counter) == (0, 1)
                assert wrapper.state_projected.balance.value == FUNDS - SPAWN_GAS * GAS_PRICE

                await sim.run_until_layer(13)
                result = await asyncio.wait_for(results.read(), T)
                assert result.tx.id == spawn_id and result.status == tx_pb2.TransactionResult.SUCCESS
                assert result.fee == SPAWN_GAS * GAS_PRICE and result.touched_addresses == [addr(WALLET)]
                seen = []
                while not seen or seen[-1].number.number < result.layer:
                    seen.append((await asyncio.wait_for(layers.read(), T)).layer)
                numbers = [layer.number.number for layer in seen]
                assert numbers == list(range(numbers[0], result.layer + 1))  # every applied layer, in order
                assert all(layer.status == Layer.LAYER_STATUS_APPLIED for layer in seen)
                assert [t.id for b in seen[-1].blocks for t in b.transactions] == [spawn_id]
                results.cancel()
                layers.cancel()

            await serving(check, live)
        finally:
            await sim.stop()
            sim.close()

    asyncio.run(scenario())


# ------------------------------------------------------------------------------------------------
# ActivationService


def test_highest_atx(backend, mesh, tmp_path):
    atxs = backend.queries.atxs()
    top = max(a.height for a in atxs)
    expected = min((a for a in atxs if a.height == top), key=lambda a: a.id)
    assert expected.publish_epoch == 5 and top == 500  # the fixture's last epoch: five PoET rounds of 100 ticks
    previous = backend.queries.atxs(smesher_ids=[expected.smesher], start_epoch=4, end_epoch=4)

    async def check(channel):
        atx = (await activation_pb2_grpc.ActivationServiceStub(channel).Highest(empty_pb2.Empty(), timeout=T)).atx
        assert atx.id.id == expected.id and atx.smesher_id.id == expected.smesher
        assert atx.layer.number == 5 * 4  # the first layer of the publish epoch
        assert atx.coinbase.address == addr(expected.coinbase)
        assert (atx.num_units, atx.sequence) == (expected.num_units, 4)
        assert atx.prev_atx.id == previous[0].id

    asyncio.run(serving(check, backend))

    empty = MeshStore(tmp_path / "empty.sql")
    try:
        fresh = NodeBackend(CONFIG, empty, version=VERSION, clock=mesh.node.clock)

        async def check_golden(channel):
            atx = (await activation_pb2_grpc.ActivationServiceStub(channel).Highest(empty_pb2.Empty(), timeout=T)).atx
            assert atx == types_pb2.Activation(
                id=types_pb2.ActivationId(id=golden_atx(GENESIS_TIME, "simulation"))
            )  # no ATX yet: the golden ATX, as go-spacemesh answers

        asyncio.run(serving(check_golden, fresh))
    finally:
        empty.close()


# ------------------------------------------------------------------------------------------------
# SmesherService

NODE_ID = bytes(range(100, 132))
LABELS_PER_UNIT = 64  # the standalone preset's (spec/post.md §1.6)
UNITS = 2
FILE_SIZE = 1024  # 64 labels of 16 bytes: two files for two units


def write_post(datadir: Path, *, file_bytes: tuple[int, ...], nonce: int | None) -> None:
    """PoST metadata and data files of the given sizes (label contents do not matter to the status)."""
    datadir.mkdir(parents=True, exist_ok=True)
    md.save(datadir, md.PostMetadata(NODE_ID, b"\x05" * 32, LABELS_PER_UNIT, UNITS, FILE_SIZE, nonce=nonce))
    for k, size in enumerate(file_bytes):
        (datadir / f"postdata_{k}.bin").write_bytes(b"\xab" * size)


def smesher_backend(mesh, state: dict) -> NodeBackend:  # noqa: ANN001
    """A backend whose smesher reports `SmesherState(**state)` as `state` is at each call."""
    return NodeBackend(
        CONFIG, mesh.node.store, version=VERSION, clock=mesh.node.clock, smesher=lambda: SmesherState(**state)
    )


def test_smesher_service(mesh, tmp_path):
    datadir = tmp_path / "post"
    state = {
        "node_id": NODE_ID, "coinbase": RECIPIENT, "smeshing": True, "post_dir": datadir, "num_units": UNITS,
        "max_file_size": FILE_SIZE, "provider": None, "phase": "initializing",
    }  # fmt: skip
    backend = smesher_backend(mesh, state)

    async def check(channel):
        stub = smesher_pb2_grpc.SmesherServiceStub(channel)

        async def status() -> smesher_pb2.PostSetupStatus:
            return (await stub.PostSetupStatus(empty_pb2.Empty(), timeout=T)).status

        assert (await stub.IsSmeshing(empty_pb2.Empty(), timeout=T)).is_smeshing
        assert list((await stub.SmesherIDs(empty_pb2.Empty(), timeout=T)).public_keys) == [NODE_ID]
        assert (await stub.Coinbase(empty_pb2.Empty(), timeout=T)).account_id.address == addr(RECIPIENT)

        s = await status()  # no data directory yet
        assert (s.state, s.num_labels_written) == (Setup.STATE_NOT_STARTED, 0)
        assert (s.opts.data_dir, s.opts.num_units, s.opts.max_file_size) == (str(datadir), UNITS, FILE_SIZE)
        assert s.opts.HasField("provider_id") and s.opts.provider_id == 4294967295  # the CPU (postcli's id)

        write_post(datadir, file_bytes=(1024, 160), nonce=None)  # file 0 whole, 10 labels of file 1
        s = await status()
        assert (s.state, s.num_labels_written) == (Setup.STATE_IN_PROGRESS, 64 + 10)
        state["smeshing"] = False
        assert (await status()).state == Setup.STATE_PAUSED
        assert not (await stub.IsSmeshing(empty_pb2.Empty(), timeout=T)).is_smeshing

        write_post(datadir, file_bytes=(1024, 1024), nonce=None)  # all labels, no VRF nonce yet
        s = await status()
        assert (s.state, s.num_labels_written) == (Setup.STATE_PAUSED, 128)
        write_post(datadir, file_bytes=(1024, 1024), nonce=17)
        state["smeshing"], state["phase"], state["provider"] = True, "waiting-for-round", 0
        s = await status()
        assert (s.state, s.num_labels_written, s.opts.provider_id) == (Setup.STATE_COMPLETE, 128, 0)

        state["error"] = "PoET unreachable"  # not a PoST setup error
        assert (await status()).state == Setup.STATE_COMPLETE
        state["phase"], state["error"] = "initializing", "disk full"
        assert (await status()).state == Setup.STATE_ERROR
        state["phase"], state["error"] = "idle", None
        md.metadata_path(datadir).write_text("{not json")
        assert (await status()).state == Setup.STATE_ERROR
        state["post_dir"] = None  # simulated PoST
        assert (await status()).state == Setup.STATE_NOT_STARTED

        config = await stub.PostConfig(empty_pb2.Empty(), timeout=T)
        assert (config.bits_per_label, config.labels_per_unit, config.k1, config.k2) == (128, 64, 12, 4)
        assert (config.min_num_units, config.max_num_units) == (1, 8)  # the simulation config's range

    asyncio.run(serving(check, private=backend))


def test_post_setup_status_stream_ticks_until_cancelled(mesh, tmp_path):
    datadir = tmp_path / "post"
    write_post(datadir, file_bytes=(320,), nonce=None)  # 20 labels
    state = {
        "node_id": NODE_ID, "coinbase": RECIPIENT, "smeshing": True, "post_dir": datadir, "num_units": UNITS,
        "max_file_size": FILE_SIZE, "provider": None, "phase": "initializing",
    }  # fmt: skip
    backend = smesher_backend(mesh, state)

    def fast(server):  # noqa: ANN001
        smesher_pb2_grpc.add_SmesherServiceServicer_to_server(SmesherServicer(backend, status_interval=0.05), server)

    async def check(channel):
        stream = smesher_pb2_grpc.SmesherServiceStub(channel).PostSetupStatusStream(empty_pb2.Empty(), timeout=T)
        first = (await stream.read()).status
        assert (first.state, first.num_labels_written) == (Setup.STATE_IN_PROGRESS, 20)
        write_post(datadir, file_bytes=(1024, 1024), nonce=3)
        for _ in range(100):  # the next ticks see the finished data
            latest = (await stream.read()).status
            if latest.state == Setup.STATE_COMPLETE:
                break
        assert (latest.state, latest.num_labels_written) == (Setup.STATE_COMPLETE, 128)
        stream.cancel()
        assert await stream.code() == grpc.StatusCode.CANCELLED

    asyncio.run(serving(check, extra=fast))


def test_smesher_service_without_a_smesher(storeonly):
    async def check(channel):
        stub = smesher_pb2_grpc.SmesherServiceStub(channel)
        assert not (await stub.IsSmeshing(empty_pb2.Empty(), timeout=T)).is_smeshing
        calls = [
            stub.SmesherIDs(empty_pb2.Empty(), timeout=T),
            stub.Coinbase(empty_pb2.Empty(), timeout=T),
            stub.PostSetupStatus(empty_pb2.Empty(), timeout=T),
            stub.PostSetupStatusStream(empty_pb2.Empty(), timeout=T),
        ]
        for call in calls:
            err = await rpc_error(call)
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and err.details() == "smeshing is not set up"
        config = await stub.PostConfig(empty_pb2.Empty(), timeout=T)  # the network's, smeshing or not
        assert (config.bits_per_label, config.labels_per_unit) == (128, 64)

    asyncio.run(serving(check, private=storeonly))


def test_post_setup_providers(storeonly):
    expected = [(p.id, p.name, p.kind) for p in labels.list_providers()]
    assert expected[-1][0] == 4294967295  # the CPU comes last, with postcli's id
    benchmarked: list[int] = []

    def fake_benchmark(provider_id: int) -> float:
        benchmarked.append(provider_id)
        if provider_id == 4294967295 and len(benchmarked) > len(expected):
            raise RuntimeError("device lost")  # the second round: the CPU's benchmark breaks
        return 1000.6 + provider_id % 7

    def with_fake(server):  # noqa: ANN001
        smesher_pb2_grpc.add_SmesherServiceServicer_to_server(SmesherServicer(storeonly, benchmark=fake_benchmark),
                                                              server)  # fmt: skip

    async def check(channel):
        stub = smesher_pb2_grpc.SmesherServiceStub(channel)
        plain = (await stub.PostSetupProviders(smesher_pb2.PostSetupProvidersRequest(), timeout=T)).providers
        assert [(p.id, p.model) for p in plain] == [(i, name) for i, name, _ in expected]
        gpu = smesher_pb2.PostSetupProvider.DEVICE_CLASS_GPU
        cpu = smesher_pb2.PostSetupProvider.DEVICE_CLASS_CPU
        assert [p.device_type for p in plain] == [gpu if kind == "gpu" else cpu for _, _, kind in expected]
        assert all(p.performance == 0 for p in plain) and not benchmarked
        measured = await stub.PostSetupProviders(smesher_pb2.PostSetupProvidersRequest(benchmark=True), timeout=T)
        assert [p.performance for p in measured.providers] == [round(1000.6 + i % 7) for i, _, _ in expected]
        assert benchmarked == [i for i, _, _ in expected]
        again = await stub.PostSetupProviders(smesher_pb2.PostSetupProvidersRequest(benchmark=True), timeout=T)
        assert [p.performance for p in again.providers][-1] == 0  # a failed benchmark hides no other provider
        assert len(again.providers) == len(expected)

    asyncio.run(serving(check, extra=with_fake))
    assert labels.benchmark(4294967295, seconds=0.2) > 0  # the real measure, on the CPU provider
