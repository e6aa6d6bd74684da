"""AtxHandler: received ATXs through validate_atx with the real proofs, storage, malfeasance, subscribers."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from core.activation.atxstore import AtxStore
from core.activation.handler import MULTIPLE_ATXS, AtxHandler, MalfeasanceProof, MissingDependencies, atx_rules
from core.activation.proofs import AtxProofChecker, PoetProofStore
from core.activation.validation import AtxError, Malfeasance
from core.mesh.store import MeshStore
from core.types.atx import ATXV1
from tests.core.activation.test_proofs import CONFIG, GENESIS_ID, Smesher, signed_atx


@dataclasses.dataclass
class Node:
    """One node's activation side: stores, checker, handler and what its subscribers heard."""

    mesh: MeshStore
    atxs: AtxStore
    poets: PoetProofStore
    handler: AtxHandler
    heard: list
    malicious: list
    epoch: list


@pytest.fixture(scope="module")
def smesher(tmp_path_factory):
    return Smesher(b"\x31" * 32, tmp_path_factory.mktemp("post"))


@pytest.fixture
def node(tmp_path):
    mesh = MeshStore(tmp_path / "state.sql")
    atxs, poets = AtxStore(mesh), PoetProofStore(mesh)
    epoch = [1]
    # K3 = K2: every index of a PoST is re-checked, so a bad proof is rejected for sure, not with odds K3/K2
    proofs = AtxProofChecker.from_config(dataclasses.replace(CONFIG, k3=CONFIG.k2), poets)
    handler = AtxHandler(atx_rules(CONFIG), lambda: epoch[0], atxs, proofs, poets)
    n = Node(mesh, atxs, poets, handler, [], [], epoch)
    handler.subscribe(on_atx=n.heard.append, on_malicious=n.malicious.append)
    yield n
    mesh.close()


def handle(node: Node, atx: ATXV1):
    return asyncio.run(node.handler.handle_gossip(atx.encode()))


def test_a_valid_atx_is_stored_weighed_and_announced(node, smesher, tmp_path):
    atx = signed_atx(smesher, node.poets, tmp_path / "poet", leaves=237)
    info = handle(node, atx)
    assert info.id == atx.id and info.node_id == smesher.node_id and info.publish_epoch == 1
    assert (info.num_units, info.tick_count, info.weight) == (1, 23, 23)  # 237 leaves // tick size 10
    assert node.atxs.get(atx.id) == info
    assert node.atxs.blob(atx.id) == atx.encode()
    assert node.atxs.epoch_weights(2) == {atx.id: 23}
    assert node.heard == [info]
    assert handle(node, atx) is None  # known: nothing to relay, nobody told twice
    assert node.heard == [info]


def test_double_publish_is_recorded_and_zeroes_the_weight(node, smesher, tmp_path):
    first = signed_atx(smesher, node.poets, tmp_path / "p1")
    second = signed_atx(smesher, node.poets, tmp_path / "p2", coinbase=bytes(4) + b"\x02" * 20)
    assert first.id != second.id
    handle(node, first)
    with pytest.raises(Malfeasance, match="two ATXs in one publish epoch"):
        handle(node, second)
    assert node.atxs.is_malicious(smesher.node_id)
    assert node.malicious == [smesher.node_id]
    assert node.atxs.epoch_weights(2) == {first.id: 0}
    assert node.atxs.get(second.id) is None
    proof = MalfeasanceProof.decode(node.atxs.malfeasance_proof(smesher.node_id))
    assert proof.kind == MULTIPLE_ATXS
    # the evidence is both signed ATXs: anyone can check the signatures and the epochs
    a, b = ATXV1.decode(proof.first), ATXV1.decode(proof.second)
    assert {a.id, b.id} == {first.id, second.id}
    assert a.publish_epoch == b.publish_epoch and a.smesher_id == b.smesher_id == smesher.node_id
    assert a.verify_signature(GENESIS_ID) and b.verify_signature(GENESIS_ID)


@pytest.mark.parametrize("kind", ["proof for another challenge", "truncated indices"])
def test_an_invalid_post_is_rejected(node, smesher, tmp_path, kind):
    post = smesher.prove(b"\x99" * 32)  # a real proof, but for another challenge than the PoET reference
    if kind == "truncated indices":
        post = dataclasses.replace(post, indices=post.indices[:-1])
    atx = signed_atx(smesher, node.poets, tmp_path / "poet", post=post)
    with pytest.raises(AtxError, match="invalid PoST proof"):
        handle(node, atx)
    assert node.atxs.get(atx.id) is None and node.heard == []
    assert not node.atxs.is_malicious(smesher.node_id)


def test_a_membership_path_that_does_not_lead_to_the_statement(node, smesher, tmp_path):
    atx = signed_atx(smesher, node.poets, tmp_path / "poet")
    nipost = atx.inner.nipost
    wrong = dataclasses.replace(nipost, membership=dataclasses.replace(nipost.membership, leaf_index=0))
    inner = dataclasses.replace(atx.inner, nipost=wrong)
    forged = ATXV1.sign(inner, smesher.secret, smesher.node_id, GENESIS_ID)
    with pytest.raises(AtxError, match="not a member"):
        handle(node, forged)
    assert node.atxs.get(forged.id) is None


def test_missing_poet_proof_and_atxs_are_named(node, smesher, tmp_path):
    other_mesh = MeshStore(tmp_path / "other.sql")
    atx = signed_atx(smesher, PoetProofStore(other_mesh), tmp_path / "poet")  # proof kept elsewhere
    with pytest.raises(MissingDependencies) as missing:
        handle(node, atx)
    assert missing.value.poet_refs == (atx.inner.nipost.post_metadata.challenge,)
    assert missing.value.atx_ids == ()
    other_mesh.close()
    challenge = dataclasses.replace(atx.inner.challenge, positioning_atx_id=b"\x44" * 32)
    inner = dataclasses.replace(atx.inner, challenge=challenge)
    with pytest.raises(MissingDependencies) as missing:
        handle(node, ATXV1.sign(inner, smesher.secret, smesher.node_id, GENESIS_ID))
    assert missing.value.atx_ids == (b"\x44" * 32,)


def test_malformed_and_forged_atxs(node, smesher, tmp_path):
    atx = signed_atx(smesher, node.poets, tmp_path / "poet")
    with pytest.raises(AtxError, match="malformed ATX"):
        asyncio.run(node.handler.handle_gossip(atx.encode()[:-1]))
    with pytest.raises(AtxError, match="signature"):
        handle(node, dataclasses.replace(atx, signature=bytes(64)))
    node.epoch[0] = -1  # published too far ahead of our clock
    with pytest.raises(AtxError, match="too far ahead"):
        handle(node, atx)
    assert node.heard == []


def test_own_atx_goes_through_the_same_path(node, smesher, tmp_path):
    atx = signed_atx(smesher, node.poets, tmp_path / "poet")
    info = asyncio.run(node.handler.handle_own(atx))
    assert node.atxs.get(atx.id) == info and node.heard == [info]
    assert asyncio.run(node.handler.handle_own(atx)) == info  # idempotent
