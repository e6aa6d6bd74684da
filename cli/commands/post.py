"""`smesh post` (being built: see the open issue)."""

from __future__ import annotations

import typer

from core.errors import SmeshError

app = typer.Typer(no_args_is_help=True)


@app.command(hidden=True)
def todo() -> None:
    """Not available yet."""
    raise SmeshError("smesh post is not available yet")
