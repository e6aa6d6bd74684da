"""Proposal eligibility from ECVRF (spec/node.md §3.2–3.3).

An identity with ATX weight w in an epoch of total weight W gets
`slots = max(1, w · LayerAvgSize · LayersPerEpoch // max(MinActiveWeight, W))`; slot j's VRF
output over {Type=3, Beacon, Epoch, VRFNonce, Counter=j} picks the layer
`first layer of the epoch + LE64(proof[0:8]) mod LayersPerEpoch`.
"""

from __future__ import annotations

import enum
from typing import Annotated

from core.codec import Compact, FixedBytes, Struct
from core.crypto import ecvrf
from core.errors import SmeshError
from core.types.ballot import VotingEligibility


class EligibilityType(enum.IntEnum):
    BEACON = 1
    HARE = 2
    VOTING = 3
    BEACON_WEAK_COIN = 4


class EligibilityError(SmeshError):
    """Eligibility proofs that do not hold."""


class VrfMessage(Struct):
    type: Annotated[int, Compact(16)]
    beacon: Annotated[bytes, FixedBytes(4)]
    epoch: Annotated[int, Compact(32)]
    nonce: Annotated[int, Compact(64)]
    counter: Annotated[int, Compact(32)]


def num_slots(weight: int, total_weight: int, min_active_weight: int, layer_avg_size: int, layers_per_epoch: int) -> int:
    return max(1, weight * layer_avg_size * layers_per_epoch // max(min_active_weight, total_weight, 1))


def slot_message(beacon: bytes, epoch: int, vrf_nonce: int, counter: int) -> bytes:
    return VrfMessage(EligibilityType.VOTING, beacon, epoch, vrf_nonce, counter).encode()


def slot_layer(proof: bytes, first_layer: int, layers_per_epoch: int) -> int:
    return first_layer + int.from_bytes(proof[:8], "little") % layers_per_epoch


def eligible_layers(
    secret_key: bytes, beacon: bytes, epoch: int, vrf_nonce: int, slots: int, layers_per_epoch: int
) -> dict[int, tuple[VotingEligibility, ...]]:
    """Every layer of the epoch this identity may propose in, with its proofs in ascending J."""
    first = epoch * layers_per_epoch
    by_layer: dict[int, list[VotingEligibility]] = {}
    for j in range(slots):
        proof = ecvrf.prove(secret_key, slot_message(beacon, epoch, vrf_nonce, j))
        by_layer.setdefault(slot_layer(proof, first, layers_per_epoch), []).append(VotingEligibility(j, proof))
    return {layer: tuple(proofs) for layer, proofs in sorted(by_layer.items())}


def check_proofs(
    public_key: bytes,
    proofs: tuple[VotingEligibility, ...],
    layer: int,
    beacon: bytes,
    vrf_nonce: int,
    slots: int,
    layers_per_epoch: int,
) -> None:
    """Raise `EligibilityError` unless every proof is a valid, in-range, ascending slot for `layer`."""
    if not proofs:
        raise EligibilityError("ballot carries no eligibility proofs")
    epoch = layer // layers_per_epoch
    previous = -1
    for proof in proofs:
        if proof.j >= slots:
            raise EligibilityError(f"eligibility counter {proof.j} is not below the identity's {slots} slots")
        if proof.j <= previous:
            raise EligibilityError("eligibility counters are not strictly ascending")
        previous = proof.j
        if not ecvrf.is_valid(public_key, proof.sig, slot_message(beacon, epoch, vrf_nonce, proof.j)):
            raise EligibilityError(f"eligibility proof {proof.j} does not verify")
        if slot_layer(proof.sig, epoch * layers_per_epoch, layers_per_epoch) != layer:
            raise EligibilityError(f"eligibility proof {proof.j} is for another layer")
