"""The aggregated opinion (mesh) hash chain (spec/node.md §3.6; go-spacemesh `tortoise/opinionhash`).

A node's opinion about a layer is either *abstain* (hare has not terminated for it) or a set of
supported blocks (possibly empty).  Opinions are chained from the effective-genesis layer:

    opinion(genesis) = BLAKE3("")
    opinion(L)       = BLAKE3(opinion(L-1) ‖ X(L))

    X(L) = 0x00                                     abstain
         = ‖ id(20 B) ‖ height(u64 little-endian)    for each supported block, in (height, id) order
         = ""                                       nothing supported: BLAKE3(opinion(L-1))

The height is written as 8 little-endian bytes: go-spacemesh writes it with SCALE's fixed-width
`EncodeUint64`, which is little-endian (not the compact form used for struct fields).

Ballots carry the chained value for the layer before their own, so equal hashes mean equal votes on
every earlier layer; the mesh stores the same value as `layers.aggregated_hash`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.crypto.hashing import hash32

GENESIS_OPINION = hash32(b"")
ABSTAIN_SENTINEL = b"\x00"


@dataclass(frozen=True, order=True)
class BlockRef:
    """A block as opinions name it; ordering is the hashing order: height first, then id."""

    height: int
    id: bytes

    def encode(self) -> bytes:
        return self.id + self.height.to_bytes(8, "little")


@dataclass(frozen=True)
class LayerVote:
    """One opinion about one layer: abstain, or the set of supported blocks (all others: against)."""

    abstain: bool = False
    support: frozenset[BlockRef] = frozenset()

    def __post_init__(self) -> None:
        if self.abstain and self.support:
            raise ValueError("an abstaining layer vote cannot support blocks")

    @property
    def supported_ids(self) -> dict[bytes, int]:
        """Supported block id -> height."""
        return {ref.id: ref.height for ref in self.support}

    def hash_input(self) -> bytes:
        """The bytes X(L) this vote adds to the chain."""
        if self.abstain:
            return ABSTAIN_SENTINEL
        return b"".join(ref.encode() for ref in sorted(self.support))


ABSTAIN = LayerVote(abstain=True)
EMPTY = LayerVote()


def layer_opinion(previous: bytes, vote: LayerVote) -> bytes:
    """The chained opinion of a layer given the previous layer's opinion."""
    return hash32(previous, vote.hash_input())


def opinion_chain(votes: Iterable[LayerVote], start: bytes = GENESIS_OPINION) -> list[bytes]:
    """Opinions of consecutive layers following the layer whose opinion is `start`."""
    chain = []
    previous = start
    for vote in votes:
        previous = layer_opinion(previous, vote)
        chain.append(previous)
    return chain
