"""spacemesh.v2alpha1 over the node backend (spec/api-ecosystem.md §1.4, spec/wallet.md §3.5–3.8).

Public listener (`add_public`): NetworkService.Info, NodeService.Status, AccountService.List,
TransactionService.{List, ParseTransaction, SubmitTransaction, EstimateGas}, RewardService.List,
LayerService.List, ActivationService.{List, ActivationsCount}.  Private listener (`add_private`): the
LayerStream, TransactionStream, RewardStream and ActivationStream services.

Semantics follow go-spacemesh's v2alpha1 servers:

* Every List needs a `limit` of 1..100: 0 or more answers INVALID_ARGUMENT ("limit must be set to <= 100",
  "limit is capped at 100").  A layer or epoch bound of 0 means "no bound" (the request fields are plain
  uint32s); TransactionService.List's optional bounds count when set.
* Addresses are bech32 strings with the node's HRP, both ways; a malformed one, one for another network,
  or an id (tx id, ATX id, node id) that is not 32 bytes answers INVALID_ARGUMENT.
* Transactions are described as the node parses them: the template is the spawned template for a spawn
  and the principal's template otherwise; `max_gas` is the fixed-price MaxGas of the transaction's kind
  (wallet.md §3.5), `max_spend` the amount of a spend.  A spend or drain whose principal is not spawned
  cannot be parsed (NOT_FOUND "account is not spawned", as go-spacemesh); listings stay lenient and
  describe such a stored transaction as well as they can.  Types: any wallet spawn is
  SINGLE_SIG_SPAWN and any multisig or vesting spawn MULTI_SIG_SPAWN (go-spacemesh never reports the
  *_SELFSPAWN values); a spend is SINGLE_SIG_SEND or MULTI_SIG_SEND by its principal's template.  Vault
  spawns and drains have no type or contents in this proto version (UNSPECIFIED, contents unset).
  Public keys in contents are 0x-prefixed hex, as Go's Hash32 prints them.
* Transaction results: status/message/fee/block/layer from the store; `gas_consumed` is the MaxGas the
  VM charges in the fixed-price regime (0 for an ineffective, INVALID transaction, which paid nothing).
* SubmitTransaction: an unsynced node answers FAILED_PRECONDITION; a transaction the node refuses (or
  cannot decode) answers INVALID_ARGUMENT "Failed to verify transaction: <reason>".
* AccountService.List answers one account per distinct requested address, in request order (unknown
  ones with zero state), paged by offset/limit; without addresses it pages through every known account,
  most recently changed first.  `current.layer` is the last applied layer (the state is as of it).
* LayerService: status APPLIED for an applied layer, VERIFIED once the tortoise verified it, UNSPECIFIED
  before it is applied.  Our state hash is per layer (over the accounts the layer changed); the hash that
  accumulates over layers is the aggregated (opinion) hash, so, as go-spacemesh does, `state_hash` is the
  layer's state hash, `cumulative_state_hash` the aggregated hash and `consensus_hash` the hex of its
  first 5 bytes.  `block` is the applied block (none for an empty layer).

Streams send the matching history from the store, in layer (epoch) order, and with `watch` then follow
the node: a layer, its transactions and its rewards when the node applies it ("applied" events), an ATX
when the node stores it ("atx" events).  The subscription is taken before history is read and every
read is stamped with how many events had reached the subscription by then, so an event whose effect a
read already showed is skipped: no item is sent twice, none falls between history and live.  A stream
whose subscriber fell too far behind ends with RESOURCE_EXHAUSTED.  Mempool transactions are not
streamed (the stream is of applied layers); reverted layers are sent again once re-applied.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from core.api import add_services
from core.api.backend import NodeBackend, NotSynced, StreamOverflow, Subscription, TxRejected
from core.api.gen.google.rpc import status_pb2
from core.api.gen.spacemesh.v2alpha1 import (
    account_pb2,
    account_pb2_grpc,
    activation_pb2,
    activation_pb2_grpc,
    block_pb2,
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
from core.config.node import NodeConfig
from core.errors import AddressError, DecodeError, TxError
from core.mesh.queries import AtxRow, LayerRow, RewardRow, TxRow
from core.node.wire import EMPTY_BLOCK
from core.tx.templates import MultisigSpawnArgs, Template
from core.tx.transaction import Method, SpendArgs
from core.txs.parsed import NotSpawned, ParsedTx, parse_tx
from core.vm.vm import TxStatus
from core.wallet.address import decode_address, encode_address

MAX_LIMIT = 100
NO_BOUND = (1 << 32) - 1  # above every layer and epoch number (uint32 on the wire)
ID_SIZE = 32  # tx ids, ATX ids and node ids
LAYER_WINDOW = 100  # layers a stream reads from the store at a time
TX_WINDOW = 20  # layers of transactions or rewards a stream reads at a time

_OK = status_pb2.Status(code=grpc.StatusCode.OK.value[0])


# -- errors --------------------------------------------------------------------------------------


class ApiError(Exception):
    """A request the API refuses: the status code and message the caller gets."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _unary(method: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    """A grpc.aio unary method from a synchronous body (store reads are quick and on the node's loop);
    an `ApiError` becomes the call's status."""

    @functools.wraps(method)
    async def call(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return method(self, request)
        except ApiError as e:
            await context.abort(e.code, e.message)

    return call


def _streaming(method: Callable[[Any, Any], AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """A grpc.aio server-streaming method from an async generator; the generator is closed (and its
    subscription released) when the call ends for any reason."""

    @functools.wraps(method)
    async def call(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async with contextlib.aclosing(method(self, request)) as items:
                async for item in items:
                    yield item
        except ApiError as e:
            await context.abort(e.code, e.message)
        except StreamOverflow as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))

    return call


# -- request fields ------------------------------------------------------------------------------


def check_limit(limit: int) -> None:
    if limit > MAX_LIMIT:
        raise invalid(f"limit is capped at {MAX_LIMIT}")
    if limit == 0:
        raise invalid(f"limit must be set to <= {MAX_LIMIT}")


def check_ids(ids: Iterable[bytes], what: str) -> list[bytes]:
    ids = list(ids)
    for value in ids:
        if len(value) != ID_SIZE:
            raise invalid(f"{what} must be {ID_SIZE} bytes, got {len(value)}")
    return ids


def upper(bound: int) -> int:
    """An end layer or epoch of a request: 0 means none."""
    return bound or NO_BOUND


# -- the backend as the API sees it --------------------------------------------------------------


class Api:
    """What every servicer shares: the backend, and turning store rows into v2alpha1 messages."""

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend
        self.hrp = backend.config.hrp
        self.genesis_id = backend.config.genesis_id

    # -- addresses ------------------------------------------------------------------------------

    def bech32(self, address: bytes) -> str:
        return encode_address(address, self.hrp)

    def address(self, text: str, what: str = "address") -> bytes:
        try:
            return decode_address(text, self.hrp)
        except AddressError as e:
            raise invalid(f"bad {what} {text!r}: {e}") from None

    # -- transactions ---------------------------------------------------------------------------

    def transaction(self, parsed: ParsedTx) -> tx_pb2.Transaction:
        """The v2alpha1 description of a transaction (see the module notes for types and contents)."""
        tx, kind = parsed.tx, parsed.kind
        msg = tx_pb2.Transaction(
            id=parsed.id,
            principal=self.bech32(tx.principal),
            template=self.bech32(parsed.template.address) if parsed.template is not None else "",
            method=int(tx.method),
            nonce=tx_pb2.Nonce(counter=tx.nonce),
            max_gas=parsed.max_gas,
            gas_price=tx.gas_price,
            max_spend=tx.max_spend,
            raw=parsed.raw,
        )
        T = tx_pb2.Transaction  # noqa: N806 - the enum's home
        if tx.method == Method.SPAWN and tx.template == Template.WALLET:
            msg.type = T.TRANSACTION_TYPE_SINGLE_SIG_SPAWN
            msg.contents.single_sig_spawn.pubkey = "0x" + tx.args.public_key.hex()
        elif tx.method == Method.SPAWN and isinstance(tx.args, MultisigSpawnArgs):
            msg.type = T.TRANSACTION_TYPE_MULTI_SIG_SPAWN
            msg.contents.multi_sig_spawn.required = tx.args.required
            msg.contents.multi_sig_spawn.pubkey.extend("0x" + key.hex() for key in tx.args.public_keys)
        elif tx.method == Method.SPEND and isinstance(tx.args, SpendArgs):
            single = kind.template == Template.WALLET if kind is not None else tx.signature is not None
            msg.type = T.TRANSACTION_TYPE_SINGLE_SIG_SEND if single else T.TRANSACTION_TYPE_MULTI_SIG_SEND
            msg.contents.send.destination = self.bech32(tx.args.destination)
            msg.contents.send.amount = tx.args.amount
        return msg

    def stored_transaction(self, row: TxRow) -> tuple[tx_pb2.Transaction, int]:
        """A stored transaction's description and the gas it consumed when executed (its MaxGas)."""
        try:
            parsed = parse_tx(row.raw, self.backend.store, strict=False)
        except (DecodeError, TxError):  # stored bytes always decoded once; keep what we know
            return tx_pb2.Transaction(id=row.id, principal=self.bech32(row.principal), raw=row.raw), 0
        msg = self.transaction(parsed)
        return msg, msg.max_gas

    def tx_response(self, row: TxRow, *, result: bool, state: bool) -> tx_pb2.TransactionResponse:
        tx, gas = self.stored_transaction(row)
        response = tx_pb2.TransactionResponse(tx=tx)
        if result and row.status is not None:
            response.tx_result.CopyFrom(
                tx_pb2.TransactionResult(
                    status=int(row.status),  # TxStatus values are the proto's
                    message=row.message,
                    gas_consumed=0 if row.status == TxStatus.INVALID else gas,
                    fee=row.fee,
                    block=row.block or b"",
                    layer=row.layer or 0,
                    touched_addresses=[self.bech32(a) for a in self.backend.queries.touched_addresses(row.id)],
                )
            )
        if state:
            response.tx_state = int(self.backend.tx_state(row.id))  # TxState values are the proto's
        return response

    # -- layers, rewards, activations ---------------------------------------------------------

    def verified_layer(self) -> int:
        return self.backend.sync_status().verified_layer

    @staticmethod
    def layer(row: LayerRow, verified: int) -> layer_pb2.Layer:
        L = layer_pb2.Layer  # noqa: N806 - the enum's home
        msg = layer_pb2.Layer(number=row.number)
        if row.applied_block is not None:
            msg.status = L.LAYER_STATUS_VERIFIED if row.number <= verified else L.LAYER_STATUS_APPLIED
            if row.applied_block != EMPTY_BLOCK:
                msg.block.CopyFrom(block_pb2.Block(id=row.applied_block))
        if row.aggregated_hash and any(row.aggregated_hash):
            msg.consensus_hash = row.aggregated_hash[:5].hex()
            msg.cumulative_state_hash = row.aggregated_hash
        if row.state_hash:
            msg.state_hash = row.state_hash
        return msg

    def reward(self, row: RewardRow) -> reward_pb2.Reward:
        return reward_pb2.Reward(
            layer=row.layer, total=row.total, layer_reward=row.layer_reward,
            coinbase=self.bech32(row.coinbase), smesher=row.smesher,
        )  # fmt: skip

    def activation(self, row: AtxRow) -> activation_pb2.Activation:
        return activation_pb2.Activation(
            id=row.id, smesher_id=row.smesher, publish_epoch=row.publish_epoch, coinbase=self.bech32(row.coinbase),
            weight=row.weight, height=row.height, num_units=row.num_units,
        )  # fmt: skip


# -- public services -----------------------------------------------------------------------------


def network_info(config: NodeConfig) -> network_pb2.NetworkInfoResponse:
    """The NetworkInfoResponse for a config (raises ConfigError without a genesis time)."""
    layer_duration = duration_pb2.Duration()
    layer_duration.FromNanoseconds(round(config.layer_duration * 1_000_000_000))
    return network_pb2.NetworkInfoResponse(
        genesis_time=timestamp_pb2.Timestamp(seconds=config.require_genesis_time()),
        layer_duration=layer_duration,
        genesis_id=config.genesis_id,
        hrp=config.hrp,
        effective_genesis_layer=config.effective_genesis,
        layers_per_epoch=config.layers_per_epoch,
        labels_per_unit=config.labels_per_unit,
    )


class NetworkServicer(network_pb2_grpc.NetworkServiceServicer):
    """Everything a wallet needs about the network in one call, from the NodeConfig alone."""

    def __init__(self, config: NodeConfig) -> None:
        self._info = network_info(config)  # static for the node's lifetime

    async def Info(self, request, context):  # noqa: N802, ANN001 - generated names
        return self._info


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """Sync status: a standalone node is SYNCED or SYNCING, never OFFLINE for want of peers."""

    def __init__(self, api: Api) -> None:
        self.api = api

    @_unary
    def Status(self, request):  # noqa: N802, ANN001
        status = self.api.backend.sync_status()
        R = node_pb2.NodeStatusResponse  # noqa: N806
        return R(
            connected_peers=status.connected_peers,
            status=R.SYNC_STATUS_SYNCED if status.synced else R.SYNC_STATUS_SYNCING,
            latest_layer=status.top_layer,
            applied_layer=status.applied_layer,
            processed_layer=status.processed_layer,
            current_layer=status.current_layer,
        )


class AccountServicer(account_pb2_grpc.AccountServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_unary
    def List(self, request):  # noqa: N802, ANN001
        check_limit(request.limit)
        api = self.api
        if request.addresses:
            wanted = list(dict.fromkeys(api.address(text) for text in request.addresses))
            page = wanted[request.offset : request.offset + request.limit]
        else:
            page = api.backend.queries.account_addresses(request.offset, request.limit)
        return account_pb2.AccountList(accounts=[self._account(address) for address in page])

    def _account(self, address: bytes) -> account_pb2.Account:
        state = self.api.backend.account(address)
        current = state.current
        return account_pb2.Account(
            address=self.api.bech32(address),
            current=account_pb2.AccountState(counter=current.next_nonce, balance=current.balance, layer=state.layer),
            projected=account_pb2.AccountState(counter=state.projected_nonce, balance=state.projected_balance),
            template=self.api.bech32(current.template) if current.template is not None else "",
        )


class TransactionServicer(tx_pb2_grpc.TransactionServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_unary
    def List(self, request):  # noqa: N802, ANN001
        check_limit(request.limit)
        api, queries = self.api, self.api.backend.queries
        where = dict(
            ids=check_ids(request.txid, "a transaction id"),
            address=api.address(request.address) if request.HasField("address") else None,
            start_layer=request.start_layer if request.HasField("start_layer") else None,
            end_layer=request.end_layer if request.HasField("end_layer") else None,
        )
        rows = queries.transactions(
            **where, offset=request.offset, limit=request.limit, descending=request.sort_order == v2alpha1_pb2.DESC
        )
        return tx_pb2.TransactionList(
            transactions=[
                api.tx_response(row, result=request.include_result, state=request.include_state) for row in rows
            ],
        )

    def _parse(self, raw: bytes, *, signed: bool = True) -> ParsedTx:
        if not raw:
            raise invalid("transaction is empty")
        try:
            return parse_tx(raw, self.api.backend.store, signed=signed)
        except NotSpawned as e:
            raise ApiError(grpc.StatusCode.NOT_FOUND, str(e)) from None
        except DecodeError as e:
            raise invalid(f"malformed transaction: {e}") from None
        except TxError as e:
            raise invalid(str(e)) from None

    @_unary
    def ParseTransaction(self, request):  # noqa: N802, ANN001
        parsed = self._parse(request.transaction)
        if request.verify and not parsed.signature_ok(self.api.genesis_id):
            raise invalid("tx failed verification: the signature does not verify for this account and network")
        return tx_pb2.ParseTransactionResponse(status=_OK, tx=self.api.transaction(parsed))

    @_unary
    def SubmitTransaction(self, request):  # noqa: N802, ANN001
        if not request.transaction:
            raise invalid("transaction is empty")
        try:
            tx_id = self.api.backend.submit(request.transaction)
        except NotSynced:
            message = "Cannot submit transaction, node is not in sync yet, try again later"
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, message) from None
        except TxRejected as e:
            raise invalid(f"Failed to verify transaction: {e}") from None
        return tx_pb2.SubmitTransactionResponse(status=_OK, tx_id=tx_id)

    @_unary
    def EstimateGas(self, request):  # noqa: N802, ANN001
        """MaxGas of the transaction's kind; an unsigned transaction is priced as it will be once signed."""
        try:
            parsed = self._parse(request.transaction)
        except ApiError as signed_error:
            if signed_error.code != grpc.StatusCode.INVALID_ARGUMENT or not request.transaction:
                raise
            try:
                parsed = self._parse(request.transaction, signed=False)
            except ApiError:
                raise signed_error from None
        return tx_pb2.EstimateGasResponse(status=_OK, recommended_max_gas=parsed.max_gas)


def _reward_filter(api: Api, request: Any) -> dict[str, bytes | None]:
    which = request.WhichOneof("filter_by")
    if which == "coinbase":
        return {"coinbase": api.address(request.coinbase, "coinbase"), "smesher": None}
    if which == "smesher":
        return {"coinbase": None, "smesher": check_ids([request.smesher], "a smesher id")[0]}
    return {"coinbase": None, "smesher": None}


class RewardServicer(reward_pb2_grpc.RewardServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_unary
    def List(self, request):  # noqa: N802, ANN001
        check_limit(request.limit)
        rows = self.api.backend.queries.rewards(
            **_reward_filter(self.api, request),
            start_layer=request.start_layer or None,
            end_layer=request.end_layer or None,
            offset=request.offset,
            limit=request.limit,
            descending=request.sort_order == v2alpha1_pb2.DESC,
        )
        return reward_pb2.RewardList(rewards=[self.api.reward(row) for row in rows])


class LayerServicer(layer_pb2_grpc.LayerServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_unary
    def List(self, request):  # noqa: N802, ANN001
        check_limit(request.limit)
        queries = self.api.backend.queries
        start, end = request.start_layer, upper(request.end_layer)
        rows = queries.layers(
            start, end, offset=request.offset, limit=request.limit, descending=request.sort_order == v2alpha1_pb2.DESC
        )
        verified = self.api.verified_layer()
        return layer_pb2.LayerList(layers=[self.api.layer(row, verified) for row in rows])


def _atx_filter(api: Api, request: Any) -> dict[str, Any]:
    return {
        "ids": check_ids(request.id, "an activation id"),
        "smesher_ids": check_ids(request.smesher_id, "a smesher id"),
        "coinbase": api.address(request.coinbase, "coinbase") if request.coinbase else None,
    }


class ActivationServicer(activation_pb2_grpc.ActivationServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_unary
    def List(self, request):  # noqa: N802, ANN001
        check_limit(request.limit)
        queries = self.api.backend.queries
        where = dict(
            _atx_filter(self.api, request), start_epoch=request.start_epoch or None, end_epoch=request.end_epoch or None
        )
        rows = queries.atxs(**where, offset=request.offset, limit=request.limit)
        return activation_pb2.ActivationList(activations=[self.api.activation(row) for row in rows])

    @_unary
    def ActivationsCount(self, request):  # noqa: N802, ANN001
        """ATXs published in `epoch`, or all of them without one."""
        epoch = request.epoch if request.HasField("epoch") else None
        return activation_pb2.ActivationsCountResponse(
            count=self.api.backend.queries.count_atxs(start_epoch=epoch, end_epoch=epoch)
        )


# -- private (streaming) services ----------------------------------------------------------------


class _Follow:
    """Stamps store reads with the number of node events that had reached the subscription when they
    ran, so a stream can tell which events a read already reflects (events reach the queue right after
    the store write they announce, on the same loop)."""

    def __init__(self, sub: Subscription | None) -> None:
        self.sub = sub
        self.consumed = 0  # events taken from the queue so far
        self._windows: list[tuple[int, int, int]] = []  # history reads (lo, hi, stamp), ascending, disjoint
        self._starts: list[int] = []  # their `lo`s, for bisecting
        self._live: dict[int, int] = {}  # key -> stamp of its latest single-key read

    def stamp(self) -> int:
        return self.consumed + (self.sub.queue.qsize() if self.sub is not None else 0)

    def read_window(self, lo: int, hi: int, read: Callable[[int, int], Sequence[Any]]) -> Sequence[Any]:
        stamp = self.stamp()
        self._starts.append(lo)
        self._windows.append((lo, hi, stamp))
        return read(lo, hi)

    def reading_key(self, key: int) -> None:
        """Note a read of one key's items, made now."""
        self._live[key] = self.stamp()

    def seen(self, key: int, index: int) -> bool:
        """Whether a read made after event `index` (0-based) already covered `key`."""
        if self._live.get(key, -1) > index:
            return True
        at = bisect.bisect_right(self._starts, key) - 1
        return at >= 0 and self._windows[at][1] >= key and self._windows[at][2] > index


async def history_then_live(
    sub: Subscription | None,
    *,
    start: int,
    end: int,
    top: Callable[[], int | None],
    window: int,
    read: Callable[[int, int], Sequence[Any]],
    key_of: Callable[[str, dict[str, Any]], int | None],
    read_event: Callable[[int, dict[str, Any]], Sequence[Any]],
    per_key: bool = True,
) -> AsyncIterator[Any]:
    """Items keyed by layer (or epoch) from `start` to `end`: what the store has, `window` keys a read,
    then, with a subscription, those of every event `key_of` maps into the range and no read showed yet.
    `per_key`: an event's read covers its whole key (a layer's rows), so later events for that key are
    judged against it; otherwise (ATXs, one per event) only history windows are."""
    follow = _Follow(sub)
    lo = start
    while lo <= end:
        highest = top()
        if highest is None or lo > highest:
            break
        hi = min(end, lo + window - 1)
        for item in follow.read_window(lo, hi, read):
            yield item
        lo = hi + 1
    if sub is None:
        return
    async for event, fields in sub:  # raises StreamOverflow once the hub cut this subscriber off
        index = follow.consumed
        follow.consumed += 1
        key = key_of(event, fields)
        if key is None or not start <= key <= end or follow.seen(key, index):
            continue
        if per_key:
            follow.reading_key(key)
        for item in read_event(key, fields):
            yield item


def _applied_layer(event: str, fields: dict[str, Any]) -> int | None:
    return fields["layer"] if event == "applied" else None


def _subscription(backend: NodeBackend, watch: bool) -> contextlib.AbstractContextManager[Subscription | None]:
    return backend.events.subscribe() if watch else contextlib.nullcontext()


async def by_applied_layer(
    backend: NodeBackend, watch: bool, start: int, end: int, top: Callable[[], int | None], window: int,
    read: Callable[[int, int], list[Any]],
) -> AsyncIterator[Any]:
    """Items of layers start..end (`read(lo, hi)`), then with `watch` those of each layer as it is applied."""
    with _subscription(backend, watch) as sub:
        async for item in history_then_live(
            sub, start=start, end=end, top=top, window=window, read=read, key_of=_applied_layer,
            read_event=lambda layer, _: read(layer, layer),
        ):  # fmt: skip
            yield item


class LayerStreamServicer(layer_pb2_grpc.LayerStreamServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_streaming
    async def Stream(self, request):  # noqa: N802, ANN001
        api, queries = self.api, self.api.backend.queries

        def read(lo: int, hi: int) -> list[layer_pb2.Layer]:
            verified = api.verified_layer()
            return [api.layer(row, verified) for row in queries.layers(lo, hi)]

        async for item in by_applied_layer(
            api.backend, request.watch, request.start_layer, upper(request.end_layer), queries.top_layer, LAYER_WINDOW,
            read,
        ):  # fmt: skip
            yield item


class TransactionStreamServicer(tx_pb2_grpc.TransactionStreamServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_streaming
    async def Stream(self, request):  # noqa: N802, ANN001
        api, queries = self.api, self.api.backend.queries
        ids = check_ids(request.txid, "a transaction id")
        principal = api.address(request.principal, "principal") if request.HasField("principal") else None

        def read(lo: int, hi: int) -> list[tx_pb2.TransactionResponse]:
            rows = queries.transactions(ids=ids, start_layer=lo, end_layer=hi)
            return [
                api.tx_response(row, result=True, state=True)
                for row in rows
                if principal is None or row.principal == principal
            ]

        end = request.end_layer if request.HasField("end_layer") else NO_BOUND
        async for item in by_applied_layer(
            api.backend, request.watch, request.start_layer, end, api.backend.store.last_applied, TX_WINDOW, read
        ):
            yield item


class RewardStreamServicer(reward_pb2_grpc.RewardStreamServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_streaming
    async def Stream(self, request):  # noqa: N802, ANN001
        api, queries = self.api, self.api.backend.queries
        where = _reward_filter(api, request)

        def read(lo: int, hi: int) -> list[reward_pb2.Reward]:
            return [api.reward(row) for row in queries.rewards(**where, start_layer=lo, end_layer=hi)]

        async for item in by_applied_layer(
            api.backend, request.watch, request.start_layer, upper(request.end_layer), api.backend.store.last_applied,
            TX_WINDOW, read,
        ):  # fmt: skip
            yield item


class ActivationStreamServicer(activation_pb2_grpc.ActivationStreamServiceServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    @_streaming
    async def Stream(self, request):  # noqa: N802, ANN001
        api, queries = self.api, self.api.backend.queries
        where = _atx_filter(api, request)

        def read(lo: int, hi: int) -> list[activation_pb2.Activation]:
            return [api.activation(row) for row in queries.atxs(**where, start_epoch=lo, end_epoch=hi)]

        def stored(_epoch: int, fields: dict[str, Any]) -> list[activation_pb2.Activation]:
            atx_id = bytes.fromhex(fields["id"])
            if where["ids"] and atx_id not in where["ids"]:
                return []
            return [api.activation(row) for row in queries.atxs(**dict(where, ids=[atx_id]))]

        def publish_epoch(event: str, fields: dict[str, Any]) -> int | None:
            return fields["target_epoch"] - 1 if event == "atx" else None

        with _subscription(api.backend, request.watch) as sub:
            async for item in history_then_live(
                sub, start=request.start_epoch, end=upper(request.end_epoch), top=queries.top_atx_epoch, window=1,
                read=read, key_of=publish_epoch, read_event=stored, per_key=False,
            ):  # fmt: skip
                yield item


# -- registration --------------------------------------------------------------------------------


def add_public(server: grpc.aio.Server, backend: NodeBackend) -> list[str]:
    """Serve the public v2alpha1 services on `server`; their full names."""
    api = Api(backend)
    return add_services(
        server,
        (network_pb2, network_pb2_grpc, "NetworkService", NetworkServicer(backend.config)),
        (node_pb2, node_pb2_grpc, "NodeService", NodeServicer(api)),
        (account_pb2, account_pb2_grpc, "AccountService", AccountServicer(api)),
        (tx_pb2, tx_pb2_grpc, "TransactionService", TransactionServicer(api)),
        (reward_pb2, reward_pb2_grpc, "RewardService", RewardServicer(api)),
        (layer_pb2, layer_pb2_grpc, "LayerService", LayerServicer(api)),
        (activation_pb2, activation_pb2_grpc, "ActivationService", ActivationServicer(api)),
    )


def add_private(server: grpc.aio.Server, backend: NodeBackend) -> list[str]:
    """Serve the v2alpha1 stream services (private listener) on `server`; their full names."""
    api = Api(backend)
    return add_services(
        server,
        (layer_pb2, layer_pb2_grpc, "LayerStreamService", LayerStreamServicer(api)),
        (tx_pb2, tx_pb2_grpc, "TransactionStreamService", TransactionStreamServicer(api)),
        (reward_pb2, reward_pb2_grpc, "RewardStreamService", RewardStreamServicer(api)),
        (activation_pb2, activation_pb2_grpc, "ActivationStreamService", ActivationStreamServicer(api)),
    )
