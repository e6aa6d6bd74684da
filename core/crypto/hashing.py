"""BLAKE3 ids and the genesis identity (spec/node.md §0, spec/wallet.md §3.3)."""

from __future__ import annotations

import blake3


def hash32(*parts: bytes) -> bytes:
    """BLAKE3-256 of the concatenated parts (go-spacemesh `hash.Sum`)."""
    h = blake3.blake3()
    for part in parts:
        h.update(part)
    return h.digest()


def hash20(*parts: bytes) -> bytes:
    """The first 20 bytes of `hash32` (go-spacemesh `Hash20`)."""
    return hash32(*parts)[:20]


def golden_atx(genesis_time_unix: int, extra_data: str) -> bytes:
    """BLAKE3(decimal Unix seconds of genesis ‖ extra data): the first positioning/commitment ATX id."""
    return hash32(str(int(genesis_time_unix)).encode(), extra_data.encode())


def genesis_id(genesis_time_unix: int, extra_data: str) -> bytes:
    """The 20-byte network id every signature is prefixed with: the golden ATX's first 20 bytes."""
    return golden_atx(genesis_time_unix, extra_data)[:20]
