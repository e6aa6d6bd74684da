"""Our proposal eligibility per epoch (spec/node.md §3.2, §3.3), proven off the event loop.

Proving one slot is an ECVRF prove (~5 ms in pure Python): an epoch of 500 slots would hold the
event loop for seconds at the epoch's first layer, and the proposal for that layer would go out
late.  A slot's proof depends only on our key, the epoch's beacon, our ATX's VRF nonce and the
slot counter, not on the active set.  So the proofs are made as soon as our ATX targeting the
epoch and the epoch's beacon are known (normally during the previous epoch), in a worker thread,
for an upper bound of the slot count: the active set fixed at the epoch's start only adds weight,
which can only lower our slot count, so the exact eligibility is a cut of what was proven.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from core.activation.validation import AtxInfo
from core.consensus.eligibility import eligible_layers
from core.types.ballot import VotingEligibility

Layers = dict[int, tuple[VotingEligibility, ...]]
Offload = Callable[..., Awaitable[Any]]  # runs fn(*args) off the event loop: asyncio.to_thread's shape


@dataclasses.dataclass
class Eligibility:
    """Our proposal eligibility in one epoch (spec §3.2, §3.3)."""

    epoch: int
    atx: AtxInfo
    beacon: bytes
    active_set_hash: bytes
    slots: int
    layers: dict[int, tuple[VotingEligibility, ...]]
    ref_ballot: bytes | None = None  # our first ballot of the epoch, once made


@dataclasses.dataclass(frozen=True)
class SlotProofs:
    """Proofs of slots 0..count-1 of one epoch for one (beacon, VRF nonce)."""

    beacon: bytes
    vrf_nonce: int
    count: int
    layers: Layers

    def covers(self, beacon: bytes, vrf_nonce: int, slots: int) -> bool:
        return self.beacon == beacon and self.vrf_nonce == vrf_nonce and self.count >= slots

    def cut(self, slots: int) -> Layers:
        """The eligible layers of the first `slots` slots."""
        cut = {layer: tuple(p for p in proofs if p.j < slots) for layer, proofs in self.layers.items()}
        return {layer: proofs for layer, proofs in cut.items() if proofs}


class SlotProver:
    """Makes and keeps our slot proofs per epoch; `start` proves in the background via `offload`."""

    def __init__(self, secret_key: bytes, layers_per_epoch: int, offload: Offload = asyncio.to_thread) -> None:
        self._secret_key = secret_key
        self._lpe = layers_per_epoch
        self._offload = offload
        self._done: dict[int, SlotProofs] = {}
        self._running: dict[int, tuple[tuple[bytes, int, int], asyncio.Task[SlotProofs]]] = {}

    def knows(self, epoch: int, beacon: bytes, vrf_nonce: int) -> bool:
        """Whether proofs for these inputs are made or being made (cheap: no slot count needed)."""
        self._harvest()
        done, running = self._done.get(epoch), self._running.get(epoch)
        return (done is not None and (done.beacon, done.vrf_nonce) == (beacon, vrf_nonce)) or (
            running is not None and running[0][:2] == (beacon, vrf_nonce)
        )

    def get(self, epoch: int, beacon: bytes, vrf_nonce: int, slots: int) -> Layers | None:
        self._harvest()
        done = self._done.get(epoch)
        return done.cut(slots) if done is not None and done.covers(beacon, vrf_nonce, slots) else None

    def start(self, epoch: int, beacon: bytes, vrf_nonce: int, slots: int) -> None:
        """Begin proving in the background unless already covered; a no-op outside an event loop."""
        if self.get(epoch, beacon, vrf_nonce, slots) is not None:
            return
        running = self._running.get(epoch)
        if running is not None and running[0][:2] == (beacon, vrf_nonce) and running[0][2] >= slots:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        work = self._offload(self._prove, beacon, epoch, vrf_nonce, slots)
        self._running[epoch] = ((beacon, vrf_nonce, slots), asyncio.ensure_future(work))
        for old in [e for e in self._done if e < epoch - 1]:
            del self._done[old]

    async def wait(self, epoch: int) -> None:
        """Until background proving for `epoch` (if any) has finished."""
        running = self._running.get(epoch)
        if running is not None:
            await asyncio.wait({running[1]})
            self._harvest()

    def prove_now(self, epoch: int, beacon: bytes, vrf_nonce: int, slots: int) -> Layers:
        """Prove on the caller's thread: the fallback when nothing was prepared (no running loop,
        or a beacon learned from peers only at the epoch's start)."""
        proofs = self._done[epoch] = self._prove(beacon, epoch, vrf_nonce, slots)
        return proofs.cut(slots)

    def _prove(self, beacon: bytes, epoch: int, vrf_nonce: int, slots: int) -> SlotProofs:
        layers = eligible_layers(self._secret_key, beacon, epoch, vrf_nonce, slots, self._lpe)
        return SlotProofs(beacon, vrf_nonce, slots, layers)

    def _harvest(self) -> None:
        for epoch, (_, task) in list(self._running.items()):
            if not task.done():
                continue
            del self._running[epoch]
            if task.cancelled() or task.exception() is not None:
                continue  # proven again on demand
            proofs = task.result()
            done = self._done.get(epoch)
            if done is None or not done.covers(proofs.beacon, proofs.vrf_nonce, proofs.count):
                self._done[epoch] = proofs
