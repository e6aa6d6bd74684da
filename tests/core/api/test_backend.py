"""NodeBackend and EventHub (core.api.backend): event fan-out and where a transaction stands.

Transaction states are checked on a real MeshStore and a stand-in for the node's live state (mempool,
hare outputs, blocks), so each state of spec/wallet.md §3.8 is reached by setting up exactly its cause.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types

import pytest

from core.api.backend import EventHub, NodeBackend, StreamOverflow, TxState
from core.mesh.store import MeshStore
from core.node.clock import LayerClock
from core.vm.vm import Ineffective, LayerOutcome, TxResult, TxStatus
from tests.core.api.conftest import CONFIG

TX = b"\x11" * 32
GENESIS = CONFIG.require_genesis_time()


def test_event_hub_filters_and_cuts_off_a_subscriber_that_falls_behind():
    async def run():
        hub = EventHub(max_queue=2)
        with hub.subscribe(frozenset({"applied"})) as slow, hub.subscribe() as everything:
            hub.publish("layer", {"layer": 1})
            hub.publish("applied", {"layer": 1})
            assert await slow.__anext__() == ("applied", {"layer": 1})
            assert await everything.__anext__() == ("layer", {"layer": 1})
            for layer in range(2, 6):  # 4 more: everything (1 queued) overflows, slow (0 queued) too
                hub.publish("applied", {"layer": layer})
            assert [await slow.__anext__() for _ in range(2)] == [("applied", {"layer": 2}), ("applied", {"layer": 3})]
            with pytest.raises(StreamOverflow):
                await slow.__anext__()
            assert hub.subscribers == 0  # both were cut off
        hub.publish("applied", {"layer": 9})  # nobody listens: nothing happens

    asyncio.run(run())


@dataclasses.dataclass
class LiveNode:
    """The parts of a Node the backend reads."""

    clock: LayerClock
    atxs: object = None
    listeners: list = dataclasses.field(default_factory=list)
    pending: set = dataclasses.field(default_factory=set)
    last_applied: int = 10
    hare_outputs: dict = dataclasses.field(default_factory=dict)
    blocks: dict = dataclasses.field(default_factory=dict)

    @property
    def mempool(self):  # noqa: ANN201
        return types.SimpleNamespace(get=lambda tx_id: object() if tx_id in self.pending else None)


@pytest.fixture
def backend(tmp_path):
    store = MeshStore(tmp_path / "state.sql")
    clock = LayerClock(GENESIS, CONFIG.layer_duration, CONFIG.layers_per_epoch, now=lambda: GENESIS + 12.5 * 10)
    node = LiveNode(clock)
    yield NodeBackend(CONFIG, store, version="test", node=node), node, store  # type: ignore[arg-type]
    store.close()


def _outcome(layer: int, results=(), ineffective=()) -> LayerOutcome:  # noqa: ANN001
    return LayerOutcome(layer, tuple(results), tuple(ineffective), (), 0, 0, (), bytes(32))


def test_transaction_states(backend):
    api, node, store = backend
    assert api.tx_state(TX) is TxState.UNSPECIFIED  # never seen
    store.add_transaction(TX, b"raw", bytes(24), 0, 1)
    assert api.tx_state(TX) is TxState.REJECTED  # stored, but neither pending nor in the mesh
    node.pending.add(TX)
    assert api.tx_state(TX) is TxState.MEMPOOL
    node.pending.clear()
    block = types.SimpleNamespace(inner=types.SimpleNamespace(tx_ids=(TX,)))
    node.blocks[b"b" * 20], node.hare_outputs[11] = block, b"b" * 20  # layer 11: hare output, not applied
    assert api.tx_state(TX) is TxState.MESH
    store.apply_layer(_outcome(11, results=[TxResult(TX, bytes(24), TxStatus.SUCCESS, "", 1, 1, ())]), b"b" * 20)
    assert api.tx_state(TX) is TxState.PROCESSED
    store.revert_to(10)
    store.apply_layer(_outcome(11, ineffective=[Ineffective(TX, "nonce too low")]), b"b" * 20)
    assert api.tx_state(TX) is TxState.INEFFECTUAL
    assert store.transaction_result(TX) == (11, TxStatus.INVALID, "nonce too low", 0)
