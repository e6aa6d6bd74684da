"""A devnet directory and its `devnet.json`: the record CI reads and every `smesh devnet` command shares.

Layout of a devnet directory D:

    D/devnet.json        this record: genesis, endpoints, accounts, processes (pid + start time)
    D/config.json        the node settings every node runs with (on top of the devnet preset)
    D/wallet.json        the devnet wallet (smcli/smapp format): accounts 0..K-1 funded at genesis,
                         accounts K..K+N-1 are the nodes' coinbases
    D/password           the wallet's password (0600)
    D/poet/              the PoET's data directory;  D/logs/poet.log
    D/node-i/            node i's data directory;    D/logs/node-i.log
    D/LOCK               flock-ed while a command changes the devnet

Processes are recorded with their pid *and* start time, so a pid the kernel reused for another
program is never signalled.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from core import atomicfile
from core.errors import InvalidInput, SmeshError

STATE_FILE = "devnet.json"
FORMAT = 1


class DevnetError(SmeshError):
    """A devnet command could not do what was asked (the message says why)."""


@dataclasses.dataclass
class Process:
    """A program the devnet runs: `smesh ARGS...`, its output appended to `log`."""

    name: str
    args: list[str]
    log: str
    pid: int | None = None
    started: float | None = None  # the process's start time (psutil), identifying `pid`


@dataclasses.dataclass
class Node(Process):
    data_dir: str = ""
    p2p: str = ""  # HOST:PORT the node listens on for peers
    api: str = ""  # public gRPC API HOST:PORT
    private_api: str = ""
    json_api: str = ""  # the JSON gateway HOST:PORT
    peer_id: str = ""
    units: int = 1
    coinbase: str = ""


@dataclasses.dataclass
class Poet(Process):
    url: str = ""


@dataclasses.dataclass
class Account:
    index: int  # in the devnet wallet
    address: str
    balance: int  # smidge at genesis


@dataclasses.dataclass
class Devnet:
    dir: Path
    preset: str
    hrp: str
    genesis_time: int
    genesis_id: str  # hex
    layer_duration: float
    layers_per_epoch: int
    poet: Poet
    nodes: list[Node]
    accounts: list[Account]
    wallet: str
    password_file: str
    partition: list[list[str]] | None = None  # node names per group while partitioned

    # --- lookup -------------------------------------------------------------------------------

    @property
    def processes(self) -> list[Process]:
        return [self.poet, *self.nodes]

    def node(self, name: str) -> Node:
        """A node by name (`node-2`) or index (`2`)."""
        text = name.strip()
        wanted = f"node-{text}" if text.isdigit() else text
        for node in self.nodes:
            if node.name == wanted:
                return node
        names = ", ".join(n.name for n in self.nodes)
        raise InvalidInput(f"no node {name!r} in this devnet (it has {names}; an index like 0 works too)")

    def process(self, name: str) -> Process:
        """A node, or the PoET (`poet`)."""
        return self.poet if name.strip() == "poet" else self.node(name)

    @property
    def first_block_bound(self) -> float:
        """Unix time by which the schedule allows the first block: genesis + 2 epochs (epoch 2's first layer)."""
        return self.genesis_time + 2 * self.layers_per_epoch * self.layer_duration

    # --- the file -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dir"] = str(self.dir)
        return {"format": FORMAT, **data}

    def save(self) -> None:
        atomicfile.replace(self.dir / STATE_FILE, (json.dumps(self.to_json(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, directory: Path) -> Devnet:
        path = directory / STATE_FILE
        if not path.exists():
            raise InvalidInput(f"{directory} holds no devnet ({STATE_FILE} is missing): start one with `smesh devnet up`")
        try:
            data = json.loads(path.read_text())
            if data.pop("format", None) != FORMAT:
                raise ValueError(f"unknown format (this smesh reads format {FORMAT})")
            data.pop("dir", None)
            return cls(
                dir=directory,
                poet=Poet(**data.pop("poet")),
                nodes=[Node(**n) for n in data.pop("nodes")],
                accounts=[Account(**a) for a in data.pop("accounts")],
                **data,
            )
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise DevnetError(f"cannot read {path}: {e}") from None
