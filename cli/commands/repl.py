"""`smesh repl`: an interactive shell over the whole command tree, with a wallet kept unlocked.

Every `smesh` command works inside it, typed without the leading `smesh` (`wallet show`,
`tx spend ...`, `ledger address`); they run through the same entry point as the executable, so
errors are the same one red line and never end the session.  On top of them the shell has:

    open [FILE]      unlock a wallet for the session (the password is asked once)
    use [ACCOUNT] [--network N] [--device D] [--ledger]
                     choose the active account, network and Ledger
    send --to ADDR --amount AMT --nonce N
                     build a spend, show a summary, confirm, sign (in software or on the Ledger)
    spawn            the same flow for the active account's self-spawn
    status, close, help, exit

Commands that take `--file`, `--account`, `--network`, `--hrp` or `--device` get the session's
values unless the line gives its own.  The prompt shows the wallet, account and network; TAB
completes commands and options with their descriptions; history is kept in `repl_history` in
the wallet directory (~/.spacemesh or $SMESH_WALLET_DIR).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import PasswordFile, get_password, resolve_wallet_file, wallet_dir
from cli.output import console, emit, error_line, note
from cli.state import options
from core.errors import InvalidInput, SmeshError

if TYPE_CHECKING:
    import click

    from core.wallet.walletfile import Wallet

HISTORY_NAME = "repl_history"

app = typer.Typer(add_completion=False, help="Interactive shell for wallet and transaction work.")


# --------------------------------------------------------------------------------------------
# Session state


@dataclasses.dataclass
class Session:
    """What the shell remembers between commands."""

    network: str = "mainnet"
    genesis_id: str | None = None
    genesis_time: int | None = None
    account: int = 0
    device: str | None = None
    ledger: bool = False  # sign on a Ledger without a wallet file
    wallet_path: Path | None = None
    wallet: Wallet | None = None

    @property
    def hrp(self) -> str:
        from core.config.networks import network

        return network(self.network).hrp

    def prompt(self) -> str:
        """`smesh (k2 #0 mainnet)> `: wallet (or 'ledger'), active account and network."""
        parts = []
        if self.wallet_path is not None:
            parts += [self.wallet_path.stem, f"#{self.account}"]
            if self._account_on_device():
                parts.append("ledger")
        elif self.ledger:
            parts += ["ledger", f"#{self.account}"]
        parts.append(self.network)
        return f"smesh ({' '.join(parts)})> "

    def _account_on_device(self) -> bool:
        from cli.commands.wallet import account_index
        from core.wallet.walletfile import KEY_TYPE_LEDGER

        if self.ledger:
            return True
        accounts = self.wallet.secrets.accounts if self.wallet is not None else ()
        return any(
            account_index(a) == self.account and (a.key_type == KEY_TYPE_LEDGER or not a.secret_key)
            for a in accounts
        )

    def signer(self):  # noqa: ANN201 - cli.commands.tx.Signer
        from cli.commands.tx import Signer

        if self.wallet_path is None and not self.ledger:
            raise InvalidInput("no wallet open: 'open FILE' first, or 'use --ledger' to sign on a Ledger")
        return Signer(
            self.wallet_path, None, self.account, self.network, self.genesis_id, self.genesis_time,
            ledger=self.ledger, device=self.device,
        )


session = Session()


# --------------------------------------------------------------------------------------------
# Session commands (only inside the shell)

shell_app = typer.Typer(add_completion=False, no_args_is_help=False, help="Commands of the smesh shell.")


@shell_app.command("open")
def open_(
    file: Annotated[
        Path | None, typer.Argument(help="Wallet file (default: the only wallet in the wallet directory).")
    ] = None,
    password_file: PasswordFile = None,
) -> None:
    """Unlock a wallet for this session: its password is asked once."""
    from cli.commands.wallet import account_index, lock_session, unlock_for_session
    from core.wallet import walletfile

    path = resolve_wallet_file(file).resolve()
    walletfile.load_wallet_json(path)
    password = get_password(password_file)
    wallet = walletfile.read_wallet(path, password)
    if session.wallet_path is not None:
        lock_session(session.wallet_path)
    unlock_for_session(path, wallet, password)
    indices = sorted(i for a in wallet.secrets.accounts if (i := account_index(a)) is not None)
    session.wallet_path, session.wallet, session.ledger = path, wallet, False
    session.account = indices[0] if indices else 0
    emit(
        {"file": str(path), "accounts": indices, "account": session.account},
        lambda: note(f"opened {path.name}: {len(indices)} account(s), account {session.account} active"),
    )


@shell_app.command()
def close() -> None:
    """Lock the open wallet (forget its keys and password)."""
    from cli.commands.wallet import lock_session

    if session.wallet_path is None:
        raise InvalidInput("no wallet is open")
    lock_session(session.wallet_path)
    name = session.wallet_path.name
    session.wallet_path = session.wallet = None
    note(f"closed {name}")


@shell_app.command()
def use(
    account: Annotated[int | None, typer.Argument(min=0, help="Account index to make active.")] = None,
    network: Annotated[str | None, typer.Option("--network", "-n", help="mainnet, testnet or standalone.")] = None,
    genesis_id: Annotated[str | None, typer.Option("--genesis-id", help="20-byte genesis id (hex).")] = None,
    genesis_time: Annotated[int | None, typer.Option("--genesis-time", help="Genesis Unix seconds.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Ledger: usb, usb:N or tcp:HOST:PORT.")] = None,
    ledger: Annotated[
        bool | None, typer.Option("--ledger/--no-ledger", help="Sign on a Ledger even without a wallet file.")
    ] = None,
) -> None:
    """Choose the active account, network and Ledger."""
    from cli.commands.wallet import find_account
    from cli.options import parse_hex
    from core.config.networks import network as get_network

    if account is not None and session.wallet is not None:
        find_account(session.wallet, account)  # a clear error for an account the wallet lacks
    if network is not None:
        get_network(network)
    if genesis_id is not None:
        parse_hex(genesis_id, "genesis id", 20)
    for name, value in (("account", account), ("network", network), ("genesis_id", genesis_id),
                        ("genesis_time", genesis_time), ("device", device), ("ledger", ledger)):
        if value is not None:
            setattr(session, name, value)
    status()


@shell_app.command()
def status() -> None:
    """Show the open wallet, active account, network and Ledger."""
    from cli.commands.wallet import find_account
    from core.tx.templates import wallet_principal
    from core.wallet.address import encode_address

    info: dict[str, Any] = {
        "wallet": str(session.wallet_path) if session.wallet_path else None,
        "account": session.account,
        "network": session.network,
        "device": session.device or os.environ.get("SMESH_LEDGER") or None,
        "ledger": session.ledger,
    }
    if session.wallet is not None:
        try:
            found = find_account(session.wallet, session.account)
            info["address"] = encode_address(wallet_principal(found.public_key), session.hrp)
            info["path"] = found.path
        except SmeshError:
            pass

    def human() -> None:
        for key, value in info.items():
            console().print(f"[bold]{key:>8}[/] {'-' if value is None else value}")

    emit(info, human)


Nonce = Annotated[int, typer.Option("--nonce", min=0, help="The account's next nonce.")]
GasPrice = Annotated[int, typer.Option("--gas-price", min=1, help="Smidge per gas unit.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Sign without asking.")]


@shell_app.command()
def send(
    to: Annotated[str, typer.Option("--to", help="Destination address.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount: '1.5smh' or whole smidge.")],
    nonce: Nonce,
    gas_price: GasPrice = 1,
    yes: Yes = False,
) -> None:
    """Spend from the active account: summary, confirm, sign (software or Ledger), print."""
    from core.tx import build
    from core.tx.templates import wallet_principal
    from core.tx.units import parse_amount
    from core.wallet.address import decode_address

    signer = session.signer()
    try:
        destination = decode_address(to, signer.hrp)
        tx = build.spend(wallet_principal(signer.public_key), destination, parse_amount(amount), nonce, gas_price)
        _sign_flow("Spend", tx, signer, yes)
    finally:
        signer.close()


@shell_app.command()
def spawn(nonce: Nonce = 0, gas_price: GasPrice = 1, yes: Yes = False) -> None:
    """Self-spawn the active account: summary, confirm, sign, print."""
    from core.tx import build

    signer = session.signer()
    try:
        _sign_flow("Spawn", build.wallet_spawn(signer.public_key, nonce, gas_price), signer, yes)
    finally:
        signer.close()


def summary(kind: str, tx, signer) -> dict:  # noqa: ANN001 - Transaction, Signer
    """What the user approves: from, to, amount (SMH), fee, nonce, network."""
    from core.tx.gas import AccountKind, max_gas
    from core.tx.transaction import SpendArgs
    from core.wallet.address import encode_address

    gas = max_gas(tx, AccountKind.wallet())
    rows = {
        "from": encode_address(tx.principal, signer.hrp),
        "to": encode_address(tx.args.destination, signer.hrp) if isinstance(tx.args, SpendArgs) else None,
        "amount": tx.max_spend,
        "fee": gas * tx.gas_price,
        "maxGas": gas,
        "gasPrice": tx.gas_price,
        "nonce": tx.nonce,
        "network": session.network,
        "signer": "Ledger" if signer.account.on_device else "software key",
        "path": signer.account.path,
    }
    return {"kind": kind.lower(), **rows}


def _print_summary(kind: str, rows: dict) -> None:
    from rich.table import Table

    from core.tx.units import format_smh

    table = Table(title=f"{kind} — review", title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("from", f"{rows['from']}  (account {session.account}, {rows['path']}, {rows['signer']})")
    if rows["to"] is not None:
        table.add_row("to", rows["to"])
        table.add_row("amount", f"{format_smh(rows['amount'])} ({rows['amount']} smidge)")
    table.add_row("fee", f"{format_smh(rows['fee'])} at most ({rows['maxGas']} gas × {rows['gasPrice']} smidge)")
    table.add_row("nonce", str(rows["nonce"]))
    table.add_row("network", rows["network"])
    console().print(table)


def _sign_flow(kind: str, tx, signer, yes: bool) -> None:  # noqa: ANN001
    rows = summary(kind, tx, signer)
    if not options.json:
        _print_summary(kind, rows)
    if not yes and not typer.confirm("Sign this transaction?", default=False):
        note("not signed")
        return
    signed = signer.sign(tx)
    raw = signed.raw().hex()
    emit(
        {**rows, "id": signed.id.hex(), "raw": raw},
        lambda: (console().print(raw), note(f"signed: tx id {signed.id.hex()} ({len(signed.raw())} bytes); "
                                            "submit it through a node's API")),
    )


@shell_app.command("help")
def help_() -> None:
    """List the shell's commands and the smesh command groups."""
    from cli.main import GROUPS

    lines = ["[bold]Shell[/]"]
    for command in _shell_group().commands.values():
        lines.append(f"  {command.name:<12} {command.get_short_help_str(70)}")
    lines.append("  exit         Leave the shell (also Ctrl-D).")
    lines.append("[bold]smesh commands[/] (type them without 'smesh'; GROUP --help for details)")
    for name, (_, text) in sorted(GROUPS.items()):
        if name != "repl":
            lines.append(f"  {name:<12} {text}")
    console().print("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Dispatch


def _shell_group() -> click.Group:
    group = getattr(_shell_group, "cached", None)
    if group is None:
        group = typer.main.get_command(shell_app)
        _shell_group.cached = group  # type: ignore[attr-defined]
    return group


def _main_group() -> click.Group:
    from cli.main import app as main_app

    group = getattr(_main_group, "cached", None)
    if group is None:
        group = typer.main.get_command(main_app)
        _main_group.cached = group  # type: ignore[attr-defined]
    return group


def _global_prefix(args: list[str]) -> int:
    """Number of leading global options (--json, --debug)."""
    i = 0
    while i < len(args) and args[i] in ("--json", "--debug"):
        i += 1
    return i


def _leaf(args: list[str]) -> tuple[list[str], click.Command | None]:
    """The command path the words name (e.g. ['tx', 'spend']) and its click command."""
    import click

    command: click.Command = _main_group()
    ctx = click.Context(command, info_name="smesh", resilient_parsing=True)
    path: list[str] = []
    for word in args[_global_prefix(args):]:
        if not isinstance(command, click.Group) or word.startswith("-"):
            break
        sub = command.get_command(ctx, word)
        if sub is None:
            return path, None
        command, path = sub, [*path, word]
        ctx = click.Context(command, info_name=word, parent=ctx, resilient_parsing=True)
    return path, command


def _given(args: list[str], param: click.Parameter) -> bool:
    names = [*param.opts, *getattr(param, "secondary_opts", [])]
    return any(a in names or any(a.startswith(n + "=") for n in names if n.startswith("--")) for a in args)


# commands whose --file names a wallet to write, not the open one
_WRITES_WALLET = {("wallet", "create"), ("wallet", "import")}


def with_session_defaults(args: list[str]) -> list[str]:
    """`args` plus the session's wallet, account, network, hrp and device where the command takes them."""
    path, command = _leaf(args)
    if command is None or not path:
        return args
    params = {p.name: p for p in command.params}
    extra: list[str] = []

    def add(name: str, *values: str) -> None:
        if name in params and not _given(args, params[name]):
            extra.extend(values)

    if tuple(path) not in _WRITES_WALLET:
        if session.wallet_path is not None:
            add("file", "--file", str(session.wallet_path))
        if session.ledger:
            add("ledger", "--ledger")  # sign on the device (without a wallet, the key comes from it too)
    add("account", "--account", str(session.account))
    if tuple(path) == ("ledger", "address"):
        add("index", "--index", str(session.account))
    add("network", "--network", session.network)
    if session.genesis_id is not None:
        add("genesis_id", "--genesis-id", session.genesis_id)
    if session.genesis_time is not None:
        add("genesis_time", "--genesis-time", str(session.genesis_time))
    add("hrp", "--hrp", session.hrp)
    if session.device is not None:
        add("device", "--device", session.device)
    if not extra:
        return args
    cut = args.index("--") if "--" in args else len(args)
    return [*args[:cut], *extra, *args[cut:]]


def _run_shell_command(args: list[str]) -> int:
    """Run a shell command with the same error boundary as the executable."""
    from click import exceptions as click_exceptions

    options.json = "--json" in args[: _global_prefix(args)]
    args = args[_global_prefix(args):]
    try:
        result = _shell_group().main(args=args, prog_name="", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except SmeshError as e:
        if options.debug:
            raise
        error_line(str(e))
        return e.exit_code
    except click_exceptions.UsageError as e:
        hint = f" (see '{e.ctx.command_path.strip()} --help')" if e.ctx else ""
        error_line(f"{e.format_message()}{hint}")
        return e.exit_code
    except click_exceptions.ClickException as e:
        error_line(e.format_message())
        return e.exit_code
    except (click_exceptions.Abort, KeyboardInterrupt, EOFError):
        error_line("aborted")
        return 130


class _Exit(Exception):
    pass


def execute(line: str) -> int:
    """Run one line typed at the prompt; the exit code of the command (0 for empty lines)."""
    from cli.main import run

    try:
        args = shlex.split(line, comments=True)
    except ValueError as e:
        error_line(f"cannot parse the line: {e}")
        return 2
    if not args:
        return 0
    if args[0] == "smesh":  # people paste whole command lines
        args = args[1:]
    head = args[_global_prefix(args)] if _global_prefix(args) < len(args) else ""
    if head in ("exit", "quit", ":q"):
        raise _Exit
    if head == "repl":
        error_line("already in the smesh shell")
        return 2
    if head in _shell_group().commands:
        return _run_shell_command(args)
    return run(with_session_defaults(args))


# --------------------------------------------------------------------------------------------
# The prompt


def _history_path() -> Path:
    directory = wallet_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / HISTORY_NAME
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # commands may name files: keep it private
        return path
    except OSError as e:
        raise InvalidInput(f"cannot keep the shell history in {directory}: {e.strerror or e}") from None


def _completer():  # noqa: ANN202 - a prompt_toolkit Completer
    """click-repl's completer over the shell commands and the whole smesh tree, with descriptions."""
    import click
    from click_repl import ClickCompleter
    from prompt_toolkit.completion import Completion

    group = _repl_group()

    class Completer(ClickCompleter):
        def get_completions(self, document, complete_event=None):  # noqa: ANN001, ANN202
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # click-repl uses click.MultiCommand
                for item in super().get_completions(document, complete_event):
                    if not item.display_meta_text and isinstance(self.ctx_command, click.Group):
                        sub = self.ctx_command.get_command(self.parsed_ctx, item.text)
                        if sub is not None:
                            item = Completion(item.text, item.start_position, display=item.display,
                                              display_meta=sub.get_short_help_str(70))
                    yield item

    return Completer(group, click.Context(group, info_name="smesh"))


def _repl_group() -> click.Group:
    """The shell's commands and smesh's groups (without `repl` itself), for completion."""
    import click

    class ReplGroup(click.Group):
        """The shell's commands and smesh's groups (without `repl` itself), for completion."""

        def list_commands(self, ctx: click.Context) -> list[str]:
            main = [n for n in _main_group().list_commands(ctx) if n != "repl"]
            return [*_shell_group().commands, *main, "exit"]

        def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
            if name == "exit":
                return click.Command("exit", help="Leave the shell (also Ctrl-D).")
            if name in _shell_group().commands:
                return _shell_group().commands[name]
            return None if name == "repl" else _main_group().get_command(ctx, name)

    return ReplGroup(name="smesh")


def _interactive_loop() -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.history import FileHistory

    prompt_session = PromptSession(
        history=FileHistory(str(_history_path())),
        completer=_completer(),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
    )
    note("smesh shell: 'help' lists the commands, TAB completes, Ctrl-D leaves")
    while True:
        try:
            line = prompt_session.prompt(session.prompt)
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        try:
            execute(line)
        except _Exit:
            return


def _script_loop() -> int:
    """stdin is not a terminal: run its lines in order; the exit code of the last failing one."""
    code = 0
    for line in sys.stdin:
        try:
            rc = execute(line)
        except _Exit:
            break
        code = rc or code
    return code


EPILOG = (
    "Inside the shell: open [FILE], use [ACCOUNT] [--network N] [--device D] [--ledger], send --to ADDR "
    "--amount AMT --nonce N, spawn, status, close, help, exit — and every smesh command without 'smesh' "
    "(wallet show, tx spend ..., ledger address)."
)


@app.command(epilog=EPILOG)
def repl(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Open this wallet at start.")] = None,
    password_file: PasswordFile = None,
    network: Annotated[str, typer.Option("--network", "-n", help="mainnet, testnet or standalone.")] = "mainnet",
    device: Annotated[str | None, typer.Option("--device", help="Ledger: usb, usb:N or tcp:HOST:PORT.")] = None,
    ledger: Annotated[bool, typer.Option("--ledger", help="Sign on a Ledger without a wallet file.")] = False,
) -> int:
    """Interactive shell: every smesh command, a wallet kept unlocked, guided signing."""
    from core.config.networks import network as get_network

    get_network(network)
    session.network, session.device, session.ledger = network, device, ledger
    if file is not None:
        with_password = ["--password-file", str(password_file)] if password_file else []
        code = _run_shell_command(["open", str(file), *with_password])
        if code:
            return code
    if sys.stdin.isatty() and sys.stdout.isatty():
        _interactive_loop()
        return 0
    return _script_loop()
