"""Several full nodes on simulated time (spec/node.md §10.3 acceptance oracles).

Two simulated networks, each run once per module:

- **honest**: four smeshers with 1, 2, 3 and 4 PoST units from genesis through epoch 5; a wallet
  funded at genesis spawns itself and sends a transfer; n1 drops off the network for a few layers
  and catches up; n2 is killed (no shutdown) and restarted on its store.
- **adversarial**: the same four plus an equivocating smesher, a smesher whose proposal carries a
  corrupted VRF proof, and an attacker gossiping an ATX with an invalid PoST.

Expected values (slots, subsidy, reward shares) are computed here from the spec's formulas.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from decimal import ROUND_FLOOR, Context, Decimal
from fractions import Fraction

import pytest

from core.crypto.signing import public_key_of
from core.node.bus import Topic, Verdict
from core.node.node import Node
from core.node.simulation import (
    SIM_CONFIG,
    TICKS_PER_ROUND,
    EquivocatingNode,
    ForgingNode,
    Simulation,
    build_sim_atx,
    sim_coinbase,
    sim_identity,
)
from core.node.wire import EMPTY_BLOCK
from core.tx.build import spend, wallet_spawn
from core.tx.signing import sign_single
from core.tx.templates import wallet_principal
from core.types.atx import PostV1
from core.wallet.address import encode_address

UNITS = {"n0": 1, "n1": 2, "n2": 3, "n3": 4}
LPE = SIM_CONFIG.layers_per_epoch
GENESIS_LAYER = 2 * LPE - 1
END = 6 * LPE  # run until the first layer of epoch 6
WALLET_KEY = bytes(range(1, 33))
WALLET = wallet_principal(public_key_of(WALLET_KEY))
RECIPIENT = bytes(4) + b"\x42" * 20
FUNDS = 10**12
AMOUNT = 123_456_789
CONFIG = dataclasses.replace(SIM_CONFIG, genesis_accounts={encode_address(WALLET, SIM_CONFIG.hrp): FUNDS})


# --- the spec's formulas, written out independently ---------------------------------------------


def expected_slots(units: int, total_units: int) -> int:
    """Spec §3.2 with weight = units × ticks (every ATX gets the same PoET ticks)."""
    weight, total = units * TICKS_PER_ROUND, total_units * TICKS_PER_ROUND
    return max(1, weight * CONFIG.layer_avg_size * LPE // total)


_D = Context(prec=34)


def subsidy(layer: int) -> int:
    """Spec §7.3: S(n) − S(n−1) with S(n) = 2.25e18 · (1 − e^(−λ(n+1))), n = L − effective genesis − 1."""
    total = Decimal(2_250_000_000 * 10**9)
    lam = _D.divide(_D.minus(_D.ln(_D.subtract(Decimal(1), _D.divide(Decimal(450), Decimal(2250))))), Decimal(1_051_201))

    def acc(n: int) -> int:
        if n < 0:
            return 0
        value = _D.multiply(total, _D.subtract(Decimal(1), _D.exp(_D.multiply(_D.minus(lam), Decimal(n + 1)))))
        return int(value.to_integral_value(rounding=ROUND_FLOOR))

    n = layer - GENESIS_LAYER - 1
    return acc(n) - acc(n - 1)


def layer_hashes(node: Node, layers) -> dict[int, tuple]:
    return {layer: node.layer_hashes(layer) for layer in layers}


# --- the honest network ---------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    sim: Simulation
    events: collections.Counter
    notes: dict


def _listen(sim: Simulation, events: collections.Counter, name: str) -> None:
    sim.nodes[name].listeners.append(lambda event, fields: events.update([(name, event)]))


@pytest.fixture(scope="module")
def honest(tmp_path_factory) -> Run:
    events: collections.Counter = collections.Counter()
    notes: dict = {}

    async def scenario() -> Simulation:
        sim = Simulation(tmp_path_factory.mktemp("honest"), CONFIG)
        for name, units in UNITS.items():
            sim.add_node(name, units)
            _listen(sim, events, name)
        gid = CONFIG.genesis_id
        await sim.run_until_layer(9, 5)
        notes["spawn"] = sim.nodes["n0"].submit_tx(sign_single(wallet_spawn(public_key_of(WALLET_KEY)), WALLET_KEY, gid).raw())
        await sim.run_until_layer(12, 5)
        notes["spend"] = sim.nodes["n3"].submit_tx(sign_single(spend(WALLET, RECIPIENT, AMOUNT, 1), WALLET_KEY, gid).raw())
        await sim.run_until_layer(13, 2)
        sim.set_online("n1", False)
        await sim.run_until_layer(15, 6)
        notes["n1_behind"] = sim.nodes["n1"].last_applied
        sim.set_online("n1", True)
        await sim.run_until_layer(17, 3)
        victim = sim.nodes["n2"]
        notes["killed_at"] = victim.last_applied
        notes["before_kill"] = layer_hashes(victim, range(GENESIS_LAYER, victim.last_applied + 1))
        sim.kill("n2")
        await sim.run_until_layer(18, 5)
        restarted = sim.restart("n2")
        _listen(sim, events, "n2")
        notes["after_restart"] = layer_hashes(restarted, notes["before_kill"])
        await sim.run_until_layer(END)
        await sim.stop()
        return sim

    sim = asyncio.run(scenario())
    yield Run(sim, events, notes)
    sim.close()


def applied_layers(run: Run) -> range:
    return range(GENESIS_LAYER + 1, END - 1)


def test_every_node_applies_every_layer_with_the_same_hashes(honest: Run):
    nodes = honest.sim.nodes
    assert all(node.last_applied >= END - 1 for node in nodes.values())
    for layer in applied_layers(honest):
        seen = {name: node.layer_hashes(layer) for name, node in nodes.items()}
        assert len(set(seen.values())) == 1, f"layer {layer}: {seen}"
        block, state, aggregated = seen["n0"]
        assert block is not None and state is not None and aggregated is not None
    # blocks were built: most layers have one (a hare failure would make a few empty)
    blocks = [nodes["n0"].layer_hashes(layer)[0] for layer in applied_layers(honest)]
    assert sum(b != EMPTY_BLOCK for b in blocks) >= len(blocks) - 2


def test_same_beacon_and_hare_outputs_everywhere(honest: Run):
    nodes = list(honest.sim.nodes.values())
    for epoch in range(2, END // LPE + 1):
        beacons = {node.beacons.get(epoch) for node in nodes}
        assert len(beacons) == 1 and None not in beacons, f"epoch {epoch}: {beacons}"
    assert len({node.beacons[3] for node in nodes} | {nodes[0].beacons[2]}) == 2  # the protocol made a new one
    for layer in applied_layers(honest):
        assert len({node.hare_outputs.get(layer, "missing") for node in nodes}) == 1, f"layer {layer}"
    opinions = {node.tortoise.opinion(END - 2) for node in nodes}
    assert len(opinions) == 1


def test_eligibility_counts_follow_the_slot_formula(honest: Run):
    total_units = sum(UNITS.values())
    ref_counts: dict[tuple[str, int], set[int]] = collections.defaultdict(set)
    for name, node in honest.sim.nodes.items():
        for epoch, elig in node.eligibility.items():
            assert elig.slots == expected_slots(UNITS[name], total_units), (name, epoch)
            assert sum(len(p) for p in elig.layers.values()) == elig.slots
            assert all(epoch * LPE <= layer < (epoch + 1) * LPE for layer in elig.layers)
        for ballot in node.ballots.values():
            if ballot.inner.epoch_data is not None:
                owner = next(n for n, nd in honest.sim.nodes.items() if nd.node_id == ballot.smesher_id)
                ref_counts[(owner, ballot.layer // LPE)].add(ballot.inner.epoch_data.eligibility_count)
    assert {(owner, epoch) for owner, epoch in ref_counts} >= {(n, e) for n in UNITS for e in (2, 3, 4)}
    for (owner, _), counts in ref_counts.items():
        assert counts == {expected_slots(UNITS[owner], total_units)}
    # an always-online smesher proposed with every slot it had in a full epoch
    n3 = honest.sim.nodes["n3"]
    proofs = sum(len(b.eligibility_proofs) for b in n3.ballots.values() if b.smesher_id == n3.node_id and b.layer // LPE == 3)
    assert proofs == expected_slots(UNITS["n3"], total_units)


def test_rewards_are_subsidy_plus_fees_split_by_weight(honest: Run):
    node = honest.sim.nodes["n0"]
    total_units = sum(UNITS.values())
    owners = {nd.node_id: n for n, nd in honest.sim.nodes.items()}
    checked = 0
    for layer in applied_layers(honest):
        block_id = node.applied[layer]
        rows = node.store.conn.execute(
            "SELECT pubkey, coinbase, total_reward, layer_reward FROM rewards WHERE layer = ?", (layer,)
        ).fetchall()
        if block_id == EMPTY_BLOCK:
            assert rows == []
            continue
        block = node.blocks[block_id]
        results = [node.store.transaction_result(t) for t in block.inner.tx_ids]
        fees = sum(r[3] for r in results if r is not None and r[0] == layer)  # ineffective txs pay nothing
        weights = {}
        for smesher in {r[0] for r in rows}:
            name = owners[smesher]
            ballot = next(b for b in node.ballots.values() if b.layer == layer and b.smesher_id == smesher)
            units = UNITS[name]
            weights[smesher] = Fraction(units * TICKS_PER_ROUND, expected_slots(units, total_units)) * len(
                ballot.eligibility_proofs
            )
        total_weight = sum(weights.values())
        pot = subsidy(layer) + fees
        for smesher, coinbase, total, layer_reward in rows:
            assert coinbase == sim_coinbase(owners[smesher])
            assert total == int(pot * weights[smesher] / total_weight)
            assert layer_reward == int(subsidy(layer) * weights[smesher] / total_weight)
        dust = pot - sum(r[2] for r in rows)
        assert 0 <= dust < len(rows)
        checked += 1
    assert checked >= 10
    assert 477 * 10**9 < subsidy(GENESIS_LAYER + 1) < 478 * 10**9  # spec §7.3: first layer ~477 SMH
    # coinbase balances are exactly the rewards credited
    for name, nd in honest.sim.nodes.items():
        credited = sum(r[1] for r in nd.store.rewards_of(sim_coinbase(name)))
        assert credited > 0 and nd.store.account(sim_coinbase(name)).balance == credited


def test_a_transfer_from_a_genesis_account_is_applied_exactly_once(honest: Run):
    spawn, transfer = honest.notes["spawn"], honest.notes["spend"]
    results = set()
    for node in honest.sim.nodes.values():
        spawn_result, spend_result = node.store.transaction_result(spawn), node.store.transaction_result(transfer)
        assert spawn_result is not None and spend_result is not None
        assert spawn_result[1].name == spend_result[1].name == "SUCCESS"
        assert spawn_result[0] < spend_result[0]
        results.add((spawn_result, spend_result))
        wallet = node.store.account(WALLET)
        assert wallet.next_nonce == 2
        assert node.store.account(RECIPIENT).balance == AMOUNT
        assert wallet.balance == FUNDS - AMOUNT - spawn_result[3] - spend_result[3]
        in_blocks = [layer for layer, bid in node.applied.items() if bid in node.blocks and transfer in node.blocks[bid].inner.tx_ids]
        assert in_blocks == [spend_result[0]]
        assert transfer not in node.mempool
    assert len(results) == 1


def test_a_node_offline_for_some_layers_catches_up(honest: Run):
    run = honest
    assert run.notes["n1_behind"] < 15  # it fell behind while away
    assert run.events[("n1", "hare_failed")] >= 1
    assert run.events[("n1", "reverted")] >= 1  # it applied empty layers, then the real ones
    assert run.sim.bus.stats.requests["ld/1"] >= 2
    # the ballots and blocks a layer answer names come in one hs/1 batch, not one request each
    assert run.sim.bus.stats.requests["hs/1"] >= 1
    n0, n1 = run.sim.nodes["n0"], run.sim.nodes["n1"]
    assert layer_hashes(n1, applied_layers(run)) == layer_hashes(n0, applied_layers(run))


def test_a_killed_node_restarts_from_its_store_with_identical_hashes(honest: Run):
    notes = honest.notes
    assert notes["killed_at"] >= 15
    assert notes["after_restart"] == notes["before_kill"]
    n2 = honest.sim.nodes["n2"]
    assert layer_hashes(n2, applied_layers(honest)) == layer_hashes(honest.sim.nodes["n3"], applied_layers(honest))
    assert n2.malicious == set()  # it did not equivocate on the layer it was killed in


# --- the adversarial network ----------------------------------------------------------------------

ADV_END = 5 * LPE
EQUIVOCATE_FROM = 13


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory) -> Run:
    notes: dict = {}

    async def scenario() -> Simulation:
        sim = Simulation(tmp_path_factory.mktemp("adversarial"), SIM_CONFIG, seed=b"adversarial")
        for name, units in UNITS.items():
            sim.add_node(name, units)
        cheat = sim.add_node("eq", 1, EquivocatingNode)
        cheat.equivocate_from = EQUIVOCATE_FROM
        forger = sim.add_node("fo", 1, ForgingNode)
        forger.forge_layers = frozenset(range(3 * LPE, 4 * LPE))
        await sim.run_until_layer(3 * LPE, 5)
        mallory = sim_identity(b"adversarial", "mallory")
        bad = build_sim_atx(
            SIM_CONFIG, mallory, sim_coinbase("mallory"), sim.nodes["n0"].atxs, 3, 2, post=PostV1(0, bytes(16), 0)
        )
        notes["mallory"], notes["mallory_atx"] = mallory.node_id, bad.id
        sim.inject(Topic.ATX, bad.encode())
        await sim.run_until_layer(ADV_END)
        await sim.stop()
        return sim

    sim = asyncio.run(scenario())
    yield Run(sim, collections.Counter(), notes)
    sim.close()


def honest_nodes(run: Run) -> dict[str, Node]:
    return run.sim.honest(exclude=("eq", "fo"))


def test_consensus_goes_on_among_honest_nodes_despite_attacks(adversarial: Run):
    nodes = honest_nodes(adversarial)
    for layer in range(GENESIS_LAYER + 1, ADV_END - 1):
        assert len({node.layer_hashes(layer) for node in nodes.values()}) == 1, f"layer {layer}"
    assert all(node.last_applied >= ADV_END - 1 for node in nodes.values())
    late = [nodes["n0"].applied[layer] for layer in range(EQUIVOCATE_FROM + 1, ADV_END - 1)]
    assert sum(b != EMPTY_BLOCK for b in late) >= len(late) - 1


def test_an_equivocating_smesher_is_proven_malicious_and_loses_its_weight(adversarial: Run):
    cheat = adversarial.sim.nodes["eq"]
    for node in honest_nodes(adversarial).values():
        assert node.malicious == {cheat.node_id}
        assert node.atxs.is_malicious(cheat.node_id)
        doubled = [
            layer for (layer, smesher), _ in node._ballot_at.items() if smesher == cheat.node_id and layer >= EQUIVOCATE_FROM
        ]
        assert doubled, "the cheater had eligible layers to equivocate in"
        for ballot_id, ballot in node.ballots.items():
            if ballot.smesher_id == cheat.node_id:
                assert node.tortoise.ballot_weight(ballot_id) == 0
        first_offence = min(doubled)
        late_rewards = node.store.conn.execute(
            "SELECT COUNT(*) FROM rewards WHERE coinbase = ? AND layer > ?", (cheat.coinbase, first_offence)
        ).fetchone()[0]
        assert late_rewards == 0


def test_a_proposal_with_a_bad_vrf_proof_is_rejected(adversarial: Run):
    forger = adversarial.sim.nodes["fo"]
    assert forger.forged, "the forger had an eligible layer in its forging epoch"
    stats = adversarial.sim.bus.stats
    for name, node in honest_nodes(adversarial).items():
        assert stats.rejected(peer=name, topic=Topic.PROPOSAL) == len(forger.forged)
        for forged in forger.forged:
            assert forged.id not in node.proposals.get(forged.layer, {})
            block_id = node.applied[forged.layer]
            rewarded = {r.atx_id for r in node.blocks[block_id].inner.rewards} if block_id != EMPTY_BLOCK else set()
            assert forged.ballot.inner.atx_id not in rewarded
        assert forger.node_id not in node.malicious  # a bad proof is refused, not punished


def test_an_atx_with_an_invalid_post_is_rejected(adversarial: Run):
    mallory = adversarial.notes["mallory"]
    stats = adversarial.sim.bus.stats
    for name, node in adversarial.sim.nodes.items():
        assert stats.verdicts[(name, Topic.ATX, Verdict.REJECT)] == 1
        assert node.atxs.get(adversarial.notes["mallory_atx"]) is None
        assert all(mallory not in {a.node_id for a in active.atxs} for active in node.active_sets.values())


def test_honest_and_adversarial_networks_never_need_full_mode(honest: Run, adversarial: Run):
    """Full mode (self-healing) is for partitions, not the normal path (see test_partition.py)."""
    for run in (honest, adversarial):
        for name, node in run.sim.nodes.items():
            assert node.tortoise.full_mode_entries == 0, name
            assert node.tortoise.mode == "verifying"
