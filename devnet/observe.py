"""What the devnet's nodes report through their public API: progress, peers, sync, agreement."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

from core.api.client import ApiError, LayerView, NodeClient
from devnet import processes
from devnet.state import Devnet, DevnetError, Node

RECENT = 40  # layers looked back for the last block


@dataclasses.dataclass
class NodeView:
    name: str
    running: bool
    pid: int | None
    api: str
    error: str | None = None  # the API did not answer
    current_layer: int | None = None
    applied_layer: int | None = None
    peers: int | None = None
    sync: str | None = None  # SYNCED, SYNCING, ...
    atxs: int | None = None  # ATXs published in the previous epoch (the current epoch's smeshers)
    coinbase_balance: int | None = None
    last_block: tuple[int, str] | None = None  # (layer, block id hex) of the newest non-empty applied layer
    first_block_seen: bool = False  # some applied layer of this node has a block

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["last_block"] = None if self.last_block is None else {"layer": self.last_block[0], "id": self.last_block[1]}
        return data


@dataclasses.dataclass
class Agreement:
    """Whether the nodes that answered applied the same block with the same state and cumulative hash
    at `layer` (the cumulative hash alone is the tortoise's opinion: two nodes may share it while one
    applied the hare's block and the other an empty layer, until the tortoise settles the layer)."""

    layer: int | None  # the newest layer every answering node has applied
    agree: bool
    hashes: dict[str, dict[str, str] | None]  # node -> block, state_hash, cumulative_hash (hex) at `layer`

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def view(devnet: Devnet, node: Node, timeout: float = 5.0) -> NodeView:
    found = processes.find(node)
    result = NodeView(node.name, found is not None, found.pid if found else None, node.api)
    if found is None:
        return result
    try:
        with NodeClient(node.api, timeout=timeout) as client:
            status = client.node_status()
            result.current_layer, result.applied_layer = status.current_layer, status.applied_layer
            result.peers, result.sync = status.connected_peers, status.status
            epoch = status.current_layer // devnet.layers_per_epoch
            result.atxs = client.activations_count(epoch - 1) if epoch > 0 else 0
            result.coinbase_balance = client.accounts([node.coinbase])[0].current.balance
            low = max(0, status.applied_layer - RECENT)
            for layer in client.layers(low, status.applied_layer, limit=RECENT + 1, newest_first=True):
                if layer.block is not None:
                    result.last_block = (layer.number, layer.block.hex())
                    result.first_block_seen = True
                    break
    except ApiError as e:
        result.error = str(e)
    return result


def views(devnet: Devnet) -> list[NodeView]:
    return [view(devnet, node) for node in devnet.nodes]


def agreement(devnet: Devnet, seen: list[NodeView]) -> Agreement:
    answering = [v for v in seen if v.applied_layer is not None and v.error is None]
    if not answering:
        return Agreement(None, False, {})
    layer = min(v.applied_layer for v in answering)
    hashes: dict[str, dict[str, str] | None] = {}
    for v in answering:
        try:
            with NodeClient(v.api, timeout=5.0) as client:
                found = client.layers(layer, layer, limit=1)
        except ApiError:
            found = []
        hashes[v.name] = _fingerprint(found[0]) if found else None
    values = [json.dumps(h, sort_keys=True) for h in hashes.values()]
    return Agreement(layer, len(set(values)) == 1 and None not in hashes.values(), hashes)


def _fingerprint(layer: LayerView) -> dict[str, str]:
    return {
        "block": layer.block.hex() if layer.block else "",
        "state_hash": layer.state_hash.hex(),
        "cumulative_hash": layer.cumulative_hash.hex(),
    }


def wait(
    devnet: Devnet,
    done: Callable[[list[NodeView]], bool],
    timeout: float,
    what: str,
    progress: Callable[[list[NodeView]], None] | None = None,
    interval: float = 1.0,
    nodes: list[Node] | None = None,
) -> list[NodeView]:
    """Poll `nodes` (default: every node) until `done(views)`.  One of them exiting ends the wait with
    its log's last line, and so does the PoET (the nodes' activations need it)."""
    deadline = time.monotonic() + timeout
    watched = devnet.nodes if nodes is None else nodes
    while True:
        for proc in (devnet.poet, *watched):
            if not processes.alive(proc):
                processes.reap()
                raise DevnetError(f"{proc.name} is not running; its log ({proc.log}) ends: {processes.log_tail(proc, 1)}")
        seen = [view(devnet, node) for node in watched]
        if progress is not None:
            progress(seen)
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            layers = ", ".join(f"{v.name} {v.applied_layer if v.applied_layer is not None else '-'}" for v in seen)
            raise DevnetError(f"{what} not reached within {timeout:g} s (applied layers: {layers})")
        time.sleep(interval)


def ready(seen: list[NodeView]) -> bool:
    """Every node synced, with a block applied (what `devnet up` waits for)."""
    return all(v.first_block_seen and v.sync == "SYNCED" for v in seen)


def synced(seen: list[NodeView]) -> bool:
    return all(v.sync == "SYNCED" for v in seen)


def applied_everywhere(layer: int) -> Callable[[list[NodeView]], bool]:
    return lambda seen: all(v.applied_layer is not None and v.applied_layer >= layer for v in seen)
