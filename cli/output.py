"""Everything the CLI prints goes through here: rich for people, stable JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from cli.state import options

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit(data: Any, human: Callable[[], None] | None = None) -> None:
    """Print `data` as JSON under --json, else call `human` (or print data plainly)."""
    if options.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif human is not None:
        human()
    else:
        console().print(data)


def error_line(message: str) -> None:
    """The one red line a failed command prints (stderr)."""
    first = " ".join(str(message).split()) or "failed"
    if options.json:
        sys.stderr.write(json.dumps({"error": first}) + "\n")
    else:
        from rich.markup import escape

        err_console().print(f"[bold red]error:[/] {escape(first)}")


def warn(message: str) -> None:
    if not options.json:
        from rich.markup import escape

        err_console().print(f"[yellow]warning:[/] {escape(message)}")


def note(message: str) -> None:
    """Progress or hints for people; silent under --json so stdout stays machine-readable."""
    if not options.json:
        err_console().print(message)
