"""Per-epoch weights (spec/node.md §3.1, §5): the active set fixed at an epoch's start, and the
oracle the hare and certificates read weights from."""

from __future__ import annotations

import dataclasses

from core.activation.validation import AtxInfo
from core.crypto.hashing import hash32


@dataclasses.dataclass(frozen=True)
class ActiveSet:
    """ATXs targeting an epoch that arrived before it started (spec §3.1, simplified per §11)."""

    epoch: int
    atxs: tuple[AtxInfo, ...]  # sorted by id

    @property
    def hash(self) -> bytes:
        return hash32(*(a.id for a in self.atxs))

    @property
    def total_weight(self) -> int:
        return sum(a.weight for a in self.atxs)

    def weights(self) -> dict[bytes, int]:
        return {a.node_id: a.weight for a in self.atxs}


class EpochOracle:
    """Hare and certificate weights of one epoch; malfeasance found later still counts (live set)."""

    def __init__(self, active: ActiveSet, malicious: set[bytes]) -> None:
        self._weights = active.weights()
        self._total = active.total_weight
        self._malicious = malicious

    def weight(self, node_id: bytes) -> int:
        return self._weights.get(node_id, 0)

    def total_weight(self) -> int:
        return self._total

    def is_malicious(self, node_id: bytes) -> bool:
        return node_id in self._malicious
