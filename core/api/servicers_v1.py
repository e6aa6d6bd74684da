"""spacemesh.v1 MeshService and NodeService: the methods a NodeConfig and a LayerClock can answer.

Semantics follow go-spacemesh's v1 API (spec/api-ecosystem.md §1.3):

* MeshService.GenesisTime -> `unixtime` (Unix seconds); GenesisID -> the 20-byte genesis id;
  CurrentLayer / CurrentEpoch -> the clock's layer and its epoch, 0 before genesis (the Go clock answers
  layer 0 until genesis; the wire types are unsigned); LayerDuration -> whole seconds (truncated, as the Go
  node's `uint64(d.Seconds())`); EpochNumLayers -> layers per epoch.
* NodeService.Echo -> the request's msg, INVALID_ARGUMENT when it has none; Version -> the version string
  given to the server.

Every other method (LayersQuery, LayerStream, Status, NodeInfo) is left to the generated base servicer,
which answers UNIMPLEMENTED until the node behind it exists.
"""

from __future__ import annotations

import grpc

from core.api.gen.spacemesh.v1 import mesh_pb2, mesh_pb2_grpc, node_pb2, node_pb2_grpc, types_pb2
from core.config.node import NodeConfig
from core.node.clock import LayerClock


def current_layer(clock: LayerClock) -> int:
    """The clock's current layer, 0 before genesis (the v1 wire types are unsigned)."""
    return max(clock.current_layer(), 0)


class MeshServicer(mesh_pb2_grpc.MeshServiceServicer):
    """The clock/config part of spacemesh.v1.MeshService."""

    def __init__(self, config: NodeConfig, clock: LayerClock) -> None:
        self.config = config
        self.clock = clock
        self._genesis_id = config.genesis_id  # raises ConfigError without a genesis time

    async def GenesisTime(self, request, context):  # noqa: N802, ANN001 - generated names
        return mesh_pb2.GenesisTimeResponse(unixtime=types_pb2.SimpleInt(value=self.config.require_genesis_time()))

    async def GenesisID(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.GenesisIDResponse(genesis_id=self._genesis_id)

    async def CurrentLayer(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.CurrentLayerResponse(layernum=types_pb2.LayerNumber(number=current_layer(self.clock)))

    async def CurrentEpoch(self, request, context):  # noqa: N802, ANN001
        epoch = self.clock.epoch_of(current_layer(self.clock))
        return mesh_pb2.CurrentEpochResponse(epochnum=types_pb2.SimpleInt(value=epoch))

    async def LayerDuration(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.LayerDurationResponse(duration=types_pb2.SimpleInt(value=int(self.config.layer_duration)))

    async def EpochNumLayers(self, request, context):  # noqa: N802, ANN001
        return mesh_pb2.EpochNumLayersResponse(numlayers=types_pb2.SimpleInt(value=self.config.layers_per_epoch))


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """Echo and Version of spacemesh.v1.NodeService."""

    def __init__(self, version: str) -> None:
        self.version = version

    async def Echo(self, request, context):  # noqa: N802, ANN001
        if not request.HasField("msg"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Must include `Msg`")
        return node_pb2.EchoResponse(msg=types_pb2.SimpleString(value=request.msg.value))

    async def Version(self, request, context):  # noqa: N802, ANN001
        return node_pb2.VersionResponse(version_string=types_pb2.SimpleString(value=self.version))
