"""The membership tree over a round's challenges (spec/poet.md §2.4, §4 step 5, §5.3)."""

import os

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.poet.membership import (
    ZERO,
    MembershipTree,
    membership_path,
    membership_root,
    node_hash,
    root_from_path,
    verify_membership,
)
from core.poet.merkle import IncrementalTree

M1, M2, M3 = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32


def test_spec_vector_three_members():
    # spec §5.3: members 01×32, 02×32, 03×32
    assert membership_root([M1, M2, M3]).hex() == "d2814fc261af4aa4fc561a38699090eb9bf6b4d608de9066505dbe5a338002d0"
    path = membership_path([M1, M2, M3], 1)
    assert [p.hex() for p in path] == [
        M1.hex(),
        "17ad70ffd0d52b6a1eccc6a812d87a334328acc9b305fb44e7c2579bd7d765be",
    ]
    assert path[1] == blake3.blake3(b"\x01" + M3 + ZERO).digest()  # BLAKE3(01 ‖ 03×32 ‖ ZERO)


def test_node_hash_is_blake3_with_the_01_prefix():
    assert node_hash(M1, M2) == blake3.blake3(b"\x01" + M1 + M2).digest()


def test_single_member_is_its_own_root_and_empty_is_empty():
    assert membership_root([M1]) == M1
    assert MembershipTree([M1]).path(0) == ()
    assert verify_membership(M1, 0, (), M1)
    assert membership_root([]) == b""
    assert MembershipTree([]).root == b""


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33])
def test_root_matches_the_incremental_tree(n):
    members = [os.urandom(32) for _ in range(n)]
    tree = IncrementalTree(node_hash)
    tree.extend(members)
    assert membership_root(members) == tree.root()
    assert MembershipTree(members).root == tree.root()


@given(st.integers(1, 40), st.data())
def test_every_members_path_verifies(n, data):
    members = [bytes([i % 256, i // 256]) * 16 for i in range(n)]
    tree = MembershipTree(members)
    index = data.draw(st.integers(0, n - 1))
    path = tree.path(index)
    assert len(path) == (n - 1).bit_length()  # height ceil(log2 n)
    assert root_from_path(members[index], index, path) == tree.root
    assert verify_membership(members[index], index, path, tree.root)
    if n > 1:
        assert not verify_membership(members[index], index ^ 1, path, tree.root)
        other = members[(index + 1) % n]
        assert not verify_membership(other, index, path, tree.root)
        bad = list(path)
        bad[0] = bytes(32) if bad[0] != bytes(32) else bytes([9]) * 32
        assert not verify_membership(members[index], index, bad, tree.root)


def test_padding_appears_in_paths():
    members = [bytes([i]) * 32 for i in range(5)]
    path = MembershipTree(members).path(4)
    assert path[0] == ZERO and path[1] == ZERO  # no right sibling at heights 0 and 1
    assert path[2] == node_hash(node_hash(members[0], members[1]), node_hash(members[2], members[3]))


def test_index_lookup_and_bad_indices():
    tree = MembershipTree([M1, M2, M3])
    assert tree.index_of(M3) == 2
    with pytest.raises(InvalidInput, match="not a member"):
        tree.index_of(bytes(32))
    with pytest.raises(InvalidInput):
        tree.path(3)
    assert not verify_membership(M1, 4, (M2,), membership_root([M1, M2]))  # index beyond the path's reach
    assert not verify_membership(M1, 0, (M2,) * 33, M1)  # longer than go-spacemesh allows
