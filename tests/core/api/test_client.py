"""The node API client (core.api.client) against a fake node served in-process on a loopback port.

`FakeNode` answers the public v2alpha1 services and v1 NodeService.Version from a small state written
out in the test, records every request and submitted transaction, and behaves like go-spacemesh where it
matters to a wallet: List methods refuse a limit of 0 or over 100, a spend from an account that is not
spawned yet is refused, and a transaction gets its result only after a few polls.  The CLI tests
(tests/e2e/test_online_cli.py) drive the `smesh` executable against the same fake.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import blake3
import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from core.api.client import (
    ApiError,
    NodeClient,
    NodeNotSynced,
    NodeRejected,
    NodeTimeout,
    NodeUnreachable,
    NotServed,
    parse_api_target,
)
from core.api.gen.google.rpc import status_pb2
from core.api.gen.spacemesh.v1 import node_pb2 as v1_node_pb2
from core.api.gen.spacemesh.v1 import node_pb2_grpc as v1_node_grpc
from core.api.gen.spacemesh.v1 import types_pb2 as v1_types
from core.api.gen.spacemesh.v2alpha1 import (
    account_pb2,
    account_pb2_grpc,
    network_pb2,
    network_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    reward_pb2,
    reward_pb2_grpc,
    tx_pb2,
    tx_pb2_grpc,
)
from core.errors import InvalidInput
from core.tx.transaction import Method, SpendArgs, decode_tx
from core.wallet.address import encode_address

HRP = "standalone"
GENESIS_ID = bytes.fromhex("5a5b5c5d5e5f606162636465666768696a6b6c6d")
GENESIS_TIME = 1_700_000_000
WALLET_TEMPLATE = encode_address(bytes(23) + b"\x01", HRP)
SPAWN_GAS, SPEND_GAS = 100_432, 36_090  # spec/wallet.md §3.5 worked numbers: what the fake charges
TxType = tx_pb2.Transaction.TransactionType
TxState = tx_pb2.TransactionState
TxStatus = tx_pb2.TransactionResult.Status


def address(n: int) -> str:
    """A distinct valid address for test accounts."""
    return encode_address(bytes(4) + bytes([n]) * 20, HRP)


@dataclasses.dataclass
class FakeAccount:
    balance: int = 0
    counter: int = 0
    template: str = ""
    projected_balance: int | None = None  # None: same as current
    projected_counter: int | None = None


@dataclasses.dataclass
class FakeTx:
    id: bytes
    principal: str
    type: int
    nonce: int
    gas_price: int = 1
    max_gas: int = SPEND_GAS
    destination: str | None = None
    amount: int | None = None
    raw: bytes = b""
    state: int = TxState.TRANSACTION_STATE_MEMPOOL
    result: tx_pb2.TransactionResult | None = None
    polls: int = 0


@dataclasses.dataclass
class FakeNode:
    """State of the fake node; tests change fields to script its answers."""

    sync: int = node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCED
    peers: int = 3
    current_layer: int = 42
    version: str = "v1.7.6-fake"
    accounts: dict[str, FakeAccount] = dataclasses.field(default_factory=dict)
    txs: dict[bytes, FakeTx] = dataclasses.field(default_factory=dict)  # in submission order
    rewards: list[reward_pb2.Reward] = dataclasses.field(default_factory=list)
    submitted: list[bytes] = dataclasses.field(default_factory=list)  # raw bytes, accepted or not
    requests: list[tuple[str, object]] = dataclasses.field(default_factory=list)
    polls_to_apply: int = 2  # List(txid) calls before a pending tx gets its result
    spend_outcome: tuple[str, str] = ("SUCCESS", "")  # or ("FAILURE", msg), ("INEFFECTUAL", "")
    reject: str | None = None  # SubmitTransaction fails with INVALID_ARGUMENT and this text
    reject_in_band: str | None = None  # ... or answers with this in its status field
    errors: dict[str, tuple[grpc.StatusCode, str]] = dataclasses.field(default_factory=dict)  # method → error
    delays: dict[str, float] = dataclasses.field(default_factory=dict)  # method → seconds before answering
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def enter(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        """Record the request; then sleep or fail as the test scripted."""
        with self.lock:
            self.requests.append((method, request))
        if method in self.delays:
            time.sleep(self.delays[method])
        if method in self.errors:
            context.abort(*self.errors[method])

    def requests_of(self, method: str) -> list:
        return [r for m, r in self.requests if m == method]

    def account(self, addr: str) -> FakeAccount:
        return self.accounts.setdefault(addr, FakeAccount())

    def add_tx(self, tx: FakeTx, layer: int | None = None, status: int = TxStatus.TRANSACTION_STATUS_SUCCESS,
               message: str = "") -> FakeTx:
        """A transaction in the fake's history (applied in `layer`, or pending when None)."""
        if layer is not None:
            tx.state = TxState.TRANSACTION_STATE_PROCESSED
            tx.result = tx_pb2.TransactionResult(status=status, message=message, gas_consumed=tx.max_gas,
                                                 fee=tx.max_gas * tx.gas_price, layer=layer, block=b"\xbb" * 20)
        self.txs[tx.id] = tx
        return tx

    # -- what a node does with a submitted transaction -------------------------------------------

    def submit(self, raw: bytes) -> bytes:
        """Admit a transaction like a node's mempool would; raises ValueError with the reason."""
        tx = decode_tx(raw)
        principal = encode_address(tx.principal, HRP)
        account = self.account(principal)
        self_spawn = tx.method == Method.SPAWN
        if not self_spawn and not account.template:
            raise ValueError("principal account is not spawned")
        projected = account.counter if account.projected_counter is None else account.projected_counter
        if tx.nonce < projected:
            raise ValueError(f"bad nonce: {tx.nonce} < {projected}")
        spend = isinstance(tx.args, SpendArgs)
        self.add_tx(FakeTx(
            id=tx.id, principal=principal, raw=raw, nonce=tx.nonce, gas_price=tx.gas_price,
            type=TxType.TRANSACTION_TYPE_SINGLE_SIG_SEND if spend else TxType.TRANSACTION_TYPE_SINGLE_SIG_SELFSPAWN,
            max_gas=SPEND_GAS if spend else SPAWN_GAS,
            destination=encode_address(tx.args.destination, HRP) if spend else None,
            amount=tx.args.amount if spend else None,
        ))
        account.projected_counter = tx.nonce + 1
        return tx.id

    def poll(self, tx: FakeTx) -> None:
        """A pending transaction gets its result on its `polls_to_apply`-th poll."""
        tx.polls += 1
        if tx.state != TxState.TRANSACTION_STATE_MEMPOOL or tx.polls < self.polls_to_apply:
            return
        self.current_layer += 1
        account = self.account(tx.principal)
        if tx.type == TxType.TRANSACTION_TYPE_SINGLE_SIG_SELFSPAWN:
            account.template = WALLET_TEMPLATE
            outcome = ("SUCCESS", "")
        else:
            outcome = self.spend_outcome
        if outcome[0] == "INEFFECTUAL":
            tx.state = TxState.TRANSACTION_STATE_INEFFECTUAL
            return
        fee = tx.max_gas * tx.gas_price
        account.counter, account.balance = tx.nonce + 1, account.balance - fee
        if outcome[0] == "SUCCESS" and tx.amount:
            account.balance -= tx.amount
            self.account(tx.destination).balance += tx.amount
        tx.state = TxState.TRANSACTION_STATE_PROCESSED
        tx.result = tx_pb2.TransactionResult(
            status=TxStatus.Value(f"TRANSACTION_STATUS_{outcome[0]}"), message=outcome[1], gas_consumed=tx.max_gas,
            fee=fee, layer=self.current_layer, block=b"\xbb" * 20, touched_addresses=[tx.principal],
        )


def _check_limit(limit: int, context: grpc.ServicerContext) -> None:
    """go-spacemesh's v2alpha1 List rules."""
    if limit == 0:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must be set to <= 100")
    if limit > 100:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit is capped at 100")


def _tx_message(tx: FakeTx) -> tx_pb2.Transaction:
    contents = tx_pb2.TransactionContents()
    if tx.destination is not None:
        contents.send.destination, contents.send.amount = tx.destination, tx.amount
    return tx_pb2.Transaction(
        id=tx.id, principal=tx.principal, template=WALLET_TEMPLATE, method=16 if tx.destination else 0,
        nonce=tx_pb2.Nonce(counter=tx.nonce), max_gas=tx.max_gas, gas_price=tx.gas_price,
        max_spend=tx.amount or 0, raw=tx.raw, type=tx.type, contents=contents,
    )


class FakeNetwork(network_pb2_grpc.NetworkServiceServicer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake

    def Info(self, request, context):  # noqa: N802, ANN001
        self.fake.enter("Info", request, context)
        return network_pb2.NetworkInfoResponse(
            genesis_time=timestamp_pb2.Timestamp(seconds=GENESIS_TIME),
            layer_duration=duration_pb2.Duration(seconds=5),
            genesis_id=GENESIS_ID, hrp=HRP, effective_genesis_layer=7, layers_per_epoch=4, labels_per_unit=1024,
        )


class FakeNodeService(node_pb2_grpc.NodeServiceServicer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake

    def Status(self, request, context):  # noqa: N802, ANN001
        f = self.fake
        f.enter("Status", request, context)
        return node_pb2.NodeStatusResponse(
            connected_peers=f.peers, status=f.sync, latest_layer=f.current_layer, applied_layer=f.current_layer - 1,
            processed_layer=f.current_layer - 1, current_layer=f.current_layer,
        )


class FakeV1Node(v1_node_grpc.NodeServiceServicer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake

    def Version(self, request, context):  # noqa: N802, ANN001
        self.fake.enter("Version", request, context)
        return v1_node_pb2.VersionResponse(version_string=v1_types.SimpleString(value=self.fake.version))


class FakeAccounts(account_pb2_grpc.AccountServiceServicer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake

    def List(self, request, context):  # noqa: N802, ANN001
        f = self.fake
        f.enter("AccountList", request, context)
        _check_limit(request.limit, context)
        out = []
        with f.lock:
            for addr in list(request.addresses)[request.offset : request.offset + request.limit]:
                a = f.accounts.get(addr)
                if a is None:
                    continue  # the client must fill in untouched accounts
                pb, pc = a.projected_balance, a.projected_counter
                out.append(account_pb2.Account(
                    address=addr, template=a.template,
                    current=account_pb2.AccountState(counter=a.counter, balance=a.balance, layer=f.current_layer - 1),
                    projected=account_pb2.AccountState(
                        counter=a.counter if pc is None else pc, balance=a.balance if pb is None else pb,
                        layer=f.current_layer,
                    ),
                ))
        return account_pb2.AccountList(accounts=out)


class FakeTransactions(tx_pb2_grpc.TransactionServiceServicer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake

    def List(self, request, context):  # noqa: N802, ANN001
        f = self.fake
        f.enter("TxList", request, context)
        _check_limit(request.limit, context)
        with f.lock:
            if request.txid:
                found = [f.txs[i] for i in request.txid if i in f.txs]
                for tx in found:
                    f.poll(tx)
            else:
                found = [
                    t for t in f.txs.values()
                    if not request.HasField("address") or request.address in (t.principal, t.destination)
                ]
                # pending ones are newest; then by layer; then submission order
                found.sort(key=lambda t: (t.result.layer if t.result is not None else 1 << 32))
                if request.sort_order == 1:
                    found.reverse()
            page = found[request.offset : request.offset + request.limit]
            out = []
            for tx in page:
                item = tx_pb2.TransactionResponse(tx=_tx_message(tx))
                if request.include_state:
                    item.tx_state = tx.state
                if request.include_result and tx.result is not None:
                    item.tx_result.CopyFrom(tx.result)
                out.append(item)
        return tx_pb2.TransactionList(transactions=out)

    def SubmitTransaction(self, request, context):  # noqa: N802, ANN001
        f = self.fake
        f.enter("Submit", request, context)
        with f.lock:
            f.submitted.append(request.transaction)
        if f.sync != node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "Cannot submit transaction, node is not in sync yet, try again later")
        if f.reject is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f.reject)
        if f.reject_in_band is not None:
            return tx_pb2.SubmitTransactionResponse(status=status_pb2.Status(code=3, message=f.reject_in_band))
        with f.lock:
            try:
                tx_id = f.submit(request.transaction)
            except ValueError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Failed to verify transaction: {e}")
        return tx_pb2.SubmitTransactionResponse(status=status_pb2.Status(code=0), tx_id=tx_id)

    def ParseTransaction(self, request, context):  # noqa: N802, ANN001
        self.fake.enter("Parse", request, context)
        tx = decode_tx(request.transaction)
        return tx_pb2.ParseTransactionResponse(
            status=status_pb2.Status(code=0),
            tx=_tx_message(FakeTx(id=tx.id, principal=encode_address(tx.principal, HRP), nonce=tx.nonce,
                                  type=TxType.TRANSACTION_TYPE_SINGLE_SIG_SEND, raw=request.transaction,
                                  destination=encode_address(tx.args.destination, HRP), amount=tx.args.amount)),
        )

    def EstimateGas(self, request, context):  # noqa: N802, ANN001
        self.fake.enter("EstimateGas", request, context)
        return tx_pb2.EstimateGasResponse(status=status_pb2.Status(code=0), recommended_max_gas=SPEND_GAS)


class FakeRewards(reward_pb2_grpc.RewardServiceServicer):
    def __init__(self, fake: FakeNode) -> None:
        self.fake = fake

    def List(self, request, context):  # noqa: N802, ANN001
        f = self.fake
        f.enter("RewardList", request, context)
        _check_limit(request.limit, context)
        which = request.WhichOneof("filter_by")
        found = [
            r for r in f.rewards
            if which is None or (which == "coinbase" and r.coinbase == request.coinbase)
            or (which == "smesher" and r.smesher == request.smesher)
        ]
        found.sort(key=lambda r: r.layer, reverse=request.sort_order == 1)
        return reward_pb2.RewardList(rewards=found[request.offset : request.offset + request.limit])


@contextlib.contextmanager
def serving(fake: FakeNode, v1: bool = True) -> Iterator[str]:
    """Serve `fake` on a loopback port in background threads; yields HOST:PORT."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    network_pb2_grpc.add_NetworkServiceServicer_to_server(FakeNetwork(fake), server)
    node_pb2_grpc.add_NodeServiceServicer_to_server(FakeNodeService(fake), server)
    account_pb2_grpc.add_AccountServiceServicer_to_server(FakeAccounts(fake), server)
    tx_pb2_grpc.add_TransactionServiceServicer_to_server(FakeTransactions(fake), server)
    reward_pb2_grpc.add_RewardServiceServicer_to_server(FakeRewards(fake), server)
    if v1:
        v1_node_grpc.add_NodeServiceServicer_to_server(FakeV1Node(fake), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Tests


@pytest.fixture
def fake() -> FakeNode:
    return FakeNode()


@pytest.fixture
def client(fake: FakeNode) -> Iterator[NodeClient]:
    with serving(fake) as api, NodeClient(api, timeout=5) as c:
        yield c


def signed_spend(nonce: int = 0, amount: int = 1000) -> bytes:
    """A spend from account 1's address, 'signed' with zeros: the fake does not check signatures."""
    from core.tx.build import spend

    tx = spend(bytes(4) + b"\x01" * 20, bytes(4) + b"\x02" * 20, amount, nonce)
    return tx.with_signature(bytes(64)).raw()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:10092", ("127.0.0.1", 10092)), ("localhost:9092", ("localhost", 9092)),
     ("[::1]:9092", ("::1", 9092)), (" node.example:1 ", ("node.example", 1))],
)
def test_api_targets(text, expected):
    assert parse_api_target(text) == expected


@pytest.mark.parametrize("text", ["foo", "127.0.0.1", ":9092", "host:", "host:0", "host:65536", "host:12x",
                                  "::1:9092", "[nope]:1", "http://host:1"])
def test_bad_api_targets(text):
    with pytest.raises(InvalidInput):
        parse_api_target(text)


def test_network_status_and_version(client, fake):
    info = client.network_info()
    assert (info.hrp, info.genesis_id, info.genesis_time) == (HRP, GENESIS_ID, GENESIS_TIME)
    assert (info.layer_duration, info.layers_per_epoch, info.effective_genesis_layer, info.labels_per_unit) == (
        5.0, 4, 7, 1024)
    fake.sync = node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING
    status = client.node_status()
    assert (status.status, status.synced, status.connected_peers) == ("SYNCING", False, 3)
    assert (status.current_layer, status.latest_layer, status.applied_layer, status.processed_layer) == (42, 42, 41, 41)
    assert client.version() == "v1.7.6-fake"


def test_accounts_in_order_untouched_ones_zero_and_chunked(client, fake):
    fake.accounts[address(1)] = FakeAccount(balance=500, counter=3, template=WALLET_TEMPLATE, projected_balance=400,
                                            projected_counter=4)
    many = [address(n) for n in range(2, 152)]  # 150 untouched addresses
    got = client.accounts([address(1), *many])
    assert len(got) == 151
    first = got[0]
    assert (first.address, first.spawned, first.template) == (address(1), True, WALLET_TEMPLATE)
    assert (first.current.balance, first.current.counter, first.current.layer) == (500, 3, 41)
    assert (first.projected.balance, first.projected.counter) == (400, 4)
    assert [a.address for a in got[1:]] == many
    assert all(a.current.balance == 0 and a.projected.counter == 0 and not a.spawned for a in got[1:])
    assert [r.limit for r in fake.requests_of("AccountList")] == [100, 51]


def test_submit_records_the_bytes_and_returns_the_id(client, fake):
    fake.accounts[address(1)] = FakeAccount(balance=10**9, template=WALLET_TEMPLATE)
    raw = signed_spend()
    assert client.submit(raw) == blake3.blake3(raw).digest()
    assert fake.submitted == [raw]


def test_rejections_name_the_reason(client, fake):
    fake.reject = "insufficient balance"
    with pytest.raises(NodeRejected, match=r"^the node rejected the transaction: insufficient balance$"):
        client.submit(signed_spend())
    fake.reject, fake.reject_in_band = None, "tx already exists"
    with pytest.raises(NodeRejected, match="^the node rejected the transaction: tx already exists$"):
        client.submit(signed_spend())


def test_not_synced(client, fake):
    fake.sync = node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING
    with pytest.raises(NodeNotSynced) as e:
        client.submit(signed_spend())
    assert str(e.value) == (
        "the node is not synced yet: Cannot submit transaction, node is not in sync yet, try again later")


def test_unreachable():
    api = f"127.0.0.1:{free_port()}"
    with NodeClient(api, timeout=5) as c, pytest.raises(NodeUnreachable) as e:
        c.network_info()
    assert str(e.value) == f"cannot reach the node API at {api} (is `smesh node run` running?)"


def test_unimplemented_method(fake):
    with serving(fake, v1=False) as api, NodeClient(api, timeout=5) as c:
        with pytest.raises(NotServed) as e:
            c.version()
        assert str(e.value) == f"the node at {api} does not serve spacemesh.v1.NodeService/Version"
        assert c.network_info().hrp == HRP  # the rest still works


def test_deadline(fake):
    fake.delays["Status"] = 1.0
    with serving(fake) as api, NodeClient(api, timeout=0.2) as c, pytest.raises(NodeTimeout) as e:
        c.node_status()
    assert str(e.value) == f"the node at {api} did not answer spacemesh.v2alpha1.NodeService/Status within 0.2 s"


def test_other_errors_keep_code_and_details(client, fake):
    fake.errors["RewardList"] = (grpc.StatusCode.INTERNAL, "database is locked")
    with pytest.raises(ApiError) as e:
        client.rewards(coinbase=address(1))
    assert str(e.value) == (
        f"the node at {client.api} failed spacemesh.v2alpha1.RewardService/List: INTERNAL: database is locked")
    fake.errors["Info"] = (grpc.StatusCode.INVALID_ARGUMENT, "bad\n  request")
    with pytest.raises(NodeRejected, match="^the node rejected the request: bad request$"):
        client.network_info()


def test_transaction_state_and_result(client, fake):
    fake.accounts[address(1)] = FakeAccount(balance=10**9, template=WALLET_TEMPLATE)
    tx_id = client.submit(signed_spend(amount=777))
    pending = client.transaction(tx_id)  # first poll: still in the mempool
    assert (pending.state, pending.result) == ("MEMPOOL", None)
    assert (pending.tx.id, pending.tx.principal, pending.tx.nonce) == (tx_id, address(1), 0)
    assert (pending.tx.type, pending.tx.destination, pending.tx.amount) == ("SINGLE_SIG_SEND", address(2), 777)
    assert (pending.tx.max_gas, pending.tx.gas_price, pending.tx.max_fee) == (SPEND_GAS, 1, SPEND_GAS)
    applied = client.transaction(tx_id)  # second poll: applied in the next layer
    assert applied.state == "PROCESSED"
    r = applied.result
    assert (r.status, r.succeeded, r.fee, r.gas_consumed, r.layer, r.block) == (
        "SUCCESS", True, SPEND_GAS, SPEND_GAS, 43, b"\xbb" * 20)
    assert r.touched_addresses == (address(1),)
    assert client.transaction(b"\x99" * 32) is None
    last = fake.requests_of("TxList")[-1]
    assert list(last.txid) == [b"\x99" * 32] and last.include_state and last.include_result and last.limit == 1


def test_transactions_of_an_address_page_newest_first(client, fake):
    for n in range(250):  # applied in layers 1..250, one each
        fake.add_tx(FakeTx(id=n.to_bytes(32, "big"), principal=address(1), type=TxType.TRANSACTION_TYPE_SINGLE_SIG_SEND,
                           nonce=n, destination=address(2), amount=n), layer=n + 1)
    fake.add_tx(FakeTx(id=b"\xff" * 32, principal=address(3), type=TxType.TRANSACTION_TYPE_SINGLE_SIG_SEND, nonce=0,
                       destination=address(4), amount=1))  # someone else's, pending
    got = client.transactions(address=address(2), limit=230, offset=5)
    assert [r.tx.nonce for r in got] == list(range(244, 14, -1))
    assert [(r.limit, r.offset) for r in fake.requests_of("TxList")] == [(100, 5), (100, 105), (30, 205)]
    assert all(r.address == address(2) and r.sort_order == 1 for r in fake.requests_of("TxList"))
    assert [r.tx.nonce for r in client.transactions(address=address(1), limit=500)][:3] == [249, 248, 247]
    assert len(client.transactions(address=address(1), limit=500)) == 250  # a short page ends it
    oldest = client.transactions(address=address(1), limit=2, newest_first=False)
    assert [r.result.layer for r in oldest] == [1, 2]


def test_rewards_by_coinbase_or_smesher(client, fake):
    fake.rewards = [
        reward_pb2.Reward(layer=layer, total=1000 + layer, layer_reward=1000, coinbase=address(1 + layer % 2),
                          smesher=bytes([layer % 2]) * 32)
        for layer in range(10, 20)
    ]
    mine = client.rewards(coinbase=address(1), limit=3)
    assert [(r.layer, r.total, r.layer_reward, r.coinbase, r.smesher) for r in mine] == [
        (18, 1018, 1000, address(1), bytes(32)), (16, 1016, 1000, address(1), bytes(32)),
        (14, 1014, 1000, address(1), bytes(32))]
    by_id = client.rewards(smesher=b"\x01" * 32, offset=1)
    assert [r.layer for r in by_id] == [17, 15, 13, 11]
    with pytest.raises(InvalidInput):
        client.rewards(coinbase=address(1), smesher=b"\x01" * 32)


def test_parse_and_estimate_gas(client):
    raw = signed_spend(nonce=5, amount=42)
    parsed = client.parse(raw)
    assert (parsed.nonce, parsed.amount, parsed.destination, parsed.raw) == (5, 42, address(2), raw)
    assert client.estimate_gas(raw) == SPEND_GAS
