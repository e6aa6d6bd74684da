"""The Zondax Spacemesh Ledger app's APDU protocol (spec/wallet.md §4.2–4.3).

Commands are `CLA ‖ INS ‖ P1 ‖ P2 ‖ Lc ‖ data`; replies are `data ‖ SW1 SW2`.  Paths are five
little-endian u32s.  Long payloads (transactions, multisig key lists, messages) go in chunks: the
path with P1 = INIT, then pieces of at most 250 bytes with P1 = ADD and the last with P1 = LAST.

This module only builds commands, splits payloads, parses replies and turns status words into
`LedgerError`s; `LedgerApp` drives any transport (`transport.py`: USB HID or TCP).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Sequence
from typing import Protocol

from core.crypto.signing import SIGNATURE_SIZE
from core.errors import InvalidInput, SmeshError
from core.wallet.slip10 import HARDENED, account_path, format_path, parse_path

CLA = 0x45

INS_GET_VERSION = 0x00
INS_GET_ADDR = 0x01
INS_SIGN = 0x02
INS_GET_ADDR_MULTISIG = 0x03
INS_GET_ADDR_VESTING = 0x04
INS_GET_ADDR_VAULT = 0x05
INS_SIGN_MESSAGE = 0x06

P1_INIT = 0x00
P1_ADD = 0x01
P1_LAST = 0x02

P1_SILENT = 0x00
P1_CONFIRM = 0x01

#: Payload bytes per ADD/LAST chunk (the app's JS client uses 250; an APDU carries at most 255).
CHUNK_SIZE = 250
MAX_APDU_DATA = 255
PATH_LEN = 5
PATH_SIZE = 4 * PATH_LEN
PUBLIC_KEY_SIZE = 32

PURPOSE = 44
COIN_MAINNET = 540
COIN_TESTNET = 1

#: HRP the app shows for a path's coin type.
HRP_BY_COIN = {COIN_MAINNET: "sm", COIN_TESTNET: "stest"}

SW_OK = 0x9000


# --------------------------------------------------------------------------------------------
# Errors


class LedgerError(SmeshError):
    """A Ledger operation failed; `sw` is the status word when the device answered."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw


class LedgerRejected(LedgerError):
    """The user refused on the device."""


class LedgerAppNotOpen(LedgerError):
    """The device answered, but not the Spacemesh app (dashboard or another app open)."""


class LedgerLocked(LedgerError):
    """The device is locked: enter the PIN first."""


class LedgerInvalidData(LedgerError):
    """The app refused the data (bad path, unparsable transaction, ...); carries its reason."""


class LedgerNotFound(LedgerError):
    """No device (or emulator) to talk to."""


class LedgerTransportError(LedgerError):
    """The connection to the device broke or timed out."""


_OPEN_APP = "open the Spacemesh app on your Ledger"

#: status word → (exception class, message).  0x6984 adds the app's own reason.
STATUS_WORDS: dict[int, tuple[type[LedgerError], str]] = {
    0x6400: (LedgerError, "the Ledger app failed to execute the command (0x6400)"),
    0x6700: (LedgerError, "the Ledger app refused the command: wrong length (0x6700)"),
    0x6982: (LedgerError, "the Ledger app has nothing to sign: empty buffer (0x6982)"),
    0x6983: (LedgerError, "the data is too large for the Ledger app's buffer (0x6983)"),
    0x6984: (LedgerInvalidData, "the Ledger app refused the data (0x6984)"),
    0x6985: (LedgerRejected, "the Ledger refused: conditions of use not satisfied (0x6985)"),
    0x6986: (LedgerRejected, "rejected on the device (0x6986)"),
    0x6987: (LedgerError, "the Ledger app got a chunk before the transaction was started (0x6987)"),
    0x6B00: (LedgerError, "the Ledger app refused the command's parameters P1/P2 (0x6B00)"),
    0x6D00: (LedgerAppNotOpen, f"the open Ledger app does not know this command (0x6D00): {_OPEN_APP}"),
    0x6E00: (LedgerAppNotOpen, f"the Spacemesh app is not open on the Ledger (0x6E00): {_OPEN_APP}"),
    0x6E01: (LedgerAppNotOpen, f"the Spacemesh app is not open on the Ledger (0x6E01): {_OPEN_APP}"),
    0x6511: (LedgerAppNotOpen, f"no app is open on the Ledger (0x6511): {_OPEN_APP}"),
    0x6807: (LedgerAppNotOpen, "the Spacemesh app is not installed on the Ledger (0x6807): install it in Ledger Live"),
    0x6A82: (LedgerAppNotOpen, f"the Spacemesh app is not open on the Ledger (0x6A82): {_OPEN_APP}"),
    0x5515: (LedgerLocked, "the Ledger is locked (0x5515): unlock it with your PIN and open the Spacemesh app"),
    0x6B0C: (LedgerLocked, "the Ledger is locked (0x6B0C): unlock it with your PIN and open the Spacemesh app"),
    0x6F00: (LedgerError, "the Ledger app hit an unknown error (0x6F00)"),
    0x6F01: (LedgerError, "the Ledger app failed to sign (0x6F01)"),
}


def _printable(data: bytes) -> str:
    text = data.split(b"\x00", 1)[0].decode("ascii", "replace")
    return "".join(c if c.isprintable() else "?" for c in text).strip()


def status_error(sw: int, data: bytes = b"") -> LedgerError:
    """The exception for a non-9000 status word (with the app's ASCII reason for 0x6984)."""
    cls, message = STATUS_WORDS.get(sw, (LedgerError, f"the Ledger returned status 0x{sw:04X}"))
    if sw == 0x6984 and data:
        reason = _printable(data)
        if reason:
            message = f"the Ledger app refused the data: {reason} (0x6984)"
    return cls(message, sw)


def check_status(data: bytes, sw: int) -> bytes:
    """`data` when `sw` is 0x9000, else raise the matching `LedgerError`."""
    if sw != SW_OK:
        raise status_error(sw, data)
    return data


# --------------------------------------------------------------------------------------------
# Paths


def encode_path(path: str | Sequence[int]) -> bytes:
    """Five hardened path elements as little-endian u32s (20 bytes), e.g. m/44'/540'/0'/0'/0'."""
    text = path if isinstance(path, str) else format_path(path)
    if isinstance(path, str) and not path.startswith("m/"):
        text = "m/" + path  # smapp stores paths without the leading m/
    indices = parse_path(text) if isinstance(path, str) else tuple(path)
    if len(indices) != PATH_LEN:
        raise InvalidInput(f"a Ledger path has exactly {PATH_LEN} levels (like m/44'/540'/0'/0'/0'), got {text}")
    if indices[0] != PURPOSE | HARDENED or indices[1] not in (COIN_MAINNET | HARDENED, COIN_TESTNET | HARDENED):
        raise InvalidInput(f"the Spacemesh Ledger app only uses paths m/44'/540'/... or m/44'/1'/..., not {text}")
    return struct.pack("<5I", *indices)


def decode_path(raw: bytes) -> tuple[int, ...]:
    if len(raw) != PATH_SIZE:
        raise InvalidInput(f"a Ledger path is {PATH_SIZE} bytes, got {len(raw)}")
    return struct.unpack("<5I", raw)


def ledger_account_path(index: int, coin: int = COIN_MAINNET) -> str:
    """m/44'/<coin>'/0'/0'/index' — the smcli/smapp account path (coin 540) or the testnet one (1)."""
    if coin == COIN_MAINNET:
        return account_path(index)
    if coin != COIN_TESTNET:
        raise InvalidInput(f"the Spacemesh Ledger app knows coin types 540 and 1, not {coin}")
    return account_path(index).replace("/540'/", f"/{coin}'/", 1)


def path_hrp(path: str | Sequence[int]) -> str:
    """The HRP the device uses for addresses of this path."""
    coin = decode_path(encode_path(path))[1] & ~HARDENED
    return HRP_BY_COIN[coin]


# --------------------------------------------------------------------------------------------
# Commands


def command(ins: int, p1: int = 0, p2: int = 0, data: bytes = b"") -> bytes:
    """One APDU: CLA ‖ INS ‖ P1 ‖ P2 ‖ Lc ‖ data."""
    if len(data) > MAX_APDU_DATA:
        raise InvalidInput(f"an APDU carries at most {MAX_APDU_DATA} bytes, got {len(data)}")
    return bytes([CLA, ins, p1, p2, len(data)]) + bytes(data)


def chunked(ins: int, path: str | Sequence[int], payload: bytes, chunk_size: int = CHUNK_SIZE) -> list[bytes]:
    """INIT (the path), then the payload in ADD chunks of `chunk_size` bytes and a final LAST."""
    if not 1 <= chunk_size <= MAX_APDU_DATA:
        raise InvalidInput(f"chunk size must be 1..{MAX_APDU_DATA}")
    apdus = [command(ins, P1_INIT, 0, encode_path(path))]
    pieces = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
    for i, piece in enumerate(pieces):
        apdus.append(command(ins, P1_LAST if i == len(pieces) - 1 else P1_ADD, 0, piece))
    return apdus


def sign_payload(genesis_id: bytes, unsigned_tx: bytes) -> bytes:
    """What SIGN signs: genesis id (20) ‖ the unsigned transaction."""
    if len(genesis_id) != 20:
        raise InvalidInput(f"genesis id must be 20 bytes, got {len(genesis_id)}")
    return bytes(genesis_id) + bytes(unsigned_tx)


def _key_items(internal_index: int, keys: Sequence[bytes]) -> bytes:
    if not 0 <= internal_index < len(keys):
        raise InvalidInput(f"the device's key position {internal_index} is outside the {len(keys)} keys")
    out = bytearray()
    for i, key in enumerate(keys):
        if len(key) != PUBLIC_KEY_SIZE:
            raise InvalidInput(f"public keys are {PUBLIC_KEY_SIZE} bytes, got {len(key)}")
        if i != internal_index:
            out += bytes([i]) + key
    return bytes(out)


def multisig_address_payload(internal_index: int, approvers: int, keys: Sequence[bytes]) -> bytes:
    """GET_ADDR_MULTISIG/VESTING payload: own position ‖ approvers ‖ participants ‖ the other keys.

    `keys` is the account's full key list; the entry at `internal_index` (the device's own key)
    is not sent: the device inserts its key there.
    """
    if not 1 <= approvers <= len(keys) <= 10:
        raise InvalidInput("a multisig account needs 1 ≤ required ≤ keys ≤ 10")
    return bytes([internal_index, approvers, len(keys)]) + _key_items(internal_index, keys)


def vault_address_payload(
    internal_index: int, total: int, initial: int, start: int, end: int, approvers: int, keys: Sequence[bytes]
) -> bytes:
    """GET_ADDR_VAULT payload: own position ‖ amounts (u64 LE) ‖ layers (u32 LE) ‖ the owner's keys."""
    if not 1 <= approvers <= len(keys) <= 10:
        raise InvalidInput("the vault's owner needs 1 ≤ required ≤ keys ≤ 10")
    head = struct.pack("<BQQII", internal_index, total, initial, start, end)
    return head + bytes([approvers, len(keys)]) + _key_items(internal_index, keys)


def message_payload(prefix: bytes, domain: int, message: bytes) -> bytes:
    """SIGN_MESSAGE payload: prefix length ‖ message length (u16 LE) ‖ prefix ‖ domain ‖ message."""
    if len(prefix) > 0xFFFF or len(message) > 0xFFFF:
        raise InvalidInput("prefix and message are at most 65535 bytes each")
    return struct.pack("<HH", len(prefix), len(message)) + bytes(prefix) + bytes([domain]) + bytes(message)


# --------------------------------------------------------------------------------------------
# Replies


@dataclasses.dataclass(frozen=True)
class AppVersion:
    test_mode: bool
    major: int
    minor: int
    patch: int
    locked: bool
    target_id: int

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_version(data: bytes) -> AppVersion:
    """GET_VERSION reply: test flag ‖ major, minor, patch (u16 BE) ‖ locked ‖ target id (u32 BE)."""
    if len(data) < 12:
        raise LedgerError(f"unexpected GET_VERSION reply of {len(data)} bytes (is the Spacemesh app open?)")
    test, major, minor, patch, locked, target = struct.unpack(">BHHHBI", data[:12])
    return AppVersion(test != 0, major, minor, patch, locked != 0, target)


def parse_address_reply(data: bytes) -> tuple[bytes, str]:
    """GET_ADDR* reply: public key (32) ‖ bech32 address in ASCII."""
    if len(data) <= PUBLIC_KEY_SIZE:
        raise LedgerError(f"unexpected address reply of {len(data)} bytes")
    try:
        address = data[PUBLIC_KEY_SIZE:].decode("ascii").rstrip("\x00")
    except UnicodeDecodeError:
        raise LedgerError("the device's address reply is not ASCII") from None
    return bytes(data[:PUBLIC_KEY_SIZE]), address


# --------------------------------------------------------------------------------------------
# Client


class Transport(Protocol):
    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one APDU; return the reply's data and status word."""
        ...

    def close(self) -> None: ...


class LedgerApp:
    """The Spacemesh app on a device, over any transport.

    `on_confirm(what)` is called just before a command that waits for the user to approve on
    the device (a CLI shows a spinner); it may return a context manager that is left when the
    device answers.
    """

    def __init__(self, transport: Transport, on_confirm: Callable[[str], object] | None = None) -> None:
        self.transport = transport
        self.on_confirm = on_confirm

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> LedgerApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exchange(self, apdu: bytes) -> bytes:
        data, sw = self.transport.exchange(apdu)
        return check_status(data, sw)

    def _confirming(self, what: str, apdus: list[bytes]) -> bytes:
        """Send all but the last APDU, then the last one while the user is asked to approve."""
        for apdu in apdus[:-1]:
            self.exchange(apdu)
        guard = self.on_confirm(what) if self.on_confirm else None
        if guard is not None and hasattr(guard, "__enter__"):
            with guard:  # type: ignore[union-attr]
                return self.exchange(apdus[-1])
        return self.exchange(apdus[-1])

    def get_version(self) -> AppVersion:
        return parse_version(self.exchange(command(INS_GET_VERSION)))

    def get_address(self, path: str | Sequence[int], confirm: bool = False) -> tuple[bytes, str]:
        """(public key, address) of a path; with `confirm` the device shows it for approval."""
        apdu = command(INS_GET_ADDR, P1_CONFIRM if confirm else P1_SILENT, 0, encode_path(path))
        data = self._confirming("address", [apdu]) if confirm else self.exchange(apdu)
        return parse_address_reply(data)

    def get_public_key(self, path: str | Sequence[int]) -> bytes:
        return self.get_address(path)[0]

    def sign(self, path: str | Sequence[int], genesis_id: bytes, unsigned_tx: bytes) -> bytes:
        """The device's signature over genesis id ‖ unsigned tx (after the user approves it)."""
        data = self._confirming("transaction", chunked(INS_SIGN, path, sign_payload(genesis_id, unsigned_tx)))
        if len(data) != SIGNATURE_SIZE:
            raise LedgerError(f"the device returned a {len(data)}-byte signature, expected {SIGNATURE_SIZE}")
        return data

    def get_multisig_address(
        self,
        path: str | Sequence[int],
        internal_index: int,
        approvers: int,
        keys: Sequence[bytes],
        vesting: bool = False,
    ) -> tuple[bytes, str]:
        ins = INS_GET_ADDR_VESTING if vesting else INS_GET_ADDR_MULTISIG
        payload = multisig_address_payload(internal_index, approvers, keys)
        return parse_address_reply(self._confirming("address", chunked(ins, path, payload)))

    def get_vault_address(
        self,
        path: str | Sequence[int],
        internal_index: int,
        total: int,
        initial: int,
        start: int,
        end: int,
        approvers: int,
        keys: Sequence[bytes],
    ) -> tuple[bytes, str]:
        payload = vault_address_payload(internal_index, total, initial, start, end, approvers, keys)
        return parse_address_reply(self._confirming("address", chunked(INS_GET_ADDR_VAULT, path, payload)))

    def sign_message(self, path: str | Sequence[int], prefix: bytes, domain: int, message: bytes) -> bytes:
        """Signature over prefix ‖ domain ‖ message (the node-message shape of spec §3.3)."""
        data = self._confirming("message", chunked(INS_SIGN_MESSAGE, path, message_payload(prefix, domain, message)))
        if len(data) != SIGNATURE_SIZE:
            raise LedgerError(f"the device returned a {len(data)}-byte signature, expected {SIGNATURE_SIZE}")
        return data
