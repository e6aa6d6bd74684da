"""Many nodes in one process on simulated time (spec/node.md §10.2, §10.4).

A `Simulation` runs N full `Node`s, each with its own SQLite store, over one in-memory `Bus`
and one `SimulatedTime`, so an hour of network life takes seconds and every run is the same.

Activation is simulated: at the start of every publish epoch each smesher's ATX is built by
`build_sim_atx` and submitted to its node (`simulated_activation`), which validates it through the one ATX
validation path and gossips it.  The expensive proofs inside (PoST, PoET membership, VRF
nonce) are deterministic stand-ins checked by `SimulatedProofs`: a keyed BLAKE3 of exactly what
the real proof binds (identity, commitment ATX, challenge), so an ATX whose "PoST" was made for
anything else is still rejected.  Weights come from unit counts: every ATX gets the same number
of PoET ticks, so weight = units × ticks, as in the real network.  (The real NIPoST builder needs a
PoET doing sequential work in wall time, so it cannot run on simulated time; `smesh node run` uses it.)

Adversaries for tests are small `Node` subclasses (`EquivocatingNode`, `ForgingNode`) and
`Simulation.inject`, which gossips raw bytes from a peer that runs no node.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from core.activation.atxstore import AtxStore
from core.activation.validation import AtxError
from core.config.node import STANDALONE, NodeConfig
from core.consensus.hare import Identity
from core.consensus.opinion import ABSTAIN, layer_opinion
from core.crypto.hashing import hash20, hash32
from core.mesh.store import MeshStore
from core.node.bus import Bus, Topic
from core.node.clock import SimulatedTime
from core.node.node import Node
from core.types.atx import (
    ATXV1,
    EMPTY_ID,
    InnerATXV1,
    MerkleProofV1,
    NIPostChallengeV1,
    NIPostV1,
    PostMetadataV1,
    PostV1,
)
from core.types.ballot import Ballot, Proposal, Votes, VotingEligibility
from core.wallet.address import RESERVED_SIZE

GENESIS_TIME = 1_700_000_000
TICKS_PER_ROUND = 100

SIM_CONFIG = dataclasses.replace(
    STANDALONE,
    preset="sim",
    genesis_extra_data="simulation",
    genesis_time=GENESIS_TIME,
    layer_duration=10.0,
    layers_per_epoch=4,
    layer_avg_size=5,
    hdist=3,
    zdist=2,
    hare_committee=50,
    hare_leaders=5,
    hare_preround_delay=1.0,
    hare_round_duration=0.5,
    hare_iteration_limit=4,
    certificate_committee=50,
    beacon_rounds=1,
    beacon_proposal_duration=2.5,  # no gossip delay on the in-process bus: a quarter of a layer each
    beacon_first_voting_round_duration=2.5,
    min_num_units=1,
    max_num_units=8,
).validate()
"""Small and fast: 4-layer epochs of 10 s, ~5 eligibility slots per layer, committees of 50."""


# --- simulated proofs ---------------------------------------------------------------------------


def sim_post(node_id: bytes, commitment_atx: bytes, challenge: bytes) -> PostV1:
    """The stand-in PoST of an identity's storage (bound to its commitment) for a challenge."""
    return PostV1(0, hash32(b"sim-post", node_id, commitment_atx, challenge)[:16], 0)


def sim_vrf_nonce(node_id: bytes, commitment_atx: bytes) -> int:
    return int.from_bytes(hash32(b"sim-vrf-nonce", node_id, commitment_atx)[:4], "little")


def sim_poet_ref(publish_epoch: int) -> bytes:
    """The PoET proof reference of the round whose ATXs are published in `publish_epoch`."""
    return hash32(b"sim-poet-round", publish_epoch.to_bytes(4, "little"))


def sim_membership(poet_ref: bytes, challenge_hash: bytes) -> MerkleProofV1:
    return MerkleProofV1((hash32(poet_ref, challenge_hash),), 0)


class SimulatedProofs:
    """A `ProofChecker` for the stand-in proofs: every check recomputes what it binds."""

    def __init__(self, leaves: int) -> None:
        self.leaves = leaves

    def poet_leaves(self, proof_ref: bytes, challenge_hash: bytes, membership_nodes: tuple[bytes, ...], leaf_index: int) -> int:
        if sim_membership(proof_ref, challenge_hash) != MerkleProofV1(tuple(membership_nodes), leaf_index):
            raise AtxError("challenge is not a member of the PoET round")
        return self.leaves

    def check_post(
        self, node_id: bytes, commitment_atx: bytes, post: PostV1, challenge: bytes, num_units: int, labels_per_unit: int
    ) -> None:
        if post != sim_post(node_id, commitment_atx, challenge):
            raise AtxError("PoST proof does not verify")

    def check_vrf_nonce(
        self, node_id: bytes, commitment_atx: bytes, nonce: int, num_units: int, labels_per_unit: int
    ) -> None:
        if nonce != sim_vrf_nonce(node_id, commitment_atx):
            raise AtxError("VRF nonce does not verify")


def build_sim_atx(
    config: NodeConfig,
    identity: Identity,
    coinbase: bytes,
    known: AtxStore,
    publish_epoch: int,
    units: int,
    *,
    post: PostV1 | None = None,
) -> ATXV1:
    """The ATX a smesher publishes in `publish_epoch` (spec §2.2, §2.3), chained to its previous one.

    `known` is the smesher's node's view of ATXs (previous and positioning ATX); `post`
    overrides the NIPoST's PoST, as an adversary with no storage would.
    """
    node_id, golden = identity.node_id, config.golden_atx
    prev = next(
        (a for e in range(publish_epoch - 1, -1, -1) if (a := known.by_identity(node_id, e)) is not None), None
    )
    positioning = known.highest_tick(publish_epoch - 1)
    pos_id = positioning.id if positioning is not None else golden
    if prev is None:
        commitment = golden
        initial = sim_post(node_id, golden, bytes(32))
        challenge = NIPostChallengeV1(publish_epoch, 0, EMPTY_ID, pos_id, golden, initial)
        identity_fields = (node_id, sim_vrf_nonce(node_id, golden))
    else:
        commitment = prev.commitment_atx
        challenge = NIPostChallengeV1(publish_epoch, prev.sequence + 1, prev.id, pos_id, None, None)
        identity_fields = (None, None)
    ref = sim_poet_ref(publish_epoch)
    nipost = NIPostV1(
        sim_membership(ref, challenge.hash),
        post or sim_post(node_id, commitment, ref),
        PostMetadataV1(ref, config.labels_per_unit),
    )
    inner = InnerATXV1(challenge, coinbase, units, nipost, *identity_fields)
    return ATXV1.sign(inner, identity.secret_key, node_id, config.genesis_id)


async def simulated_activation(
    node: Node,
    units: int,
    sleep_until: Callable[[float], Awaitable[None]],
    online: Callable[[], bool] = lambda: True,
) -> None:
    """Stand in for the NIPoST builder: submit the smesher's ATX at the start of every publish
    epoch from 1 on (spec §1.3 ATX cycle), while `online` says the node can reach the network."""
    epoch = max(1, node.clock.current_epoch())
    while True:
        await sleep_until(node.clock.epoch_start(epoch))
        if node.atxs.by_identity(node.node_id, epoch) is None and online():
            node.submit_atx(build_sim_atx(node.config, node.identity, node.coinbase, node.atxs, epoch, units))
        epoch += 1


# --- adversaries ------------------------------------------------------------------------------


class EquivocatingNode(Node):
    """A smesher that, from layer `equivocate_from` on, gossips two different ballots per eligible layer.

    The twin ballot is valid on its own (same eligibility, votes that decode to its opinion
    hash: an abstention on the previous layer), so only seeing both proves malfeasance.
    """

    equivocate_from = 0

    def _publish_proposal(self, proposal: Proposal) -> None:
        super()._publish_proposal(proposal)
        if proposal.layer >= self.equivocate_from:
            super()._publish_proposal(self._twin(proposal))

    def _twin(self, proposal: Proposal) -> Proposal:
        ballot, layer = proposal.ballot, proposal.layer
        previous = layer - 1
        votes = Votes(
            ballot.votes.base,
            tuple(v for v in ballot.votes.support if v.layer != previous),
            tuple(v for v in ballot.votes.against if v.layer != previous),
            tuple(sorted({*ballot.votes.abstain, previous})),
        )
        opinion = layer_opinion(self.tortoise.opinion(previous - 1), ABSTAIN)
        inner = dataclasses.replace(ballot.inner, opinion_hash=opinion)
        sk = self.identity.secret_key
        twin = Ballot.sign(inner, votes, ballot.eligibility_proofs, sk, self.node_id, self.genesis_id)
        return Proposal.sign(dataclasses.replace(proposal.inner, ballot=twin), sk, self.genesis_id)


class ForgingNode(Node):
    """A smesher that gossips, in layers `forge_layers`, its proposal with a corrupted VRF proof."""

    forge_layers: frozenset[int] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forged: list[Proposal] = []

    def _publish_proposal(self, proposal: Proposal) -> None:
        if proposal.layer not in self.forge_layers:
            super()._publish_proposal(proposal)
            return
        ballot = proposal.ballot
        first = ballot.eligibility_proofs[0]
        bad = VotingEligibility(first.j, bytes([first.sig[0] ^ 1]) + first.sig[1:])
        forged_ballot = dataclasses.replace(ballot, eligibility_proofs=(bad, *ballot.eligibility_proofs[1:]))
        forged = Proposal.sign(dataclasses.replace(proposal.inner, ballot=forged_ballot), self.identity.secret_key,
                               self.genesis_id)
        self.forged.append(forged)
        super()._publish_proposal(forged)


# --- the harness ------------------------------------------------------------------------------


def sim_identity(seed: bytes, name: str) -> Identity:
    return Identity(hash32(b"sim-identity", seed, name.encode()))


def sim_coinbase(name: str) -> bytes:
    return bytes(RESERVED_SIZE) + hash20(b"sim-coinbase", name.encode())


@dataclasses.dataclass
class SimNode:
    """A node in the simulation and what it needs to be killed and restarted."""

    name: str
    units: int
    identity: Identity
    db_path: Path
    node_cls: type[Node]
    node: Node | None = None  # the running node (a fresh object after each restart)
    tasks: list[asyncio.Task] = dataclasses.field(default_factory=list)


class Simulation:
    """N nodes on one bus and one simulated clock.  Use inside a running asyncio loop."""

    def __init__(self, data_dir: Path, config: NodeConfig = SIM_CONFIG, seed: bytes = b"sim") -> None:
        self.config = config
        self.data_dir = data_dir
        self.seed = seed
        self.time = SimulatedTime(float(config.require_genesis_time()) - 1)
        self.bus = Bus()
        self.proofs = SimulatedProofs(config.tick_size * TICKS_PER_ROUND)
        self.members: dict[str, SimNode] = {}

    @property
    def nodes(self) -> dict[str, Node]:
        return {name: m.node for name, m in self.members.items()}

    def add_node(self, name: str, units: int, node_cls: type[Node] = Node) -> Node:
        """A new smesher with `units` PoST units; it starts at once and publishes ATXs every epoch."""
        identity = sim_identity(self.seed, name)
        member = SimNode(name, units, identity, self.data_dir / f"{name}.sql", node_cls)
        self.members[name] = member
        self._launch(member)
        return member.node

    def _launch(self, member: SimNode) -> None:
        store = MeshStore(member.db_path)
        node = member.node_cls(
            self.config, member.identity, sim_coinbase(member.name), store, self.time.now, self.proofs, member.name,
            offload=self.time.to_thread,
        )
        node.start()
        node.connect(self.bus)
        member.node = node
        member.tasks = [
            asyncio.create_task(node.run(self.time.sleep_until), name=f"{member.name}-node"),
            asyncio.create_task(self._activation(member), name=f"{member.name}-atx"),
        ]

    async def _activation(self, member: SimNode) -> None:
        await simulated_activation(member.node, member.units, self.time.sleep_until,
                                   online=lambda: self.bus.is_online(member.name))

    # --- control ----------------------------------------------------------------------------

    async def run_until_layer(self, layer: int, offset: float = 0.0) -> None:
        """Advance simulated time to `offset` seconds into `layer`."""
        target = self.layer_start(layer) + offset
        for _ in range(8):  # let tasks started since the last advance reach their first sleep
            await asyncio.sleep(0)
        await self.time.advance(max(0.0, target - self.time.now()))
        self.check()

    def check(self) -> None:
        """Raise the first exception a node or activation task died of (a bug, never expected)."""
        for member in self.members.values():
            for task in member.tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise RuntimeError(f"{task.get_name()} failed") from task.exception()

    def layer_start(self, layer: int) -> float:
        return self.config.require_genesis_time() + layer * self.config.layer_duration

    def set_online(self, name: str, online: bool) -> None:
        self.bus.set_online(name, online)

    def kill(self, name: str) -> None:
        """Stop a node abruptly (as kill -9 would): no shutdown step, its store keeps what it committed."""
        member = self.members[name]
        for task in member.tasks:
            task.cancel()
        self.bus.leave(name)
        member.node.store.close()

    def restart(self, name: str) -> Node:
        """Start a fresh node process on the killed node's store."""
        member = self.members[name]
        self._launch(member)
        return member.node

    async def stop(self) -> None:
        """Stop every node (their stores stay open for inspection until `close`)."""
        tasks = [t for m in self.members.values() for t in m.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        for member in self.members.values():
            member.node.store.close()  # closing twice (after `kill`) is harmless

    def inject(self, topic: Topic, payload: bytes, sender: str = "mallory") -> None:
        """Gossip a message from a peer that runs no node (an attacker on the network)."""
        if sender not in self.bus.peers():
            self.bus.join(sender, {})
        self.bus.publish(sender, topic, payload)

    def honest(self, exclude: Iterable[str] = ()) -> dict[str, Node]:
        skip = set(exclude)
        return {n: node for n, node in self.nodes.items() if n not in skip}
