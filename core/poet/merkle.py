"""The incremental Merkle tree of spacemeshos/merkle-tree (spec/poet.md §1.3, §1.6, §1.7).

Generic over the node hash: `hash_pair(left, right) -> bytes`.  The PoSW uses the salted
SHA-256 `MH(l, r) = SHA256(x ‖ l ‖ r)`; the membership tree BLAKE3 with a 0x01 prefix; the
merkle-tree repository's own tests plain SHA-256.

Positions are (height, index): leaves are height 0, node (h, j) covers leaves
[j·2^h, (j+1)·2^h).  With N leaves a node is *complete* when it covers no leaf ≥ N; the tree
is padded to height ceil(log2 N) with the literal `ZERO` (32 zero bytes) for every node
covering no leaf at all, whatever its height, and a node covering some but not all of its
leaves is hashed from its two children as usual.  One leaf is its own root.

Proofs open a sorted set of leaves and list the other nodes needed, in the order in which the
depth-first walk of §1.6 consumes them; that walk is shared by prover and verifier here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from core.errors import SmeshError

__all__ = [
    "ZERO",
    "HashPair",
    "IncrementalTree",
    "MerkleError",
    "node_value",
    "proof_nodes",
    "root_from_parked",
    "root_from_proof",
    "tree_height",
    "validate",
]

ZERO = bytes(32)

HashPair = Callable[[bytes, bytes], bytes]
NodeReader = Callable[[int, int], bytes]


class MerkleError(SmeshError):
    """A Merkle proof that is malformed or does not lead to its root."""


def tree_height(n: int) -> int:
    """The root's height over `n` ≥ 1 leaves: ceil(log2 n)."""
    if n < 1:
        raise ValueError("a tree needs at least one leaf")
    return (n - 1).bit_length()


class IncrementalTree:
    """A tree grown one leaf at a time that keeps only one parked node per layer: O(log N) memory.

    `on_node(height, index, node)`, when given, sees every complete node as it is made, leaves
    included, so a caller can store whole layers (the PoSW prover writes them to files).
    """

    def __init__(self, hash_pair: HashPair, *, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        self.hash_pair = hash_pair
        self.on_node = on_node
        self._n = 0
        self._parked: list[bytes | None] = []

    @classmethod
    def resume(cls, hash_pair: HashPair, leaf_count: int, parked: Sequence[bytes | None], **kw) -> IncrementalTree:
        """A tree holding `leaf_count` leaves whose parked nodes (by height, None for empty) are `parked`."""
        tree = cls(hash_pair, **kw)
        for h in range(max(leaf_count.bit_length(), len(parked))):
            present = h < len(parked) and parked[h] is not None
            if present != bool((leaf_count >> h) & 1):
                raise ValueError(f"parked node at height {h} does not match a count of {leaf_count} leaves")
        tree._n = leaf_count
        tree._parked = [parked[h] if (leaf_count >> h) & 1 else None for h in range(leaf_count.bit_length())]
        return tree

    @property
    def leaf_count(self) -> int:
        return self._n

    @property
    def parked(self) -> list[bytes | None]:
        """The parking slot of each layer, from the leaves up (None where empty)."""
        return list(self._parked)

    def parked_nodes(self) -> list[bytes]:
        """The non-empty parked nodes in ascending layer order: what the next leaf's label hashes."""
        return [p for p in self._parked if p is not None]

    def add(self, leaf: bytes) -> None:
        node = bytes(leaf)
        index = self._n
        height = 0
        if self.on_node:
            self.on_node(0, index, node)
        while True:
            if height == len(self._parked):
                self._parked.append(None)
            parked = self._parked[height]
            if parked is None:
                self._parked[height] = node
                break
            node = self.hash_pair(parked, node)
            self._parked[height] = None
            height += 1
            if self.on_node:
                self.on_node(height, index >> height, node)
        self._n += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.add(leaf)

    def root(self) -> bytes:
        return root_from_parked(self._n, self._parked, self.hash_pair)


def root_from_parked(n: int, parked: Sequence[bytes | None], hash_pair: HashPair) -> bytes:
    """The root over `n` leaves from the parked node of each layer (§1.3's ephemeral-carry walk).

    The parked node at height h is the last complete node of layer h when that layer's width
    n >> h is odd; the carry is the partial node just to its right.
    """
    if n < 1:
        raise ValueError("an empty tree has no root")
    top = n.bit_length() - 1
    carry: bytes | None = None
    for h in range(top + 1):
        p = parked[h] if (n >> h) & 1 else None
        if (n >> h) & 1 and p is None:
            raise ValueError(f"missing parked node at height {h} for {n} leaves")
        if h == top and carry is None:
            return p  # type: ignore[return-value]  # n is a power of two: its one parked node
        if p is not None:
            carry = hash_pair(p, carry if carry is not None else ZERO)
        elif carry is not None:
            carry = hash_pair(carry, ZERO)
    assert carry is not None
    return carry


def node_value(
    height: int, index: int, n: int, stored: NodeReader, hash_pair: HashPair, cache: dict | None = None
) -> bytes:
    """Node (height, index) of the padded tree over `n` leaves.

    `stored(h, j)` returns complete nodes; partial ones are hashed from their children and
    nodes past the last leaf are `ZERO`.
    """
    if index << height >= n:
        return ZERO
    if (index + 1) << height <= n:
        return stored(height, index)
    key = (height, index)
    if cache is not None and key in cache:
        return cache[key]
    value = hash_pair(
        node_value(height - 1, 2 * index, n, stored, hash_pair, cache),
        node_value(height - 1, 2 * index + 1, n, stored, hash_pair, cache),
    )
    if cache is not None:
        cache[key] = value
    return value


def _check_indices(indices: Sequence[int], n: int | None = None) -> None:
    if not indices:
        raise MerkleError("no leaves to prove")
    prev = -1
    for i in indices:
        if i <= prev:
            raise MerkleError("proven leaf indices must be strictly ascending")
        prev = i
    if n is not None and indices[-1] >= n:
        raise MerkleError(f"leaf index {indices[-1]} is outside a tree of {n} leaves")


def proof_nodes(n: int, indices: Sequence[int], stored: NodeReader, hash_pair: HashPair) -> list[bytes]:
    """The nodes a verifier needs besides the leaves at `indices` (ascending), in §1.6 order.

    Walks up from the first leaf; where a sibling is an ancestor of the next leaf to prove it
    descends into it first, otherwise the sibling goes into the list (ZERO padding included).
    """
    _check_indices(indices, n)
    top = tree_height(n)
    out: list[bytes] = []
    cache: dict = {}
    pos = 0

    def walk(stop: int) -> None:
        nonlocal pos
        j = indices[pos]
        pos += 1
        for h in range(stop):
            sibling = j ^ 1
            if pos < len(indices) and indices[pos] >> h == sibling:
                walk(h)
            else:
                out.append(node_value(h, sibling, n, stored, hash_pair, cache))
            j >>= 1

    walk(top)
    return out


def root_from_proof(
    indices: Sequence[int], leaves: Sequence[bytes], nodes: Sequence[bytes], hash_pair: HashPair
) -> tuple[bytes, list[list[bytes]]]:
    """The root that the opened `leaves` at `indices` and the proof `nodes` lead to (§1.7).

    The height is not given: the walk goes up until the proof nodes run out.  Also returns,
    for each proven leaf, its parking snapshot: the left siblings at the heights where its
    ancestor is a right child, ascending.  Raises MerkleError for a proof whose nodes run out
    inside a subtree or that leaves proven leaves unused.
    """
    _check_indices(indices)
    if len(leaves) != len(indices):
        raise MerkleError(f"{len(leaves)} leaves for {len(indices)} indices")
    values: dict[tuple[int, int], bytes] = {}
    pos = 0
    next_node = 0

    def walk(stop: int | None) -> tuple[bytes, int]:
        nonlocal pos, next_node
        j = indices[pos]
        node = leaves[pos]
        pos += 1
        h = 0
        while stop is None or h < stop:
            sibling = j ^ 1
            if pos < len(indices) and indices[pos] >> h == sibling:
                value, _ = walk(h)
            elif next_node < len(nodes):
                value = nodes[next_node]
                next_node += 1
            elif stop is None:
                break
            else:
                raise MerkleError(f"the proof nodes run out inside the subtree at height {stop}")
            values[(h, j)] = node
            values[(h, sibling)] = value
            node = hash_pair(value, node) if j & 1 else hash_pair(node, value)
            h += 1
            j >>= 1
        return node, h

    root, height = walk(None)
    if pos != len(indices):
        raise MerkleError(f"the proof ends before reaching proven leaf {indices[pos]}")
    snapshots = []
    for i in indices:
        snapshots.append([values[(h, (i >> h) - 1)] for h in range(height) if (i >> h) & 1])
    return root, snapshots


def validate(
    indices: Sequence[int], leaves: Sequence[bytes], nodes: Sequence[bytes], root: bytes, hash_pair: HashPair
) -> bool:
    """Whether the partial tree leads to `root`."""
    try:
        return root_from_proof(indices, leaves, nodes, hash_pair)[0] == root
    except MerkleError:
        return False
