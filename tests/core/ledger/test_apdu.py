"""The Zondax Spacemesh app protocol: paths, commands, chunking, replies and every status word
(spec/wallet.md §4.2–4.3)."""

from __future__ import annotations

import struct

import pytest
from nacl.signing import VerifyKey

from core.errors import InvalidInput, SmeshError
from core.ledger import apdu as A
from core.ledger.apdu import (
    LedgerApp,
    LedgerAppNotOpen,
    LedgerError,
    LedgerInvalidData,
    LedgerLocked,
    LedgerRejected,
)
from core.ledger.emulator import EmulatedLedger
from core.tx import build
from core.tx.templates import Template, multisig_args
from tests.core.tx.test_vectors import GENESIS, K2_MNEMONIC, K2_PUB, K2B_PUB

H = 0x80000000
K2_PATH = "m/44'/540'/0'/0'/0'"
# 5 little-endian u32s: 44', 540', 0', 0', 0'
K2_PATH_BYTES = bytes.fromhex("2c000080" "1c020080" "00000080" "00000080" "00000080")


class Recorder:
    """A transport that keeps every APDU and answers with an emulated device."""

    def __init__(self, device: EmulatedLedger) -> None:
        self.device = device
        self.sent: list[bytes] = []

    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(bytes(apdu))
        reply = self.device.handle(apdu)
        return reply[:-2], int.from_bytes(reply[-2:], "big")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def k2_device() -> EmulatedLedger:
    return EmulatedLedger(K2_MNEMONIC)


# --------------------------------------------------------------------------------------------
# status words


# sw → (exception class, words the one-line message must contain); written from §4.2 and Ledger's OS codes
STATUS_CASES = {
    0x6986: (LedgerRejected, "rejected on the device"),
    0x6985: (LedgerRejected, "refused"),
    0x6E00: (LedgerAppNotOpen, "Spacemesh app is not open"),
    0x6E01: (LedgerAppNotOpen, "Spacemesh app is not open"),
    0x6D00: (LedgerAppNotOpen, "open the Spacemesh app"),
    0x6511: (LedgerAppNotOpen, "no app is open"),
    0x6A82: (LedgerAppNotOpen, "not open"),
    0x6807: (LedgerAppNotOpen, "not installed"),
    0x5515: (LedgerLocked, "locked"),
    0x6B0C: (LedgerLocked, "locked"),
    0x6984: (LedgerInvalidData, "refused the data"),
    0x6400: (LedgerError, "failed to execute"),
    0x6700: (LedgerError, "wrong length"),
    0x6982: (LedgerError, "empty buffer"),
    0x6983: (LedgerError, "too large"),
    0x6987: (LedgerError, "before the transaction was started"),
    0x6B00: (LedgerError, "P1/P2"),
    0x6F00: (LedgerError, "unknown error"),
    0x6F01: (LedgerError, "failed to sign"),
    0x1234: (LedgerError, "status 0x1234"),
}


@pytest.mark.parametrize("sw", sorted(STATUS_CASES))
def test_status_word_mapping(sw):
    cls, words = STATUS_CASES[sw]
    error = A.status_error(sw)
    assert type(error) is cls
    assert isinstance(error, SmeshError) and error.exit_code == 1
    assert error.sw == sw
    message = str(error)
    assert words in message
    assert f"{sw:04X}" in message.upper()
    assert "\n" not in message
    with pytest.raises(cls):
        A.check_status(b"", sw)


def test_ok_status_returns_data():
    assert A.check_status(b"\x01\x02", 0x9000) == b"\x01\x02"


def test_invalid_data_carries_the_device_text():
    error = A.status_error(0x6984, b"Unexpected unparsed bytes")
    assert isinstance(error, LedgerInvalidData)
    assert str(error) == "the Ledger app refused the data: Unexpected unparsed bytes (0x6984)"


def test_invalid_data_text_is_sanitised_to_one_line():
    error = A.status_error(0x6984, b"bad\nthing\x07\x00garbage after nul")
    assert str(error) == "the Ledger app refused the data: bad?thing? (0x6984)"


def test_subclasses_are_distinct():
    assert not issubclass(LedgerRejected, LedgerAppNotOpen)
    assert all(issubclass(c, LedgerError) for c, _ in STATUS_CASES.values())


# --------------------------------------------------------------------------------------------
# paths


def test_path_is_five_little_endian_hardened_u32s():
    assert A.encode_path(K2_PATH) == K2_PATH_BYTES
    assert A.encode_path("44'/540'/0'/0'/0'") == K2_PATH_BYTES  # smapp's spelling
    assert A.encode_path((44 | H, 540 | H, H, H, 7 | H))[-4:] == bytes.fromhex("07000080")
    assert A.decode_path(K2_PATH_BYTES) == (44 | H, 540 | H, H, H, H)


@pytest.mark.parametrize(
    "path",
    ["m/44'/540'/0'/0'", "m/44'/540'/0'/0'/0'/0'", "m/44'/60'/0'/0'/0'", "m/43'/540'/0'/0'/0'", "m/44'/540'/0'/0'/0"],
)
def test_bad_paths(path):
    with pytest.raises(InvalidInput):
        A.encode_path(path)


def test_account_paths_and_hrp():
    assert A.ledger_account_path(3) == "m/44'/540'/0'/0'/3'"
    assert A.ledger_account_path(3, A.COIN_TESTNET) == "m/44'/1'/0'/0'/3'"
    assert A.path_hrp("m/44'/540'/0'/0'/3'") == "sm"
    assert A.path_hrp("m/44'/1'/0'/0'/3'") == "stest"
    with pytest.raises(InvalidInput):
        A.ledger_account_path(0, 60)


# --------------------------------------------------------------------------------------------
# commands and chunking


def test_simple_commands():
    assert A.command(A.INS_GET_VERSION) == bytes.fromhex("4500000000")
    assert A.command(A.INS_GET_ADDR, 1, 0, K2_PATH_BYTES) == bytes.fromhex("4501010014") + K2_PATH_BYTES
    with pytest.raises(InvalidInput):
        A.command(A.INS_SIGN, 0, 0, bytes(256))


@pytest.mark.parametrize(
    ("size", "pieces"),
    [(0, [(2, 0)]), (1, [(2, 1)]), (250, [(2, 250)]), (251, [(1, 250), (2, 1)]), (600, [(1, 250), (1, 250), (2, 100)])],
)
def test_chunking(size, pieces):
    payload = bytes(i % 251 for i in range(size))
    apdus = A.chunked(A.INS_SIGN, K2_PATH, payload)
    assert apdus[0] == bytes([0x45, 0x02, 0x00, 0x00, 20]) + K2_PATH_BYTES
    offset = 0
    for apdu, (p1, length) in zip(apdus[1:], pieces, strict=True):
        assert apdu[:5] == bytes([0x45, 0x02, p1, 0x00, length])
        assert apdu[5:] == payload[offset : offset + length]
        offset += length
    assert offset == size


def test_multisig_address_payload():
    k0, k1, k2 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    assert A.multisig_address_payload(1, 2, [k0, k1, k2]) == bytes([1, 2, 3]) + b"\x00" + k0 + b"\x02" + k2
    assert A.multisig_address_payload(0, 1, [k0]) == bytes([0, 1, 1])
    for bad in ((3, 2, [k0, k1, k2]), (0, 0, [k0]), (0, 3, [k0, k1]), (0, 1, [k0] * 11)):
        with pytest.raises(InvalidInput):
            A.multisig_address_payload(*bad)


def test_vault_address_payload():
    k0, k1 = b"\x01" * 32, b"\x02" * 32
    payload = A.vault_address_payload(0, 1000, 250, 10, 20, 1, [k0, k1])
    assert payload == (
        b"\x00" + struct.pack("<Q", 1000) + struct.pack("<Q", 250) + struct.pack("<I", 10) + struct.pack("<I", 20)
        + bytes([1, 2]) + b"\x01" + k1
    )


def test_message_payload():
    assert A.message_payload(b"abc", 4, b"hello") == b"\x03\x00\x05\x00abc\x04hello"


def test_sign_payload_needs_a_20_byte_genesis():
    assert A.sign_payload(GENESIS, b"\x00") == GENESIS + b"\x00"
    with pytest.raises(InvalidInput):
        A.sign_payload(GENESIS[:19], b"\x00")


# --------------------------------------------------------------------------------------------
# replies


def test_parse_version():
    info = A.parse_version(bytes.fromhex("01" "0001" "0002" "000f" "00" "33000004"))
    assert (info.test_mode, info.version, info.locked, info.target_id) == (True, "1.2.15", False, 0x33000004)
    with pytest.raises(LedgerError):
        A.parse_version(b"\x00" * 11)


def test_parse_address_reply():
    assert A.parse_address_reply(K2_PUB + b"sm1abc") == (K2_PUB, "sm1abc")
    with pytest.raises(LedgerError):
        A.parse_address_reply(K2_PUB)


# --------------------------------------------------------------------------------------------
# the client, against the emulator


def test_multisig_spawn_over_250_bytes_is_sent_in_exact_chunks(k2_device):
    others = [bytes([i]) * 32 for i in range(1, 10)]
    tx = build.multisig_spawn(multisig_args(3, [K2_PUB, *others]), nonce=0, gas_price=1, template=Template.MULTISIG)
    unsigned = tx.unsigned_bytes()
    payload = GENESIS + unsigned
    assert len(payload) == 394  # 20 + 374: more than one chunk
    transport = Recorder(k2_device)
    signature = LedgerApp(transport).sign(K2_PATH, GENESIS, unsigned)
    assert transport.sent == [
        bytes.fromhex("4502000014") + K2_PATH_BYTES,
        bytes.fromhex("45020100fa") + payload[:250],
        bytes.fromhex("4502020090") + payload[250:],
    ]
    VerifyKey(K2_PUB).verify(payload, signature)  # raises if it does not verify


def test_client_raises_rejection(k2_device):
    device = EmulatedLedger(K2_MNEMONIC, reject=True)
    tx = build.spend(bytes(24), bytes(24), 1, nonce=1)
    with pytest.raises(LedgerRejected, match="rejected on the device"):
        LedgerApp(Recorder(device)).sign(K2_PATH, GENESIS, tx.unsigned_bytes())
    assert device.reviews[-1].approved is False


def test_client_confirm_hook_wraps_only_the_waiting_command(k2_device):
    calls = []

    class Guard:
        def __enter__(self):
            calls.append(("enter", len(transport.sent)))

        def __exit__(self, *exc):
            calls.append(("exit", len(transport.sent)))

    transport = Recorder(k2_device)
    app = LedgerApp(transport, on_confirm=lambda what: (calls.append(what), Guard())[1])
    app.get_address(K2_PATH)  # silent: no hook
    assert calls == []
    app.sign(K2_PATH, GENESIS, build.spend(bytes(24), bytes(24), 1, nonce=1).unsigned_bytes())
    assert calls == ["transaction", ("enter", 2), ("exit", 3)]  # after INIT, around LAST


def test_client_addresses(k2_device):
    app = LedgerApp(Recorder(k2_device))
    assert app.get_address(K2_PATH) == (K2_PUB, "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k")
    assert app.get_multisig_address(K2_PATH, 0, 2, [K2_PUB, K2B_PUB]) == (
        K2_PUB, "sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3"  # spec §5.2
    )
    assert app.get_version().version == "0.0.15"
