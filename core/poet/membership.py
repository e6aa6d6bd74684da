"""The membership tree: the statement a PoET round proves (spec/poet.md §2.4, §4 step 5).

Leaves are the registered challenges themselves (not hashed again), ordered by the registering
node id's bytes.  An internal node is `BLAKE3(0x01 ‖ left ‖ right)`; a missing right sibling at
any height is the literal 32 zero bytes (spacemeshos/merkle-tree padding, §1.3), so the tree
over N members has height ceil(log2 N) and one member is its own root.  No members give the
empty statement.

A member's path lists its siblings from the leaf up, padding included; its length is the tree
height, so a verifier needs only (member, index, path) and the root.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.crypto.hashing import hash32
from core.errors import InvalidInput

NODE_PREFIX = b"\x01"
ZERO = bytes(32)
MAX_PATH_NODES = 32  # go-spacemesh MerkleProof.Nodes: at most 32 (trees of up to 2^32 members)


def node_hash(left: bytes, right: bytes) -> bytes:
    """An internal node of the membership tree."""
    return hash32(NODE_PREFIX, left, right)


def _next_layer(layer: Sequence[bytes]) -> list[bytes]:
    out = []
    for i in range(0, len(layer) - 1, 2):
        out.append(node_hash(layer[i], layer[i + 1]))
    if len(layer) % 2:
        out.append(node_hash(layer[-1], ZERO))
    return out


def _layers(members: Sequence[bytes]) -> list[list[bytes]]:
    layers = [list(members)]
    while len(layers[-1]) > 1:
        layers.append(_next_layer(layers[-1]))
    return layers


def membership_root(members: Sequence[bytes]) -> bytes:
    """The statement for `members` (already in node-id order); b"" when there are none."""
    if not members:
        return b""
    layer = list(members)
    while len(layer) > 1:
        layer = _next_layer(layer)
    return layer[0]


class MembershipTree:
    """All layers of one round's tree, for handing out many members' paths."""

    def __init__(self, members: Sequence[bytes]) -> None:
        self.members = tuple(bytes(m) for m in members)
        self._layers = _layers(self.members) if self.members else [[]]

    @property
    def root(self) -> bytes:
        return self._layers[-1][0] if self.members else b""

    def index_of(self, member: bytes) -> int:
        """The position of `member` (linear scan, as go-spacemesh does); InvalidInput if absent."""
        try:
            return self.members.index(bytes(member))
        except ValueError:
            raise InvalidInput("the challenge is not a member of this round") from None

    def path(self, index: int) -> tuple[bytes, ...]:
        """Siblings of leaf `index` from the bottom up, ZERO padding included."""
        if not 0 <= index < len(self.members):
            raise InvalidInput(f"member index {index} is out of range for {len(self.members)} members")
        nodes = []
        i = index
        for layer in self._layers[:-1]:
            sibling = i ^ 1
            nodes.append(layer[sibling] if sibling < len(layer) else ZERO)
            i >>= 1
        return tuple(nodes)


def membership_path(members: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """One member's path; build a `MembershipTree` instead when many are needed."""
    return MembershipTree(members).path(index)


def root_from_path(member: bytes, index: int, path: Sequence[bytes]) -> bytes:
    """The root that `member` at `index` with siblings `path` leads to."""
    if index < 0 or index >> len(path):
        raise InvalidInput(f"member index {index} does not fit a path of {len(path)} nodes")
    if len(path) > MAX_PATH_NODES:
        raise InvalidInput(f"a membership path has at most {MAX_PATH_NODES} nodes, got {len(path)}")
    node = bytes(member)
    for height, sibling in enumerate(path):
        if (index >> height) & 1:
            node = node_hash(sibling, node)
        else:
            node = node_hash(node, sibling)
    return node


def verify_membership(member: bytes, index: int, path: Sequence[bytes], root: bytes) -> bool:
    """Whether `member` sits at `index` of the tree with `root` (go-spacemesh's ATX check)."""
    try:
        return root_from_path(member, index, path) == bytes(root)
    except InvalidInput:
        return False
