"""Activation transactions, version 1 (spec/node.md §2.2; go-spacemesh `activation/wire/wire_v1.go`).

    NIPostChallenge {PublishEpoch, Sequence, PrevATXID, PositioningATXID, CommitmentATXID?, InitialPost?}
    InnerATX = challenge ‖ Coinbase ‖ NumUnits ‖ NIPost? ‖ NodeID? ‖ VRFNonce?
    ATX = InnerATX ‖ SmesherID ‖ Signature

ATX id = BLAKE3(SCALE(inner)); the smesher signs SCALE({PublishEpoch, ATX id}) in the ATX domain.
The challenge sent to PoET is BLAKE3(0x00 ‖ SCALE(challenge)).
"""

from __future__ import annotations

from typing import Annotated

from core.codec import Bytes, Compact, FixedBytes, Option, Slice, Struct
from core.crypto.hashing import hash32
from core.crypto.signing import Domain, sign_message, verify_message
from core.wallet.address import ADDRESS_SIZE

Hash32 = Annotated[bytes, FixedBytes(32)]
NodeID = Annotated[bytes, FixedBytes(32)]
Signature = Annotated[bytes, FixedBytes(64)]
EMPTY_ID = bytes(32)
MAX_POST_INDICES = 800
MAX_MEMBERSHIP_NODES = 32


class PostV1(Struct):
    nonce: Annotated[int, Compact(32)]
    indices: Annotated[bytes, Bytes(MAX_POST_INDICES)]
    pow: Annotated[int, Compact(64)]


class MerkleProofV1(Struct):
    """A PoET membership path: sibling nodes from the leaf up, and the leaf's index."""

    nodes: Annotated[tuple[bytes, ...], Slice(FixedBytes(32), MAX_MEMBERSHIP_NODES)]
    leaf_index: Annotated[int, Compact(64)]


class PostMetadataV1(Struct):
    challenge: Annotated[bytes, Bytes(32)]  # the PoET proof reference the PoST was proven for
    labels_per_unit: Annotated[int, Compact(64)]


class NIPostV1(Struct):
    membership: MerkleProofV1
    post: Annotated[PostV1 | None, Option(PostV1)]
    post_metadata: Annotated[PostMetadataV1 | None, Option(PostMetadataV1)]


class NIPostChallengeV1(Struct):
    publish_epoch: Annotated[int, Compact(32)]
    sequence: Annotated[int, Compact(64)]
    prev_atx_id: Hash32
    positioning_atx_id: Hash32
    commitment_atx_id: Annotated[bytes | None, Option(FixedBytes(32))]
    initial_post: Annotated[PostV1 | None, Option(PostV1)]

    @property
    def hash(self) -> bytes:
        """What the smesher registers with PoET."""
        return hash32(b"\x00", self.encode())


class InnerATXV1(Struct):
    challenge: NIPostChallengeV1
    coinbase: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    num_units: Annotated[int, Compact(32)]
    nipost: Annotated[NIPostV1 | None, Option(NIPostV1)]
    node_id: Annotated[bytes | None, Option(FixedBytes(32))]
    vrf_nonce: Annotated[int | None, Option(Compact(64))]

    @property
    def id(self) -> bytes:
        return hash32(self.encode())


class ATXMetadata(Struct):
    """What the smesher's signature covers."""

    publish_epoch: Annotated[int, Compact(32)]
    msg_hash: Hash32


class ATXV1(Struct):
    inner: InnerATXV1
    smesher_id: NodeID
    signature: Signature

    @property
    def id(self) -> bytes:
        return self.inner.id

    @property
    def publish_epoch(self) -> int:
        return self.inner.challenge.publish_epoch

    @property
    def target_epoch(self) -> int:
        """ATXs published in epoch E make their smesher eligible in E+1."""
        return self.publish_epoch + 1

    @property
    def is_first(self) -> bool:
        return self.inner.challenge.prev_atx_id == EMPTY_ID

    def signed_bytes(self) -> bytes:
        return ATXMetadata(self.publish_epoch, self.id).encode()

    def verify_signature(self, genesis_id: bytes) -> bool:
        return verify_message(self.smesher_id, genesis_id, Domain.ATX, self.signed_bytes(), self.signature)

    @classmethod
    def sign(cls, inner: InnerATXV1, secret_key: bytes, smesher_id: bytes, genesis_id: bytes) -> ATXV1:
        message = ATXMetadata(inner.challenge.publish_epoch, inner.id).encode()
        return cls(inner, smesher_id, sign_message(secret_key, genesis_id, Domain.ATX, message))
