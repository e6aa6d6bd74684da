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


def setup_logging(level: int) -> None:
    """Time-stamped lines of the `smesh.*` loggers on stderr at `level` (DEBUG with --debug) for the
    long-running commands.  grpc's C core logs to stderr by itself (a taken port, besides the one-line
    error we print): it stays quiet unless --debug."""
    import logging
    import os

    os.environ.setdefault("GRPC_VERBOSITY", "DEBUG" if options.debug else "NONE")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("smesh")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if options.debug else level)
    root.propagate = False
    logging.getLogger("aiohttp").setLevel(logging.ERROR)
