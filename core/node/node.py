"""The full node: one smesher's per-layer and per-epoch cycle (spec/node.md §1.2, §1.3).

A `Node` wires the pure consensus pieces together and keeps their inputs and outputs in the
mesh store.  It is itself a state machine over two kinds of events, so a test can run many nodes
on simulated time in one process:

- **time**: `on_time(now)` runs everything due by `now` (layer starts, hare rounds, beacon
  phases); `next_wakeup()` says when the next thing is due.  A driver (`run`) sleeps until then
  on a wall or simulated clock;
- **messages**: one handler per gossip topic (`handlers()`), each taking the wire bytes and the
  sending peer and answering accept / reject / ignore, plus `serve` for peers' requests.

What happens in a layer L (spec §1.2), in time order:

1. layer start: catch up on layers we missed (§9.4), build and gossip our proposal if we are
   eligible (§3), open the hare session for L (§5);
2. hare rounds; on output the block is built from the agreed proposals (§7.1), handed to the
   tortoise, and certified (§5.4);
3. the tortoise tallies and reports changed layer results; the mesh applies blocks in layer
   order through the VM, reverting and re-applying when a result changes (§6.6).

Per epoch E (§1.3, §4): the active set and our eligibility are fixed at E's start, and the
identities of E run the beacon protocol that decides beacon(E+1) early in E (`beacon_phases`).

ATXs live in the shared `AtxStore` and enter through a narrow interface: the ATX gossip handler
and `submit_atx` (a simulation's stand-in ATXs) validate with `core.activation.validation` and
store; the real NIPoST builder validates and stores through its `AtxHandler` and tells the node
with `on_atx` / `on_malicious`, then gossips through `publish_atx`.

Simplifications (spec §11): the active set of an epoch is every ATX targeting it that arrived
before the epoch started; the beacon protocol is one proposal phase and one voting round (with the
weak coin) at the epoch's start (by default a layer each, at most half the epoch in all);
a node that missed it takes its peers' beacon; sync asks one peer per layer for its ballots,
blocks and certificate; a node that missed part of an epoch's publish epoch takes its peers' active
set.  The network is the in-process bus (simulations) or a p2p host (core/p2p, `attach`); either
way handlers run on the node's loop and requests block until answered.  Not yet: the
ballot-majority beacon fallback, pruning of in-memory state.

The node is split by concern: `proposals` (eligibility, proposals, ballots), `agreement` (hare,
blocks, certificates), `applying` (the mesh through the VM), `sync` (catch-up and serving peers)
are mixins over the state defined here; `wire` holds what peers exchange.

Everything a restart needs is in SQLite (`state.sql`): ATXs, ballots, blocks, hare outputs and
certificates, beacons, malfeasance, applied layers with their state and aggregated hashes.  A
restarted node replays those records into a fresh tortoise and continues with identical hashes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.activation.atxstore import AtxStore
from core.activation.proofs import PoetProofStore, UnknownPoetProof
from core.activation.validation import AtxError, AtxInfo, AtxRules, Malfeasance, ProofChecker, validate_atx
from core.codec import encode_compact
from core.config.node import NodeConfig
from core.consensus.beacon import (
    CoinMessage,
    BeaconProtocol,
    Participant,
    ProposalMessage,
    VoteMessage,
    genesis_beacon,
)
from core.consensus.blocks import TxInfo
from core.consensus.certificate import Certificate, CertificateCollector
from core.consensus.hare import HareConfig, HareSchedule, HareSession, Identity
from core.consensus.tortoise import DecodedBallot, LayerResult, Tortoise, TortoiseConfig, TortoiseError
from core.crypto.hashing import hash32
from core.errors import DecodeError, TxError
from core.mesh.store import MeshStore
from core.node.activeset import ActiveSet, EpochOracle
from core.node.agreement import LayerAgreement
from core.node.applying import MeshApplier
from core.node.bus import Bus, Endpoint, GossipHandler, Topic, Verdict
from core.node.clock import LayerClock
from core.node.eligibility import Eligibility, Offload, SlotProver
from core.node.proposals import Proposals
from core.node.sync import Sync
from core.node.wire import (
    EMPTY_BLOCK,
    AtxEquivocation,
    BeaconKind,
    EpochInfo,
    LayerData,
    MalfeasanceKind,
    Rejected,
    Request,
    Unavailable,
    check_malfeasance_proof,
)
from core.tx.gas import max_gas
from core.tx.transaction import decode_tx
from core.txs.mempool import Mempool, MempoolError
from core.types.atx import ATXV1, EMPTY_ID
from core.types.ballot import Ballot, Block, EpochData, Proposal
from core.vm.vm import VM, state_hash
from core.wallet.address import decode_address


log = logging.getLogger("smesh.node")


SYNC_TOLERANCE = 2  # layers a synced node may trail the clock (the current one has no hare output yet)


@dataclasses.dataclass
class _BeaconRun:
    protocol: BeaconProtocol
    voted: bool = False


class Node(Proposals, LayerAgreement, MeshApplier, Sync):
    """One smesher identity's node.  Create, `start()`, connect to a bus, then drive with `run`."""

    def __init__(
        self,
        config: NodeConfig,
        identity: Identity,
        coinbase: bytes,
        store: MeshStore,
        now: Callable[[], float],
        proofs: ProofChecker,
        name: str = "node",
        poets: PoetProofStore | None = None,
        offload: Offload = asyncio.to_thread,
    ) -> None:
        self.config = config
        self.identity = identity
        self.node_id = identity.node_id
        self.coinbase = coinbase
        self.store = store
        self.name = name
        self.proofs = proofs
        self.genesis_id = config.genesis_id
        self.clock = LayerClock(config.require_genesis_time(), config.layer_duration, config.layers_per_epoch, now)
        self.lpe = config.layers_per_epoch
        self.effective_genesis = config.effective_genesis
        self.rules = AtxRules(
            config.genesis_id,
            config.golden_atx,
            config.tick_size,
            config.labels_per_unit,
            config.min_num_units,
            config.max_num_units,
        )
        self.hare_config = HareConfig.from_node_config(config)
        self.vm = VM(self.genesis_id, self.effective_genesis, config.block_gas_limit)
        self.tortoise = Tortoise(TortoiseConfig.from_node(config))
        self.mempool = Mempool(self.genesis_id, store.view())
        self.net: Endpoint | None = None
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

        self.atxs = AtxStore(store)  # shared with the ATX builder and its handler
        self.poets = poets or PoetProofStore(store)  # PoET proofs our ATXs' PoSTs are proven for
        self.active_sets: dict[int, ActiveSet] = {}
        self.beacons: dict[int, bytes] = {}
        self.malicious: set[bytes] = set()
        self.ballots: dict[bytes, Ballot] = {}
        self._ballot_at: dict[tuple[int, bytes], bytes] = {}  # (layer, smesher) -> first ballot id
        self._epoch_data: dict[bytes, EpochData] = {}  # ballot id -> its epoch's data
        self.proposals: dict[int, dict[bytes, Proposal]] = {}
        self.blocks: dict[bytes, Block] = {}
        self.hare_outputs: dict[int, bytes | None] = {}  # layer -> block id (None: empty)
        self.certificates: dict[int, Certificate] = {}
        self.eligibility: dict[int, Eligibility] = {}
        self.slot_prover = SlotProver(identity.secret_key, self.lpe, offload)  # VRF proving, off the loop
        self.results: dict[int, LayerResult] = {}
        self.applied: dict[int, bytes] = {}  # layer -> applied block id (EMPTY_BLOCK: empty)
        self.last_applied = self.effective_genesis

        self._sessions: dict[int, tuple[HareSession, HareSchedule]] = {}
        self._hare_floor = 0  # no hare session for layers below (set when the node starts)
        self._beacon_floor = 0  # no beacon protocol run for epochs below
        self._collectors: dict[int, CertificateCollector] = {}
        self._beacon_runs: dict[int, _BeaconRun] = {}
        self._layer = -1  # last layer whose start was processed
        self._synced = self.effective_genesis  # every layer up to here has a hare output or a peer's data
        self._epochs_synced = False
        self._caught_up = False  # a sync pass has reached the current layer since the start
        self._started_at = float("-inf")  # when start() ran: epochs that began earlier were not seen live
        self._active_set_asked: dict[int, float] = {}  # epoch -> when peers were last asked for its active set
        self._prefetched: dict[tuple[Request, bytes], bytes] = {}  # batch-fetched objects not yet taken (sync)

    # ============================================================================================
    # lifecycle

    def start(self) -> None:
        """Initialise genesis state, then reload everything a previous run stored (spec §1.1)."""
        self._init_genesis()
        self._load()
        current = self.clock.current_layer()
        self._layer = current - 1
        # a layer or epoch already under way may have seen our messages before a restart: sending
        # different ones now would be equivocation, so we only join those that start from now on
        self._hare_floor = current + 1
        self._beacon_floor = self.clock.epoch_of(current) + 1
        self._caught_up = current <= self._synced + 1  # nothing was missed: a new network, or a quick restart
        self._started_at = self.clock.now()
        self._emit("started", layer=current, last_applied=self.last_applied)

    def connect(self, bus: Bus) -> Endpoint:
        """Join a gossip bus under this node's name."""
        self.net = bus.join(self.name, self.handlers(), self.serve)
        return self.net

    def attach(self, host: Any) -> None:
        """Use a p2p host (core.p2p.host.Host) as the network; call from the node's running loop."""
        self.net = host.attach(self.handlers(), self.serve, self.listens)

    def listens(self, topic: Topic) -> bool:
        """Gossip gating (spec §9.1): until a node has caught up on the layers it missed (a late
        or restarted node's first sync pass), it ignores what it cannot judge yet: proposals,
        hare, certificates and beacon messages.  ATXs, malfeasance proofs and transactions are
        taken at any time.  (Not `is_synced`: a layer whose hare failed would then keep the node
        deaf to the next layers' hare, and it would never catch up.)"""
        if topic in (Topic.ATX, Topic.MALFEASANCE, Topic.TX):
            return True
        return self._caught_up

    def is_synced(self) -> bool:
        """What the API reports as SYNCED (and what lets it accept transactions): every layer up
        to within SYNC_TOLERANCE of the clock has a hare output or a peer's data, or the node has
        caught up on what it missed and is processing layers live (a layer whose hare failed and
        whose certificate may still come does not make a live node "syncing")."""
        current = self.clock.current_layer()
        if current <= self.effective_genesis + 1 or self._synced >= current - SYNC_TOLERANCE:
            return True
        return self._caught_up and self._layer >= current - 1

    def handlers(self) -> dict[Topic, GossipHandler]:
        return {
            Topic.ATX: self.handle_atx,
            Topic.PROPOSAL: self.handle_proposal,
            Topic.TX: self.handle_tx,
            Topic.HARE: self.handle_hare,
            Topic.CERTIFY: self.handle_certify,
            Topic.BEACON: self.handle_beacon,
            Topic.MALFEASANCE: self.handle_malfeasance,
        }

    async def run(self, sleep_until: Callable[[float], Awaitable[None]]) -> None:
        """Drive the node forever: sleep until the next thing is due, then do it."""
        while True:
            self._prepare_eligibility()
            await sleep_until(self.next_wakeup())
            layer = self.clock.current_layer()
            if layer > self._layer:  # a layer start is due: its epoch's proofs must be ready first
                await self._eligibility_ready(self.clock.epoch_of(layer))
            self.on_time(self.clock.now())

    def _init_genesis(self) -> None:
        accounts = {decode_address(a, self.config.hrp): b for a, b in self.config.genesis_accounts.items()}
        self.store.put_genesis_accounts(accounts)
        genesis_state = state_hash([self.store.account(a, 0) for a in sorted(accounts)])
        self.store.init_genesis_layer(self.effective_genesis, EMPTY_BLOCK, genesis_state, self.tortoise.opinion(self.effective_genesis))
        self._set_beacon(2, genesis_beacon(self.genesis_id))

    def _emit(self, event: str, **fields: Any) -> None:
        log.debug("%s %s %s", self.name, event, fields)
        for listener in self.listeners:
            listener(event, fields)

    # ============================================================================================
    # time

    def next_wakeup(self) -> float:
        """When `on_time` next has something to do."""
        times = [self.clock.layer_start(self._layer + 1)]
        for session, schedule in self._sessions.values():
            if session.next_round is not None:
                times.append(schedule.round_start(session.next_round))
        for epoch, run in self._beacon_runs.items():
            times.append(self._beacon_time(epoch, decide=run.voted))
        return min(times)

    def on_time(self, now: float) -> None:
        """Run every layer start, hare round and beacon phase due by `now`."""
        current = self.clock.layer_at(now)
        while self._layer < current:
            self._layer += 1
            self._on_layer(self._layer, live=self._layer == current)
        self._run_hare(now)
        self._run_beacon(now)
        self._process_mesh()

    def _on_layer(self, layer: int, live: bool) -> None:
        """Spec §1.2: what a layer's start does.  Layers we slept through need nothing: per-epoch
        state (active sets, oracles) is derived lazily and missed data comes by sync."""
        if not live:
            return
        epoch = layer // self.lpe
        self._on_epoch(epoch, at_start=layer % self.lpe == 0)
        if layer <= self.effective_genesis:
            return
        self._sync(layer)
        self._process_mesh()  # what sync brought is applied before the mempool picks our txs
        self._build_proposal(layer)
        self._session(layer)
        for old in [x for x in self.proposals if x < layer - self.config.hdist - 1]:
            del self.proposals[old]  # spec §3.5: proposals live only a few layers
        self._emit("layer", layer=layer, epoch=epoch)

    def _on_epoch(self, epoch: int, at_start: bool) -> None:
        """Fix the active set and our eligibility; open the beacon protocol for epoch + 1 (spec §1.3)."""
        if epoch < 2:
            return
        self._active_set(epoch)
        if epoch not in self.beacons:
            self._sync_epochs(epoch)  # we missed the beacon protocol: take the peers' beacon
        self._own_eligibility(epoch)
        run = self._beacon_run(epoch)
        if run is not None and at_start:
            proposal = run.protocol.make_proposal(self.identity.secret_key, self.node_id)
            if proposal is not None:
                run.protocol.on_proposal(proposal)
                self._publish(Topic.BEACON, bytes([BeaconKind.PROPOSAL]) + proposal.encode())

    # ============================================================================================
    # ATXs (spec §2.5, §2.6)

    def submit_atx(self, atx: ATXV1) -> Verdict:
        """Our own ATX (e.g. from a simulation): validated like any other, stored, then gossiped."""
        verdict = self._accept_atx(atx, None)
        if verdict is Verdict.ACCEPT:
            self.publish_atx(atx)
        return verdict

    def publish_atx(self, atx: ATXV1) -> None:
        """Gossip an ATX already stored (the ATX builder's `publish` callback)."""
        self._publish(Topic.ATX, atx.encode())

    def on_atx(self, info: AtxInfo) -> None:
        """An ATX was validated and stored in the shared `AtxStore` (by us, or by the builder's
        `AtxHandler`): its weight now counts for its target epoch (spec §2.6 "notify tortoise")."""
        self.tortoise.on_atx(info.target_epoch, info.id, info.weight, info.tick_height)
        if info.node_id == self.node_id:
            self._prepare_eligibility()
        self._emit("atx", id=info.id.hex(), node=info.node_id.hex(), target_epoch=info.target_epoch, weight=info.weight)

    def on_malicious(self, node_id: bytes) -> None:
        """An identity was proven malicious elsewhere (the ATX handler's double-publish check)."""
        self.malicious.add(node_id)
        self.tortoise.on_malicious(node_id)

    def handle_atx(self, payload: bytes, sender: str) -> Verdict:
        try:
            atx = ATXV1.decode(payload)
        except (DecodeError, ValueError):
            return Verdict.REJECT
        return self._accept_atx(atx, sender)

    def _accept_atx(self, atx: ATXV1, sender: str | None) -> Verdict:
        """Spec §2.6: fetch dependencies (from the sender first), validate, store, count."""
        atx_id = atx.id
        if self.atxs.get(atx_id) is not None:
            return Verdict.IGNORE
        if not atx.verify_signature(self.genesis_id):  # before asking anyone for its dependencies
            return self._refuse("atx", atx_id, "ATX signature does not verify")
        for dep in self._atx_dependencies(atx):
            self._atx(dep, sender)
        try:
            try:
                info = validate_atx(atx, self.clock.current_epoch(), self.rules, self.atxs, self.proofs)
            except UnknownPoetProof as e:  # the PoET's proof is fetched like any dependency (hs/1 POETDB)
                if not self._fetch_poet_proof(e.ref, sender):
                    self._emit("atx_ignored", id=atx_id.hex(), reason=str(e))
                    return Verdict.IGNORE
                info = validate_atx(atx, self.clock.current_epoch(), self.rules, self.atxs, self.proofs)
        except Malfeasance as e:
            twin = self.atxs.blob(e.evidence[0])
            proof = AtxEquivocation(ATXV1.decode(twin), atx).encode() if twin else b""
            self._mark_malicious(atx.smesher_id, MalfeasanceKind.ATXS, proof)
            return Verdict.ACCEPT
        except AtxError as e:
            return self._refuse("atx", atx_id, str(e))
        if self.atxs.add(info, atx.encode(), self.clock.now()):
            self.on_atx(info)
        return Verdict.ACCEPT

    def _fetch_poet_proof(self, ref: bytes, sender: str | None) -> bool:
        """A PoET proof from peers (the sender first), checked (PoSW, reference) and stored."""
        blob = self._request(Request.POET, ref, sender)
        if blob is None:
            return False
        try:
            self.poets.add_message(blob, expected_ref=ref)  # the PoSW check: a few ms at devnet sizes
        except AtxError as e:
            self._emit("poet_proof_rejected", ref=ref.hex(), reason=str(e))
            return False
        return True

    def _atx_dependencies(self, atx: ATXV1) -> list[bytes]:
        challenge = atx.inner.challenge
        deps = [challenge.prev_atx_id, challenge.positioning_atx_id, challenge.commitment_atx_id]
        return [d for d in deps if d is not None and d not in (EMPTY_ID, self.rules.golden_atx)]

    def _atx(self, atx_id: bytes, sender: str | None) -> AtxInfo | None:
        """A known ATX, or one fetched from peers (the sender first) and validated."""
        info = self.atxs.get(atx_id)
        if info is None:
            blob = self._request(Request.ATX, atx_id, sender)
            if blob is not None and self._fetched_atx(blob, atx_id, sender):
                info = self.atxs.get(atx_id)
        return info

    def _fetched_atx(self, blob: bytes, atx_id: bytes, sender: str | None) -> bool:
        try:
            atx = ATXV1.decode(blob)
        except (DecodeError, ValueError):
            return False
        return atx.id == atx_id and self._accept_atx(atx, sender) is Verdict.ACCEPT

    def _active_set(self, epoch: int) -> ActiveSet | None:
        """The epoch's active set, fixed the first time it is needed once the epoch has started.

        A node that ran through the whole publish epoch (E-1) knows which ATXs had arrived by E's
        start.  One that started later (a late joiner, a restart) does not: some of its ATXs came by
        sync, after the start, so it takes the set its peers fixed (spec §3.1: a syncing node adopts the active set
        the epoch's ballots refer to; ballots whose active-set hash differs are refused as before).
        """
        active = self.active_sets.get(epoch)
        if active is None and epoch >= 2 and self.clock.now() >= self.clock.epoch_start(epoch):
            late = self._started_at > self.clock.epoch_start(epoch - 1)  # missed some of the publish epoch
            atxs = self._peers_active_set(epoch) if late else None
            if atxs is None and late and not self._alone():
                return None  # no peer answered yet (links still coming up): ask again later
            if atxs is None:
                atxs = self._atxs_targeting(epoch, received_by=self.clock.epoch_start(epoch))
            active = self.active_sets[epoch] = ActiveSet(epoch, tuple(atxs))
        return active

    def _peers_active_set(self, epoch: int) -> list[AtxInfo] | None:
        """A peer's active set of the epoch, each ATX fetched and validated; None if no peer has one
        (peers are asked at most once a second)."""
        now = self.clock.now()
        if now - self._active_set_asked.get(epoch, float("-inf")) < 1.0:
            return None
        self._active_set_asked[epoch] = now
        blob = self._request(Request.ACTIVE_SET, encode_compact(epoch), None)
        try:
            info = EpochInfo.decode(blob) if blob is not None else None
        except (DecodeError, ValueError):
            return None
        if info is None or info.epoch != epoch:
            return None
        ids = sorted(set(info.atxs))
        with self._batch(Request.ATX, [a for a in ids if self.atxs.get(a) is None]):
            atxs = [self._atx(atx_id, None) for atx_id in ids]
        if any(a is None or a.target_epoch != epoch for a in atxs):
            return None  # one we cannot fetch or that does not belong: not a set we can use
        return atxs

    def _atxs_targeting(self, epoch: int, received_by: float) -> list[AtxInfo]:
        """ATXs targeting an epoch received by a time, one per identity, sorted by id."""
        atxs = []
        for atx_id in self.atxs.ids_published_in(epoch - 1):
            info = self.atxs.get(atx_id)
            received = self.atxs.received(atx_id)
            if info is None or received is None or received > received_by:
                continue
            if self.atxs.by_identity(info.node_id, info.publish_epoch) == info:  # one per identity
                atxs.append(info)
        return atxs

    def _oracle(self, epoch: int) -> EpochOracle | None:
        active = self._active_set(epoch)
        return EpochOracle(active, self.malicious) if active is not None and active.atxs else None

    # ============================================================================================
    # beacon (spec §4)

    def _beacon_time(self, epoch: int, decide: bool) -> float:
        """When the votes go out (proposals arriving later are late), or when beacon(epoch + 1) is
        decided: `NodeConfig.beacon_phases` after the epoch's start."""
        return self.clock.epoch_start(epoch) + self.config.beacon_phases[decide]

    def _beacon_run(self, epoch: int) -> _BeaconRun | None:
        """The protocol deciding beacon(epoch + 1), open from the epoch's start to its decision."""
        run = self._beacon_runs.get(epoch)
        if run is not None or epoch < max(2, self._beacon_floor) or epoch + 1 in self.beacons:
            return run
        if epoch != self.clock.current_epoch():
            return None
        if self.clock.now() >= self._beacon_time(epoch, decide=True):
            return None
        active = self._active_set(epoch)
        if active is None or not active.atxs:
            return None
        participants = {a.node_id: Participant(a.weight, a.vrf_nonce, a.num_units) for a in active.atxs}
        run = self._beacon_runs[epoch] = _BeaconRun(BeaconProtocol(epoch, self.genesis_id, participants))
        return run

    def _run_beacon(self, now: float) -> None:
        for epoch, run in sorted(self._beacon_runs.items()):
            protocol = run.protocol
            if not run.voted and now >= self._beacon_time(epoch, decide=False):
                run.voted = True
                if self.node_id in protocol.participants:
                    vote = protocol.make_vote(self.identity.secret_key, self.node_id)
                    protocol.on_vote(vote)
                    self._publish(Topic.BEACON, bytes([BeaconKind.VOTE]) + vote.encode())
                    for coin in protocol.make_coins(self.identity.secret_key, self.node_id):
                        protocol.on_coin(coin)
                        self._publish(Topic.BEACON, bytes([BeaconKind.COIN]) + coin.encode())
            if run.voted and now >= self._beacon_time(epoch, decide=True):
                del self._beacon_runs[epoch]
                self._set_beacon(epoch + 1, protocol.beacon())

    def handle_beacon(self, payload: bytes, sender: str) -> Verdict:
        if not payload:
            return Verdict.REJECT
        try:
            kind = BeaconKind(payload[0])
            msg = {BeaconKind.PROPOSAL: ProposalMessage, BeaconKind.VOTE: VoteMessage, BeaconKind.COIN: CoinMessage}[
                kind
            ].decode(payload[1:])
        except (ValueError, DecodeError):
            return Verdict.REJECT
        epoch = msg.body.epoch if isinstance(msg, VoteMessage) else msg.epoch
        run = self._beacon_run(epoch)
        if run is None:
            return Verdict.IGNORE
        if isinstance(msg, ProposalMessage):
            timely = self.clock.now() < self._beacon_time(epoch, decide=False)
            ok = run.protocol.on_proposal(msg, timely=timely)
        elif isinstance(msg, VoteMessage):
            ok = run.protocol.on_vote(msg)
        else:
            ok = run.protocol.on_coin(msg)
        return Verdict.ACCEPT if ok else Verdict.IGNORE

    def _set_beacon(self, epoch: int, beacon: bytes) -> None:
        if epoch in self.beacons:
            return
        self.beacons[epoch] = beacon
        self.tortoise.on_beacon(epoch, beacon)
        self.store.add_beacon(epoch, beacon)
        self._emit("beacon", epoch=epoch, beacon=beacon.hex())
        self._prepare_eligibility()

    # ============================================================================================
    # transactions

    def submit_tx(self, raw: bytes) -> bytes:
        """A transaction from our user (API, CLI): admitted to the mempool, stored and gossiped."""
        entry = self.mempool.add(raw, self.clock.now())
        self._store_tx(raw)
        self._publish(Topic.TX, raw)
        return entry.tx.id

    def handle_tx(self, payload: bytes, sender: str) -> Verdict:
        try:
            self.mempool.add(payload, self.clock.now())
        except MempoolError as e:
            return Verdict.IGNORE if "already exists" in str(e) else Verdict.REJECT
        self._store_tx(payload)
        return Verdict.ACCEPT

    def _store_tx(self, raw: bytes) -> bytes:
        try:
            tx = decode_tx(raw)
        except DecodeError as e:
            raise Rejected(f"undecodable transaction: {e}") from None
        self.store.add_transaction(tx.id, raw, tx.principal, tx.nonce, int(self.clock.now()))
        return tx.id

    def _require_tx(self, tx_id: bytes, sender: str | None) -> bytes:
        raw = self.store.transaction_blob(tx_id)
        if raw is None:
            raw = self._request(Request.TX, tx_id, sender)
            if raw is None:
                raise Unavailable(f"transaction {tx_id.hex()[:12]} is unknown")
            if hash32(raw) != tx_id:
                raise Rejected("a peer sent a transaction that does not hash to its id")
            self._store_tx(raw)
        return raw

    def _tx_info(self, raw: bytes) -> TxInfo:
        tx = decode_tx(raw)
        kind = None
        if tx.signature is None and not tx.is_self_spawn:
            kind = self.store.account(tx.principal).kind()
        try:
            gas = max_gas(tx, kind)
        except TxError:
            gas = 0
        return TxInfo(tx.principal, tx.nonce, gas)

    # ============================================================================================
    # malfeasance (spec §2.6, §3.4, §5.2)

    def _mark_malicious(self, node_id: bytes, kind: MalfeasanceKind, proof: bytes, gossip: bool = True) -> None:
        """From now on the identity's ballots weigh nothing and it is out of hare and proposals."""
        if node_id in self.malicious:
            return
        self.malicious.add(node_id)
        self.tortoise.on_malicious(node_id)
        self.atxs.set_malicious(node_id, proof, domain=int(kind), received=self.clock.now())
        self._emit("malfeasance", node=node_id.hex(), kind=kind.name)
        if gossip and proof:
            self._publish(Topic.MALFEASANCE, bytes([kind]) + proof)

    def handle_malfeasance(self, payload: bytes, sender: str) -> Verdict:
        try:
            kind = MalfeasanceKind(payload[0])
            node_id = check_malfeasance_proof(kind, payload[1:], self.genesis_id)
        except (IndexError, ValueError, DecodeError):
            return Verdict.REJECT
        if node_id is None:
            return Verdict.REJECT
        if node_id in self.malicious:
            return Verdict.IGNORE
        self._mark_malicious(node_id, kind, payload[1:], gossip=False)
        return Verdict.ACCEPT

    # ============================================================================================
    # network plumbing

    def _publish(self, topic: Topic, payload: bytes) -> None:
        if self.net is not None:
            self.net.publish(topic, payload)

    def _request(self, protocol: Request, payload: bytes, peer: str | None) -> bytes | None:
        prefetched = self._prefetched.pop((protocol, payload), None)
        if prefetched is not None:
            return prefetched
        if self.net is None:
            return None
        return self.net.request(protocol.value, payload, peer)

    # ============================================================================================
    # restart (spec §8): replay stored records into fresh consensus state

    def _load(self) -> None:
        for epoch, beacon in self.store.beacons().items():
            self._set_beacon(epoch, beacon)
        for node_id in self.atxs.malicious_identities():
            self.on_malicious(node_id)
        for epoch in range(0, self.clock.current_epoch() + 2):
            for atx_id in self.atxs.ids_published_in(epoch):
                info = self.atxs.get(atx_id)
                self.tortoise.on_atx(info.target_epoch, info.id, info.weight, info.tick_height)
        for block in self.store.blocks():
            self._store_block(block)
        for layer, block_id, cert in self.store.hare_outputs():
            if layer in self.hare_outputs:
                continue
            self.hare_outputs[layer] = None if block_id == EMPTY_BLOCK else block_id
            self.tortoise.on_hare_output(layer, self.hare_outputs[layer])
            if cert is not None:
                self.certificates[layer] = Certificate.decode(cert)
        self._load_ballots()
        current = self.clock.current_layer()
        for layer in range(max(self.effective_genesis + 1, current - self.config.hdist), current + 1):
            coin = self.store.weak_coin(layer)  # full mode votes the coin of the layer before the current one
            if coin is not None:
                self.tortoise.on_weak_coin(layer, coin)
        self.applied = self.store.applied_layers()
        self.applied.setdefault(self.effective_genesis, EMPTY_BLOCK)
        self.last_applied = max(self.applied)
        self._synced = max(self.last_applied, self.effective_genesis)

    def _load_ballots(self) -> None:
        pending = sorted(self.store.ballots(), key=lambda b: (b.layer, b.inner.epoch_data is None))
        for ballot in pending:
            ballot_id = ballot.id
            inner = ballot.inner
            epoch_data = inner.epoch_data if inner.epoch_data is not None else self._epoch_data.get(inner.ref_ballot)
            if epoch_data is None:
                continue
            try:
                self.tortoise.on_ballot(DecodedBallot.of(ballot, epoch_data))
            except TortoiseError:
                continue
            self.ballots[ballot_id] = ballot
            self._epoch_data[ballot_id] = epoch_data
            self._ballot_at.setdefault((ballot.layer, ballot.smesher_id), ballot_id)

    # ============================================================================================
    # status (spec §10: what `smesh node run` shows)

    def status(self) -> dict[str, Any]:
        layer = self.clock.current_layer()
        epoch = layer // self.lpe if layer >= 0 else 0
        own_atxs = {
            str(e + 1): self.atxs.by_identity(self.node_id, e).id.hex()
            for e in range(max(epoch - 1, 0), epoch + 1)
            if self.atxs.by_identity(self.node_id, e) is not None
        }
        elig = self.eligibility.get(epoch)
        balance = self.store.account(self.coinbase).balance
        return {
            "name": self.name,
            "layer": layer,
            "epoch": epoch,
            "node_id": self.node_id.hex(),
            "atxs_known": sum(len(self.atxs.ids_published_in(e)) for e in range(epoch + 1)),
            "own_atxs": own_atxs,  # target epoch -> ATX id
            "beacon": self.beacons[epoch].hex() if epoch in self.beacons else None,
            "eligibility": None if elig is None else {
                "epoch": epoch, "slots": elig.slots, "layers": {str(k): len(v) for k, v in elig.layers.items()},
            },
            "last_applied": self.last_applied,
            "verified": self.tortoise.verified,
            "coinbase_balance": balance,
            "malicious": sorted(n.hex() for n in self.malicious),
            "mempool": len(self.mempool),
            "peers": len(self.net.peers()) if self.net is not None else 0,
            "synced": self.is_synced(),
        }

    @property
    def synced_layer(self) -> int:
        """Every layer up to here has a hare output or a peer's data (what sync has caught up to)."""
        return self._synced

    def layer_hashes(self, layer: int) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(applied block, state hash, aggregated hash) of a layer, as stored."""
        return self.store.layer_hashes(layer)


__all__ = [
    "ActiveSet",
    "EMPTY_BLOCK",
    "Eligibility",
    "EpochInfo",
    "LayerData",
    "Node",
    "Request",
]
