"""Ways to reach a Ledger: USB HID (real devices) and TCP (Speculos or `smesh ledger emulate`).

A device is chosen by a selector string, from `--device` or the `SMESH_LEDGER` environment
variable:

    usb          the first Ledger on USB
    usb:N        the N-th Ledger on USB (0-based, ordered by HID path), when several are plugged in
    tcp:HOST:PORT  Speculos's raw APDU port (default 9999) or `smesh ledger emulate`

The TCP framing is Speculos's: a command is sent as u32 BE length ‖ APDU; a reply comes back as
u32 BE length of the data ‖ data ‖ SW1 SW2 (the length does not count the status word).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

from core.errors import InvalidInput
from core.ledger.apdu import LedgerNotFound, LedgerTransportError

ENV_VAR = "SMESH_LEDGER"
DEFAULT_SELECTOR = "usb"
LEDGER_VENDOR_ID = 0x2C97
#: Generous: the user may read a long transaction on the device before approving it.
DEFAULT_TIMEOUT_S = 300.0
#: A reply carries at most a few hundred bytes; anything larger is not a Ledger talking.
MAX_REPLY = 1 << 16


def parse_selector(selector: str) -> tuple[str, Any]:
    """("usb", index) or ("tcp", (host, port)) for a selector string."""
    text = selector.strip()
    kind, _, rest = text.partition(":")
    kind = kind.lower()
    if kind == "usb":
        if not rest:
            return "usb", 0
        if rest.isdigit():
            return "usb", int(rest)
        raise InvalidInput(f"invalid device {selector!r}: use usb or usb:N with N = 0, 1, ...")
    if kind == "tcp":
        if rest.startswith("["):  # tcp:[::1]:9999
            host, sep, port_text = rest[1:].partition("]")
            port_text = port_text[1:] if port_text.startswith(":") else ""
            if not sep:
                raise InvalidInput(f"invalid device {selector!r}: unclosed '[' in the host")
        elif rest.isdigit():  # tcp:9999
            host, port_text = "", rest
        else:
            host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
        host = host or "127.0.0.1"
        port_text = port_text or "9999"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidInput(f"invalid device {selector!r}: the port must be 1..65535")
        return "tcp", (host, int(port_text))
    raise InvalidInput(f"invalid device {selector!r}: use usb, usb:N or tcp:HOST:PORT")


def default_selector() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_SELECTOR


def open_transport(selector: str | None = None, timeout: float = DEFAULT_TIMEOUT_S):  # noqa: ANN201
    """Open the device named by `selector` (else $SMESH_LEDGER, else the first USB Ledger)."""
    kind, where = parse_selector(selector or default_selector())
    if kind == "tcp":
        return TcpTransport(*where, timeout=timeout)
    return HidTransport(where, timeout=timeout)


# --------------------------------------------------------------------------------------------
# TCP (Speculos APDU port)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise LedgerTransportError("the device connection closed in the middle of a reply")
        data += chunk
    return bytes(data)


class TcpTransport:
    """APDUs over TCP with Speculos's length-prefixed framing."""

    def __init__(self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.where = f"tcp:{host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise LedgerNotFound(
                f"no Ledger emulator at {self.where} ({e.strerror or e}): start Speculos or 'smesh ledger emulate'"
            ) from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            self.sock.sendall(struct.pack(">I", len(apdu)) + bytes(apdu))
            (size,) = struct.unpack(">I", _recv_exact(self.sock, 4))
            if size > MAX_REPLY:
                raise LedgerTransportError(f"{self.where} sent a {size}-byte reply: not a Ledger APDU port")
            body = _recv_exact(self.sock, size + 2)
        except TimeoutError:
            raise LedgerTransportError(f"the device at {self.where} did not answer in time") from None
        except OSError as e:
            raise LedgerTransportError(f"lost the connection to {self.where}: {e.strerror or e}") from None
        return body[:-2], int.from_bytes(body[-2:], "big")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# USB HID


def ledger_hid_devices() -> list[dict]:
    """HID interfaces of connected Ledgers (one per device), ordered by path."""
    try:
        import hid
    except ImportError:  # pragma: no cover - hidapi is a dependency
        raise LedgerNotFound("USB support needs the 'hidapi' package") from None
    found = {}
    for info in hid.enumerate(LEDGER_VENDOR_ID, 0):
        if info.get("vendor_id") != LEDGER_VENDOR_ID:
            continue
        if info.get("interface_number") == 0 or info.get("usage_page") == 0xFFA0:
            found.setdefault(info["path"], info)
    return [found[p] for p in sorted(found)]


class HidTransport:
    """APDUs over USB HID, framed by ledgerblue (64-byte reports, channel 0x0101, tag 0x05)."""

    def __init__(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        devices = ledger_hid_devices()
        if not devices:
            raise LedgerNotFound(
                "no Ledger found on USB: plug it in, unlock it and open the Spacemesh app "
                "(on Linux the udev rules from Ledger must be installed)"
            )
        if index >= len(devices):
            last = len(devices) - 1
            raise LedgerNotFound(f"there is no Ledger usb:{index}: {len(devices)} connected (usb:0..usb:{last})")
        self.where = f"usb:{index}"
        self.timeout = timeout
        import hid
        from ledgerblue.comm import HIDDongleHIDAPI

        device = hid.device()
        try:
            device.open_path(devices[index]["path"])
        except OSError as e:
            message = f"cannot open the Ledger at {self.where}: {e} (is another program using it?)"
            raise LedgerNotFound(message) from None
        device.set_nonblocking(True)
        self.dongle = HIDDongleHIDAPI(device, True, False)

    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        from ledgerblue.commException import CommException

        try:
            data = self.dongle.exchange(bytearray(apdu), timeout=self.timeout)
        except CommException as e:
            if e.message == "Timeout":
                raise LedgerTransportError(f"the Ledger at {self.where} did not answer in time") from None
            return bytes(e.data or b""), int(e.sw)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - ledgerblue raises a bare BaseException on write errors
            raise LedgerTransportError(f"lost the connection to the Ledger at {self.where}: {e}") from None
        return bytes(data), 0x9000

    def close(self) -> None:
        try:
            self.dongle.close()
        except Exception:  # noqa: BLE001 - closing a vanished device must not mask the real error
            pass


__all__ = ["HidTransport", "TcpTransport", "open_transport", "parse_selector"]
