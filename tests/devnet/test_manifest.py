"""`smesh devnet manifest`: the compose file and the Kubernetes manifests of a devnet (issue 13).

The k8s documents are checked with the Kubernetes client's own models (deserialised and serialised
back: an unknown or misspelt field, a wrong type or a missing required field does not survive the
round trip), the compose file with the compose-spec JSON schema that check-jsonschema ships.  The
node and PoET arguments are parsed by the real `smesh` command definitions, and the network facts
(bootnodes resolve, every node on the same genesis, accounts and config, the PoET on the nodes'
schedule) are checked on the parsed documents.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import jsonschema
import pytest
import typer
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema
from kubernetes import client as k8s

from core.errors import InvalidInput
from core.poet.rounds import parse_duration
from core.wallet.address import encode_address
from devnet.manifest import ManifestSpec, render

HRP = "standalone"  # the devnet preset's address prefix
ALICE = encode_address(bytes(4) + bytes(range(1, 21)), HRP)
BOB = encode_address(bytes(4) + bytes(range(101, 121)), HRP)
CAROL = encode_address(bytes(4) + bytes(range(201, 221)), HRP)
CONFIG = {"layer-duration": 3.0, "layers-per-epoch": 4, "layer-avg-size": 5, "hdist": 3, "hare-committee": 50}
GENESIS = 1_750_000_000
ACCOUNTS = {ALICE: 100_000_000_000_000, BOB: 7}


def make_spec(**changes) -> ManifestSpec:
    spec = ManifestSpec(
        nodes=3, units=(1, 2, 1), accounts=dict(ACCOUNTS), config=dict(CONFIG), genesis_time=GENESIS,
        layer_duration=3.0, layers_per_epoch=4, coinbases=(ALICE, BOB, CAROL),
    )  # fmt: skip
    return dataclasses.replace(spec, **changes)


def options(args: list[str], positional: int) -> dict[str, list[str]]:
    """`--flag value` pairs after the `positional` command words; every flag here takes a value."""
    rest = args[positional:]
    assert len(rest) % 2 == 0 and all(flag.startswith("--") for flag in rest[::2]), rest
    out: dict[str, list[str]] = {}
    for flag, value in zip(rest[::2], rest[1::2]):
        out.setdefault(flag, []).append(value)
    return out


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.removeprefix("http://"), int(port)


# --- Kubernetes ---------------------------------------------------------------------------------

K8S_MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("apps/v1", "Deployment"): "V1Deployment",
}
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC 1035: Service names


def validate_k8s(doc: dict) -> None:
    """The document, read into the client's model of its kind and written back, is unchanged."""
    kind = (doc.get("apiVersion"), doc.get("kind"))
    assert kind in K8S_MODELS, f"unexpected kind {kind}"
    api = k8s.ApiClient()
    model = api._ApiClient__deserialize(copy.deepcopy(doc), K8S_MODELS[kind])  # the client's own reader
    assert api.sanitize_for_serialization(model) == doc
    assert DNS_LABEL.match(doc["metadata"]["name"]), doc["metadata"]["name"]


def k8s_docs(spec: ManifestSpec) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(render(spec, "k8s")) if doc is not None]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    named = [(doc["metadata"]["name"], doc) for doc in docs if doc["kind"] == kind]
    assert len(named) == len(dict(named)), f"duplicate {kind} names"
    return dict(named)


def container(statefulset: dict) -> dict:
    (only,) = statefulset["spec"]["template"]["spec"]["containers"]
    return only


def test_k8s_documents_are_valid_kubernetes_objects():
    docs = k8s_docs(make_spec())
    for doc in docs:
        validate_k8s(doc)
    assert {doc["kind"] for doc in docs} == {"ConfigMap", "Service", "StatefulSet"}
    assert set(by_kind(docs, "StatefulSet")) == {"poet", "node-0", "node-1", "node-2"}
    assert all("namespace" not in doc["metadata"] for doc in docs)  # namespace-free: kubectl -n picks one


def _misspelt_field(doc):
    container(doc)["arg"] = container(doc).pop("args")


def _string_replicas(doc):
    doc["spec"]["replicas"] = "1"


def _nameless_container(doc):
    del container(doc)["name"]


def _port_as_text(doc):
    container(doc)["ports"][0]["containerPort"] = "7513"


def _unknown_kind(doc):
    doc["kind"] = "StatefulSets"


@pytest.mark.parametrize(
    "breakage", [_misspelt_field, _string_replicas, _nameless_container, _port_as_text, _unknown_kind]
)
def test_k8s_validator_rejects_broken_documents(breakage):
    statefulset = by_kind(k8s_docs(make_spec()), "StatefulSet")["node-1"]
    validate_k8s(statefulset)
    breakage(statefulset)
    with pytest.raises((AssertionError, ValueError, TypeError)):  # pydantic's ValidationError is a ValueError
        validate_k8s(statefulset)


def test_k8s_bootnodes_and_poet_resolve_to_services_of_the_right_pods():
    spec = make_spec(nodes=4, units=(1, 2, 1, 2), coinbases=())
    docs = k8s_docs(spec)
    services, sets = by_kind(docs, "Service"), by_kind(docs, "StatefulSet")

    def pods_behind(host: str, port: int) -> str:
        """The StatefulSet whose pod answers at host:port (a Service in the same namespace)."""
        assert host in services, f"{host} names no Service"
        service = services[host]["spec"]
        ports = {p["port"]: p["targetPort"] for p in service["ports"]}
        assert port in ports, f"Service {host} has no port {port}"
        matches = [
            name for name, sts in sets.items()
            if service["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
        ]  # fmt: skip
        assert len(matches) == 1, (host, matches)
        listening = {p["containerPort"] for p in container(sets[matches[0]])["ports"]}
        assert ports[port] in listening
        return matches[0]

    for i in range(spec.nodes):
        sts = sets[f"node-{i}"]
        assert sts["spec"]["serviceName"] in services
        opts = options(container(sts)["args"], 2)
        peers = sorted(pods_behind(*host_port(b)) for b in opts["--bootnode"])
        assert peers == sorted(f"node-{j}" for j in range(spec.nodes) if j != i)
        assert host_port(opts["--listen"][0]) == ("0.0.0.0", 7513)
        (poet,) = opts["--poet-server"]
        assert pods_behind(*host_port(poet)) == "poet"
        assert "--coinbase" not in opts
    api = services["node-0-api"]["spec"]
    assert {p["port"] for p in api["ports"]} == {10092, 10095}
    assert api["selector"].items() <= sets["node-0"]["spec"]["template"]["metadata"]["labels"].items()
    assert "clusterIP" not in api  # a real ClusterIP, unlike the headless per-pod Services


def test_k8s_nodes_share_genesis_accounts_and_config():
    docs = k8s_docs(make_spec())
    (configmap,) = by_kind(docs, "ConfigMap").values()
    assert json.loads(configmap["data"]["config.json"]) == CONFIG
    sets = by_kind(docs, "StatefulSet")
    for i, (units, coinbase) in enumerate([(1, ALICE), (2, BOB), (1, CAROL)]):
        sts = sets[f"node-{i}"]
        c = container(sts)
        assert c["command"] == ["smesh"] and c["args"][:2] == ["node", "run"]
        opts = options(c["args"], 2)
        assert opts["--genesis-time"] == [str(GENESIS)]
        assert opts["--preset"] == ["devnet"]
        assert sorted(opts["--account"]) == sorted([f"{ALICE}=100000000000000", f"{BOB}=7"])
        assert opts["--units"] == [str(units)] and opts["--coinbase"] == [coinbase]
        assert opts["--grpc-private-listener"] == ["127.0.0.1:10093"]
        # --config names the ConfigMap's file; --data-dir is the claim template's volume
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"].get("volumes", [])}
        config_dir, _, config_file = opts["--config"][0].rpartition("/")
        assert volumes[mounts[config_dir]]["configMap"]["name"] == configmap["metadata"]["name"]
        assert config_file in configmap["data"]
        claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
        assert mounts[opts["--data-dir"][0]] in claims
    poet = container(sets["poet"])
    claims = {t["metadata"]["name"] for t in sets["poet"]["spec"]["volumeClaimTemplates"]}
    assert {m["mountPath"]: m["name"] for m in poet["volumeMounts"]}[options(poet["args"], 2)["--datadir"][0]] in claims


# --- the PoET's schedule and the real CLI -------------------------------------------------------


def poet_and_node_args(spec: ManifestSpec, fmt: str) -> tuple[list[str], list[list[str]]]:
    if fmt == "k8s":
        sets = by_kind(k8s_docs(spec), "StatefulSet")
        return container(sets["poet"])["args"], [container(sets[f"node-{i}"])["args"] for i in range(spec.nodes)]
    services = yaml.safe_load(render(spec, "compose"))["services"]
    return services["poet"]["command"], [services[f"node-{i}"]["command"] for i in range(spec.nodes)]


@pytest.mark.parametrize("fmt", ["compose", "k8s"])
@pytest.mark.parametrize(
    ("extra", "schedule"),
    [({}, (12.0, 6.0, 6.0)), ({"poet-phase-shift": 2.0, "poet-cycle-gap": 1.5}, (12.0, 2.0, 1.5))],
)
def test_poet_schedule_matches_the_nodes(fmt, extra, schedule):
    poet, _ = poet_and_node_args(make_spec(config={**CONFIG, **extra}), fmt)
    assert poet[:2] == ["poet", "serve"]
    opts = options(poet, 2)
    got = tuple(parse_duration(opts[flag][0]) for flag in ("--epoch-duration", "--phase-shift", "--cycle-gap"))
    assert got == schedule
    assert opts["--genesis-time"] == [str(GENESIS)]
    assert opts["--restlisten"] == ["0.0.0.0:10010"] and opts["--rpclisten"] == ["off"]


def test_long_epochs_are_plain_durations():
    spec = make_spec(config={**CONFIG, "layer-duration": 300.0, "layers-per-epoch": 4032}, layer_duration=300.0,
                     layers_per_epoch=4032, units=(1, 1, 1))  # fmt: skip
    opts = options(poet_and_node_args(spec, "k8s")[0], 2)
    assert opts["--epoch-duration"] == ["1209600s"] and opts["--phase-shift"] == ["604800s"]


def parsed(command, args: list[str]) -> dict[str, object]:
    """The values click gives the command for `args`, keyed by flag (an unknown flag or a bad value raises)."""
    names = {opt: param.name for param in command.params for opt in param.opts}
    values = command.make_context(command.name, list(args)).params
    return {flag: values[name] for flag, name in names.items() if flag.startswith("--")}


@pytest.mark.parametrize("fmt", ["compose", "k8s"])
def test_arguments_parse_with_the_real_commands(fmt):
    from cli.commands import node, poet

    poet_args, node_args = poet_and_node_args(make_spec(), fmt)
    serve = parsed(typer.main.get_command(poet.app).commands["serve"], poet_args[2:])
    assert str(serve["--datadir"]) == "/data" and serve["--preset"] == "standalone"
    assert serve["--genesis-time"] == str(GENESIS)
    run = typer.main.get_command(node.app).commands["run"]
    for i, args in enumerate(node_args):
        values = parsed(run, args[2:])
        assert values["--units"] == (1, 2, 1)[i]
        assert sorted(values["--bootnode"]) == [f"node-{j}:7513" for j in range(3) if j != i]
        assert str(values["--config"]) == "/etc/smesh/config.json" and str(values["--data-dir"]) == "/data"
        assert list(values["--poet-server"]) == ["http://poet:10010"]
        assert sorted(values["--account"]) == sorted([f"{ALICE}=100000000000000", f"{BOB}=7"])
        assert values["--coinbase"] == (ALICE, BOB, CAROL)[i]


# --- docker compose -------------------------------------------------------------------------------

COMPOSE_SCHEMA = get_builtin_schema("vendor.compose-spec")


def validate_compose(doc: dict) -> None:
    jsonschema.validators.validator_for(COMPOSE_SCHEMA)(COMPOSE_SCHEMA).validate(doc)


def test_compose_schema_is_the_compose_spec():
    jsonschema.validators.validator_for(COMPOSE_SCHEMA).check_schema(COMPOSE_SCHEMA)
    assert {"services", "volumes", "configs"} <= set(COMPOSE_SCHEMA["properties"])


def test_compose_file_is_valid_compose_spec():
    doc = yaml.safe_load(render(make_spec(), "compose"))
    validate_compose(doc)
    assert "version" not in doc  # the compose spec dropped it; docker compose v2 warns on it
    assert set(doc) == {"services", "volumes", "configs"}


def _compose_misspelt(doc):
    doc["services"]["node-1"]["comand"] = doc["services"]["node-1"].pop("command")


def _compose_bad_volume(doc):
    doc["volumes"]["node-1-data"] = ["not", "a", "volume"]


def _compose_config_key(doc):
    doc["configs"]["smesh-config"]["contents"] = doc["configs"]["smesh-config"].pop("content")


def _compose_bad_port(doc):
    doc["services"]["node-0"]["ports"][0]["host_port"] = doc["services"]["node-0"]["ports"][0].pop("published")


@pytest.mark.parametrize("breakage", [_compose_misspelt, _compose_bad_volume, _compose_config_key, _compose_bad_port])
def test_compose_validator_rejects_broken_documents(breakage):
    doc = yaml.safe_load(render(make_spec(), "compose"))
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_compose(doc)


def test_compose_services_volumes_and_config_fit_together():
    spec = make_spec()
    doc = yaml.safe_load(render(spec, "compose"))
    services = doc["services"]
    assert set(services) == {"poet", "node-0", "node-1", "node-2"}
    assert json.loads(doc["configs"]["smesh-config"]["content"]) == CONFIG
    for service in services.values():
        assert service["image"] == "smesh:latest" and service["entrypoint"] == ["smesh"]
        assert service["restart"] == "unless-stopped"
        (volume,) = service["volumes"]
        source, _, target = volume.partition(":")
        assert source in doc["volumes"] and target == "/data"
    assert len({service["volumes"][0] for service in services.values()}) == len(services)  # one volume each
    for i in range(spec.nodes):
        service = services[f"node-{i}"]
        opts = options(service["command"], 2)
        hosts = [host_port(b) for b in opts["--bootnode"]]
        assert sorted(hosts) == [(f"node-{j}", 7513) for j in range(spec.nodes) if j != i]
        assert all(host in services for host, _ in hosts)
        assert host_port(opts["--poet-server"][0]) == ("poet", 10010)
        assert "poet" in service["depends_on"]
        (config,) = service["configs"]
        assert config["source"] in doc["configs"] and config["target"] == opts["--config"][0]
        assert opts["--genesis-time"] == [str(GENESIS)]
        assert sorted(opts["--account"]) == sorted([f"{ALICE}=100000000000000", f"{BOB}=7"])
    published = {(p["target"], str(p["published"])) for p in services["node-0"]["ports"]}
    assert published == {(10092, "10092"), (10095, "10095")}
    assert all("ports" not in services[name] for name in ("poet", "node-1", "node-2"))


def test_compose_escapes_dollars_from_interpolation():
    spec = make_spec(config={**CONFIG, "grpc-cors-allowed-origin": "https://a$b.example"})
    doc = yaml.safe_load(render(spec, "compose"))
    content = doc["configs"]["smesh-config"]["content"]
    assert "a$$b" in content
    assert json.loads(content.replace("$$", "$"))["grpc-cors-allowed-origin"] == "https://a$b.example"
    assert "a$b" in yaml.safe_load(render(spec, "k8s").split("---", 2)[1])["data"]["config.json"]  # k8s: verbatim


# --- the spec ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["compose", "k8s"])
def test_rendering_is_deterministic(fmt):
    a = render(make_spec(), fmt)
    assert render(make_spec(), fmt) == a
    reordered = make_spec(accounts=dict(reversed(ACCOUNTS.items())), config=dict(reversed(CONFIG.items())))
    assert render(reordered, fmt) == a
    assert render(make_spec(genesis_time=GENESIS + 1), fmt) != a


def test_one_node_has_no_bootnodes():
    spec = make_spec(nodes=1, units=(2,), coinbases=())
    for fmt in ("compose", "k8s"):
        _, (args,) = poet_and_node_args(spec, fmt)
        assert "--bootnode" not in args and "--listen" in args
    for doc in k8s_docs(spec):
        validate_k8s(doc)
    validate_compose(yaml.safe_load(render(spec, "compose")))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nodes": 0, "units": ()}, "at least one node"),
        ({"units": (1, 1)}, "PoST unit counts"),
        ({"units": (1, 1, 3)}, "outside 1..2"),
        ({"coinbases": (ALICE,)}, "coinbases"),
        ({"layer_duration": 6.0}, "disagrees"),
        ({"layers_per_epoch": 10}, "disagrees"),
        ({"accounts": {"sm1qqqqqqq": 1}}, "genesis account"),
        ({"accounts": {ALICE: -1}}, "amount"),
        ({"accounts": {encode_address(bytes(24), "stest"): 1}}, "genesis account"),
        ({"config": {**CONFIG, "no-such-key": 1}}, "no-such-key"),
        ({"config": {**CONFIG, "genesis-time": 5}}, "genesis-time"),
        ({"genesis_time": "soon"}, "genesis time"),
        ({"image": "smesh latest"}, "image"),
        ({"preset": "nonet"}, "preset"),
    ],
)
def test_inconsistent_specs_are_rejected(changes, message):
    for fmt in ("compose", "k8s"):
        with pytest.raises(InvalidInput, match=message) as e:
            render(make_spec(**changes), fmt)
        assert "\n" not in str(e.value)


def test_unknown_format_is_rejected():
    with pytest.raises(InvalidInput, match="compose, k8s"):
        render(make_spec(), "helm")
