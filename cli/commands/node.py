"""`smesh node run`: a full node in one process (spec/node.md §10.1 standalone mode).

With `--preset standalone` the process is a complete one-node network: the node (clock,
tortoise, hare, beacon, proposals, blocks, VM and the SQLite mesh), an embedded PoET server
doing real sequential work (or, with `--poet-server URL`, a shared `smesh poet serve` whose
round schedule must match the node's), and the NIPoST/ATX builder that initialises PoST data and publishes
one ATX per epoch.  The first ATX goes out in epoch 1; from epoch 2 on every layer carries the
node's proposal and the block subsidy is credited to the coinbase.

The data directory holds `genesis.json` (fixed at the first start: a later start with another
genesis is refused), `identities/local.key`, `state.sql`, `local.sql`, `post/`, `poet/` and `LOCK`
(flock-ed while a node runs: a second node on the directory is refused); with `--listen` or
`--bootnode` also `p2p/p2p.key` (the network key, 0600) and `p2p/peers.json` (the peers of the last run).
Ctrl-C or SIGTERM shuts everything down cleanly; after a crash the node continues from its store.

This module only assembles the pieces and renders their progress; the protocol lives in core.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.commands.online import Api
from cli.output import console, note, setup_logging
from cli.state import options
from core.dirlock import DirLock
from core.errors import InvalidInput, SmeshError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Full node: smesh, keep the mesh, serve the API.")

STANDALONE_COINBASE_SEED = b"1"  # go-spacemesh standalone: GenerateAddress([]byte("1"))
DEFAULT_POET_LISTEN = "127.0.0.1:10010"
DATA_DIR_LOCK = "LOCK"  # flock-ed by the running node (core/dirlock.py)
EMBEDDED_POET = "embedded PoET"  # the address the builder's registrations give the node's own PoET
QUIET_EVENTS = frozenset({"layer"})  # shown in the live table rather than as lines


@dataclasses.dataclass
class Setup:
    """Everything `run` resolved from flags and the data directory before starting."""

    config: Any  # NodeConfig
    data_dir: Path
    secret_key: bytes
    coinbase: bytes
    units: int
    lock: Any = None  # core.dirlock.DirLock on the data directory, held while the node runs


# --- resolving flags and the data directory -----------------------------------------------------


def _parse_accounts(values: list[str], hrp: str) -> dict[str, int]:
    from core.tx.units import parse_amount
    from core.wallet.address import decode_address, encode_address

    accounts: dict[str, int] = {}
    for value in values:
        address, sep, amount = value.partition("=")
        if not sep:
            raise InvalidInput(f"--account {value!r}: use ADDRESS=AMOUNT, e.g. {hrp}1...=100smh")
        raw = decode_address(address, hrp)
        accounts[encode_address(raw, hrp)] = accounts.get(encode_address(raw, hrp), 0) + parse_amount(amount)
    return accounts


def _genesis_file(data_dir: Path, genesis_time: int | None, extra: str, accounts: dict[str, int]) -> tuple[int, dict]:
    """Read or write `genesis.json` (spec §0: written once, never changed)."""
    from core import atomicfile

    path = data_dir / "genesis.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SmeshError(f"cannot read {path}: {e}") from None
        if genesis_time is not None and genesis_time != stored["time"]:
            raise InvalidInput(
                f"{data_dir} belongs to the network with genesis time {stored['time']}; "
                "drop --genesis-time or use another --data-dir"
            )
        if stored.get("extra_data") != extra or (accounts and accounts != stored.get("accounts", {})):
            raise InvalidInput(f"{data_dir} belongs to another network (genesis extra data or accounts differ)")
        return int(stored["time"]), dict(stored.get("accounts", {}))
    if genesis_time is None:
        raise InvalidInput("a new node needs --genesis-time (e.g. now+30s)")
    atomicfile.write_new(path, json.dumps({"time": genesis_time, "extra_data": extra, "accounts": accounts}).encode())
    return genesis_time, accounts


def _identity(data_dir: Path) -> bytes:
    """The smesher key (`identities/local.key`: hex of seed ‖ public key, as go-spacemesh keeps it)."""
    import os

    from core import atomicfile
    from core.crypto.signing import public_key_of, signing_key

    path = data_dir / "identities" / "local.key"
    if path.exists():
        try:
            return bytes(signing_key(bytes.fromhex(path.read_text().strip())).encode())
        except (OSError, ValueError) as e:
            raise SmeshError(f"cannot read the identity key {path}: {e}") from None
    atomicfile.ensure_directory(path.parent)
    seed = os.urandom(32)
    atomicfile.write_new(path, (seed + public_key_of(seed)).hex().encode())
    return seed


def _data_dir_or_default(data_dir: Path | None) -> Path:
    """`--data-dir`, else `$TMPDIR/spacemesh` as go-spacemesh's standalone mode uses."""
    return (data_dir or Path(tempfile.gettempdir()) / "spacemesh").expanduser()


def _prepare(
    preset: str, config_file: Path | None, data_dir: Path | None, genesis_text: str | None, accounts: list[str],
    coinbase_text: str | None, units: int | None, api: dict[str, Any] | None = None,
) -> Setup:
    from core import atomicfile
    from core.config.node import PRESETS, load_config, parse_genesis_time
    from core.wallet.address import decode_address

    if preset not in PRESETS:
        raise InvalidInput(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    base = load_config(preset, config_file, api)
    # every flag is checked before anything is created on disk
    data_dir = _data_dir_or_default(data_dir)
    wanted = parse_genesis_time(genesis_text) if genesis_text is not None else None
    if genesis_text is not None and genesis_text.strip().startswith("now") and (data_dir / "genesis.json").exists():
        wanted = None  # "now+20s" means "when this network is new": a restart continues the stored one
    if PRESETS[preset].genesis_time is not None and wanted is None:
        wanted = base.genesis_time
    requested_accounts = _parse_accounts(accounts, base.hrp)
    coinbase = (
        decode_address(coinbase_text, base.hrp)
        if coinbase_text
        else bytes(4) + STANDALONE_COINBASE_SEED.ljust(20, b"\x00")
    )
    units = base.min_num_units if units is None else units
    if not base.min_num_units <= units <= base.max_num_units:
        raise InvalidInput(f"--units must be {base.min_num_units}..{base.max_num_units} on {preset}")
    try:
        atomicfile.ensure_directory(data_dir)
    except OSError as e:
        raise SmeshError(f"cannot use data directory {data_dir}: {e}") from None
    lock = DirLock(data_dir / DATA_DIR_LOCK, "smesh node run").acquire()  # before anything in it is written
    genesis, funded = _genesis_file(data_dir, wanted, base.genesis_extra_data, requested_accounts)
    config = load_config(preset, config_file, {**(api or {}), "genesis_time": genesis, "genesis_accounts": funded})
    return Setup(config, data_dir, _identity(data_dir), coinbase, units, lock)


# --- running ------------------------------------------------------------------------------------


class Activation:
    """The ATX source: the real builder with an embedded PoET, or the deterministic stand-in."""

    def __init__(
        self, setup: Setup, node: Any, local: Any, poet_listen: tuple[str, int], simulated: bool,
        poet_servers: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.setup, self.node, self.local = setup, node, local
        self.poet_listen, self.simulated, self.poet_servers = poet_listen, simulated, poet_servers
        self.server: Any = None
        self.clients: list[Any] = []
        self.builder: Any = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        from core.node.clock import sleep_until_wall
        from core.node.simulation import simulated_activation

        if self.simulated:
            self.task = asyncio.create_task(simulated_activation(self.node, self.setup.units, sleep_until_wall))
            return
        await self._start_real()

    async def _start_real(self) -> None:
        from core.activation.builder import ActivationBuilder, BuilderConfig
        from core.activation.handler import AtxHandler
        from core.node.clock import sleep_until_wall
        from core.poet.client import PoetClient
        from core.poet.rounds import RoundSchedule
        from core.poet.service import ServiceConfig, start_server

        config, node = self.setup.config, self.node
        schedule = RoundSchedule(config.require_genesis_time(), config.epoch_duration, config.phase_shift,
                                 config.cycle_gap)
        if self.poet_servers:
            self.clients = [await _external_poet(url, config) for url in self.poet_servers]
        else:
            self.server = await start_server(ServiceConfig(self.setup.data_dir / "poet", schedule), self.poet_listen, None)
            host, port = self.server.rest_address
            # named by role, not URL: with --poet-listen HOST:0 the port changes at every start, and the
            # builder must find its registration again after a restart
            self.clients = [PoetClient(f"http://{host}:{port}", retry_delay=0.5, address=EMBEDDED_POET)]
        handler = AtxHandler(node.rules, node.clock.current_epoch, node.atxs, node.proofs, node.poets)
        handler.subscribe(on_atx=node.on_atx, on_malicious=node.on_malicious)
        self.builder = ActivationBuilder(
            BuilderConfig.from_node_config(config, self.setup.data_dir / "post", self.setup.coinbase, self.setup.units),
            secret_key=self.setup.secret_key, rules=node.rules, clock=node.clock, sleep_until=sleep_until_wall,
            local=self.local, handler=handler, poet_proofs=node.poets, poets=self.clients, publish=node.publish_atx,
        )
        self.task = self.builder.start()

    def smesher_state(self) -> Any:
        """What spacemesh.v1.SmesherService reports (core.api.backend.SmesherState)."""
        from core.api.backend import SmesherState

        builder = self.builder.status() if self.builder is not None else None
        return SmesherState(
            node_id=self.node.node_id,
            coinbase=self.setup.coinbase,
            smeshing=self.task is not None and not self.task.done(),
            post_dir=None if self.simulated else self.setup.data_dir / "post",
            num_units=self.setup.units,
            max_file_size=self.builder.config.max_file_size if self.builder is not None else 0,
            provider=None,
            phase=builder.phase.value if builder else ("simulated" if self.simulated else "idle"),
            error=builder.last_error if builder else None,
        )

    def phase(self) -> str:
        if self.builder is None:
            return "simulated" if self.simulated else "-"
        status = self.builder.status()
        text = status.phase.value
        if status.publish_epoch is not None:
            text += f" (ATX for epoch {status.publish_epoch})"
        return text + (f" - {status.last_error}" if status.last_error else "")

    async def stop(self) -> None:
        if self.builder is not None:
            await self.builder.stop()
        elif self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        for client in self.clients:
            await client.close()
        if self.server is not None:
            await self.server.close()


async def _external_poet(url: str, config: Any) -> Any:
    """A client of a `--poet-server`, refused at once if its rounds do not fit the node's epochs;
    one that cannot be reached now is only a warning (the builder retries, a PoET may come up later)."""
    from core.poet.client import PoetClient, PoetClientError, check_schedule

    client = PoetClient(url, retry_delay=0.5)
    try:
        info = await asyncio.wait_for(client.info(), 10)
    except (PoetClientError, asyncio.TimeoutError) as e:
        note(f"[yellow]warning:[/] PoET {url} is not reachable now ({e or 'timeout'}); the node keeps trying")
        return client
    try:
        check_schedule(url, info, config.phase_shift, config.cycle_gap)
    except SmeshError:
        await client.close()
        raise
    return client


def _poet_url(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise InvalidInput(f"--poet-server {url!r}: use http://HOST:PORT (or https://)")
    return url.rstrip("/")


def _status_table(status: dict, phase: str, api: str = "") -> Any:
    from rich.table import Table

    from core.tx.units import format_smh

    table = Table(title="smesh node", show_header=False, min_width=60)
    elig = status["eligibility"]
    rows = [
        ("layer / epoch", f"{status['layer']} / {status['epoch']}"),
        ("smesher", status["node_id"][:16] + "..."),
        ("activation", phase),
        ("own ATXs (target epoch)", ", ".join(f"{e}: {i[:12]}" for e, i in status["own_atxs"].items()) or "-"),
        ("beacon", status["beacon"] or "-"),
        ("eligibility", f"{elig['slots']} slots in {len(elig['layers'])} layers" if elig else "-"),
        ("applied / verified", f"{status['last_applied']} / {status['verified']}"),
        ("coinbase balance", format_smh(status["coinbase_balance"])),
        ("mempool", str(status["mempool"])),
        ("peers", f"{status['peers']} ({'synced' if status['synced'] else 'syncing'})"),
        ("API", api or "off"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _progress_line(status: dict, phase: str) -> str:
    from core.tx.units import format_smh

    elig = status["eligibility"]
    return (
        f"layer {status['layer']} (epoch {status['epoch']}): applied {status['last_applied']}, "
        f"verified {status['verified']}, activation {phase}, "
        f"eligibility {elig['slots'] if elig else 0} slots, coinbase {format_smh(status['coinbase_balance'])}, "
        f"mempool {status['mempool']}, peers {status['peers']}{'' if status['synced'] else ' (syncing)'}"
    )


def _json_line(event: str, fields: dict) -> None:
    sys.stdout.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str) + "\n")
    sys.stdout.flush()


def _announce_api(api: Any, ports: Any) -> str:
    listeners = {
        "public": (api.public_listen, ports.public), "private": (api.private_listen, ports.private),
        "json": (api.json_listen, ports.json),
    }  # fmt: skip
    on = {name: f"{listen.rpartition(':')[0]}:{port}" for name, (listen, port) in listeners.items() if port is not None}
    text = ", ".join(f"{name} {address}" for name, address in on.items())
    if options.json:
        _json_line("api", on)
    else:
        note("API: " + text)
    return text


@dataclasses.dataclass(frozen=True)
class Network:
    """`--listen` / `--bootnode`: without either the node is a network of one (an in-process bus)."""

    listen: str | None = None
    bootnodes: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.listen is not None or bool(self.bootnodes)

    def check(self) -> None:
        from core.p2p.protocol import parse_address

        if self.listen is not None:
            parse_address(self.listen, "--listen")
        for address in self.bootnodes:
            parse_address(address, "--bootnode")


def _connect(node: Any, setup: Setup, network: Network) -> Any:
    """Put the node on the network: a p2p host (spec §9), or a bus of one.  Returns the host or None."""
    if not network.enabled:
        from core.node.bus import Bus

        node.connect(Bus())  # standalone: a network of one
        return None
    from core.p2p.host import start_host
    from core.p2p.identity import load_or_create_key

    host = start_host(
        load_or_create_key(setup.data_dir), setup.config.genesis_id, network.listen, network.bootnodes,
        setup.data_dir / "p2p",
    )
    node.attach(host)
    if options.json:
        _json_line("p2p", {"peer_id": host.id, "listen": host.listen_address, "bootnodes": list(network.bootnodes)})
        host.listeners.append(_json_line)
    else:
        note(f"p2p: peer id {host.id}" + (f", listening on {host.listen_address}" if host.listen_address else ""))
    return host


async def _serve(
    setup: Setup, poet_listen: tuple[str, int], simulated: bool, until_layer: int | None, network: Network = Network(),
    poet_servers: tuple[str, ...] = (),
) -> dict:
    from cli.main import VERSION
    from core.activation.proofs import AtxProofChecker, PoetProofStore
    from core.api.backend import NodeBackend
    from core.api.server import ApiServer
    from core.consensus.hare import Identity
    from core.mesh.store import LocalStore, MeshStore
    from core.node.clock import sleep_until_wall
    from core.node.node import Node
    from core.node.simulation import TICKS_PER_ROUND, SimulatedProofs

    config = setup.config
    mesh = MeshStore(setup.data_dir / "state.sql")
    local = LocalStore(setup.data_dir / "local.sql")
    poets = PoetProofStore(mesh)
    checker = (
        SimulatedProofs(config.tick_size * TICKS_PER_ROUND) if simulated else AtxProofChecker.from_config(config, poets)
    )
    node = Node(config, Identity(setup.secret_key), setup.coinbase, mesh, time.time, checker, "local", poets=poets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def on_event(event: str, fields: dict) -> None:
        if options.json and event not in QUIET_EVENTS:
            _json_line(event, fields)
        if until_layer is not None and event == "applied" and fields["layer"] >= until_layer:
            stop.set()

    node.listeners.append(on_event)
    node.start()
    host = None
    activation = Activation(setup, node, local, poet_listen, simulated, poet_servers)
    backend = NodeBackend(config, mesh, version=VERSION, node=node, smesher=activation.smesher_state)
    api = ApiServer(backend)
    tasks: list[asyncio.Task] = []
    try:
        host = _connect(node, setup, network)
        ports = await api.start()
        api_text = _announce_api(api, ports)
        await activation.start()
        tasks.append(asyncio.create_task(node.run(sleep_until_wall), name="node"))
        await _watch(node, activation, stop, tasks, api_text)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.stop()
        await activation.stop()
        status = node.status()  # peers included: before the host goes
        if host is not None:
            host.stop()
        mesh.close()
        local.close()
    return status


async def _watch(
    node: Any, activation: Activation, stop: asyncio.Event, tasks: list[asyncio.Task], api: str = ""
) -> None:
    """Show progress until asked to stop; a crashed task ends the run with its error."""
    live = None
    if not options.json and console().is_terminal:
        from rich.live import Live

        live = Live(_status_table(node.status(), activation.phase(), api), console=console(), refresh_per_second=2)
        live.start()
    last_layer = None
    try:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()
            status = node.status()
            if live is not None:
                live.update(_status_table(status, activation.phase(), api))
            elif status["layer"] != last_layer and options.json:
                _json_line("status", {**status, "activation": activation.phase()})
            elif status["layer"] != last_layer:  # a pipe or a log file: one plain line per layer
                note(_progress_line(status, activation.phase()))
            last_layer = status["layer"]
    finally:
        if live is not None:
            live.stop()


def _setup_logging() -> None:
    setup_logging(logging.WARNING)


@app.callback()
def main() -> None:
    """Full node: smesh, keep the mesh, serve the API."""


@app.command()
def run(
    preset: Annotated[str, typer.Option("--preset", help="Network preset: standalone, devnet, fastnet, ...")] = "standalone",
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML or JSON file of settings on top of the preset.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", "-d", help="Where the node keeps its data (default: $TMPDIR/spacemesh).")
    ] = None,
    genesis_time: Annotated[
        str | None, typer.Option("--genesis-time", help="Genesis: RFC 3339, Unix seconds or now+30s (first start only).")
    ] = None,
    account: Annotated[
        list[str] | None, typer.Option("--account", help="Genesis account ADDRESS=AMOUNT (e.g. 100smh); repeatable.")
    ] = None,
    coinbase: Annotated[
        str | None, typer.Option("--coinbase", help="Address credited with rewards (standalone default: as go-spacemesh).")
    ] = None,
    units: Annotated[int | None, typer.Option("--units", min=1, help="PoST space units to smesh with.")] = None,
    poet_listen: Annotated[
        str, typer.Option("--poet-listen", help="Where the embedded PoET serves REST (host:port, port 0: any).")
    ] = DEFAULT_POET_LISTEN,
    poet_server: Annotated[
        list[str] | None,
        typer.Option("--poet-server", help="Use this PoET (http://HOST:PORT) instead of an embedded one; repeatable."),
    ] = None,
    simulated_activation: Annotated[
        bool,
        typer.Option("--simulated-activation", help="Stand-in ATXs instead of PoST + PoET (fast, for development)."),
    ] = False,
    until_layer: Annotated[
        int | None, typer.Option("--until-layer", min=0, help="Exit cleanly once this layer is applied.")
    ] = None,
    grpc_public_listener: Annotated[
        str | None, typer.Option("--grpc-public-listener", help="Public gRPC API HOST:PORT ('' turns it off).")
    ] = None,
    grpc_private_listener: Annotated[
        str | None, typer.Option("--grpc-private-listener", help="Private gRPC API HOST:PORT (smesher, streams).")
    ] = None,
    grpc_json_listener: Annotated[
        str | None, typer.Option("--grpc-json-listener", help="JSON gateway HOST:PORT ('' turns it off).")
    ] = None,
    grpc_cors_allowed_origin: Annotated[
        list[str] | None,
        typer.Option("--grpc-cors-allowed-origin", help="Origin browsers may call the JSON gateway from; repeatable."),
    ] = None,
    listen: Annotated[
        str | None, typer.Option("--listen", help="Accept peers on HOST:PORT (port 0: any); see --bootnode.")
    ] = None,
    bootnode: Annotated[
        list[str] | None,
        typer.Option("--bootnode", help="A peer's HOST:PORT to join the network through; repeatable."),
    ] = None,
) -> None:
    """Run a full node; with --preset standalone a whole one-node network (PoET and smeshing included)."""
    from core.poet.rest import parse_listen

    api = {
        "grpc_public_listener": grpc_public_listener, "grpc_private_listener": grpc_private_listener,
        "grpc_json_listener": grpc_json_listener, "grpc_cors_allowed_origin": grpc_cors_allowed_origin or None,
    }  # fmt: skip
    network = Network(listen, tuple(bootnode or ()))
    network.check()  # before anything is written
    poets = tuple(_poet_url(url) for url in poet_server or ())
    setup = _prepare(preset, config_file, data_dir, genesis_time, account or [], coinbase, units, api)
    poet_address = parse_listen(poet_listen, "--poet-listen")
    _setup_logging()
    note(
        f"node {setup.config.preset}: data in {setup.data_dir}, genesis {setup.config.genesis_time}, "
        f"{setup.units} unit(s); Ctrl-C to stop"
    )
    status = asyncio.run(_serve(setup, poet_address, simulated_activation, until_layer, network, poets))
    if options.json:
        _json_line("stopped", status)
    else:
        note(f"stopped at layer {status['layer']}; last applied layer {status['last_applied']}")


# --- `smesh node status`: a running node, through its API ----------------------------------------


@app.command()
def status(api: Api = None) -> None:
    """Network, sync state, layers, peers and version of a running node, from its API."""
    from cli.commands.online import connect, key_values, network_json, utc
    from cli.output import emit
    from core.api.client import NotServed

    with connect(api) as client:
        info = client.network_info()
        state = client.node_status()
        try:
            version: str | None = client.version()
        except NotServed:  # a node without the v1 NodeService
            version = None
    epoch = state.current_layer // info.layers_per_epoch if info.layers_per_epoch else None
    result = {
        "api": client.api,
        "version": version,
        "network": network_json(info),
        "status": state.status,
        "connectedPeers": state.connected_peers,
        "currentLayer": state.current_layer,
        "currentEpoch": epoch,
        "latestLayer": state.latest_layer,
        "appliedLayer": state.applied_layer,
        "processedLayer": state.processed_layer,
    }
    colour = {"SYNCED": "green", "SYNCING": "yellow"}.get(state.status, "red")
    rows = [
        ("node", f"{client.api}, version {version or 'unknown'}"),
        ("network", f"{info.hrp}, genesis id {info.genesis_id.hex()}"),
        ("genesis", f"{utc(info.genesis_time)} (layer {info.effective_genesis_layer} is the effective genesis)"),
        ("layers", f"{info.layer_duration:g} s each, {info.layers_per_epoch} per epoch"),
        ("current layer", f"{state.current_layer} (epoch {epoch})"),
        ("applied layer", str(state.applied_layer)),
        ("processed layer", str(state.processed_layer)),
        ("latest layer", str(state.latest_layer)),
        ("sync", f"[{colour}]{state.status}[/]"),
        ("peers", str(state.connected_peers)),
    ]
    emit(result, lambda: key_values(rows, "Node status"))
