"""Our eligibility is proven ahead of its epoch and off the event loop (core/node/eligibility.py)."""

from __future__ import annotations

import asyncio
import threading

from core.consensus.eligibility import eligible_layers
from core.node import eligibility as node_eligibility
from core.node.eligibility import SlotProver
from core.node.simulation import SIM_CONFIG, Simulation

LPE = SIM_CONFIG.layers_per_epoch
KEY = bytes(range(32))


def test_first_proposal_is_in_the_first_layer_of_the_first_eligible_epoch(tmp_path, monkeypatch):
    calls: list[tuple[int, bool, float]] = []  # (epoch, on the event loop's thread, simulated time)
    proving = threading.Event()
    loop_ran = threading.Event()

    def spy(secret_key, beacon, epoch, vrf_nonce, slots, layers_per_epoch):
        calls.append((epoch, threading.current_thread() is threading.main_thread(), sim.time.now()))
        proving.set()
        loop_ran.wait(30)  # set by a coroutine on the loop: only possible while the loop is free
        return eligible_layers(secret_key, beacon, epoch, vrf_nonce, slots, layers_per_epoch)

    monkeypatch.setattr(node_eligibility, "eligible_layers", spy)
    sim = Simulation(tmp_path, SIM_CONFIG, seed=b"first-proposal")
    proposals: list[int] = []
    responsive: list[bool] = []

    async def watch_loop() -> None:
        while not proving.is_set():
            await asyncio.sleep(0.001)
        responsive.append(True)
        loop_ran.set()

    async def scenario() -> None:
        watcher = asyncio.create_task(watch_loop())
        node = sim.add_node("solo", 1)
        node.listeners.append(lambda event, fields: event == "proposal" and proposals.append(fields["layer"]))
        await sim.run_until_layer(3 * LPE + 1, 5)
        await sim.stop()
        await watcher

    asyncio.run(scenario())
    sim.close()
    node = sim.nodes["solo"]
    assert responsive == [True]  # the loop ran while the first proofs were being made
    assert proposals[0] == 2 * LPE  # epoch 2 is the first with proposals; its first layer is not missed
    assert 2 * LPE in node.eligibility[2].layers and 3 * LPE in node.eligibility[3].layers
    assert 3 * LPE in proposals
    assert {epoch for epoch, _, _ in calls} == {2, 3, 4}  # 4: its beacon was decided in layer 3 * LPE
    for epoch, on_loop_thread, at in calls:
        assert not on_loop_thread
        assert at < sim.layer_start(epoch * LPE)  # ahead of the epoch, as soon as ATX and beacon were known


def test_proofs_made_for_an_upper_bound_are_cut_to_the_exact_slot_count():
    async def prove() -> SlotProver:
        prover = SlotProver(KEY, 4)
        prover.start(3, b"abcd", 7, 12)
        await prover.wait(3)
        return prover

    prover = asyncio.run(prove())
    assert prover.get(3, b"abcd", 7, 12) == eligible_layers(KEY, b"abcd", 3, 7, 12, 4)
    cut = prover.get(3, b"abcd", 7, 5)
    assert cut == {layer: p for layer, p in eligible_layers(KEY, b"abcd", 3, 7, 5, 4).items()}
    assert prover.get(3, b"abcd", 7, 13) is None  # more slots than proven
    assert prover.get(3, b"abce", 7, 5) is None and prover.get(3, b"abcd", 8, 5) is None


def test_without_a_running_loop_nothing_starts_and_proving_is_on_demand():
    prover = SlotProver(KEY, 4)
    prover.start(2, b"abcd", 1, 3)
    assert prover.get(2, b"abcd", 1, 3) is None
    assert prover.prove_now(2, b"abcd", 1, 3) == eligible_layers(KEY, b"abcd", 2, 1, 3, 4)
