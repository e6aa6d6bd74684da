"""What nodes exchange besides the core types (spec/node.md §9.3): request protocols, the sync
answers, beacon and malfeasance gossip framing, and the check of a malfeasance proof.

Validation outcomes are two exceptions: `Rejected` (the object is invalid, the message carrying it
is rejected) and `Unavailable` (its dependencies could not be fetched, it is ignored for now).
"""

from __future__ import annotations

import enum
from typing import Annotated

from core.codec import Bytes, Compact, FixedBytes, Option, Reader, Slice, String, Struct, decode_compact
from core.consensus.certificate import Certificate
from core.consensus.hare import Message as HareMessage
from core.crypto.signing import Domain, verify_message
from core.errors import SmeshError
from core.types.atx import ATXV1
from core.types.ballot import Ballot


EMPTY_BLOCK = bytes(20)  # the block id of an empty layer (hare output or applied block)
MAX_IDS = 100_000
MAX_BATCH = 256  # hashes in one `hs/1` request
BATCH_BUDGET = 4 << 20  # bytes of objects in one `hs/1` answer (the p2p response limit is 8 MiB)


class Request(str, enum.Enum):
    """Request/response protocols a node serves (spec §9.3, one name per hash-fetch hint)."""

    ATX = "hs/atx"
    BALLOT = "hs/ballot"
    PROPOSAL = "hs/proposal"
    BLOCK = "hs/block"
    TX = "hs/tx"
    POET = "hs/poet"  # a PoET proof message by its reference (go-spacemesh hint POETDB)
    LAYER = "ld/1"  # layer -> ballot ids, block ids, certificate
    EPOCH = "ax/1"  # publish epoch -> ATX ids, and the beacon of that epoch
    ACTIVE_SET = "as/1"  # target epoch -> the ATX ids of the peer's active set (an EpochInfo, no beacon)
    BATCH = "hs/1"  # many hash fetches in one request (a HashBatch -> a BatchAnswer)


HASH_FETCHES = frozenset({Request.ATX, Request.BALLOT, Request.PROPOSAL, Request.BLOCK, Request.TX, Request.POET})


class BeaconKind(enum.IntEnum):
    """First byte of a beacon gossip payload: which phase the message belongs to."""

    PROPOSAL = 0
    VOTE = 1
    COIN = 2


class MalfeasanceKind(enum.IntEnum):
    BALLOTS = 1  # two ballots of one smesher in one layer
    HARE = 2  # two hare messages of one sender in one round
    ATXS = 3  # two ATXs of one smesher in one publish epoch


# --- wire types of sync and malfeasance ----------------------------------------------------


class LayerData(Struct):
    """A peer's answer to `ld/1`: what it holds of one layer (spec §9.3 `ld/1` + `lp/2`)."""

    layer: Annotated[int, Compact(32)]
    ballots: Annotated[tuple[bytes, ...], Slice(FixedBytes(20), MAX_IDS)]
    blocks: Annotated[tuple[bytes, ...], Slice(FixedBytes(20), MAX_IDS)]
    certificate: Annotated[Certificate | None, Option(Certificate)]


class EpochInfo(Struct):
    """A peer's answer to `ax/1`: ATX ids published in an epoch, and its beacon for the epoch."""

    epoch: Annotated[int, Compact(32)]
    atxs: Annotated[tuple[bytes, ...], Slice(FixedBytes(32), MAX_IDS)]
    beacon: Annotated[bytes | None, Option(FixedBytes(4))]


class HashRequest(Struct):
    """One object of a batch: the single-fetch protocol naming its kind (e.g. `hs/atx`), and its id."""

    hint: Annotated[str, String(16)]
    hash: Annotated[bytes, Bytes(32)]


class HashBatch(Struct):
    """An `hs/1` request: objects of any kinds by id (go-spacemesh fetch's RequestBatch)."""

    items: Annotated[tuple[HashRequest, ...], Slice(HashRequest, MAX_BATCH)]


class BatchAnswer(Struct):
    """The answer to a `HashBatch`, item by item: the object, or None when the peer lacks it (or
    the answer reached `BATCH_BUDGET`: the asker fetches the rest again)."""

    blobs: Annotated[tuple[bytes | None, ...], Slice(Option(Bytes(BATCH_BUDGET)), MAX_BATCH)]


class BallotEquivocation(Struct):
    first: Ballot
    second: Ballot


class HareEquivocation(Struct):
    first: HareMessage
    second: HareMessage


class AtxEquivocation(Struct):
    first: ATXV1
    second: ATXV1


class Rejected(SmeshError):
    """An object that is invalid: the message carrying it is rejected."""


class Unavailable(SmeshError):
    """An object whose dependencies could not be fetched: it is ignored for now."""


def check_malfeasance_proof(kind: MalfeasanceKind, proof: bytes, genesis_id: bytes) -> bytes | None:
    """The guilty identity if the proof holds: two validly signed, conflicting messages."""
    gid = genesis_id
    if kind is MalfeasanceKind.BALLOTS:
        p = BallotEquivocation.decode(proof)
        a, b = p.first, p.second
        ok = (a.smesher_id == b.smesher_id and a.layer == b.layer and a.id != b.id
              and a.verify_signature(gid) and b.verify_signature(gid))
        return a.smesher_id if ok else None
    if kind is MalfeasanceKind.HARE:
        h = HareEquivocation.decode(proof)
        m, n = h.first, h.second
        same = m.sender == n.sender and m.body.layer == n.body.layer and m.body.abs_round == n.body.abs_round
        ok = same and m.msg_hash != n.msg_hash and all(
            verify_message(x.sender, gid, Domain.HARE, x.signed_bytes(), x.signature) for x in (m, n)
        )
        return m.sender if ok else None
    x = AtxEquivocation.decode(proof)
    a, b = x.first, x.second
    ok = (a.smesher_id == b.smesher_id and a.publish_epoch == b.publish_epoch and a.id != b.id
          and a.verify_signature(gid) and b.verify_signature(gid))
    return a.smesher_id if ok else None


def decode_number(payload: bytes) -> int:
    r = Reader(payload)
    value = decode_compact(r)
    r.finish("request")
    return value
