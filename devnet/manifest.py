"""`smesh devnet manifest`: the local devnet as a docker compose file or Kubernetes manifests.

The documents describe the same network the local launcher runs: one `smesh poet serve` and N
`smesh node run`, every node with the same genesis time, genesis accounts and config, each one
listening for peers on port 7513 and naming every other node as a bootnode by its service name
(`node-<j>`), and all of them registering at the PoET at `http://poet:10010`.

- compose: a version-less compose-spec file.  The node config travels inline as a top-level
  `configs:` entry with `content:` (docker compose >= 2.23.1), so the file is self-contained: it
  can be piped or copied anywhere without a config.json that must stay next to it, and every
  node mounts the very same bytes at /etc/smesh/config.json.  Each service has its own named
  volume at /data; node-0 publishes the public gRPC API and the JSON gateway on the host.
- k8s: one ConfigMap (config.json, mounted at /etc/smesh), and per node a headless Service
  `node-<i>` plus a one-replica StatefulSet `node-<i>` with a volumeClaimTemplate for /data.  A
  StatefulSet per node (rather than one with N replicas) keeps each node's flags (units, coinbase,
  bootnodes without itself) explicit in its own pod spec, and gives every node the short DNS name
  `node-<i>` that `--bootnode node-<j>:7513` needs.  The PoET is a headless Service + StatefulSet
  `poet` (its rounds persist in /data), and `node-0-api` is a ClusterIP Service for node-0's
  public gRPC and JSON ports (`kubectl port-forward svc/node-0-api 10092 10095`).

Rendering is pure and deterministic: the same spec gives the same text byte for byte.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from decimal import Decimal
from typing import Any

from core.config.node import NodeConfig, load_config
from core.errors import InvalidInput, SmeshError

FORMATS = ("compose", "k8s")

P2P_PORT = 7513
POET_PORT = 10010
GRPC_PUBLIC_PORT = 10092
GRPC_PRIVATE_PORT = 10093
GRPC_JSON_PORT = 10095
DATA_DIR = "/data"
CONFIG_DIR = "/etc/smesh"
CONFIG_FILE = "config.json"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
CONFIG_NAME = "smesh-config"  # the compose config and the k8s ConfigMap
POET = "poet"
RUN_AS = 10001  # the Dockerfile's `smesh` user: k8s gives the data volumes this group (fsGroup)
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")


@dataclasses.dataclass(frozen=True)
class ManifestSpec:
    nodes: int  # >= 1
    units: tuple[int, ...]  # PoST units per node, len == nodes
    accounts: dict[str, int]  # genesis accounts: bech32 address -> smidge
    config: dict[str, object]  # node config keys (dashes), the nodes' config.json
    genesis_time: int  # Unix seconds, shared by every node of the network
    layer_duration: float  # seconds (also in config): the PoET schedule
    layers_per_epoch: int
    image: str = "smesh:latest"
    preset: str = "devnet"
    coinbases: tuple[str, ...] = ()  # per node; empty: each node's own default


def node_name(index: int) -> str:
    """The service (compose) / Service and StatefulSet (k8s) name of node `index`: its DNS name."""
    return f"node-{index}"


def check_spec(spec: ManifestSpec) -> NodeConfig:
    """The config every node will run with; raises InvalidInput for a spec no network could run."""
    if isinstance(spec.nodes, bool) or not isinstance(spec.nodes, int) or spec.nodes < 1:
        raise InvalidInput(f"a network needs at least one node, got {spec.nodes!r}")
    if len(spec.units) != spec.nodes:
        raise InvalidInput(f"{len(spec.units)} PoST unit counts for {spec.nodes} nodes")
    if spec.coinbases and len(spec.coinbases) != spec.nodes:
        raise InvalidInput(f"{len(spec.coinbases)} coinbases for {spec.nodes} nodes (give one per node or none)")
    if isinstance(spec.genesis_time, bool) or not isinstance(spec.genesis_time, int) or spec.genesis_time <= 0:
        raise InvalidInput(f"genesis time must be Unix seconds, got {spec.genesis_time!r}")
    if not _IMAGE.match(spec.image or ""):
        raise InvalidInput(f"invalid container image {spec.image!r}")
    for key in ("genesis-time", "genesis-accounts", "preset"):
        if key in spec.config or key.replace("-", "_") in spec.config:
            raise InvalidInput(f"config key {key!r} is set by the manifest itself; leave it out of the config")
    try:
        json.dumps(spec.config)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"config is not JSON: {e}") from None
    config = load_config(spec.preset, None, {**spec.config, "genesis_time": spec.genesis_time})
    if config.layer_duration != spec.layer_duration or config.layers_per_epoch != spec.layers_per_epoch:
        raise InvalidInput(
            f"layer duration {spec.layer_duration:g}s x {spec.layers_per_epoch} layers per epoch disagrees with the "
            f"config's {config.layer_duration:g}s x {config.layers_per_epoch}"
        )
    for i, units in enumerate(spec.units):
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidInput(f"{node_name(i)}: PoST units must be an integer, got {units!r}")
        if not config.min_num_units <= units <= config.max_num_units:
            raise InvalidInput(
                f"{node_name(i)}: {units} PoST units is outside {config.min_num_units}..{config.max_num_units} "
                f"on {spec.preset}"
            )
    from core.wallet.address import decode_address

    for address, amount in spec.accounts.items():
        try:
            decode_address(address, config.hrp)
        except SmeshError as e:
            raise InvalidInput(f"genesis account {address!r}: {e}") from None
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 2**64:
            raise InvalidInput(f"genesis account {address}: amount must be whole smidge (0..2^64-1), got {amount!r}")
    for i, coinbase in enumerate(spec.coinbases):
        try:
            decode_address(coinbase, config.hrp)
        except SmeshError as e:
            raise InvalidInput(f"{node_name(i)} coinbase {coinbase!r}: {e}") from None
    return config


def duration(seconds: float) -> str:
    """A Go-style duration the PoET reads back exactly: 12 -> '12s', 1.5 -> '1.5s' (never 1e+06s)."""
    return f"{Decimal(repr(float(seconds))).normalize():f}s"


def config_json(spec: ManifestSpec) -> str:
    """The nodes' config.json: sorted keys, so equal specs give equal bytes."""
    return json.dumps(spec.config, indent=2, sort_keys=True) + "\n"


def poet_args(spec: ManifestSpec, config: NodeConfig | None = None) -> list[str]:
    """`smesh` arguments of the PoET: rounds on the nodes' epoch, phase shift and cycle gap."""
    config = check_spec(spec) if config is None else config
    return [
        "poet", "serve", "--preset", "standalone", "--genesis-time", str(spec.genesis_time),
        "--epoch-duration", duration(config.epoch_duration), "--phase-shift", duration(config.phase_shift),
        "--cycle-gap", duration(config.cycle_gap), "--datadir", DATA_DIR,
        "--restlisten", f"0.0.0.0:{POET_PORT}", "--rpclisten", "off",
    ]  # fmt: skip


def node_args(spec: ManifestSpec, index: int) -> list[str]:
    """`smesh` arguments of node `index`: every other node is a bootnode, every account funded."""
    args = [
        "node", "run", "--preset", spec.preset, "--data-dir", DATA_DIR, "--config", CONFIG_PATH,
        "--genesis-time", str(spec.genesis_time), "--units", str(spec.units[index]),
        "--poet-server", f"http://{POET}:{POET_PORT}", "--listen", f"0.0.0.0:{P2P_PORT}",
    ]  # fmt: skip
    for j in range(spec.nodes):
        if j != index:
            args += ["--bootnode", f"{node_name(j)}:{P2P_PORT}"]
    for address in sorted(spec.accounts):
        args += ["--account", f"{address}={spec.accounts[address]}"]
    args += [
        "--grpc-public-listener", f"0.0.0.0:{GRPC_PUBLIC_PORT}",
        "--grpc-private-listener", f"127.0.0.1:{GRPC_PRIVATE_PORT}",
        "--grpc-json-listener", f"0.0.0.0:{GRPC_JSON_PORT}",
    ]  # fmt: skip
    if spec.coinbases:
        args += ["--coinbase", spec.coinbases[index]]
    return args


# --- docker compose ---------------------------------------------------------------------------


def _compose_escape(value: Any) -> Any:
    """Compose interpolates `${VAR}` in every string (config content too): a literal `$` is `$$`."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_compose_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _compose_escape(v) for k, v in value.items()}
    return value


def compose_document(spec: ManifestSpec) -> dict[str, Any]:
    """The compose-spec file as plain data (services, volumes, configs)."""
    config = check_spec(spec)

    def service(args: list[str], volume: str) -> dict[str, Any]:
        return {
            "image": spec.image, "entrypoint": ["smesh"], "command": args, "init": True,
            "restart": "unless-stopped", "stop_grace_period": "30s", "volumes": [f"{volume}:{DATA_DIR}"],
        }  # fmt: skip

    services = {POET: service(poet_args(spec, config), f"{POET}-data")}
    for i in range(spec.nodes):
        node = service(node_args(spec, i), f"{node_name(i)}-data")
        node["depends_on"] = [POET]
        node["configs"] = [{"source": CONFIG_NAME, "target": CONFIG_PATH}]
        if i == 0:
            # long syntax: no "HOST:CONTAINER" string for a YAML 1.1 reader to take for base-60
            published = (GRPC_PUBLIC_PORT, GRPC_JSON_PORT)
            node["ports"] = [{"target": port, "published": str(port), "protocol": "tcp"} for port in published]
        services[node_name(i)] = node
    volumes: dict[str, Any] = {f"{name}-data": {} for name in services}
    document = {
        "services": services,
        "volumes": volumes,
        "configs": {CONFIG_NAME: {"content": config_json(spec)}},
    }
    return _compose_escape(document)


# --- Kubernetes --------------------------------------------------------------------------------


def _labels(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "smesh",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
    }


def _headless_service(name: str, component: str, port_name: str, port: int) -> dict[str, Any]:
    """A stable DNS name `name` for the one pod of StatefulSet `name`, resolvable before it is ready
    (peers redial bootnodes, so they should find each other as soon as a pod has an address)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(component, name)},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": _labels(component, name),
            "ports": [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def _statefulset(
    spec: ManifestSpec, name: str, component: str, args: list[str], ports: list[dict[str, Any]], storage_gib: int,
    config_volume: bool,
) -> dict[str, Any]:  # fmt: skip
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_DIR}]
    pod: dict[str, Any] = {
        "securityContext": {"fsGroup": RUN_AS},
        "containers": [
            {
                "name": component,
                "image": spec.image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["smesh"],
                "args": args,
                "ports": ports,
                "volumeMounts": mounts,
            }
        ],
    }
    if config_volume:
        mounts.append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
        pod["volumes"] = [{"name": "config", "configMap": {"name": CONFIG_NAME}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": _labels(component, name)},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": _labels(component, name)},
            "template": {"metadata": {"labels": _labels(component, name)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": f"{storage_gib}Gi"}},
                    },
                }
            ],
        },
    }


def _node_storage_gib(units: int, config: NodeConfig) -> int:
    """PoST data (16-byte labels) plus a GiB for the mesh store, whole GiB."""
    return 1 + math.ceil(units * config.labels_per_unit * 16 / 2**30)


def k8s_documents(spec: ManifestSpec) -> list[dict[str, Any]]:
    """The Kubernetes objects, in the order `kubectl apply -f` should create them."""
    config = check_spec(spec)
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIG_NAME, "labels": _labels("config", CONFIG_NAME)},
            "data": {CONFIG_FILE: config_json(spec)},
        },
        _headless_service(POET, "poet", "rest", POET_PORT),
        _statefulset(
            spec, POET, "poet", poet_args(spec, config),
            [{"name": "rest", "containerPort": POET_PORT, "protocol": "TCP"}], 1, config_volume=False,
        ),
    ]  # fmt: skip
    node_ports = [
        {"name": "p2p", "containerPort": P2P_PORT, "protocol": "TCP"},
        {"name": "grpc-public", "containerPort": GRPC_PUBLIC_PORT, "protocol": "TCP"},
        {"name": "grpc-json", "containerPort": GRPC_JSON_PORT, "protocol": "TCP"},
    ]
    for i in range(spec.nodes):
        name = node_name(i)
        docs.append(_headless_service(name, "node", "p2p", P2P_PORT))
        storage = _node_storage_gib(spec.units[i], config)
        docs.append(_statefulset(spec, name, "node", node_args(spec, i), node_ports, storage, config_volume=True))
    api = node_name(0)
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{api}-api", "labels": _labels("node", api)},
            "spec": {
                "type": "ClusterIP",
                "selector": _labels("node", api),
                "ports": [
                    {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
                    for name, port in (("grpc-public", GRPC_PUBLIC_PORT), ("grpc-json", GRPC_JSON_PORT))
                ],
            },
        }
    )
    return docs


# --- text ---------------------------------------------------------------------------------------


def _yaml() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        # config.json as a readable block, not one quoted line of \n escapes
        style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml, Dumper


def render(spec: ManifestSpec, fmt: str) -> str:
    """`compose`: one YAML document (a compose file); `k8s`: multi-document YAML for `kubectl apply -f`."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown manifest format {fmt!r}; choose one of {', '.join(FORMATS)}")
    yaml, dumper = _yaml()
    options = {"Dumper": dumper, "sort_keys": False, "default_flow_style": False, "allow_unicode": True, "width": 4096}
    if fmt == "compose":
        header = (
            f"# smesh devnet: 1 PoET and {spec.nodes} node(s); start with `docker compose up -d`\n"
            f"# (needs docker compose >= 2.23.1 for inline configs and the image {spec.image})\n"
        )
        return header + yaml.dump(compose_document(spec), **options)
    header = f"# smesh devnet: 1 PoET and {spec.nodes} node(s); start with `kubectl apply -f`\n"
    return header + yaml.dump_all(k8s_documents(spec), explicit_start=True, **options)
