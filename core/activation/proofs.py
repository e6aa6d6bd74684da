"""The expensive ATX checks, on the real proofs (spec/node.md §2.1, §2.6; spec/post.md §3; spec/poet.md §4).

`AtxProofChecker` is the `ProofChecker` that `validate_atx` calls, for ATXs built here and ATXs
received alike:

* **PoST** (`check_post`): `core.post.verify.verify_proof` with the network's K1/K2/K3, unit range,
  labels per unit, scrypt N and k2pow difficulty.  With K3 < K2 a seeded subset of K3 labels is
  recomputed (gossip validation); with K3 ≥ K2 all of them.
* **VRF nonce** (`check_vrf_nonce`): the full label at the nonce is below the target for the
  declared space.
* **PoET** (`poet_leaves`): the proof named by the ATX's PoST challenge (its reference) must be in
  the `PoetProofStore`, and the ATX's challenge hash must be a member of its statement.

`PoetProofStore` keeps PoET proofs by reference in the `poets` table as go-spacemesh's
`PoetProofMessage{PoetProof, PoetServiceID, RoundID, Statement, Signature}`.  Only checked proofs
get in: the builder's own (checked by the PoET client) and peers' (checked by `add_message`).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from core.activation.validation import AtxError
from core.codec import Bytes, FixedBytes, String, Struct
from core.config.node import NodeConfig
from core.crypto.hashing import hash32
from core.errors import DecodeError, SmeshError
from core.mesh.store import MeshStore
from core.poet.membership import verify_membership
from core.poet.posw import LABEL_HASH_DEPTH, PoetProof
from core.poet.posw import verify as verify_posw
from core.post.params import EASY_POW_DIFFICULTY
from core.post.params import PRESETS as POST_PRESETS
from core.post.prove import Proof, ProofMetadata
from core.post.verify import All, Subset, VerifyParams, verify_proof, verify_vrf_nonce
from core.types.atx import PostV1


class UnknownPoetProof(AtxError):
    """The ATX names a PoET proof this node does not hold yet (fetch it by `ref`, then retry)."""

    def __init__(self, ref: bytes) -> None:
        super().__init__(f"PoET proof {ref.hex()[:16]} is unknown")
        self.ref = ref


class PoetProofMessage(Struct):
    """go-spacemesh `types.PoetProofMessage`; the signature is left empty upstream (spec/poet.md §2.5)."""

    poet_proof: PoetProof
    poet_service_id: Annotated[bytes, Bytes(32)]
    round_id: Annotated[str, String(32)]
    statement: Annotated[bytes, FixedBytes(32)]
    signature: Annotated[bytes, FixedBytes(64)]

    @property
    def ref(self) -> bytes:
        """BLAKE3(SCALE(PoetProof)): what an ATX's PoST is proven for (spec/poet.md §4 step 6)."""
        return hash32(self.poet_proof.encode())


def post_verify_params(config: NodeConfig) -> VerifyParams:
    """The network's PoST verification parameters (spec/post.md §1.6, §3)."""
    post_preset = POST_PRESETS.get(config.preset)
    difficulty = post_preset.pow_difficulty if post_preset is not None else EASY_POW_DIFFICULTY
    return VerifyParams(
        config.k1, config.k2, config.k3, difficulty, config.labels_per_unit,
        config.min_num_units, config.max_num_units, config.scrypt_n, "light",
    )  # fmt: skip


class PoetProofStore:
    """Checked PoET proofs by reference, persisted in `poets` and cached in memory."""

    def __init__(self, mesh: MeshStore, *, depth: int = LABEL_HASH_DEPTH) -> None:
        self.mesh = mesh
        self.depth = depth  # PoSW label depth to check peers' proofs with (400 on every network)
        self._cache: dict[bytes, PoetProofMessage] = {}
        self._lock = threading.Lock()

    def add_verified(self, verified: Any) -> bytes:
        """Keep a proof the PoET client already checked (`core.poet.client.VerifiedPoetProof`)."""
        message = PoetProofMessage(
            verified.proof, bytes(verified.service_pubkey), str(verified.round_id), verified.statement, bytes(64)
        )
        if message.ref != verified.ref:
            raise AtxError("PoET proof reference does not match the proof")
        self._put(message)
        return message.ref

    def add_message(self, data: bytes, expected_ref: bytes | None = None) -> bytes:
        """Check and keep a proof received from a peer; returns its reference (CPU-bound: run it in a thread)."""
        try:
            message = PoetProofMessage.decode(data)
        except (DecodeError, ValueError) as e:
            raise AtxError(f"malformed PoET proof message: {e}") from None
        ref = message.ref
        if expected_ref is not None and ref != expected_ref:
            raise AtxError(f"PoET proof {ref.hex()[:16]} is not the requested {expected_ref.hex()[:16]}")
        if self.get(ref) is not None:
            return ref
        try:
            verify_posw(message.statement, message.poet_proof, depth=self.depth)
        except SmeshError as e:
            raise AtxError(f"invalid PoET proof {ref.hex()[:16]}: {e}") from None
        self._put(message)
        return ref

    def get(self, ref: bytes) -> PoetProofMessage | None:
        with self._lock:
            cached = self._cache.get(ref)
        if cached is not None:
            return cached
        row = self.mesh.conn.execute("SELECT poet FROM poets WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            return None
        message = PoetProofMessage.decode(bytes(row[0]))
        with self._lock:
            self._cache[ref] = message
        return message

    def has(self, ref: bytes) -> bool:
        return self.get(ref) is not None

    def message_bytes(self, ref: bytes) -> bytes | None:
        """The stored message, for serving peers."""
        row = self.mesh.conn.execute("SELECT poet FROM poets WHERE ref = ?", (ref,)).fetchone()
        return bytes(row[0]) if row else None

    def member_leaves(self, ref: bytes, member: bytes, leaf_index: int, path: tuple[bytes, ...]) -> int:
        """Leaf count of proof `ref` if `member` sits at `leaf_index` of its statement, else raise."""
        message = self.get(ref)
        if message is None:
            raise UnknownPoetProof(ref)
        if not verify_membership(member, leaf_index, path, message.statement):
            raise AtxError(f"the ATX challenge is not a member of PoET proof {ref.hex()[:16]}")
        return message.poet_proof.leaf_count

    def _put(self, message: PoetProofMessage) -> None:
        ref = message.ref
        with self.mesh.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO poets (ref, poet, service_id, round_id) VALUES (?, ?, ?, ?)",
                (ref, message.encode(), message.poet_service_id, message.round_id),
            )
        with self._lock:
            self._cache[ref] = message


class AtxProofChecker:
    """The real `ProofChecker`: PoST via core.post, PoET via the `PoetProofStore`."""

    def __init__(self, params: VerifyParams, poets: PoetProofStore, *, seed: bytes = b"", label_fn: Any = None) -> None:
        self.params = params
        self.poets = poets
        self.seed = seed  # the K3 subset seed; go-spacemesh uses the local peer id
        self.label_fn = label_fn  # None: the CPU label backend of core.post

    @classmethod
    def from_config(cls, config: NodeConfig, poets: PoetProofStore, *, seed: bytes = b"") -> AtxProofChecker:
        return cls(post_verify_params(config), poets, seed=seed)

    def poet_leaves(
        self, proof_ref: bytes, challenge_hash: bytes, membership_nodes: tuple[bytes, ...], leaf_index: int
    ) -> int:
        return self.poets.member_leaves(proof_ref, challenge_hash, leaf_index, tuple(membership_nodes))

    def check_post(
        self,
        node_id: bytes,
        commitment_atx: bytes,
        post: PostV1,
        challenge: bytes,
        num_units: int,
        labels_per_unit: int,
    ) -> None:
        p = self.params
        mode = All() if p.k3 >= p.k2 else Subset(p.k3, self.seed)
        meta = ProofMetadata(node_id, commitment_atx, challenge, num_units, labels_per_unit)
        try:
            verify_proof(Proof(post.nonce, post.indices, post.pow), meta, p, mode, label_fn=self.label_fn)
        except SmeshError as e:
            raise AtxError(f"invalid PoST proof: {e}") from None

    def check_vrf_nonce(
        self, node_id: bytes, commitment_atx: bytes, nonce: int, num_units: int, labels_per_unit: int
    ) -> None:
        try:
            ok = verify_vrf_nonce(
                nonce, node_id, commitment_atx, num_units * labels_per_unit, self.params.scrypt_n, self.label_fn
            )
        except SmeshError as e:
            raise AtxError(f"invalid VRF nonce: {e}") from None
        if not ok:
            raise AtxError(f"invalid VRF nonce {nonce}: its label is above the target for {num_units} units")
