"""PoSW labels, Fiat–Shamir, proof encoding and the verifier (spec/poet.md §1, §5.1, §5.3), plus the
compiled kernel against the hashlib reference on random inputs."""

import dataclasses
import hashlib
import os
import platform
import random
import shutil
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.codec import Bytes, Slice, encode_compact
from core.errors import DecodeError, SmeshError
from core.poet import merkle, native, posw
from core.poet.posw import MerkleProof, PoetProof, PoswError

GO_STATEMENT = b"a123123123mskofvuw098e71bnj91273"
CHALLENGE = b"hello world, this is a challenge"


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- an independent model of the labelled tree (hashlib only, recursive) ----------------------


class ModelTree:
    """Leaf i = SHA^depth(x ‖ BE64(i) ‖ node(h, (i>>h)−1) for each bit h of i); nodes by recursion."""

    def __init__(self, statement: bytes, n: int, depth: int) -> None:
        self.x = statement
        self.leaves: list[bytes] = []
        self.memo: dict = {}
        for i in range(n):
            parked = [self.node(h, (i >> h) - 1) for h in range(i.bit_length()) if (i >> h) & 1]
            h = sha(statement + i.to_bytes(8, "big") + b"".join(parked))
            for _ in range(depth - 1):
                h = sha(h)
            self.leaves.append(h)

    def node(self, h: int, j: int) -> bytes:
        n = len(self.leaves)
        if j << h >= n:
            return merkle.ZERO
        if h == 0:
            return self.leaves[j]
        key = (h, j, n if (j + 1) << h > n else None)  # partial nodes change as the tree grows
        if key not in self.memo:
            self.memo[key] = sha(self.x + self.node(h - 1, 2 * j) + self.node(h - 1, 2 * j + 1))
        return self.memo[key]

    def root(self) -> bytes:
        n = len(self.leaves)
        return self.node((n - 1).bit_length(), 0)


def make_proof(statement: bytes, n: int, t: int, depth: int) -> tuple[PoetProof, ModelTree]:
    """A proof assembled from the model with the module's Fiat–Shamir and proof-node walk."""
    model = ModelTree(statement, n, depth)
    root = model.root()
    indices = posw.fiat_shamir(root, n, t)
    nodes = merkle.proof_nodes(n, indices, model.node, posw.merkle_hash(statement))
    mp = MerkleProof(root=root, proven_leaves=tuple(model.leaves[i] for i in indices), proof_nodes=tuple(nodes))
    return PoetProof(merkle=mp, leaf_count=n), model


def kernels():
    ks = [posw.ReferenceKernel()]
    k = native.load()
    if k is not None:
        ks += [k.with_impl(i) for i in k.available]
    return ks


KERNEL_IDS = [k.name for k in kernels()]


def test_native_kernel_builds_where_there_is_a_compiler():
    # without a compiler the prover falls back to hashlib; with one, a build failure is a bug
    if shutil.which(native._compiler()[0]) is None:
        pytest.skip("no C compiler here")
    if os.environ.get("SMESH_POSW_NATIVE", "1") in native.DISABLED:
        pytest.skip("the native kernel is switched off (SMESH_POSW_NATIVE)")
    k = native.load()
    assert k is not None
    assert native.IMPL_PORTABLE in k.available
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() == "x86_64" and cpuinfo.exists() and " sha_ni" in cpuinfo.read_text():
        assert k.impl == native.IMPL_SHANI  # the CPUID check agrees with the kernel's view


# --- §5.1 Go vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", kernels(), ids=KERNEL_IDS)
def test_go_label_hash_vector(kernel):
    data = b"12312390819023879012379184718920408data0123128991231239081"
    assert kernel.label_hash(GO_STATEMENT, data, 400).hex() == (
        "b0d5378b51463392b29347b686d8a7f041ce0ec278dd3e090c4e4ce05e61c4c4"
    )
    assert kernel.label_hash(GO_STATEMENT, data, 100).hex() == (
        "6801e6b403ca8b0aa4454aa9744d1b868aa3cc20b6c5cdc20d301ee0fe012e85"
    )


def test_go_merkle_hash_vector():
    mh = posw.merkle_hash(GO_STATEMENT)
    assert mh(b"left-one", b"right-one").hex() == "670196b573a99378513df4eefdbd84b4b59be86482a8df3802bafa334c760629"


def test_go_make_label_inputs():
    assert posw.label_input(1, []) == bytes.fromhex("0000000000000001")
    assert posw.label_input(2, [bytes.fromhex("11111111")]) == bytes.fromhex("000000000000000211111111")
    parked = [bytes.fromhex("11111111"), b"", bytes.fromhex("33333333")]
    assert posw.label_input(3, parked) == bytes.fromhex("00000000000000031111111133333333")


@pytest.mark.parametrize(("n", "t", "size"), [(10, 5, 5), (10, 15, 10), (20, 15, 15), (151, 150, 150), (150, 150, 150)])
def test_go_fiat_shamir_sizes(n, t, size):
    idx = posw.fiat_shamir(b"\x07" * 32, n, t)
    assert len(idx) == size == len(set(idx))
    assert idx == sorted(idx) and 0 <= idx[0] and idx[-1] < n


def test_fiat_shamir_against_direct_computation():
    root = bytes(range(32))
    n, t = 12345, 20
    expected: list[int] = []
    j = 0
    while len(expected) < t:
        v = int(hashlib.sha256(root + bytes([0, 0, j >> 8, j & 255])).hexdigest()[:16], 16) % n
        if v not in expected:
            expected.append(v)
        j += 1
    assert posw.fiat_shamir(root, n, t) == sorted(expected)


# --- §5.3 depth-400 vectors -----------------------------------------------------------------


def reference_proof(n: int) -> PoetProof:
    """Labels from the hashlib reference, tree from IncrementalTree: what the prover must reproduce."""
    mh = posw.merkle_hash(CHALLENGE)
    layers: dict[int, list[bytes]] = {}
    tree = merkle.IncrementalTree(mh, on_node=lambda h, j, node: layers.setdefault(h, []).append(node))
    for i in range(n):
        tree.add(posw.leaf_label(CHALLENGE, i, tree.parked_nodes()))
    root = tree.root()
    idx = posw.fiat_shamir(root, n)
    nodes = merkle.proof_nodes(n, idx, lambda h, j: layers[h][j], mh)
    return PoetProof(MerkleProof(root, tuple(layers[0][i] for i in idx), tuple(nodes)), n)


def test_vector_150_leaves():
    proof = reference_proof(150)
    assert proof.merkle.root.hex() == "aa37a357d64153cc1e817057b9f300803bbc535c09e93e4526fd90d17263784f"
    assert posw.fiat_shamir(proof.merkle.root, 150) == list(range(150))
    assert proof.merkle.proof_nodes == (merkle.ZERO,) * 4
    assert proof.merkle.proven_leaves[0].hex() == "1ae76a359be94b11a6d6b8f0d5cec6b495e3ce9660649babec21607316b68eec"
    encoded = proof.encode()
    assert len(encoded) == 5120
    assert blake3.blake3(encoded).hexdigest() == "afe66a373d87685cda5c2994a2b126f256d163685afa76449ebe98ba284ce87c"
    assert PoetProof.decode(encoded) == proof
    posw.verify(CHALLENGE, proof)


def test_vector_1000_leaves():
    proof = reference_proof(1000)
    assert proof.merkle.root.hex() == "2c28ca6bfcb42605d5386114bedcb3056058ee771d8c4245b705a6150963fdb9"
    idx = posw.fiat_shamir(proof.merkle.root, 1000)
    assert idx[:8] == [23, 25, 26, 39, 41, 54, 56, 58] and idx[-1] == 998
    assert len(proof.merkle.proof_nodes) == 314
    assert proof.merkle.proof_nodes[0].hex() == "d90c7a5988738834ed36ee1f8d85c86f55fcc74992e5e946a09ebdd4f63bf28e"
    ref = "230ad0a6c863503a233496d280cb3fcb87623cd8cfdde8e6b2c73a791335d90a"
    assert blake3.blake3(proof.encode()).hexdigest() == ref
    posw.verify(CHALLENGE, proof)


# --- kernels against the model and each other ---------------------------------------------------


def run_kernel(kernel, statement, depth, n, batches):
    """Grow n leaves in the given batch sizes; collect each layer's nodes."""
    parked = bytearray(64 * 32)
    layers: dict[int, list[bytes]] = {}
    start = 0
    for count in batches:
        out = bytearray(32 * native.layer_offsets(start, count)[64])
        offsets = kernel.extend(statement, depth, start, parked, count, out)
        for h in range(64):
            for k in range(offsets[h], offsets[h + 1]):
                layers.setdefault(h, []).append(bytes(out[32 * k : 32 * k + 32]))
        start += count
    assert start == n
    return layers, parked


@pytest.mark.parametrize("kernel", kernels(), ids=KERNEL_IDS)
def test_kernel_builds_the_model_tree(kernel):
    rng = random.Random(11)
    statement = rng.randbytes(32)
    n, depth = 77, 3
    model = ModelTree(statement, n, depth)
    cuts = sorted(rng.sample(range(1, n), 6))
    batches = [b - a for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    layers, parked = run_kernel(kernel, statement, depth, n, batches)
    for h in range(7):
        assert layers[h] == [model.node(h, j) for j in range(n >> h)], h
    for h in range(7):
        if (n >> h) & 1:
            assert parked[32 * h : 32 * h + 32] == model.node(h, (n >> h) - 1)
    parked_list = [bytes(parked[32 * h : 32 * h + 32]) if (n >> h) & 1 else None for h in range(7)]
    assert merkle.root_from_parked(n, parked_list, posw.merkle_hash(statement)) == model.root()


@pytest.mark.parametrize("kernel", kernels()[1:], ids=KERNEL_IDS[1:])
def test_native_matches_reference_on_random_inputs(kernel):
    rng = random.Random(12)
    ref = posw.ReferenceKernel()
    for _ in range(60):
        statement = rng.randbytes(rng.choice([0, 1, 31, 32, 33, 55, 64, 100]))
        depth = rng.randint(1, 4)
        start = rng.choice([0, rng.randrange(1 << 10), rng.randrange(1 << 40), (1 << 62) + rng.randrange(1 << 20)])
        count = rng.randint(1, 40)
        parked = bytearray(rng.randbytes(64 * 32))
        size = 32 * native.layer_offsets(start, count)[64]
        out_ref, out_nat = bytearray(size), bytearray(size)
        p_ref, p_nat = bytearray(parked), bytearray(parked)
        assert ref.extend(statement, depth, start, p_ref, count, out_ref) == kernel.extend(
            statement, depth, start, p_nat, count, out_nat
        )
        assert out_nat == out_ref
        assert p_nat == p_ref


@pytest.mark.parametrize("kernel", kernels()[1:], ids=KERNEL_IDS[1:])
def test_native_hashes_match_hashlib(kernel):
    rng = random.Random(13)
    for length in [*range(0, 130), 200, 1000, 4096 + 7]:
        msg = rng.randbytes(length)
        assert kernel.sha256(msg) == sha(msg), length
    for _ in range(40):
        statement, data, depth = rng.randbytes(rng.randrange(70)), rng.randbytes(rng.randrange(300)), rng.randint(1, 6)
        assert kernel.label_hash(statement, data, depth) == posw.label_hash(statement, data, depth)
    digest = rng.randbytes(32)
    expected = digest
    for _ in range(1000):
        expected = sha(expected)
    assert kernel.chain(digest, 1000) == expected
    assert kernel.chain(digest, 0) == digest


def test_layer_offsets():
    # leaves 5..12 added: layer 0 gets those 8; layer 1 the nodes ending at leaves 5, 7, 9, 11
    # (j = 2..5); layer 2 those ending at 7 and 11 (j = 1, 2); layer 3 the one ending at 7
    offsets = native.layer_offsets(5, 8)
    assert offsets[:6] == [0, 8, 12, 14, 15, 15]
    assert offsets[64] == 15
    for start, count in [(0, 1), (1, 1), (3, 1), (1000, 777), ((1 << 50) - 3, 9)]:
        offsets = native.layer_offsets(start, count)
        for h in range(64):
            made = [i for i in range(start, start + count) if (i + 1) % (1 << h) == 0]  # complete node ends here
            assert offsets[h + 1] - offsets[h] == len(made), (start, count, h)


# --- proofs and the verifier ------------------------------------------------------------------


@pytest.mark.parametrize("n", [7, 8, 9, 16, 23, 40])
def test_small_proofs_verify(n):
    proof, _ = make_proof(b"small", n, 5, depth=2)
    posw.verify(b"small", proof, 5, depth=2)


def test_proof_with_all_leaves_opened():
    proof, model = make_proof(b"all", 6, 6, depth=2)
    assert proof.merkle.proven_leaves == tuple(model.leaves)
    assert proof.merkle.proof_nodes == (merkle.ZERO,)  # leaves 6 and 7 are padding
    posw.verify(b"all", proof, 6, depth=2)


def replace_merkle(proof: PoetProof, **changes) -> PoetProof:
    return dataclasses.replace(proof, merkle=dataclasses.replace(proof.merkle, **changes))


def flip(b: bytes, at: int = 0) -> bytes:
    return b[:at] + bytes([b[at] ^ 1]) + b[at + 1 :]


def test_verifier_rejects_tampering():
    x, t, depth = b"statement", 5, 3
    proof, _ = make_proof(x, 37, t, depth)
    posw.verify(x, proof, t, depth=depth)
    leaves, nodes = list(proof.merkle.proven_leaves), list(proof.merkle.proof_nodes)

    def rejects(bad: PoetProof, reason: str, **kw) -> None:
        with pytest.raises(PoswError, match=reason):
            posw.verify(kw.get("statement", x), bad, kw.get("t", t), depth=kw.get("depth", depth))

    for k in range(t):
        bad = tuple(leaves[:k] + [flip(leaves[k])] + leaves[k + 1 :])
        rejects(replace_merkle(proof, proven_leaves=bad), "do not lead to the root")
    for k in range(len(nodes)):
        rejects(replace_merkle(proof, proof_nodes=tuple(nodes[:k] + [flip(nodes[k], 31)] + nodes[k + 1 :])), "root")
    rejects(replace_merkle(proof, root=flip(proof.merkle.root)), "invalid PoET proof")
    rejects(replace_merkle(proof, root=proof.merkle.root[:31]), "root is 31 bytes")
    rejects(replace_merkle(proof, proof_nodes=tuple(nodes[:-1])), "invalid PoET proof")
    rejects(replace_merkle(proof, proof_nodes=tuple(nodes + [merkle.ZERO])), "do not lead to the root")
    rejects(replace_merkle(proof, proof_nodes=tuple([nodes[0][:31], *nodes[1:]])), "proof node 0 is 31 bytes")
    rejects(replace_merkle(proof, proven_leaves=tuple(leaves[:-1])), "4 proven leaves, expected 5")
    rejects(dataclasses.replace(proof, leaf_count=36), "invalid PoET proof")
    rejects(dataclasses.replace(proof, leaf_count=38), "invalid PoET proof")
    rejects(dataclasses.replace(proof, leaf_count=4), "fewer than")
    rejects(proof, "do not lead to the root", statement=b"statemenT")  # MH is salted: the root fails first
    rejects(proof, "label of leaf", depth=4)
    rejects(proof, "proven leaves, expected", t=6)
    rejects(proof, "proven leaves, expected", t=4)


def test_wrong_statement_is_rejected_at_the_root():
    proof, _ = make_proof(b"one", 20, 4, depth=2)
    with pytest.raises(PoswError, match="do not lead to the root"):
        posw.verify(b"two", proof, 4, depth=2)


def test_labels_are_checked_not_only_the_tree():
    # a tree with the right shape over made-up leaves: root and FS are consistent, labels are not
    x, n, t = b"lazy", 30, 4
    mh = posw.merkle_hash(x)
    fake = [bytes([i]) * 32 for i in range(n)]
    layers: dict[int, list[bytes]] = {}
    tree = merkle.IncrementalTree(mh, on_node=lambda h, j, node: layers.setdefault(h, []).append(node))
    tree.extend(fake)
    idx = posw.fiat_shamir(tree.root(), n, t)
    nodes = merkle.proof_nodes(n, idx, lambda h, j: layers[h][j], mh)
    proof = PoetProof(MerkleProof(tree.root(), tuple(fake[i] for i in idx), tuple(nodes)), n)
    with pytest.raises(PoswError, match=f"label of leaf {idx[0]} does not match"):
        posw.verify(x, proof, t, depth=2)


def test_poswerror_is_a_smesh_error():
    assert issubclass(PoswError, SmeshError)


def test_scale_layout_and_limits():
    mp = MerkleProof(root=b"\x01" * 32, proven_leaves=(b"\x02" * 32,), proof_nodes=(b"\x03" * 32, b"\x04" * 32))
    encoded = PoetProof(mp, 2**40).encode()
    # compact length 32 = 0x80, count 1 = 0x04, count 2 = 0x08;
    # 2^40 in the big compact form: (6 − 4) << 2 | 3, then 6 bytes little-endian
    assert encoded == (
        b"\x80" + b"\x01" * 32 + b"\x04\x80" + b"\x02" * 32 + b"\x08\x80" + b"\x03" * 32 + b"\x80" + b"\x04" * 32
        + bytes([0x0B, 0, 0, 0, 0, 0, 1])
    )
    assert PoetProof.decode(encoded) == PoetProof(mp, 2**40)
    too_many = Slice(Bytes(32), 151).encode((b"\x00" * 32,) * 151)
    with pytest.raises(DecodeError, match="exceeds the maximum 150"):
        PoetProof.decode(b"\x80" + b"\x01" * 32 + too_many + b"\x00\x00")
    with pytest.raises(DecodeError, match="trailing"):
        PoetProof.decode(encoded + b"\x00")


@settings(max_examples=60, deadline=None)
@given(
    root=st.binary(max_size=32),
    leaves=st.lists(st.binary(min_size=0, max_size=32), max_size=150),
    nodes=st.lists(st.binary(min_size=32, max_size=32), max_size=80),
    n=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_poet_proof_round_trips(root, leaves, nodes, n):
    proof = PoetProof(MerkleProof(root, tuple(leaves), tuple(nodes)), n)
    encoded = proof.encode()
    assert PoetProof.decode(encoded) == proof
    # the layout: three byte slices with compact prefixes, then the compact leaf count
    assert encoded.startswith(encode_compact(len(root)) + root)
    assert encoded.endswith(encode_compact(n))
