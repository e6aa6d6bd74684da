"""spacemesh.v1 servicers: what a wallet, an explorer, a smesher's GUI and postcli ask a node.

Semantics follow go-spacemesh's v1 API (spec/api-ecosystem.md §1.3, spec/wallet.md §3.6–3.8); where
this node departs from go-spacemesh, the method's docstring says so and why.

Services over a `NodeBackend` (`add_public`): NodeService, MeshService, GlobalStateService,
TransactionService and ActivationService; (`add_private`): SmesherService.  Each class docstring
says what its methods answer.
Every stream follows the node through `EventHub` and ends with RESOURCE_EXHAUSTED when it falls too
far behind (go-spacemesh says CANCELED "buffer is full"; RESOURCE_EXHAUSTED says why and is retryable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import grpc

from core.api import add_services
from core.api.backend import AccountState, NodeBackend, NotSynced, SmesherState, StreamOverflow, TxRejected, TxState
from core.api.gen.google.rpc import status_pb2
from core.api.gen.spacemesh.v1 import (
    activation_pb2,
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
from core.errors import DecodeError, InvalidInput, SmeshError
from core.mesh.queries import LayerRow, RewardRow, TxRow
from core.node.wire import EMPTY_BLOCK
from core.post import labels
from core.post.labels import PROVIDER_CPU
from core.tx.transaction import decode_tx
from core.txs.parsed import NotSpawned, ParsedTx, VaultPrincipal, parse_tx
from core.types.atx import ATXV1
from core.vm.account import AccountReader
from core.vm.vm import TxStatus
from core.wallet.address import decode_address, encode_address

log = logging.getLogger("smesh.api")

MAX_LAYERS_PER_QUERY = 100  # LayersQuery range cap: keeps a reply of full layers well under gRPC's 4 MiB default
RESULTS_PAGE = 256  # stored results read per statement while StreamResults sends its history
STATUS_INTERVAL = 1.0  # seconds between PostSetupStatusStream messages (go-spacemesh's smesherstreaminterval)
BENCHMARK_SECONDS = 2.0  # per provider, as `smesh post providers --benchmark`
BITS_PER_LABEL = 128  # labels are 16 bytes
EMPTY_ATX = bytes(32)  # the previous ATX of a smesher's first ATX
NOT_SMESHING = "smeshing is not set up"
NOT_SYNCED = "Cannot submit transaction, node is not in sync yet, try again later"  # go-spacemesh's words

_Layer = types_pb2.Layer
_Result = tx_pb2.TransactionResult
_Receipt = global_state_pb2.TransactionReceipt
_Setup = smesher_pb2.PostSetupStatus
_RESULT_STATUS = {
    TxStatus.SUCCESS: _Result.SUCCESS, TxStatus.FAILURE: _Result.FAILURE, TxStatus.INVALID: _Result.INVALID,
}  # fmt: skip


def parse_address(text: str, hrp: str) -> bytes:
    """A bech32 account address of this network; raises InvalidInput (AddressError) saying what is wrong."""
    if not text:
        raise InvalidInput("an account address is required")
    return decode_address(text, hrp)


def _account_id(address: bytes, hrp: str) -> types_pb2.AccountId:
    return types_pb2.AccountId(address=encode_address(address, hrp))


# ------------------------------------------------------------------------------------------------
# transactions as the v1 API shows them


def transaction_message(parsed: ParsedTx, hrp: str) -> types_pb2.Transaction:
    """A transaction parsed strictly (its template is known)."""
    tx = parsed.tx
    assert parsed.template is not None
    return types_pb2.Transaction(
        id=parsed.id,
        principal=_account_id(tx.principal, hrp),
        template=_account_id(parsed.template.address, hrp),
        method=int(tx.method),
        nonce=types_pb2.Nonce(counter=tx.nonce),
        limits=types_pb2.LayerLimits(),  # genvm v0 has no layer limits; go-spacemesh still sends the (zero) message
        max_gas=parsed.max_gas,
        gas_price=tx.gas_price,
        max_spend=tx.max_spend,
        raw=parsed.raw,
    )


def stored_tx_message(tx_id: bytes, raw: bytes, accounts: AccountReader, hrp: str) -> types_pb2.Transaction:
    """A stored transaction; only its id and bytes when its header cannot be known (its principal was
    never spawned, as for some ineffective ones), as go-spacemesh sends a transaction without a header."""
    try:
        return transaction_message(parse_tx(raw, accounts), hrp)
    except InvalidInput:
        return types_pb2.Transaction(id=tx_id, raw=raw)


def _gas_price(raw: bytes) -> int:
    try:
        return decode_tx(raw).gas_price
    except DecodeError:
        return 0


# ------------------------------------------------------------------------------------------------
# NodeService


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """spacemesh.v1.NodeService over a node backend.

    Echo returns the request's msg (INVALID_ARGUMENT without one); Version the backend's version.
    Status: `synced_layer` is the layer up to which every layer has a hare output or a peer's data,
    `top_layer` the current layer by the clock (what go-spacemesh sends: a wallet shows "synced X of Y"),
    `verified_layer` the tortoise's verified layer.  NodeInfo: HRP, genesis layers and epoch size (there
    has been no re-genesis, so the first and the effective genesis are the same layer).
    """

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend

    async def Echo(self, request, context):  # noqa: N802, ANN001 - generated names
        if not request.HasField("msg"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Must include `Msg`")
        return node_pb2.EchoResponse(msg=types_pb2.SimpleString(value=request.msg.value))

    async def Version(self, request, context):  # noqa: N802, ANN001
        return node_pb2.VersionResponse(version_string=types_pb2.SimpleString(value=self.backend.version))

    async def Status(self, request, context):  # noqa: N802, ANN001
        sync = self.backend.sync_status()
        return node_pb2.StatusResponse(
            status=node_pb2.NodeStatus(
                connected_peers=sync.connected_peers,
                is_synced=sync.synced,
                synced_layer=types_pb2.LayerNumber(number=sync.processed_layer),
                top_layer=types_pb2.LayerNumber(number=sync.current_layer),
                verified_layer=types_pb2.LayerNumber(number=sync.verified_layer),
            )
        )

    async def NodeInfo(self, request, context):  # noqa: N802, ANN001
        config = self.backend.config
        return node_pb2.NodeInfoResponse(
            hrp=config.hrp,
            first_genesis=config.effective_genesis,
            effective_genesis=config.effective_genesis,
            epoch_size=config.layers_per_epoch,
        )


# ------------------------------------------------------------------------------------------------
# MeshService


def layer_status(number: int, row: LayerRow | None, verified: int) -> int:
    """The strongest status a layer has reached: APPLIED (its block is applied to the state), CONFIRMED
    (at or below the tortoise's verified layer), APPROVED (it has a hare output or a certificate)."""
    if row is not None and row.applied_block is not None:
        return _Layer.LAYER_STATUS_APPLIED
    if number <= verified:
        return _Layer.LAYER_STATUS_CONFIRMED
    if row is not None and (row.hare_block is not None or row.certified):
        return _Layer.LAYER_STATUS_APPROVED
    return _Layer.LAYER_STATUS_UNSPECIFIED


class MeshServicer(mesh_pb2_grpc.MeshServiceServicer):
    """spacemesh.v1.MeshService over a node backend.

    GenesisTime in Unix seconds; GenesisID the 20-byte genesis id; CurrentLayer / CurrentEpoch by the
    clock, 0 before genesis (the wire types are unsigned); LayerDuration in whole seconds (truncated, as
    go-spacemesh's `uint64(d.Seconds())`); EpochNumLayers.  A layer of LayersQuery / LayerStream carries
    its opinion (aggregated) hash, its state hash once applied, and its one canonical block (the applied
    block, else the hare output; none for an empty layer) with the block's stored transactions in block
    order, as go-spacemesh does.  `activations` stays empty, as in go-spacemesh since blocks stopped
    carrying ATX ids.
    """

    def __init__(self, backend: NodeBackend, max_layers: int = MAX_LAYERS_PER_QUERY) -> None:
        self.backend = backend
        self.config = backend.config
        self.max_layers = max_layers

    async def GenesisTime(self, request, context):  # noqa: N802, ANN001 - generated names
        return mesh_pb2.GenesisTimeResponse(unixtime=types_pb2.SimpleInt(value=self.config.require_genesis_time()))

    async def GenesisID(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.GenesisIDResponse(genesis_id=self.config.genesis_id)

    async def CurrentLayer(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.CurrentLayerResponse(layernum=types_pb2.LayerNumber(number=self.backend.current_layer()))

    async def CurrentEpoch(self, request, context):  # noqa: N802, ANN001
        epoch = self.backend.clock.epoch_of(self.backend.current_layer())
        return mesh_pb2.CurrentEpochResponse(epochnum=types_pb2.SimpleInt(value=epoch))

    async def LayerDuration(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.LayerDurationResponse(duration=types_pb2.SimpleInt(value=int(self.config.layer_duration)))

    async def EpochNumLayers(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.EpochNumLayersResponse(numlayers=types_pb2.SimpleInt(value=self.config.layers_per_epoch))

    def layer(self, number: int, row: LayerRow | None, verified: int) -> types_pb2.Layer:
        msg = types_pb2.Layer(number=types_pb2.LayerNumber(number=number), status=layer_status(number, row, verified))
        if row is None:
            return msg
        msg.hash = row.aggregated_hash or b""
        msg.root_state_hash = row.state_hash or b""
        block_id = row.applied_block if row.applied_block is not None else row.hare_block
        if block_id and block_id != EMPTY_BLOCK:
            msg.blocks.append(self._block(number, block_id))
        return msg

    def _block(self, layer: int, block_id: bytes) -> types_pb2.Block:
        msg = types_pb2.Block(id=block_id)
        block = next((b for b in self.backend.queries.blocks_in_layer(layer) if b.id == block_id), None)
        if block is None or not block.inner.tx_ids:
            return msg
        rows = {r.id: r for r in self.backend.queries.transactions(ids=block.inner.tx_ids)}
        hrp, store = self.config.hrp, self.backend.store
        msg.transactions.extend(
            stored_tx_message(tx_id, rows[tx_id].raw, store, hrp) for tx_id in block.inner.tx_ids if tx_id in rows
        )
        return msg

    def read_layer(self, number: int) -> types_pb2.Layer:
        rows = self.backend.queries.layers(number, number)
        return self.layer(number, rows[0] if rows else None, self.backend.sync_status().verified_layer)

    async def LayersQuery(self, request, context):  # noqa: N802, ANN001
        """Layers start..end inclusive (unset: 0), every one of them even when the node knows nothing of it.
        A range ending after the current layer or wider than `max_layers` is INVALID_ARGUMENT."""
        start, end = request.start_layer.number, request.end_layer.number
        current = self.backend.current_layer()
        if end < start:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"end_layer {end} is before start_layer {start}")
        if end > current:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"end_layer {end} is after the current layer {current}"
            )
        if end - start + 1 > self.max_layers:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"at most {self.max_layers} layers per query, {start}..{end} is {end - start + 1}: ask in parts",
            )
        verified = self.backend.sync_status().verified_layer
        rows = {row.number: row for row in self.backend.queries.layers(start, end)}
        return mesh_pb2.LayersQueryResponse(layer=[self.layer(n, rows.get(n), verified) for n in range(start, end + 1)])

    async def LayerStream(self, request, context):  # noqa: N802, ANN001
        """Each layer as the node applies it (from now on: no history).  The response headers go out once
        the stream is subscribed, so a client that awaits them misses no layer applied after."""
        try:
            with self.backend.events.subscribe(frozenset({"applied"})) as sub:
                await context.send_initial_metadata(())  # subscribed: the client's wait_for_connection() returns
                async for _, fields in sub:
                    yield mesh_pb2.LayerStreamResponse(layer=self.read_layer(fields["layer"]))
        except StreamOverflow as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))


# ------------------------------------------------------------------------------------------------
# GlobalStateService


def account_message(state: AccountState, hrp: str) -> global_state_pb2.Account:
    """Current = as of the last applied layer; projected = with the account's pending mempool
    transactions applied (its counter is the nonce the next transaction must use)."""
    return global_state_pb2.Account(
        account_id=_account_id(state.address, hrp),
        state_current=global_state_pb2.AccountState(
            counter=state.current.next_nonce, balance=types_pb2.Amount(value=state.current.balance)
        ),
        state_projected=global_state_pb2.AccountState(
            counter=state.projected_nonce, balance=types_pb2.Amount(value=state.projected_balance)
        ),
    )


def reward_message(row: RewardRow, hrp: str) -> types_pb2.Reward:
    return types_pb2.Reward(
        layer=types_pb2.LayerNumber(number=row.layer),
        total=types_pb2.Amount(value=row.total),
        layer_reward=types_pb2.Amount(value=row.layer_reward),
        layer_computed=types_pb2.LayerNumber(number=row.layer),  # rewards are computed as the layer is applied
        coinbase=_account_id(row.coinbase, hrp),
        smesher=types_pb2.SmesherId(id=row.smesher),
    )


def receipt_result(status: TxStatus, message: str) -> int:
    """The v1 receipt's result.  The v1 enum predates genvm's SUCCESS/FAILURE/INVALID: a failure for lack
    of funds and an ineffective one for a stale nonce get their own values (read off core.vm's messages),
    any other failure is a runtime exception and any other ineffective one unspecified."""
    if status == TxStatus.SUCCESS:
        return _Receipt.TRANSACTION_RESULT_EXECUTED
    if status == TxStatus.FAILURE:
        if message.startswith("insufficient balance"):
            return _Receipt.TRANSACTION_RESULT_INSUFFICIENT_FUNDS
        return _Receipt.TRANSACTION_RESULT_RUNTIME_EXCEPTION
    if message.startswith("nonce"):
        return _Receipt.TRANSACTION_RESULT_BAD_COUNTER
    return _Receipt.TRANSACTION_RESULT_UNSPECIFIED


_Fetch = Callable[[int, int], list]  # (offset, limit) -> items


def paginate(segments: Sequence[tuple[int, _Fetch]], offset: int, limit: int | None) -> list:
    """Items offset.. (at most `limit`) of segments laid end to end, fetching only the rows needed."""
    out: list = []
    for count, fetch in segments:
        if limit is not None and len(out) >= limit:
            break
        if offset >= count:
            offset -= count
            continue
        take = count - offset if limit is None else min(count - offset, limit - len(out))
        out += fetch(offset, take)
        offset = 0
    return out


class GlobalStateServicer(global_state_pb2_grpc.GlobalStateServiceServicer):
    """spacemesh.v1.GlobalStateService: Account and AccountDataQuery.

    An account the node has never seen is all zeros, not an error.  AccountDataQuery lists, in this
    order, the account's transaction receipts (results of transactions it sent or was touched by, by
    layer), its rewards as a coinbase (by layer) and the account itself; `total_results` counts them all
    and `offset`/`max_results` (0: no limit) page through.  go-spacemesh never fills receipts.
    """

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend
        self.hrp = backend.config.hrp

    async def Account(self, request, context):  # noqa: N802, ANN001
        if not request.HasField("account_id"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "`AccountId` must be provided")
        try:
            address = parse_address(request.account_id.address, self.hrp)
        except InvalidInput as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad account address: {e}")
        wrapper = account_message(self.backend.account(address), self.hrp)
        return global_state_pb2.AccountResponse(account_wrapper=wrapper)

    async def AccountDataQuery(self, request, context):  # noqa: N802, ANN001
        flt = request.filter
        if not request.HasField("filter") or not flt.HasField("account_id"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "`Filter.AccountId` must be provided")
        flags = flt.account_data_flags
        if not flags & 7:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "`Filter.AccountDataFlags` must set at least one of 1 (receipts), 2 (rewards), 4 (account)",
            )
        try:
            address = parse_address(flt.account_id.address, self.hrp)
        except InvalidInput as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad account address: {e}")
        queries, hrp = self.backend.queries, self.hrp
        segments: list[tuple[int, _Fetch]] = []
        if flags & global_state_pb2.ACCOUNT_DATA_FLAG_TRANSACTION_RECEIPT:
            # a layer bound of 0 keeps only transactions with a result (pending ones have no layer)
            segments.append((
                queries.count_transactions(address=address, start_layer=0),
                lambda off, lim: [
                    global_state_pb2.AccountData(receipt=self._receipt(row))
                    for row in queries.transactions(address=address, start_layer=0, offset=off, limit=lim)
                ],
            ))  # fmt: skip
        if flags & global_state_pb2.ACCOUNT_DATA_FLAG_REWARD:
            segments.append((
                queries.count_rewards(coinbase=address),
                lambda off, lim: [
                    global_state_pb2.AccountData(reward=reward_message(row, hrp))
                    for row in queries.rewards(coinbase=address, offset=off, limit=lim)
                ],
            ))  # fmt: skip
        if flags & global_state_pb2.ACCOUNT_DATA_FLAG_ACCOUNT:
            wrapper = global_state_pb2.AccountData(account_wrapper=account_message(self.backend.account(address), hrp))
            segments.append((1, lambda off, lim: [wrapper]))
        items = paginate(segments, request.offset, request.max_results or None)
        return global_state_pb2.AccountDataQueryResponse(
            total_results=sum(count for count, _ in segments), account_item=items
        )

    def _receipt(self, row: TxRow) -> global_state_pb2.TransactionReceipt:
        assert row.status is not None and row.layer is not None
        price = _gas_price(row.raw)
        index = 0
        if row.block is not None:
            block = next((b for b in self.backend.queries.blocks_in_layer(row.layer) if b.id == row.block), None)
            if block is not None and row.id in block.inner.tx_ids:
                index = block.inner.tx_ids.index(row.id)
        return global_state_pb2.TransactionReceipt(
            id=types_pb2.TransactionId(id=row.id),
            result=receipt_result(row.status, row.message),
            gas_used=row.fee // price if price else 0,
            fee=types_pb2.Amount(value=row.fee),
            layer=types_pb2.LayerNumber(number=row.layer),
            index=index,
        )


# ------------------------------------------------------------------------------------------------
# TransactionService


class TransactionServicer(tx_pb2_grpc.TransactionServiceServicer):
    """spacemesh.v1.TransactionService: submit, decode and follow transactions (messages and codes as
    go-spacemesh's: a refused submission is INVALID_ARGUMENT "Failed to verify transaction: <reason>")."""

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend
        self.hrp = backend.config.hrp

    async def SubmitTransaction(self, request, context):  # noqa: N802, ANN001
        """Admit, store and gossip a signed transaction.  A transaction the node already knows is not an
        error (go-spacemesh says "tx already exists"): the reply gives its state."""
        if not request.transaction:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "`Transaction` payload empty")
        try:
            tx_id = self.backend.submit(request.transaction)
        except NotSynced:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, NOT_SYNCED)
        except TxRejected as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Failed to verify transaction: {e}")
        state = self.backend.tx_state(tx_id) or TxState.MEMPOOL
        return tx_pb2.SubmitTransactionResponse(
            status=status_pb2.Status(code=0),  # google.rpc.Code.OK
            txstate=tx_pb2.TransactionState(id=types_pb2.TransactionId(id=tx_id), state=int(state)),
        )

    async def ParseTransaction(self, request, context):  # noqa: N802, ANN001
        """Decode against the current state: NOT_FOUND when the principal must exist and does not;
        INVALID_ARGUMENT for bytes that are no transaction and, with `verify`, for a bad signature."""
        if not request.transaction:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty transaction")
        try:
            parsed = parse_tx(request.transaction, self.backend.store)
        except NotSpawned as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except VaultPrincipal:  # v1 words it as it always has (v2alpha1: "a vault can never be ...")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a vault cannot be a transaction's principal")
        except InvalidInput as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        if request.verify and not parsed.signature_ok(self.backend.config.genesis_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "signature is invalid")
        return tx_pb2.ParseTransactionResponse(tx=transaction_message(parsed, self.hrp))

    async def TransactionsState(self, request, context):  # noqa: N802, ANN001
        """One state per id, in order; with include_transactions one transaction per id too, an empty one
        for an id the node does not know (as go-spacemesh, so that the two lists stay aligned)."""
        if not request.transaction_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "`TransactionId` must include one or more transaction IDs"
            )
        ids = [t.id for t in request.transaction_id]
        response = tx_pb2.TransactionsStateResponse(
            transactions_state=[
                tx_pb2.TransactionState(id=types_pb2.TransactionId(id=i), state=int(self.backend.tx_state(i)))
                for i in ids
            ]
        )
        if request.include_transactions:
            rows = {row.id: row for row in self.backend.queries.transactions(ids=ids)}
            node = self.backend.node
            for tx_id in ids:
                raw = rows[tx_id].raw if tx_id in rows else None
                if raw is None and node is not None and (pending := node.mempool.get(tx_id)) is not None:
                    raw = pending.raw
                known = raw is not None
                response.transactions.append(
                    stored_tx_message(tx_id, raw, self.backend.store, self.hrp) if known else types_pb2.Transaction()
                )
        return response

    def result(self, row: TxRow) -> tx_pb2.TransactionResult:
        assert row.status is not None and row.layer is not None
        price = _gas_price(row.raw)
        return tx_pb2.TransactionResult(
            tx=stored_tx_message(row.id, row.raw, self.backend.store, self.hrp),
            status=_RESULT_STATUS[row.status],
            message=row.message,
            gas_consumed=row.fee // price if price else 0,  # fixed-price genvm: the fee is all the gas, paid up front
            fee=row.fee,
            block=row.block or b"",
            layer=row.layer,
            touched_addresses=[encode_address(a, self.hrp) for a in self.backend.queries.touched_addresses(row.id)],
        )

    async def StreamResults(self, request, context):  # noqa: N802, ANN001
        """Stored results matching every filter given (id, an address the transaction touched or its
        principal, layers start..end; 0 = unbounded), by layer; with `watch`, then each new layer's as it is
        applied.  The subscription is taken before the history is read; a layer's results are sent once,
        again only if the layer is reverted and applied anew."""
        address = None
        if request.address:
            try:
                address = parse_address(request.address, self.hrp)
            except InvalidInput as e:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad address: {e}")
        if request.watch and request.end:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "watch stream should have an empty End argument")
        if request.end and request.end < request.start:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"end {request.end} is before start {request.start}"
            )
        ids = [request.id] if request.id else []
        start, end = request.start, request.end or None  # a start of 0 also leaves out pending transactions
        queries = self.backend.queries
        events = frozenset({"applied", "reverted"})
        try:
            with self.backend.events.subscribe(events) if request.watch else contextlib.nullcontext() as sub:
                if sub is not None:
                    await context.send_initial_metadata(())  # subscribed (go-spacemesh sends the header here too)
                sent_up_to = self.backend.store.last_applied() or 0  # the history covers every layer up to here
                offset = 0
                while True:
                    rows = queries.transactions(
                        ids=ids, address=address, start_layer=start, end_layer=end, offset=offset, limit=RESULTS_PAGE
                    )
                    for row in rows:
                        sent_up_to = max(sent_up_to, row.layer or 0)
                        yield self.result(row)
                    if len(rows) < RESULTS_PAGE:
                        break
                    offset += len(rows)
                if sub is None:
                    return
                async for event, fields in sub:
                    if event == "reverted":
                        sent_up_to = min(sent_up_to, fields["to_layer"])
                        continue
                    layer = fields["layer"]
                    if layer <= sent_up_to:
                        continue  # already in the history
                    sent_up_to = layer
                    if layer < start:
                        continue
                    for row in queries.transactions(ids=ids, address=address, start_layer=layer, end_layer=layer):
                        yield self.result(row)
        except StreamOverflow as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))


# ------------------------------------------------------------------------------------------------
# ActivationService


class ActivationServicer(activation_pb2_grpc.ActivationServiceServicer):
    """spacemesh.v1.ActivationService.Highest: the ATX with the highest tick height (the positioning
    and commitment ATX candidate postcli asks for; ties: the lowest id, malicious identities left out).

    With no ATX yet it answers the golden ATX (an Activation with only its id), as go-spacemesh does:
    that is the commitment ATX of a setup made before the first ATX.  `layer` is the first layer of the
    publish epoch (go-spacemesh has sent the epoch number there since v1.3, against the field's meaning).
    """

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend

    async def Highest(self, request, context):  # noqa: N802, ANN001
        backend = self.backend
        config = backend.config
        info = backend.atxs.highest_tick(backend.clock.epoch_of(backend.current_layer()))
        if info is None:
            golden = types_pb2.Activation(id=types_pb2.ActivationId(id=config.golden_atx))
            return activation_pb2.HighestResponse(atx=golden)
        blob = backend.atxs.blob(info.id)
        prev = ATXV1.decode(blob).inner.challenge.prev_atx_id if blob is not None else EMPTY_ATX
        return activation_pb2.HighestResponse(
            atx=types_pb2.Activation(
                id=types_pb2.ActivationId(id=info.id),
                layer=types_pb2.LayerNumber(number=info.publish_epoch * config.layers_per_epoch),
                smesher_id=types_pb2.SmesherId(id=info.node_id),
                coinbase=_account_id(info.coinbase, config.hrp),
                prev_atx=types_pb2.ActivationId(id=prev),
                num_units=info.num_units,
                sequence=info.sequence,
            )
        )


# ------------------------------------------------------------------------------------------------
# SmesherService


def post_setup_status(state: SmesherState) -> smesher_pb2.PostSetupStatus:
    """The PoST setup as the data directory shows it (what `smesh post status` reads).

    NOT_STARTED: no PoST directory or no metadata yet; COMPLETE: every label written and the VRF nonce
    found; IN_PROGRESS: partly written while smeshing (the builder initializes before anything else);
    PAUSED: partly written while not smeshing; ERROR: unreadable metadata or data, or initializing failed.
    """
    from core.post import metadata as md
    from core.post.layout import Layout, disk_state

    opts = smesher_pb2.PostSetupOpts(
        data_dir=str(state.post_dir) if state.post_dir is not None else "",
        num_units=state.num_units,
        max_file_size=state.max_file_size,
        provider_id=PROVIDER_CPU if state.provider is None else state.provider,
    )
    status = smesher_pb2.PostSetupStatus(opts=opts)
    if state.error and state.phase == "initializing":
        status.state = _Setup.STATE_ERROR
        return status
    if state.post_dir is None or not md.exists(state.post_dir):
        status.state = _Setup.STATE_NOT_STARTED
        return status
    try:
        meta = md.load(state.post_dir)
        disk = disk_state(state.post_dir, Layout.of(meta.num_units, meta.labels_per_unit, meta.max_file_size))
    except (SmeshError, OSError):  # bad metadata, a data file where none belongs, the directory gone
        status.state = _Setup.STATE_ERROR
        return status
    status.num_labels_written = disk.labels_present
    if disk.complete and meta.nonce is not None:
        status.state = _Setup.STATE_COMPLETE
    else:
        status.state = _Setup.STATE_IN_PROGRESS if state.smeshing else _Setup.STATE_PAUSED
    return status


class SmesherServicer(smesher_pb2_grpc.SmesherServiceServicer):
    """spacemesh.v1.SmesherService (private listener) over the node's smesher.

    Without a smesher IsSmeshing answers false and the methods about the smesher (SmesherIDs, Coinbase,
    PostSetupStatus, PostSetupStatusStream) FAILED_PRECONDITION "smeshing is not set up".  PostConfig (the
    network's PoST parameters) and PostSetupProviders (this machine's devices) answer regardless, as in
    go-spacemesh, so that a setup can be planned before smeshing starts.
    """

    def __init__(
        self,
        backend: NodeBackend,
        *,
        status_interval: float = STATUS_INTERVAL,
        benchmark: Callable[[int], float] = lambda provider: labels.benchmark(provider, BENCHMARK_SECONDS),
    ) -> None:
        self.backend = backend
        self.status_interval = status_interval
        self.benchmark = benchmark

    async def _state(self, context) -> SmesherState:  # noqa: ANN001
        if self.backend.smesher is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, NOT_SMESHING)
        return self.backend.smesher()

    async def IsSmeshing(self, request, context):  # noqa: N802, ANN001
        smesher = self.backend.smesher
        return smesher_pb2.IsSmeshingResponse(is_smeshing=smesher is not None and smesher().smeshing)

    async def SmesherIDs(self, request, context):  # noqa: N802, ANN001
        return smesher_pb2.SmesherIDsResponse(public_keys=[(await self._state(context)).node_id])

    async def Coinbase(self, request, context):  # noqa: N802, ANN001
        state = await self._state(context)
        return smesher_pb2.CoinbaseResponse(account_id=_account_id(state.coinbase, self.backend.config.hrp))

    async def PostSetupStatus(self, request, context):  # noqa: N802, ANN001
        return smesher_pb2.PostSetupStatusResponse(status=post_setup_status(await self._state(context)))

    async def PostSetupStatusStream(self, request, context):  # noqa: N802, ANN001
        """The setup status now and then every `status_interval` seconds, until the client cancels."""
        await self._state(context)
        while True:
            yield smesher_pb2.PostSetupStatusStreamResponse(status=post_setup_status(self.backend.smesher()))
            await asyncio.sleep(self.status_interval)

    async def PostConfig(self, request, context):  # noqa: N802, ANN001
        config = self.backend.config
        return smesher_pb2.PostConfigResponse(
            bits_per_label=BITS_PER_LABEL,
            labels_per_unit=config.labels_per_unit,
            min_num_units=config.min_num_units,
            max_num_units=config.max_num_units,
            k1=config.k1,
            k2=config.k2,
        )

    async def PostSetupProviders(self, request, context):  # noqa: N802, ANN001
        """The OpenCL devices and the CPU (`smesh post providers`); with `benchmark`, each one's labels per
        second at N=8192 in `performance`, measured in a worker thread, one provider after the other (0 for
        a provider whose benchmark fails, with a warning in the log)."""

        providers = await asyncio.to_thread(labels.list_providers)
        response = smesher_pb2.PostSetupProvidersResponse()
        for p in providers:
            performance = 0
            if request.benchmark:
                try:
                    performance = round(await asyncio.to_thread(self.benchmark, p.id))
                except Exception as e:  # noqa: BLE001 - a broken device must not hide the others
                    log.warning("benchmarking PoST provider %d (%s) failed: %s", p.id, p.name, e)
            response.providers.append(
                smesher_pb2.PostSetupProvider(
                    id=p.id,
                    model=p.name,
                    device_type=(
                        smesher_pb2.PostSetupProvider.DEVICE_CLASS_GPU
                        if p.kind == "gpu"
                        else smesher_pb2.PostSetupProvider.DEVICE_CLASS_CPU
                    ),
                    performance=performance,
                )
            )
        return response


# ------------------------------------------------------------------------------------------------
# registration


def add_public(server: grpc.aio.Server, backend: NodeBackend) -> list[str]:
    """Add the public-listener v1 services over `backend`; their full names (for reflection)."""
    return add_services(
        server,
        (node_pb2, node_pb2_grpc, "NodeService", NodeServicer(backend)),
        (mesh_pb2, mesh_pb2_grpc, "MeshService", MeshServicer(backend)),
        (global_state_pb2, global_state_pb2_grpc, "GlobalStateService", GlobalStateServicer(backend)),
        (tx_pb2, tx_pb2_grpc, "TransactionService", TransactionServicer(backend)),
        (activation_pb2, activation_pb2_grpc, "ActivationService", ActivationServicer(backend)),
    )


def add_private(server: grpc.aio.Server, backend: NodeBackend) -> list[str]:
    """Add the private-listener v1 services (SmesherService) over `backend`; their full names."""
    return add_services(server, (smesher_pb2, smesher_pb2_grpc, "SmesherService", SmesherServicer(backend)))
