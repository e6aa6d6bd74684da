"""Block certificates (spec/node.md §5.4).

After a layer's block (or the empty block id) is built from the hare output, identities
eligible in the *certify round* - a hare VRF with the constant absolute round 2^31-1 and the
certificate committee - gossip a signed `CertifyMessage`.  Valid messages for one block whose
eligibility counts reach `committee/2 + 1` form a `Certificate`, which syncing nodes accept
as that layer's hare output (spec §9.4).  Validation is shared by gossip and certificate
checks, so a certificate is valid exactly when each of its messages would be.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from core.codec import Compact, FixedBytes, Slice, Struct
from core.consensus.hare import Identity, WeightsOracle
from core.consensus.sortition import eligibility_count, hare_vrf_message
from core.crypto import ecvrf
from core.crypto.signing import Domain, sign_message, verify_message
from core.errors import SmeshError

__all__ = [
    "CERTIFY_ROUND",
    "Certificate",
    "CertificateCollector",
    "CertifierIneligibleHere",
    "CertifyContent",
    "CertifyMessage",
    "InvalidCertificate",
    "make_certify_message",
    "validate_certificate",
    "validate_certify_message",
]

CERTIFY_ROUND = 2**31 - 1  # an absolute round no hare iteration reaches: its own VRF domain
MAX_CERTIFY_SIGNATURES = 1000


class InvalidCertificate(SmeshError):
    """A certify message or certificate that does not hold."""


class CertifierIneligibleHere(InvalidCertificate):
    """A signed certify message whose sender is not eligible in this node's view (beacon, active
    set, malfeasance): like `hare.IneligibleHere`, ignored rather than held against the relaying peer."""


class CertifyContent(Struct):
    """What a certifier signs (HARE domain)."""

    layer: Annotated[int, Compact(32)]
    block_id: Annotated[bytes, FixedBytes(20)]
    eligibility_count: Annotated[int, Compact(16)]
    proof: Annotated[bytes, FixedBytes(ecvrf.PROOF_SIZE)]


class CertifyMessage(Struct):
    content: CertifyContent
    smesher_id: Annotated[bytes, FixedBytes(32)]
    signature: Annotated[bytes, FixedBytes(64)]


class Certificate(Struct):
    block_id: Annotated[bytes, FixedBytes(20)]
    signatures: Annotated[tuple[CertifyMessage, ...], Slice(CertifyMessage, MAX_CERTIFY_SIGNATURES)]


def _threshold(committee: int) -> int:
    return committee // 2 + 1


def make_certify_message(
    identity: Identity,
    *,
    layer: int,
    block_id: bytes,
    beacon: bytes,
    genesis_id: bytes,
    oracle: WeightsOracle,
    committee: int,
) -> CertifyMessage | None:
    """Our signed vote for `block_id`, or None when our identity is not in the certify committee."""
    weight = oracle.weight(identity.node_id)
    if weight <= 0 or oracle.is_malicious(identity.node_id):
        return None
    proof = ecvrf.prove(identity.secret_key, hare_vrf_message(beacon, CERTIFY_ROUND, layer))
    seats = eligibility_count(proof, weight, oracle.total_weight(), committee)
    if seats == 0:
        return None
    content = CertifyContent(layer, block_id, seats, proof)
    signature = sign_message(identity.secret_key, genesis_id, Domain.HARE, content.encode())
    return CertifyMessage(content, identity.node_id, signature)


def validate_certify_message(
    msg: CertifyMessage, *, layer: int, beacon: bytes, genesis_id: bytes, oracle: WeightsOracle, committee: int
) -> None:
    """Raise `InvalidCertificate` unless `msg` is a signed, eligible certify vote for `layer`."""
    content = msg.content
    if content.layer != layer:
        raise InvalidCertificate(f"certify message is for layer {content.layer}, not {layer}")
    if oracle.is_malicious(msg.smesher_id):
        raise CertifierIneligibleHere("certifier is a known malicious identity")
    weight = oracle.weight(msg.smesher_id)
    if weight <= 0:
        raise CertifierIneligibleHere("certifier has no weight in this epoch's active set")
    if not verify_message(msg.smesher_id, genesis_id, Domain.HARE, content.encode(), msg.signature):
        raise InvalidCertificate("bad certify signature")
    if not ecvrf.is_valid(msg.smesher_id, content.proof, hare_vrf_message(beacon, CERTIFY_ROUND, layer)):
        raise CertifierIneligibleHere("certify eligibility proof does not verify")
    seats = eligibility_count(content.proof, weight, oracle.total_weight(), committee)
    if seats == 0 or seats != content.eligibility_count:
        claimed = content.eligibility_count
        raise CertifierIneligibleHere(f"certify message claims {claimed} seats, its proof grants {seats}")


def validate_certificate(
    cert: Certificate, *, layer: int, beacon: bytes, genesis_id: bytes, oracle: WeightsOracle, committee: int
) -> None:
    """A certificate holds when distinct, valid votes for its block carry threshold seats."""
    signers = set()
    seats = 0
    for msg in cert.signatures:
        if msg.content.block_id != cert.block_id:
            raise InvalidCertificate("certificate carries a vote for another block")
        if msg.smesher_id in signers:
            raise InvalidCertificate("certificate counts one certifier twice")
        validate_certify_message(msg, layer=layer, beacon=beacon, genesis_id=genesis_id, oracle=oracle, committee=committee)
        signers.add(msg.smesher_id)
        seats += msg.content.eligibility_count
    if seats < _threshold(committee):
        raise InvalidCertificate(f"certificate has {seats} seats, needs {_threshold(committee)}")


@dataclasses.dataclass
class CertificateCollector:
    """Gathers certify votes of one layer until some block has a certificate.

    A certifier's first valid vote counts; a second vote for a different block is kept as
    evidence (`conflicts`) and not counted.
    """

    layer: int
    beacon: bytes
    genesis_id: bytes
    oracle: WeightsOracle
    committee: int
    certificate: Certificate | None = None
    conflicts: list[tuple[CertifyMessage, CertifyMessage]] = dataclasses.field(default_factory=list)
    _votes: dict[bytes, CertifyMessage] = dataclasses.field(default_factory=dict)

    def add(self, msg: CertifyMessage) -> Certificate | None:
        """Validate and count a vote; returns the certificate once (and after) one is complete."""
        validate_certify_message(
            msg, layer=self.layer, beacon=self.beacon, genesis_id=self.genesis_id, oracle=self.oracle, committee=self.committee
        )
        first = self._votes.get(msg.smesher_id)
        if first is not None:
            if first.content.block_id != msg.content.block_id:
                self.conflicts.append((first, msg))
            return self.certificate
        self._votes[msg.smesher_id] = msg
        if self.certificate is None:
            self.certificate = self._assemble(msg.content.block_id)
        return self.certificate

    def _assemble(self, block_id: bytes) -> Certificate | None:
        votes = sorted((v for v in self._votes.values() if v.content.block_id == block_id), key=lambda v: v.smesher_id)
        if sum(v.content.eligibility_count for v in votes) < _threshold(self.committee):
            return None
        return Certificate(block_id, tuple(votes))
