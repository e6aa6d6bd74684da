"""The e2e reference helpers reproduce spec/wallet.md vectors, so their other results can be trusted."""

from mnemonic import Mnemonic

from tests.core.tx.test_vectors import K2_MNEMONIC, K2_PUB, K2_SEED, K2B_PUB
from tests.e2e import independent as ref

K2_SM = "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
K2_STEST = "stest1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8qha56t0"
MULTISIG_2OF2 = "sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3"


def test_slip10_matches_k2_vectors():
    key = ref.slip10_key(K2_MNEMONIC, 0)
    assert bytes(key) == K2_SEED
    assert key.verify_key.encode() == K2_PUB
    assert ref.slip10_key(K2_MNEMONIC, 1).verify_key.encode() == K2B_PUB


def test_addresses_match_spec():
    assert ref.encode(ref.principal(ref.WALLET, K2_PUB), "sm") == K2_SM
    assert ref.encode(ref.principal(ref.WALLET, K2_PUB), "stest") == K2_STEST
    assert ref.encode(ref.principal(ref.MULTISIG, b"\x08\x08" + K2_PUB + K2B_PUB), "sm") == MULTISIG_2OF2
    # §2.2 template address table
    assert ref.encode(ref.template_address(ref.VESTING), "sm") == "sm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqcpmve3d"
    assert ref.encode(ref.template_address(ref.VAULT), "stest") == "stest1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpqcxk0lu"
    assert ref.decode(K2_SM) == ("sm", ref.principal(ref.WALLET, K2_PUB))


def test_bip39_checksum():
    words = Mnemonic("english").wordlist
    assert ref.bip39_checksum_ok(K2_MNEMONIC.split(), words)
    assert not ref.bip39_checksum_ok(["abandon"] * 12, words)
    assert ref.bip39_checksum_ok(["abandon"] * 11 + ["about"], words)
