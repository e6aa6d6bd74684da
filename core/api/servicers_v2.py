"""spacemesh.v2alpha1 NetworkService.Info: everything a wallet needs about the network, in one call
(spec/api-ecosystem.md §1.4). Answered from the NodeConfig alone."""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2

from core.api.gen.spacemesh.v2alpha1 import network_pb2, network_pb2_grpc
from core.config.node import NodeConfig


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
    def __init__(self, config: NodeConfig) -> None:
        self._info = network_info(config)  # static for the node's lifetime

    async def Info(self, request, context):  # noqa: N802, ANN001 - generated names
        return self._info
