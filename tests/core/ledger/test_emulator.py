"""The emulated Spacemesh app: status words, chunking state machine and buffers, path checks, the
SIGN payload parse with the device's error strings, address commands, messages, rejection
(spec/wallet.md §4.2–4.4)."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from core.ledger.emulator import EmulatedLedger
from tests.core.tx.test_vectors import (
    GENESIS,
    K2_MNEMONIC,
    K2_PUB,
    K2B_PUB,
    MS_PART0,
    MS_UNSIGNED,
    SPAWN_SIG,
    SPAWN_UNSIGNED,
    SPEND_SIG,
    SPEND_UNSIGNED,
)
from tests.e2e import independent as ref

H = 0x80000000
DEST = bytes.fromhex("0000000077361a62c037386154cc931cbe5d3e0fe847528a")  # spec §5.4 destination


def path_bytes(*elements: int) -> bytes:
    return struct.pack("<5I", *elements)


K2_PATH = path_bytes(44 | H, 540 | H, H, H, H)
K2B_PATH = path_bytes(44 | H, 540 | H, H, H, 1 | H)


def apdu(ins: int, p1: int = 0, data: bytes = b"", p2: int = 0) -> bytes:
    return bytes([0x45, ins, p1, p2, len(data)]) + data


def reply(device: EmulatedLedger, raw: bytes) -> tuple[bytes, int]:
    out = device.handle(raw)
    return out[:-2], int.from_bytes(out[-2:], "big")


def send_chunked(device: EmulatedLedger, ins: int, payload: bytes, path: bytes = K2_PATH) -> tuple[bytes, int]:
    data, sw = reply(device, apdu(ins, 0, path))
    assert (data, sw) == (b"", 0x9000)
    pieces = [payload[i : i + 250] for i in range(0, len(payload), 250)] or [b""]
    for i, piece in enumerate(pieces):
        data, sw = reply(device, apdu(ins, 2 if i == len(pieces) - 1 else 1, piece))
        if i < len(pieces) - 1:
            assert (data, sw) == (b"", 0x9000)
    return data, sw


def sign(device: EmulatedLedger, unsigned: bytes, path: bytes = K2_PATH) -> tuple[bytes, int]:
    return send_chunked(device, 0x02, GENESIS + unsigned, path)


@pytest.fixture
def device() -> EmulatedLedger:
    return EmulatedLedger(K2_MNEMONIC)


def compact(value: int) -> bytes:
    """SCALE compact, written out here from spec §3.1 (small modes only)."""
    if value < 1 << 6:
        return bytes([value << 2])
    if value < 1 << 14:
        return struct.pack("<H", value << 2 | 1)
    if value < 1 << 30:
        return struct.pack("<I", value << 2 | 2)
    raw = value.to_bytes((value.bit_length() + 7) // 8, "little")
    return bytes([(len(raw) - 4) << 2 | 3]) + raw


def spend(nonce: bytes = b"\x04", gas: bytes = b"\x04", amount: bytes = compact(10**9), principal: bytes | None = None,
          version: bytes = b"\x00", method: bytes = b"\x40") -> bytes:
    principal = principal if principal is not None else ref.principal(ref.WALLET, K2_PUB)
    return version + principal + method + nonce + gas + DEST + amount


# --------------------------------------------------------------------------------------------
# plain commands and status words


def test_get_version_layout(device):
    assert reply(device, apdu(0x00)) == (bytes.fromhex("00" "0000" "0000" "000f" "00" "33000004"), 0x9000)
    nanos = EmulatedLedger(K2_MNEMONIC, model="nanos", test_mode=True)
    assert reply(nanos, apdu(0x00))[0] == bytes.fromhex("01" "0000" "0000" "000f" "00" "31100004")


def test_get_address_mainnet_and_testnet_paths(device):
    k2_address = b"sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
    assert reply(device, apdu(0x01, 0, K2_PATH)) == (K2_PUB + k2_address, 0x9000)
    # 44'/1' is another key (SLIP-10 over another path), shown with the stest prefix
    seed = hashlib.pbkdf2_hmac("sha512", K2_MNEMONIC.encode(), b"mnemonic", 2048)
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    for element in (44, 1, 0, 0, 0):
        digest = hmac.new(digest[32:], b"\x00" + digest[:32] + struct.pack(">I", element | H), hashlib.sha512).digest()
    import nacl.signing

    testnet_pub = bytes(nacl.signing.SigningKey(digest[:32]).verify_key)
    data, sw = reply(device, apdu(0x01, 0, path_bytes(44 | H, 1 | H, H, H, H)))
    assert sw == 0x9000
    assert data == testnet_pub + ref.encode(ref.principal(ref.WALLET, testnet_pub), "stest").encode()


@pytest.mark.parametrize(
    ("raw", "sw"),
    [
        (bytes.fromhex("e000000000"), 0x6E00),  # another app's CLA
        (b"", 0x6E00),
        (bytes.fromhex("45000000"), 0x6700),  # shorter than a header
        (bytes.fromhex("4500000001"), 0x6700),  # Lc says 1, no data
        (bytes.fromhex("4507000000"), 0x6D00),  # unknown INS
        (apdu(0x01, 0, K2_PATH[:16]), 0x6700),  # path of 4 elements
        (apdu(0x01, 0, K2_PATH + b"\x00"), 0x6700),
        (apdu(0x01, 0, path_bytes(44 | H, 60 | H, H, H, H)), 0x6984),  # coin 60
        (apdu(0x01, 0, path_bytes(43 | H, 540 | H, H, H, H)), 0x6984),
        (apdu(0x01, 0, path_bytes(44 | H, 540 | H, H, H, 0)), 0x6984),  # non-hardened: no SLIP-10 child
        (apdu(0x02, 3, K2_PATH), 0x6B00),  # P1 neither INIT, ADD nor LAST
        (apdu(0x02, 1, b"abc"), 0x6987),  # ADD before INIT
        (apdu(0x02, 2, b"abc"), 0x6987),  # LAST before INIT
        (apdu(0x02, 0, K2_PATH[:19]), 0x6700),
        (apdu(0x02, 0, path_bytes(44 | H, 540, H, H, H)), 0x6984),
    ],
)
def test_refused_commands(device, raw, sw):
    assert reply(device, raw) == (b"", sw)


def test_locked_device_answers_5515_to_everything():
    locked = EmulatedLedger(K2_MNEMONIC, locked=True)
    for raw in (apdu(0x00), apdu(0x01, 0, K2_PATH), apdu(0x02, 0, K2_PATH)):
        assert reply(locked, raw) == (b"", 0x5515)


def test_chunk_state_resets_after_last(device):
    assert sign(device, bytes.fromhex(SPEND_UNSIGNED))[1] == 0x9000
    assert reply(device, apdu(0x02, 1, b"more")) == (b"", 0x6987)


def test_buffer_overflow_returns_6983_and_resets():
    small = EmulatedLedger(K2_MNEMONIC, buffer_size=300)
    assert reply(small, apdu(0x02, 0, K2_PATH))[1] == 0x9000
    assert reply(small, apdu(0x02, 1, bytes(250)))[1] == 0x9000
    assert reply(small, apdu(0x02, 1, bytes(51))) == (b"", 0x6983)
    assert reply(small, apdu(0x02, 1, bytes(1))) == (b"", 0x6987)


def test_model_buffer_sizes():
    assert EmulatedLedger(K2_MNEMONIC, model="nanos").buffer_size == 8 * 1024
    assert EmulatedLedger(K2_MNEMONIC, model="nanox").buffer_size == 16 * 1024


def test_apdu_may_carry_up_to_255_bytes(device):
    payload = GENESIS + bytes.fromhex(SPEND_UNSIGNED)
    assert reply(device, apdu(0x02, 0, K2_PATH))[1] == 0x9000
    data, sw = reply(device, apdu(0x02, 2, payload))  # 132 bytes in one LAST
    assert sw == 0x9000 and ref.verify(K2_PUB, payload, data)


# --------------------------------------------------------------------------------------------
# signing: accepted transactions


def test_signs_the_spec_transactions(device):
    assert sign(device, bytes.fromhex(SPAWN_UNSIGNED)) == (bytes.fromhex(SPAWN_SIG), 0x9000)
    assert sign(device, bytes.fromhex(SPEND_UNSIGNED)) == (bytes.fromhex(SPEND_SIG), 0x9000)
    assert sign(device, bytes.fromhex(MS_UNSIGNED)) == (bytes.fromhex(MS_PART0)[1:], 0x9000)
    review = device.reviews[1]
    assert review.kind == "spend" and review.approved
    assert review.items == [
        ("Tx type", "Spend"),
        ("Principal", "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"),
        ("Destination", "sm1qqqqqqrhxcdx9sph8ps4fnynrjl960s0apr49zs9zmfvg"),
        ("Amount", "SMH 1.0"),
        ("Gas price", "SMIDGE 1"),
    ]


def test_genesis_id_is_not_checked(device):
    payload = b"\xaa" * 20 + bytes.fromhex(SPEND_UNSIGNED)
    data, sw = send_chunked(device, 0x02, payload)
    assert sw == 0x9000 and ref.verify(K2_PUB, payload, data)


def test_other_kinds_are_accepted_and_shown(device):
    multisig = ref.principal(ref.MULTISIG, b"\x08\x08" + K2_PUB + K2B_PUB)
    vault_tmpl, ms_tmpl = ref.template_address(ref.VAULT), ref.template_address(ref.MULTISIG)
    cases = {
        "multisig spawn": b"\x00" + multisig + b"\x00" + ms_tmpl + b"\x00\x04" + b"\x08\x08" + K2_PUB + K2B_PUB,
        "vault spawn": b"\x00" + multisig + b"\x00" + vault_tmpl + b"\x04\x04" + multisig
        + compact(40) + compact(8) + compact(1) + compact(2),
        "vault drain": b"\x00" + multisig + b"\x44" + b"\x04\x04" + multisig + DEST + compact(5 * 10**8),
        "spend": spend(amount=compact(1_500_000_000)),
    }
    for kind, unsigned in cases.items():
        data, sw = sign(device, unsigned)
        assert sw == 0x9000, kind
        assert ref.verify(K2_PUB, GENESIS + unsigned, data)
        assert device.reviews[-1].kind == kind
    items = dict(device.reviews[0].items)
    assert items["Participants"] == "2" and items["Validators"] == "2"
    assert items["Pubkey 1"] == K2B_PUB.hex()
    assert items["Address 0"] == "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
    assert dict(device.reviews[1].items)["TotalAmount"] == "SMH 0.00000004"
    assert dict(device.reviews[2].items)["Amount"] == "SMH 0.5"
    assert dict(device.reviews[3].items)["Amount"] == "SMH 1.5"


# --------------------------------------------------------------------------------------------
# signing: the device's parse errors (0x6984 + ASCII text)

MS_TMPL = ref.template_address(ref.MULTISIG)
PRINCIPAL = ref.principal(ref.WALLET, K2_PUB)


def _spawn(template: bytes, args: bytes) -> bytes:
    return b"\x00" + PRINCIPAL + b"\x00" + template + b"\x00\x04" + args


PARSE_ERRORS = {
    "Unexpected buffer end": [
        b"",  # nothing after the genesis id
        spend()[:-1],  # truncated amount
        spend()[:30],
        _spawn(ref.template_address(ref.WALLET), K2_PUB[:31]),
        _spawn(MS_TMPL, b"\x08\x08" + K2_PUB),  # two keys announced, one given
    ],
    "Unexpected version": [spend(version=b"\x04")],
    "Unexpected method selector": [spend(method=b"\x08"), spend(method=b"\x48")],
    "Unexpected unparsed bytes": [spend() + b"\x00", _spawn(ref.template_address(ref.WALLET), K2_PUB + b"\x01")],
    "Value out of range": [
        spend(nonce=b"\x01\x00"),  # 2-byte compact for 0: not canonical
        spend(nonce=b"\x02\x00\x00\x00"),  # 4-byte compact for 0
        spend(amount=b"\x17" + bytes(9)),  # big mode announcing 9 bytes
        spend(amount=compact(1 << 62)),  # the app caps amounts at 2^62 - 1
        spend(version=b"\x01\x04"),  # version as a non-canonical compact
    ],
    "Unexpected value": [
        _spawn(MS_TMPL, compact(11) + compact(11) + K2_PUB * 11),  # more than 10 approvers
        _spawn(MS_TMPL, b"\x0c\x08" + K2_PUB + K2B_PUB),  # 3 of 2
        _spawn(ref.template_address(ref.VAULT), PRINCIPAL + compact(1) + compact(2) + b"\x00\x00"),  # initial > total
        _spawn(ref.template_address(ref.VAULT), PRINCIPAL + compact(2) + compact(1) + b"\x08\x04"),  # start > end
        _spawn(ref.template_address(5), K2_PUB),  # no such template
    ],
}


@pytest.mark.parametrize(
    ("message", "unsigned"), [(m, u) for m, cases in PARSE_ERRORS.items() for u in cases]
)
def test_parse_errors(device, message, unsigned):
    assert sign(device, unsigned) == (message.encode(), 0x6984)
    assert device.reviews == []


def test_empty_payload(device):
    assert send_chunked(device, 0x02, b"") == (b"Initialized empty context", 0x6984)
    assert send_chunked(device, 0x02, GENESIS[:10]) == (b"Unexpected buffer end", 0x6984)


# --------------------------------------------------------------------------------------------
# rejection


def test_reject_switch(device):
    device.reject = True
    assert sign(device, bytes.fromhex(SPEND_UNSIGNED)) == (b"", 0x6986)
    assert reply(device, apdu(0x01, 1, K2_PATH)) == (b"", 0x6986)  # shown address rejected
    assert reply(device, apdu(0x01, 0, K2_PATH))[1] == 0x9000  # silent reads need no approval
    assert [r.approved for r in device.reviews] == [False, False]
    device.reject = False
    assert sign(device, bytes.fromhex(SPEND_UNSIGNED))[1] == 0x9000


# --------------------------------------------------------------------------------------------
# multisig, vesting and vault addresses


def multisig_payload(internal: int, approvers: int, keys: list[bytes]) -> bytes:
    items = b"".join(bytes([i]) + k for i, k in enumerate(keys) if i != internal)
    return bytes([internal, approvers, len(keys)]) + items


def test_multisig_and_vesting_addresses(device):
    keys = [K2_PUB, K2B_PUB]
    data, sw = send_chunked(device, 0x03, multisig_payload(0, 2, keys))
    assert (data, sw) == (K2_PUB + b"sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3", 0x9000)  # spec §5.2
    data, sw = send_chunked(device, 0x03, multisig_payload(1, 2, keys), K2B_PATH)  # device as the second key
    assert data == K2B_PUB + b"sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3"
    vesting = ref.encode(ref.principal(ref.VESTING, b"\x04\x08" + K2_PUB + K2B_PUB), "sm")
    assert send_chunked(device, 0x04, multisig_payload(0, 1, keys)) == (K2_PUB + vesting.encode(), 0x9000)
    assert device.reviews[-1].kind == "vesting address"


def test_vault_address(device):
    keys = [K2_PUB, K2B_PUB]
    payload = b"\x00" + struct.pack("<QQII", 40, 8, 1, 2) + multisig_payload(0, 1, keys)[1:]
    owner = ref.principal(ref.VESTING, b"\x04\x08" + K2_PUB + K2B_PUB)
    vault = ref.principal(ref.VAULT, owner + compact(40) + compact(8) + compact(1) + compact(2))
    assert send_chunked(device, 0x05, payload) == (K2_PUB + ref.encode(vault, "sm").encode(), 0x9000)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\x02",
        bytes([0, 2, 3]) + b"\x01" + K2B_PUB,  # 3 participants, one other key
        bytes([0, 2, 2]) + b"\x02" + K2B_PUB,  # index should be 1
        bytes([0, 0, 2]) + b"\x01" + K2B_PUB,  # no approvers
        bytes([0, 3, 2]) + b"\x01" + K2B_PUB,  # more approvers than keys
        bytes([2, 1, 2]) + b"\x01" + K2B_PUB,  # own index outside the account
        bytes([0, 1, 2]) + b"\x01" + K2B_PUB + b"\x00",  # stray byte
        bytes([0, 1, 11]) + b"".join(bytes([i]) + K2B_PUB for i in range(1, 11)),  # 11 keys
    ],
)
def test_multisig_address_invalid_settings(device, payload):
    assert send_chunked(device, 0x03, payload) == (b"Invalid crypto settings", 0x6984)


# --------------------------------------------------------------------------------------------
# SIGN_MESSAGE


def message(prefix: bytes, domain: int, msg: bytes) -> bytes:
    return struct.pack("<HH", len(prefix), len(msg)) + prefix + bytes([domain]) + msg


def test_sign_message(device):
    data, sw = send_chunked(device, 0x06, message(GENESIS, 0, b"hello"))
    assert sw == 0x9000
    assert ref.verify(K2_PUB, GENESIS + b"\x00" + b"hello", data)  # lengths are not signed
    assert device.reviews[-1].items == [("Sign", "Message"), ("Prefix (hex)", GENESIS.hex()), ("Domain", "ATX"),
                                        ("Msg", "hello")]
    send_chunked(device, 0x06, message(b"", 11, b""))
    assert device.reviews[-1].items[1:] == [("Prefix", "Empty"), ("Domain", "BEACON FOLLOWUP MSG"), ("Msg", "Empty")]


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"", "Initialized empty context"),
        (b"\x01\x00", "Unexpected buffer end"),
        (message(b"p", 5, b"m"), "Unexpected value"),  # MARRIAGE is not a domain the app signs
        (message(b"p", 1, b"m") + b"x", "Unexpected unparsed bytes"),
        (message(b"p", 1, b"m")[:-1], "Unexpected buffer end"),
    ],
)
def test_sign_message_errors(device, payload, text):
    assert send_chunked(device, 0x06, payload) == (text.encode(), 0x6984)
