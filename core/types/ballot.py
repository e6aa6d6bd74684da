"""Ballots, proposals and blocks (spec/node.md §3.4, §3.5, §7.1; go-spacemesh `common/types`).

Ballot id = BLAKE3-20(SCALE(inner ballot)); the smesher signs SCALE({Layer, BLAKE3(inner)}) in the
ballot domain.  A proposal wraps a ballot with transaction ids and a mesh hash; its signature
(proposal domain) covers SCALE({Layer, BLAKE3(inner proposal)}) and its id is BLAKE3-20 of those
signed bytes.  Block id = BLAKE3-20(SCALE(inner block)).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

from core.codec import Compact, FixedBytes, Option, Slice, Struct
from core.crypto.hashing import hash20, hash32
from core.crypto.signing import Domain, sign_message, verify_message

Hash32 = Annotated[bytes, FixedBytes(32)]
ID20 = Annotated[bytes, FixedBytes(20)]
EMPTY_BALLOT = bytes(20)
VRF_PROOF_SIZE = 80
MAX_PROOFS = 5000
MAX_VOTES = 10_000
MAX_TXS = 100_000
MAX_REWARDS = 5000


class EpochData(Struct):
    """Carried by an identity's first ballot of an epoch: fixes its view of the epoch."""

    active_set_hash: Hash32
    beacon: Annotated[bytes, FixedBytes(4)]
    eligibility_count: Annotated[int, Compact(32)]


class InnerBallot(Struct):
    layer: Annotated[int, Compact(32)]
    atx_id: Hash32
    opinion_hash: Hash32
    ref_ballot: ID20  # empty in the reference ballot
    epoch_data: Annotated[EpochData | None, Option(EpochData)]


class Vote(Struct):
    block_id: ID20
    layer: Annotated[int, Compact(32)]
    height: Annotated[int, Compact(64)]


class Votes(Struct):
    """Exceptions to the base ballot's opinion (spec §6)."""

    base: ID20
    support: Annotated[tuple[Vote, ...], Slice(Vote, MAX_VOTES)]
    against: Annotated[tuple[Vote, ...], Slice(Vote, MAX_VOTES)]
    abstain: Annotated[tuple[int, ...], Slice(Compact(32), MAX_VOTES)]


class VotingEligibility(Struct):
    j: Annotated[int, Compact(32)]
    sig: Annotated[bytes, FixedBytes(VRF_PROOF_SIZE)]


class BallotMetadata(Struct):
    layer: Annotated[int, Compact(32)]
    msg_hash: Hash32


class Ballot(Struct):
    inner: InnerBallot
    signature: Annotated[bytes, FixedBytes(64)]
    smesher_id: Hash32
    votes: Votes
    eligibility_proofs: Annotated[tuple[VotingEligibility, ...], Slice(VotingEligibility, MAX_PROOFS)]

    @property
    def id(self) -> bytes:
        return hash20(self.inner.encode())

    @property
    def layer(self) -> int:
        return self.inner.layer

    @staticmethod
    def signed_bytes_of(inner: InnerBallot) -> bytes:
        return BallotMetadata(inner.layer, hash32(inner.encode())).encode()

    def verify_signature(self, genesis_id: bytes) -> bool:
        return verify_message(
            self.smesher_id, genesis_id, Domain.BALLOT, self.signed_bytes_of(self.inner), self.signature
        )

    @classmethod
    def sign(
        cls,
        inner: InnerBallot,
        votes: Votes,
        proofs: tuple[VotingEligibility, ...],
        secret_key: bytes,
        smesher_id: bytes,
        genesis_id: bytes,
    ) -> Ballot:
        signature = sign_message(secret_key, genesis_id, Domain.BALLOT, cls.signed_bytes_of(inner))
        return cls(inner, signature, smesher_id, votes, proofs)


class InnerProposal(Struct):
    ballot: Ballot
    tx_ids: Annotated[tuple[bytes, ...], Slice(FixedBytes(32), MAX_TXS)]
    mesh_hash: Hash32


class Proposal(Struct):
    inner: InnerProposal
    signature: Annotated[bytes, FixedBytes(64)]

    @property
    def layer(self) -> int:
        return self.inner.ballot.layer

    @property
    def ballot(self) -> Ballot:
        return self.inner.ballot

    @staticmethod
    def signed_bytes_of(inner: InnerProposal) -> bytes:
        return BallotMetadata(inner.ballot.layer, hash32(inner.encode())).encode()

    @property
    def id(self) -> bytes:
        return hash20(self.signed_bytes_of(self.inner))

    def verify_signature(self, genesis_id: bytes) -> bool:
        return verify_message(
            self.ballot.smesher_id, genesis_id, Domain.PROPOSAL, self.signed_bytes_of(self.inner), self.signature
        )

    @classmethod
    def sign(cls, inner: InnerProposal, secret_key: bytes, genesis_id: bytes) -> Proposal:
        return cls(inner, sign_message(secret_key, genesis_id, Domain.PROPOSAL, cls.signed_bytes_of(inner)))


class RatNum(Struct):
    num: Annotated[int, Compact(64)]
    denom: Annotated[int, Compact(64)]

    @classmethod
    def of(cls, value: Fraction) -> RatNum:
        return cls(value.numerator, value.denominator)

    def fraction(self) -> Fraction:
        return Fraction(self.num, self.denom)


class AnyReward(Struct):
    atx_id: Hash32
    weight: RatNum


class InnerBlock(Struct):
    layer: Annotated[int, Compact(32)]
    tick_height: Annotated[int, Compact(64)]
    rewards: Annotated[tuple[AnyReward, ...], Slice(AnyReward, MAX_REWARDS)]
    tx_ids: Annotated[tuple[bytes, ...], Slice(FixedBytes(32), MAX_TXS)]


class Block(Struct):
    inner: InnerBlock

    @property
    def id(self) -> bytes:
        return hash20(self.inner.encode())

    @property
    def layer(self) -> int:
        return self.inner.layer
