"""`smesh completion bash|zsh|fish`: print a shell completion script.

Completion runs through click's protocol: the shell calls `smesh` with `_SMESH_COMPLETE` set and
the words typed so far in `COMP_WORDS`/`COMP_CWORD`.  typer decides what the variable's value means
and expects `complete_bash`, `complete_zsh` or `complete_fish` (instruction first), while click's
own script templates send `bash_complete`, ... (shell first), which typer rejects.  The scripts
printed here are click's templates with the instruction typer understands, so the script and the
runtime agree.  `completions/` in the repository holds these scripts (a test checks they are current).
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

PROG = "smesh"
COMPLETE_VAR = "_SMESH_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

app = typer.Typer(help="Print a shell completion script (bash, zsh, fish).", add_completion=False)


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_class(shell: str) -> type:
    """click's completion class for `shell`, with a script that sends typer's instruction."""
    import click.shell_completion as sc

    base = {"bash": sc.BashComplete, "zsh": sc.ZshComplete, "fish": sc.FishComplete}[shell]
    wrong, right = f"={shell}_complete", f"=complete_{shell}"
    if base.source_template.count(wrong) != 1:  # pragma: no cover - guards a click upgrade
        raise RuntimeError(f"click's {shell} completion template changed: cannot find {wrong!r}")
    return type(
        f"Smesh{base.__name__}",
        (base,),
        {"source_template": base.source_template.replace(wrong, right), "__module__": __name__},
    )


def script(shell: str) -> str:
    """The completion script for `shell` (without the trailing newline `smesh completion` prints)."""
    cls = completion_class(shell)
    # the template needs only the program name and variable; no command tree is loaded
    return cls.source_template % cls(None, {}, PROG, COMPLETE_VAR).source_vars()


def register() -> None:
    """Make `_SMESH_COMPLETE=source_SHELL smesh` print the same scripts as `smesh completion SHELL`."""
    import click.shell_completion as sc

    for shell in SHELLS:
        sc.add_completion_class(completion_class(shell), shell)


EPILOG = (
    "Install: bash: add eval \"$(smesh completion bash)\" to ~/.bashrc; "
    "zsh: smesh completion zsh > a directory on $fpath as _smesh; "
    "fish: smesh completion fish > ~/.config/fish/completions/smesh.fish (see completions/README.md)."
)


@app.command(epilog=EPILOG)
def completion(
    shell: Annotated[
        Shell, typer.Argument(help="bash, zsh or fish.", case_sensitive=False, show_default=False)
    ],
) -> None:
    """Print the completion script for SHELL."""
    typer.echo(script(shell.value))
