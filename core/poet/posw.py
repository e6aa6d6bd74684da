"""The proof of sequential work of the PoET (spec/poet.md §1): labels, Fiat–Shamir, proofs, verifier.

Everything here is the plain-Python reference.  The prover's hot loop runs the same
computation compiled (`core.poet.native`); `extend_reference` is the contract both follow.

* `MH(l, r) = SHA256(x ‖ l ‖ r)` joins Merkle nodes, salted with the statement x.
* `LH(data) = SHA256^depth(x ‖ data)`: one hash over the salted input, then depth−1 more over
  the 32-byte digest (depth = 400 since poet v0.6.0).
* Leaf i is labelled `LH(BE64(i) ‖ P_0 ‖ P_1 ‖ …)`, the P_h being the tree's parked nodes when
  the leaf is added (for each bit h set in i, node (h, (i >> h) − 1)).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated, Protocol

from core.codec import Bytes, Compact, Slice, Struct
from core.errors import SmeshError
from core.poet import merkle, native
from core.poet.native import layer_offsets

__all__ = [
    "LABEL_HASH_DEPTH",
    "MAX_PROOF_NODES",
    "T",
    "Kernel",
    "MerkleProof",
    "PoetProof",
    "PoswError",
    "ReferenceKernel",
    "extend_reference",
    "best_kernel",
    "fiat_shamir",
    "label_hash",
    "label_input",
    "leaf_label",
    "merkle_hash",
    "verify",
]

T = 150  # shared.T: leaves opened by a proof
LABEL_HASH_DEPTH = 400  # hash.LabelHashNestingDepth
MAX_PROOF_NODES = 5400  # go-spacemesh's SCALE bound: 36 per opened leaf


class PoswError(SmeshError):
    """A PoET proof that fails verification, or a prover that cannot continue."""


class MerkleProof(Struct):
    """go-spacemesh `types.MerkleProof`: the PoSW root, the opened labels by index, the extra nodes."""

    root: Annotated[bytes, Bytes(32)]
    proven_leaves: Annotated[tuple[bytes, ...], Slice(Bytes(32), T)]
    proof_nodes: Annotated[tuple[bytes, ...], Slice(Bytes(32), MAX_PROOF_NODES)]


class PoetProof(Struct):
    """go-spacemesh `types.PoetProof`: the Merkle proof and N, the number of leaves."""

    merkle: MerkleProof
    leaf_count: Annotated[int, Compact(64)]


# ---------------------------------------------------------------------------------------------
# Hashes


def merkle_hash(statement: bytes) -> Callable[[bytes, bytes], bytes]:
    """MH for `statement`: the node hash of the PoSW tree."""
    salted = hashlib.sha256(statement)

    def mh(left: bytes, right: bytes) -> bytes:
        h = salted.copy()
        h.update(left)
        h.update(right)
        return h.digest()

    return mh


def label_hash(statement: bytes, data: bytes, depth: int = LABEL_HASH_DEPTH) -> bytes:
    """LH(data): SHA256(statement ‖ data), then SHA-256 of the digest depth−1 more times."""
    if depth < 1:
        raise ValueError("the label hash depth must be at least 1")
    sha256 = hashlib.sha256
    h = sha256(statement + data).digest()
    for _ in range(depth - 1):
        h = sha256(h).digest()
    return h


def label_input(index: int, parked_nodes: Sequence[bytes]) -> bytes:
    """What leaf `index` is labelled from: BE64(index) then the parked nodes, empty ones skipped."""
    return index.to_bytes(8, "big") + b"".join(p for p in parked_nodes if p)


def leaf_label(statement: bytes, index: int, parked_nodes: Sequence[bytes], depth: int = LABEL_HASH_DEPTH) -> bytes:
    return label_hash(statement, label_input(index, parked_nodes), depth)


def extend_reference(
    statement: bytes, depth: int, start: int, parked: bytearray, count: int, out: bytearray
) -> list[int]:
    """Add leaves start..start+count−1 to the PoSW tree: the batch step of the prover.

    `parked` is 64 slots of 32 bytes; slot h holds the layer-h parked node iff bit h of the
    current leaf count is set, and is updated in place.  Every complete node made, leaves
    included, is written to `out` at 32·(offsets[h] + j − (start >> h)) for node j of layer h,
    with `offsets = layer_offsets(start, count)`, which is returned.
    """
    offsets = layer_offsets(start, count)
    if len(parked) != 64 * 32:
        raise ValueError("parked must be a 2048-byte buffer")
    if len(out) < 32 * offsets[64]:
        raise ValueError(f"output buffer too small: need {32 * offsets[64]} bytes")
    mh = merkle_hash(statement)
    for i in range(start, start + count):
        nodes = [bytes(parked[32 * h : 32 * h + 32]) for h in range(64) if (i >> h) & 1]
        node = leaf_label(statement, i, nodes, depth)
        h = 0
        out[32 * (offsets[0] + i - start) : 32 * (offsets[0] + i - start) + 32] = node
        while (i >> h) & 1:
            node = mh(bytes(parked[32 * h : 32 * h + 32]), node)
            h += 1
            at = 32 * (offsets[h] + (i >> h) - (start >> h))
            out[at : at + 32] = node
        parked[32 * h : 32 * h + 32] = node
    return offsets


class Kernel(Protocol):
    """What the prover and verifier need from an implementation of the hashing."""

    name: str

    def label_hash(self, statement: bytes, data: bytes, depth: int) -> bytes: ...

    def extend(
        self, statement: bytes, depth: int, start: int, parked: bytearray, count: int, out: bytearray
    ) -> list[int]: ...


class ReferenceKernel:
    """The hashlib implementation, with the interface of `core.poet.native.NativeKernel`."""

    name = "reference (hashlib)"

    def label_hash(self, statement: bytes, data: bytes, depth: int) -> bytes:
        return label_hash(statement, data, depth)

    def extend(
        self, statement: bytes, depth: int, start: int, parked: bytearray, count: int, out: bytearray
    ) -> list[int]:
        return extend_reference(statement, depth, start, parked, count, out)


def best_kernel() -> Kernel:
    """The native kernel when it can be built, else the reference."""
    return native.load() or ReferenceKernel()


# ---------------------------------------------------------------------------------------------
# Fiat–Shamir and verification


def fiat_shamir(root: bytes, n: int, t: int = T) -> list[int]:
    """The leaf indices a proof over `n` leaves with `root` opens, ascending (§1.5)."""
    if n < 1:
        raise ValueError("Fiat-Shamir needs at least one leaf")
    if t > n:
        return list(range(n))
    chosen: set[int] = set()
    j = 0
    while len(chosen) < t:
        d = hashlib.sha256(root + j.to_bytes(4, "big")).digest()
        chosen.add(int.from_bytes(d[:8], "big") % n)
        j += 1
    return sorted(chosen)


def verify(statement: bytes, proof: PoetProof, t: int = T, *, depth: int = LABEL_HASH_DEPTH) -> None:
    """Check a PoET proof for `statement` (§1.7); raises PoswError with the reason when it fails."""
    mp = proof.merkle
    n = proof.leaf_count
    if len(mp.root) != 32:
        raise PoswError(f"invalid PoET proof: the root is {len(mp.root)} bytes, expected 32")
    if len(mp.proven_leaves) != t:
        raise PoswError(f"invalid PoET proof: {len(mp.proven_leaves)} proven leaves, expected {t}")
    if n < t:
        raise PoswError(f"invalid PoET proof: {n} leaves is fewer than the {t} it must open")
    for k, leaf in enumerate(mp.proven_leaves):
        if len(leaf) != 32:
            raise PoswError(f"invalid PoET proof: proven leaf {k} is {len(leaf)} bytes, expected 32")
    for k, node in enumerate(mp.proof_nodes):
        if len(node) != 32:
            raise PoswError(f"invalid PoET proof: proof node {k} is {len(node)} bytes, expected 32")
    indices = fiat_shamir(mp.root, n, t)
    try:
        root, snapshots = merkle.root_from_proof(indices, mp.proven_leaves, mp.proof_nodes, merkle_hash(statement))
    except merkle.MerkleError as exc:
        raise PoswError(f"invalid PoET proof: {exc}") from None
    if root != mp.root:
        raise PoswError("invalid PoET proof: the proven leaves and proof nodes do not lead to the root")
    kernel = best_kernel()
    for index, leaf, parked in zip(indices, mp.proven_leaves, snapshots, strict=True):
        if kernel.label_hash(statement, label_input(index, parked), depth) != leaf:
            raise PoswError(f"invalid PoET proof: the label of leaf {index} does not match the nodes to its left")
