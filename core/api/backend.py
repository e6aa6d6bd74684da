"""What the API serves, in one place: the node's store, its live state and its events.

Servicers never reach into `Node` internals: they read the mesh through `MeshQueries`, ask this
backend for sync status, account projections and transaction states, submit transactions through
it, and follow the node through `EventHub` subscriptions.  The node, the API servers and the JSON
gateway all run on one asyncio loop, so nothing here needs locks.

A backend without a node (`node=None`) serves what the store alone knows: it reports itself not
synced, and submitting is refused with `NotSynced`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.activation.atxstore import AtxStore
from core.config.node import NodeConfig
from core.errors import InvalidInput, SmeshError
from core.mesh.queries import MeshQueries
from core.mesh.store import MeshStore
from core.node.clock import LayerClock
from core.tx.transaction import decode_tx
from core.vm.account import Account
from core.vm.vm import TxStatus

if TYPE_CHECKING:
    from core.node.node import Node

EVENT_QUEUE = 4096  # events a slow stream may fall behind before it is cut off


class NotSynced(SmeshError):
    """The node is not synced: it cannot judge a transaction (gRPC FAILED_PRECONDITION)."""


class TxRejected(SmeshError):
    """The node refused a transaction; the message says why (gRPC INVALID_ARGUMENT)."""


class StreamOverflow(SmeshError):
    """A stream fell too far behind the node's events (gRPC RESOURCE_EXHAUSTED)."""


class TxState(enum.IntEnum):
    """spacemesh.v1.TransactionState.TransactionState values (v2alpha1 TransactionState is the same
    list with a TRANSACTION_STATE_ prefix)."""

    UNSPECIFIED = 0
    REJECTED = 1
    INSUFFICIENT_FUNDS = 2
    CONFLICTING = 3
    MEMPOOL = 4
    MESH = 5
    PROCESSED = 6
    INEFFECTUAL = 7


@dataclasses.dataclass(frozen=True)
class SyncStatus:
    connected_peers: int
    synced: bool
    current_layer: int  # by the clock, 0 before genesis
    top_layer: int  # the highest layer the node has seen anything for
    processed_layer: int  # every layer up to here has a hare output or a peer's data
    applied_layer: int
    verified_layer: int  # by the tortoise


@dataclasses.dataclass(frozen=True)
class AccountState:
    address: bytes
    current: Account  # as of the last applied layer
    layer: int  # the last applied layer
    projected_nonce: int  # with every pending mempool transaction of the account applied
    projected_balance: int


@dataclasses.dataclass(frozen=True)
class SmesherState:
    """The node's smeshing setup, for spacemesh.v1.SmesherService."""

    node_id: bytes
    coinbase: bytes
    smeshing: bool
    post_dir: Path | None  # the PoST data directory (None: no PoST setup)
    num_units: int
    max_file_size: int
    provider: int | None  # OpenCL provider id (None or 4294967295: the CPU)
    phase: str  # what the ATX builder is doing (core.activation.builder.Phase value)
    error: str | None = None


_OVERFLOW = ("", {})  # handed to a subscriber that fell behind, in place of the next event


class EventHub:
    """Fan-out of the node's events (`Node.listeners`) to any number of async subscribers."""

    def __init__(self, max_queue: int = EVENT_QUEUE) -> None:
        self.max_queue = max_queue
        self._queues: set[asyncio.Queue] = set()

    def publish(self, event: str, fields: dict[str, Any]) -> None:
        """A node listener: hand the event to every subscriber (never blocks the node)."""
        for queue in list(self._queues):
            if queue.qsize() >= self.max_queue:
                self._queues.discard(queue)  # cut off: it gets the overflow mark after what it has queued
                queue.put_nowait(_OVERFLOW)
            else:
                queue.put_nowait((event, fields))

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def subscribe(self, events: frozenset[str] | None = None) -> Subscription:
        """Events from now on (filtered to `events` when given).  Subscribe *before* reading history from
        the store, so nothing falls between the two; use as `with hub.subscribe() as sub: ... async for`."""
        return Subscription(self, events)


class Subscription:
    """One subscriber's queue: registered at creation, removed by `close()` (or leaving `with`)."""

    def __init__(self, hub: EventHub, events: frozenset[str] | None) -> None:
        self.hub, self.events = hub, events
        self.queue: asyncio.Queue = asyncio.Queue()
        hub._queues.add(self.queue)

    def close(self) -> None:
        self.hub._queues.discard(self.queue)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[str, dict[str, Any]]:
        """The next (event, fields); raises StreamOverflow once the subscriber fell too far behind."""
        while True:
            item = await self.queue.get()
            if item is _OVERFLOW:
                self.close()
                raise StreamOverflow("the stream fell too far behind the node; request it again")
            if self.events is None or item[0] in self.events:
                return item


class NodeBackend:
    """The API's view of one node."""

    def __init__(
        self,
        config: NodeConfig,
        store: MeshStore,
        *,
        version: str,
        clock: LayerClock | None = None,
        node: Node | None = None,
        smesher: Callable[[], SmesherState] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.version = version
        self.node = node
        self.clock = clock or (node.clock if node is not None else None)
        if self.clock is None:
            raise ValueError("a backend needs a clock or a node")
        genesis = config.require_genesis_time()  # raises ConfigError without one
        if (self.clock.genesis_time, self.clock.layer_duration, self.clock.layers_per_epoch) != (
            genesis, config.layer_duration, config.layers_per_epoch,
        ):  # fmt: skip
            raise InvalidInput("the API's layer clock does not match the node config (genesis, layer duration, epoch)")
        self.queries = MeshQueries(store)
        self.atxs = node.atxs if node is not None else AtxStore(store)
        self.events = EventHub()
        self.smesher = smesher
        if node is not None:
            node.listeners.append(self.events.publish)

    # -- sync ----------------------------------------------------------------------------------

    def current_layer(self) -> int:
        return max(self.clock.current_layer(), 0)

    def sync_status(self) -> SyncStatus:
        current = self.current_layer()
        applied = self.store.last_applied() or 0
        if self.node is None:
            return SyncStatus(0, False, current, applied, applied, applied, applied)
        node = self.node
        peers = len(node.net.peers()) if node.net is not None else 0  # the endpoint leaves this node out
        processed = max(node.synced_layer, max(node.hare_outputs, default=0))
        top = max(processed, applied, max(node.proposals, default=0))
        return SyncStatus(peers, node.is_synced(), current, top, processed, node.last_applied, node.tortoise.verified)

    def is_synced(self) -> bool:
        return self.sync_status().synced

    # -- accounts --------------------------------------------------------------------------------

    def account(self, address: bytes) -> AccountState:
        current = self.store.account(address)
        layer = self.store.last_applied() or 0
        if self.node is None:
            return AccountState(address, current, layer, current.next_nonce, current.balance)
        projection = self.node.mempool.projection(address)
        return AccountState(address, current, layer, projection.next_nonce, projection.balance)

    # -- transactions ----------------------------------------------------------------------------

    def submit(self, raw: bytes) -> bytes:
        """Admit a signed transaction to the mempool, store and gossip it; its id.  Raises NotSynced or
        TxRejected (with the reason).  Submitting a transaction already known is not an error."""
        from core.errors import DecodeError
        from core.txs.mempool import MempoolError

        if self.node is None or not self.is_synced():
            raise NotSynced("the node is not synced yet")
        try:
            tx = decode_tx(raw)
        except DecodeError as e:
            raise TxRejected(f"malformed transaction: {e}") from None
        if self.node.mempool.get(tx.id) is not None or self.store.transaction_blob(tx.id) is not None:
            return tx.id
        try:
            return self.node.submit_tx(raw)
        except MempoolError as e:
            raise TxRejected(str(e)) from None

    def tx_state(self, tx_id: bytes) -> TxState:
        """Where a transaction stands on this node."""
        row = self.queries.transaction(tx_id)
        if row is not None and row.status is not None:
            return TxState.INEFFECTUAL if row.status == TxStatus.INVALID else TxState.PROCESSED
        if self.node is not None and self.node.mempool.get(tx_id) is not None:
            return TxState.MEMPOOL
        if row is not None and self._in_unapplied_block(tx_id):
            return TxState.MESH
        if row is not None:
            return TxState.REJECTED  # known but neither pending nor in the mesh: dropped from the mempool
        return TxState.UNSPECIFIED

    def _in_unapplied_block(self, tx_id: bytes) -> bool:
        """In the hare output of a layer that is not applied yet (the v1 MESH state)."""
        node = self.node
        if node is None:
            return False
        for layer in range(node.last_applied + 1, self.current_layer() + 1):
            block_id = node.hare_outputs.get(layer)
            block = node.blocks.get(block_id) if block_id else None
            if block is not None and tx_id in block.inner.tx_ids:
                return True
        return False
