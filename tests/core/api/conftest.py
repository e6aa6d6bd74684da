"""A small simulated network whose mesh the API tests serve.

Two smeshers (1 and 2 PoST units) on simulated time from genesis into epoch 5; a wallet funded at
genesis spawns itself and sends a transfer; a second transfer is still pending in the mempool at the end.  The network then stands still: the clock stays at
`END`, so every listing is stable.  Expected values in tests come from these notes and the spec's
rules, never from the API code under test.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from core.crypto.signing import public_key_of
from core.node.node import Node
from core.node.simulation import SIM_CONFIG, Simulation, sim_coinbase
from core.tx.build import spend, wallet_spawn
from core.tx.signing import sign_single
from core.tx.templates import wallet_principal
from core.wallet.address import encode_address

LPE = SIM_CONFIG.layers_per_epoch  # 4
GENESIS_LAYER = 2 * LPE - 1  # 7: the effective genesis
END = 5 * LPE  # 20: the clock stops at the start of this layer
WALLET_KEY = bytes(range(1, 33))
WALLET = wallet_principal(public_key_of(WALLET_KEY))
RECIPIENT = bytes(4) + b"\x42" * 20
OTHER = bytes(4) + b"\x43" * 20  # never touched
FUNDS = 10**12
AMOUNT = 123_456_789
CONFIG = dataclasses.replace(SIM_CONFIG, genesis_accounts={encode_address(WALLET, SIM_CONFIG.hrp): FUNDS})
UNITS = {"n0": 1, "n1": 2}


@dataclasses.dataclass
class Mesh:
    sim: Simulation
    node: Node  # n0, the node the API serves
    spawn: bytes  # tx ids
    transfer: bytes
    pending: bytes  # submitted at END after the last proposal: still in the mempool

    @property
    def coinbases(self) -> dict[str, bytes]:
        return {name: sim_coinbase(name) for name in UNITS}


@pytest.fixture(scope="session")
def mesh(tmp_path_factory) -> Mesh:
    gid = CONFIG.genesis_id

    async def scenario() -> Mesh:
        sim = Simulation(tmp_path_factory.mktemp("api-mesh"), CONFIG, seed=b"api")
        for name, units in UNITS.items():
            sim.add_node(name, units)
        await sim.run_until_layer(9, 5)
        node = sim.nodes["n0"]
        spawn_id = node.submit_tx(sign_single(wallet_spawn(public_key_of(WALLET_KEY)), WALLET_KEY, gid).raw())
        await sim.run_until_layer(12, 5)
        transfer_id = node.submit_tx(sign_single(spend(WALLET, RECIPIENT, AMOUNT, 1), WALLET_KEY, gid).raw())
        await sim.run_until_layer(END)
        pending_id = node.submit_tx(sign_single(spend(WALLET, RECIPIENT, 5, 2), WALLET_KEY, gid).raw())
        await sim.stop()
        return Mesh(sim, node, spawn_id, transfer_id, pending_id)

    run = asyncio.run(scenario())
    yield run
    run.sim.close()
