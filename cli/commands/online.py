"""Helpers shared by the commands that talk to a node's API (`node status`, `wallet balance`, `tx send`,
`tx status`, `tx list`, `rewards`): the `--api` option, connecting, waiting for a transaction's result,
and rendering accounts and transactions for people and for `--json`.

Importing this module stays cheap (typer only): grpc and the generated code load when a command runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.output import console, emit, err_console, note, warn
from cli.state import options
from core.errors import InvalidInput, SmeshError

if TYPE_CHECKING:
    from cli.commands.tx import Signer
    from core.api.client import Account, NetworkInfo, NodeClient, TxRecord, TxResult
    from core.tx.transaction import Transaction

T = TypeVar("T")

API_ENV = "SMESH_API"
DEFAULT_API = "127.0.0.1:10092"  # the standalone preset's public listener (go-spacemesh: 9092)
FINAL_STATES = frozenset({"REJECTED", "INEFFECTUAL"})  # no result will ever come
FAILED_RESULTS = frozenset({"FAILURE", "INVALID"})


def _resolve_api(value: str | None) -> str:
    """--api, else $SMESH_API, else the standalone node's public listener; a usage error unless HOST:PORT."""
    from core.api.client import parse_api_target

    text = value if value is not None else os.environ.get(API_ENV) or DEFAULT_API
    try:
        parse_api_target(text)
    except InvalidInput as e:
        raise typer.BadParameter(f"{e}{'' if value is not None else f' (from ${API_ENV})'}") from None
    return text.strip()


Api = Annotated[
    str | None,
    typer.Option(
        "--api",
        callback=_resolve_api,
        help=f"The node's public gRPC API as HOST:PORT (default: ${API_ENV}, else {DEFAULT_API}).",
        show_default=False,
    ),
]
Limit = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many to show.")]
Offset = Annotated[int, typer.Option("--offset", min=0, help="How many of the newest to skip.")]


class UnknownTransaction(SmeshError):
    """The node does not know the transaction id."""


class WaitTimeout(SmeshError):
    """A submitted transaction got no result in time (it may still be applied later)."""


@contextlib.contextmanager
def connect(api: str) -> Iterator[NodeClient]:
    """A client for the node at `api`, closed on leaving."""
    from core.api.client import NodeClient

    client = NodeClient(api)
    try:
        yield client
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# Wallet accounts


def wallet_addresses(file: Path | None, password_file: Path | None, hrp: str) -> list[tuple[int | None, str]]:
    """(account index, address with `hrp`) of every account of a wallet file."""
    from cli.commands.wallet import account_index, open_wallet
    from core.tx.templates import wallet_principal
    from core.wallet.address import encode_address

    _, wallet = open_wallet(file, password_file)
    return [
        (account_index(a), encode_address(wallet_principal(a.public_key), hrp)) for a in wallet.secrets.accounts
    ]


def checked_addresses(texts: Sequence[str], hrp: str) -> list[str]:
    """Addresses as the node spells them (lower case), each checked to belong to the node's network."""
    from core.wallet.address import decode_address, encode_address

    return [encode_address(decode_address(t, hrp), hrp) for t in texts]


# --------------------------------------------------------------------------------------------
# Merging and paging lists of several addresses


def newest_first(lists: Sequence[Sequence[T]], layer: Callable[[T], int], ident: Callable[[T], object],
                 limit: int, offset: int) -> list[T]:
    """One page, newest first, of several newest-first lists (an item in two lists counts once)."""
    merged: dict[object, T] = {}
    for items in lists:
        for item in items:
            merged.setdefault(ident(item), item)
    ordered = sorted(merged.values(), key=layer, reverse=True)  # stable: the node's order within a layer
    return ordered[offset : offset + limit]


def tx_layer(record: TxRecord) -> int:
    """Sort key: the layer a transaction was applied in; pending ones count as newest."""
    return record.result.layer if record.result is not None else 1 << 32


# --------------------------------------------------------------------------------------------
# JSON shapes (amounts in smidge, bytes as hex)


def result_json(result: TxResult | None) -> dict | None:
    if result is None:
        return None
    return {
        "status": result.status,
        "message": result.message,
        "gasConsumed": result.gas_consumed,
        "fee": result.fee,
        "layer": result.layer,
        "block": result.block.hex(),
        "touchedAddresses": list(result.touched_addresses),
    }


def record_json(record: TxRecord, raw: bool = False) -> dict:
    tx = record.tx
    out = {
        "id": tx.id.hex(),
        "principal": tx.principal,
        "type": tx.type,
        "template": tx.template,
        "method": tx.method,
        "nonce": tx.nonce,
        "gasPrice": tx.gas_price,
        "maxGas": tx.max_gas,
        "maxFee": tx.max_fee,
        "maxSpend": tx.max_spend,
        "destination": tx.destination,
        "amount": tx.amount,
        "state": record.state,
        "result": result_json(record.result),
    }
    if raw:
        out["raw"] = tx.raw.hex()
    return out


def account_json(account: Account, index: int | None = None) -> dict:
    out: dict = {} if index is None else {"index": index}
    out.update(
        address=account.address,
        balance=account.current.balance,
        nonce=account.current.counter,
        projectedBalance=account.projected.balance,
        projectedNonce=account.projected.counter,
        layer=account.current.layer,
        spawned=account.spawned,
        template=account.template or None,
    )
    return out


def network_json(info: NetworkInfo) -> dict:
    return {
        "hrp": info.hrp,
        "genesisId": info.genesis_id.hex(),
        "genesisTime": info.genesis_time,
        "layerDuration": info.layer_duration,
        "layersPerEpoch": info.layers_per_epoch,
        "effectiveGenesisLayer": info.effective_genesis_layer,
        "labelsPerUnit": info.labels_per_unit,
    }


# --------------------------------------------------------------------------------------------
# Rendering for people


def smh(smidge: int | None) -> str:
    from core.tx.units import format_smh

    return "-" if smidge is None else format_smh(smidge)


def utc(seconds: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_text(record: TxRecord) -> str:
    """SUCCESS / FAILURE: message / INVALID, or the state while there is no result (rich markup)."""
    from rich.markup import escape

    result = record.result
    if result is None:
        state = record.state or "UNKNOWN"
        return f"[red]{state}[/]" if state in FINAL_STATES else f"[yellow]{state}[/]"
    colour = "green" if result.status == "SUCCESS" else "red"
    message = f": {escape(result.message)}" if result.message else ""
    return f"[{colour}]{result.status}[/]{message}"


def key_values(rows: Sequence[tuple[str, str]], title: str | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    console().print(table)


def record_rows(record: TxRecord) -> list[tuple[str, str]]:
    """Every field of a transaction with its state and result, as (name, markup) rows."""
    from rich.markup import escape

    tx, result = record.tx, record.result
    rows = [("tx id", tx.id.hex()), ("type", tx_kind(tx.type)), ("principal", escape(tx.principal)),
            ("nonce", str(tx.nonce))]
    if tx.destination is not None:
        rows += [("to", escape(tx.destination)), ("amount", f"{smh(tx.amount)} ({tx.amount} smidge)")]
    rows += [
        ("max fee", f"{smh(tx.max_fee)} ({tx.max_gas} gas × {tx.gas_price} smidge)"),
        ("state", record.state or "-"),
    ]
    if result is None:
        final = record.state in FINAL_STATES
        rows.append(("result", "[red]none: it will not be applied[/]" if final else "[yellow]not applied yet[/]"))
    else:
        rows += [
            ("result", status_text(record)),
            ("fee", f"{smh(result.fee)} ({result.fee} smidge)"),
            ("gas consumed", str(result.gas_consumed)),
            ("layer", str(result.layer)),
            ("block", result.block.hex() or "-"),
        ]
    return rows


def tx_kind(type_name: str) -> str:
    """'SINGLE_SIG_SEND' → 'send', 'MULTI_SIG_SELFSPAWN' → 'multisig self-spawn'."""
    words = type_name.lower().replace("selfspawn", "self-spawn").split("_")
    if words[:2] == ["single", "sig"]:
        words = words[2:]
    elif words[:2] == ["multi", "sig"]:
        words = ["multisig", *words[2:]]
    return " ".join(words) or type_name


WIDE_TABLE = 220  # columns from which a transaction table shows full ids and addresses


def _short_id(tx_id: bytes) -> str:
    return f"{tx_id.hex()[:8]}…{tx_id.hex()[-8:]}"


def _short_address(text: str | None) -> str:
    """'standalone1qqqq…' → 'standalone1…w8qyfser6': the prefix and the end, which differ between accounts."""
    if text is None:
        return "-"
    sep = text.rfind("1")
    return f"{text[: sep + 1]}…{text[-8:]}"


def print_tx_table(records: Sequence[TxRecord], title: str) -> None:
    """Newest first; on a narrow terminal ids and addresses are shortened (`--json` and `tx status` show them)."""
    from rich.markup import escape
    from rich.table import Table

    wide = console().width >= WIDE_TABLE
    table = Table(title=escape(title), title_justify="left")
    for column in ("layer", "tx id", "type", "from", "to", "amount", "nonce", "fee", "status"):
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in ("layer", "tx id", "nonce"),
            justify="right" if column in ("layer", "nonce") else "left",
        )
    for r in records:
        fee = r.result.fee if r.result is not None else None
        table.add_row(
            str(r.result.layer) if r.result is not None else "-",
            r.tx.id.hex() if wide else _short_id(r.tx.id),
            tx_kind(r.tx.type),
            escape(r.tx.principal if wide else _short_address(r.tx.principal)),
            escape((r.tx.destination or "-") if wide else _short_address(r.tx.destination)),
            smh(r.tx.amount),
            str(r.tx.nonce),
            smh(fee),
            status_text(r),
        )
    console().print(table)
    if not records:
        note("no transactions")
    elif not wide:
        note("ids and addresses are shortened: `smesh --json tx list` or `smesh tx status ID` shows them in full")


# --------------------------------------------------------------------------------------------
# Waiting for a result


def wait_for_result(client: NodeClient, txid: bytes, timeout: float, what: str = "transaction") -> TxRecord:
    """Poll TransactionService.List until the transaction has a result (or a state that never gets one).

    A spinner shows the state on a terminal; raises WaitTimeout after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    label = f"{what} {txid.hex()}"
    spinner = sys.stderr.isatty() and not options.json
    status = err_console().status(f"waiting for the {label} to be applied…", spinner="dots") if spinner else None
    if status is None:
        note(f"waiting for the {label} to be applied…")
    interval = 0.25
    with status or contextlib.nullcontext():
        while True:
            record = client.transaction(txid)
            if record is not None and (record.result is not None or record.state in FINAL_STATES):
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"no result for the {label} after {timeout:g} s; it may still be applied: "
                    f"check with `smesh tx status {txid.hex()}`"
                )
            if status is not None:
                state = record.state if record is not None and record.state else "not seen yet"
                status.update(f"waiting for the {label} to be applied… ({state})")
            time.sleep(min(interval, remaining))
            interval = min(interval * 1.5, 2.0)


def record_failed(record: TxRecord | None) -> bool:
    """Whether a transaction ended badly: a FAILURE/INVALID result, or rejected/ineffectual without one."""
    if record is None:
        return False
    if record.result is not None:
        return record.result.status in FAILED_RESULTS
    return record.state in FINAL_STATES


# --------------------------------------------------------------------------------------------
# `smesh tx send`


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal unless --yes or --json; without a terminal, --yes is required."""
    if yes or options.json:
        return
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to confirm on: add --yes to send without asking")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Abort()


def _pending_self_spawn(client: NodeClient, principal: str) -> TxRecord | None:
    """A self-spawn of `principal` that the node knows but has not applied yet (e.g. from an earlier send)."""
    for record in client.transactions(address=principal, limit=100, include_state=True, include_result=True):
        # an account that is not spawned can only be the principal of its own spawn (method 0)
        tx = record.tx
        if tx.principal == principal and tx.method == 0 and record.result is None and record.state not in FINAL_STATES:
            return record
    return None


@dataclasses.dataclass
class SendPlan:
    """What `tx send` will submit: the spend, and before it a self-spawn to send or a pending one to wait for."""

    source: str  # the principal's address
    destination: str
    spend: Transaction
    spend_fee: int  # max fee, smidge
    spawn: Transaction | None = None
    spawn_fee: int = 0
    pending_spawn: TxRecord | None = None
    balance: int = 0  # projected


def _plan(client: NodeClient, signer: Signer, hrp: str, destination: bytes, value: int, gas_price: int,
          nonce: int | None) -> SendPlan:
    from core.tx import build
    from core.tx.gas import AccountKind, max_gas
    from core.tx.templates import wallet_principal
    from core.wallet.address import encode_address

    public_key = signer.public_key
    principal = wallet_principal(public_key)
    source = encode_address(principal, hrp)
    state = client.accounts([source])[0]
    next_nonce = state.projected.counter if nonce is None else nonce
    spawn = pending = None
    if not state.spawned:
        pending = _pending_self_spawn(client, source)
        if pending is None:
            spawn = build.wallet_spawn(public_key, next_nonce, gas_price)
            next_nonce += 1
    spend = build.spend(principal, destination, value, next_nonce, gas_price)
    kind = AccountKind.wallet()
    return SendPlan(
        source=source,
        destination=encode_address(destination, hrp),
        spend=spend,
        spend_fee=max_gas(spend, kind) * gas_price,
        spawn=spawn,
        spawn_fee=max_gas(spawn, kind) * gas_price if spawn is not None else 0,
        pending_spawn=pending,
        balance=state.projected.balance,
    )


def _review(plan: SendPlan, account: str, node: str) -> None:
    """The summary a user approves; a warning when the balance cannot cover it."""
    spend = plan.spend
    rows = [
        ("from", f"{plan.source}  ({account})"),
        ("to", plan.destination),
        ("amount", f"{smh(spend.max_spend)} ({spend.max_spend} smidge)"),
        ("max fee", f"{smh(plan.spend_fee)} ({plan.spend_fee} smidge at {spend.gas_price} smidge/gas)"),
        ("nonce", str(spend.nonce)),
        ("balance", f"{smh(plan.balance)} (projected)"),
        ("node", node),
    ]
    if plan.spawn is not None:
        spawn = f"first (nonce {plan.spawn.nonce}, max fee {smh(plan.spawn_fee)}): the account is not spawned yet"
        rows.insert(4, ("self-spawn", spawn))
    elif plan.pending_spawn is not None:
        rows.insert(4, ("self-spawn", f"pending: {plan.pending_spawn.tx.id.hex()} (waiting for it first)"))
    if not options.json:
        key_values(rows, "Send — review")
    needed = spend.max_spend + plan.spend_fee + plan.spawn_fee
    if plan.balance < needed:
        warn(f"the balance {smh(plan.balance)} does not cover the amount and fees ({smh(needed)}): "
             "the node may reject it or the spend may fail")


def send(
    *,
    api: str,
    to: str,
    amount: str,
    gas_price: int,
    nonce: int | None,
    wait: bool,
    timeout: float,
    yes: bool,
    file: Path | None,
    password_file: Path | None,
    account: int,
    ledger: bool,
    device: str | None,
) -> int:
    """Build, sign and submit a spend (self-spawning the account first when needed); the exit code.

    Both transactions are signed before anything is submitted, so a Ledger user approves them together
    and need not come back after waiting for the spawn.
    """
    from cli.commands.tx import Signer
    from core.tx.units import parse_amount
    from core.wallet.address import decode_address

    value = parse_amount(amount)
    with connect(api) as client:
        info = client.network_info()
        destination = decode_address(to, info.hrp)
        signer = Signer(file, password_file, account, "mainnet", info.genesis_id.hex(), None, ledger, device)
        signer.hrp = info.hrp  # network and genesis id are the node's
        try:
            plan = _plan(client, signer, info.hrp, destination, value, gas_price, nonce)
            where = f"account {account}{', Ledger' if signer.account.on_device else ''}"
            _review(plan, where, f"{client.api} ({info.hrp})")
            confirm("Spawn the account and send?" if plan.spawn is not None else "Send?", yes)
            signed_spawn = signer.sign(plan.spawn) if plan.spawn is not None else None
            signed_spend = signer.sign(plan.spend)
        finally:
            signer.close()

        spawn_record = None
        if signed_spawn is not None:
            spawn_id = client.submit(signed_spawn.raw())
            note(f"submitted the self-spawn {spawn_id.hex()} (nonce {signed_spawn.nonce})")
            spawn_record = _await_spawn(client, spawn_id, timeout)
        elif plan.pending_spawn is not None:
            spawn_record = _await_spawn(client, plan.pending_spawn.tx.id, timeout)

        spend_id = client.submit(signed_spend.raw())
        note(f"submitted {spend_id.hex()} (nonce {signed_spend.nonce})")
        record = wait_for_result(client, spend_id, timeout) if wait else client.transaction(spend_id)

    result = {
        "id": spend_id.hex(),
        "nonce": signed_spend.nonce,
        "principal": plan.source,
        "destination": plan.destination,
        "amount": value,
        "gasPrice": gas_price,
        "maxFee": plan.spend_fee,
        "spawn": None if spawn_record is None else {
            "id": spawn_record.tx.id.hex(),
            "nonce": spawn_record.tx.nonce,
            "state": spawn_record.state,
            "result": result_json(spawn_record.result),
        },
        "state": record.state if record is not None else None,
        "result": result_json(record.result) if record is not None else None,
    }

    def human() -> None:
        if record is None or (record.result is None and not wait):
            state = record.state if record is not None and record.state else "submitted"
            console().print(f"{state}: {spend_id.hex()} (not waiting for the result; see `smesh tx status`)")
            return
        key_values(record_rows(record), "Result")

    emit(result, human)
    return 1 if record_failed(record) else 0


def _await_spawn(client: NodeClient, spawn_id: bytes, timeout: float) -> TxRecord:
    """Wait for the self-spawn: a node admits a spend only from a spawned account."""
    try:
        record = wait_for_result(client, spawn_id, timeout, "self-spawn")
    except WaitTimeout as e:
        raise WaitTimeout(f"{e}; the spend was not sent") from None
    if record.result is None or not record.result.succeeded:
        why = record.result.message if record.result is not None and record.result.message else None
        status = record.result.status if record.result is not None else record.state
        raise SmeshError(
            f"the self-spawn {spawn_id.hex()} ended {status}{': ' + why if why else ''}; the spend was not sent"
        )
    note(f"the account is spawned (layer {record.result.layer})")
    return record
