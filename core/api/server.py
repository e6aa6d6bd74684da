"""The node's gRPC API server on grpc.aio (spec/api-ecosystem.md §1).

This first slice serves, on the public listener, what a NodeConfig and a LayerClock can answer:

* spacemesh.v1.MeshService: GenesisTime, GenesisID, CurrentLayer, CurrentEpoch, LayerDuration, EpochNumLayers;
* spacemesh.v1.NodeService: Echo, Version;
* spacemesh.v2alpha1.NetworkService: Info.

Other methods of these services answer UNIMPLEMENTED (the generated base servicers). Server reflection lists
the services served when grpcio-reflection is installed (`REFLECTION` says whether it is).
"""

from __future__ import annotations

import logging

import grpc

from core.api.gen.spacemesh.v1 import mesh_pb2, mesh_pb2_grpc, node_pb2, node_pb2_grpc
from core.api.gen.spacemesh.v2alpha1 import network_pb2, network_pb2_grpc
from core.api.servicers_v1 import MeshServicer, NodeServicer
from core.api.servicers_v2 import NetworkServicer
from core.config.node import NodeConfig
from core.errors import InvalidInput
from core.node.clock import LayerClock

log = logging.getLogger("smesh.api")

try:  # optional dependency: grpcio-reflection
    from grpc_reflection.v1alpha import reflection as _reflection
except ImportError:  # pragma: no cover - depends on the environment
    _reflection = None

REFLECTION = _reflection is not None

PUBLIC_SERVICES: tuple[str, ...] = (
    node_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name,
    mesh_pb2.DESCRIPTOR.services_by_name["MeshService"].full_name,
    network_pb2.DESCRIPTOR.services_by_name["NetworkService"].full_name,
)


def _check_clock(config: NodeConfig, clock: LayerClock) -> None:
    """The clock must tick the config's layers, or CurrentLayer and GenesisTime would disagree."""
    genesis = config.require_genesis_time()
    if (clock.genesis_time, clock.layer_duration, clock.layers_per_epoch) != (
        genesis, config.layer_duration, config.layers_per_epoch,
    ):  # fmt: skip
        raise InvalidInput("the API's layer clock does not match the node config (genesis, layer duration, epoch)")


class ApiServer:
    """grpc.aio server for the public API listener: `await start()` returns the bound port."""

    def __init__(self, config: NodeConfig, clock: LayerClock, version: str, public_listen: str = "127.0.0.1:0") -> None:
        _check_clock(config, clock)  # also raises ConfigError without a genesis time
        self.config = config
        self.clock = clock
        self.version = version
        self.public_listen = public_listen
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Bind public_listen (port 0 picks a free one) and serve; returns the bound port."""
        if self._server is not None:
            raise RuntimeError("API server already started")
        # no SO_REUSEPORT: a second node on a taken port must fail, not share the port's connections
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        node_pb2_grpc.add_NodeServiceServicer_to_server(NodeServicer(self.version), server)
        mesh_pb2_grpc.add_MeshServiceServicer_to_server(MeshServicer(self.config, self.clock), server)
        network_pb2_grpc.add_NetworkServiceServicer_to_server(NetworkServicer(self.config), server)
        if _reflection is not None:
            _reflection.enable_server_reflection((*PUBLIC_SERVICES, _reflection.SERVICE_NAME), server)
        try:
            bound = server.add_insecure_port(self.public_listen)
        except RuntimeError as e:
            bound, reason = 0, f": {e}"
        else:
            reason = ""
        if bound == 0:
            await server.stop(None)  # release what the unstarted server holds
            raise InvalidInput(f"cannot listen on {self.public_listen} for the gRPC API{reason}")
        await server.start()
        self._server, self.port = server, bound
        log.info("gRPC API listening on %s (port %d)", self.public_listen, bound)
        return bound

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving (in-flight calls get `grace` seconds); a no-op when not started."""
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop(grace)
