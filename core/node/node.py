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
identities of E run the beacon protocol that decides beacon(E+1) during E's first layer.

ATXs live in the shared `AtxStore` and enter through a narrow interface: the ATX gossip handler
and `submit_atx` (a simulation's stand-in ATXs) validate with `core.activation.validation` and
store; the real NIPoST builder validates and stores through its `AtxHandler` and tells the node
with `on_atx` / `on_malicious`, then gossips through `publish_atx`.

Simplifications (spec §11): the active set of an epoch is every ATX targeting it that arrived
before the epoch started; the beacon protocol runs in the first half of an epoch's first layer;
a node that missed it takes its peers' beacon; sync asks one peer per layer for its ballots,
blocks and certificate.  Not yet: p2p networking beyond the in-process bus, tortoise full mode
(self-healing after partitions), the ballot-majority beacon fallback, pruning of in-memory state.

Everything a restart needs is in SQLite (`state.sql`): ATXs, ballots, blocks, hare outputs and
certificates, beacons, malfeasance, applied layers with their state and aggregated hashes.  A
restarted node replays those records into a fresh tortoise and continues with identical hashes.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any

from core.activation.atxstore import AtxStore
from core.activation.proofs import PoetProofStore
from core.activation.validation import AtxError, AtxInfo, AtxRules, Malfeasance, ProofChecker, validate_atx
from core.codec import Compact, FixedBytes, Option, Reader, Slice, Struct, decode_compact, encode_compact
from core.config.node import NodeConfig
from core.consensus.beacon import (
    CoinMessage,
    BeaconProtocol,
    Participant,
    ProposalMessage,
    VoteMessage,
    genesis_beacon,
)
from core.consensus.blocks import BlockBuildError, ProposalInfo, TxInfo, build_block
from core.consensus.certificate import (
    Certificate,
    CertificateCollector,
    CertifyMessage,
    InvalidCertificate,
    make_certify_message,
    validate_certificate,
)
from core.consensus.eligibility import EligibilityError, check_proofs, eligible_layers, num_slots
from core.consensus.hare import (
    HareConfig,
    HareSchedule,
    HareSession,
    Identity,
    InvalidHareMessage,
    Message as HareMessage,
)
from core.consensus.hare import Verdict as HareVerdict
from core.consensus.tortoise import DecodedBallot, LayerResult, Tortoise, TortoiseConfig, TortoiseError
from core.crypto.hashing import hash32
from core.crypto.signing import Domain, verify_message
from core.errors import DecodeError, SmeshError, TxError
from core.mesh.store import MeshStore
from core.node.bus import Bus, Endpoint, GossipHandler, Topic, Verdict
from core.node.clock import LayerClock
from core.tx.gas import max_gas
from core.tx.transaction import decode_tx
from core.txs.mempool import Mempool, MempoolError
from core.types.atx import ATXV1, EMPTY_ID
from core.types.ballot import (
    EMPTY_BALLOT,
    Ballot,
    Block,
    EpochData,
    InnerBallot,
    InnerProposal,
    Proposal,
    VotingEligibility,
)
from core.vm.rewards import RewardShare
from core.vm.vm import VM, state_hash
from core.wallet.address import decode_address

log = logging.getLogger("smesh.node")

EMPTY_BLOCK = bytes(20)  # the block id of an empty layer (hare output or applied block)
MAX_IDS = 100_000

# Beacon phases inside the first layer of an epoch, as fractions of a layer (spec §4, simplified
# per §11): proposals are timely until the vote, votes and weak-coin VRFs go out together, and
# beacon(E+1) is decided well before E+1 starts.
BEACON_VOTE_AT = 0.25
BEACON_DECIDE_AT = 0.5


class Request(str, enum.Enum):
    """Request/response protocols a node serves (spec §9.3, one name per hash-fetch hint)."""

    ATX = "hs/atx"
    BALLOT = "hs/ballot"
    PROPOSAL = "hs/proposal"
    BLOCK = "hs/block"
    TX = "hs/tx"
    LAYER = "ld/1"  # layer -> ballot ids, block ids, certificate
    EPOCH = "ax/1"  # publish epoch -> ATX ids, and the beacon of that epoch


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


class BallotEquivocation(Struct):
    first: Ballot
    second: Ballot


class HareEquivocation(Struct):
    first: HareMessage
    second: HareMessage


class AtxEquivocation(Struct):
    first: ATXV1
    second: ATXV1


class _Rejected(SmeshError):
    """An object that is invalid: the message carrying it is rejected."""


class _Unavailable(SmeshError):
    """An object whose dependencies could not be fetched: it is ignored for now."""


# --- state kept per epoch -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ActiveSet:
    """ATXs targeting an epoch that arrived before it started (spec §3.1, simplified per §11)."""

    epoch: int
    atxs: tuple[AtxInfo, ...]  # sorted by id

    @property
    def hash(self) -> bytes:
        return hash32(*(a.id for a in self.atxs))

    @property
    def total_weight(self) -> int:
        return sum(a.weight for a in self.atxs)

    def weights(self) -> dict[bytes, int]:
        return {a.node_id: a.weight for a in self.atxs}


class EpochOracle:
    """Hare and certificate weights of one epoch; malfeasance found later still counts (live set)."""

    def __init__(self, active: ActiveSet, malicious: set[bytes]) -> None:
        self._weights = active.weights()
        self._total = active.total_weight
        self._malicious = malicious

    def weight(self, node_id: bytes) -> int:
        return self._weights.get(node_id, 0)

    def total_weight(self) -> int:
        return self._total

    def is_malicious(self, node_id: bytes) -> bool:
        return node_id in self._malicious


@dataclasses.dataclass
class Eligibility:
    """Our proposal eligibility in one epoch (spec §3.2, §3.3)."""

    epoch: int
    atx: AtxInfo
    beacon: bytes
    active_set_hash: bytes
    slots: int
    layers: dict[int, tuple[VotingEligibility, ...]]
    ref_ballot: bytes | None = None  # our first ballot of the epoch, once made


@dataclasses.dataclass
class _BeaconRun:
    protocol: BeaconProtocol
    voted: bool = False


# --- persistence beyond MeshStore's accounts/layers/transactions -------------------------------


class NodeDb:
    """The node's consensus records in `state.sql` (spec §8) that `MeshStore` has no methods for.

    Uses the store's schema and its one-writer transaction; every write is a single statement
    or one transaction, so a kill at any point leaves a consistent prefix.
    """

    def __init__(self, store: MeshStore) -> None:
        self.store = store
        self.conn = store.conn

    def _write(self, sql: str, params: tuple) -> None:
        with self.store.transaction() as tx:
            tx.execute(sql, params)

    # ballots and blocks
    def put_ballot(self, ballot_id: bytes, ballot: Ballot) -> None:
        self._write(
            "INSERT OR IGNORE INTO ballots (id, atx, layer, pubkey, ballot) VALUES (?, ?, ?, ?, ?)",
            (ballot_id, ballot.inner.atx_id, ballot.layer, ballot.smesher_id, ballot.encode()),
        )

    def ballots(self) -> list[Ballot]:
        rows = self.conn.execute("SELECT ballot FROM ballots ORDER BY layer, rowid").fetchall()
        return [Ballot.decode(row[0]) for row in rows]

    def put_block(self, block: Block) -> None:
        self._write(
            "INSERT OR IGNORE INTO blocks (id, layer, validity, block) VALUES (?, ?, NULL, ?)",
            (block.id, block.layer, block.encode()),
        )

    def blocks(self) -> list[Block]:
        return [Block.decode(r[0]) for r in self.conn.execute("SELECT block FROM blocks ORDER BY layer, id")]

    # hare outputs and certificates share the `certificates` table (cert NULL: hare output only)
    def put_hare_output(self, layer: int, block_id: bytes, cert: Certificate | None) -> None:
        self._write(
            "INSERT INTO certificates (layer, block, cert, valid) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (layer, block) DO UPDATE SET cert = COALESCE(excluded.cert, cert)",
            (layer, block_id, cert.encode() if cert else None),
        )

    def hare_outputs(self) -> list[tuple[int, bytes, Certificate | None]]:
        rows = self.conn.execute("SELECT layer, block, cert FROM certificates ORDER BY layer, rowid").fetchall()
        return [(layer, block, Certificate.decode(cert) if cert else None) for layer, block, cert in rows]

    # beacons
    def put_beacon(self, epoch: int, beacon: bytes) -> None:
        self._write("INSERT OR IGNORE INTO beacons (epoch, beacon) VALUES (?, ?)", (epoch, beacon))

    def beacons(self) -> dict[int, bytes]:
        return dict(self.conn.execute("SELECT epoch, beacon FROM beacons").fetchall())

    # layers
    def init_genesis_layer(self, layer: int, genesis_state_hash: bytes, opinion: bytes) -> None:
        self._write(
            "INSERT OR IGNORE INTO layers (id, processed, applied_block, state_hash, aggregated_hash)"
            " VALUES (?, 1, ?, ?, ?)",
            (layer, EMPTY_BLOCK, genesis_state_hash, opinion),
        )

    def set_aggregated_hash(self, layer: int, opinion: bytes) -> None:
        self._write("UPDATE layers SET aggregated_hash = ? WHERE id = ?", (opinion, layer))

    def set_weak_coin(self, layer: int, coin: bool) -> None:
        self._write(
            "INSERT INTO layers (id, weak_coin) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET weak_coin = excluded.weak_coin",
            (layer, int(coin)),
        )

    def applied_layers(self) -> dict[int, bytes]:
        rows = self.conn.execute("SELECT id, applied_block FROM layers WHERE state_hash IS NOT NULL").fetchall()
        return {layer: block for layer, block in rows}

    def layer_hashes(self, layer: int) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(applied block, state hash, aggregated hash) of a layer."""
        row = self.conn.execute(
            "SELECT applied_block, state_hash, aggregated_hash FROM layers WHERE id = ?", (layer,)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else (None, None, None)

    # transactions
    def raw_tx(self, tx_id: bytes) -> bytes | None:
        row = self.conn.execute("SELECT tx FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        return row[0] if row else None


# ------------------------------------------------------------------------------------------------


class Node:
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
    ) -> None:
        self.config = config
        self.identity = identity
        self.node_id = identity.node_id
        self.coinbase = coinbase
        self.store = store
        self.db = NodeDb(store)
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
        self._emit("started", layer=current, last_applied=self.last_applied)

    def connect(self, bus: Bus) -> Endpoint:
        """Join a gossip bus under this node's name."""
        self.net = bus.join(self.name, self.handlers(), self.serve)
        return self.net

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
            await sleep_until(self.next_wakeup())
            self.on_time(self.clock.now())

    def _init_genesis(self) -> None:
        accounts = {decode_address(a, self.config.hrp): b for a, b in self.config.genesis_accounts.items()}
        self.store.put_genesis_accounts(accounts)
        genesis_state = state_hash([self.store.account(a, 0) for a in sorted(accounts)])
        self.db.init_genesis_layer(self.effective_genesis, genesis_state, self.tortoise.opinion(self.effective_genesis))
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
            times.append(self._beacon_time(epoch, BEACON_DECIDE_AT if run.voted else BEACON_VOTE_AT))
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
        """The epoch's active set, fixed the first time it is needed once the epoch has started."""
        active = self.active_sets.get(epoch)
        if active is None and epoch >= 2 and self.clock.now() >= self.clock.epoch_start(epoch):
            start = self.clock.epoch_start(epoch)
            atxs = []
            for atx_id in self.atxs.ids_published_in(epoch - 1):
                info = self.atxs.get(atx_id)
                received = self.atxs.received(atx_id)
                if info is None or received is None or received > start:
                    continue
                if self.atxs.by_identity(info.node_id, info.publish_epoch) == info:  # one per identity
                    atxs.append(info)
            active = self.active_sets[epoch] = ActiveSet(epoch, tuple(atxs))
        return active

    def _oracle(self, epoch: int) -> EpochOracle | None:
        active = self._active_set(epoch)
        return EpochOracle(active, self.malicious) if active is not None and active.atxs else None

    # ============================================================================================
    # beacon (spec §4)

    def _beacon_time(self, epoch: int, fraction: float) -> float:
        return self.clock.epoch_start(epoch) + fraction * self.config.layer_duration

    def _beacon_run(self, epoch: int) -> _BeaconRun | None:
        """The protocol deciding beacon(epoch + 1), open from the epoch's start to its decision."""
        run = self._beacon_runs.get(epoch)
        if run is not None or epoch < max(2, self._beacon_floor) or epoch + 1 in self.beacons:
            return run
        if epoch != self.clock.current_epoch():
            return None
        if self.clock.now() >= self._beacon_time(epoch, BEACON_DECIDE_AT):
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
            if not run.voted and now >= self._beacon_time(epoch, BEACON_VOTE_AT):
                run.voted = True
                if self.node_id in protocol.participants:
                    vote = protocol.make_vote(self.identity.secret_key, self.node_id)
                    protocol.on_vote(vote)
                    self._publish(Topic.BEACON, bytes([BeaconKind.VOTE]) + vote.encode())
                    for coin in protocol.make_coins(self.identity.secret_key, self.node_id):
                        protocol.on_coin(coin)
                        self._publish(Topic.BEACON, bytes([BeaconKind.COIN]) + coin.encode())
            if run.voted and now >= self._beacon_time(epoch, BEACON_DECIDE_AT):
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
            timely = self.clock.now() < self._beacon_time(epoch, BEACON_VOTE_AT)
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
        self.db.put_beacon(epoch, beacon)
        self._emit("beacon", epoch=epoch, beacon=beacon.hex())

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
        layers = eligible_layers(self.identity.secret_key, beacon, epoch, atx.vrf_nonce, slots, self.lpe)
        elig = self.eligibility[epoch] = Eligibility(epoch, atx, beacon, active.hash, slots, layers)
        elig.ref_ballot = next(
            (bid for bid, b in self.ballots.items() if b.smesher_id == self.node_id and b.layer // self.lpe == epoch
             and b.inner.epoch_data is not None),
            None,
        )
        self._emit("eligibility", epoch=epoch, slots=slots, layers={k: len(v) for k, v in layers.items()})
        return elig

    def _slots(self, atx: AtxInfo, active: ActiveSet) -> int:
        c = self.config
        return num_slots(atx.weight, active.total_weight, c.min_active_set_weight, c.layer_avg_size, self.lpe)

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
        except _Rejected as e:
            return self._refuse("proposal", pid, str(e))
        except _Unavailable as e:
            self._emit("proposal_ignored", id=pid.hex(), reason=str(e))
            return Verdict.IGNORE
        self.proposals.setdefault(layer, {})[pid] = proposal
        return Verdict.ACCEPT

    def _refuse(self, what: str, object_id: bytes, reason: str) -> Verdict:
        self._emit(f"{what}_rejected", id=object_id.hex(), reason=reason)
        return Verdict.REJECT

    def _accept_ballot(self, ballot: Ballot, sender: str | None) -> EpochData:
        """Validate a ballot and feed it to the tortoise; raises `_Rejected` / `_Unavailable`."""
        ballot_id = ballot.id
        if ballot_id in self.ballots:
            return self._epoch_data[ballot_id]
        layer, epoch = ballot.layer, ballot.layer // self.lpe
        if epoch < 2 or layer <= self.effective_genesis:
            raise _Rejected(f"ballot in genesis layer {layer}")
        if not ballot.verify_signature(self.genesis_id):
            raise _Rejected("bad ballot signature")
        atx = self._atx(ballot.inner.atx_id, sender)
        if atx is None:
            raise _Unavailable("ballot's ATX is unknown")
        if atx.node_id != ballot.smesher_id or atx.target_epoch != epoch:
            raise _Rejected("ballot's ATX belongs to another identity or epoch")
        epoch_data = self._ballot_epoch_data(ballot, atx, sender)
        try:
            check_proofs(
                ballot.smesher_id, ballot.eligibility_proofs, layer, epoch_data.beacon, atx.vrf_nonce,
                epoch_data.eligibility_count, self.lpe,
            )
        except EligibilityError as e:
            raise _Rejected(str(e)) from None
        self._feed_tortoise(ballot, ballot_id, epoch_data, sender)
        self._store_ballot(ballot, ballot_id, epoch_data)
        return epoch_data

    def _ballot_epoch_data(self, ballot: Ballot, atx: AtxInfo, sender: str | None) -> EpochData:
        """The reference ballot's epoch data: checked against our active set (spec §3.1, §3.4)."""
        inner, epoch = ballot.inner, ballot.layer // self.lpe
        if inner.epoch_data is not None:
            if inner.ref_ballot != EMPTY_BALLOT:
                raise _Rejected("a reference ballot cannot point at another reference ballot")
            active = self._active_set(epoch)
            if active is None:
                raise _Unavailable(f"active set of epoch {epoch} is not fixed yet")
            if inner.epoch_data.active_set_hash != active.hash:
                raise _Rejected("ballot names an active set we do not know")
            if inner.epoch_data.eligibility_count != self._slots(atx, active):
                raise _Rejected("ballot claims an eligibility count its weight does not give")
            return inner.epoch_data
        ref = self.ballots.get(inner.ref_ballot) or self._fetch_ballot(inner.ref_ballot, sender)
        if ref is None:
            raise _Unavailable("reference ballot is unknown")
        if ref.smesher_id != ballot.smesher_id or ref.layer // self.lpe != epoch or ref.layer >= ballot.layer:
            raise _Rejected("reference ballot belongs to another identity or epoch")
        return self._epoch_data[inner.ref_ballot]

    def _feed_tortoise(self, ballot: Ballot, ballot_id: bytes, epoch_data: EpochData, sender: str | None) -> None:
        decoded = DecodedBallot(
            ballot_id, ballot.layer, ballot.inner.atx_id, ballot.smesher_id, epoch_data.eligibility_count,
            len(ballot.eligibility_proofs), epoch_data.beacon, ballot.inner.opinion_hash, ballot.votes,
        )
        base = ballot.votes.base
        if base != EMPTY_BALLOT and base not in self.ballots and self._fetch_ballot(base, sender) is None:
            raise _Unavailable("base ballot is unknown")
        try:
            self.tortoise.on_ballot(decoded)
        except TortoiseError as e:
            raise _Rejected(str(e)) from None

    def _store_ballot(self, ballot: Ballot, ballot_id: bytes, epoch_data: EpochData) -> None:
        self.ballots[ballot_id] = ballot
        self._epoch_data[ballot_id] = epoch_data
        self.db.put_ballot(ballot_id, ballot)
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
        except (_Rejected, _Unavailable):
            return None
        return ballot

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
            raise _Rejected(f"undecodable transaction: {e}") from None
        self.store.add_transaction(tx.id, raw, tx.principal, tx.nonce, int(self.clock.now()))
        return tx.id

    def _require_tx(self, tx_id: bytes, sender: str | None) -> bytes:
        raw = self.db.raw_tx(tx_id)
        if raw is None:
            raw = self._request(Request.TX, tx_id, sender)
            if raw is None:
                raise _Unavailable(f"transaction {tx_id.hex()[:12]} is unknown")
            if hash32(raw) != tx_id:
                raise _Rejected("a peer sent a transaction that does not hash to its id")
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
            if session.done:
                del self._sessions[layer]
                if session.coin is not None:
                    self.db.set_weak_coin(layer, session.coin)
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
        except (BlockBuildError, _Unavailable, _Rejected) as e:
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
        self.db.put_hare_output(layer, block_id or EMPTY_BLOCK, cert)
        self.tortoise.on_hare_output(layer, block_id)
        self._emit("hare_output", layer=layer, block=(block_id or EMPTY_BLOCK).hex(),
                   rewards=len(block.inner.rewards) if block else 0)

    def _store_block(self, block: Block) -> None:
        if block.id in self.blocks:
            return
        self.blocks[block.id] = block
        self.db.put_block(block)
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
        except InvalidCertificate:
            return Verdict.REJECT
        if cert is not None and layer not in self.certificates:
            self.certificates[layer] = cert
            if layer in self.hare_outputs and (self.hare_outputs[layer] or EMPTY_BLOCK) == cert.block_id:
                self.db.put_hare_output(layer, cert.block_id, cert)
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
            node_id = self._check_malfeasance_proof(kind, payload[1:])
        except (IndexError, ValueError, DecodeError):
            return Verdict.REJECT
        if node_id is None:
            return Verdict.REJECT
        if node_id in self.malicious:
            return Verdict.IGNORE
        self._mark_malicious(node_id, kind, payload[1:], gossip=False)
        return Verdict.ACCEPT

    def _check_malfeasance_proof(self, kind: MalfeasanceKind, proof: bytes) -> bytes | None:
        """The guilty identity if the proof holds: two validly signed, conflicting messages."""
        gid = self.genesis_id
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

    # ============================================================================================
    # the mesh: apply layers in order, revert on changed results (spec §6.6, §7.2, §7.3)

    def _process_mesh(self) -> None:
        last = self._layer
        if last <= self.effective_genesis:
            return
        self.tortoise.tally_votes(last)
        first_change = None
        for result in self.tortoise.updates():
            self.results[result.layer] = result
            layer = result.layer
            if layer <= self.last_applied:
                if (result.block_to_apply() or EMPTY_BLOCK) != self.applied.get(layer):
                    first_change = layer if first_change is None else min(first_change, layer)
                else:
                    self.db.set_aggregated_hash(layer, result.opinion)
        if first_change is not None:
            self._revert(first_change - 1)
        self._apply_ready()

    def _apply_ready(self) -> None:
        """Apply layers after the last applied one while their result is decided (hare or verified)."""
        while True:
            layer = self.last_applied + 1
            result = self.results.get(layer)
            if result is None or not (result.verified or result.hare_terminated):
                return
            if not self._apply(result):
                return

    def _apply(self, result: LayerResult) -> bool:
        layer, block_id = result.layer, result.block_to_apply()
        block = self._block(block_id) if block_id else None
        if block_id and block is None:
            return False  # wait until a peer can give us the block
        try:
            raws = [self._require_tx(t, None) for t in block.inner.tx_ids] if block else []
            shares, smesher_of = self._reward_shares(block)
        except _Unavailable:
            return False
        outcome = self.vm.apply(self.store.view(layer - 1), layer, raws, shares)
        self.store.apply_layer(outcome, block_id or EMPTY_BLOCK, smesher_of)
        self.db.set_aggregated_hash(layer, result.opinion)
        self.applied[layer] = block_id or EMPTY_BLOCK
        self.last_applied = layer
        self.mempool.on_layer_applied([r.tx_id for r in outcome.results])
        self._emit("applied", layer=layer, block=(block_id or EMPTY_BLOCK).hex(), state_hash=outcome.state_hash.hex(),
                   txs=len(outcome.results), rewards=sum(r.total for r in outcome.rewards))
        return True

    def _reward_shares(self, block: Block | None) -> tuple[list[RewardShare], dict[bytes, bytes]]:
        shares, smesher_of = [], {}
        for reward in block.inner.rewards if block else ():
            atx = self._atx(reward.atx_id, None)
            if atx is None:
                raise _Unavailable("a rewarded ATX is unknown")
            shares.append(RewardShare(atx.coinbase, atx.id, reward.weight.fraction()))
            smesher_of[atx.id] = atx.node_id
        return shares, smesher_of

    def _revert(self, to_layer: int) -> None:
        """Undo applied layers after `to_layer`; their transactions go back to the mempool."""
        reverted = [self.applied.pop(x) for x in range(to_layer + 1, self.last_applied + 1)]
        self.store.revert_to(to_layer)
        self._emit("reverted", to_layer=to_layer, layers=len(reverted))
        self.last_applied = to_layer
        for block_id in reverted:
            block = self.blocks.get(block_id)
            for tx_id in block.inner.tx_ids if block else ():
                raw = self.db.raw_tx(tx_id)
                try:
                    if raw is not None:
                        self.mempool.add(raw, self.clock.now())
                except MempoolError:
                    pass
        self.mempool.on_layer_applied()

    # ============================================================================================
    # sync: catch up on layers and epochs we missed (spec §1.2 step 5, §9.4)

    def _sync(self, layer: int) -> None:
        """Fetch data of past layers that have no hare output here (we were offline, or hare failed).

        A peer's certificate stands in for hare output (spec §9.4); one that has none may still
        get one, so a layer is asked again at every layer start while it is within hdist.  Older
        layers are left to the tortoise's vote counting.
        """
        done = True  # every layer so far has a hare output or is past hoping for a certificate
        for past in range(self._synced + 1, layer):
            if past not in self.hare_outputs:
                if past in self._sessions:
                    return  # our hare is still working on it
                if not self._epochs_synced:
                    self._sync_epochs(layer // self.lpe)
                data = self._request_layer(past)
                if data is None:
                    self._epochs_synced = False
                    return  # nobody reachable: try again next layer
                self._adopt_layer(data)
            settled = past in self.hare_outputs or past < layer - self.config.hdist
            done = done and settled
            if done:
                self._synced = past

    def _sync_epochs(self, epoch: int) -> None:
        """ATXs published in the last two epochs and beacons we lack (spec §9.4 ATX sync)."""
        for e in (epoch - 1, epoch):
            blob = self._request(Request.EPOCH, encode_compact(e), None)
            if blob is None:
                return
            try:
                info = EpochInfo.decode(blob)
            except (DecodeError, ValueError):
                continue
            for atx_id in info.atxs:
                self._atx(atx_id, None)
            if info.beacon is not None and e not in self.beacons and e >= 2:
                self._set_beacon(e, info.beacon)  # spec §4: a node that missed the protocol adopts the peers'
        self._epochs_synced = True

    def _request_layer(self, layer: int) -> LayerData | None:
        blob = self._request(Request.LAYER, encode_compact(layer), None)
        try:
            data = LayerData.decode(blob) if blob is not None else None
        except (DecodeError, ValueError):
            return None
        return data if data is not None and data.layer == layer else None

    def _adopt_layer(self, data: LayerData) -> None:
        """Validate and take a peer's ballots, blocks and certificate of one layer."""
        for ballot_id in data.ballots:
            if ballot_id not in self.ballots:
                self._fetch_ballot(ballot_id, None)
        for block_id in data.blocks:
            self._block(block_id)
        cert, layer = data.certificate, data.layer
        if cert is None or layer in self.hare_outputs:
            return
        epoch = layer // self.lpe
        oracle, beacon = self._oracle(epoch), self.beacons.get(epoch)
        if oracle is None or beacon is None:
            return
        try:
            validate_certificate(
                cert, layer=layer, beacon=beacon, genesis_id=self.genesis_id, oracle=oracle,
                committee=self.config.certificate_committee,
            )
        except InvalidCertificate as e:
            self._emit("certificate_rejected", layer=layer, reason=str(e))
            return
        block = self._block(cert.block_id) if cert.block_id != EMPTY_BLOCK else None
        if cert.block_id != EMPTY_BLOCK and block is None:
            return
        self.certificates[layer] = cert
        self._set_hare_output(layer, block, cert)

    # ============================================================================================
    # serving peers (spec §9.3)

    def serve(self, protocol: str, payload: bytes) -> bytes | None:
        """Answer a peer's request; None when we do not have what it asks for."""
        try:
            return self._serve(Request(protocol), payload)
        except (ValueError, DecodeError):
            return None

    def _serve(self, protocol: Request, payload: bytes) -> bytes | None:
        if protocol is Request.ATX:
            return self.atxs.blob(payload)
        if protocol is Request.BALLOT:
            ballot = self.ballots.get(payload)
            return ballot.encode() if ballot else None
        if protocol is Request.PROPOSAL:
            for by_id in self.proposals.values():
                if payload in by_id:
                    return by_id[payload].encode()
            return None
        if protocol is Request.BLOCK:
            block = self.blocks.get(payload)
            return block.encode() if block else None
        if protocol is Request.TX:
            return self.db.raw_tx(payload)
        number = _decode_number(payload)
        if protocol is Request.LAYER:
            return self._layer_data(number).encode()
        ids = tuple(self.atxs.ids_published_in(number))
        return EpochInfo(number, ids, self.beacons.get(number)).encode()

    def _layer_data(self, layer: int) -> LayerData:
        ballots = tuple(bid for bid, b in self.ballots.items() if b.layer == layer)
        blocks = tuple(bid for bid, b in self.blocks.items() if b.layer == layer)
        return LayerData(layer, ballots, blocks, self.certificates.get(layer))

    # ============================================================================================
    # network plumbing

    def _publish(self, topic: Topic, payload: bytes) -> None:
        if self.net is not None:
            self.net.publish(topic, payload)

    def _request(self, protocol: Request, payload: bytes, peer: str | None) -> bytes | None:
        if self.net is None:
            return None
        return self.net.request(protocol.value, payload, peer)

    # ============================================================================================
    # restart (spec §8): replay stored records into fresh consensus state

    def _load(self) -> None:
        for epoch, beacon in self.db.beacons().items():
            self._set_beacon(epoch, beacon)
        for node_id in self.atxs.malicious_identities():
            self.on_malicious(node_id)
        for epoch in range(0, self.clock.current_epoch() + 2):
            for atx_id in self.atxs.ids_published_in(epoch):
                info = self.atxs.get(atx_id)
                self.tortoise.on_atx(info.target_epoch, info.id, info.weight, info.tick_height)
        for block in self.db.blocks():
            self._store_block(block)
        for layer, block_id, cert in self.db.hare_outputs():
            if layer in self.hare_outputs:
                continue
            self.hare_outputs[layer] = None if block_id == EMPTY_BLOCK else block_id
            self.tortoise.on_hare_output(layer, self.hare_outputs[layer])
            if cert is not None:
                self.certificates[layer] = cert
        self._load_ballots()
        self.applied = self.db.applied_layers()
        self.applied.setdefault(self.effective_genesis, EMPTY_BLOCK)
        self.last_applied = max(self.applied)
        self._synced = max(self.last_applied, self.effective_genesis)

    def _load_ballots(self) -> None:
        pending = sorted(self.db.ballots(), key=lambda b: (b.layer, b.inner.epoch_data is None))
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
        }

    def layer_hashes(self, layer: int) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(applied block, state hash, aggregated hash) of a layer, as stored."""
        return self.db.layer_hashes(layer)


def _decode_number(payload: bytes) -> int:
    r = Reader(payload)
    value = decode_compact(r)
    r.finish("request")
    return value


__all__ = [
    "ActiveSet",
    "EMPTY_BLOCK",
    "Eligibility",
    "EpochInfo",
    "LayerData",
    "Node",
    "NodeDb",
    "Request",
]
