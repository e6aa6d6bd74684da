"""Layer and epoch time (spec/node.md §0, §1): the one place wall time enters consensus.

`layer(t) = ⌊(t − genesis) / LayerDuration⌋`, `start(L) = genesis + L·LayerDuration`,
`epoch(L) = L // LayersPerEpoch`.  The time source is injected, so simulations drive many
nodes on one `SimulatedTime`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class LayerClock:
    genesis_time: float
    layer_duration: float
    layers_per_epoch: int
    now: Callable[[], float] = time.time

    def layer_at(self, t: float) -> int:
        """The layer containing time t (negative before genesis)."""
        return math.floor((t - self.genesis_time) / self.layer_duration)

    def current_layer(self) -> int:
        return self.layer_at(self.now())

    def layer_start(self, layer: int) -> float:
        return self.genesis_time + layer * self.layer_duration

    def epoch_of(self, layer: int) -> int:
        return layer // self.layers_per_epoch

    def first_layer(self, epoch: int) -> int:
        return epoch * self.layers_per_epoch

    def epoch_start(self, epoch: int) -> float:
        return self.layer_start(self.first_layer(epoch))

    def current_epoch(self) -> int:
        return self.epoch_of(self.current_layer())

    @property
    def effective_genesis(self) -> int:
        return 2 * self.layers_per_epoch - 1

    def is_genesis_epoch(self, epoch: int) -> bool:
        """Epochs 0 and 1 have no proposals, hare or beacon protocol."""
        return epoch < 2


class SimulatedTime:
    """A virtual clock for simulations: `sleep_until` returns when `advance` passes the time."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._busy = 0  # worker-thread jobs in flight: time stands still until they are done
        self._idle: asyncio.Event | None = None

    def now(self) -> float:
        return self._now

    async def sleep_until(self, t: float) -> None:
        if t <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (t, next(self._seq), future))
        await future

    async def to_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`asyncio.to_thread` on simulated time: the work takes no simulated time, as if the
        worker were infinitely fast, so a simulation stays deterministic."""
        if self._idle is None:
            self._idle = asyncio.Event()
        self._busy += 1
        self._idle.clear()
        try:
            return await asyncio.to_thread(fn, *args)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _settle(self) -> None:
        while self._busy and self._idle is not None:
            await self._idle.wait()
            for _ in range(8):  # let the awaiting tasks take the result
                await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking waiters in time order and letting each run before the next."""
        target = self._now + seconds
        await self._settle()
        while self._waiters and self._waiters[0][0] <= target:
            t, _, future = heapq.heappop(self._waiters)
            self._now = max(self._now, t)
            if not future.done():
                future.set_result(None)
            for _ in range(8):  # let woken tasks run to their next await
                await asyncio.sleep(0)
            await self._settle()
        self._now = target


async def sleep_until_wall(t: float) -> None:
    """Sleep until Unix time t on the real clock."""
    delay = t - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
