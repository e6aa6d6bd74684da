"""`smesh wallet`: mnemonics, wallet files, accounts, addresses and message signing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.commands.online import Api
from cli.options import (
    AccountIndex,
    Hrp,
    PasswordFile,
    WalletFile,
    get_password,
    parse_hex,
    read_secret_file,
    resolve_wallet_file,
    wallet_dir,
)
from cli.output import console, emit, note, warn
from core.crypto.signing import sign_raw, verify_raw
from core.errors import InvalidInput, WalletFileError
from core.tx.templates import (
    Template,
    compute_principal,
    multisig_args,
    vault_args,
    wallet_principal,
)
from core.tx.units import parse_amount
from core.wallet import walletfile
from core.wallet.address import decode_address, encode_address
from core.wallet.mnemonic import generate_mnemonic, validate_mnemonic

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Mnemonics, keys, wallet files, addresses and message signing."
)

Words = Annotated[int, typer.Option("--words", help="Mnemonic length: 12, 15, 18, 21 or 24 words.")]
Accounts = Annotated[int, typer.Option("--accounts", min=1, max=128, help="Number of accounts to derive.")]
Name = Annotated[str, typer.Option("--name", help="Display name stored in the wallet file.")]
NewFile = Annotated[
    Path | None, typer.Option("--file", "-f", help="Where to write (default: ~/.spacemesh/wallet_<UTC time>.json).")
]


def account_index(account: walletfile.Account) -> int | None:
    """The i of an account at m/44'/540'/0'/0'/i' (smcli and smapp path spellings)."""
    return walletfile.account_index(account.path)


# Wallets an interactive session (`smesh repl`, `open`) keeps unlocked: resolved path → (wallet, password).
_unlocked: dict[Path, tuple[walletfile.Wallet, str]] = {}


def unlock_for_session(path: Path, wallet: walletfile.Wallet, password: str) -> None:
    """Keep `wallet` decrypted for the rest of the process, so later commands do not ask again."""
    _unlocked[path.resolve()] = (wallet, password)


def lock_session(path: Path | None = None) -> None:
    """Forget one unlocked wallet, or all of them."""
    if path is None:
        _unlocked.clear()
    else:
        _unlocked.pop(path.resolve(), None)


def _session_entry(path: Path | None) -> tuple[Path, walletfile.Wallet, str] | None:
    if path is None:
        if len(_unlocked) != 1:
            return None
        resolved = next(iter(_unlocked))
    else:
        resolved = path.resolve()
    entry = _unlocked.get(resolved)
    return (resolved, *entry) if entry is not None else None


def open_wallet(path: Path | None, password_file: Path | None) -> tuple[Path, walletfile.Wallet]:
    """Resolve, read and decrypt a wallet file (or take the one an interactive session unlocked)."""
    entry = _session_entry(path)
    if entry is not None:
        return entry[0], entry[1]
    resolved = resolve_wallet_file(path)
    walletfile.load_wallet_json(resolved)  # fails on a malformed file before asking for a password
    return resolved, walletfile.read_wallet(resolved, get_password(password_file))


def find_account(wallet: walletfile.Wallet, index: int) -> walletfile.Account:
    for account in wallet.secrets.accounts:
        if account_index(account) == index:
            return account
    have = sorted(i for a in wallet.secrets.accounts if (i := account_index(a)) is not None)
    raise InvalidInput(f"the wallet has no account {index} (it has {', '.join(map(str, have)) or 'none'})")


def signing_account(wallet: walletfile.Wallet, index: int) -> walletfile.Account:
    account = find_account(wallet, index)
    if not account.secret_key:
        raise WalletFileError(f"account {index} is a hardware-wallet key: its secret key is not in the file")
    return account


def account_rows(wallet: walletfile.Wallet, hrp: str, private: bool) -> list[dict]:
    rows = []
    for account in wallet.secrets.accounts:
        row = {
            "index": account_index(account),
            "name": account.display_name,
            "path": account.path,
            "publicKey": account.public_key.hex(),
            "address": encode_address(wallet_principal(account.public_key), hrp),
        }
        if private:
            row["secretKey"] = account.secret_key.hex()
        rows.append(row)
    return rows


def _print_accounts(rows: list[dict], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("#", "path", "public key", "address") + (("secret key",) if rows and "secretKey" in rows[0] else ()):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [str(row["index"]), row["path"], row["publicKey"], row["address"]]
        if "secretKey" in row:
            cells.append(row["secretKey"])
        table.add_row(*cells)
    console().print(table)


def _new_wallet_target(file: Path | None) -> Path:
    target = file if file is not None else walletfile.default_wallet_path(wallet_dir())
    if target.exists():
        raise WalletFileError(f"{target} already exists; wallet files are never overwritten")
    if file is not None and not target.parent.is_dir():
        raise WalletFileError(f"directory {target.parent} does not exist")
    return target


def _save_new_wallet(file: Path | None, mnemonic: str, accounts: int, name: str, password_file: Path | None) -> dict:
    target = _new_wallet_target(file)
    secrets = walletfile.new_wallet_secrets(mnemonic, accounts)
    return _write_new_wallet(target, secrets, name, password_file)


def _ledger_secrets(device: str | None, accounts: int) -> walletfile.WalletSecrets:
    """Public keys and paths read from a Ledger, as smcli stores them: no secret keys, mnemonic "(none)".

    The first account is shown on the device for approval (so the user sees the address the
    wallet will use); the others are read silently.
    """
    from cli.commands.ledger import open_ledger
    from core.ledger.apdu import LedgerError
    from core.wallet.slip10 import account_path

    created = walletfile.format_timestamp()
    found = []
    with open_ledger(device) as ledger:
        for i in range(accounts):
            path = account_path(i)
            public_key, shown = ledger.get_address(path, confirm=i == 0)
            if shown != encode_address(wallet_principal(public_key), "sm"):
                raise LedgerError(f"the device reported address {shown}, which does not belong to its own key")
            found.append(
                walletfile.Account(
                    display_name="Ledger Child Key" if i == 0 else f"Ledger Child Key {i}",
                    created=created,
                    path=path,
                    public_key=public_key,
                    key_type=walletfile.KEY_TYPE_LEDGER,
                )
            )
    return walletfile.WalletSecrets(mnemonic=walletfile.LEDGER_MNEMONIC, accounts=tuple(found), master=None)


def _write_new_wallet(target: Path, secrets: walletfile.WalletSecrets, name: str, password_file: Path | None) -> dict:
    password = get_password(password_file, confirm=True)
    meta = walletfile.WalletMeta(display_name=name, created=walletfile.format_timestamp())
    written = walletfile.create_wallet_file(target, secrets, password, meta)
    return {"file": str(written), "accounts": account_rows(walletfile.Wallet(meta, secrets), "sm", False)}


@app.command()
def create(
    file: NewFile = None,
    words: Words = 24,
    accounts: Accounts = 1,
    name: Name = "Main Wallet",
    password_file: PasswordFile = None,
    ledger: Annotated[
        bool, typer.Option("--ledger", help="Keys from a Ledger: the file holds public keys and paths only.")
    ] = False,
    device: Annotated[
        str | None,
        typer.Option("--device", help="Ledger to use: usb, usb:N or tcp:HOST:PORT (default $SMESH_LEDGER or usb).",
                     show_default=False),
    ] = None,
) -> None:
    """Create a wallet from a new mnemonic and print the mnemonic once (or from a Ledger's keys)."""
    if ledger:
        target = _new_wallet_target(file)
        result = _write_new_wallet(target, _ledger_secrets(device, accounts), name, password_file)
        result["ledger"] = True

        def ledger_human() -> None:
            note(f"Ledger wallet written to {result['file']} (public keys only: signing happens on the device)")
            _print_accounts(result["accounts"], "Accounts")

        emit(result, ledger_human)
        return
    if device is not None:
        raise InvalidInput("--device selects a Ledger: use it with --ledger")
    mnemonic = generate_mnemonic(words)
    result = _save_new_wallet(file, mnemonic, accounts, name, password_file)
    result["mnemonic"] = mnemonic

    def human() -> None:
        warn("write these words down and keep them secret: they are the only backup of this wallet")
        console().print(f"[bold]{mnemonic}[/]")
        note(f"wallet written to {result['file']}")
        _print_accounts(result["accounts"], "Accounts")

    emit(result, human)


@app.command(name="import")
def import_(
    mnemonic_file: Annotated[
        Path | None, typer.Option("--mnemonic-file", help="Read the mnemonic from this file instead of a prompt.")
    ] = None,
    file: NewFile = None,
    accounts: Accounts = 1,
    name: Name = "Main Wallet",
    password_file: PasswordFile = None,
) -> None:
    """Create a wallet file from an existing BIP-39 mnemonic."""
    if mnemonic_file is not None:
        phrase = read_secret_file(mnemonic_file, "mnemonic")
    elif sys.stdin.isatty():
        phrase = typer.prompt("Mnemonic", hide_input=True)
    else:
        raise InvalidInput("no mnemonic given: use --mnemonic-file")
    result = _save_new_wallet(file, validate_mnemonic(phrase), accounts, name, password_file)

    def human() -> None:
        note(f"wallet written to {result['file']}")
        _print_accounts(result["accounts"], "Accounts")

    emit(result, human)


@app.command()
def show(
    file: WalletFile = None,
    password_file: PasswordFile = None,
    hrp: Hrp = None,
    private: Annotated[bool, typer.Option("--private", help="Also show secret keys and the mnemonic.")] = False,
) -> None:
    """List the accounts of a wallet: index, path, public key and address."""
    path, wallet = open_wallet(file, password_file)
    rows = account_rows(wallet, hrp or "sm", private)
    result: dict = {
        "file": str(path),
        "name": wallet.meta.display_name,
        "created": wallet.meta.created,
        "accounts": rows,
    }
    if private:
        result["mnemonic"] = wallet.secrets.mnemonic

    def human() -> None:
        _print_accounts(rows, f"{wallet.meta.display_name} ({path})")
        if private:
            warn("secret material shown above: do not share it")
            console().print(f"mnemonic: {wallet.secrets.mnemonic}")

    emit(result, human)


@app.command("add-account")
def add_account(
    file: WalletFile = None,
    password_file: PasswordFile = None,
    count: Annotated[int, typer.Option("--count", min=1, max=128, help="How many accounts to add.")] = 1,
) -> None:
    """Derive the next account(s) from the wallet's mnemonic and save them in the file."""
    entry = _session_entry(file)
    if entry is not None:
        path, wallet, password = entry
    else:
        path = resolve_wallet_file(file)
        password = get_password(password_file)
        wallet = walletfile.read_wallet(path, password)
    updated = walletfile.Wallet(wallet.meta, walletfile.add_accounts(wallet.secrets, count))
    walletfile.update_wallet_file(path, updated, password)
    if entry is not None:
        unlock_for_session(path, updated, password)
    rows = account_rows(updated, "sm", False)[len(wallet.secrets.accounts) :]
    emit({"file": str(path), "added": rows}, lambda: _print_accounts(rows, "Added"))


@app.command()
def address(
    key: Annotated[list[str] | None, typer.Option("--key", "-k", help="Public key (hex); repeat for multisig.")] = None,
    required: Annotated[int | None, typer.Option("--required", "-m", help="Signatures required (multisig).")] = None,
    vesting: Annotated[bool, typer.Option("--vesting", help="Vesting instead of multisig template.")] = False,
    vault_owner: Annotated[str | None, typer.Option("--vault-owner", help="Owner address: compute a vault.")] = None,
    total: Annotated[str | None, typer.Option("--total", help="Vault total amount (e.g. 100smh).")] = None,
    initial: Annotated[str, typer.Option("--initial", help="Vault initial unlock amount.")] = "0",
    start: Annotated[int, typer.Option("--start", min=0, help="Vault vesting start layer.")] = 0,
    end: Annotated[int, typer.Option("--end", min=0, help="Vault vesting end layer.")] = 0,
    hrp: Hrp = None,
) -> None:
    """Compute a single-sig, multisig, vesting or vault address."""
    prefix = hrp or "sm"
    keys = [parse_hex(k, "public key", 32) for k in key or []]
    if vault_owner is not None:
        if keys or required is not None:
            raise InvalidInput("a vault address takes --vault-owner and amounts, not keys")
        if total is None:
            raise InvalidInput("a vault needs --total")
        template = Template.VAULT
        args = vault_args(decode_address(vault_owner), parse_amount(total), parse_amount(initial), start, end)
        principal = compute_principal(template, args)
    elif len(keys) == 1 and required is None and not vesting:
        template = Template.WALLET
        principal = wallet_principal(keys[0])
    elif keys:
        if required is None:
            raise InvalidInput("several keys make a multisig address: give --required M")
        template = Template.VESTING if vesting else Template.MULTISIG
        principal = compute_principal(template, multisig_args(required, keys))
    else:
        raise InvalidInput("give --key (single-sig), --key ... --required M (multisig/vesting) or --vault-owner")
    text = encode_address(principal, prefix)
    emit(
        {"address": text, "template": template.name.lower(), "hrp": prefix, "hex": principal.hex()},
        lambda: console().print(text),
    )


@app.command("sign-message")
def sign_message(
    text: Annotated[str, typer.Argument(help="The text to sign (UTF-8).")],
    file: WalletFile = None,
    password_file: PasswordFile = None,
    account: AccountIndex = 0,
) -> None:
    """Sign text like smapp does (plain ed25519 over the UTF-8 bytes); prints smapp's JSON."""
    _, wallet = open_wallet(file, password_file)
    signer = signing_account(wallet, account)
    signature = sign_raw(signer.secret_key, text.encode())
    result = {"text": text, "signature": "0x" + signature.hex(), "publicKey": "0x" + signer.public_key.hex()}
    emit(result, lambda: console().print_json(data=result))


@app.command("verify-message")
def verify_message(
    signed: Annotated[
        str | None, typer.Argument(help="smapp signed-message JSON, a file holding it, or '-' for stdin.")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="The signed text.")] = None,
    signature: Annotated[str | None, typer.Option("--signature", help="Signature (hex).")] = None,
    public_key: Annotated[str | None, typer.Option("--public-key", help="Signer's public key (hex).")] = None,
) -> None:
    """Check a signed message; exits with 1 when the signature is not valid."""
    if signed is not None:
        if signed == "-":
            raw = sys.stdin.read()
        elif signed.lstrip().startswith("{"):
            raw = signed
        else:
            raw = read_secret_file(Path(signed), "signed message")
        try:
            obj = json.loads(raw)
            text, signature, public_key = obj["text"], obj["signature"], obj["publicKey"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("signed message must be JSON with text, signature and publicKey") from None
    if text is None or signature is None or public_key is None:
        raise InvalidInput("give the signed-message JSON, or --text, --signature and --public-key")
    ok = verify_raw(parse_hex(public_key, "public key", 32), text.encode(), parse_hex(signature, "signature", 64))
    address = encode_address(wallet_principal(parse_hex(public_key, "public key", 32)), "sm")
    emit(
        {"valid": ok, "publicKey": public_key, "address": address},
        lambda: console().print(f"[green]valid[/] signature by {address}" if ok else "[red]invalid signature[/]"),
    )
    if not ok:
        raise typer.Exit(1)


# --------------------------------------------------------------------------------------------
# Online: through a node's API


@app.command()
def balance(
    addresses: Annotated[
        list[str] | None,
        typer.Argument(help="Addresses to look up (default: every account of the wallet).", show_default=False),
    ] = None,
    api: Api = None,
    file: WalletFile = None,
    password_file: PasswordFile = None,
) -> None:
    """Balance, nonce and projected state (with pending transactions) of accounts, from a node."""
    from cli.commands.online import account_json, checked_addresses, connect, smh, wallet_addresses

    with connect(api) as client:
        hrp = client.network_info().hrp  # addresses in the node's network, whatever --hrp others use
        if addresses:
            entries: list[tuple[int | None, str]] = [(None, a) for a in checked_addresses(addresses, hrp)]
        else:
            entries = wallet_addresses(file, password_file, hrp)
        accounts = client.accounts([a for _, a in entries])
    rows = [account_json(acc, index) for (index, _), acc in zip(entries, accounts, strict=True)]

    def human() -> None:
        from rich.table import Table

        from cli.commands.online import key_values

        show_index = any(index is not None for index, _ in entries)
        columns = (("#",) if show_index else ()) + ("address", "balance", "nonce", "projected balance", "next nonce",
                                                   "layer", "spawned")
        lines = []
        for (index, _), acc in zip(entries, accounts, strict=True):
            cells = [("-" if index is None else str(index))] if show_index else []
            cells += [acc.address, smh(acc.current.balance), str(acc.current.counter), smh(acc.projected.balance),
                      str(acc.projected.counter), str(acc.current.layer), "yes" if acc.spawned else "no"]
            lines.append(cells)
        if console().width < 150:  # an address alone is ~50-60 columns: one block per account, never folded
            for (index, _), cells in zip(entries, lines, strict=True):
                rows_ = [(k, v) for k, v in zip(columns, cells, strict=True) if k != "#"]
                key_values(rows_, f"Account {index}" if index is not None else None)
            return
        table = Table(title=f"Balances ({client.api}, {hrp})", title_justify="left")
        for column in columns:
            table.add_column(column, no_wrap=True,
                             justify="right" if column in ("#", "nonce", "next nonce", "layer") else "left")
        for cells in lines:
            table.add_row(*cells)
        console().print(table)

    emit(rows, human)
