"""The `smesh` executable: global options, command groups and the error boundary.

Command groups are imported on demand, so `smesh --help` and shell completion do not pay for
libraries only one group needs.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from cli.output import error_line
from cli.state import options
from core.errors import SmeshError

import click
from click import exceptions as click_exceptions

VERSION = "0.1.0"
COMPLETE_VAR = "_SMESH_COMPLETE"

# group name → (module, help): loaded only when the group is used or help lists it
GROUPS: dict[str, tuple[str, str]] = {
    "wallet": ("cli.commands.wallet", "Mnemonics, keys, wallet files, addresses and message signing."),
    "tx": ("cli.commands.tx", "Build, sign, combine, decode and price transactions; send them through a node."),
    "post": ("cli.commands.post", "PoST: initialize data (CPU or OpenCL), prove, verify."),
    "poet": ("cli.commands.poet", "PoET: run a proof-of-elapsed-time server, query it."),
    "node": ("cli.commands.node", "Full node: smesh, keep the mesh, serve the API."),
    "rewards": ("cli.commands.rewards", "Rewards paid to an address or a smesher, from a node's API."),
    "devnet": ("cli.commands.devnet", "A local multi-node network: up, status, faucet, faults, down."),
    "ledger": ("cli.commands.ledger", "Ledger hardware wallet: version, addresses, emulator."),
    "repl": ("cli.commands.repl", "Interactive shell for wallet and transaction work."),
    "completion": ("cli.commands.completion", "Print a shell completion script (bash, zsh, fish)."),
}


class LazyGroup(typer.core.TyperGroup):
    """A click group whose sub-groups are imported the first time one is used.

    While it only lists its commands (help, completion of a command name) it hands out stubs
    that carry the name and one-line help, so listing imports no group module at all.
    """

    listing = False

    def list_commands(self, ctx):  # noqa: ANN001 - click signature
        return sorted(set(super().list_commands(ctx)) | set(GROUPS))

    def get_command(self, ctx, name):  # noqa: ANN001
        if name in GROUPS and name not in self.commands:
            if self.listing:
                return click.Command(name, help=GROUPS[name][1], short_help=GROUPS[name][1])
            command = typer.main.get_command(importlib.import_module(GROUPS[name][0]).app)
            command.name, command.help = name, GROUPS[name][1]
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def _listing(self, method, *args):  # noqa: ANN001, ANN202
        self.listing = True
        try:
            return method(*args)
        finally:
            self.listing = False

    def format_help(self, ctx, formatter):  # noqa: ANN001
        return self._listing(super().format_help, ctx, formatter)

    def shell_complete(self, ctx, incomplete):  # noqa: ANN001
        return self._listing(super().shell_complete, ctx, incomplete)


app = typer.Typer(
    name="smesh",
    cls=LazyGroup,
    help="The Spacemesh stack in one executable: wallet, transactions, PoST, PoET, node and devnet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"smesh {VERSION}")
        raise typer.Exit()


@app.callback()
def main(
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    options.json = json_output
    options.debug = debug


def run(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every expected failure into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    if COMPLETE_VAR in os.environ:  # the shell asks for completions or the script: typer's protocol
        from cli.commands.completion import register

        register()
    leading = args[: next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))]
    # known before parsing, so that errors in parsing honour them too
    options.json, options.debug = "--json" in leading, "--debug" in leading
    try:
        result = app(args=args, prog_name="smesh", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SmeshError as e:
        if options.debug:
            raise
        error_line(str(e))
        code = e.exit_code
    except click_exceptions.NoArgsIsHelpError as e:
        typer.echo(e.ctx.get_help() if e.ctx else str(e))
        code = 0
    except click_exceptions.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        error_line(f"{e.format_message()}{hint}")
        code = e.exit_code
    except click_exceptions.ClickException as e:
        error_line(e.format_message())
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt, EOFError):
        error_line("aborted")
        code = 130
    except Exception as e:
        if options.debug:
            raise
        error_line(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)")
        code = 70
    if argv is None:
        sys.exit(code)
    return code
