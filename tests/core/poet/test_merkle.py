"""The incremental Merkle tree: spacemeshos/merkle-tree vectors (spec/poet.md §5.1), the membership
vector (§5.3) and an independent recursive model of the ZERO-padded tree and its proofs."""

import hashlib
import random

import blake3
import pytest

from core.poet import merkle
from core.poet.merkle import ZERO, IncrementalTree, MerkleError


def sha_pair(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(left + right).digest()


def blake_pair(left: bytes, right: bytes) -> bytes:
    return blake3.blake3(b"\x01" + left + right).digest()


def go_leaf(i: int) -> bytes:
    """merkle-tree's test leaves: LE64(i) zero-padded to 32 bytes."""
    return i.to_bytes(8, "little") + bytes(24)


# --- an independent model: the padded tree defined recursively -----------------------------


def model_height(n: int) -> int:
    h = 0
    while (1 << h) < n:
        h += 1
    return h


def model_node(leaves, h, j, hp):
    if j * 2**h >= len(leaves):
        return ZERO
    if h == 0:
        return leaves[j]
    return hp(model_node(leaves, h - 1, 2 * j, hp), model_node(leaves, h - 1, 2 * j + 1, hp))


def model_root(leaves, hp):
    return model_node(leaves, model_height(len(leaves)), 0, hp)


def model_proof(leaves, indices, hp):
    """Siblings of the proven leaves' ancestors that are not ancestors themselves, in post-order:
    each emitted when its parent is first computed, left subtree before right."""
    proven = set(indices)

    def is_ancestor(h, j):
        return any(i // 2**h == j for i in proven)

    def order(h, j):
        if h == 0:
            return []
        left, right = (h - 1, 2 * j), (h - 1, 2 * j + 1)
        if is_ancestor(*left) and is_ancestor(*right):
            return order(*left) + order(*right)
        if is_ancestor(*left):
            return order(*left) + [model_node(leaves, *right, hp)]
        return order(*right) + [model_node(leaves, *left, hp)]

    return order(model_height(len(leaves)), 0)


def build(leaves, hp):
    layers: dict[int, dict[int, bytes]] = {}
    tree = IncrementalTree(hp, on_node=lambda h, j, node: layers.setdefault(h, {}).__setitem__(j, node))
    tree.extend(leaves)
    return tree, layers


# --- merkle-tree repository vectors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "root"),
    [
        (8, "89a0f1577268cc19b0a39c7a69f804fd140640c699585eb635ebb03c06154cce"),
        (9, "cb71c80ee780788eedb819ec125a41e0cde57bd0955cdd3157ca363193ab5ff1"),
        (10, "59f32a43534fe4c4c0966421aef624267cdf65bd11f74998c60f27c7caccb12d"),
        (15, "b9746fb884ed07041c5cbb3bb5526e1383928e832a8385e08db995966889b5a8"),
    ],
)
def test_go_roots(n, root):
    tree, _ = build([go_leaf(i) for i in range(n)], sha_pair)
    assert tree.root().hex() == root
    assert tree.leaf_count == n


def test_go_proof_for_leaves_0_4_7_of_10():
    leaves = [go_leaf(i) for i in range(10)]
    tree, layers = build(leaves, sha_pair)
    nodes = merkle.proof_nodes(10, [0, 4, 7], lambda h, j: layers[h][j], sha_pair)
    assert nodes == [
        leaves[1],
        bytes.fromhex("0094579cfc7b716038d416a311465309bea202baa922b224a7b08f01599642fb"),
        leaves[5],
        leaves[6],
        bytes.fromhex("bc68417a8495de6e22d95b980fca5a1183f29eff0e2a9b7ddde91ed5bcbea952"),
    ]
    root, _ = merkle.root_from_proof([0, 4, 7], [leaves[0], leaves[4], leaves[7]], nodes, sha_pair)
    assert root.hex() == "59f32a43534fe4c4c0966421aef624267cdf65bd11f74998c60f27c7caccb12d"


def test_go_parked_nodes():
    tree = IncrementalTree(sha_pair)
    tree.extend([b"\x00", b"\x01"])
    assert tree.parked == [None, bytes.fromhex("b413f47d13ee2fe6c845b2ee141af81de858df4ec549a58b7970bb96645bc8d2")]
    tree.extend([b"\x02", b"\x03"])
    assert tree.parked[2].hex() == "7699a4fdd6b8b6908a344f73b8f05c8e1400f7253f544602c442ff5c65504b24"
    assert tree.parked[:2] == [None, None]


def test_membership_vector_blake3():
    members = [bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32]
    tree, layers = build(members, blake_pair)
    assert tree.root().hex() == "d2814fc261af4aa4fc561a38699090eb9bf6b4d608de9066505dbe5a338002d0"
    path = merkle.proof_nodes(3, [1], lambda h, j: layers[h][j], blake_pair)
    assert path == [members[0], bytes.fromhex("17ad70ffd0d52b6a1eccc6a812d87a334328acc9b305fb44e7c2579bd7d765be")]
    single, _ = build(members[:1], blake_pair)
    assert single.root() == members[0]


# --- against the model ------------------------------------------------------------------------


def test_root_and_layers_match_model_for_every_small_n():
    rng = random.Random(1)
    for n in range(1, 70):
        leaves = [rng.randbytes(32) for _ in range(n)]
        tree, layers = build(leaves, sha_pair)
        assert tree.root() == model_root(leaves, sha_pair), n
        # every complete node was reported once, with the model's value
        for h, layer in layers.items():
            assert sorted(layer) == list(range(n >> h))
            for j, node in layer.items():
                assert node == model_node(leaves, h, j, sha_pair)
        resumed = IncrementalTree.resume(sha_pair, n, tree.parked)
        assert resumed.root() == tree.root()
        assert merkle.tree_height(n) == model_height(n)


def test_node_value_pads_with_literal_zero():
    leaves = [bytes([i]) * 32 for i in range(5)]
    _, layers = build(leaves, sha_pair)
    stored = lambda h, j: layers[h][j]  # noqa: E731
    assert merkle.node_value(1, 3, 5, stored, sha_pair) == ZERO
    assert merkle.node_value(2, 1, 5, stored, sha_pair) == sha_pair(sha_pair(leaves[4], ZERO), ZERO)
    assert merkle.node_value(3, 0, 5, stored, sha_pair) == model_root(leaves, sha_pair)


def test_resumed_tree_continues_like_the_original():
    rng = random.Random(2)
    leaves = [rng.randbytes(32) for _ in range(45)]
    whole, _ = build(leaves, sha_pair)
    part, _ = build(leaves[:29], sha_pair)
    resumed = IncrementalTree.resume(sha_pair, 29, part.parked)
    resumed.extend(leaves[29:])
    assert resumed.root() == whole.root()
    with pytest.raises(ValueError):
        IncrementalTree.resume(sha_pair, 28, part.parked)  # 28 has bit 0 clear; 29's parked has it


def test_proofs_match_model_on_random_subsets():
    rng = random.Random(3)
    for _ in range(150):
        n = rng.randint(1, 80)
        leaves = [rng.randbytes(32) for _ in range(n)]
        indices = sorted(rng.sample(range(n), rng.randint(1, min(n, 12))))
        _, layers = build(leaves, sha_pair)
        nodes = merkle.proof_nodes(n, indices, lambda h, j: layers[h][j], sha_pair)
        assert nodes == model_proof(leaves, indices, sha_pair), (n, indices)
        root, snapshots = merkle.root_from_proof(indices, [leaves[i] for i in indices], nodes, sha_pair)
        assert root == model_root(leaves, sha_pair)
        height = model_height(n)
        for i, snap in zip(indices, snapshots, strict=True):
            # the left siblings on the leaf's path: the parked nodes when it was added
            assert snap == [model_node(leaves, h, (i >> h) - 1, sha_pair) for h in range(height) if (i >> h) & 1]


def test_all_leaves_of_a_power_of_two_need_no_nodes():
    leaves = [bytes([i]) * 32 for i in range(8)]
    _, layers = build(leaves, sha_pair)
    assert merkle.proof_nodes(8, list(range(8)), lambda h, j: layers[h][j], sha_pair) == []
    root, _ = merkle.root_from_proof(list(range(8)), leaves, [], sha_pair)
    assert root == model_root(leaves, sha_pair)


def test_root_from_proof_rejects_malformed_input():
    leaves = [bytes([i]) * 32 for i in range(10)]
    _, layers = build(leaves, sha_pair)
    nodes = merkle.proof_nodes(10, [2, 6], lambda h, j: layers[h][j], sha_pair)
    opened = [leaves[2], leaves[6]]
    root = model_root(leaves, sha_pair)
    assert merkle.validate([2, 6], opened, nodes, root, sha_pair)
    with pytest.raises(MerkleError, match="run out inside"):
        merkle.root_from_proof([2, 6], opened, nodes[:2], sha_pair)  # leaf 7, in leaf 6's subtree, is missing
    with pytest.raises(MerkleError, match="ascending"):
        merkle.root_from_proof([6, 2], opened[::-1], nodes, sha_pair)
    with pytest.raises(MerkleError, match="ascending"):
        merkle.root_from_proof([2, 2], opened, nodes, sha_pair)
    with pytest.raises(MerkleError, match="no leaves"):
        merkle.root_from_proof([], [], nodes, sha_pair)
    with pytest.raises(MerkleError, match="leaves for"):
        merkle.root_from_proof([2, 6], opened[:1], nodes, sha_pair)
    # leaf 9 lies outside the subtree the nodes close over: it is never reached
    with pytest.raises(MerkleError, match="before reaching proven leaf 9"):
        merkle.root_from_proof([0, 9], [leaves[0], leaves[9]], [leaves[1]], sha_pair)
    assert not merkle.validate([2, 6], [leaves[2], leaves[7]], nodes, root, sha_pair)
    assert not merkle.validate([2, 6], opened, nodes + [ZERO], root, sha_pair)
    with pytest.raises(MerkleError, match="outside a tree"):
        merkle.proof_nodes(10, [10], lambda h, j: layers[h][j], sha_pair)
