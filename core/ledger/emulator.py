"""An emulator of the Zondax Spacemesh Ledger app, for tests and for trying Ledger flows without one.

It answers the same APDUs as the app (spec/wallet.md §4.2–4.4) with keys derived in software
from a mnemonic: the same paths and path checks (44'/540' → "sm", 44'/1' → "stest"), the same
chunking state machine and buffer limits, the same parse of the SIGN payload (genesis id ‖
unsigned tx, consumed exactly) with the device's error strings, and the same status words.  A
`reject` switch plays the user pressing "reject"; `reviews` records what the screen would show.

`EmulatorServer` serves it over TCP with Speculos's APDU framing, so any transport that talks to
Speculos talks to it (`smesh ledger emulate`, or `SMESH_LEDGER=tcp:127.0.0.1:PORT`).
"""

from __future__ import annotations

import dataclasses
import socketserver
import struct
import threading
import time
from collections.abc import Callable

from core.crypto.signing import sign_raw
from core.errors import InvalidInput
from core.ledger import apdu as A
from core.tx.templates import (
    MAX_MULTISIG_KEYS,
    MultisigSpawnArgs,
    Template,
    VaultSpawnArgs,
    compute_principal,
    wallet_principal,
)
from core.wallet.address import encode_address
from core.wallet.mnemonic import mnemonic_to_seed
from core.wallet.slip10 import HARDENED, derive

#: Version the emulator reports (the app's version at the spec's HEAD).
APP_VERSION = (0, 0, 15)

#: model → (target id, transaction buffer bytes: the larger of the app's RAM and flash buffers).
MODELS: dict[str, tuple[int, int]] = {
    "nanos": (0x31100004, 8 * 1024),
    "nanox": (0x33000004, 16 * 1024),
    "nanosp": (0x33100004, 16 * 1024),
    "stax": (0x33200004, 16 * 1024),
    "flex": (0x33300004, 16 * 1024),
}

SW_WRONG_LENGTH = 0x6700
SW_BUFFER_TOO_SMALL = 0x6983
SW_DATA_INVALID = 0x6984
SW_REJECTED = 0x6986
SW_NOT_INITIALIZED = 0x6987
SW_BAD_P1P2 = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_LOCKED = 0x5515

# The app's parser error strings (app/src/parser_impl.c).
E_EMPTY = "Initialized empty context"
E_BUFFER_END = "Unexpected buffer end"
E_VERSION = "Unexpected version"
E_METHOD = "Unexpected method selector"
E_VALUE = "Unexpected value"
E_RANGE = "Value out of range"
E_UNPARSED = "Unexpected unparsed bytes"
E_CRYPTO = "Invalid crypto settings"

#: domains SIGN_MESSAGE accepts (spec §3.3; MARRIAGE = 5 is not one of them), with their screen names
DOMAINS = {
    0: "ATX", 1: "PROPOSAL", 2: "BALLOT", 3: "HARE", 4: "POET", 10: "BEACON FIRST MSG", 11: "BEACON FOLLOWUP MSG",
}

_CONFIRMED_INS = {A.INS_SIGN, A.INS_SIGN_MESSAGE, A.INS_GET_ADDR_MULTISIG, A.INS_GET_ADDR_VESTING, A.INS_GET_ADDR_VAULT}


class _Refused(Exception):
    """A command ends with a status word (and, for 0x6984, the app's message)."""

    def __init__(self, sw: int, message: str = "") -> None:
        super().__init__(message)
        self.sw = sw
        self.message = message


@dataclasses.dataclass
class Review:
    """One screen flow the user was asked to approve: its (title, value) items and the answer."""

    kind: str
    items: list[tuple[str, str]]
    approved: bool


def smh_text(smidge: int) -> str:
    """The app's amount text: "SMH 1.5", nine decimals at most, "SMH 1.0" for whole amounts."""
    whole, frac = divmod(smidge, 10**9)
    return f"SMH {whole}.{f'{frac:09d}'.rstrip('0') or '0'}"


class _Reader:
    """The device's view of a buffer: fixed arrays and SCALE compact integers, with its errors."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise _Refused(SW_DATA_INVALID, E_BUFFER_END)
        out = self.data[self.offset : self.offset + n]
        self.offset += n
        return out

    def compact(self, bits: int = 64) -> int:
        first = self.take(1)[0]
        mode = first & 3
        if mode == 0:
            value = first >> 2
        elif mode == 1:
            value = int.from_bytes(bytes([first]) + self.take(1), "little") >> 2
            if value < 64:
                raise _Refused(SW_DATA_INVALID, E_RANGE)
        elif mode == 2:
            value = int.from_bytes(bytes([first]) + self.take(3), "little") >> 2
            if value < 16383:  # sic: the app's bound (a canonical 4-byte form is ≥ 16384)
                raise _Refused(SW_DATA_INVALID, E_RANGE)
        else:
            size = (first >> 2) + 4
            raw = self.take(size)
            if size > 8:
                raise _Refused(SW_DATA_INVALID, E_RANGE)
            value = int.from_bytes(raw, "little")
            if value > (1 << 62) - 1:
                raise _Refused(SW_DATA_INVALID, E_RANGE)
        if value >> bits:
            raise _Refused(SW_DATA_INVALID, E_RANGE)
        return value

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise _Refused(SW_DATA_INVALID, E_UNPARSED)


class EmulatedLedger:
    """The Spacemesh app with software keys.  `handle(apdu)` returns the reply (data ‖ SW)."""

    def __init__(
        self,
        mnemonic: str,
        *,
        reject: bool = False,
        model: str = "nanox",
        locked: bool = False,
        delay: float = 0.0,
        test_mode: bool = False,
        buffer_size: int | None = None,
    ) -> None:
        if model not in MODELS:
            raise InvalidInput(f"unknown Ledger model {model!r}; choose one of {', '.join(MODELS)}")
        self.seed = mnemonic_to_seed(mnemonic)
        self.reject = reject
        self.locked = locked
        self.delay = delay
        self.test_mode = test_mode
        self.target_id, default_buffer = MODELS[model]
        self.buffer_size = default_buffer if buffer_size is None else buffer_size
        self.reviews: list[Review] = []
        self.apdus: list[bytes] = []
        self._keys: dict[tuple[int, ...], tuple[bytes, bytes]] = {}
        self._buffer = bytearray()
        self._initialized = False
        self._path: tuple[int, ...] = ()

    # ----------------------------------------------------------------------------------------
    # Keys

    def _keypair(self, path: tuple[int, ...]) -> tuple[bytes, bytes]:
        if path not in self._keys:
            if any(not i & HARDENED for i in path):
                raise _Refused(SW_DATA_INVALID)  # SLIP-10 ed25519 derives hardened children only
            pair = derive(self.seed, path)
            self._keys[path] = (pair.secret_key, pair.public_key)
        return self._keys[path]

    def public_key(self, path: str) -> bytes:
        """The key the device holds at `path` (for tests)."""
        return self._keypair(A.decode_path(A.encode_path(path)))[1]

    def _hrp(self) -> str:
        return A.HRP_BY_COIN[self._path[1] & ~HARDENED]

    def _address(self, raw: bytes) -> str:
        return encode_address(raw, self._hrp())

    # ----------------------------------------------------------------------------------------
    # APDU dispatch

    def handle(self, apdu: bytes) -> bytes:
        """Process one APDU; the reply is data ‖ SW1 SW2 as the device sends it."""
        apdu = bytes(apdu)
        self.apdus.append(apdu)
        try:
            data = self._dispatch(apdu)
            sw = A.SW_OK
        except _Refused as refusal:
            data, sw = refusal.message.encode("ascii"), refusal.sw
        return data + struct.pack(">H", sw)

    def _dispatch(self, apdu: bytes) -> bytes:
        if self.locked:
            raise _Refused(SW_LOCKED)
        if not apdu or apdu[0] != A.CLA:
            raise _Refused(SW_CLA_NOT_SUPPORTED)
        if len(apdu) < 5 or len(apdu) - 5 != apdu[4]:
            raise _Refused(SW_WRONG_LENGTH)
        ins, p1, data = apdu[1], apdu[2], apdu[5:]
        if ins == A.INS_GET_VERSION:
            major, minor, patch = APP_VERSION
            return struct.pack(">BHHHBI", int(self.test_mode), major, minor, patch, 0, self.target_id)
        if ins == A.INS_GET_ADDR:
            return self._get_addr(p1, data)
        if ins not in _CONFIRMED_INS:
            raise _Refused(SW_INS_NOT_SUPPORTED)
        if not self._chunk(p1, data):
            return b""
        payload = bytes(self._buffer)
        if ins == A.INS_SIGN:
            return self._sign_tx(payload)
        if ins == A.INS_SIGN_MESSAGE:
            return self._sign_message(payload)
        return self._account_address(ins, payload)

    def _extract_path(self, data: bytes) -> tuple[int, ...]:
        self._initialized = False
        if len(data) != A.PATH_SIZE:
            raise _Refused(SW_WRONG_LENGTH)
        path = A.decode_path(data)
        if path[0] != A.PURPOSE | HARDENED or path[1] not in (A.COIN_MAINNET | HARDENED, A.COIN_TESTNET | HARDENED):
            raise _Refused(SW_DATA_INVALID)
        return path

    def _chunk(self, p1: int, data: bytes) -> bool:
        """INIT/ADD/LAST: True once the LAST chunk completed the payload."""
        if p1 == A.P1_INIT:
            self._buffer.clear()
            self._path = self._extract_path(data)
            self._keypair(self._path)
            self._initialized = True
            return False
        if p1 not in (A.P1_ADD, A.P1_LAST):
            raise _Refused(SW_BAD_P1P2)
        if not self._initialized:
            raise _Refused(SW_NOT_INITIALIZED)
        if len(self._buffer) + len(data) > self.buffer_size:
            self._initialized = False
            raise _Refused(SW_BUFFER_TOO_SMALL)
        self._buffer += data
        if p1 == A.P1_ADD:
            return False
        self._initialized = False
        return True

    def _ask(self, kind: str, items: list[tuple[str, str]]) -> None:
        """Show a review to the 'user'; raise 0x6986 when they reject it."""
        if self.delay:
            time.sleep(self.delay)
        approved = not self.reject
        self.reviews.append(Review(kind, items, approved))
        if not approved:
            raise _Refused(SW_REJECTED)

    # ----------------------------------------------------------------------------------------
    # Commands

    def _get_addr(self, p1: int, data: bytes) -> bytes:
        self._path = self._extract_path(data)
        _, public = self._keypair(self._path)
        address = self._address(wallet_principal(public))
        if p1:
            self._ask("address", [("Address", address)])
        return public + address.encode("ascii")

    def _sign_tx(self, payload: bytes) -> bytes:
        if not payload:
            raise _Refused(SW_DATA_INVALID, E_EMPTY)
        kind, items = self.parse_tx(payload)
        self._ask(kind, items)
        secret, _ = self._keypair(self._path)
        return sign_raw(secret, payload)

    def parse_tx(self, payload: bytes) -> tuple[str, list[tuple[str, str]]]:
        """Parse genesis id ‖ unsigned tx as the app does; the review screens it would show."""
        r = _Reader(payload)
        r.take(20)  # genesis id: shown in expert mode only, never checked
        if r.compact(8) != 0:
            raise _Refused(SW_DATA_INVALID, E_VERSION)
        principal = self._address(r.take(24))
        method = r.compact(8)
        if method not in (0, 16, 17):
            raise _Refused(SW_DATA_INVALID, E_METHOD)
        if method == 0:
            template = r.take(24)[-1]  # the app looks at the template's last byte only
            _nonce, gas = r.compact(), r.compact()  # the nonce shows in expert mode only
            items = self._spawn_items(r, template, principal, gas)
        else:
            _nonce, gas = r.compact(), r.compact()
            gas_item = ("Gas price", f"SMIDGE {gas}")
            if method == 16:
                destination = self._address(r.take(24))
                amount = r.compact()
                items = [("Tx type", "Spend"), ("Principal", principal), ("Destination", destination),
                         ("Amount", smh_text(amount)), gas_item]
            else:
                vault, destination = self._address(r.take(24)), self._address(r.take(24))
                amount = r.compact()
                items = [("Tx type", "Vault drain"), ("Principal", principal), ("Vault", vault),
                         ("Destination", destination), ("Amount", smh_text(amount)), gas_item]
        r.finish()
        return items[0][1].lower(), items

    def _spawn_items(self, r: _Reader, template: int, principal: str, gas: int) -> list[tuple[str, str]]:
        gas_item = ("Gas price", f"SMIDGE {gas}")
        if template == Template.WALLET:
            r.take(32)
            return [("Tx type", "Wallet spawn"), ("Principal", principal), gas_item]
        if template in (Template.MULTISIG, Template.VESTING):
            required = r.compact(8)
            if required > MAX_MULTISIG_KEYS:
                raise _Refused(SW_DATA_INVALID, E_VALUE)
            count = r.compact(8)
            if count < required or count > MAX_MULTISIG_KEYS:
                raise _Refused(SW_DATA_INVALID, E_VALUE)
            keys = [r.take(32) for _ in range(count)]
            name = "Multisig spawn" if template == Template.MULTISIG else "Vesting spawn"
            items = [("Tx type", name), ("Principal", principal), gas_item,
                     ("Participants", str(count)), ("Validators", str(required))]
            for i, key in enumerate(keys):
                items += [(f"Pubkey {i}", key.hex()), (f"Address {i}", self._address(wallet_principal(key)))]
            return items
        if template == Template.VAULT:
            owner = self._address(r.take(24))
            total, initial = r.compact(), r.compact()
            if initial > total:
                raise _Refused(SW_DATA_INVALID, E_VALUE)
            start, end = r.compact(32), r.compact(32)
            if start > end:
                raise _Refused(SW_DATA_INVALID, E_VALUE)
            return [("Tx type", "Vault spawn"), ("Principal", principal), gas_item, ("Owner", owner),
                    ("TotalAmount", smh_text(total)), ("InitialUnlockAmount", smh_text(initial)),
                    ("VestingStart", str(start)), ("VestingEnd", str(end))]
        raise _Refused(SW_DATA_INVALID, E_VALUE)

    def _sign_message(self, payload: bytes) -> bytes:
        if not payload:
            raise _Refused(SW_DATA_INVALID, E_EMPTY)
        r = _Reader(payload)
        prefix_len, message_len = struct.unpack("<HH", r.take(4))
        prefix = r.take(prefix_len)
        domain = r.take(1)[0]
        if domain not in DOMAINS:
            raise _Refused(SW_DATA_INVALID, E_VALUE)
        message = r.take(message_len)
        r.finish()

        def shown(label: str, value: bytes) -> tuple[str, str]:
            if not value:
                return label, "Empty"
            if all(32 <= b < 127 for b in value):
                return label, value.decode("ascii")
            return f"{label} (hex)", value.hex()

        self._ask("message", [("Sign", "Message"), shown("Prefix", prefix), ("Domain", DOMAINS[domain]),
                              shown("Msg", message)])
        secret, _ = self._keypair(self._path)
        return sign_raw(secret, prefix + bytes([domain]) + message)

    def _account_address(self, ins: int, payload: bytes) -> bytes:
        vault = ins == A.INS_GET_ADDR_VAULT
        head = 1 + (24 if vault else 0)
        if len(payload) < head + 2:
            raise _Refused(SW_DATA_INVALID, E_CRYPTO)
        internal = payload[0]
        approvers, participants = payload[head], payload[head + 1]
        items = payload[head + 2 :]
        if len(items) % 33 or len(items) // 33 + 1 != participants:
            raise _Refused(SW_DATA_INVALID, E_CRYPTO)
        if not 1 <= approvers <= participants <= MAX_MULTISIG_KEYS or internal >= participants:
            raise _Refused(SW_DATA_INVALID, E_CRYPTO)
        _, own = self._keypair(self._path)
        others = [(items[i], items[i + 1 : i + 33]) for i in range(0, len(items), 33)]
        expected = [i for i in range(participants) if i != internal]
        if [index for index, _ in others] != expected:
            raise _Refused(SW_DATA_INVALID, E_CRYPTO)
        keys = [key for _, key in others]
        keys.insert(internal, own)
        args = MultisigSpawnArgs(approvers, tuple(keys))
        if ins == A.INS_GET_ADDR_MULTISIG:
            kind, principal = "multisig", compute_principal(Template.MULTISIG, args)
        else:
            owner = compute_principal(Template.VESTING, args)
            kind, principal = "vesting", owner
            if vault:
                total, initial, start, end = struct.unpack("<QQII", payload[1:25])
                kind = "vault"
                principal = compute_principal(Template.VAULT, VaultSpawnArgs(owner, total, initial, start, end))
        address = self._address(principal)
        shown = [(kind.capitalize(), address), ("Participants", str(participants)), ("Validators", str(approvers))]
        shown += [(f"Pubkey {i}", key.hex()) for i, key in enumerate(keys)]
        self._ask(f"{kind} address", shown)
        return own + address.encode("ascii")


# --------------------------------------------------------------------------------------------
# Speculos-compatible TCP server


class _Handler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def _recv(self, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def handle(self) -> None:
        while True:
            head = self._recv(4)
            if head is None:
                return
            (size,) = struct.unpack(">I", head)
            if size > 4096:
                return  # not an APDU client
            apdu = self._recv(size)
            if apdu is None:
                return
            with self.server.lock:
                reply = self.server.device.handle(apdu)
            if self.server.log is not None:
                self.server.log(apdu, reply)
            # Speculos: u32 BE length of the data (without the status word) ‖ data ‖ SW
            self.request.sendall(struct.pack(">I", len(reply) - 2) + reply)


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], device: EmulatedLedger, log) -> None:  # noqa: ANN001
        self.device = device
        self.log = log
        self.lock = threading.Lock()
        super().__init__(address, _Handler)


class EmulatorServer:
    """Serve an `EmulatedLedger` on host:port (port 0 picks a free one) with Speculos framing."""

    def __init__(
        self,
        device: EmulatedLedger,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[bytes, bytes], None] | None = None,
    ) -> None:
        self.device = device
        try:
            self._server = _TcpServer((host, port), device, log)
        except OSError as e:
            raise InvalidInput(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def selector(self) -> str:
        """The `--device` / SMESH_LEDGER value that reaches this emulator."""
        return f"tcp:{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="ledger-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
