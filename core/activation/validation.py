"""ATX validation: one path for ATXs built here and ATXs received (spec/node.md §2.5–2.6).

`validate_atx` runs the syntactic checks, then the contextual ones against already-known ATXs,
then the expensive proofs (PoST, PoET membership, VRF nonce) through an injected `ProofChecker`,
and returns what the node stores and weighs: effective units, tick heights and weight
(units × ticks).  A second ATX of one identity in one publish epoch is malfeasance: it raises
`Malfeasance` carrying both ATX ids, so the caller can store the proof and zero the weight.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from core.errors import SmeshError
from core.types.atx import ATXV1, EMPTY_ID, PostV1


class AtxError(SmeshError):
    """An ATX that is not valid."""


class Malfeasance(SmeshError):
    """Proof that an identity broke the rules: it loses its weight."""

    def __init__(self, node_id: bytes, reason: str, evidence: tuple[bytes, ...]) -> None:
        super().__init__(f"malfeasance by {node_id.hex()[:16]}: {reason}")
        self.node_id, self.reason, self.evidence = node_id, reason, evidence


@dataclasses.dataclass(frozen=True)
class AtxInfo:
    """What the node keeps about a valid ATX."""

    id: bytes
    node_id: bytes
    publish_epoch: int
    sequence: int
    coinbase: bytes
    num_units: int  # effective: min(previous, declared) after the first
    base_tick_height: int
    tick_count: int
    vrf_nonce: int
    commitment_atx: bytes

    @property
    def tick_height(self) -> int:
        return self.base_tick_height + self.tick_count

    @property
    def weight(self) -> int:
        return self.num_units * self.tick_count

    @property
    def target_epoch(self) -> int:
        return self.publish_epoch + 1


class KnownAtxs(Protocol):
    def get(self, atx_id: bytes) -> AtxInfo | None: ...

    def by_identity(self, node_id: bytes, publish_epoch: int) -> AtxInfo | None: ...


class ProofChecker(Protocol):
    """The expensive checks, wired to core.post / core.poet by the node (and stubbed in tests)."""

    def poet_leaves(self, proof_ref: bytes, challenge_hash: bytes, membership_nodes: tuple[bytes, ...], leaf_index: int) -> int:
        """Leaf count of the PoET proof `proof_ref` if the challenge is a member, else raise AtxError."""
        ...

    def check_post(self, node_id: bytes, commitment_atx: bytes, post: PostV1, challenge: bytes, num_units: int, labels_per_unit: int) -> None: ...

    def check_vrf_nonce(self, node_id: bytes, commitment_atx: bytes, nonce: int, num_units: int, labels_per_unit: int) -> None: ...


@dataclasses.dataclass(frozen=True)
class AtxRules:
    genesis_id: bytes
    golden_atx: bytes
    tick_size: int
    labels_per_unit: int
    min_num_units: int
    max_num_units: int


def validate_atx(atx: ATXV1, current_epoch: int, rules: AtxRules, known: KnownAtxs, proofs: ProofChecker) -> AtxInfo:
    inner, challenge = atx.inner, atx.inner.challenge
    # --- syntax ------------------------------------------------------------------------------
    if not atx.verify_signature(rules.genesis_id):
        raise AtxError("ATX signature does not verify")
    if known.get(atx.id) is not None:
        raise AtxError("ATX is already known")
    if challenge.publish_epoch > current_epoch + 1:
        raise AtxError(f"ATX for epoch {challenge.publish_epoch} is too far ahead of epoch {current_epoch}")
    if challenge.positioning_atx_id == EMPTY_ID:
        raise AtxError("ATX has no positioning ATX")
    if not rules.min_num_units <= inner.num_units <= rules.max_num_units:
        raise AtxError(f"ATX declares {inner.num_units} units, outside [{rules.min_num_units}, {rules.max_num_units}]")
    nipost = inner.nipost
    if nipost is None or nipost.post is None or nipost.post_metadata is None:
        raise AtxError("ATX has no NIPoST")
    if nipost.post_metadata.labels_per_unit < rules.labels_per_unit:
        raise AtxError("ATX PoST has fewer labels per unit than the network requires")
    first = atx.is_first
    first_fields = (challenge.initial_post, challenge.commitment_atx_id, inner.node_id)
    if first:
        if None in first_fields or inner.vrf_nonce is None or challenge.sequence != 0:
            raise AtxError("a first ATX needs sequence 0, an initial PoST, a commitment ATX, node id and VRF nonce")
        if inner.node_id != atx.smesher_id:
            raise AtxError("ATX node id differs from its signer")
    elif any(f is not None for f in first_fields):
        raise AtxError("only a first ATX carries an initial PoST, commitment ATX or node id")

    # --- context -----------------------------------------------------------------------------
    twin = known.by_identity(atx.smesher_id, challenge.publish_epoch)
    if twin is not None:
        raise Malfeasance(atx.smesher_id, "two ATXs in one publish epoch", (twin.id, atx.id))
    if first:
        commitment = challenge.commitment_atx_id
        if commitment != rules.golden_atx:
            committed = known.get(commitment)
            if committed is None or committed.publish_epoch >= challenge.publish_epoch:
                raise AtxError("commitment ATX is unknown or not older than this ATX")
        units, vrf_nonce, previous_units = inner.num_units, inner.vrf_nonce, None
    else:
        prev = known.get(challenge.prev_atx_id)
        if prev is None:
            raise AtxError("previous ATX is unknown")
        if prev.node_id != atx.smesher_id:
            raise AtxError("previous ATX belongs to another identity")
        if prev.publish_epoch >= challenge.publish_epoch or challenge.sequence != prev.sequence + 1:
            raise AtxError("previous ATX must be older and have the preceding sequence number")
        commitment, previous_units = prev.commitment_atx, prev.num_units
        units = min(prev.num_units, inner.num_units)
        vrf_nonce = prev.vrf_nonce if inner.vrf_nonce is None else inner.vrf_nonce
    if challenge.positioning_atx_id == rules.golden_atx:
        base_height = 0
    else:
        positioning = known.get(challenge.positioning_atx_id)
        if positioning is None or positioning.publish_epoch >= challenge.publish_epoch:
            raise AtxError("positioning ATX is unknown or not older than this ATX")
        base_height = positioning.tick_height

    # --- proofs ------------------------------------------------------------------------------
    if first:
        proofs.check_post(atx.smesher_id, commitment, challenge.initial_post, bytes(32), units, rules.labels_per_unit)
    leaves = proofs.poet_leaves(
        nipost.post_metadata.challenge, challenge.hash, nipost.membership.nodes, nipost.membership.leaf_index
    )
    proofs.check_post(
        atx.smesher_id, commitment, nipost.post, nipost.post_metadata.challenge, units, rules.labels_per_unit
    )
    if first or inner.vrf_nonce is not None or (previous_units is not None and inner.num_units > previous_units):
        proofs.check_vrf_nonce(atx.smesher_id, commitment, vrf_nonce, inner.num_units, rules.labels_per_unit)
    tick_count = leaves // rules.tick_size
    if units * tick_count >= 2**64:
        raise AtxError("ATX weight overflows")
    return AtxInfo(
        atx.id,
        atx.smesher_id,
        challenge.publish_epoch,
        challenge.sequence,
        inner.coinbase,
        units,
        base_height,
        tick_count,
        vrf_nonce,
        commitment,
    )
