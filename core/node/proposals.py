"""Proposals and ballots (spec/node.md §3): our eligibility per epoch, building and gossiping our
proposal, and the one validation path for ballots and proposals, ours and peers'.

A mixin of `Node` (core/node/node.py): it works on the node's state and is never used alone.
"""

from __future__ import annotations

import logging

from core.activation.validation import AtxInfo
from core.consensus.eligibility import EligibilityError, check_proofs, num_slots
from core.consensus.tortoise import DecodedBallot, TortoiseError
from core.errors import DecodeError
from core.node.activeset import ActiveSet
from core.node.bus import Topic, Verdict
from core.node.eligibility import Eligibility
from core.node.wire import BallotEquivocation, MalfeasanceKind, Rejected, Request, Unavailable
from core.types.ballot import EMPTY_BALLOT, Ballot, EpochData, InnerBallot, InnerProposal, Proposal


log = logging.getLogger("smesh.node")


class Proposals:
    """Eligibility, proposal building and ballot/proposal validation of a `Node`."""

    # ============================================================================================
    # proposals and ballots (spec §3)

    def _own_eligibility(self, epoch: int) -> Eligibility | None:
        """Our slots and their layers in an epoch: needs our ATX in the active set and the beacon."""
        known = self.eligibility.get(epoch)
        if known is not None:
            return known
        active, beacon = self._active_set(epoch), self.beacons.get(epoch)
        atx = self.atxs.by_identity(self.node_id, epoch - 1)
        if active is None or beacon is None or atx is None or atx not in active.atxs:
            return None
        slots = self._slots(atx, active)
        layers = self.slot_prover.get(epoch, beacon, atx.vrf_nonce, slots)
        if layers is None:  # not prepared by `run` (see `SlotProver.prove_now`)
            layers = self.slot_prover.prove_now(epoch, beacon, atx.vrf_nonce, slots)
        elig = self.eligibility[epoch] = Eligibility(epoch, atx, beacon, active.hash, slots, layers)
        elig.ref_ballot = next(
            (bid for bid, b in self.ballots.items() if b.smesher_id == self.node_id and b.layer // self.lpe == epoch
             and b.inner.epoch_data is not None),
            None,
        )
        self._emit("eligibility", epoch=epoch, slots=slots, layers={k: len(v) for k, v in layers.items()})
        return elig

    def _slots(self, atx: AtxInfo, active: ActiveSet) -> int:
        return self._slots_of(atx.weight, active.total_weight)

    def _slots_of(self, weight: int, total_weight: int) -> int:
        c = self.config
        return num_slots(weight, total_weight, c.min_active_set_weight, c.layer_avg_size, self.lpe)

    def _prepare_eligibility(self) -> None:
        """Start proving our slots of the current and next epoch in the background as soon as our
        ATX targeting the epoch and its beacon are known (spec §3.3: only those and our key matter)."""
        current = self.clock.current_epoch()
        for epoch in (current, current + 1):
            if epoch < 2 or epoch in self.eligibility:
                continue
            beacon, atx = self.beacons.get(epoch), self.atxs.by_identity(self.node_id, epoch - 1)
            if beacon is None or atx is None:
                continue
            started = self.clock.now() >= self.clock.epoch_start(epoch)
            if not started and self.slot_prover.knows(epoch, beacon, atx.vrf_nonce):
                continue  # an upper bound is being proven already: the exact count is known at the start
            slots = self._slot_bound(epoch, atx)
            if slots is not None:
                self.slot_prover.start(epoch, beacon, atx.vrf_nonce, slots)

    def _slot_bound(self, epoch: int, atx: AtxInfo) -> int | None:
        """Our slot count in an epoch, or before its start an upper bound: ATXs arriving until the
        start only add weight to the active set, which never raises our count."""
        if self.clock.now() >= self.clock.epoch_start(epoch):
            active = self._active_set(epoch)
            return self._slots(atx, active) if active is not None and atx in active.atxs else None
        known = sum(a.weight for a in self._atxs_targeting(epoch, received_by=self.clock.now()))
        return self._slots_of(atx.weight, max(known, atx.weight))

    async def _eligibility_ready(self, epoch: int) -> None:
        """Before a layer start of `epoch` runs: its slot proofs made (off the loop) if they can be."""
        self._prepare_eligibility()
        await self.slot_prover.wait(epoch)

    def _build_proposal(self, layer: int) -> None:
        """Spec §1.2 step 1, §3.4, §3.5: a ballot with our votes and eligibility, txs from the mempool."""
        elig = self._own_eligibility(layer // self.lpe)
        if elig is None or layer not in elig.layers or (layer, self.node_id) in self._ballot_at:
            return
        if self.node_id in self.malicious:
            return
        proposal = self._make_proposal(layer, elig)
        if self._accept_proposal(proposal, None) is not Verdict.ACCEPT:
            log.warning("%s: our own proposal for layer %d did not validate", self.name, layer)
            return
        if proposal.ballot.inner.epoch_data is not None:
            elig.ref_ballot = proposal.ballot.id
        self._publish_proposal(proposal)
        self._emit("proposal", layer=layer, id=proposal.id.hex(), proofs=len(elig.layers[layer]),
                   txs=len(proposal.inner.tx_ids))

    def _make_proposal(self, layer: int, elig: Eligibility) -> Proposal:
        proofs = elig.layers[layer]
        encoded = self.tortoise.encode_votes(layer)
        epoch_data = None
        if elig.ref_ballot is None:
            epoch_data = EpochData(elig.active_set_hash, elig.beacon, elig.slots)
        inner = InnerBallot(layer, elig.atx.id, encoded.opinion_hash, elig.ref_ballot or EMPTY_BALLOT, epoch_data)
        sk = self.identity.secret_key
        ballot = Ballot.sign(inner, encoded.votes, proofs, sk, self.node_id, self.genesis_id)
        txs = self.mempool.select(len(proofs) * self.config.txs_per_proposal, self.config.block_gas_limit)
        mesh_hash = self.tortoise.proposal_mesh_hash(layer) or bytes(32)
        inner_proposal = InnerProposal(ballot, tuple(entry.tx.id for entry in txs), mesh_hash)
        return Proposal.sign(inner_proposal, sk, self.genesis_id)

    def _publish_proposal(self, proposal: Proposal) -> None:
        """Gossip our proposal (a seam for simulated adversaries)."""
        self._publish(Topic.PROPOSAL, proposal.encode())

    def handle_proposal(self, payload: bytes, sender: str) -> Verdict:
        try:
            proposal = Proposal.decode(payload)
        except (DecodeError, ValueError):
            return Verdict.REJECT
        return self._accept_proposal(proposal, sender)

    def _accept_proposal(self, proposal: Proposal, sender: str | None) -> Verdict:
        """Spec §3.5: signature, ballot, transactions; then it is hare input for its layer."""
        layer = proposal.layer
        if layer <= self.effective_genesis or layer > self.clock.current_layer() + 1:
            return Verdict.IGNORE
        pid = proposal.id
        if pid in self.proposals.get(layer, {}):
            return Verdict.IGNORE
        if not proposal.verify_signature(self.genesis_id):
            return self._refuse("proposal", pid, "bad proposal signature")
        try:
            self._accept_ballot(proposal.ballot, sender)
            for tx_id in proposal.inner.tx_ids:
                self._require_tx(tx_id, sender)
        except Rejected as e:
            return self._refuse("proposal", pid, str(e))
        except Unavailable as e:
            self._emit("proposal_ignored", id=pid.hex(), reason=str(e))
            return Verdict.IGNORE
        self.proposals.setdefault(layer, {})[pid] = proposal
        return Verdict.ACCEPT

    def _refuse(self, what: str, object_id: bytes, reason: str) -> Verdict:
        self._emit(f"{what}_rejected", id=object_id.hex(), reason=reason)
        return Verdict.REJECT

    def _accept_ballot(self, ballot: Ballot, sender: str | None) -> EpochData:
        """Validate a ballot and feed it to the tortoise; raises `Rejected` / `Unavailable`."""
        ballot_id = ballot.id
        if ballot_id in self.ballots:
            return self._epoch_data[ballot_id]
        layer, epoch = ballot.layer, ballot.layer // self.lpe
        if epoch < 2 or layer <= self.effective_genesis:
            raise Rejected(f"ballot in genesis layer {layer}")
        if not ballot.verify_signature(self.genesis_id):
            raise Rejected("bad ballot signature")
        atx = self._atx(ballot.inner.atx_id, sender)
        if atx is None:
            raise Unavailable("ballot's ATX is unknown")
        if atx.node_id != ballot.smesher_id or atx.target_epoch != epoch:
            raise Rejected("ballot's ATX belongs to another identity or epoch")
        epoch_data = self._ballot_epoch_data(ballot, atx, sender)
        try:
            check_proofs(
                ballot.smesher_id, ballot.eligibility_proofs, layer, epoch_data.beacon, atx.vrf_nonce,
                epoch_data.eligibility_count, self.lpe,
            )
        except EligibilityError as e:
            raise Rejected(str(e)) from None
        self._feed_tortoise(ballot, ballot_id, epoch_data, sender)
        self._store_ballot(ballot, ballot_id, epoch_data)
        return epoch_data

    def _ballot_epoch_data(self, ballot: Ballot, atx: AtxInfo, sender: str | None) -> EpochData:
        """The reference ballot's epoch data: checked against our active set (spec §3.1, §3.4)."""
        inner, epoch = ballot.inner, ballot.layer // self.lpe
        if inner.epoch_data is not None:
            if inner.ref_ballot != EMPTY_BALLOT:
                raise Rejected("a reference ballot cannot point at another reference ballot")
            active = self._active_set(epoch)
            if active is None:
                raise Unavailable(f"active set of epoch {epoch} is not fixed yet")
            if inner.epoch_data.active_set_hash != active.hash:
                raise Rejected("ballot names an active set we do not know")
            if inner.epoch_data.eligibility_count != self._slots(atx, active):
                raise Rejected("ballot claims an eligibility count its weight does not give")
            return inner.epoch_data
        ref = self.ballots.get(inner.ref_ballot) or self._fetch_ballot(inner.ref_ballot, sender)
        if ref is None:
            raise Unavailable("reference ballot is unknown")
        if ref.smesher_id != ballot.smesher_id or ref.layer // self.lpe != epoch or ref.layer >= ballot.layer:
            raise Rejected("reference ballot belongs to another identity or epoch")
        return self._epoch_data[inner.ref_ballot]

    def _feed_tortoise(self, ballot: Ballot, ballot_id: bytes, epoch_data: EpochData, sender: str | None) -> None:
        decoded = DecodedBallot(
            ballot_id, ballot.layer, ballot.inner.atx_id, ballot.smesher_id, epoch_data.eligibility_count,
            len(ballot.eligibility_proofs), epoch_data.beacon, ballot.inner.opinion_hash, ballot.votes,
        )
        base = ballot.votes.base
        if base != EMPTY_BALLOT and base not in self.ballots and self._fetch_ballot(base, sender) is None:
            raise Unavailable("base ballot is unknown")
        try:
            self.tortoise.on_ballot(decoded)
        except TortoiseError as e:
            raise Rejected(str(e)) from None

    def _store_ballot(self, ballot: Ballot, ballot_id: bytes, epoch_data: EpochData) -> None:
        self.ballots[ballot_id] = ballot
        self._epoch_data[ballot_id] = epoch_data
        self.store.add_ballot(ballot_id, ballot)
        key = (ballot.layer, ballot.smesher_id)
        first = self._ballot_at.setdefault(key, ballot_id)
        if first != ballot_id:  # spec §3.4: two ballots in one layer
            proof = BallotEquivocation(self.ballots[first], ballot).encode()
            self._mark_malicious(ballot.smesher_id, MalfeasanceKind.BALLOTS, proof)

    def _fetch_ballot(self, ballot_id: bytes, sender: str | None) -> Ballot | None:
        blob = self._request(Request.BALLOT, ballot_id, sender)
        if blob is None:
            return None
        try:
            ballot = Ballot.decode(blob)
        except (DecodeError, ValueError):
            return None
        if ballot.id != ballot_id:
            return None
        try:
            self._accept_ballot(ballot, sender)
        except (Rejected, Unavailable):
            return None
        return ballot
