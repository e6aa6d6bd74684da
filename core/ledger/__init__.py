"""Ledger hardware wallets running the Zondax Spacemesh app (spec/wallet.md §4).

- `apdu`: commands, chunking, replies, status words → `LedgerError` subclasses, the `LedgerApp` client;
- `transport`: USB HID (ledgerblue, imported only when used) and TCP with Speculos's framing;
- `emulator`: the app in software (keys from a mnemonic) and a TCP server for it.
"""

from core.ledger.apdu import (
    LedgerApp,
    LedgerAppNotOpen,
    LedgerError,
    LedgerInvalidData,
    LedgerLocked,
    LedgerNotFound,
    LedgerRejected,
    LedgerTransportError,
    ledger_account_path,
)


def connect(selector: str | None = None, on_confirm=None) -> LedgerApp:  # noqa: ANN001
    """The Spacemesh app on the device named by `selector` (usb, usb:N, tcp:HOST:PORT; default $SMESH_LEDGER)."""
    from core.ledger.transport import open_transport

    return LedgerApp(open_transport(selector), on_confirm)


__all__ = [
    "LedgerApp",
    "LedgerAppNotOpen",
    "LedgerError",
    "LedgerInvalidData",
    "LedgerLocked",
    "LedgerNotFound",
    "LedgerRejected",
    "LedgerTransportError",
    "connect",
    "ledger_account_path",
]
