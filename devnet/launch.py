"""Creating a devnet, starting and stopping it, and injecting faults (spec/api-ecosystem.md §3.5).

A devnet is one `smesh poet serve` and N `smesh node run` processes on this machine: a genesis a
little in the future, the devnet preset with short layers, a full mesh of bootnodes, funded genesis
accounts in a wallet file, and free ports chosen up front (so a restarted node keeps its addresses
and its peers find it again).  Everything is recorded in `devnet.json` (devnet/state.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import atomicfile
from core.dirlock import DirInUse, DirLock
from core.errors import InvalidInput
from devnet import processes
from devnet.state import STATE_FILE, Account, Devnet, DevnetError, Node, Poet

HOST = "127.0.0.1"
LOCK_FILE = "LOCK"
WALLET_FILE = "wallet.json"
PASSWORD_FILE = "password"
CONFIG_FILE = "config.json"


@dataclasses.dataclass(frozen=True)
class DevnetOptions:
    nodes: int = 3
    units: tuple[int, ...] = (1,)  # per node, repeated when shorter than `nodes`
    accounts: int = 2
    balance: int = 100_000 * 10**9  # smidge per funded account
    layer_duration: float = 3.0
    layers_per_epoch: int = 4
    genesis_delay: float = 20.0  # seconds from now
    preset: str = "devnet"
    base_port: int | None = None  # None: free ports; else node i gets base+10i (p2p), +2, +3, +5 (API)

    def ports(self) -> tuple[int, list[list[int]]]:
        """The PoET's port and each node's [p2p, public API, private API, JSON API]."""
        if self.base_port is None:
            free = _free_ports(4 * self.nodes + 1)
            return free[0], [free[1 + 4 * i : 5 + 4 * i] for i in range(self.nodes)]
        base = self.base_port
        # go-spacemesh's standalone ports for node 0 with --base-port 10090: API 10092/10093, JSON 10095
        return base + 10 * self.nodes, [[base + 10 * i + k for k in (0, 2, 3, 5)] for i in range(self.nodes)]

    def check(self) -> None:
        if not 1 <= self.nodes <= 32:
            raise InvalidInput("--nodes must be 1..32")
        if not 0 <= self.accounts <= 100:
            raise InvalidInput("--accounts must be 0..100")
        if not self.units or any(u < 1 for u in self.units):
            raise InvalidInput("--units must be positive numbers, e.g. 1 or 1,2")
        if self.layer_duration < 1:
            raise InvalidInput("--layer-duration must be at least 1 s")
        if self.genesis_delay < 5:
            raise InvalidInput("--genesis-delay must be at least 5 s (the processes must start before genesis)")
        if self.base_port is not None and not 1024 <= self.base_port <= 65535 - 10 * self.nodes:
            raise InvalidInput(f"--base-port must be 1024..{65535 - 10 * self.nodes} for {self.nodes} nodes")

    def node_config(self) -> dict[str, object]:
        """The settings every node runs with: the devnet preset scaled to the layer duration."""
        layer = self.layer_duration
        return {
            "layer-duration": layer,
            "layers-per-epoch": self.layers_per_epoch,
            "layer-avg-size": 5,
            "hdist": 3,
            "zdist": 3,
            "hare-preround-delay": layer / 4,
            "hare-round-duration": layer / 8,
            "hare-committee": 50,
            "certificate-committee": 50,
        }


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (all held open until every one is chosen)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


@contextlib.contextmanager
def locked(directory: Path, wait: float = 30.0) -> Iterator[None]:
    """Serialize commands that change a devnet (two `devnet restart` at once would race on devnet.json)."""
    deadline = time.monotonic() + wait
    lock = DirLock(directory / LOCK_FILE, "smesh devnet command")
    while True:
        try:
            lock.acquire()
            break
        except DirInUse:
            if time.monotonic() > deadline:
                raise DevnetError(f"{directory} is busy: another `smesh devnet` command is changing it") from None
            time.sleep(0.2)
    try:
        yield
    finally:
        lock.release()


# --- creating -----------------------------------------------------------------------------------


def create(directory: Path, options: DevnetOptions, now: float | None = None) -> tuple[Devnet, str]:
    """Write a new devnet into `directory` (missing or empty); the devnet and its wallet's mnemonic."""
    from core.config.node import load_config

    options.check()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InvalidInput(f"{directory} exists and is not empty: choose another --dir (or `smesh devnet down --purge`)")
    genesis = int((time.time() if now is None else now) + options.genesis_delay)
    settings = options.node_config()
    config = load_config(options.preset, None, {**settings, "genesis_time": genesis})
    units = [options.units[i % len(options.units)] for i in range(options.nodes)]
    if any(not config.min_num_units <= u <= config.max_num_units for u in units):
        raise InvalidInput(f"--units must be {config.min_num_units}..{config.max_num_units} on the {options.preset} preset")

    existed = directory.exists()
    try:
        return _write(directory, options, genesis, settings, config, units)
    except BaseException as e:  # a half-written devnet would block the next `up`: nothing was there before
        _empty(directory, keep=existed)
        if isinstance(e, OSError):
            raise DevnetError(f"cannot write a devnet in {directory}: {e.strerror or e}") from None
        raise


def _empty(directory: Path, keep: bool) -> None:
    """Remove what a failed `create` wrote: the directory too, unless it was there (empty) before."""
    if not keep:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _write(
    directory: Path, options: DevnetOptions, genesis: int, settings: dict, config: Any, units: list[int]
) -> tuple[Devnet, str]:
    """Config, wallet, keys and the record of a new devnet (the checks are done)."""
    from core.crypto.signing import public_key_of
    from core.p2p.identity import load_or_create_key, peer_id
    from core.tx.templates import wallet_principal
    from core.wallet import walletfile
    from core.wallet.address import encode_address
    from core.wallet.mnemonic import generate_mnemonic

    atomicfile.ensure_directory(directory)
    (directory / "logs").mkdir(exist_ok=True)
    atomicfile.write_new(directory / CONFIG_FILE, (json.dumps(settings, indent=2) + "\n").encode(), mode=0o644)

    mnemonic = generate_mnemonic(12)
    wallet = walletfile.new_wallet_secrets(mnemonic, options.accounts + options.nodes)
    password = secrets.token_urlsafe(18)
    atomicfile.write_new(directory / PASSWORD_FILE, password.encode())
    meta = walletfile.WalletMeta(display_name="devnet", created=walletfile.format_timestamp())
    walletfile.create_wallet_file(directory / WALLET_FILE, wallet, password, meta)
    addresses = [encode_address(wallet_principal(a.public_key), config.hrp) for a in wallet.accounts]
    accounts = [Account(i, addresses[i], options.balance) for i in range(options.accounts)]

    poet_port, node_ports = options.ports()
    epoch = options.layer_duration * options.layers_per_epoch
    poet_url = f"http://{HOST}:{poet_port}"
    poet = Poet(
        name="poet",
        args=[
            "poet", "serve", "--preset", "standalone", "--genesis-time", str(genesis),
            "--epoch-duration", f"{epoch:g}s", "--phase-shift", f"{config.phase_shift:g}s",
            "--cycle-gap", f"{config.cycle_gap:g}s", "--datadir", str(directory / "poet"),
            "--restlisten", f"{HOST}:{poet_port}", "--rpclisten", "off",
        ],  # fmt: skip
        log=str(directory / "logs" / "poet.log"),
        url=poet_url,
    )
    p2p = [f"{HOST}:{p[0]}" for p in node_ports]
    nodes = []
    for i, (p2p_port, public, private, json_port) in enumerate(node_ports):
        data_dir = directory / f"node-{i}"
        atomicfile.ensure_directory(data_dir)
        key = load_or_create_key(data_dir)  # the node's p2p key, made now so its peer id is known
        coinbase = addresses[options.accounts + i]
        args = [
            "node", "run", "--preset", options.preset, "--data-dir", str(data_dir),
            "--config", str(directory / CONFIG_FILE), "--genesis-time", str(genesis),
            "--units", str(units[i]), "--coinbase", coinbase, "--poet-server", poet_url,
            "--listen", p2p[i], *(a for j, addr in enumerate(p2p) if j != i for a in ("--bootnode", addr)),
            *(a for acc in accounts for a in ("--account", f"{acc.address}={acc.balance}")),
            "--grpc-public-listener", f"{HOST}:{public}", "--grpc-private-listener", f"{HOST}:{private}",
            "--grpc-json-listener", f"{HOST}:{json_port}",
        ]  # fmt: skip
        nodes.append(
            Node(
                name=f"node-{i}", args=args, log=str(directory / "logs" / f"node-{i}.log"), data_dir=str(data_dir),
                p2p=p2p[i], api=f"{HOST}:{public}", private_api=f"{HOST}:{private}", json_api=f"{HOST}:{json_port}",
                peer_id=peer_id(public_key_of(key)), units=units[i], coinbase=coinbase,
            )
        )  # fmt: skip
    devnet = Devnet(
        dir=directory, preset=options.preset, hrp=config.hrp, genesis_time=genesis, genesis_id=config.genesis_id.hex(),
        layer_duration=options.layer_duration, layers_per_epoch=options.layers_per_epoch, poet=poet, nodes=nodes,
        accounts=accounts, wallet=str(directory / WALLET_FILE), password_file=str(directory / PASSWORD_FILE),
    )  # fmt: skip
    devnet.save()
    return devnet, mnemonic


def is_devnet(directory: Path) -> bool:
    return (directory / STATE_FILE).exists()


# --- running ------------------------------------------------------------------------------------


def running(devnet: Devnet) -> list[str]:
    return [p.name for p in devnet.processes if processes.alive(p)]


def _wait_for_port(address: str, timeout: float, proc) -> None:  # noqa: ANN001
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
            return
        if not processes.alive(proc):
            raise DevnetError(f"{proc.name} exited at start; its log ({proc.log}) ends: {processes.log_tail(proc, 1)}")
        time.sleep(0.2)
    raise DevnetError(f"{proc.name} did not listen on {address} within {timeout:g} s; see {proc.log}")


def start_all(devnet: Devnet, tie_to_parent: bool = False) -> None:
    """Start the PoET, then every node that is not running; devnet.json records the processes."""
    if not processes.alive(devnet.poet):
        processes.start(devnet.poet, tie_to_parent)
        devnet.save()
        _wait_for_port(devnet.poet.url.removeprefix("http://"), 60, devnet.poet)
    for node in devnet.nodes:
        if not processes.alive(node):
            processes.start(node, tie_to_parent)
    devnet.save()


def stop_all(devnet: Devnet, timeout: float = 20.0) -> list[str]:
    """SIGTERM the nodes, then the PoET (SIGKILL after `timeout`); the names that needed SIGKILL."""
    forced = processes.stop(devnet.nodes, timeout)
    forced += processes.stop([devnet.poet], timeout)
    devnet.save()
    return forced


def restart(devnet: Devnet, name: str, tie_to_parent: bool = False) -> None:
    node = devnet.node(name)
    processes.stop([node])
    processes.start(node, tie_to_parent)
    devnet.save()


# --- partitions (p2p/blocklist.json of each node: see core/p2p/host.py) -------------------------


def _blocklist(node: Node) -> Path:
    return Path(node.data_dir) / "p2p" / "blocklist.json"


def partition(devnet: Devnet, groups: list[list[str]]) -> list[list[str]]:
    """Cut the links between groups of nodes (every node in exactly one group); the groups by name."""
    named = [[devnet.node(n).name for n in group] for group in groups]
    flat = [n for group in named for n in group]
    if len(named) < 2:
        raise InvalidInput("name at least two groups, e.g. `smesh devnet partition 0 1,2,3`")
    if len(set(flat)) != len(flat):
        raise InvalidInput("a node is in two groups")
    missing = [n.name for n in devnet.nodes if n.name not in flat]
    if missing:
        raise InvalidInput(f"every node must be in a group; missing: {', '.join(missing)}")
    for i, group in enumerate(named):
        others = [devnet.node(n) for j, g in enumerate(named) if j != i for n in g]
        blocked = sorted({x for other in others for x in (other.peer_id, other.p2p)})
        for name in group:
            path = _blocklist(devnet.node(name))
            atomicfile.ensure_directory(path.parent)
            atomicfile.replace(path, json.dumps(blocked).encode())
    devnet.partition = named
    devnet.save()
    return named


def heal(devnet: Devnet) -> None:
    """Undo `partition`: every node may link to every other again (they redial within seconds)."""
    for node in devnet.nodes:
        with contextlib.suppress(FileNotFoundError):
            _blocklist(node).unlink()
    devnet.partition = None
    devnet.save()


def parse_groups(texts: list[str]) -> list[list[str]]:
    """`0,1 2,3` or `node-0 node-1,node-2`: one argument per group, nodes separated by commas."""
    groups = [[n for n in text.split(",") if n.strip()] for text in texts]
    if any(not g for g in groups):
        raise InvalidInput("an empty group: write groups as 0,1 2,3")
    return groups

