import dataclasses

import pytest
from nacl.signing import SigningKey

from core.activation.validation import AtxError, AtxInfo, AtxRules, Malfeasance, validate_atx
from core.types.atx import ATXV1, EMPTY_ID, InnerATXV1, MerkleProofV1, NIPostChallengeV1, NIPostV1, PostMetadataV1, PostV1

GENESIS = b"\x01" * 20
GOLDEN = b"\x60" * 32
KEY = SigningKey(b"\x05" * 32)
NODE = bytes(KEY.verify_key)
COINBASE = bytes(4) + b"\xcc" * 20
RULES = AtxRules(GENESIS, GOLDEN, tick_size=100, labels_per_unit=64, min_num_units=1, max_num_units=4)
POET_REF = b"\x70" * 32


class Known:
    def __init__(self, *infos: AtxInfo) -> None:
        self.atxs = {i.id: i for i in infos}

    def get(self, atx_id):
        return self.atxs.get(atx_id)

    def by_identity(self, node_id, epoch):
        return next((i for i in self.atxs.values() if i.node_id == node_id and i.publish_epoch == epoch), None)


@dataclasses.dataclass
class Proofs:
    leaves: int = 1234
    bad_post: bool = False
    calls: list = dataclasses.field(default_factory=list)

    def poet_leaves(self, ref, challenge_hash, nodes, index):
        self.calls.append(("poet", ref, challenge_hash))
        return self.leaves

    def check_post(self, node_id, commitment, post, challenge, units, lpu):
        self.calls.append(("post", challenge, units))
        if self.bad_post:
            raise AtxError("PoST proof is invalid")

    def check_vrf_nonce(self, node_id, commitment, nonce, units, lpu):
        self.calls.append(("vrf", nonce, units))


def atx(epoch=1, seq=0, prev=EMPTY_ID, pos=GOLDEN, units=2, first=True, vrf=31, key=KEY) -> ATXV1:
    challenge = NIPostChallengeV1(
        epoch, seq, prev, pos, GOLDEN if first else None, PostV1(0, b"\x01", 0) if first else None
    )
    nipost = NIPostV1(MerkleProofV1((), 0), PostV1(1, b"\x02", 3), PostMetadataV1(POET_REF, 64))
    node = bytes(key.verify_key)
    inner = InnerATXV1(challenge, COINBASE, units, nipost, node if first else None, vrf)
    return ATXV1.sign(inner, bytes(key), node, GENESIS)


def test_first_atx_weight_and_proof_checks():
    a = atx()
    proofs = Proofs()
    info = validate_atx(a, current_epoch=1, rules=RULES, known=Known(), proofs=proofs)
    assert (info.num_units, info.tick_count, info.base_tick_height) == (2, 12, 0)  # 1234 leaves // 100
    assert info.weight == 24 and info.tick_height == 12 and info.target_epoch == 2
    assert ("post", bytes(32), 2) in proofs.calls  # the initial PoST, on the zero challenge
    assert ("post", POET_REF, 2) in proofs.calls  # the NIPoST's PoST, on the PoET proof reference
    assert ("poet", POET_REF, a.inner.challenge.hash) in proofs.calls
    assert ("vrf", 31, 2) in proofs.calls


def test_next_atx_takes_min_units_and_positioning_height():
    first = validate_atx(atx(), 1, RULES, Known(), Proofs())
    second = atx(epoch=2, seq=1, prev=first.id, pos=first.id, units=4, first=False, vrf=None)
    proofs = Proofs(leaves=500)
    info = validate_atx(second, 2, RULES, Known(first), proofs)
    assert info.num_units == 2  # min(previous 2, declared 4)
    assert info.base_tick_height == first.tick_height and info.tick_count == 5
    assert info.vrf_nonce == 31 and info.commitment_atx == GOLDEN
    assert ("vrf", 31, 4) in proofs.calls  # more units declared: the nonce is re-checked


def test_double_publish_is_malfeasance():
    first = validate_atx(atx(), 1, RULES, Known(), Proofs())
    other = atx(units=1)
    with pytest.raises(Malfeasance) as info:
        validate_atx(other, 1, RULES, Known(first), Proofs())
    assert info.value.node_id == NODE and info.value.evidence == (first.id, other.id)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: atx(epoch=5), "too far ahead"),
        (lambda: atx(units=9), "outside"),
        (lambda: atx(pos=EMPTY_ID), "positioning"),
        (lambda: atx(pos=b"\x99" * 32), "positioning ATX is unknown"),
        (lambda: atx(seq=1), "first ATX needs"),
        (lambda: atx(vrf=None), "first ATX needs"),
        (lambda: atx(epoch=2, seq=1, prev=b"\x42" * 32, first=False), "previous ATX is unknown"),
    ],
)
def test_invalid_atxs(make, message):
    with pytest.raises(AtxError, match=message):
        validate_atx(make(), 1, RULES, Known(), Proofs())


def test_bad_signature_and_bad_post():
    good = atx()
    forged = dataclasses.replace(good, signature=bytes(64))
    with pytest.raises(AtxError, match="signature"):
        validate_atx(forged, 1, RULES, Known(), Proofs())
    with pytest.raises(AtxError, match="PoST"):
        validate_atx(good, 1, RULES, Known(), Proofs(bad_post=True))


def test_previous_atx_of_someone_else():
    other_key = SigningKey(b"\x06" * 32)
    theirs = validate_atx(atx(key=other_key), 1, RULES, Known(), Proofs())
    mine = atx(epoch=2, seq=1, prev=theirs.id, first=False)
    with pytest.raises(AtxError, match="another identity"):
        validate_atx(mine, 2, RULES, Known(theirs), Proofs())
