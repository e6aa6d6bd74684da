"""spacemesh.v2alpha1 servicers (core.api.servicers_v2): live calls through the generated stubs on loopback.

Most tests read the session's simulated mesh (tests/core/api/conftest.py) and never change it; submitting and
following a node live happen on a small simulation of this module's own.  Expected values come from the
fixture's notes and the spec: gas and fees from spec/wallet.md §3.5's worked numbers, layers written out,
rewards, hashes and blocks read straight from the store (never through the API code), never from the
servicers themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import grpc
import pytest

from core.api.backend import EventHub, NodeBackend
from core.api.gen.spacemesh.v2alpha1 import (
    account_pb2,
    account_pb2_grpc,
    activation_pb2,
    activation_pb2_grpc,
    layer_pb2,
    layer_pb2_grpc,
    network_pb2,
    network_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    reward_pb2,
    reward_pb2_grpc,
    tx_pb2,
    tx_pb2_grpc,
    v2alpha1_pb2,
)
from core.api.servicers_v2 import add_private, add_public, history_then_live
from core.crypto.hashing import hash32
from core.crypto.signing import public_key_of
from core.node.simulation import SIM_CONFIG, TICKS_PER_ROUND, Simulation, sim_coinbase, sim_identity
from core.tx.build import multisig_spawn, spend, wallet_spawn
from core.tx.signing import combine, sign_part, sign_single
from core.tx.templates import Template, multisig_args, wallet_principal
from core.wallet.address import encode_address
from tests.core.api.conftest import (
    AMOUNT,
    CONFIG,
    END,
    FUNDS,
    GENESIS_LAYER,
    LPE,
    OTHER,
    RECIPIENT,
    UNITS,
    WALLET,
    WALLET_KEY,
)

VERSION = "v0.2.0-test"
T = 10  # per-call timeout, seconds
HRP = CONFIG.hrp
GID = CONFIG.genesis_id
INVALID = grpc.StatusCode.INVALID_ARGUMENT

# spec/wallet.md §3.5 worked numbers: a wallet self-spawn (148 bytes) and a wallet spend whose amount takes
# 4 bytes (120 bytes) at gas price 1; the pending spend of 5 smidge is 117 bytes, the same 15 words of data
SPAWN_GAS = 100_432
SPEND_GAS = 36_090
WALLET_TEMPLATE = bytes(23) + b"\x01"  # template addresses: 23 zero bytes and the template number (§2.2)
STRANGER_KEY = bytes(range(101, 133))  # a key whose wallet was never spawned


def b32(address: bytes) -> str:
    return encode_address(address, HRP)


def node_ids() -> dict[str, bytes]:
    return {name: sim_identity(b"api", name).node_id for name in UNITS}


async def serving(backend: NodeBackend, check: Callable[[grpc.aio.Channel], Awaitable[None]]) -> None:
    """Serve the public and private v2alpha1 services on an ephemeral loopback port, run `check`, stop."""
    server = grpc.aio.server()
    add_public(server, backend)
    add_private(server, backend)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await check(channel)
    finally:
        await server.stop(None)


def run(backend: NodeBackend, check: Callable[[grpc.aio.Channel], Awaitable[None]]) -> None:
    asyncio.run(serving(backend, check))


async def fails(call: Awaitable[object], code: grpc.StatusCode) -> str:
    """Await a unary call that must fail with `code`; its details."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value.details()


async def collect(call) -> list:  # noqa: ANN001 - a server-stream call
    return [item async for item in call]


async def stream_fails(call, code: grpc.StatusCode) -> str:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(call)
    assert err.value.code() == code, err.value.details()
    return err.value.details()


@pytest.fixture(scope="module")
def backend(mesh) -> NodeBackend:  # noqa: ANN001
    return NodeBackend(CONFIG, mesh.node.store, version=VERSION, node=mesh.node)


# --------------------------------------------------------------------------------------------------
# registration, network, node


def test_add_public_and_private_name_the_services(backend):
    async def main():
        server = grpc.aio.server()
        assert add_public(server, backend) == [
            "spacemesh.v2alpha1.NetworkService",
            "spacemesh.v2alpha1.NodeService",
            "spacemesh.v2alpha1.AccountService",
            "spacemesh.v2alpha1.TransactionService",
            "spacemesh.v2alpha1.RewardService",
            "spacemesh.v2alpha1.LayerService",
            "spacemesh.v2alpha1.ActivationService",
        ]
        assert add_private(server, backend) == [
            "spacemesh.v2alpha1.LayerStreamService",
            "spacemesh.v2alpha1.TransactionStreamService",
            "spacemesh.v2alpha1.RewardStreamService",
            "spacemesh.v2alpha1.ActivationStreamService",
        ]
        await server.stop(None)

    asyncio.run(main())


def test_network_info_and_node_status(backend):
    async def check(channel):
        info = await network_pb2_grpc.NetworkServiceStub(channel).Info(network_pb2.NetworkInfoRequest(), timeout=T)
        assert (info.hrp, info.effective_genesis_layer, info.layers_per_epoch) == (HRP, GENESIS_LAYER, LPE)
        assert info.genesis_id == GID

        status = await node_pb2_grpc.NodeServiceStub(channel).Status(node_pb2.NodeStatusRequest(), timeout=T)
        assert status.status == node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCED
        assert status.current_layer == END  # the clock stands at the start of layer 20
        assert status.applied_layer == END - 1  # the layer before has its hare output applied
        assert status.processed_layer == END - 1
        assert END - 1 <= status.latest_layer <= END  # proposals for layer 20 may have been seen

    run(backend, check)


def test_node_status_counts_the_other_node_as_a_peer(backend):
    async def check(channel):
        status = await node_pb2_grpc.NodeServiceStub(channel).Status(node_pb2.NodeStatusRequest(), timeout=T)
        assert status.connected_peers == 1  # two nodes on the bus

    run(backend, check)


def test_a_backend_without_a_node_is_syncing_and_refuses_submissions(mesh):
    backend = NodeBackend(CONFIG, mesh.node.store, version=VERSION, clock=mesh.node.clock)

    async def check(channel):
        status = await node_pb2_grpc.NodeServiceStub(channel).Status(node_pb2.NodeStatusRequest(), timeout=T)
        assert status.status == node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING
        assert status.connected_peers == 0
        assert status.applied_layer == END - 1
        txs = tx_pb2_grpc.TransactionServiceStub(channel)
        raw = sign_single(spend(WALLET, RECIPIENT, 1, 3), WALLET_KEY, GID).raw()
        details = await fails(
            txs.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=raw), timeout=T),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert "not in sync" in details

    run(backend, check)


# --------------------------------------------------------------------------------------------------
# accounts


def test_account_list(backend, mesh):
    wallet_balance = FUNDS - SPAWN_GAS - SPEND_GAS - AMOUNT

    async def check(channel):
        accounts = account_pb2_grpc.AccountServiceStub(channel)

        async def listing(**kw) -> list:
            return list((await accounts.List(account_pb2.AccountRequest(**kw), timeout=T)).accounts)

        wallet, recipient, other = await listing(addresses=[b32(WALLET), b32(RECIPIENT), b32(OTHER)], limit=10)
        assert wallet.address == b32(WALLET)
        assert (wallet.current.counter, wallet.current.balance, wallet.current.layer) == (2, wallet_balance, END - 1)
        assert (wallet.projected.counter, wallet.projected.balance) == (3, wallet_balance - SPEND_GAS - 5)
        assert wallet.template == b32(WALLET_TEMPLATE)
        assert (recipient.address, recipient.current.balance, recipient.current.counter) == (b32(RECIPIENT), AMOUNT, 0)
        assert (recipient.projected.balance, recipient.projected.counter, recipient.template) == (AMOUNT, 0, "")
        assert other.address == b32(OTHER)  # never touched: zero state
        assert (other.current.balance, other.current.counter, other.projected.balance, other.template) == (0, 0, 0, "")

        # coinbases hold exactly their rewards
        for coinbase in mesh.coinbases.values():
            (account,) = await listing(addresses=[b32(coinbase)], limit=1)
            rewards = mesh.node.store.rewards_of(coinbase)
            assert account.current.balance == sum(total for _, total, _ in rewards) > 0

        # request order, duplicates collapsed, offset/limit over the requested addresses
        assert [a.address for a in await listing(addresses=[b32(OTHER), b32(WALLET), b32(OTHER)], limit=10)] == [
            b32(OTHER), b32(WALLET),
        ]  # fmt: skip
        paged = await listing(addresses=[b32(WALLET), b32(RECIPIENT), b32(OTHER)], offset=1, limit=1)
        assert [a.address for a in paged] == [b32(RECIPIENT)]

        # without addresses: every account the state knows (the genesis wallet, the recipient, two coinbases)
        everything = await listing(limit=100)
        known = {b32(WALLET), b32(RECIPIENT), *(b32(c) for c in mesh.coinbases.values())}
        assert sorted(a.address for a in everything) == sorted(known)
        assert [a.address for a in await listing(offset=1, limit=2)] == [a.address for a in everything[1:3]]

        for bad in (
            account_pb2.AccountRequest(addresses=[b32(WALLET)]),  # no limit
            account_pb2.AccountRequest(addresses=[b32(WALLET)], limit=101),
            account_pb2.AccountRequest(addresses=["standalone1notanaddress"], limit=1),
            account_pb2.AccountRequest(addresses=[encode_address(WALLET, "sm")], limit=1),  # another network
        ):
            await fails(accounts.List(bad, timeout=T), INVALID)

    run(backend, check)


# --------------------------------------------------------------------------------------------------
# transactions


def _spawn_raw() -> bytes:
    return sign_single(wallet_spawn(public_key_of(WALLET_KEY)), WALLET_KEY, GID).raw()


def _transfer_raw() -> bytes:
    return sign_single(spend(WALLET, RECIPIENT, AMOUNT, 1), WALLET_KEY, GID).raw()


def _assert_spawn(tx: tx_pb2.Transaction, spawn_id: bytes) -> None:
    assert (tx.id, tx.raw) == (spawn_id, _spawn_raw())
    assert (tx.principal, tx.template, tx.method, tx.nonce.counter) == (b32(WALLET), b32(WALLET_TEMPLATE), 0, 0)
    assert (tx.max_gas, tx.gas_price, tx.max_spend) == (SPAWN_GAS, 1, 0)
    assert tx.type == tx_pb2.Transaction.TRANSACTION_TYPE_SINGLE_SIG_SPAWN
    assert tx.contents.WhichOneof("contents") == "single_sig_spawn"
    assert tx.contents.single_sig_spawn.pubkey == "0x" + public_key_of(WALLET_KEY).hex()


def _assert_transfer(tx: tx_pb2.Transaction, transfer_id: bytes) -> None:
    assert (tx.id, tx.raw) == (transfer_id, _transfer_raw())
    assert (tx.principal, tx.template, tx.method, tx.nonce.counter) == (b32(WALLET), b32(WALLET_TEMPLATE), 16, 1)
    assert (tx.max_gas, tx.gas_price, tx.max_spend) == (SPEND_GAS, 1, AMOUNT)
    assert tx.type == tx_pb2.Transaction.TRANSACTION_TYPE_SINGLE_SIG_SEND
    assert (tx.contents.send.destination, tx.contents.send.amount) == (b32(RECIPIENT), AMOUNT)


def test_transaction_list(backend, mesh):
    blocks = {block.id: block for block in mesh.node.store.blocks()}

    async def check(channel):
        txs = tx_pb2_grpc.TransactionServiceStub(channel)

        async def listing(**kw) -> tx_pb2.TransactionList:
            return await txs.List(tx_pb2.TransactionRequest(**kw), timeout=T)

        full = await listing(limit=10, include_result=True, include_state=True)
        spawn, transfer, pending = full.transactions  # by layer, the pending one last
        _assert_spawn(spawn.tx, mesh.spawn)
        _assert_transfer(transfer.tx, mesh.transfer)
        assert (pending.tx.id, pending.tx.nonce.counter, pending.tx.contents.send.amount) == (mesh.pending, 2, 5)

        ok = tx_pb2.TransactionResult.TRANSACTION_STATUS_SUCCESS
        for response, gas, touched in ((spawn, SPAWN_GAS, {WALLET}), (transfer, SPEND_GAS, {WALLET, RECIPIENT})):
            result = response.tx_result
            assert (result.status, result.message, result.fee, result.gas_consumed) == (ok, "", gas, gas)
            assert sorted(result.touched_addresses) == sorted(b32(a) for a in touched)
            block = blocks[result.block]  # the applied block of its layer carried it
            assert block.layer == result.layer and response.tx.id in block.inner.tx_ids
            assert mesh.node.store.layer_hashes(result.layer)[0] == result.block
            assert response.tx_state == tx_pb2.TRANSACTION_STATE_PROCESSED
        assert 9 < spawn.tx_result.layer < 12 < transfer.tx_result.layer < END  # submitted in layers 9 and 12
        assert not pending.HasField("tx_result")
        assert pending.tx_state == tx_pb2.TRANSACTION_STATE_MEMPOOL

        plain = await listing(limit=10)
        assert [r.tx.id for r in plain.transactions] == [mesh.spawn, mesh.transfer, mesh.pending]
        assert not any(r.HasField("tx_result") or r.HasField("tx_state") for r in plain.transactions)

        async def ids(**kw) -> list[bytes]:
            return [r.tx.id for r in (await listing(**kw)).transactions]

        assert await ids(limit=10, sort_order=v2alpha1_pb2.DESC) == [mesh.pending, mesh.transfer, mesh.spawn]
        assert await ids(limit=1, offset=1) == [mesh.transfer]
        assert await ids(limit=10, txid=[mesh.transfer, mesh.pending]) == [mesh.transfer, mesh.pending]
        assert await ids(limit=10, address=b32(RECIPIENT)) == [mesh.transfer]  # touched by the applied transfer
        assert await ids(limit=10, address=b32(WALLET)) == [mesh.spawn, mesh.transfer, mesh.pending]
        assert await ids(limit=10, address=b32(OTHER)) == []
        layer = transfer.tx_result.layer
        assert await ids(limit=10, start_layer=layer) == [mesh.transfer]  # a layer bound leaves out pending ones
        assert await ids(limit=10, end_layer=layer - 1) == [mesh.spawn]
        assert len((await listing(limit=10, start_layer=layer, end_layer=layer)).transactions) == 1

        for bad in (
            tx_pb2.TransactionRequest(),
            tx_pb2.TransactionRequest(limit=101),
            tx_pb2.TransactionRequest(limit=1, address="nope"),
            tx_pb2.TransactionRequest(limit=1, txid=[mesh.transfer[:31]]),
        ):
            await fails(txs.List(bad, timeout=T), INVALID)

    run(backend, check)


def test_parse_transaction(backend, mesh):
    async def check(channel):
        txs = tx_pb2_grpc.TransactionServiceStub(channel)

        async def parse(raw: bytes, verify: bool = True) -> tx_pb2.ParseTransactionResponse:
            return await txs.ParseTransaction(tx_pb2.ParseTransactionRequest(transaction=raw, verify=verify), timeout=T)

        parsed = await parse(_transfer_raw())
        assert parsed.status.code == 0
        _assert_transfer(parsed.tx, mesh.transfer)
        _assert_spawn((await parse(_spawn_raw())).tx, mesh.spawn)

        # a fresh self-spawn verifies with the key it spawns with
        stranger = public_key_of(STRANGER_KEY)
        fresh = sign_single(wallet_spawn(stranger), STRANGER_KEY, GID).raw()
        tx = (await parse(fresh)).tx
        assert (tx.principal, tx.max_gas, tx.contents.single_sig_spawn.pubkey) == (
            b32(wallet_principal(stranger)), SPAWN_GAS, "0x" + stranger.hex(),
        )  # fmt: skip

        # a 2-of-3 multisig self-spawn: 280 bytes; MaxGas = 50000 + 3000×2 + 128×35 + 5000×ceil((3×32 + 36)/8)
        keys = [bytes([k]) * 32 for k in (7, 8, 9)]
        pubkeys = [public_key_of(k) for k in keys]
        unsigned = multisig_spawn(multisig_args(2, pubkeys))
        raw = combine(unsigned, [sign_part(unsigned, keys[0], GID, 0), sign_part(unsigned, keys[2], GID, 2)], 2).raw()
        assert len(raw) == 280
        tx = (await parse(raw)).tx
        assert tx.type == tx_pb2.Transaction.TRANSACTION_TYPE_MULTI_SIG_SPAWN
        assert tx.template == b32(bytes(23) + bytes([Template.MULTISIG]))
        assert tx.contents.multi_sig_spawn.required == 2
        assert list(tx.contents.multi_sig_spawn.pubkey) == ["0x" + k.hex() for k in pubkeys]
        assert tx.max_gas == 50_000 + 3_000 * 2 + 128 * 35 + 5_000 * 17

        # a broken signature fails verification, but still parses without it
        broken = _transfer_raw()[:-1] + bytes([_transfer_raw()[-1] ^ 1])
        assert "verification" in await fails(parse(broken), INVALID)
        tx = (await parse(broken, verify=False)).tx
        assert tx.id == hash32(broken) != mesh.transfer
        other_net = sign_single(spend(WALLET, RECIPIENT, AMOUNT, 1), WALLET_KEY, bytes(20)).raw()
        await fails(parse(other_net), INVALID)  # signed for another genesis id

        # a spend of a wallet never spawned cannot be parsed (go-spacemesh: NotFound)
        unspawned = sign_single(spend(wallet_principal(stranger), RECIPIENT, 1, 0), STRANGER_KEY, GID).raw()
        assert "not spawned" in await fails(parse(unspawned), grpc.StatusCode.NOT_FOUND)

        for malformed in (b"", b"\x01garbage", _transfer_raw()[:-1], _transfer_raw() + b"\x00", bytes(2000)):
            await fails(parse(malformed, verify=False), INVALID)

    run(backend, check)


def test_estimate_gas(backend):
    async def check(channel):
        txs = tx_pb2_grpc.TransactionServiceStub(channel)

        async def estimate(raw: bytes) -> int:
            response = await txs.EstimateGas(tx_pb2.EstimateGasRequest(transaction=raw), timeout=T)
            return response.recommended_max_gas

        assert await estimate(_transfer_raw()) == SPEND_GAS
        assert await estimate(_spawn_raw()) == SPAWN_GAS
        # an unsigned spend is priced as it will be once signed
        assert await estimate(spend(WALLET, RECIPIENT, AMOUNT, 9).unsigned_bytes()) == SPEND_GAS
        stranger = public_key_of(STRANGER_KEY)
        assert await estimate(wallet_spawn(stranger).unsigned_bytes()) == SPAWN_GAS
        unspawned = sign_single(spend(wallet_principal(stranger), RECIPIENT, 1, 0), STRANGER_KEY, GID).raw()
        await fails(estimate(unspawned), grpc.StatusCode.NOT_FOUND)
        for malformed in (b"", b"\x00\x01\x02"):
            await fails(estimate(malformed), INVALID)

    run(backend, check)


# --------------------------------------------------------------------------------------------------
# rewards, layers, activations


def _applied_blocks(mesh) -> list:  # noqa: ANN001
    applied = set(mesh.node.store.applied_layers().values())
    return [block for block in mesh.node.store.blocks() if block.id in applied]


def test_reward_list(backend, mesh):
    ids = node_ids()
    coinbase_of = {ids[name]: b32(coinbase) for name, coinbase in mesh.coinbases.items()}
    # one reward per eligible smesher named in each applied block
    expected = sum(len(block.inner.rewards) for block in _applied_blocks(mesh))

    async def check(channel):
        rewards = reward_pb2_grpc.RewardServiceStub(channel)

        async def listing(**kw) -> list:
            return list((await rewards.List(reward_pb2.RewardRequest(**kw), timeout=T)).rewards)

        full = await listing(limit=100)
        assert len(full) == expected > 0
        assert [r.layer for r in full] == sorted(r.layer for r in full)
        assert all(GENESIS_LAYER < r.layer < END and coinbase_of[r.smesher] == r.coinbase for r in full)
        assert all(r.total >= r.layer_reward > 0 for r in full)
        for coinbase in mesh.coinbases.values():
            mine = await listing(coinbase=b32(coinbase), limit=100)
            assert sum(r.total for r in mine) == mesh.node.store.account(coinbase).balance
            assert {r.coinbase for r in mine} == {b32(coinbase)}
        for smesher in ids.values():
            by_smesher = await listing(smesher=smesher, limit=100)
            assert by_smesher == await listing(coinbase=coinbase_of[smesher], limit=100)
            assert {r.smesher for r in by_smesher} == {smesher}

        descending = await listing(limit=100, sort_order=v2alpha1_pb2.DESC)
        assert [r.layer for r in descending] == sorted((r.layer for r in full), reverse=True)
        assert await listing(offset=2, limit=3) == full[2:5]
        bounded = await listing(start_layer=10, end_layer=12, limit=100)
        assert bounded == [r for r in full if 10 <= r.layer <= 12] and bounded

        for bad in (
            reward_pb2.RewardRequest(),
            reward_pb2.RewardRequest(limit=101),
            reward_pb2.RewardRequest(limit=1, coinbase="standalone1bad"),
            reward_pb2.RewardRequest(limit=1, smesher=bytes(31)),
        ):
            await fails(rewards.List(bad, timeout=T), INVALID)

    run(backend, check)


def test_layer_list(backend, mesh):
    store = mesh.node.store
    verified = mesh.node.tortoise.verified
    applied = list(range(GENESIS_LAYER, END))  # 7..19: the effective genesis and every layer up to the clock

    async def check(channel):
        layers = layer_pb2_grpc.LayerServiceStub(channel)

        async def listing(**kw) -> layer_pb2.LayerList:
            return await layers.List(layer_pb2.LayerRequest(**kw), timeout=T)

        full = await listing(limit=100)
        assert [layer.number for layer in full.layers] == applied
        for layer in full.layers:
            block, state_hash, aggregated = store.layer_hashes(layer.number)
            status = layer_pb2.Layer.LAYER_STATUS_VERIFIED if layer.number <= verified else (
                layer_pb2.Layer.LAYER_STATUS_APPLIED
            )
            assert layer.status == status
            assert (layer.state_hash, layer.cumulative_state_hash) == (state_hash, aggregated)
            assert layer.consensus_hash == aggregated[:5].hex()
            if layer.number == GENESIS_LAYER:
                assert not layer.HasField("block")  # the effective genesis layer is empty
            else:
                assert layer.block.id == block and len(block) == 20
        assert verified < END - 1  # the last applied layer is not verified yet: both statuses show
        assert full.layers[0].status == layer_pb2.Layer.LAYER_STATUS_VERIFIED
        assert full.layers[-1].status == layer_pb2.Layer.LAYER_STATUS_APPLIED

        page = await listing(offset=2, limit=3, sort_order=v2alpha1_pb2.DESC)
        assert [layer.number for layer in page.layers] == [17, 16, 15]
        bounded = await listing(start_layer=10, end_layer=12, limit=100)
        assert [layer.number for layer in bounded.layers] == [10, 11, 12]
        assert [layer.number for layer in (await listing(start_layer=18, limit=100)).layers] == [18, 19]

        for bad in (layer_pb2.LayerRequest(), layer_pb2.LayerRequest(limit=1000)):
            await fails(layers.List(bad, timeout=T), INVALID)

    run(backend, check)


def test_activation_list_and_count(backend, mesh):
    ids = node_ids()
    # first ATXs are published in epoch 1 (targeting epoch 2, the first after the effective genesis), then one
    # per smesher every epoch up to epoch 5, where the clock stopped
    epochs = range(1, END // LPE + 1)

    async def check(channel):
        atxs = activation_pb2_grpc.ActivationServiceStub(channel)

        async def listing(**kw) -> activation_pb2.ActivationList:
            return await atxs.List(activation_pb2.ActivationRequest(**kw), timeout=T)

        full = await listing(limit=100)
        assert len(full.activations) == len(UNITS) * len(epochs)
        assert {(a.smesher_id, a.publish_epoch) for a in full.activations} == {
            (ids[name], epoch) for name in UNITS for epoch in epochs
        }
        assert [a.publish_epoch for a in full.activations] == sorted(a.publish_epoch for a in full.activations)
        by_key = {(a.smesher_id, a.publish_epoch): a for a in full.activations}
        for name, units in UNITS.items():
            for epoch in epochs:
                atx = by_key[ids[name], epoch]
                assert (atx.num_units, atx.weight) == (units, units * TICKS_PER_ROUND)  # weight = units × ticks
                assert atx.height == TICKS_PER_ROUND * epoch  # one PoET round of ticks on top of the last ATX
                assert atx.coinbase == b32(mesh.coinbases[name])
                assert len(atx.id) == 32

        n0, n1 = ids["n0"], ids["n1"]
        assert {a.smesher_id for a in (await listing(smesher_id=[n0], limit=100)).activations} == {n0}
        assert len((await listing(smesher_id=[n0, n1], limit=100)).activations) == 2 * len(epochs)
        assert {a.smesher_id for a in (await listing(coinbase=b32(mesh.coinbases["n1"]), limit=100)).activations} == {
            n1
        }
        one = full.activations[3]
        assert list((await listing(id=[one.id], limit=100)).activations) == [one]
        middle = await listing(start_epoch=2, end_epoch=3, limit=100)
        assert sorted(a.publish_epoch for a in middle.activations) == [2, 2, 3, 3]
        assert list((await listing(offset=3, limit=4)).activations) == list(full.activations[3:7])

        async def count(**kw) -> int:
            return (await atxs.ActivationsCount(activation_pb2.ActivationsCountRequest(**kw), timeout=T)).count

        assert await count(epoch=3) == len(UNITS)
        assert await count() == len(UNITS) * len(epochs)
        assert await count(epoch=0) == 0

        for bad in (
            activation_pb2.ActivationRequest(),
            activation_pb2.ActivationRequest(limit=101),
            activation_pb2.ActivationRequest(limit=1, id=[b"short"]),
            activation_pb2.ActivationRequest(limit=1, smesher_id=[bytes(33)]),
            activation_pb2.ActivationRequest(limit=1, coinbase="x"),
        ):
            await fails(atxs.List(bad, timeout=T), INVALID)

    run(backend, check)


# --------------------------------------------------------------------------------------------------
# streams: history


def test_streams_send_history_and_end_without_watch(backend, mesh):
    ids = node_ids()

    async def check(channel):
        layers = layer_pb2_grpc.LayerStreamServiceStub(channel)
        got = await collect(layers.Stream(layer_pb2.LayerStreamRequest(start_layer=10, end_layer=12), timeout=T))
        assert [layer.number for layer in got] == [10, 11, 12]
        got = await collect(layers.Stream(layer_pb2.LayerStreamRequest(), timeout=T))
        assert [layer.number for layer in got] == list(range(GENESIS_LAYER, END))
        assert got[-1].block.id == mesh.node.store.layer_hashes(END - 1)[0]

        txs = tx_pb2_grpc.TransactionStreamServiceStub(channel)
        got = await collect(txs.Stream(tx_pb2.TransactionStreamRequest(), timeout=T))
        assert [r.tx.id for r in got] == [mesh.spawn, mesh.transfer]  # applied ones only: not the pending one
        _assert_transfer(got[1].tx, mesh.transfer)
        assert all(r.tx_result.status == tx_pb2.TransactionResult.TRANSACTION_STATUS_SUCCESS for r in got)
        assert all(r.tx_state == tx_pb2.TRANSACTION_STATE_PROCESSED for r in got)
        for request, expected in (
            (tx_pb2.TransactionStreamRequest(principal=b32(WALLET)), [mesh.spawn, mesh.transfer]),
            (tx_pb2.TransactionStreamRequest(principal=b32(RECIPIENT)), []),
            (tx_pb2.TransactionStreamRequest(txid=[mesh.transfer]), [mesh.transfer]),
            (tx_pb2.TransactionStreamRequest(start_layer=got[1].tx_result.layer), [mesh.transfer]),
            (tx_pb2.TransactionStreamRequest(end_layer=got[1].tx_result.layer - 1), [mesh.spawn]),
        ):
            assert [r.tx.id for r in await collect(txs.Stream(request, timeout=T))] == expected

        rewards = reward_pb2_grpc.RewardStreamServiceStub(channel)
        listed = await reward_pb2_grpc.RewardServiceStub(channel).List(
            reward_pb2.RewardRequest(smesher=ids["n1"], limit=100), timeout=T
        )
        got = await collect(rewards.Stream(reward_pb2.RewardStreamRequest(smesher=ids["n1"]), timeout=T))
        assert got == list(listed.rewards) and got
        got = await collect(rewards.Stream(reward_pb2.RewardStreamRequest(start_layer=12, end_layer=13), timeout=T))
        assert {r.layer for r in got} == {12, 13}

        atxs = activation_pb2_grpc.ActivationStreamServiceStub(channel)
        got = await collect(atxs.Stream(activation_pb2.ActivationStreamRequest(start_epoch=2, end_epoch=3), timeout=T))
        assert [a.publish_epoch for a in got] == [2, 2, 3, 3]
        got = await collect(atxs.Stream(activation_pb2.ActivationStreamRequest(smesher_id=[ids["n0"]]), timeout=T))
        assert {a.smesher_id for a in got} == {ids["n0"]} and len(got) == END // LPE

        await stream_fails(rewards.Stream(reward_pb2.RewardStreamRequest(coinbase="nope"), timeout=T), INVALID)
        await stream_fails(atxs.Stream(activation_pb2.ActivationStreamRequest(id=[b"x"]), timeout=T), INVALID)
        await stream_fails(txs.Stream(tx_pb2.TransactionStreamRequest(principal="nope"), timeout=T), INVALID)

    run(backend, check)


def test_a_stream_that_falls_behind_ends_with_resource_exhausted(mesh):
    backend = NodeBackend(CONFIG, mesh.node.store, version=VERSION, node=mesh.node)
    backend.events.max_queue = 3

    async def check(channel):
        layers = layer_pb2_grpc.LayerStreamServiceStub(channel)
        call = layers.Stream(layer_pb2.LayerStreamRequest(start_layer=END - 1, watch=True), timeout=T)
        first = await call.read()
        assert first.number == END - 1 and backend.events.subscribers == 1
        for n in range(10):  # more events than the subscriber may queue, before it can take any
            backend.events.publish("layer", {"layer": 100 + n, "epoch": 25})
        with pytest.raises(grpc.aio.AioRpcError) as err:
            while await call.read() is not grpc.aio.EOF:
                pass
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for _ in range(100):  # the server side lets go of its subscription
            if backend.events.subscribers == 0:
                break
            await asyncio.sleep(0.01)
        assert backend.events.subscribers == 0

    run(backend, check)


def test_history_then_live_never_sends_an_item_twice():
    """Events that arrive while history is read (between windows) are skipped when a later read showed
    them, and sent when none did; an event for an item read after it is not sent again."""

    async def main():
        hub = EventHub()
        store = {1: "a1", 2: "b2"}  # key -> item; history covers keys 1..3
        reads: list[tuple[int, int]] = []

        def read(lo: int, hi: int) -> list[str]:
            reads.append((lo, hi))
            if len(reads) == 1:  # the node applies 3 while the first window is being sent...
                store[3] = "c3"
                hub.publish("applied", {"layer": 3})
                store[2] = "B2"  # ...and re-applies 2 with a new result
                hub.publish("applied", {"layer": 2})
            if len(reads) == 2:  # ...and re-applies 1 after its window was read: that one must follow live
                store[1] = "A1"
                hub.publish("applied", {"layer": 1})
            return [store[k] for k in range(lo, hi + 1) if k in store]

        with hub.subscribe() as sub:
            items = history_then_live(
                sub, start=1, end=10, top=lambda: 3, window=1, read=read,
                key_of=lambda event, fields: fields["layer"] if event == "applied" else None,
                read_event=lambda key, _: read(key, key),
            )  # fmt: skip
            got = [await anext(items) for _ in range(3)]  # history: windows 1, 2 (new version), 3
            assert got == ["a1", "B2", "c3"]
            got.append(await anext(items))  # the re-applied layer 1, live
            store[4] = "d4"
            hub.publish("applied", {"layer": 4})  # live, after history
            hub.publish("applied", {"layer": 42})  # outside the range
            store[4] = "D4"
            hub.publish("applied", {"layer": 4})  # re-applied before the first event's read: that read showed it
            got.append(await anext(items))
            store[5] = "e5"
            hub.publish("applied", {"layer": 5})
            got.append(await anext(items))
            await items.aclose()
        assert got == ["a1", "B2", "c3", "A1", "D4", "e5"]
        assert reads == [(1, 1), (2, 2), (3, 3), (1, 1), (4, 4), (5, 5)]

    asyncio.run(main())


# --------------------------------------------------------------------------------------------------
# submitting and streaming live: a one-node simulation of our own


LIVE_KEY = bytes(range(201, 233))
LIVE_WALLET = wallet_principal(public_key_of(LIVE_KEY))
LIVE_CONFIG = dataclasses.replace(SIM_CONFIG, genesis_accounts={encode_address(LIVE_WALLET, SIM_CONFIG.hrp): FUNDS})


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_submit_and_follow_a_live_node(tmp_path):
    async def main():
        sim = Simulation(tmp_path, LIVE_CONFIG, seed=b"v2-live")
        node = sim.add_node("solo", 1)
        await sim.run_until_layer(10)
        backend = NodeBackend(LIVE_CONFIG, node.store, version=VERSION, node=node)
        first_live = node.last_applied + 1
        try:
            await serving(backend, lambda channel: follow(sim, node, backend, channel, first_live))
        finally:
            await sim.stop()
            sim.close()

    async def follow(sim, node, backend, channel, first_live):  # noqa: ANN001
        gid = LIVE_CONFIG.genesis_id
        hrp = LIVE_CONFIG.hrp
        coinbase = encode_address(sim_coinbase("solo"), hrp)
        streams = {
            "layers": layer_pb2_grpc.LayerStreamServiceStub(channel).Stream(
                layer_pb2.LayerStreamRequest(watch=True)
            ),
            "txs": tx_pb2_grpc.TransactionStreamServiceStub(channel).Stream(
                tx_pb2.TransactionStreamRequest(principal=encode_address(LIVE_WALLET, hrp), watch=True)
            ),
            "rewards": reward_pb2_grpc.RewardStreamServiceStub(channel).Stream(
                reward_pb2.RewardStreamRequest(coinbase=coinbase, watch=True)
            ),
            "atxs": activation_pb2_grpc.ActivationStreamServiceStub(channel).Stream(
                activation_pb2.ActivationStreamRequest(watch=True)
            ),
        }
        got: dict[str, list] = {name: [] for name in streams}

        async def drain(name: str) -> None:
            async for item in streams[name]:
                got[name].append(item)

        tasks = [asyncio.create_task(drain(name)) for name in streams]
        await _until(lambda: backend.events.subscribers == len(streams), "the subscriptions")
        # history: layers from the effective genesis to the last applied one, ATXs of epochs 1 and 2
        await _until(lambda: len(got["layers"]) == first_live - SIM_CONFIG.effective_genesis, "layer history")
        await _until(lambda: len(got["atxs"]) == 2, "activation history")
        assert got["txs"] == []

        txs = tx_pb2_grpc.TransactionServiceStub(channel)
        spawn = sign_single(wallet_spawn(public_key_of(LIVE_KEY)), LIVE_KEY, gid).raw()
        submitted = await txs.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=spawn), timeout=T)
        assert (submitted.status.code, submitted.tx_id) == (0, hash32(spawn))
        again = await txs.SubmitTransaction(tx_pb2.SubmitTransactionRequest(transaction=spawn), timeout=T)
        assert again.tx_id == hash32(spawn)  # a transaction already known is not an error
        foreign = sign_single(spend(LIVE_WALLET, RECIPIENT, 1, 1), LIVE_KEY, bytes(20)).raw()
        for bad in (foreign, b"\x00\x01garbage"):
            request = tx_pb2.SubmitTransactionRequest(transaction=bad)
            details = await fails(txs.SubmitTransaction(request, timeout=T), INVALID)
            assert details.startswith("Failed to verify transaction: ")
        await fails(txs.SubmitTransaction(tx_pb2.SubmitTransactionRequest(), timeout=T), INVALID)
        state = await txs.List(tx_pb2.TransactionRequest(txid=[hash32(spawn)], include_state=True, limit=1), timeout=T)
        assert state.transactions[0].tx_state == tx_pb2.TRANSACTION_STATE_MEMPOOL

        await sim.run_until_layer(14)  # epoch 3 starts at layer 12: a new ATX; the spawn lands in a block
        last = node.last_applied
        await _until(lambda: got["layers"] and got["layers"][-1].number == last, "live layers")
        await _until(lambda: len(got["txs"]) == 1, "the live transaction")
        await _until(lambda: len(got["atxs"]) == 3, "the live activation")
        await _until(lambda: got["rewards"] and got["rewards"][-1].layer == last, "live rewards")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        # every layer exactly once, in order; live ones applied (or verified) with their block
        assert [layer.number for layer in got["layers"]] == list(range(SIM_CONFIG.effective_genesis, last + 1))
        for layer in got["layers"][first_live - SIM_CONFIG.effective_genesis :]:
            assert layer.status in (layer_pb2.Layer.LAYER_STATUS_APPLIED, layer_pb2.Layer.LAYER_STATUS_VERIFIED)
            assert layer.block.id == node.store.layer_hashes(layer.number)[0]
        (spawned,) = got["txs"]
        assert spawned.tx.id == hash32(spawn) and spawned.tx_state == tx_pb2.TRANSACTION_STATE_PROCESSED
        assert spawned.tx_result.status == tx_pb2.TransactionResult.TRANSACTION_STATUS_SUCCESS
        assert first_live <= spawned.tx_result.layer <= last and spawned.tx_result.fee == SPAWN_GAS
        # the only smesher is rewarded in every applied layer after the effective genesis, once each
        assert [r.layer for r in got["rewards"]] == list(range(SIM_CONFIG.effective_genesis + 1, last + 1))
        assert sum(r.total for r in got["rewards"]) == node.store.account(sim_coinbase("solo")).balance
        assert [a.publish_epoch for a in got["atxs"]] == [1, 2, 3]
        assert {a.smesher_id for a in got["atxs"]} == {sim_identity(b"v2-live", "solo").node_id}
        await _until(lambda: backend.events.subscribers == 0, "the streams to let go of their subscriptions")

    asyncio.run(main())
