"""The Spacemesh node API: spacemesh.v1 and spacemesh.v2alpha1 protos, generated code and HTTP routes."""

from __future__ import annotations

from typing import Any


def add_services(server: Any, *services: tuple[Any, Any, str, Any]) -> list[str]:
    """Register servicers on a grpc server, each given as (its *_pb2 module, its *_pb2_grpc module, the
    service name, the servicer); returns the services' full names (what reflection and health list)."""
    names = []
    for pb2, pb2_grpc, name, servicer in services:
        getattr(pb2_grpc, f"add_{name}Servicer_to_server")(servicer, server)
        names.append(pb2.DESCRIPTOR.services_by_name[name].full_name)
    return names
