"""Agreeing on a layer (spec/node.md §5, §7.1, §5.4): the hare session per layer, building the
block from the hare output, and collecting certificates for it.

A mixin of `Node` (core/node/node.py): it works on the node's state and is never used alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.consensus.blocks import BlockBuildError, ProposalInfo, TxInfo, build_block
from core.consensus.certificate import (
    Certificate,
    CertificateCollector,
    CertifierIneligibleHere,
    CertifyMessage,
    InvalidCertificate,
    make_certify_message,
)
from core.consensus.hare import HareSchedule, HareSession, IneligibleHere, InvalidHareMessage, Message as HareMessage
from core.consensus.hare import Verdict as HareVerdict
from core.errors import DecodeError
from core.node.bus import Topic, Verdict
from core.node.wire import EMPTY_BLOCK, HareEquivocation, MalfeasanceKind, Rejected, Request, Unavailable
from core.types.ballot import Block, Proposal


class LayerAgreement:
    """Hare, block building and certificates of a `Node`."""

    # ============================================================================================
    # hare (spec §5)

    def _session(self, layer: int) -> HareSession | None:
        """The hare session of a layer, opened at its start (or by an early message for it)."""
        entry = self._sessions.get(layer)
        if entry is not None:
            return entry[0]
        current = self.clock.current_layer()
        if layer in self.hare_outputs or layer < max(self._hare_floor, 2 * self.lpe) or not current <= layer <= current + 1:
            return None
        epoch = layer // self.lpe
        beacon, oracle = self.beacons.get(epoch), self._oracle(epoch)
        if beacon is None or oracle is None:
            return None
        session = HareSession(
            layer, beacon=beacon, genesis_id=self.genesis_id, oracle=oracle, config=self.hare_config,
            identity=self.identity,
        )
        self._sessions[layer] = (session, HareSchedule.for_layer(self.clock, layer, self.hare_config))
        return session

    def _hare_initial(self, layer: int) -> list[bytes]:
        """Spec §5.3 preround: proposals with our beacon from non-malicious smeshers, one per ATX."""
        beacon = self.beacons.get(layer // self.lpe)
        by_atx: dict[bytes, list[bytes]] = {}
        for pid, proposal in self.proposals.get(layer, {}).items():
            ballot = proposal.ballot
            if ballot.smesher_id in self.malicious or self._epoch_data[ballot.id].beacon != beacon:
                continue
            by_atx.setdefault(ballot.inner.atx_id, []).append(pid)
        return [ids[0] for ids in by_atx.values() if len(ids) == 1]

    def _run_hare(self, now: float) -> None:
        for layer in sorted(self._sessions):
            session, schedule = self._sessions[layer]
            while session.next_round is not None and schedule.round_start(session.next_round) <= now:
                if session.next_round == 0:
                    session.set_initial(self._hare_initial(layer))
                for msg in session.on_round(session.next_round):
                    self._publish(Topic.HARE, msg.encode())
                if session.output is not None and layer not in self.hare_outputs:
                    self._on_hare_output(layer, session.output.proposals)
            if session.coin is not None:  # known from the preround on; full-mode votes need it (§6.2)
                self.tortoise.on_weak_coin(layer, session.coin)
            if session.done:
                del self._sessions[layer]
                if session.coin is not None:
                    self.store.set_weak_coin(layer, session.coin)
                if session.failed:
                    self._emit("hare_failed", layer=layer)

    def handle_hare(self, payload: bytes, sender: str) -> Verdict:
        try:
            msg = HareMessage.decode(payload)
        except (DecodeError, ValueError):
            return Verdict.REJECT
        session = self._session(msg.body.layer)
        if session is None:
            return Verdict.IGNORE
        try:
            verdict = session.on_message(msg)
        except IneligibleHere:
            return Verdict.IGNORE  # maybe only our view differs (beacon, active set): not the peer's fault
        except InvalidHareMessage:
            return Verdict.REJECT
        if verdict is HareVerdict.EQUIVOCATION:
            twin = session.equivocations[msg.sender]
            self._mark_malicious(msg.sender, MalfeasanceKind.HARE, HareEquivocation(twin.first, twin.second).encode())
        return Verdict.ACCEPT if verdict in (HareVerdict.ACCEPTED, HareVerdict.EQUIVOCATION) else Verdict.IGNORE

    # ============================================================================================
    # blocks and certificates (spec §7.1, §5.4)

    def _on_hare_output(self, layer: int, proposal_ids: Iterable[bytes]) -> None:
        """Spec §1.2 step 3: build the layer's block from the agreed proposals, then certify it."""
        proposals = []
        for pid in proposal_ids:
            proposal = self.proposals.get(layer, {}).get(pid) or self._fetch_proposal(pid, layer)
            if proposal is None:
                self._emit("block_unbuildable", layer=layer, reason=f"proposal {pid.hex()} unavailable")
                return  # no hare output here: the layer will be synced from a peer's certificate
            proposals.append(proposal)
        try:
            block = self._build_block(layer, proposals)
        except (BlockBuildError, Unavailable, Rejected) as e:
            self._emit("block_unbuildable", layer=layer, reason=str(e))
            return
        self._set_hare_output(layer, block, None)
        self._certify(layer, block.id if block else EMPTY_BLOCK)

    def _build_block(self, layer: int, proposals: list[Proposal]) -> Block | None:
        infos = []
        txs: dict[bytes, TxInfo] = {}
        for proposal in proposals:
            ballot = proposal.ballot
            atx = self.atxs.get(ballot.inner.atx_id)
            assert atx is not None  # validated ballots have known ATXs
            for tx_id in proposal.inner.tx_ids:
                if tx_id not in txs:
                    txs[tx_id] = self._tx_info(self._require_tx(tx_id, None))
            infos.append(
                ProposalInfo(
                    proposal.id, atx.id, atx.weight, atx.base_tick_height,
                    self._epoch_data[ballot.id].eligibility_count, len(ballot.eligibility_proofs),
                    proposal.inner.tx_ids,
                )
            )
        return build_block(layer, infos, txs, self.config.block_gas_limit)

    def _fetch_proposal(self, pid: bytes, layer: int) -> Proposal | None:
        blob = self._request(Request.PROPOSAL, pid, None)
        if blob is None:
            return None
        try:
            proposal = Proposal.decode(blob)
        except (DecodeError, ValueError):
            return None
        if proposal.id != pid or proposal.layer != layer or self._accept_proposal(proposal, None) is not Verdict.ACCEPT:
            return None
        return proposal

    def _set_hare_output(self, layer: int, block: Block | None, cert: Certificate | None) -> None:
        """Record a layer's hare output (ours, or a peer's certified one) and tell the tortoise."""
        if block is not None:
            self._store_block(block)
        block_id = block.id if block else None
        self.hare_outputs[layer] = block_id
        self.store.add_hare_output(layer, block_id or EMPTY_BLOCK, cert.encode() if cert else None)
        self.tortoise.on_hare_output(layer, block_id)
        self._emit("hare_output", layer=layer, block=(block_id or EMPTY_BLOCK).hex(),
                   rewards=len(block.inner.rewards) if block else 0)

    def _store_block(self, block: Block) -> None:
        if block.id in self.blocks:
            return
        self.blocks[block.id] = block
        self.store.add_block(block)
        if block.layer > self.effective_genesis:
            self.tortoise.on_block(block.id, block.layer, block.inner.tick_height)

    def _block(self, block_id: bytes) -> Block | None:
        block = self.blocks.get(block_id)
        if block is None:
            blob = self._request(Request.BLOCK, block_id, None)
            try:
                fetched = Block.decode(blob) if blob is not None else None
            except (DecodeError, ValueError):
                fetched = None
            if fetched is not None and fetched.id == block_id:
                self._store_block(fetched)
                block = fetched
        return block

    def _certify(self, layer: int, block_id: bytes) -> None:
        epoch = layer // self.lpe
        oracle, beacon = self._oracle(epoch), self.beacons.get(epoch)
        if oracle is None or beacon is None:
            return
        msg = make_certify_message(
            self.identity, layer=layer, block_id=block_id, beacon=beacon, genesis_id=self.genesis_id,
            oracle=oracle, committee=self.config.certificate_committee,
        )
        if msg is not None and self._accept_certify(msg) is Verdict.ACCEPT:
            self._publish(Topic.CERTIFY, msg.encode())

    def handle_certify(self, payload: bytes, sender: str) -> Verdict:
        try:
            msg = CertifyMessage.decode(payload)
        except (DecodeError, ValueError):
            return Verdict.REJECT
        return self._accept_certify(msg)

    def _accept_certify(self, msg: CertifyMessage) -> Verdict:
        layer = msg.content.layer
        collector = self._collector(layer)
        if collector is None:
            return Verdict.IGNORE
        try:
            cert = collector.add(msg)
        except CertifierIneligibleHere:
            return Verdict.IGNORE
        except InvalidCertificate:
            return Verdict.REJECT
        if cert is not None and layer not in self.certificates:
            self.certificates[layer] = cert
            if layer in self.hare_outputs and (self.hare_outputs[layer] or EMPTY_BLOCK) == cert.block_id:
                self.store.add_hare_output(layer, cert.block_id, cert.encode())
        return Verdict.ACCEPT

    def _collector(self, layer: int) -> CertificateCollector | None:
        collector = self._collectors.get(layer)
        if collector is None:
            current = self.clock.current_layer()
            epoch = layer // self.lpe
            oracle, beacon = self._oracle(epoch), self.beacons.get(epoch)
            if oracle is None or beacon is None or not current - self.config.hdist <= layer <= current:
                return None
            collector = self._collectors[layer] = CertificateCollector(
                layer, beacon, self.genesis_id, oracle, self.config.certificate_committee
            )
            for old in [x for x in self._collectors if x < current - self.config.hdist]:
                del self._collectors[old]
        return collector
