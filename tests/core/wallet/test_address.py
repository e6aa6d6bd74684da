"""Addresses: spec/wallet.md §2.1–2.2 vectors, go-spacemesh's error vectors, and strict decoding."""

import bech32
import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import AddressError
from core.tx.templates import Template, wallet_principal
from core.wallet.address import decode_address, encode_address

# spec/wallet.md §2.2: template addresses = 23 zero bytes ‖ id
TEMPLATE_TABLE = [
    (1, "sm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqg56ypy7", "stest1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqgf0ae28"),
    (2, "sm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsl0g40s", "stest1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsz63dpf"),
    (3, "sm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqcpmve3d", "stest1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqcuw4pl5"),
    (4, "sm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpq9n0h39", "stest1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpqcxk0lu"),
]

# spec/wallet.md §5.1
K2_PUB = bytes.fromhex("de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6")
K2_SM = "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
K2_STEST = "stest1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8qha56t0"
K2B_PUB = bytes.fromhex("3e53ca89fae03e6e9477f0fdc3abf994d1885007a73d136f4122a260a70348cd")
K2B_SM = "sm1qqqqqqygmz2nnr7ush67yx7g4mmksm979m3a0xcphk3pt"
A1_PUB = bytes.fromhex("f628d5733ba18640769ea46a24000be53a42fbfef0cd2c826044bbc640d119e2")
A1_SM = "sm1qqqqqqqlgfpwap59jlwmre4p9xrlk8fenfnlsrqva0uyp"

# go-spacemesh common/types/address_test.go (spec/wallet.md §2.1)
GO_VALID = "stest1qqqqqqy0dd83jemjmfj3ghjndxm0ndh0z2rymaqyp0gu3"
GO_NO_RESERVED = "stest1fejq2x3d79ukpkw06t7h6lndjuwzxdnj59npghsg43mh4"
GO_BAD_CHARSET = "stest1fejq2x3d79ukpkw06t7h6lniobuwzxdnj59nphsywyusj"
GO_MISSING_HRP = "1fejq2x3d79ukpkw06t7h6lniobuwzxdnj59nphsywyusj"
GO_TOO_LONG = "stest1qw508d6e1qejxtdg4y5r3zarvax8wucu"
GO_TOO_SHORT = "stest1qw504y5r3zarva2v6vda"
GO_WRONG_HRP = "sut1fejq2x3d79ukpkw06t7h6lndjuwzxdnj59npghsldfkky"


def _bech32_of(address: bytes, hrp: str) -> str:
    """Independent encoding: 8→5 bits with padding, classic bech32 checksum."""
    return bech32.bech32_encode(hrp, bech32.convertbits(address, 8, 5, True))


def _independent_wallet_principal(pub: bytes) -> bytes:
    digest = blake3.blake3(bytes(23) + b"\x01" + pub).digest()
    return bytes(4) + digest[12:]


# ---------------------------------------------------------------------------------------------
# vectors


@pytest.mark.parametrize(("tid", "sm", "stest"), TEMPLATE_TABLE)
def test_template_addresses(tid, sm, stest):
    raw = bytes(23) + bytes([tid])
    assert Template(tid).address == raw
    assert encode_address(raw, "sm") == sm
    assert encode_address(raw, "stest") == stest
    assert decode_address(sm, "sm") == raw
    assert decode_address(stest, "stest") == raw
    assert decode_address(sm) == raw
    assert decode_address(stest) == raw


def test_k2_addresses_both_networks():
    principal = wallet_principal(K2_PUB)
    assert principal == _independent_wallet_principal(K2_PUB)
    assert encode_address(principal, "sm") == K2_SM
    assert encode_address(principal, "stest") == K2_STEST
    assert decode_address(K2_SM, "sm") == principal
    assert decode_address(K2_STEST, "stest") == principal


@pytest.mark.parametrize(("pub", "text"), [(K2B_PUB, K2B_SM), (A1_PUB, A1_SM)])
def test_derived_wallet_addresses(pub, text):
    principal = wallet_principal(pub)
    assert principal == _independent_wallet_principal(pub)
    assert encode_address(principal, "sm") == text
    assert decode_address(text, "sm") == principal


def test_go_valid_vector():
    raw = decode_address(GO_VALID, "stest")
    assert len(raw) == 24 and raw[:4] == bytes(4)
    assert encode_address(raw, "stest") == GO_VALID


def test_go_no_reserved_space():
    with pytest.raises(AddressError, match="reserved space"):
        decode_address(GO_NO_RESERVED, "stest")
    with pytest.raises(AddressError, match="reserved space"):
        decode_address(GO_NO_RESERVED)


def test_go_bad_charset():
    with pytest.raises(AddressError, match="outside the bech32 alphabet"):
        decode_address(GO_BAD_CHARSET, "stest")


def test_go_missing_hrp():
    with pytest.raises(AddressError, match="human-readable prefix"):
        decode_address(GO_MISSING_HRP)


@pytest.mark.parametrize("text", [GO_TOO_LONG, GO_TOO_SHORT])
def test_go_wrong_length(text):
    # GO_TOO_LONG carries a second '1': per BIP-173 the last '1' separates, leaving 23 data chars
    with pytest.raises(AddressError, match="too short"):
        decode_address(text, "stest")


def test_go_wrong_hrp():
    with pytest.raises(AddressError, match="network 'sut', expected 'stest'"):
        decode_address(GO_WRONG_HRP, "stest")


# ---------------------------------------------------------------------------------------------
# constructed bad inputs


def _swap(text: str, pos: int, char: str) -> str:
    return text[:pos] + char + text[pos + 1 :]


@pytest.mark.parametrize("char", ["b", "i", "o"])
@pytest.mark.parametrize("pos", [3, 20, len(K2_SM) - 1])
def test_bad_charset(char, pos):
    with pytest.raises(AddressError, match=f"outside the bech32 alphabet: '{char}'"):
        decode_address(_swap(K2_SM, pos, char))


def test_one_in_data_part_moves_the_separator():
    # the last '1' is the separator (BIP-173), so a stray '1' shortens the data part
    with pytest.raises(AddressError, match="too short"):
        decode_address(_swap(K2_SM, 20, "1"), "sm")
    with pytest.raises(AddressError):
        decode_address(_swap(K2_SM, len(K2_SM) - 1, "1"))


def test_too_long_with_valid_checksum():
    data = bech32.convertbits(wallet_principal(K2_PUB), 8, 5, True) + [0]
    text = bech32.bech32_encode("sm", data)
    with pytest.raises(AddressError, match="too long: 46 characters"):
        decode_address(text, "sm")


def test_too_short_with_valid_checksum():
    data = bech32.convertbits(wallet_principal(K2_PUB), 8, 5, True)[:-1]
    text = bech32.bech32_encode("sm", data)
    with pytest.raises(AddressError, match="too short: 44 characters"):
        decode_address(text, "sm")


@pytest.mark.parametrize("pos", [3, 10, 30, len(K2_SM) - 1])
def test_bad_checksum(pos):
    old = K2_SM[pos]
    new = "q" if old != "q" else "p"
    with pytest.raises(AddressError, match="checksum"):
        decode_address(_swap(K2_SM, pos, new), "sm")


def test_bad_checksum_other_hrp():
    # the checksum covers the HRP: the sm data part under the stest prefix is a checksum error
    with pytest.raises(AddressError, match="checksum"):
        decode_address("stest" + K2_SM[2:])


@pytest.mark.parametrize("text", [K2_SM[:5] + K2_SM[5].upper() + K2_SM[6:], "SM" + K2_SM[2:], K2_SM[:-1] + "K"])
def test_mixed_case(text):
    with pytest.raises(AddressError, match="mixes upper and lower case"):
        decode_address(text)


def test_upper_case_accepted():
    assert decode_address(K2_SM.upper(), "sm") == wallet_principal(K2_PUB)
    assert decode_address(K2_STEST.upper(), "stest") == wallet_principal(K2_PUB)


@pytest.mark.parametrize(("text", "hrp"), [(K2_SM, "stest"), (K2_STEST, "sm"), (K2_SM, "standalone")])
def test_wrong_hrp_when_required(text, hrp):
    with pytest.raises(AddressError, match=f"expected '{hrp}'"):
        decode_address(text, hrp)


def test_non_zero_padding_bits():
    # 39 five-bit groups = 195 bits carry 192: the last group's low 3 bits must be zero
    data = bech32.convertbits(wallet_principal(K2_PUB), 8, 5, True)
    assert data[-1] & 7 == 0
    data[-1] |= 1
    text = bech32.bech32_encode("sm", data)
    with pytest.raises(AddressError, match="24 bytes"):
        decode_address(text, "sm")


@pytest.mark.parametrize("text", [K2_SM.replace("1", ""), "", "sm", "qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"])
def test_no_separator(text):
    with pytest.raises(AddressError, match="human-readable prefix"):
        decode_address(text)


@pytest.mark.parametrize("size", [0, 20, 23, 25, 32])
def test_encode_rejects_wrong_length(size):
    with pytest.raises(AddressError, match="24 bytes"):
        encode_address(bytes(size), "sm")


def test_non_ascii_lookalike_rejected():
    # U+212A KELVIN SIGN is upper case and lower-cases to ASCII 'k'; BIP-173 allows ASCII 33..126 only
    text = K2_SM.upper()[:-1] + "\u212a"
    assert text.lower() == K2_SM
    with pytest.raises(AddressError, match="non-ASCII"):
        decode_address(text, "sm")


# ---------------------------------------------------------------------------------------------
# properties


def _check_decode(text: str) -> None:
    try:
        raw = decode_address(text)
    except AddressError:
        return
    assert len(raw) == 24 and raw[:4] == bytes(4)
    hrp = text.strip().lower().rsplit("1", 1)[0]
    assert encode_address(raw, hrp) == text.strip().lower()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_random_text_only_address_error(text):
    _check_decode(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=bech32.CHARSET, max_size=60))
def test_random_charset_strings_only_address_error(rest):
    _check_decode("sm1" + rest)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["sm", "stest", "standalone"]),
    st.lists(st.integers(0, 31), min_size=30, max_size=45),
    st.booleans(),
)
def test_random_valid_checksums_only_address_error(hrp, data, upper):
    # valid bech32 strings of any length and content: only length/padding/reserved checks remain
    text = bech32.bech32_encode(hrp, data)
    _check_decode(text.upper() if upper else text)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=20, max_size=20), st.sampled_from(["sm", "stest", "standalone"]))
def test_round_trip(body, hrp):
    raw = bytes(4) + body
    text = encode_address(raw, hrp)
    assert text == _bech32_of(raw, hrp)
    assert len(text) == len(hrp) + 1 + 39 + 6
    assert decode_address(text, hrp) == raw
    assert decode_address(text.upper(), hrp) == raw
    assert decode_address(text) == raw
