"""HTTP/JSON gateway routes of the served API methods (grpc-gateway v2 conventions).

grpcio-tools does not ship google/api/annotations.proto, so the `google.api.http` options of the upstream
protos are recorded here instead (spec/api-ecosystem.md §1.2):

* every method is reachable as `POST /<package>.<Service>/<Method>` (grpc-gateway's unbound methods), with
  the request as a protojson body; server streams answer with newline-delimited `{"result": ...}` objects;
* v1 methods that carry an http annotation upstream are also reachable as `POST /v1/<service>/<method>`.

Only services on the public listener are mounted on the gateway; the SmesherService and the v2alpha1 stream
services live on the private listener (their routes are listed so a private gateway could mount them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Listener(str, Enum):
    PUBLIC = "public"    # grpc-public-listener, default 0.0.0.0:9092; mounted on the JSON gateway
    PRIVATE = "private"  # grpc-private-listener, default 127.0.0.1:9093


# full service name -> listener (go-spacemesh api config defaults, spec/api-ecosystem.md §1.1)
SERVICES: dict[str, Listener] = {
    "spacemesh.v1.NodeService": Listener.PUBLIC,
    "spacemesh.v1.MeshService": Listener.PUBLIC,
    "spacemesh.v1.GlobalStateService": Listener.PUBLIC,
    "spacemesh.v1.TransactionService": Listener.PUBLIC,
    "spacemesh.v1.ActivationService": Listener.PUBLIC,
    "spacemesh.v1.SmesherService": Listener.PRIVATE,
    "spacemesh.v2alpha1.NetworkService": Listener.PUBLIC,
    "spacemesh.v2alpha1.NodeService": Listener.PUBLIC,
    "spacemesh.v2alpha1.AccountService": Listener.PUBLIC,
    "spacemesh.v2alpha1.TransactionService": Listener.PUBLIC,
    "spacemesh.v2alpha1.RewardService": Listener.PUBLIC,
    "spacemesh.v2alpha1.LayerService": Listener.PUBLIC,
    "spacemesh.v2alpha1.ActivationService": Listener.PUBLIC,
    "spacemesh.v2alpha1.LayerStreamService": Listener.PRIVATE,
    "spacemesh.v2alpha1.TransactionStreamService": Listener.PRIVATE,
    "spacemesh.v2alpha1.RewardStreamService": Listener.PRIVATE,
    "spacemesh.v2alpha1.ActivationStreamService": Listener.PRIVATE,
}

# the methods served, per service (the first slice of issue 6)
METHODS: dict[str, tuple[str, ...]] = {
    "spacemesh.v1.NodeService": ("Echo", "Version", "Status", "NodeInfo"),
    "spacemesh.v1.MeshService": (
        "GenesisTime", "GenesisID", "CurrentLayer", "CurrentEpoch", "LayerDuration", "EpochNumLayers",
        "LayersQuery", "LayerStream",
    ),
    "spacemesh.v1.GlobalStateService": ("Account", "AccountDataQuery"),
    "spacemesh.v1.TransactionService": ("SubmitTransaction", "ParseTransaction", "TransactionsState", "StreamResults"),
    "spacemesh.v1.SmesherService": (
        "IsSmeshing", "SmesherIDs", "Coinbase", "PostSetupStatus", "PostSetupStatusStream", "PostConfig",
        "PostSetupProviders",
    ),
    "spacemesh.v1.ActivationService": ("Highest",),
    "spacemesh.v2alpha1.NetworkService": ("Info",),
    "spacemesh.v2alpha1.NodeService": ("Status",),
    "spacemesh.v2alpha1.AccountService": ("List",),
    "spacemesh.v2alpha1.TransactionService": ("List", "ParseTransaction", "SubmitTransaction", "EstimateGas"),
    "spacemesh.v2alpha1.RewardService": ("List",),
    "spacemesh.v2alpha1.LayerService": ("List",),
    "spacemesh.v2alpha1.ActivationService": ("List", "ActivationsCount"),
    "spacemesh.v2alpha1.LayerStreamService": ("Stream",),
    "spacemesh.v2alpha1.TransactionStreamService": ("Stream",),
    "spacemesh.v2alpha1.RewardStreamService": ("Stream",),
    "spacemesh.v2alpha1.ActivationStreamService": ("Stream",),
}  # fmt: skip

# upstream google.api.http annotations of the served v1 methods: (service, method) -> path (all POST)
V1_REST_PATHS: dict[tuple[str, str], str] = {
    ("spacemesh.v1.NodeService", "Echo"): "/v1/node/echo",
    ("spacemesh.v1.NodeService", "Version"): "/v1/node/version",
    ("spacemesh.v1.NodeService", "Status"): "/v1/node/status",
    ("spacemesh.v1.MeshService", "GenesisTime"): "/v1/mesh/genesistime",
    ("spacemesh.v1.MeshService", "CurrentLayer"): "/v1/mesh/currentlayer",
    ("spacemesh.v1.MeshService", "CurrentEpoch"): "/v1/mesh/currentepoch",
    ("spacemesh.v1.MeshService", "GenesisID"): "/v1/mesh/genesisid",
    ("spacemesh.v1.MeshService", "EpochNumLayers"): "/v1/mesh/epochnumlayers",
    ("spacemesh.v1.MeshService", "LayerDuration"): "/v1/mesh/layerduration",
    ("spacemesh.v1.MeshService", "LayersQuery"): "/v1/mesh/layersquery",
    ("spacemesh.v1.GlobalStateService", "Account"): "/v1/globalstate/account",
    ("spacemesh.v1.GlobalStateService", "AccountDataQuery"): "/v1/globalstate/accountdataquery",
    ("spacemesh.v1.TransactionService", "SubmitTransaction"): "/v1/transaction/submittransaction",
    ("spacemesh.v1.TransactionService", "ParseTransaction"): "/v1/transaction/parsetransaction",
    ("spacemesh.v1.TransactionService", "TransactionsState"): "/v1/transaction/transactionsstate",
    ("spacemesh.v1.SmesherService", "IsSmeshing"): "/v1/smesher/issmeshing",
    ("spacemesh.v1.SmesherService", "SmesherIDs"): "/v1/smesher/smesherids",
    ("spacemesh.v1.SmesherService", "Coinbase"): "/v1/smesher/coinbase",
    ("spacemesh.v1.SmesherService", "PostSetupStatus"): "/v1/smesher/postsetupstatus",
    ("spacemesh.v1.SmesherService", "PostSetupProviders"): "/v1/smesher/postsetupproviders",
    ("spacemesh.v1.SmesherService", "PostConfig"): "/v1/smesher/postconfig",
}


@dataclass(frozen=True)
class Route:
    http_method: str  # always "POST" for the v1 and v2alpha1 gateways
    path: str
    service: str      # full gRPC service name
    method: str       # gRPC method name
    listener: Listener

    @property
    def grpc_path(self) -> str:
        """The gRPC request path, e.g. /spacemesh.v1.NodeService/Echo."""
        return f"/{self.service}/{self.method}"


def routes() -> list[Route]:
    """Every HTTP route of every served method: the canonical path first, then the v1 REST alias."""
    out: list[Route] = []
    for service, methods in METHODS.items():
        listener = SERVICES[service]
        for method in methods:
            out.append(Route("POST", f"/{service}/{method}", service, method, listener))
            alias = V1_REST_PATHS.get((service, method))
            if alias is not None:
                out.append(Route("POST", alias, service, method, listener))
    return out


def gateway_routes(listeners: frozenset[Listener] = frozenset({Listener.PUBLIC})) -> dict[str, Route]:
    """path -> route for the services on the given listeners (the JSON gateway mounts only the public ones)."""
    return {r.path: r for r in routes() if r.listener in listeners}
