import pytest
from nacl.signing import SigningKey

from core.consensus.eligibility import EligibilityError, check_proofs, eligible_layers, num_slots, slot_message
from core.crypto import ecvrf
from core.types.ballot import VotingEligibility

KEY = SigningKey(b"\x0a" * 32)
PUB = bytes(KEY.verify_key)
BEACON = b"\x01\x02\x03\x04"


def test_slot_formula():
    # spec/node.md §3.2: one smesher with all the weight, standalone: 50 * 10 slots an epoch
    assert num_slots(1234, 1234, 0, 50, 10) == 500
    assert num_slots(1, 3, 0, 50, 10) == 166
    assert num_slots(1, 10**9, 0, 50, 10) == 1  # never zero
    assert num_slots(5, 10, 100, 50, 10) == 25  # min active weight dominates a small total


def test_layers_follow_the_vrf_output():
    layers = eligible_layers(bytes(KEY), BEACON, epoch=3, vrf_nonce=77, slots=20, layers_per_epoch=10)
    assert sum(len(p) for p in layers.values()) == 20
    for layer, proofs in layers.items():
        assert 30 <= layer < 40
        for proof in proofs:
            message = bytes([3 << 2]) + BEACON + bytes([3 << 2]) + bytes.fromhex("3501") + bytes([proof.j << 2])
            assert slot_message(BEACON, 3, 77, proof.j) == message
            assert ecvrf.verify(PUB, proof.sig, message)
            assert 30 + int.from_bytes(proof.sig[:8], "little") % 10 == layer
        check_proofs(PUB, proofs, layer, BEACON, 77, 20, 10)


def test_invalid_proofs_are_rejected():
    layers = eligible_layers(bytes(KEY), BEACON, epoch=2, vrf_nonce=5, slots=30, layers_per_epoch=10)
    layer, proofs = next((l, p) for l, p in layers.items() if len(p) >= 2)
    other_layer = next(l for l in layers if l != layer)
    cases = [
        ((), layer, 30, "no eligibility"),
        (proofs[::-1], layer, 30, "ascending"),
        (proofs, other_layer, 30, "another layer"),
        (proofs, layer, proofs[-1].j, "not below"),
        ((VotingEligibility(proofs[0].j, bytes(80)),), layer, 30, "does not verify"),
    ]
    for given, at, slots, message in cases:
        with pytest.raises(EligibilityError, match=message):
            check_proofs(PUB, given, at, BEACON, 5, slots, 10)
    with pytest.raises(EligibilityError, match="does not verify"):
        check_proofs(PUB, proofs, layer, b"\x00" * 4, 5, 30, 10)  # another beacon
