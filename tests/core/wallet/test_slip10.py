"""SLIP-10 ed25519 derivation and HD paths (spec §1.2, §1.3, vectors §5.1)."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.wallet.slip10 import (
    HARDENED,
    KeyPair,
    account_path,
    derive,
    format_path,
    keypair_from_mnemonic,
    master_key,
    parse_path,
)

K2 = "film theme cheese broken kingdom destroy inch ready wear inspire shove pudding"
ABANDON_ABOUT = " ".join(["abandon"] * 11 + ["about"])
SLIP10_SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


def _public_of(seed32: bytes) -> bytes:
    """Public key computed with `cryptography`, independently of the module's pynacl."""
    return Ed25519PrivateKey.from_private_bytes(seed32).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- SLIP-10 published vectors (ed25519, test vector 1) ---------------------------------------


def test_slip10_master():
    node = master_key(SLIP10_SEED)
    assert node.key.hex() == "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7"
    assert node.chain_code.hex() == "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb"


def test_slip10_first_hardened_child():
    pair = derive(SLIP10_SEED, "m/0'")
    assert pair.seed.hex() == "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"
    assert pair.public_key.hex() == "8c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c"


def test_slip10_deep_path():
    pair = derive(SLIP10_SEED, "m/0'/1'/2'/2'/1000000000'")
    assert pair.seed.hex() == "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793"
    assert pair.public_key.hex() == "3c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a"
    assert pair.path == "m/0'/1'/2'/2'/1000000000'"


# --- Spacemesh vectors ------------------------------------------------------------------------


def test_k1_raw_seed():
    seed = b"abandon abandon abandon abandon abandon abandon abandon abandon "
    assert len(seed) == 64
    pair = derive(seed, "m/44'/540'/0'/0'/0'")
    pub = "feae6977b42bf3441d04314d09c72c5d6f2d1cb4bf94834680785b819f8738dd"
    assert pair.public_key.hex() == pub
    assert pair.secret_key.hex() == "05fe9affa5562ca833faf3803ce5f6f7615d3c37c4a27903492027f6853e486d" + pub


def test_k2_account_0():
    pair = keypair_from_mnemonic(K2, 0)
    pub = "de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6"
    assert pair.public_key.hex() == pub
    assert pair.secret_key.hex() == "cd85df73aa3bc31de2f0b69bb1421df7eb0cdca7cb170a457869ab337749dae1" + pub
    assert pair.path == "m/44'/540'/0'/0'/0'"


def test_k2_master_keypair():
    from core.wallet.mnemonic import mnemonic_to_seed

    pair = derive(mnemonic_to_seed(K2), "m/44'/540'/0'/0'")
    assert pair.public_key.hex() == "0b88a7066458f62878b7bc8ae5e61de9e3d626dd00a556b9207441e62a9b6b7b"


def test_k2_account_1():
    assert keypair_from_mnemonic(K2, 1).public_key.hex() == (
        "3e53ca89fae03e6e9477f0fdc3abf994d1885007a73d136f4122a260a70348cd"
    )


def test_a1_account_0():
    assert keypair_from_mnemonic(ABANDON_ABOUT, 0).public_key.hex() == (
        "f628d5733ba18640769ea46a24000be53a42fbfef0cd2c826044bbc640d119e2"
    )


def test_path_given_as_indices_equals_string():
    indices = (44 | HARDENED, 540 | HARDENED, HARDENED, HARDENED, HARDENED)
    assert derive(SLIP10_SEED, indices) == derive(SLIP10_SEED, "m/44'/540'/0'/0'/0'")


def test_keypair_layout_and_public_key_match_independent_ed25519():
    pair = derive(SLIP10_SEED, "m/44'/540'/0'/0'/7'")
    assert len(pair.secret_key) == 64 and len(pair.public_key) == 32
    assert pair.secret_key[32:] == pair.public_key
    assert pair.seed == pair.secret_key[:32]
    assert pair.public_key == _public_of(pair.seed)


def test_repr_hides_secret_key():
    pair = derive(SLIP10_SEED, "m/0'")
    assert pair.secret_key.hex() not in repr(pair)
    assert repr(pair.secret_key) not in repr(pair)
    assert repr(pair.seed) not in repr(pair)


def test_keypair_is_frozen():
    pair = derive(SLIP10_SEED, "m/0'")
    with pytest.raises(AttributeError):
        pair.path = "m/1'"  # type: ignore[misc]
    assert isinstance(pair, KeyPair)


# --- seeds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 15, 65, 128])
def test_seed_length_out_of_range(length):
    with pytest.raises(InvalidInput):
        derive(bytes(length), "m/0'")


@pytest.mark.parametrize("length", [16, 32, 64])
def test_seed_length_in_range(length):
    assert len(derive(bytes(length), "m/0'").public_key) == 32


# --- paths ------------------------------------------------------------------------------------


def test_parse_path():
    assert parse_path("m/44'/540'/0'/0'/0'") == (
        0x8000002C,
        0x8000021C,
        0x80000000,
        0x80000000,
        0x80000000,
    )


def test_format_path_inverse():
    assert format_path((0x8000002C, 0x8000021C, 0x80000000, 0x80000000, 0x80000005)) == "m/44'/540'/0'/0'/5'"
    assert format_path(()) == "m"


def test_account_path():
    assert account_path(0) == "m/44'/540'/0'/0'/0'"
    assert account_path(127) == "m/44'/540'/0'/0'/127'"


@pytest.mark.parametrize("index", [-1, 2**31, True, "0", 1.0])
def test_account_path_rejects_bad_index(index):
    with pytest.raises(InvalidInput):
        account_path(index)


def test_non_hardened_element_is_rejected_with_reason():
    with pytest.raises(InvalidInput, match="not hardened"):
        parse_path("m/44'/540'/0'/0/0'")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "m",
        "m/",
        "44'/540'/0'/0'/0'",
        "M/44'",
        " m/44'",
        "m/44'/",
        "m/44''",
        "m/-1'",
        "m/44h",
        "m/44'/540'/a'",
        "m//0'",
        "m/2147483648'",
        "m/99999999999999999999'",
    ],
)
def test_malformed_paths(bad):
    with pytest.raises(InvalidInput):
        parse_path(bad)


def test_largest_hardened_index():
    assert parse_path("m/2147483647'") == (0xFFFFFFFF,)


@pytest.mark.parametrize("indices", [(0,), (44, 0x8000021C), (2**32,), (-1,)])
def test_format_path_rejects_non_hardened_or_out_of_range(indices):
    with pytest.raises(InvalidInput):
        format_path(indices)


@pytest.mark.parametrize("indices", [(0,), (0x80000000, 1)])
def test_derive_rejects_non_hardened_indices(indices):
    with pytest.raises(InvalidInput):
        derive(SLIP10_SEED, indices)


@given(st.lists(st.integers(min_value=0, max_value=2**31 - 1), min_size=1, max_size=8))
def test_path_round_trip(elements):
    text = "m" + "".join(f"/{e}'" for e in elements)
    indices = parse_path(text)
    assert indices == tuple(e | HARDENED for e in elements)
    assert format_path(indices) == text
