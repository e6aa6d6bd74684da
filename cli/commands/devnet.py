"""`smesh devnet`: a local multi-node Spacemesh network for people and CI.

`devnet up` starts one `smesh poet serve` and N `smesh node run` processes (a full mesh over p2p,
real PoST + PoET activations, funded genesis accounts) and returns once every node has applied a
block; `devnet.json` in the devnet directory tells CI where everything is.  The other commands
inspect it, send coins, inject faults and stop it.  The work is in devnet/; this module parses and
renders.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import console, emit, note, warn
from cli.state import options
from core.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A local multi-node network: up, status, down.")

DIR_ENV = "SMESH_DEVNET_DIR"
DEFAULT_DIR = ".devnet"

Dir = Annotated[
    Path | None,
    typer.Option("--dir", "-d", help=f"The devnet directory (default: ${DIR_ENV}, else ./{DEFAULT_DIR}).",
                 show_default=False),
]  # fmt: skip
NodeName = Annotated[str, typer.Argument(help="A node: node-0, or just 0.", show_default=False)]


def _dir(value: Path | None) -> Path:
    return (value or Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)).expanduser().absolute()


def _load(directory: Path | None) -> Any:
    from devnet.state import Devnet

    return Devnet.load(_dir(directory))


def _units(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(u) for u in text.split(","))
    except ValueError:
        raise InvalidInput(f"--units {text!r}: use a number or numbers separated by commas, e.g. 1,2") from None
    return values


def _terminate_as_interrupt() -> None:
    """SIGTERM to `devnet up` stops the devnet like Ctrl-C does."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


# --- up -------------------------------------------------------------------------------------------


def _progress_printer() -> Any:
    """Shows the nodes' progress while `up` waits: one line per new layer (nothing under --json)."""
    last: list[Any] = [None]

    def show(seen: list) -> None:
        if options.json:
            return
        layers = [v.current_layer for v in seen if v.current_layer is not None]
        key = max(layers) if layers else None
        if key == last[0]:
            return
        last[0] = key
        note(f"layer {key if key is not None else '-'}: " + "; ".join(_node_summary(v.to_json()) for v in seen))

    return show


def _up_json(devnet: Any, mnemonic: str | None, ready: dict) -> dict:
    data = devnet.to_json()
    data.pop("format")
    for proc in (data["poet"], *data["nodes"]):
        proc.pop("args")
    data["state_file"] = str(devnet.dir / "devnet.json")
    data["wallet"] = {"file": devnet.wallet, "password_file": devnet.password_file, "mnemonic": mnemonic}
    del data["password_file"]
    data["ready"] = ready
    return data


def _print_up(devnet: Any, mnemonic: str | None, ready: dict) -> None:
    from rich.table import Table

    from core.tx.units import format_smh

    table = Table(title=f"devnet in {devnet.dir}", min_width=60)
    for column in ("node", "API (gRPC)", "JSON API", "p2p", "units", "pid"):
        table.add_column(column)
    for node in devnet.nodes:
        table.add_row(node.name, node.api, node.json_api, node.p2p, str(node.units), str(node.pid))
    console().print(table)
    console().print(f"PoET {devnet.poet.url} (pid {devnet.poet.pid}); network {devnet.hrp}, genesis id {devnet.genesis_id}")
    if devnet.accounts:
        accounts = Table(title="funded accounts (wallet account index, address, genesis balance)")
        for column in ("#", "address", "balance"):
            accounts.add_column(column)
        for account in devnet.accounts:
            accounts.add_row(str(account.index), account.address, format_smh(account.balance))
        console().print(accounts)
    if mnemonic is not None:
        warn("the devnet wallet's mnemonic, shown once (test coins only):")
        console().print(f"[bold]{mnemonic}[/]")
    console().print(f"wallet {devnet.wallet}, password in {devnet.password_file}")
    console().print(
        f"[green]ready[/]: every node applied a block (layer {ready['layer']}) {ready['seconds']:.0f} s after start"
    )
    api = devnet.nodes[0].api
    console().print(
        "next: smesh devnet status | "
        f"smesh tx send --api {api} --file {devnet.wallet} --password-file {devnet.password_file} --to ADDR --amount 1smh"
        " | smesh devnet down"
    )


@app.command()
def up(
    nodes: Annotated[int, typer.Option("--nodes", "-n", help="Node processes.")] = 3,
    units: Annotated[str, typer.Option("--units", help="PoST units per node: 1, or 1,2 (repeated over the nodes).")] = "1",
    accounts: Annotated[int, typer.Option("--accounts", help="Genesis accounts funded in the devnet wallet.")] = 2,
    balance: Annotated[str, typer.Option("--balance", help="Genesis balance of each funded account.")] = "100000smh",
    directory: Dir = None,
    detach: Annotated[bool, typer.Option("--detach", help="Return once ready and leave the devnet running.")] = False,
    wait_layer: Annotated[
        int | None, typer.Option("--wait-layer", min=0, help="Also wait until every node applied this layer.")
    ] = None,
    layer_duration: Annotated[float, typer.Option("--layer-duration", help="Seconds per layer.")] = 3.0,
    layers_per_epoch: Annotated[int, typer.Option("--layers-per-epoch", min=2, help="Layers per epoch.")] = 4,
    genesis_delay: Annotated[float, typer.Option("--genesis-delay", help="Seconds from now to genesis.")] = 20.0,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Give up (and stop) if not ready by then (default: from the schedule).")
    ] = None,
    base_port: Annotated[
        int | None,
        typer.Option("--base-port", help="Fixed ports: node i on BASE+10i (p2p), +2/+3 (gRPC), +5 (JSON); PoET BASE+10N.",
                     show_default=False),
    ] = None,
) -> None:
    """Start a devnet (or the stopped one in --dir) and wait until every node applied a block."""
    from core.tx.units import parse_amount
    from devnet import launch, observe
    from devnet.state import Devnet, DevnetError

    started = time.time()
    target = _dir(directory)
    mnemonic = None
    if launch.is_devnet(target):
        devnet = Devnet.load(target)
        alive = launch.running(devnet)
        if alive:
            raise DevnetError(
                f"a devnet is already running in {target} ({', '.join(alive)}): `smesh devnet down` first, "
                "or --dir for another one"
            )
        note(f"continuing the devnet in {target} (genesis {devnet.genesis_time})")
    else:
        opts = launch.DevnetOptions(
            nodes=nodes, units=_units(units), accounts=accounts, balance=parse_amount(balance),
            layer_duration=layer_duration, layers_per_epoch=layers_per_epoch, genesis_delay=genesis_delay,
            base_port=base_port,
        )  # fmt: skip
        devnet, mnemonic = launch.create(target, opts, now=started)
        note(f"devnet in {target}: {nodes} nodes, genesis in {genesis_delay:g} s")
    epoch = devnet.layer_duration * devnet.layers_per_epoch
    if timeout is None:
        last = max(devnet.first_block_bound, devnet.genesis_time + (wait_layer or 0) * devnet.layer_duration)
        timeout = max(0.0, last - time.time()) + 3 * epoch + 120
    _terminate_as_interrupt()
    try:
        with launch.locked(target):
            launch.start_all(devnet, tie_to_parent=not detach)

        def done(seen: list) -> bool:
            return observe.ready(seen) and (wait_layer is None or observe.applied_everywhere(wait_layer)(seen))

        what = "the first block on every node" + (f" and layer {wait_layer}" if wait_layer is not None else "")
        seen = observe.wait(devnet, done, timeout, what, _progress_printer())
    except BaseException:
        note("stopping the devnet")
        launch.stop_all(devnet)
        raise
    layer = min(v.applied_layer for v in seen)
    ready = {"layer": layer, "seconds": round(time.time() - started, 1), "first_block_bound": devnet.first_block_bound}
    emit(_up_json(devnet, mnemonic, ready), lambda: _print_up(devnet, mnemonic, ready))
    if detach:
        return
    try:
        _watch(devnet, until_gone=True)
    except KeyboardInterrupt:
        pass
    finally:
        if launch.is_devnet(devnet.dir):  # gone after a `devnet down --purge` from another shell
            note("stopping the devnet")
            launch.stop_all(Devnet.load(devnet.dir))


# --- status ---------------------------------------------------------------------------------------


def _status_data(devnet: Any) -> dict:
    from devnet import observe, processes

    seen = observe.views(devnet)
    agreement = observe.agreement(devnet, seen)
    return {
        "dir": str(devnet.dir),
        "poet": {"url": devnet.poet.url, "running": processes.alive(devnet.poet)},
        "nodes": [v.to_json() for v in seen],
        "agreement": agreement.to_json(),
        "partition": devnet.partition,
    }


def _status_table(data: dict) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from core.tx.units import format_smh

    table = Table(title=f"devnet {data['dir']}", min_width=70)
    for column in ("node", "state", "layer", "applied", "peers", "sync", "ATXs", "coinbase", "last block"):
        table.add_column(column)
    for v in data["nodes"]:
        state = "[green]running[/]" if v["running"] and not v["error"] else ("[yellow]no API[/]" if v["running"] else "[red]stopped[/]")
        block = v["last_block"]

        def cell(value: Any) -> str:
            return "-" if value is None else str(value)

        table.add_row(
            v["name"], state, cell(v["current_layer"]), cell(v["applied_layer"]), cell(v["peers"]), cell(v["sync"]),
            cell(v["atxs"]), "-" if v["coinbase_balance"] is None else format_smh(v["coinbase_balance"]),
            "-" if block is None else f"{block['layer']}: {block['id'][:10]}",
        )  # fmt: skip
    agreement = data["agreement"]
    if agreement["layer"] is None:
        verdict = Text("no node answers", style="red")
    elif agreement["agree"]:
        some = next(iter(agreement["hashes"].values()))
        verdict = Text(
            f"all nodes agree on layer {agreement['layer']} (state {some['state_hash'][:12]}, "
            f"cumulative {some['cumulative_hash'][:12]})", style="green",
        )  # fmt: skip
    else:
        pairs = ", ".join(
            f"{k} " + (f"block {h['block'][:8] or 'empty'} state {h['state_hash'][:8]}" if h else "?")
            for k, h in agreement["hashes"].items()
        )
        verdict = Text(f"nodes DISAGREE on layer {agreement['layer']}: {pairs}", style="red")
    lines = [table, verdict, Text(f"PoET {data['poet']['url']}: {'running' if data['poet']['running'] else 'stopped'}")]
    if data["partition"]:
        lines.append(Text("partitioned: " + " | ".join(",".join(g) for g in data["partition"]), style="yellow"))
    return Group(*lines)


def _node_summary(v: dict) -> str:
    """One node's progress in a few words (a NodeView's JSON)."""
    if not v["running"]:
        return f"{v['name']} stopped"
    if v["error"]:
        return f"{v['name']} starting (no API yet)"
    return f"{v['name']} applied {v['applied_layer']}, {v['peers']} peers, {v['sync']}"


def _status_line(data: dict) -> str:
    """The status in one line, for logs."""
    nodes = "; ".join(_node_summary(v) for v in data["nodes"])
    agreement = data["agreement"]
    verdict = (
        "no node answers" if agreement["layer"] is None
        else f"{'agree' if agreement['agree'] else 'DISAGREE'} on layer {agreement['layer']}"
    )  # fmt: skip
    return f"{nodes} | {verdict}"


def _watch(devnet: Any, until_gone: bool = False) -> None:
    """A live status table (a line per change when not on a terminal) until Ctrl-C, or until every
    process is gone when `until_gone` (e.g. `devnet down` from another shell)."""
    from devnet import launch, processes
    from devnet.state import Devnet

    live = None
    if console().is_terminal and not options.json:
        from rich.live import Live

        live = Live(_status_table(_status_data(devnet)), console=console(), refresh_per_second=1)
        live.start()
    last = None
    try:
        while True:
            processes.reap()
            if not launch.is_devnet(devnet.dir):
                note(f"{devnet.dir} is gone (`devnet down --purge`)")
                return
            devnet = Devnet.load(devnet.dir)  # another shell may have restarted a node
            if until_gone and not launch.running(devnet):
                note("every devnet process has stopped")
                return
            data = _status_data(devnet)
            if live is not None:
                live.update(_status_table(data))
            else:
                layers = [n["applied_layer"] for n in data["nodes"]]
                if layers != last:
                    last = layers
                    if options.json:
                        sys.stdout.write(json.dumps(data) + "\n")
                        sys.stdout.flush()
                    else:
                        console().print(_status_line(data))
            time.sleep(2)
    finally:
        if live is not None:
            live.stop()


@app.command()
def status(
    directory: Dir = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
) -> None:
    """Every node's layer, peers, sync state, ATXs, coinbase balance and last block; do they agree?"""
    devnet = _load(directory)
    if watch:
        with contextlib.suppress(KeyboardInterrupt):
            _watch(devnet)
        return
    data = _status_data(devnet)
    emit(data, lambda: console().print(_status_table(data)))


# --- down, kill, restart --------------------------------------------------------------------------


@app.command()
def down(
    directory: Dir = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the devnet directory (all its data).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before SIGKILL.")] = 20.0,
) -> None:
    """Stop every process of the devnet (SIGTERM, SIGKILL after --timeout); --purge deletes its data."""
    from devnet import launch

    devnet = _load(directory)
    with launch.locked(devnet.dir):
        were = launch.running(devnet)
        forced = launch.stop_all(devnet, timeout)
    if purge:
        shutil.rmtree(devnet.dir)
    result = {"stopped": were, "forced": forced, "purged": purge, "dir": str(devnet.dir)}

    def human() -> None:
        console().print(f"stopped: {', '.join(were) or 'nothing was running'}" + (f" (SIGKILL: {', '.join(forced)})" if forced else ""))
        if purge:
            console().print(f"deleted {devnet.dir}")

    emit(result, human)


@app.command()
def kill(node: NodeName, directory: Dir = None) -> None:
    """Kill a node with SIGKILL, as a crash would (`devnet restart` brings it back)."""
    from devnet import launch, processes
    from devnet.state import DevnetError

    devnet = _load(directory)
    with launch.locked(devnet.dir):
        target = devnet.node(node)
        if not processes.kill(target):
            raise DevnetError(f"{target.name} is not running")
        devnet.save()
    emit({"killed": target.name}, lambda: console().print(f"{target.name} killed (SIGKILL)"))


@app.command()
def restart(
    node: NodeName,
    directory: Dir = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the node is synced again.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for sync.")] = 180.0,
) -> None:
    """Stop a node (if running) and start it again on its data directory; it syncs from its peers."""
    from devnet import launch, observe

    devnet = _load(directory)
    with launch.locked(devnet.dir):
        launch.restart(devnet, node)
    target = devnet.node(node)
    if wait:  # on this node alone: another one the user killed is no reason to fail
        observe.wait(devnet, observe.synced, timeout, f"{target.name} synced", nodes=[target])
    emit({"restarted": target.name, "pid": target.pid}, lambda: console().print(f"{target.name} restarted (pid {target.pid})"))


# --- faults ---------------------------------------------------------------------------------------


@app.command()
def partition(
    groups: Annotated[list[str], typer.Argument(help="Groups of nodes, e.g. `0 1,2,3` or `0,1 2,3`.", show_default=False)],
    directory: Dir = None,
) -> None:
    """Split the network: nodes of different groups drop their links and refuse each other (no root needed)."""
    from devnet import launch

    devnet = _load(directory)
    with launch.locked(devnet.dir):
        named = launch.partition(devnet, launch.parse_groups(groups))
    emit({"partition": named}, lambda: console().print("partitioned: " + " | ".join(",".join(g) for g in named)))


@app.command()
def heal(directory: Dir = None) -> None:
    """Undo `devnet partition`: the nodes link up again within seconds and sync."""
    from devnet import launch

    devnet = _load(directory)
    with launch.locked(devnet.dir):
        launch.heal(devnet)
    emit({"partition": None}, lambda: console().print("healed: every node may link to every other"))


# --- logs, faucet ---------------------------------------------------------------------------------


@app.command()
def logs(
    node: Annotated[str, typer.Argument(help="node-0 (or 0), or poet.", show_default=False)],
    directory: Dir = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Lines from the end (0: the whole log).")] = 50,
) -> None:
    """Print a node's (or the PoET's) log."""
    devnet = _load(directory)
    path = Path(devnet.process(node).log)
    try:
        handle = path.open("r", errors="replace")
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from None
    with handle:
        text = handle.read()
        shown = text.splitlines(keepends=True)
        sys.stdout.write("".join(shown[-lines:] if lines else shown))
        sys.stdout.flush()
        if not follow:
            return
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                chunk = handle.read()
                if chunk:
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
                else:
                    time.sleep(0.2)


@app.command()
def faucet(
    address: Annotated[str, typer.Argument(help="Where the coins go.", show_default=False)],
    amount: Annotated[str, typer.Argument(help="How much: 10smh, or whole smidge.", show_default=False)],
    directory: Dir = None,
    account: Annotated[int, typer.Option("--account", help="The funded wallet account that pays.")] = 0,
    node: Annotated[str, typer.Option("--node", help="The node to send through.")] = "node-0",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the result.")] = 120.0,
) -> None:
    """Send coins from a funded devnet account and wait until the transfer is applied."""
    from cli.commands.online import send

    devnet = _load(directory)
    if not any(a.index == account for a in devnet.accounts):
        raise InvalidInput(f"--account {account} is not a funded account of this devnet (0..{len(devnet.accounts) - 1})")
    code = send(
        api=devnet.node(node).api, to=address, amount=amount, gas_price=1, nonce=None, wait=True, timeout=timeout,
        yes=True, file=Path(devnet.wallet), password_file=Path(devnet.password_file), account=account, ledger=False,
        device=None,
    )  # fmt: skip
    if code:
        raise typer.Exit(code)


# --- manifest -------------------------------------------------------------------------------------


@app.command()
def manifest(
    fmt: Annotated[str, typer.Option("--format", "-f", help="compose (docker compose) or k8s (Kubernetes).")],
    nodes: Annotated[int, typer.Option("--nodes", "-n", help="Node services.")] = 3,
    units: Annotated[str, typer.Option("--units", help="PoST units per node: 1, or 1,2 (repeated over the nodes).")] = "1",
    account: Annotated[
        list[str] | None, typer.Option("--account", help="Genesis account ADDRESS=AMOUNT (e.g. 100smh); repeatable.")
    ] = None,
    like: Annotated[
        Path | None,
        typer.Option("--like", help="Copy nodes, units, accounts, coinbases and timing from this local devnet dir.",
                     show_default=False),
    ] = None,  # fmt: skip
    genesis_time: Annotated[
        str, typer.Option("--genesis-time", help="Genesis of the new network: RFC 3339, Unix seconds or now+10m.")
    ] = "now+10m",
    layer_duration: Annotated[float, typer.Option("--layer-duration", help="Seconds per layer.")] = 3.0,
    layers_per_epoch: Annotated[int, typer.Option("--layers-per-epoch", min=2, help="Layers per epoch.")] = 4,
    image: Annotated[str, typer.Option("--image", help="The container image that runs `smesh`.")] = "smesh:latest",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: standard output).")
    ] = None,
) -> None:
    """The same network as docker compose or Kubernetes documents, for users who outgrow one machine."""
    from cli.commands.node import _parse_accounts
    from core import atomicfile
    from core.config.node import parse_genesis_time
    from devnet.launch import DevnetOptions
    from devnet.manifest import ManifestSpec, render
    from devnet.state import Devnet

    genesis = parse_genesis_time(genesis_time)
    if like is not None:
        source = Devnet.load(like.expanduser().absolute())
        try:
            settings = json.loads((source.dir / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise InvalidInput(f"cannot read {source.dir / 'config.json'}: {e}") from None
        spec = ManifestSpec(
            nodes=len(source.nodes), units=tuple(n.units for n in source.nodes),
            accounts={a.address: a.balance for a in source.accounts}, config=settings, genesis_time=genesis,
            layer_duration=source.layer_duration, layers_per_epoch=source.layers_per_epoch, image=image,
            preset=source.preset, coinbases=tuple(n.coinbase for n in source.nodes),
        )  # fmt: skip
    else:
        opts = DevnetOptions(nodes=nodes, units=_units(units), layer_duration=layer_duration,
                             layers_per_epoch=layers_per_epoch)  # fmt: skip
        opts.check()
        spec = ManifestSpec(
            nodes=nodes, units=tuple(opts.units[i % len(opts.units)] for i in range(nodes)),
            accounts=_parse_accounts(account or [], "standalone"), config=opts.node_config(), genesis_time=genesis,
            layer_duration=layer_duration, layers_per_epoch=layers_per_epoch, image=image, preset=opts.preset,
        )  # fmt: skip
    text = render(spec, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        atomicfile.replace(output, text.encode(), mode=0o644)
    except OSError as e:
        raise InvalidInput(f"cannot write {output}: {e.strerror}") from None
    note(f"wrote {output} ({fmt}, {spec.nodes} nodes, genesis {genesis})")
