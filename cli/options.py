"""Options and input helpers shared by command groups: wallets, passwords, networks, hex."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInput, WalletFileError

PASSWORD_ENV = "SMESH_WALLET_PASSWORD"
WALLET_DIR_ENV = "SMESH_WALLET_DIR"

WalletFile = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Wallet file (default: the only wallet in ~/.spacemesh).", show_default=False),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help=f"Read the wallet password from this file (or set {PASSWORD_ENV})."),
]
AccountIndex = Annotated[int, typer.Option("--account", "-a", min=0, help="Account index in the wallet.")]
Hrp = Annotated[str | None, typer.Option("--hrp", help="Address prefix: sm, stest, standalone (default: the network's).")]
Network = Annotated[str, typer.Option("--network", "-n", help="mainnet, testnet or standalone.")]
GenesisId = Annotated[
    str | None, typer.Option("--genesis-id", help="20-byte genesis id as hex (overrides --network's).")
]
GenesisTime = Annotated[
    int | None, typer.Option("--genesis-time", help="Genesis as Unix seconds (for standalone networks).")
]


def wallet_dir() -> Path:
    return Path(os.environ.get(WALLET_DIR_ENV) or Path.home() / ".spacemesh")


def resolve_wallet_file(path: Path | None) -> Path:
    """The wallet file to use: the one given, or the only `wallet_*.json` in the wallet directory."""
    if path is not None:
        if not path.is_file():
            raise WalletFileError(f"no wallet file at {path}")
        return path
    found = sorted(wallet_dir().glob("wallet_*.json"))
    if not found:
        raise WalletFileError(f"no wallet in {wallet_dir()}: create one with 'smesh wallet create' or give --file")
    if len(found) > 1:
        raise WalletFileError(f"{len(found)} wallets in {wallet_dir()}: choose one with --file")
    return found[0]


def read_secret_file(path: Path, what: str) -> str:
    """A password or mnemonic from a file; only the trailing newline is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidInput(f"cannot read {what} file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} file {path} is not UTF-8 text") from None
    return text[:-1] if text.endswith("\n") else text


def get_password(password_file: Path | None, *, confirm: bool = False) -> str:
    """The wallet password from --password-file, the environment, or a hidden prompt."""
    if password_file is not None:
        return read_secret_file(password_file, "password")
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise InvalidInput(f"no password given: use --password-file or set {PASSWORD_ENV}")
    return typer.prompt("Wallet password", hide_input=True, confirmation_prompt=confirm, default="", show_default=False)


def parse_hex(text: str, what: str, size: int | None = None) -> bytes:
    """Bytes from hex with or without 0x; a clear error names the field and size."""
    clean = text.strip()
    if clean[:2].lower() == "0x":
        clean = clean[2:]
    try:
        raw = bytes.fromhex(clean)
    except ValueError:
        raise InvalidInput(f"{what} is not valid hex") from None
    if size is not None and len(raw) != size:
        raise InvalidInput(f"{what} must be {size} bytes ({2 * size} hex characters), got {len(raw)}")
    return raw
