"""The epoch beacon: 4 bytes of shared randomness per epoch (spec/node.md §4, simplified per §11).

Epoch 2's beacon is the genesis id's first 4 bytes, as upstream standalone nodes and test
networks inject it.  For later epochs the identities with an ATX targeting epoch E run, during E,
the protocol that fixes beacon(E+1):

1. proposals: each participant's VRF over {Type=1, Nonce, Epoch}, valid if, read as a 640-bit
   big-endian number, it is below 2^640 · (1 − 2^(−κ/((1−q)·N))) — about κ proposals network-wide;
2. one voting round: each participant signs the sorted list of valid proposals it received in
   time; a proposal's margin is the weight listing it minus the weight not listing it;
3. a weak coin (the least significant bit of the smallest weak-coin VRF) settles proposals whose
   margin is within θ·W of zero.

The beacon is the first 4 bytes of BLAKE3 over the sorted supported proposals.
"""

from __future__ import annotations

import dataclasses
from decimal import Context, Decimal
from fractions import Fraction
from typing import Annotated

from core.codec import Compact, FixedBytes, Slice, Struct
from core.consensus.eligibility import EligibilityType
from core.crypto import ecvrf
from core.crypto.hashing import hash32
from core.crypto.signing import Domain, sign_message, verify_message

KAPPA = 40
Q = Fraction(1, 3)
THETA = Fraction(1, 4)
BEACON_SIZE = 4
PROOF_SIZE = 80
MAX_PROPOSALS = 1000


def genesis_beacon(genesis_id: bytes) -> bytes:
    """Beacon of the first non-genesis epoch (2)."""
    return genesis_id[:BEACON_SIZE]


class ProposalVrf(Struct):
    type: Annotated[int, Compact(16)]
    nonce: Annotated[int, Compact(64)]
    epoch: Annotated[int, Compact(32)]


class WeakCoinVrf(Struct):
    type: Annotated[int, Compact(16)]
    nonce: Annotated[int, Compact(64)]
    epoch: Annotated[int, Compact(32)]
    round: Annotated[int, Compact(32)]
    unit: Annotated[int, Compact(32)]


class ProposalMessage(Struct):
    epoch: Annotated[int, Compact(32)]
    node_id: Annotated[bytes, FixedBytes(32)]
    vrf: Annotated[bytes, FixedBytes(PROOF_SIZE)]


class VoteBody(Struct):
    epoch: Annotated[int, Compact(32)]
    proposals: Annotated[tuple[bytes, ...], Slice(FixedBytes(PROOF_SIZE), MAX_PROPOSALS)]


class VoteMessage(Struct):
    body: VoteBody
    node_id: Annotated[bytes, FixedBytes(32)]
    signature: Annotated[bytes, FixedBytes(64)]


class CoinMessage(Struct):
    epoch: Annotated[int, Compact(32)]
    unit: Annotated[int, Compact(32)]
    node_id: Annotated[bytes, FixedBytes(32)]
    vrf: Annotated[bytes, FixedBytes(PROOF_SIZE)]


@dataclasses.dataclass(frozen=True)
class Participant:
    weight: int
    vrf_nonce: int
    num_units: int


def proposal_threshold(num_atxs: int) -> int:
    """2^640 · (1 − 2^(−κ/((1−q)·N))): exact when the exponent is whole, else to 200 digits."""
    exponent = Fraction(-KAPPA) / ((1 - Q) * num_atxs)
    if exponent.denominator == 1:
        return 2**640 - (2**640 >> -exponent.numerator) if exponent < 0 else 0
    ctx = Context(prec=200)
    power = ctx.power(Decimal(2), ctx.divide(Decimal(exponent.numerator), Decimal(exponent.denominator)))
    return int(ctx.multiply(Decimal(2**640), ctx.subtract(Decimal(1), power)))


class BeaconProtocol:
    """One node's view of the protocol that decides beacon(epoch + 1) during `epoch`."""

    def __init__(self, epoch: int, genesis_id: bytes, participants: dict[bytes, Participant]) -> None:
        self.epoch = epoch
        self.genesis_id = genesis_id
        self.participants = participants
        self.threshold = proposal_threshold(max(len(participants), 1))
        self.total_weight = sum(p.weight for p in participants.values())
        self.proposals: set[bytes] = set()
        self.votes: dict[bytes, frozenset[bytes]] = {}
        self.smallest_coin: bytes | None = None

    # --- phase 1 ----------------------------------------------------------------------------
    def _proposal_message(self, node_id: bytes) -> bytes:
        return ProposalVrf(EligibilityType.BEACON, self.participants[node_id].vrf_nonce, self.epoch).encode()

    def make_proposal(self, secret_key: bytes, node_id: bytes) -> ProposalMessage | None:
        """This node's proposal, if its VRF output is below the threshold."""
        if node_id not in self.participants:
            return None
        vrf = ecvrf.prove(secret_key, self._proposal_message(node_id))
        return ProposalMessage(self.epoch, node_id, vrf) if self._below(vrf) else None

    def _below(self, vrf: bytes) -> bool:
        return int.from_bytes(vrf, "big") < self.threshold

    def on_proposal(self, msg: ProposalMessage, timely: bool = True) -> bool:
        """Accept a valid, timely proposal from a participant; returns whether it was accepted."""
        if msg.epoch != self.epoch or msg.node_id not in self.participants or not timely:
            return False
        if not self._below(msg.vrf) or not ecvrf.is_valid(msg.node_id, msg.vrf, self._proposal_message(msg.node_id)):
            return False
        self.proposals.add(msg.vrf)
        return True

    # --- phase 2 ----------------------------------------------------------------------------
    def make_vote(self, secret_key: bytes, node_id: bytes) -> VoteMessage:
        body = VoteBody(self.epoch, tuple(sorted(self.proposals)))
        signature = sign_message(secret_key, self.genesis_id, Domain.BEACON_FIRST_MSG, body.encode())
        return VoteMessage(body, node_id, signature)

    def on_vote(self, msg: VoteMessage) -> bool:
        """Count one participant's list (first one wins; a second, different list is ignored)."""
        if msg.body.epoch != self.epoch or msg.node_id not in self.participants or msg.node_id in self.votes:
            return False
        if not verify_message(msg.node_id, self.genesis_id, Domain.BEACON_FIRST_MSG, msg.body.encode(), msg.signature):
            return False
        self.votes[msg.node_id] = frozenset(msg.body.proposals)
        return True

    # --- weak coin --------------------------------------------------------------------------
    def _coin_message(self, node_id: bytes, unit: int) -> bytes:
        nonce = self.participants[node_id].vrf_nonce
        return WeakCoinVrf(EligibilityType.BEACON_WEAK_COIN, nonce, self.epoch, 0, unit).encode()

    def make_coins(self, secret_key: bytes, node_id: bytes) -> list[CoinMessage]:
        units = self.participants[node_id].num_units if node_id in self.participants else 0
        return [
            CoinMessage(self.epoch, u, node_id, ecvrf.prove(secret_key, self._coin_message(node_id, u)))
            for u in range(units)
        ]

    def on_coin(self, msg: CoinMessage) -> bool:
        participant = self.participants.get(msg.node_id)
        if msg.epoch != self.epoch or participant is None or msg.unit >= participant.num_units:
            return False
        if not ecvrf.is_valid(msg.node_id, msg.vrf, self._coin_message(msg.node_id, msg.unit)):
            return False
        if self.smallest_coin is None or msg.vrf < self.smallest_coin:
            self.smallest_coin = msg.vrf
        return True

    @property
    def coin(self) -> bool:
        return self.smallest_coin is not None and bool(self.smallest_coin[-1] & 1)

    # --- result -----------------------------------------------------------------------------
    def supported(self) -> list[bytes]:
        """Proposals the weighted vote (or, when undecided, the weak coin) supports, sorted."""
        candidates = set().union(*self.votes.values()) if self.votes else set()
        chosen = []
        for proposal in sorted(candidates):
            margin = sum(
                self.participants[n].weight * (1 if proposal in listed else -1) for n, listed in self.votes.items()
            )
            if margin >= THETA * self.total_weight or (abs(margin) < THETA * self.total_weight and self.coin):
                chosen.append(proposal)
        return chosen

    def beacon(self) -> bytes:
        return hash32(*self.supported())[:BEACON_SIZE]
