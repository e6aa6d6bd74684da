import asyncio

from core.node.clock import LayerClock, SimulatedTime


def test_layer_and_epoch_arithmetic():
    clock = LayerClock(genesis_time=1000.0, layer_duration=6.0, layers_per_epoch=10, now=lambda: 1000.0 + 6 * 25 + 5.9)
    assert clock.current_layer() == 25
    assert clock.current_epoch() == 2
    assert clock.layer_at(999.9) == -1
    assert clock.layer_start(20) == 1120.0
    assert clock.first_layer(3) == 30
    assert clock.epoch_start(2) == 1120.0
    assert clock.effective_genesis == 19
    assert clock.is_genesis_epoch(1) and not clock.is_genesis_epoch(2)


def test_simulated_time_wakes_waiters_in_order():
    async def main():
        sim = SimulatedTime(100.0)
        woke = []

        async def sleeper(t, name):
            await sim.sleep_until(t)
            woke.append((name, sim.now()))

        tasks = [asyncio.create_task(sleeper(t, n)) for t, n in ((130, "c"), (110, "a"), (120, "b"))]
        await asyncio.sleep(0)
        await sim.advance(15)
        assert woke == [("a", 110)]
        await sim.advance(100)
        await asyncio.gather(*tasks)
        assert woke == [("a", 110), ("b", 120), ("c", 130)]
        assert sim.now() == 215

    asyncio.run(main())
