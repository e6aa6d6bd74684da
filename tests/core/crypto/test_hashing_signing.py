"""Genesis ids, BLAKE3 helpers and domain-separated signatures (spec/wallet.md §3.3, §3.4)."""

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from core.config.networks import MAINNET, STANDALONE, TESTNET, network
from core.crypto.hashing import golden_atx, hash20, hash32
from core.crypto.signing import (
    Domain,
    public_key_of,
    sign_message,
    sign_raw,
    sign_tx,
    signing_key,
    verify_message,
    verify_raw,
    verify_tx,
)
from core.errors import InvalidInput

MAINNET_ID = bytes.fromhex("9eebff023abb17ccb775c602daade8ed708f0a50")
TESTNET_ID = bytes.fromhex("e956eff99be943fb70bd385dd509a3f84e9a75dd")
MAINNET_EXTRA = "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc"
TESTNET_EXTRA = "0000000000000000000000c76c58ebac180989673fd6d237b40e66ed5c976ec3"

# spec/wallet.md §5.1 K2
K2_SEED = bytes.fromhex("cd85df73aa3bc31de2f0b69bb1421df7eb0cdca7cb170a457869ab337749dae1")
K2_PUB = bytes.fromhex("de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6")

SPEC_DOMAINS = {
    "ATX": 0,
    "PROPOSAL": 1,
    "BALLOT": 2,
    "HARE": 3,
    "POET": 4,
    "MARRIAGE": 5,
    "BEACON_FIRST_MSG": 10,
    "BEACON_FOLLOWUP_MSG": 11,
}


# ---------------------------------------------------------------------------------------------
# genesis


def test_mainnet_genesis():
    assert MAINNET.hrp == "sm"
    assert MAINNET.genesis_time == 1689321600  # 2023-07-14T08:00:00Z
    assert MAINNET.genesis_id() == MAINNET_ID
    assert network("mainnet").genesis_id() == MAINNET_ID


def test_testnet_genesis():
    assert TESTNET.hrp == "stest"
    assert TESTNET.genesis_time == 1694628000  # 2023-09-13T18:00:00Z
    assert TESTNET.genesis_id() == TESTNET_ID
    assert network("testnet").genesis_id() == TESTNET_ID


@pytest.mark.parametrize(
    ("time", "extra", "gid"), [(1689321600, MAINNET_EXTRA, MAINNET_ID), (1694628000, TESTNET_EXTRA, TESTNET_ID)]
)
def test_golden_atx(time, extra, gid):
    expected = blake3.blake3(str(time).encode() + extra.encode()).digest()
    atx = golden_atx(time, extra)
    assert atx == expected
    assert len(atx) == 32
    assert atx[:20] == gid


def test_standalone_needs_genesis_time():
    assert STANDALONE.hrp == "standalone"
    with pytest.raises(InvalidInput, match="no fixed genesis time"):
        STANDALONE.genesis_id()
    when = 1700000000
    assert STANDALONE.genesis_id(when) == blake3.blake3(b"1700000000standalone").digest()[:20]


def test_unknown_network():
    with pytest.raises(InvalidInput, match="unknown network 'devnet9'"):
        network("devnet9")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=100), max_size=5))
def test_hash20_is_prefix_of_hash32(parts):
    joined = b"".join(parts)
    assert hash32(*parts) == blake3.blake3(joined).digest()
    assert hash20(*parts) == hash32(*parts)[:20]
    assert len(hash20(*parts)) == 20


def test_hash32_empty():
    # BLAKE3 of the empty input (reference test vector)
    assert hash32().hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


# ---------------------------------------------------------------------------------------------
# node-message signatures


def test_domain_values():
    assert {d.name: d.value for d in Domain} == SPEC_DOMAINS


@pytest.mark.parametrize("domain", list(Domain), ids=lambda d: d.name)
def test_sign_message_layout(domain):
    message = b"some message \x00\xff"
    sig = sign_message(K2_SEED, MAINNET_ID, domain, message)
    signed_bytes = MAINNET_ID + bytes([SPEC_DOMAINS[domain.name]]) + message
    VerifyKey(K2_PUB).verify(signed_bytes, sig)  # raises if the layout differs
    assert sig == SigningKey(K2_SEED).sign(signed_bytes).signature
    assert verify_message(K2_PUB, MAINNET_ID, domain, message, sig)


def test_verify_message_rejects_other_domain_or_genesis():
    sig = sign_message(K2_SEED, MAINNET_ID, Domain.BALLOT, b"ballot")
    for other in Domain:
        assert verify_message(K2_PUB, MAINNET_ID, other, b"ballot", sig) == (other == Domain.BALLOT)
    assert not verify_message(K2_PUB, TESTNET_ID, Domain.BALLOT, b"ballot", sig)
    assert not verify_message(K2_PUB, MAINNET_ID, Domain.BALLOT, b"ballot!", sig)
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_message(K2_PUB, MAINNET_ID, Domain.BALLOT, b"ballot", bad)


def test_tx_and_message_signatures_share_the_genesis_prefix():
    # a tx over genesis ‖ 0x02 ‖ m equals a BALLOT message over m: the domain byte is the only separation
    message = b"\x02hello"
    tx_sig = sign_tx(K2_SEED, MAINNET_ID, message)
    assert verify_message(K2_PUB, MAINNET_ID, Domain.BALLOT, b"hello", tx_sig)
    assert not verify_message(K2_PUB, MAINNET_ID, Domain.ATX, message, tx_sig)


# ---------------------------------------------------------------------------------------------
# transaction signatures


def test_sign_tx_layout():
    unsigned = bytes.fromhex("00" + "ab" * 24 + "40")
    sig = sign_tx(K2_SEED, TESTNET_ID, unsigned)
    VerifyKey(K2_PUB).verify(TESTNET_ID + unsigned, sig)
    assert verify_tx(K2_PUB, TESTNET_ID, unsigned, sig)
    assert not verify_tx(K2_PUB, MAINNET_ID, unsigned, sig)
    with pytest.raises(BadSignatureError):
        VerifyKey(K2_PUB).verify(unsigned, sig)


@pytest.mark.parametrize("size", [0, 19, 21, 32])
def test_wrong_length_genesis(size):
    gid = bytes(size)
    with pytest.raises(InvalidInput, match=f"genesis id must be 20 bytes, got {size}"):
        sign_tx(K2_SEED, gid, b"x")
    with pytest.raises(InvalidInput, match="genesis id must be 20 bytes"):
        verify_tx(K2_PUB, gid, b"x", bytes(64))
    with pytest.raises(InvalidInput, match="genesis id must be 20 bytes"):
        sign_message(K2_SEED, gid, Domain.ATX, b"x")
    with pytest.raises(InvalidInput, match="genesis id must be 20 bytes"):
        verify_message(K2_PUB, gid, Domain.ATX, b"x", bytes(64))


# ---------------------------------------------------------------------------------------------
# keys


def test_k2_public_key():
    assert public_key_of(K2_SEED) == K2_PUB
    assert public_key_of(K2_SEED + K2_PUB) == K2_PUB


def test_go_layout_key_with_mismatching_public_half():
    other_pub = bytes(SigningKey(bytes(32)).verify_key)
    with pytest.raises(InvalidInput, match="public half does not match"):
        signing_key(K2_SEED + other_pub)
    with pytest.raises(InvalidInput, match="public half does not match"):
        sign_tx(K2_SEED + other_pub, MAINNET_ID, b"x")


@pytest.mark.parametrize("size", [0, 31, 33, 63, 65])
def test_wrong_length_secret_key(size):
    with pytest.raises(InvalidInput, match=f"secret key must be 32 or 64 bytes, got {size}"):
        signing_key(bytes(size))


def test_raw_signature_has_no_prefix():
    sig = sign_raw(K2_SEED, b"hello")
    VerifyKey(K2_PUB).verify(b"hello", sig)
    assert verify_raw(K2_PUB, b"hello", sig)
    assert not verify_raw(K2_PUB, b"hello", sig[:63])
    assert not verify_raw(K2_PUB[:31], b"hello", sig)
    assert not verify_raw(K2_PUB, b"hellO", sig)


def _nacl_accepts(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


def test_verify_raw_accepts_exactly_what_pynacl_verify_key_accepts():
    message = b"genesis and an unsigned transaction"
    sig = SigningKey(K2_SEED).sign(message).signature
    s = int.from_bytes(sig[32:], "little")
    ell = 2**252 + 27742317777372353535851937790883648493  # the group order: S + L is the same S, not canonical
    cases = [
        (K2_PUB, message, sig),
        (K2_PUB, message + b"!", sig),
        (K2_PUB, message, bytes([sig[0] ^ 1]) + sig[1:]),
        (K2_PUB, message, sig[:32] + (s + ell).to_bytes(32, "little")),
        (bytes(32), message, sig),  # a small-order public key
        (bytes([1]) + bytes(31), message, bytes(64)),  # the identity point and an all-zero signature
    ]
    for public_key, msg, signature in cases:
        assert verify_raw(public_key, msg, signature) == _nacl_accepts(public_key, msg, signature)
    assert verify_raw(K2_PUB, message, sig)
    assert not verify_raw(K2_PUB, message, sig[:32] + (s + ell).to_bytes(32, "little"))
    assert not verify_raw(K2_PUB[:31], message, sig)
    assert not verify_raw(K2_PUB, message, sig[:63])
