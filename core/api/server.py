"""The node's API: the public and private gRPC listeners and the JSON gateway (spec/api-ecosystem.md §1.1).

* public (`grpc-public-listener`): spacemesh.v1 Node, Mesh, GlobalState, Transaction, Activation and the
  spacemesh.v2alpha1 Network, Node, Account, Transaction, Reward, Layer, Activation services;
* private (`grpc-private-listener`): spacemesh.v1 SmesherService and the v2alpha1 stream services;
* JSON gateway (`grpc-json-listener`, off when empty): protojson over HTTP in front of the public listener,
  with the CORS origins of `grpc-cors-allowed-origin`.

Every gRPC listener serves server reflection (grpcurl works without .proto files) and the standard health
service (`grpc.health.v1.Health`: "" and every service name report SERVING while the node runs).  All of it
runs on the node's asyncio loop; `ApiServer.start()` binds everything or nothing.
"""

from __future__ import annotations

import dataclasses
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from core.api import servicers_v1, servicers_v2
from core.api.backend import NodeBackend
from core.errors import InvalidInput

log = logging.getLogger("smesh.api")

MAX_MESSAGE = 10 * 1024 * 1024  # go-spacemesh's grpc-send-msg-size / grpc-recv-msg-size


@dataclasses.dataclass(frozen=True)
class Ports:
    """Bound ports (None: that listener is off)."""

    public: int | None
    private: int | None
    json: int | None


class _Listener:
    """One grpc.aio server with its services, reflection and health."""

    def __init__(self, name: str, listen: str) -> None:
        self.name, self.listen = name, listen
        self.server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),  # a second node on a taken port must fail, not share it
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.max_receive_message_length", MAX_MESSAGE),
            ]
        )
        self.health = health.aio.HealthServicer()
        self.services: list[str] = []

    def add(self, services: list[str]) -> None:
        self.services.extend(services)

    async def start(self) -> int:
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (*self.services, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)
        try:
            port = self.server.add_insecure_port(self.listen)
        except RuntimeError as e:  # grpc's text ends with advice about GRPC_VERBOSITY: keep the cause only
            port, reason = 0, ": " + str(e).split("; set GRPC_VERBOSITY")[0]
        else:
            reason = ""
        if port == 0:
            await self.server.stop(None)
            raise InvalidInput(f"cannot listen on {self.listen} for the {self.name} gRPC API{reason}")
        await self.server.start()
        for service in ("", *self.services):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s gRPC API listening on %s (port %d)", self.name, self.listen, port)
        return port

    async def stop(self, grace: float | None) -> None:
        for service in ("", *self.services):
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)


class ApiServer:
    """The public and private gRPC listeners and the JSON gateway of one node."""

    def __init__(
        self,
        backend: NodeBackend,
        public_listen: str | None = None,
        private_listen: str | None = None,
        json_listen: str | None = None,
        cors_origins: tuple[str, ...] | None = None,
    ) -> None:
        config = backend.config
        config.require_genesis_time()
        self.backend = backend
        self.public_listen = config.grpc_public_listener if public_listen is None else public_listen
        self.private_listen = config.grpc_private_listener if private_listen is None else private_listen
        self.json_listen = config.grpc_json_listener if json_listen is None else json_listen
        self.cors_origins = tuple(config.grpc_cors_allowed_origin if cors_origins is None else cors_origins)
        self.ports: Ports | None = None
        self._listeners: list[_Listener] = []
        self._gateway = None

    async def start(self) -> Ports:
        """Bind and serve every listener that is on; on any failure nothing stays bound."""
        if self.ports is not None:
            raise RuntimeError("API server already started")
        public = private = json_port = None
        try:
            if self.public_listen:
                listener = _Listener("public", self.public_listen)
                listener.add(servicers_v1.add_public(listener.server, self.backend))
                listener.add(servicers_v2.add_public(listener.server, self.backend))
                self._listeners.append(listener)
                public = await listener.start()
            if self.private_listen:
                listener = _Listener("private", self.private_listen)
                listener.add(servicers_v1.add_private(listener.server, self.backend))
                listener.add(servicers_v2.add_private(listener.server, self.backend))
                self._listeners.append(listener)
                private = await listener.start()
            if self.json_listen:
                if public is None:
                    raise InvalidInput("the JSON gateway needs the public gRPC listener (grpc-public-listener)")
                from core.api.gateway import JsonGateway, dial_target

                host = self.public_listen.rpartition(":")[0]
                target = dial_target(f"{host}:{public}")  # the bound port: the listener may have asked for 0
                self._gateway = JsonGateway(target, self.json_listen, self.cors_origins)
                json_port = await self._gateway.start()
        except BaseException:
            await self.stop(None)
            raise
        self.ports = Ports(public, private, json_port)
        return self.ports

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving (in-flight calls get `grace` seconds); a no-op when not started."""
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.stop()
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            await listener.stop(grace)
        self.ports = None
