"""A small synchronous client for a node's public gRPC API (spec/api-ecosystem.md §1.4, §1.6).

Everything a wallet needs comes from spacemesh.v2alpha1 (NetworkService.Info, NodeService.Status,
AccountService.List, TransactionService.*, RewardService.List) plus v1 NodeService.Version.  Answers
are plain frozen dataclasses, never protobuf objects.  Every failure is one `ApiError` with a message
fit for one line: an unreachable node, a node that is not synced, a rejected request, a timeout or a
method the node does not serve each say so in words.

List methods page on their own: the node answers at most 100 items per request (go-spacemesh refuses
a limit of 0 or over 100), so a larger `limit` becomes several requests.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2

from core.api.gen.spacemesh.v1 import node_pb2_grpc as v1_node_grpc
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
from core.errors import InvalidInput, SmeshError

DEFAULT_TIMEOUT = 10.0  # seconds per call
MAX_PAGE = 100  # items per List request that go-spacemesh accepts
MAX_MESSAGE = 10 * 1024 * 1024  # go-spacemesh's grpc-recv-msg-size

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(SmeshError):
    """The node API answered with an error, or not at all."""


class NodeUnreachable(ApiError):
    """Nothing answers at the API address (gRPC UNAVAILABLE)."""


class NodeNotSynced(ApiError):
    """The node cannot judge the request until it has caught up (gRPC FAILED_PRECONDITION)."""


class NodeRejected(ApiError):
    """The node refused the request or transaction; the message says why (gRPC INVALID_ARGUMENT)."""


class NodeTimeout(ApiError):
    """The node did not answer within the call's deadline (gRPC DEADLINE_EXCEEDED)."""


class NotServed(ApiError):
    """The node does not implement the method (gRPC UNIMPLEMENTED), e.g. an older go-spacemesh."""


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def parse_api_target(text: str) -> tuple[str, int]:
    """(host, port) of 'HOST:PORT' or '[IPv6]:PORT'; InvalidInput for anything else."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or (":" in host and not bracketed) or "/" in host:
        raise InvalidInput(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:10092)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise InvalidInput(f"port {port} of {text!r} is out of range (1-65535)")
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput(f"{host!r} in {text!r} is not an IPv6 address") from None
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Answers


@dataclasses.dataclass(frozen=True)
class NetworkInfo:
    """NetworkService.Info: what a wallet needs to address and sign for the network."""

    genesis_time: int  # Unix seconds
    layer_duration: float  # seconds
    genesis_id: bytes  # 20 bytes, part of every signature
    hrp: str
    effective_genesis_layer: int
    layers_per_epoch: int
    labels_per_unit: int


@dataclasses.dataclass(frozen=True)
class NodeStatus:
    """NodeService.Status.  A node without peers reports OFFLINE even when it is a synced standalone node."""

    connected_peers: int
    status: str  # OFFLINE, SYNCING, SYNCED or UNSPECIFIED
    latest_layer: int
    applied_layer: int
    processed_layer: int
    current_layer: int

    @property
    def synced(self) -> bool:
        return self.status == "SYNCED"


@dataclasses.dataclass(frozen=True)
class AccountState:
    counter: int  # the next nonce
    balance: int  # smidge
    layer: int


@dataclasses.dataclass(frozen=True)
class Account:
    """AccountService.List: current state (applied layers) and projected state (with the mempool)."""

    address: str
    current: AccountState
    projected: AccountState
    template: str  # template address; empty until the account is spawned

    @property
    def spawned(self) -> bool:
        return bool(self.template)


@dataclasses.dataclass(frozen=True)
class TxView:
    """The decoded, immutable part of a transaction as the node parsed it."""

    id: bytes
    principal: str
    template: str
    method: int
    nonce: int
    max_gas: int
    gas_price: int
    max_spend: int
    raw: bytes
    type: str  # SINGLE_SIG_SEND, SINGLE_SIG_SELFSPAWN, ... or UNSPECIFIED
    destination: str | None = None  # sends
    amount: int | None = None  # sends
    public_keys: tuple[str, ...] = ()  # spawns
    required: int | None = None  # multisig spawns

    @property
    def max_fee(self) -> int:
        return self.max_gas * self.gas_price


@dataclasses.dataclass(frozen=True)
class TxResult:
    """How the VM applied a transaction."""

    status: str  # SUCCESS, FAILURE, INVALID or UNSPECIFIED
    message: str
    gas_consumed: int
    fee: int  # smidge
    block: bytes
    layer: int
    touched_addresses: tuple[str, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


@dataclasses.dataclass(frozen=True)
class TxRecord:
    """One entry of TransactionService.List: the transaction, its result once applied, its state if asked."""

    tx: TxView
    result: TxResult | None
    state: str | None  # MEMPOOL, MESH, PROCESSED, REJECTED, INEFFECTUAL, ... (None: not asked for)


@dataclasses.dataclass(frozen=True)
class Reward:
    layer: int
    total: int  # smidge: layer reward plus fees
    layer_reward: int
    coinbase: str
    smesher: bytes


@dataclasses.dataclass(frozen=True)
class LayerView:
    """One entry of LayerService.List."""

    number: int
    status: str  # UNSPECIFIED (not applied yet), APPLIED, VERIFIED
    block: bytes | None  # the applied block's id; None for an empty layer or one not applied
    state_hash: bytes
    cumulative_hash: bytes  # go-spacemesh's aggregated ("cumulative state") hash of layers up to this one


# --------------------------------------------------------------------------------------------
# Conversions from protobuf


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        name = enum.Name(value)
    except ValueError:  # a value newer than our protos
        return str(value)
    return name.removeprefix(prefix)


def _state(msg: account_pb2.AccountState) -> AccountState:
    return AccountState(counter=msg.counter, balance=msg.balance, layer=msg.layer)


def _account(msg: account_pb2.Account) -> Account:
    return Account(msg.address, _state(msg.current), _state(msg.projected), msg.template)


def _tx_view(msg: tx_pb2.Transaction) -> TxView:
    kind = msg.contents.WhichOneof("contents")
    extra: dict[str, Any] = {}
    if kind == "send":
        extra = {"destination": msg.contents.send.destination, "amount": msg.contents.send.amount}
    elif kind == "single_sig_spawn":
        extra = {"public_keys": (msg.contents.single_sig_spawn.pubkey,)}
    elif kind == "multi_sig_spawn":
        spawn = msg.contents.multi_sig_spawn
        extra = {"public_keys": tuple(spawn.pubkey), "required": spawn.required}
    return TxView(
        id=msg.id,
        principal=msg.principal,
        template=msg.template,
        method=msg.method,
        nonce=msg.nonce.counter,
        max_gas=msg.max_gas,
        gas_price=msg.gas_price,
        max_spend=msg.max_spend,
        raw=msg.raw,
        type=_enum_name(tx_pb2.Transaction.TransactionType, msg.type, "TRANSACTION_TYPE_"),
        **extra,
    )


def _tx_result(msg: tx_pb2.TransactionResult) -> TxResult:
    return TxResult(
        status=_enum_name(tx_pb2.TransactionResult.Status, msg.status, "TRANSACTION_STATUS_"),
        message=msg.message,
        gas_consumed=msg.gas_consumed,
        fee=msg.fee,
        block=msg.block,
        layer=msg.layer,
        touched_addresses=tuple(msg.touched_addresses),
    )


def _tx_record(msg: tx_pb2.TransactionResponse) -> TxRecord:
    result = _tx_result(msg.tx_result) if msg.HasField("tx_result") else None
    state = None
    if msg.HasField("tx_state"):
        state = _enum_name(tx_pb2.TransactionState, msg.tx_state, "TRANSACTION_STATE_")
    return TxRecord(_tx_view(msg.tx), result, state)


def _reward(msg: reward_pb2.Reward) -> Reward:
    return Reward(msg.layer, msg.total, msg.layer_reward, msg.coinbase, msg.smesher)


def _sort(newest_first: bool) -> int:
    return v2alpha1_pb2.SortOrder.DESC if newest_first else v2alpha1_pb2.SortOrder.ASC


def _layer(msg: layer_pb2.Layer) -> LayerView:
    return LayerView(
        number=msg.number,
        status=_enum_name(layer_pb2.Layer.LayerStatus, msg.status, "LAYER_STATUS_"),
        block=msg.block.id if msg.HasField("block") and msg.block.id else None,
        state_hash=msg.state_hash,
        cumulative_hash=msg.cumulative_state_hash,
    )


def _paged(fetch: Callable[[int, int], list[T]], limit: int, offset: int) -> list[T]:
    """Up to `limit` items from `offset` on, asking for at most MAX_PAGE at a time."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be at least 1 and offset at least 0")
    items: list[T] = []
    while len(items) < limit:
        want = min(MAX_PAGE, limit - len(items))
        page = fetch(offset + len(items), want)
        items.extend(page[:want])
        if len(page) < want:
            break
    return items


def _chunks(values: Sequence[T], size: int = MAX_PAGE) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --------------------------------------------------------------------------------------------
# The client


class NodeClient:
    """Calls to one node's public gRPC listener; use as a context manager (or call `close()`)."""

    def __init__(self, api: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        host, port = parse_api_target(api)
        self.api = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.timeout = timeout
        options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
        if _is_loopback(host):
            options.append(("grpc.enable_http_proxy", 0))  # a local node is never behind $http_proxy
        self._channel = grpc.insecure_channel(self.api, options=options)
        self._network = network_pb2_grpc.NetworkServiceStub(self._channel)
        self._node = node_pb2_grpc.NodeServiceStub(self._channel)
        self._accounts = account_pb2_grpc.AccountServiceStub(self._channel)
        self._txs = tx_pb2_grpc.TransactionServiceStub(self._channel)
        self._rewards = reward_pb2_grpc.RewardServiceStub(self._channel)
        self._layers = layer_pb2_grpc.LayerServiceStub(self._channel)
        self._activations = activation_pb2_grpc.ActivationServiceStub(self._channel)
        self._v1_node = v1_node_grpc.NodeServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _call(self, method: Callable[..., T], request: Any, name: str, what: str) -> T:
        """One unary call; `name` is the full method name, `what` the thing the node may reject."""
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code() if callable(getattr(e, "code", None)) else grpc.StatusCode.UNKNOWN
            details = e.details() if callable(getattr(e, "details", None)) else str(e)
            raise self.error(code, details or "", name, what) from None

    def _check_status(self, status: Any, name: str, what: str) -> None:
        """Submit, Parse and EstimateGas may report failure in a google.rpc.Status field instead."""
        if status is not None and status.code != 0:
            raise self.error(_CODES.get(status.code, grpc.StatusCode.UNKNOWN), status.message, name, what)

    def error(self, code: grpc.StatusCode, details: str, name: str, what: str) -> ApiError:
        """The one-line error for a failed call."""
        details = " ".join(details.split())
        if code == grpc.StatusCode.UNAVAILABLE:
            return NodeUnreachable(f"cannot reach the node API at {self.api} (is `smesh node run` running?)")
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            return NodeNotSynced(f"the node is not synced yet: {details or 'try again once it has caught up'}")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return NodeRejected(f"the node rejected {what}: {details or 'no reason given'}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return NodeTimeout(f"the node at {self.api} did not answer {name} within {self.timeout:g} s")
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return NotServed(f"the node at {self.api} does not serve {name}")
        return ApiError(f"the node at {self.api} failed {name}: {code.name}{': ' + details if details else ''}")

    # -- network and node ------------------------------------------------------------------------

    def network_info(self) -> NetworkInfo:
        """Genesis time and id, HRP, layer duration and epoch length (v2alpha1 NetworkService.Info)."""
        name = "spacemesh.v2alpha1.NetworkService/Info"
        r = self._call(self._network.Info, network_pb2.NetworkInfoRequest(), name, "the request")
        return NetworkInfo(
            genesis_time=r.genesis_time.seconds,
            layer_duration=r.layer_duration.seconds + r.layer_duration.nanos / 1e9,
            genesis_id=r.genesis_id,
            hrp=r.hrp,
            effective_genesis_layer=r.effective_genesis_layer,
            layers_per_epoch=r.layers_per_epoch,
            labels_per_unit=r.labels_per_unit,
        )

    def node_status(self) -> NodeStatus:
        """Peers, sync status and layers (v2alpha1 NodeService.Status)."""
        r = self._call(
            self._node.Status, node_pb2.NodeStatusRequest(), "spacemesh.v2alpha1.NodeService/Status", "the request"
        )
        return NodeStatus(
            connected_peers=r.connected_peers,
            status=_enum_name(node_pb2.NodeStatusResponse.SyncStatus, r.status, "SYNC_STATUS_"),
            latest_layer=r.latest_layer,
            applied_layer=r.applied_layer,
            processed_layer=r.processed_layer,
            current_layer=r.current_layer,
        )

    def version(self) -> str:
        """The node's version string (v1 NodeService.Version)."""
        r = self._call(self._v1_node.Version, empty_pb2.Empty(), "spacemesh.v1.NodeService/Version", "the request")
        return r.version_string.value

    # -- accounts --------------------------------------------------------------------------------

    def accounts(self, addresses: Sequence[str]) -> list[Account]:
        """Current and projected state of each address, in the order given.  An address the node does not
        list is reported as untouched: zero balance, nonce 0, not spawned."""
        found: dict[str, Account] = {}
        for chunk in _chunks(list(dict.fromkeys(addresses))):
            request = account_pb2.AccountRequest(addresses=list(chunk), offset=0, limit=len(chunk))
            r = self._call(
                self._accounts.List, request, "spacemesh.v2alpha1.AccountService/List", "the account query"
            )
            found.update((a.address, _account(a)) for a in r.accounts)
        zero = AccountState(0, 0, 0)
        return [found.get(a) or Account(a, zero, zero, "") for a in addresses]

    # -- transactions ----------------------------------------------------------------------------

    def submit(self, raw: bytes) -> bytes:
        """Submit signed transaction bytes; the transaction id."""
        name = "spacemesh.v2alpha1.TransactionService/SubmitTransaction"
        r = self._call(self._txs.SubmitTransaction, tx_pb2.SubmitTransactionRequest(transaction=raw), name,
                       "the transaction")
        self._check_status(r.status if r.HasField("status") else None, name, "the transaction")
        return r.tx_id

    def parse(self, raw: bytes, verify: bool = False) -> TxView:
        """How the node decodes transaction bytes (and, with `verify`, whether the signature is good)."""
        name = "spacemesh.v2alpha1.TransactionService/ParseTransaction"
        request = tx_pb2.ParseTransactionRequest(transaction=raw, verify=verify)
        r = self._call(self._txs.ParseTransaction, request, name, "the transaction")
        self._check_status(r.status if r.HasField("status") else None, name, "the transaction")
        return _tx_view(r.tx)

    def estimate_gas(self, raw: bytes) -> int:
        """The node's recommended max gas for a transaction."""
        name = "spacemesh.v2alpha1.TransactionService/EstimateGas"
        r = self._call(self._txs.EstimateGas, tx_pb2.EstimateGasRequest(transaction=raw), name, "the transaction")
        self._check_status(r.status if r.HasField("status") else None, name, "the transaction")
        return r.recommended_max_gas

    def transactions(
        self,
        *,
        txids: Sequence[bytes] | None = None,
        address: str | None = None,
        start_layer: int | None = None,
        end_layer: int | None = None,
        limit: int = MAX_PAGE,
        offset: int = 0,
        include_state: bool = True,
        include_result: bool = True,
        newest_first: bool = True,
    ) -> list[TxRecord]:
        """TransactionService.List: by ids (all of them, `limit`/`offset` ignored), or a page of an address's
        transactions (as principal or recipient), or of every transaction."""
        name = "spacemesh.v2alpha1.TransactionService/List"

        def request(**fields: Any) -> list[TxRecord]:
            msg = tx_pb2.TransactionRequest(
                include_state=include_state, include_result=include_result, sort_order=_sort(newest_first), **fields
            )
            if start_layer is not None:
                msg.start_layer = start_layer
            if end_layer is not None:
                msg.end_layer = end_layer
            if address is not None:
                msg.address = address
            r = self._call(self._txs.List, msg, name, "the transaction query")
            return [_tx_record(t) for t in r.transactions]

        if txids is not None:
            out: list[TxRecord] = []
            for chunk in _chunks(list(txids)):
                out.extend(request(txid=list(chunk), offset=0, limit=len(chunk)))
            return out
        return _paged(lambda off, n: request(offset=off, limit=n), limit, offset)

    def transaction(self, txid: bytes) -> TxRecord | None:
        """One transaction with its state and result, or None when the node does not know it."""
        return next((r for r in self.transactions(txids=[txid]) if r.tx.id == txid), None)

    # -- rewards ---------------------------------------------------------------------------------

    def rewards(
        self,
        *,
        coinbase: str | None = None,
        smesher: bytes | None = None,
        start_layer: int = 0,
        end_layer: int = 0,
        limit: int = MAX_PAGE,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[Reward]:
        """RewardService.List for a coinbase address or a smesher id (or every reward when neither)."""
        if coinbase is not None and smesher is not None:
            raise InvalidInput("filter rewards by coinbase or by smesher, not both")
        name = "spacemesh.v2alpha1.RewardService/List"

        def fetch(off: int, n: int) -> list[Reward]:
            msg = reward_pb2.RewardRequest(
                start_layer=start_layer, end_layer=end_layer, offset=off, limit=n, sort_order=_sort(newest_first)
            )
            if coinbase is not None:
                msg.coinbase = coinbase
            if smesher is not None:
                msg.smesher = smesher
            return [_reward(r) for r in self._call(self._rewards.List, msg, name, "the reward query").rewards]

        return _paged(fetch, limit, offset)

    # -- layers and activations ------------------------------------------------------------------

    def layers(self, start: int, end: int, *, limit: int = MAX_PAGE, newest_first: bool = False) -> list[LayerView]:
        """LayerService.List of layers start..end (inclusive)."""
        name = "spacemesh.v2alpha1.LayerService/List"

        def fetch(off: int, n: int) -> list[LayerView]:
            msg = layer_pb2.LayerRequest(
                start_layer=start, end_layer=end, offset=off, limit=n, sort_order=_sort(newest_first)
            )
            return [_layer(layer) for layer in self._call(self._layers.List, msg, name, "the layer query").layers]

        return _paged(fetch, limit, 0)

    def activations_count(self, epoch: int | None = None) -> int:
        """ATXs published in `epoch` (ActivationService.ActivationsCount), or all of them."""
        name = "spacemesh.v2alpha1.ActivationService/ActivationsCount"
        msg = activation_pb2.ActivationsCountRequest() if epoch is None else activation_pb2.ActivationsCountRequest(epoch=epoch)
        return self._call(self._activations.ActivationsCount, msg, name, "the request").count
