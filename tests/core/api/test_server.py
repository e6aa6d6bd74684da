"""The API server (core.api.server): listeners, which services each serves, reflection, health, the JSON
gateway, and the clock-only methods over a backend without a node.

Expected values are written out here from the test config (layer numbers by hand, the genesis id from
core.crypto.hashing), never read back from the server's own helpers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.request

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from core.api.backend import NodeBackend
from core.api.gen.spacemesh.v1 import mesh_pb2, mesh_pb2_grpc, node_pb2, node_pb2_grpc, smesher_pb2_grpc, types_pb2
from core.api.gen.spacemesh.v2alpha1 import network_pb2, network_pb2_grpc
from core.api.server import ApiServer
from core.config.node import STANDALONE, ConfigError
from core.crypto.hashing import genesis_id
from core.errors import InvalidInput
from core.mesh.store import MeshStore
from core.node.clock import LayerClock

GENESIS = 1_700_000_000
CONFIG = dataclasses.replace(STANDALONE, genesis_time=GENESIS, layer_duration=2.5, layers_per_epoch=4).validate()
VERSION = "v0.1.0-test"
T = 10  # per-call timeout, seconds
LOOPBACK = {"public_listen": "127.0.0.1:0", "private_listen": "127.0.0.1:0", "json_listen": ""}
PUBLIC = {
    "spacemesh.v1.NodeService", "spacemesh.v1.MeshService", "spacemesh.v1.GlobalStateService",
    "spacemesh.v1.TransactionService", "spacemesh.v1.ActivationService",
    "spacemesh.v2alpha1.NetworkService", "spacemesh.v2alpha1.NodeService", "spacemesh.v2alpha1.AccountService",
    "spacemesh.v2alpha1.TransactionService", "spacemesh.v2alpha1.RewardService", "spacemesh.v2alpha1.LayerService",
    "spacemesh.v2alpha1.ActivationService",
}  # fmt: skip
PRIVATE = {
    "spacemesh.v1.SmesherService", "spacemesh.v2alpha1.LayerStreamService",
    "spacemesh.v2alpha1.TransactionStreamService", "spacemesh.v2alpha1.RewardStreamService",
    "spacemesh.v2alpha1.ActivationStreamService",
}  # fmt: skip
STANDARD = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


@pytest.fixture
def store(tmp_path):
    store = MeshStore(tmp_path / "state.sql")
    yield store
    store.close()


def backend_at(store: MeshStore, now: float, config=CONFIG) -> NodeBackend:  # noqa: ANN001
    return NodeBackend(config, store, version=VERSION, clock=LayerClock(GENESIS, 2.5, 4, now=lambda: now))


async def serving(backend: NodeBackend, check, **listen) -> None:  # noqa: ANN001
    """Start the server on ephemeral loopback ports, run `check(server)`, stop it."""
    srv = ApiServer(backend, **{**LOOPBACK, **listen})
    await srv.start()
    try:
        await check(srv)
    finally:
        await srv.stop()


def test_clock_methods_of_a_backend_without_a_node(store):
    async def check(srv):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.ports.public}") as channel:
            mesh = mesh_pb2_grpc.MeshServiceStub(channel)
            assert (await mesh.GenesisTime(mesh_pb2.GenesisTimeRequest(), timeout=T)).unixtime.value == GENESIS
            gid = (await mesh.GenesisID(mesh_pb2.GenesisIDRequest(), timeout=T)).genesis_id
            assert gid == genesis_id(GENESIS, "standalone") and len(gid) == 20
            assert (await mesh.CurrentLayer(mesh_pb2.CurrentLayerRequest(), timeout=T)).layernum.number == 37
            assert (await mesh.CurrentEpoch(mesh_pb2.CurrentEpochRequest(), timeout=T)).epochnum.value == 9
            assert (await mesh.LayerDuration(mesh_pb2.LayerDurationRequest(), timeout=T)).duration.value == 2
            assert (await mesh.EpochNumLayers(mesh_pb2.EpochNumLayersRequest(), timeout=T)).numlayers.value == 4
            node = node_pb2_grpc.NodeServiceStub(channel)
            echo = await node.Echo(node_pb2.EchoRequest(msg=types_pb2.SimpleString(value="hi there")), timeout=T)
            assert echo.msg.value == "hi there"
            assert (await node.Version(empty_pb2.Empty(), timeout=T)).version_string.value == VERSION
            info = await network_pb2_grpc.NetworkServiceStub(channel).Info(network_pb2.NetworkInfoRequest(), timeout=T)
            assert (info.layer_duration.seconds, info.layer_duration.nanos) == (2, 500_000_000)
            assert (info.hrp, info.effective_genesis_layer, info.layers_per_epoch) == ("standalone", 7, 4)

    # 37 layers and one second past genesis: layer 37 of epoch 9 (4 layers an epoch)
    asyncio.run(serving(backend_at(store, GENESIS + 37 * 2.5 + 1.0), check))


def test_layer_and_epoch_are_zero_before_genesis(store):
    async def check(srv):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.ports.public}") as channel:
            mesh = mesh_pb2_grpc.MeshServiceStub(channel)
            assert (await mesh.CurrentLayer(mesh_pb2.CurrentLayerRequest(), timeout=T)).layernum.number == 0
            assert (await mesh.CurrentEpoch(mesh_pb2.CurrentEpochRequest(), timeout=T)).epochnum.value == 0

    asyncio.run(serving(backend_at(store, GENESIS - 1000.0), check))


async def _reflected(target: str) -> set[str]:
    async with grpc.aio.insecure_channel(target) as channel:
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(timeout=T)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.done_writing()
        return {s.name for response in [r async for r in call] for s in response.list_services_response.service}


def test_each_listener_serves_its_services_with_reflection_and_health(store):
    async def check(srv):
        public, private = f"127.0.0.1:{srv.ports.public}", f"127.0.0.1:{srv.ports.private}"
        assert await _reflected(public) == PUBLIC | STANDARD
        assert await _reflected(private) == PRIVATE | STANDARD
        async with grpc.aio.insecure_channel(public) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "spacemesh.v1.MeshService"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=T)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as err:  # a private service is not on the public listener
                await health.Check(health_pb2.HealthCheckRequest(service="spacemesh.v1.SmesherService"), timeout=T)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await smesher_pb2_grpc.SmesherServiceStub(channel).IsSmeshing(empty_pb2.Empty(), timeout=T)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED

    asyncio.run(serving(backend_at(store, GENESIS), check))


def test_the_json_gateway_fronts_the_public_listener(store):
    async def check(srv):
        assert srv.ports.json
        request = urllib.request.Request(
            f"http://127.0.0.1:{srv.ports.json}/spacemesh.v1.MeshService/EpochNumLayers", data=b"{}", method="POST"
        )
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=T).read())
        assert json.loads(body) == {"numlayers": {"value": "4"}}

    asyncio.run(serving(backend_at(store, GENESIS), check, json_listen="127.0.0.1:0"))


def test_listeners_can_be_off_and_config_decides_by_default(store):
    async def check(srv):
        assert srv.ports.private is None and srv.ports.json is None and srv.ports.public

    asyncio.run(serving(backend_at(store, GENESIS), check, private_listen=""))
    config = dataclasses.replace(CONFIG, grpc_public_listener="127.0.0.1:0", grpc_private_listener="",
                                 grpc_json_listener="127.0.0.1:0")
    srv = ApiServer(backend_at(store, GENESIS, config))
    assert (srv.public_listen, srv.private_listen, srv.json_listen) == ("127.0.0.1:0", "", "127.0.0.1:0")
    assert srv.cors_origins == ("*",)  # the standalone preset's
    with pytest.raises(InvalidInput, match="public gRPC listener"):
        asyncio.run(ApiServer(backend_at(store, GENESIS), public_listen="", json_listen="127.0.0.1:0").start())


def test_rejects_a_config_without_genesis_or_a_mismatched_clock(store):
    with pytest.raises(ConfigError):
        NodeBackend(STANDALONE, store, version=VERSION, clock=LayerClock(GENESIS, 2.5, 4))  # no genesis time
    with pytest.raises(InvalidInput):
        NodeBackend(CONFIG, store, version=VERSION, clock=LayerClock(GENESIS, 5.0, 4))


def test_stop_frees_the_ports_and_a_taken_port_fails_whole(store):
    async def run():
        backend = backend_at(store, GENESIS)
        srv = ApiServer(backend, **LOOPBACK)
        ports = await srv.start()
        await srv.stop()
        await srv.stop()  # idempotent
        again = ApiServer(backend, public_listen=f"127.0.0.1:{ports.public}", private_listen="", json_listen="")
        assert (await again.start()).public == ports.public
        try:
            clash = ApiServer(backend, private_listen="127.0.0.1:0", public_listen=f"127.0.0.1:{ports.public}")
            with pytest.raises(InvalidInput, match="cannot listen"):
                await clash.start()
            assert clash.ports is None
        finally:
            await again.stop()

    asyncio.run(run())
