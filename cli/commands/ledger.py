"""`smesh ledger`: talk to the Spacemesh app on a Ledger, or run an emulator of it.

The device is chosen with `--device usb|usb:N|tcp:HOST:PORT` or `SMESH_LEDGER` (default: the first
Ledger on USB).  `smesh ledger emulate` serves the app in software over Speculos's TCP protocol so
every Ledger flow (wallet create --ledger, tx ... --ledger, the REPL) can be tried without one.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import read_secret_file
from cli.output import console, emit, err_console, note, warn
from cli.state import options
from core.errors import InvalidInput

if TYPE_CHECKING:
    from core.ledger.apdu import LedgerApp

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Ledger hardware wallet: version, addresses, emulator."
)

Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="Ledger to use: usb, usb:N (N-th connected) or tcp:HOST:PORT (Speculos or 'smesh ledger emulate'); "
        "default $SMESH_LEDGER or usb.",
        show_default=False,
    ),
]


# --------------------------------------------------------------------------------------------
# Helpers shared with `smesh tx`, `smesh wallet` and the REPL


def confirming(what: str) -> contextlib.AbstractContextManager:
    """While the device waits for the user: a spinner on a terminal, else one hint line."""
    text = f"Confirm the {what} on your Ledger…"
    if sys.stderr.isatty() and not options.json:
        return err_console().status(f"[bold]{text}[/]", spinner="dots")
    note(text)
    return contextlib.nullcontext()


def open_ledger(device: str | None) -> LedgerApp:
    """The Spacemesh app on `device`, showing a spinner whenever it waits for the user."""
    from core.ledger import connect

    return connect(device, on_confirm=confirming)


# --------------------------------------------------------------------------------------------
# Commands


@app.command()
def version(device: Device = None) -> None:
    """Version of the Spacemesh app on the device (checks that it is open)."""
    with open_ledger(device) as ledger:
        info = ledger.get_version()
    result = {
        "app": "Spacemesh",
        "version": info.version,
        "testMode": info.test_mode,
        "locked": info.locked,
        "targetId": f"0x{info.target_id:08x}",
    }
    emit(result, lambda: console().print(
        f"Spacemesh app {info.version} (target 0x{info.target_id:08x}{', test build' if info.test_mode else ''})"
    ))


@app.command()
def address(
    index: Annotated[int, typer.Option("--index", "-i", min=0, help="Account index i of m/44'/540'/0'/0'/i'.")] = 0,
    confirm: Annotated[bool, typer.Option("--confirm", help="Show the address on the device for approval.")] = False,
    hrp: Annotated[
        str | None, typer.Option("--hrp", help="Print the address with this prefix (default: the device's, sm).")
    ] = None,
    coin: Annotated[
        int, typer.Option("--coin", help="Coin type of the path: 540 (smcli/smapp keys) or 1 (the device shows stest).")
    ] = 540,
    path: Annotated[str | None, typer.Option("--path", help="Full path instead of --index/--coin.")] = None,
    device: Device = None,
) -> None:
    """Public key and address of an account on the device."""
    from core.ledger.apdu import LedgerError, encode_path, ledger_account_path, path_hrp
    from core.tx.templates import wallet_principal
    from core.wallet.address import encode_address

    chosen = path if path is not None else ledger_account_path(index, coin)
    encode_path(chosen)  # a bad path fails here, before touching the device
    with open_ledger(device) as ledger:
        public_key, shown = ledger.get_address(chosen, confirm=confirm)
    principal = wallet_principal(public_key)
    if shown != encode_address(principal, path_hrp(chosen)):
        raise LedgerError(f"the device reported address {shown}, which does not belong to its own key")
    text = encode_address(principal, hrp) if hrp else shown
    result = {"path": chosen if chosen.startswith("m/") else "m/" + chosen, "publicKey": public_key.hex(),
              "address": text, "deviceAddress": shown, "confirmed": confirm}

    def human() -> None:
        console().print(text)
        note(f"path {result['path']}, public key {public_key.hex()}")

    emit(result, human)


@app.command()
def emulate(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port (0 picks a free one).")] = 9999,
    mnemonic_file: Annotated[
        Path | None, typer.Option("--mnemonic-file", help="The emulated device's seed phrase (else a hidden prompt).")
    ] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Play a user who rejects everything on the device.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    model: Annotated[str, typer.Option("--model", help="nanos, nanosp, nanox, stax or flex (buffer sizes).")] = "nanox",
    delay: Annotated[float, typer.Option("--delay", min=0, help="Seconds the 'user' takes to approve.")] = 0.0,
    log: Annotated[bool, typer.Option("--log", help="Print every APDU and reply (hex) on stderr.")] = False,
) -> None:
    """Serve an emulated Spacemesh Ledger app over TCP (Speculos's APDU protocol) until interrupted."""
    from core.ledger.emulator import APP_VERSION, EmulatedLedger, EmulatorServer
    from core.wallet.mnemonic import validate_mnemonic

    if mnemonic_file is not None:
        phrase = read_secret_file(mnemonic_file, "mnemonic")
    elif sys.stdin.isatty():
        phrase = typer.prompt("Mnemonic of the emulated device", hide_input=True)
    else:
        raise InvalidInput("no mnemonic given: use --mnemonic-file")
    emulated = EmulatedLedger(validate_mnemonic(phrase), reject=reject, model=model, delay=delay)

    def show(apdu: bytes, reply: bytes) -> None:
        sys.stderr.write(f"> {apdu.hex()}\n< {reply.hex()}\n")
        sys.stderr.flush()

    server = EmulatorServer(emulated, host, port, log=show if log else None)
    version_text = ".".join(map(str, APP_VERSION))
    emit(
        {"device": server.selector, "model": model, "version": version_text, "reject": reject},
        lambda: console().print(
            f"Ledger emulator (Spacemesh app {version_text}, {model}) listening on {server.selector}"
        ),
    )
    sys.stdout.flush()
    warn(f"emulated keys are software keys, for testing only; use --device {server.selector} or SMESH_LEDGER")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
