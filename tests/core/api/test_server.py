"""The gRPC API server (core.api.server): live calls with the generated stubs on a loopback port.

Expected values are written out here from the test config (layer numbers by hand, the genesis id from
core.crypto.hashing), never read back from the server's own helpers.
"""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import pytest
from google.protobuf import empty_pb2

from core.api import server as api_server
from core.api.gen.spacemesh.v1 import mesh_pb2, mesh_pb2_grpc, node_pb2, node_pb2_grpc, types_pb2
from core.api.gen.spacemesh.v2alpha1 import network_pb2, network_pb2_grpc
from core.api.server import ApiServer
from core.config.node import STANDALONE, ConfigError
from core.crypto.hashing import genesis_id
from core.errors import InvalidInput
from core.node.clock import LayerClock

GENESIS = 1_700_000_000
CONFIG = dataclasses.replace(STANDALONE, genesis_time=GENESIS, layer_duration=2.5, layers_per_epoch=4).validate()
VERSION = "v0.1.0-test"
T = 10  # per-call timeout, seconds


def clock_at(now: float) -> LayerClock:
    return LayerClock(GENESIS, 2.5, 4, now=lambda: now)


async def serving(clock: LayerClock, check) -> None:  # noqa: ANN001
    """Start a server on an ephemeral loopback port, run `check(channel)`, stop it."""
    srv = ApiServer(CONFIG, clock, VERSION)
    port = await srv.start()
    assert port > 0 and srv.port == port
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await check(channel)
    finally:
        await srv.stop()


def test_v1_mesh_and_node_methods():
    async def check(channel):
        mesh = mesh_pb2_grpc.MeshServiceStub(channel)
        assert (await mesh.GenesisTime(mesh_pb2.GenesisTimeRequest(), timeout=T)).unixtime.value == GENESIS
        gid = (await mesh.GenesisID(mesh_pb2.GenesisIDRequest(), timeout=T)).genesis_id
        assert gid == genesis_id(GENESIS, "standalone") and len(gid) == 20
        assert (await mesh.CurrentLayer(mesh_pb2.CurrentLayerRequest(), timeout=T)).layernum.number == 37
        assert (await mesh.CurrentEpoch(mesh_pb2.CurrentEpochRequest(), timeout=T)).epochnum.value == 9
        assert (await mesh.LayerDuration(mesh_pb2.LayerDurationRequest(), timeout=T)).duration.value == 2  # whole s
        assert (await mesh.EpochNumLayers(mesh_pb2.EpochNumLayersRequest(), timeout=T)).numlayers.value == 4

        node = node_pb2_grpc.NodeServiceStub(channel)
        echo = await node.Echo(node_pb2.EchoRequest(msg=types_pb2.SimpleString(value="hi there")), timeout=T)
        assert echo.msg.value == "hi there"
        assert (await node.Version(empty_pb2.Empty(), timeout=T)).version_string.value == VERSION
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await node.Echo(node_pb2.EchoRequest(), timeout=T)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # 37 layers and one second past genesis: layer 37 of epoch 9 (4 layers an epoch)
    asyncio.run(serving(clock_at(GENESIS + 37 * 2.5 + 1.0), check))


def test_layer_and_epoch_are_zero_before_genesis():
    async def check(channel):
        mesh = mesh_pb2_grpc.MeshServiceStub(channel)
        assert (await mesh.CurrentLayer(mesh_pb2.CurrentLayerRequest(), timeout=T)).layernum.number == 0
        assert (await mesh.CurrentEpoch(mesh_pb2.CurrentEpochRequest(), timeout=T)).epochnum.value == 0

    asyncio.run(serving(clock_at(GENESIS - 1000.0), check))


def test_v2alpha1_network_info():
    async def check(channel):
        info = await network_pb2_grpc.NetworkServiceStub(channel).Info(network_pb2.NetworkInfoRequest(), timeout=T)
        assert (info.genesis_time.seconds, info.genesis_time.nanos) == (GENESIS, 0)
        assert (info.layer_duration.seconds, info.layer_duration.nanos) == (2, 500_000_000)
        assert info.genesis_id == genesis_id(GENESIS, "standalone")
        assert info.hrp == "standalone"
        assert info.effective_genesis_layer == 7  # last layer of epoch 1
        assert info.layers_per_epoch == 4
        assert info.labels_per_unit == 64  # the standalone preset's

    asyncio.run(serving(clock_at(GENESIS), check))


def test_unserved_methods_are_unimplemented():
    async def check(channel):
        mesh = mesh_pb2_grpc.MeshServiceStub(channel)
        node = node_pb2_grpc.NodeServiceStub(channel)
        calls = [
            mesh.LayersQuery(mesh_pb2.LayersQueryRequest(), timeout=T),
            node.Status(node_pb2.StatusRequest(), timeout=T),
            node.NodeInfo(empty_pb2.Empty(), timeout=T),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            async for _ in mesh.LayerStream(mesh_pb2.LayerStreamRequest(), timeout=T):
                pass
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED

    asyncio.run(serving(clock_at(GENESIS), check))


@pytest.mark.skipif(not api_server.REFLECTION, reason="grpcio-reflection is not installed")
def test_reflection_lists_the_services():  # pragma: no cover - needs grpcio-reflection
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    names: set[str] = set()

    async def check(channel):
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo(timeout=T)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.done_writing()
        async for response in call:
            names.update(s.name for s in response.list_services_response.service)

    asyncio.run(serving(clock_at(GENESIS), check))
    assert names == {
        "spacemesh.v1.NodeService",
        "spacemesh.v1.MeshService",
        "spacemesh.v2alpha1.NetworkService",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_rejects_a_config_without_genesis_or_a_mismatched_clock():
    with pytest.raises(ConfigError):
        ApiServer(STANDALONE, clock_at(GENESIS), VERSION)  # no genesis time
    with pytest.raises(InvalidInput):
        ApiServer(CONFIG, LayerClock(GENESIS, 5.0, 4), VERSION)


def test_stop_frees_the_port_and_a_bad_listen_address_fails():
    async def run():
        srv = ApiServer(CONFIG, clock_at(GENESIS), VERSION)
        port = await srv.start()
        await srv.stop()
        await srv.stop()  # idempotent
        again = ApiServer(CONFIG, clock_at(GENESIS), VERSION, public_listen=f"127.0.0.1:{port}")
        assert await again.start() == port
        try:
            clash = ApiServer(CONFIG, clock_at(GENESIS), VERSION, public_listen=f"127.0.0.1:{port}")
            with pytest.raises(InvalidInput):
                await clash.start()
        finally:
            await again.stop()

    asyncio.run(run())
