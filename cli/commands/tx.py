"""`smesh tx`: build, sign, combine, decode and price transactions offline; send and follow them through a node.

Builders print the signed transaction as hex (or every field with --json).  Multisig and vesting
transactions are signed in parts: each co-signer runs the same builder (or `tx sign`) and one of
them runs `tx combine` with Required parts.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.commands.online import Api, Limit, Offset
from cli.commands.wallet import find_account, open_wallet
from cli.options import (
    AccountIndex,
    GenesisId,
    GenesisTime,
    Hrp,
    Network,
    PasswordFile,
    WalletFile,
    parse_hex,
)
from cli.output import console, emit, note
from core.config.networks import network as get_network
from core.crypto.signing import sign_tx, verify_tx
from core.errors import DecodeError, InvalidInput, TxError
from core.tx import build
from core.tx.gas import AccountKind, max_gas
from core.tx.signing import combine as combine_parts
from core.tx.signing import make_part, multisig_keys
from core.tx.templates import (
    MultisigSpawnArgs,
    Template,
    compute_principal,
    multisig_args,
    vault_args,
    wallet_principal,
)
from core.tx.transaction import MAX_TX_SIZE, DrainArgs, SignaturePart, SpendArgs, Transaction, decode_tx
from core.tx.units import format_smh, parse_amount
from core.wallet.address import decode_address, encode_address
from core.wallet.slip10 import account_path as ledger_account_path
from core.wallet.walletfile import KEY_TYPE_LEDGER

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Build, sign, combine, decode and price transactions; send them through a node.",
)

Nonce = Annotated[int, typer.Option("--nonce", min=0, help="The principal's next nonce.")]
GasPrice = Annotated[int, typer.Option("--gas-price", min=1, help="Smidge per gas unit.")]
To = Annotated[str, typer.Option("--to", help="Destination address.")]
Amount = Annotated[str, typer.Option("--amount", help="Amount: '1.5smh' or whole smidge.")]
Keys = Annotated[list[str], typer.Option("--key", "-k", help="Multisig public key (hex), in account order; repeat.")]
OptKeys = Annotated[list[str] | None, typer.Option("--key", "-k", help="Multisig public key (hex); repeat.")]
Required = Annotated[int, typer.Option("--required", "-m", min=1, help="Signatures the account requires.")]
Vesting = Annotated[bool, typer.Option("--vesting", help="The account is a vesting account, not multisig.")]
BuildOnly = Annotated[bool, typer.Option("--unsigned", help="Only build: print the unsigned transaction.")]
TxInput = Annotated[str | None, typer.Argument(help="Transaction as hex, a file (hex or binary), or '-' for stdin.")]


# --------------------------------------------------------------------------------------------
# Shared plumbing


class Signer:
    """Network and key that a building command signs with: a wallet account or a Ledger.

    A wallet account whose key lives on a Ledger (key type 1, as `wallet create --ledger` writes)
    signs on the device; `--ledger` signs on the device with the account's path even without a
    wallet file (the key is then read from the device).  Software keys sign in memory.
    """

    def __init__(
        self,
        file: Path | None,
        password_file: Path | None,
        account: int,
        network: str,
        genesis_id: str | None,
        genesis_time: int | None,
        ledger: bool = False,
        device: str | None = None,
    ) -> None:
        net = get_network(network)
        self.hrp = net.hrp
        self.genesis_id = parse_hex(genesis_id, "genesis id", 20) if genesis_id else net.genesis_id(genesis_time)
        self._where = (file, password_file, account)
        self._use_ledger = ledger
        self._device = device
        self._account: SigningKey | None = None
        self._app = None  # the Ledger connection, opened on first use
        self._device_key_checked = False  # whether the device's key at the path is known to match

    @property
    def account(self) -> SigningKey:
        """The signing key: public key, path, and where its secret lives."""
        if self._account is None:
            file, password_file, index = self._where
            if self._use_ledger and file is None:
                path = ledger_account_path(index)
                self._account = SigningKey(self._ledger().get_public_key(path), path, on_device=True)
                self._device_key_checked = True
            else:
                _, wallet = open_wallet(file, password_file)
                found = find_account(wallet, index)
                on_device = self._use_ledger or found.key_type == KEY_TYPE_LEDGER or not found.secret_key
                secret = b"" if on_device else found.secret_key
                self._account = SigningKey(found.public_key, found.path, secret, on_device)
        return self._account

    @property
    def public_key(self) -> bytes:
        return self.account.public_key

    def _ledger(self):  # noqa: ANN202 - core.ledger.apdu.LedgerApp, opened once per command
        if self._app is None:
            from cli.commands.ledger import open_ledger

            self._app = open_ledger(self._device)
        return self._app

    def signature(self, tx: Transaction) -> bytes:
        """Signature over genesis id ‖ unsigned tx, in memory or on the device (checked either way)."""
        key = self.account
        unsigned = tx.unsigned_bytes()
        if not key.on_device:
            return sign_tx(key.secret_key, self.genesis_id, unsigned)
        from core.ledger.apdu import LedgerError

        ledger = self._ledger()
        if not self._device_key_checked:
            if ledger.get_public_key(key.path) != key.public_key:
                raise LedgerError(
                    f"the Ledger holds a different key at {key.path} than the wallet account: is it the device "
                    "(and passphrase) this wallet was created with?"
                )
            self._device_key_checked = True
        sig = ledger.sign(key.path, self.genesis_id, unsigned)
        if not verify_tx(key.public_key, self.genesis_id, unsigned, sig):
            raise LedgerError("the device's signature does not verify for the account's key")
        return sig

    def sign(self, tx: Transaction) -> Transaction:
        """A wallet-principal transaction with its one signature."""
        return tx.with_signature(self.signature(tx))

    def sign_part(self, tx: Transaction, ref: int) -> SignaturePart:
        """This signer's multisig part (`ref` = position of its key in the account's key list)."""
        return make_part(ref, self.signature(tx))

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A public key with its path, and its secret key in memory unless it lives on a Ledger."""

    public_key: bytes
    path: str
    secret_key: bytes = dataclasses.field(default=b"", repr=False)
    on_device: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("m/"):
            object.__setattr__(self, "path", "m/" + self.path)  # smapp writes paths without "m/"


UseLedger = Annotated[
    bool,
    typer.Option("--ledger", help="Sign on a Ledger (path m/44'/540'/0'/0'/ACCOUNT'); no wallet file needed."),
]
Device = Annotated[
    str | None,
    typer.Option("--device", help="Ledger to use: usb, usb:N or tcp:HOST:PORT (default $SMESH_LEDGER or usb).",
                 show_default=False),
]

SIGNER_OPTIONS = (
    ("file", WalletFile, None),
    ("password_file", PasswordFile, None),
    ("account", AccountIndex, 0),
    ("network", Network, "mainnet"),
    ("genesis_id", GenesisId, None),
    ("genesis_time", GenesisTime, None),
    ("ledger", UseLedger, False),
    ("device", Device, None),
)


def with_signer(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the wallet, Ledger and network options, and call it with the resulting `Signer`."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "signer"]
    added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in SIGNER_OPTIONS]

    @functools.wraps(command)
    def wrapper(**kwargs: object) -> None:
        signer = Signer(*(kwargs.pop(name) for name, _, _ in SIGNER_OPTIONS))
        try:
            command(signer=signer, **kwargs)
        finally:
            signer.close()

    wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**command.__annotations__, **{n: a for n, a, _ in SIGNER_OPTIONS}}
    del wrapper.__wrapped__  # typer must see the new signature, not the original's
    return wrapper


def read_tx_bytes(value: str | None) -> bytes:
    """Transaction bytes from hex text, a file holding hex or raw bytes, or stdin."""
    from_file = value is None or value == "-" or os.path.isfile(value)
    if value is None or value == "-":
        data = sys.stdin.buffer.read(4 * MAX_TX_SIZE + 1)
    elif from_file:
        try:
            data = Path(value).read_bytes()
        except OSError as e:
            raise InvalidInput(f"cannot read {value}: {e.strerror}") from None
    else:
        data = value.encode()
    if not data.strip():
        raise InvalidInput("no transaction given: pass hex, a file, or pipe it to stdin")
    if len(data) > 4 * MAX_TX_SIZE:
        raise DecodeError(f"input is over {4 * MAX_TX_SIZE} bytes; a transaction is at most {MAX_TX_SIZE}")
    try:
        text = data.decode("ascii").strip()
        return bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)
    except (UnicodeDecodeError, ValueError):
        if from_file:
            return data  # raw binary
        raise InvalidInput("transaction is neither hex nor a readable file") from None


def _address(raw: bytes, hrp: str) -> str:
    return encode_address(raw, hrp)


def describe_args(tx: Transaction, hrp: str) -> dict:
    args = tx.args
    if isinstance(args, SpendArgs):
        return {"destination": _address(args.destination, hrp), "amount": args.amount}
    if isinstance(args, DrainArgs):
        return {
            "vault": _address(args.vault, hrp),
            "destination": _address(args.destination, hrp),
            "amount": args.amount,
        }
    if isinstance(args, MultisigSpawnArgs):
        return {"required": args.required, "publicKeys": [k.hex() for k in args.public_keys]}
    if tx.template == Template.VAULT:
        return {
            "owner": _address(args.owner, hrp),
            "totalAmount": args.total_amount,
            "initialUnlockAmount": args.initial_unlock_amount,
            "vestingStart": args.vesting_start,
            "vestingEnd": args.vesting_end,
        }
    return {"publicKey": args.public_key.hex()}


def describe(tx: Transaction, hrp: str, principal: AccountKind | None = None) -> dict:
    """Every field of a transaction, amounts in smidge and bytes as hex."""
    try:
        gas: int | None = max_gas(tx, principal)
    except TxError:
        gas = None  # a multisig principal's key count is not in the bytes
    out: dict = {
        "id": tx.id.hex() if tx.is_signed else None,
        "principal": _address(tx.principal, hrp),
        "method": tx.method.name.lower(),
        "template": tx.template.name.lower() if tx.template is not None else None,
        "selfSpawn": tx.is_self_spawn,
        "nonce": tx.nonce,
        "gasPrice": tx.gas_price,
        "arguments": describe_args(tx, hrp),
        "maxSpend": tx.max_spend,
        "maxGas": gas,
        "fee": gas * tx.gas_price if gas is not None else None,
        "signed": tx.is_signed,
    }
    if tx.signature is not None:
        out["signature"] = tx.signature.hex()
    if tx.parts is not None:
        out["parts"] = [{"ref": p.ref, "signature": p.signature.hex()} for p in tx.parts]
    raw = tx.raw() if tx.is_signed else tx.unsigned_bytes()
    out["size"] = len(raw)
    out["raw"] = raw.hex()
    return out


def _print_fields(fields: dict) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")

    def add(name: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{name}.{k}", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                add(f"{name}[{i}]", v)
        else:
            shown = value
            if name.endswith(("amount", "Amount", "maxSpend", "fee")) and isinstance(value, int):
                shown = f"{value} smidge ({format_smh(value)})"
            add_row(name, "-" if shown is None else str(shown))

    def add_row(name: str, text: str) -> None:
        table.add_row(name, text)

    for key, value in fields.items():
        add(key, value)
    console().print(table)


def output_tx(tx: Transaction, hrp: str, principal: AccountKind | None = None) -> None:
    """A built transaction: hex for people and pipes, every field under --json."""
    raw = tx.raw() if tx.is_signed else tx.unsigned_bytes()
    emit(describe(tx, hrp, principal), lambda: console().print(raw.hex()))


def output_parts(
    tx: Transaction, parts: list[SignaturePart], required: int, kind: AccountKind, hrp: str, keys: list[bytes]
) -> None:
    """Multisig output: the signed tx once Required parts are in, else the unsigned tx and the parts."""
    if len(parts) >= required:
        output_tx(combine_parts(tx, parts[:required], required, keys), hrp, kind)
        return
    unsigned = tx.unsigned_bytes().hex()
    result = {
        "unsigned": unsigned,
        "required": required,
        "parts": [{"ref": p.ref, "hex": p.encode().hex()} for p in parts],
        "transaction": describe(tx, hrp, kind),
    }

    def human() -> None:
        console().print(f"unsigned: {unsigned}")
        for p in parts:
            console().print(f"part (ref {p.ref}): {p.encode().hex()}")
        more = required - len(parts)
        note(f"{more} more signature part(s) needed: co-signers run 'smesh tx sign', then 'smesh tx combine'")

    emit(result, human)


def _multisig_sign(
    tx: Transaction, signer: Signer, keys: list[bytes], unsigned_only: bool
) -> list[SignaturePart]:
    if unsigned_only:
        return []
    own = signer.public_key
    if own not in keys:
        raise TxError("the wallet account's key is not one of the account's --key values; use --unsigned to only build")
    return [signer.sign_part(tx, keys.index(own))]


def _multisig_principal(required: int, key_hex: list[str], template: Template) -> tuple[list[bytes], AccountKind, bytes]:
    """Keys, gas kind and address of the multisig or vesting account that pays."""
    keys = [parse_hex(k, "public key", 32) for k in key_hex]
    principal = compute_principal(template, multisig_args(required, keys))
    return keys, AccountKind.multisig(required, len(keys), template), principal


# --------------------------------------------------------------------------------------------
# Builders


@app.command()
@with_signer
def spawn(
    nonce: Nonce = 0,
    gas_price: GasPrice = 1,
    *,
    signer: Signer,
) -> None:
    """Self-spawn a wallet account (its first transaction)."""
    tx = build.wallet_spawn(signer.public_key, nonce, gas_price)
    output_tx(signer.sign(tx), signer.hrp)


@app.command()
@with_signer
def spend(
    to: To,
    amount: Amount,
    nonce: Nonce,
    gas_price: GasPrice = 1,
    *,
    signer: Signer,
) -> None:
    """Send SMH from a wallet account."""
    destination = decode_address(to, signer.hrp)
    principal = wallet_principal(signer.public_key)
    tx = build.spend(principal, destination, parse_amount(amount), nonce, gas_price)
    output_tx(signer.sign(tx), signer.hrp)


@app.command("multisig-spawn")
@with_signer
def multisig_spawn(
    required: Required,
    key: Keys,
    vesting: Vesting = False,
    nonce: Nonce = 0,
    gas_price: GasPrice = 1,
    unsigned: BuildOnly = False,
    *,
    signer: Signer,
) -> None:
    """Self-spawn a multisig (or --vesting) account; signs this wallet's part."""
    template = Template.VESTING if vesting else Template.MULTISIG
    keys, kind, _ = _multisig_principal(required, key, template)
    tx = build.multisig_spawn(multisig_args(required, keys), nonce, gas_price, template)
    output_parts(tx, _multisig_sign(tx, signer, keys, unsigned), required, kind, signer.hrp, keys)


@app.command("multisig-spend")
@with_signer
def multisig_spend(
    required: Required,
    key: Keys,
    to: To,
    amount: Amount,
    nonce: Nonce,
    vesting: Vesting = False,
    gas_price: GasPrice = 1,
    unsigned: BuildOnly = False,
    *,
    signer: Signer,
) -> None:
    """Send SMH from a multisig (or --vesting) account; signs this wallet's part."""
    keys, kind, principal = _multisig_principal(required, key, Template.VESTING if vesting else Template.MULTISIG)
    tx = build.spend(principal, decode_address(to, signer.hrp), parse_amount(amount), nonce, gas_price)
    output_parts(tx, _multisig_sign(tx, signer, keys, unsigned), required, kind, signer.hrp, keys)


@app.command("vault-spawn")
@with_signer
def vault_spawn(
    total: Annotated[str, typer.Option("--total", help="Total amount the vault vests.")],
    end: Annotated[int, typer.Option("--end", min=0, help="Layer at which everything is vested.")],
    nonce: Nonce,
    start: Annotated[int, typer.Option("--start", min=0, help="Layer vesting starts.")] = 0,
    initial: Annotated[str, typer.Option("--initial", help="Initial unlock amount.")] = "0",
    owner: Annotated[str | None, typer.Option("--owner", help="Owner address (default: the principal).")] = None,
    required: Annotated[int | None, typer.Option("--required", "-m", min=1, help="Principal is multisig.")] = None,
    key: OptKeys = None,
    vesting: Annotated[bool, typer.Option("--vesting/--multisig", help="Multisig principal's template.")] = True,
    gas_price: GasPrice = 1,
    unsigned: BuildOnly = False,
    *,
    signer: Signer,
) -> None:
    """Spawn a vault, paid for by a vesting/multisig account (--required/--key) or this wallet account."""
    if key:
        if required is None:
            raise InvalidInput("a multisig principal needs --required")
        template = Template.VESTING if vesting else Template.MULTISIG
        keys, kind, principal = _multisig_principal(required, key, template)
    else:
        if required is not None:
            raise InvalidInput("--required needs the principal's --key list")
        kind, keys, principal = AccountKind.wallet(), [], wallet_principal(signer.public_key)
    owner_address = decode_address(owner, signer.hrp) if owner else principal
    args = vault_args(owner_address, parse_amount(total), parse_amount(initial), start, end)
    tx = build.vault_spawn(principal, args, nonce, gas_price)
    if kind.template == Template.WALLET:
        if unsigned:
            output_tx(tx, signer.hrp, kind)
        else:
            output_tx(signer.sign(tx), signer.hrp, kind)
        return
    output_parts(tx, _multisig_sign(tx, signer, keys, unsigned), kind.required, kind, signer.hrp, keys)


@app.command()
@with_signer
def drain(
    vault: Annotated[str, typer.Option("--vault", help="The vault to drain.")],
    to: To,
    amount: Amount,
    nonce: Nonce,
    required: Required,
    key: Keys,
    gas_price: GasPrice = 1,
    unsigned: BuildOnly = False,
    *,
    signer: Signer,
) -> None:
    """Move vested funds out of a vault, signed by its vesting owner's keys."""
    keys, kind, principal = _multisig_principal(required, key, Template.VESTING)
    tx = build.drain(
        principal, decode_address(vault, signer.hrp), decode_address(to, signer.hrp), parse_amount(amount), nonce, gas_price
    )
    output_parts(tx, _multisig_sign(tx, signer, keys, unsigned), required, kind, signer.hrp, keys)


# --------------------------------------------------------------------------------------------
# Signing and combining


@app.command()
@with_signer
def sign(
    tx_input: TxInput = None,
    key: OptKeys = None,
    ref: Annotated[int | None, typer.Option("--ref", min=0, max=63, help="Signer's key position (multisig).")] = None,
    *,
    signer: Signer,
) -> None:
    """Sign an unsigned transaction: fully for a wallet principal, else one multisig part."""
    tx = decode_tx(read_tx_bytes(tx_input), signed=False)
    own = signer.public_key
    if tx.principal == wallet_principal(own) and not key and ref is None:
        output_tx(signer.sign(tx), signer.hrp)
        return
    named = multisig_keys(tx)
    keys = [parse_hex(k, "public key", 32) for k in key] if key else list(named[1]) if named else []
    if ref is None:
        if own not in keys:
            raise TxError("cannot tell this signer's position: give the account's --key list or --ref")
        ref = keys.index(own)
    elif keys and (ref >= len(keys) or keys[ref] != own):
        raise TxError(f"key {ref} of the account is not this wallet account's key")
    part = signer.sign_part(tx, ref)
    emit(
        {"unsigned": tx.unsigned_bytes().hex(), "part": {"ref": ref, "hex": part.encode().hex()}},
        lambda: console().print(part.encode().hex()),
    )


def parse_part(text: str) -> SignaturePart:
    raw = parse_hex(text, "signature part", 65)
    try:
        return SignaturePart.decode(raw)
    except DecodeError as e:
        raise InvalidInput(f"bad signature part: {e}") from None


@app.command()
def combine(
    tx_input: Annotated[str, typer.Argument(help="The unsigned transaction (hex, file or '-').")],
    part: Annotated[list[str], typer.Option("--part", "-p", help="A signature part (hex, 65 bytes); repeat.")],
    required: Annotated[int | None, typer.Option("--required", "-m", min=1, help="Parts the account requires.")] = None,
    key: OptKeys = None,
    network: Network = "mainnet",
    genesis_id: GenesisId = None,
    genesis_time: GenesisTime = None,
) -> None:
    """Join Required multisig parts (sorted by ref) into the signed transaction."""
    net = get_network(network)
    tx = decode_tx(read_tx_bytes(tx_input), signed=False)
    named = multisig_keys(tx)
    keys = [parse_hex(k, "public key", 32) for k in key] if key else list(named[1]) if named else None
    need = required if required is not None else named[0] if named else None
    if need is None:
        raise InvalidInput("give --required (the account's number of required signatures)")
    gid = None
    if keys is not None:
        gid = parse_hex(genesis_id, "genesis id", 20) if genesis_id else net.genesis_id(genesis_time)
    signed = combine_parts(tx, [parse_part(p) for p in part], need, keys, gid)
    kind = AccountKind.multisig(need, len(keys)) if keys is not None else None
    output_tx(signed, net.hrp, kind)


# --------------------------------------------------------------------------------------------
# Inspection


@app.command()
def decode(
    tx_input: TxInput = None,
    unsigned: Annotated[bool, typer.Option("--unsigned", help="The bytes are an unsigned transaction.")] = False,
    hrp: Hrp = None,
    keys: Annotated[int | None, typer.Option("--keys", min=1, max=10, help="Principal's key count (multisig gas).")] = None,
) -> None:
    """Print every field of a transaction."""
    tx = decode_tx(read_tx_bytes(tx_input), signed=not unsigned)
    kind = _kind_from(tx, keys)
    fields = describe(tx, hrp or "sm", kind)
    emit(fields, lambda: _print_fields(fields))


def _kind_from(tx: Transaction, keys: int | None) -> AccountKind | None:
    if keys is None:
        return None
    required = len(tx.parts) if tx.parts else None
    if required is None:
        raise InvalidInput("--keys applies to transactions signed with multisig parts")
    return AccountKind.multisig(required, keys)


@app.command()
def fee(
    tx_input: TxInput = None,
    unsigned: Annotated[bool, typer.Option("--unsigned", help="The bytes are an unsigned transaction.")] = False,
    keys: Annotated[int | None, typer.Option("--keys", min=1, max=10, help="Principal's key count (multisig).")] = None,
    required: Annotated[int | None, typer.Option("--required", "-m", min=1, help="Principal's required count.")] = None,
) -> None:
    """Max gas and fee of a transaction (unsigned ones are priced as they will be once signed)."""
    tx = decode_tx(read_tx_bytes(tx_input), signed=not unsigned)
    if keys is not None and (required or (len(tx.parts) if tx.parts else None)):
        kind: AccountKind | None = AccountKind.multisig(required or len(tx.parts), keys)
    elif keys is not None:
        raise InvalidInput("give --required with --keys for an unsigned multisig transaction")
    else:
        kind = AccountKind.wallet() if unsigned and not tx.is_self_spawn else None
    gas = max_gas(tx, kind)
    result = {"maxGas": gas, "gasPrice": tx.gas_price, "fee": gas * tx.gas_price, "maxSpend": tx.max_spend}
    emit(result, lambda: console().print(f"max gas {gas}, fee {gas * tx.gas_price} smidge ({format_smh(gas * tx.gas_price)})"))


# --------------------------------------------------------------------------------------------
# Online: through a node's API (spec/api-ecosystem.md §1.6)


@app.command()
def send(
    to: To,
    amount: Amount,
    gas_price: GasPrice = 1,
    nonce: Annotated[
        int | None,
        typer.Option("--nonce", min=0, help="Nonce to use (default: the account's projected next nonce).",
                     show_default=False),
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once the node has accepted the spend.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for the result (and for a self-spawn).")
    ] = 120,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
    api: Api = None,
    file: WalletFile = None,
    password_file: PasswordFile = None,
    account: AccountIndex = 0,
    ledger: UseLedger = False,
    device: Device = None,
) -> None:
    """Send SMH through a node: self-spawns the account first if needed, submits, waits for the result."""
    from cli.commands import online

    code = online.send(
        api=api, to=to, amount=amount, gas_price=gas_price, nonce=nonce, wait=not no_wait, timeout=timeout, yes=yes,
        file=file, password_file=password_file, account=account, ledger=ledger, device=device,
    )
    if code:
        raise typer.Exit(code)


@app.command()
def status(
    txid: Annotated[str, typer.Argument(help="Transaction id (64 hex characters).", show_default=False)],
    api: Api = None,
) -> None:
    """State and result of a transaction, from a node."""
    from cli.commands.online import UnknownTransaction, connect, key_values, record_json, record_rows

    tx_id = parse_hex(txid, "transaction id", 32)
    with connect(api) as client:
        record = client.transaction(tx_id)
    if record is None:
        raise UnknownTransaction(f"the node at {client.api} does not know transaction {tx_id.hex()}")
    emit(record_json(record, raw=True), lambda: key_values(record_rows(record)))


@app.command("list")
def list_(
    address: Annotated[
        str | None, typer.Argument(help="Address (default: every account of the wallet).", show_default=False)
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
    api: Api = None,
    file: WalletFile = None,
    password_file: PasswordFile = None,
) -> None:
    """Transactions of an address or of the wallet's accounts, newest first, from a node."""
    from cli.commands.online import (
        checked_addresses,
        connect,
        newest_first,
        print_tx_table,
        record_json,
        tx_layer,
        wallet_addresses,
    )

    with connect(api) as client:
        hrp = client.network_info().hrp
        if address is not None:
            addresses = checked_addresses([address], hrp)
            records = client.transactions(address=addresses[0], limit=limit, offset=offset)
        else:
            addresses = [a for _, a in wallet_addresses(file, password_file, hrp)]
            pages = [client.transactions(address=a, limit=offset + limit) for a in addresses]
            records = newest_first(pages, tx_layer, lambda r: r.tx.id, limit, offset)
    title = addresses[0] if len(addresses) == 1 else f"{len(addresses)} accounts"
    emit([record_json(r) for r in records], lambda: print_tx_table(records, f"Transactions of {title}"))
