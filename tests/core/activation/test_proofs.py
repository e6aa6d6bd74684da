"""The real ProofChecker: PoST through core.post, VRF nonce, PoET proofs by reference and membership.

Everything is real and small: PoST data of 64 labels (scrypt N = 16) for fixed identities, PoET
proofs from the real prover at depth 400 with 200 leaves.  The helpers here also serve
test_handler.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.activation.proofs import AtxProofChecker, PoetProofMessage, PoetProofStore, UnknownPoetProof, post_verify_params
from core.activation.validation import AtxError
from core.config.node import STANDALONE
from core.crypto.signing import public_key_of
from core.mesh.store import MeshStore
from core.poet.client import ProofResponse, verify_proof
from core.poet.membership import membership_root
from core.poet.prover import Prover
from core.poet.service import proof_parts
from core.post.init import Initializer, InitOptions
from core.post.labels import get_backend, scrypt_output
from core.post.params import STANDALONE as POST_STANDALONE
from core.post.prove import generate_proof
from core.types.atx import ATXV1, EMPTY_ID, InnerATXV1, MerkleProofV1, NIPostChallengeV1, NIPostV1, PostMetadataV1, PostV1

CONFIG = dataclasses.replace(STANDALONE, genesis_time=1_700_000_000, scrypt_n=16, tick_size=10)
GOLDEN = CONFIG.golden_atx
GENESIS_ID = CONFIG.genesis_id
COINBASE = bytes(4) + b"\xcb" * 20


class Smesher:
    """An identity with real PoST data (1 unit of 64 labels, scrypt N = 16)."""

    def __init__(self, seed: bytes, datadir: Path, commitment: bytes = GOLDEN) -> None:
        self.secret = seed
        self.node_id = public_key_of(seed)
        self.commitment = commitment
        self.datadir = datadir
        options = InitOptions(datadir, self.node_id, commitment, 1, CONFIG.labels_per_unit, 1024, CONFIG.scrypt_n)
        self.vrf_nonce = Initializer(options, get_backend("cpu")).run().metadata.nonce

    def prove(self, challenge: bytes) -> PostV1:
        p = generate_proof(
            self.datadir, challenge, k1=CONFIG.k1, k2=CONFIG.k2, pow_difficulty=POST_STANDALONE.pow_difficulty,
            randomx_mode="light",
        ).proof  # fmt: skip
        return PostV1(p.nonce, p.indices, p.pow)


def poet_round(members: list[bytes], workdir: Path, leaves: int = 200, round_id: str = "0") -> ProofResponse:
    """A real PoET round over `members` (already in PoET order), as `GET /v1/proofs` returns it."""
    prover = Prover(membership_root(members), workdir)
    prover.run(max_leaves=leaves)
    root, proven, nodes, n = proof_parts(prover.proof())
    return ProofResponse(round_id, root, proven, nodes, tuple(members), n, b"P" * 32)


def signed_atx(
    smesher: Smesher,
    poets: PoetProofStore,
    workdir: Path,
    *,
    publish_epoch: int = 1,
    coinbase: bytes = COINBASE,
    others: tuple[bytes, ...] = (b"\x11" * 32,),
    leaves: int = 200,
    post: PostV1 | None = None,
) -> ATXV1:
    """A first ATX with a real initial PoST, PoET proof (stored in `poets`) and NIPoST PoST."""
    initial = smesher.prove(bytes(32))
    challenge = NIPostChallengeV1(publish_epoch, 0, EMPTY_ID, GOLDEN, smesher.commitment, initial)
    members = [*others, challenge.hash]
    verified = verify_proof(poet_round(members, workdir, leaves), challenge.hash)
    poets.add_verified(verified)
    nipost = NIPostV1(
        MerkleProofV1(verified.membership_path, verified.member_index),
        post if post is not None else smesher.prove(verified.ref),
        PostMetadataV1(verified.ref, CONFIG.labels_per_unit),
    )
    inner = InnerATXV1(challenge, coinbase, 1, nipost, smesher.node_id, smesher.vrf_nonce)
    return ATXV1.sign(inner, smesher.secret, smesher.node_id, GENESIS_ID)


# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smesher(tmp_path_factory):
    return Smesher(b"\x21" * 32, tmp_path_factory.mktemp("post"))


@pytest.fixture(scope="module")
def round3(tmp_path_factory):
    """Three members; the middle one has a two-node path."""
    members = [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32]
    return members, poet_round(members, tmp_path_factory.mktemp("poet"), leaves=300, round_id="7")


@pytest.fixture
def mesh(tmp_path):
    m = MeshStore(tmp_path / "state.sql")
    yield m
    m.close()


def checker(poets: PoetProofStore, **changes) -> AtxProofChecker:
    return AtxProofChecker(dataclasses.replace(post_verify_params(CONFIG), **changes), poets)


# -- PoST ----------------------------------------------------------------------------------------


def test_verify_params_follow_the_network_config():
    p = post_verify_params(CONFIG)
    assert (p.k1, p.k2, p.k3, p.labels_per_unit, p.scrypt_n) == (12, 4, 1, 64, 16)
    assert (p.min_num_units, p.max_num_units) == (1, 2)
    assert p.pow_difficulty == b"\xff" * 32  # the standalone k2pow difficulty


@pytest.mark.parametrize("k3", [1, 4])  # gossip subset and full verification
def test_a_real_post_proof_passes(smesher, mesh, k3):
    challenge = b"\x42" * 32
    post = smesher.prove(challenge)
    checker(PoetProofStore(mesh), k3=k3).check_post(smesher.node_id, GOLDEN, post, challenge, 1, 64)


def test_post_proof_bound_to_challenge_identity_and_data(smesher, mesh):
    challenge = b"\x42" * 32
    post = smesher.prove(challenge)
    full = checker(PoetProofStore(mesh), k3=4)
    other = public_key_of(b"\x22" * 32)
    cases = {
        "another challenge": (smesher.node_id, GOLDEN, post, b"\x43" * 32, 1),
        "another identity": (other, GOLDEN, post, challenge, 1),
        "another commitment": (smesher.node_id, b"\x61" * 32, post, challenge, 1),
        "another nonce": (smesher.node_id, GOLDEN, dataclasses.replace(post, nonce=post.nonce ^ 1), challenge, 1),
        "too many units": (smesher.node_id, GOLDEN, post, challenge, 3),
        "indices of another length": (smesher.node_id, GOLDEN, dataclasses.replace(post, indices=post.indices + b"\0"),
                                      challenge, 1),
    }  # fmt: skip
    for name, (node, commitment, p, ch, units) in cases.items():
        with pytest.raises(AtxError, match="invalid PoST proof"):
            full.check_post(node, commitment, p, ch, units, 64)
            pytest.fail(name)


# -- VRF nonce -----------------------------------------------------------------------------------


def test_vrf_nonce(smesher, mesh):
    c = checker(PoetProofStore(mesh))
    c.check_vrf_nonce(smesher.node_id, GOLDEN, smesher.vrf_nonce, 1, 64)
    # a label above the target (2^256 / 64 · 8), found with the plain-Python reference labels
    from core.crypto.hashing import hash32

    commitment = hash32(smesher.node_id, GOLDEN)
    target = ((1 << 256) // 64) << 3
    bad = next(i for i in range(64) if int.from_bytes(scrypt_output(commitment, i, 16)[:32], "big") >= target)
    with pytest.raises(AtxError, match="invalid VRF nonce"):
        c.check_vrf_nonce(smesher.node_id, GOLDEN, bad, 1, 64)


# -- PoET ----------------------------------------------------------------------------------------


def test_poet_membership_through_the_store(mesh, round3):
    members, resp = round3
    verified = verify_proof(resp, members[1])
    poets = PoetProofStore(mesh)
    ref = poets.add_verified(verified)
    c = checker(poets)
    assert len(verified.membership_path) == 2
    assert c.poet_leaves(ref, members[1], verified.membership_path, 1) == 300
    with pytest.raises(AtxError, match="not a member"):
        c.poet_leaves(ref, members[1], verified.membership_path, 0)  # wrong position
    with pytest.raises(AtxError, match="not a member"):
        c.poet_leaves(ref, b"\x09" * 32, verified.membership_path, 1)  # not registered
    with pytest.raises(UnknownPoetProof) as unknown:
        c.poet_leaves(b"\x77" * 32, members[1], verified.membership_path, 1)
    assert unknown.value.ref == b"\x77" * 32


def test_poet_proofs_persist_by_reference(tmp_path, round3):
    members, resp = round3
    verified = verify_proof(resp, members[0])
    mesh = MeshStore(tmp_path / "state.sql")
    ref = PoetProofStore(mesh).add_verified(verified)
    mesh.close()
    mesh = MeshStore(tmp_path / "state.sql")
    stored = PoetProofStore(mesh).get(ref)
    assert stored.poet_proof == verified.proof and stored.statement == membership_root(members)
    assert stored.round_id == "7" and stored.poet_service_id == b"P" * 32
    row = mesh.conn.execute("SELECT round_id, service_id FROM poets WHERE ref = ?", (ref,)).fetchone()
    assert row == ("7", b"P" * 32)
    mesh.close()


def test_peer_messages_are_checked_before_they_are_kept(tmp_path, round3):
    members, resp = round3
    verified = verify_proof(resp, members[0])
    source = MeshStore(tmp_path / "a.sql")
    ref = PoetProofStore(source).add_verified(verified)
    data = PoetProofStore(source).message_bytes(ref)
    mesh = MeshStore(tmp_path / "b.sql")
    poets = PoetProofStore(mesh)
    assert poets.add_message(data, expected_ref=ref) == ref
    assert poets.get(ref).poet_proof == verified.proof

    message = PoetProofMessage.decode(data)
    more_leaves = dataclasses.replace(message.poet_proof, leaf_count=message.poet_proof.leaf_count + 1)
    forged = dataclasses.replace(message, poet_proof=more_leaves)
    fresh = PoetProofStore(MeshStore(tmp_path / "c.sql"))
    with pytest.raises(AtxError, match="invalid PoET proof"):
        fresh.add_message(forged.encode())
    with pytest.raises(AtxError, match="not the requested"):
        fresh.add_message(data, expected_ref=b"\x01" * 32)
    other_statement = dataclasses.replace(message, statement=b"\x05" * 32)
    with pytest.raises(AtxError, match="invalid PoET proof"):
        fresh.add_message(other_statement.encode())
    with pytest.raises(AtxError, match="malformed"):
        fresh.add_message(data[:-3])
    assert not fresh.has(forged.ref) and not fresh.has(ref)
    for m in (source, mesh, fresh.mesh):
        m.close()
