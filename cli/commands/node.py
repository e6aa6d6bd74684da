"""`smesh node` (being built: see the open issue)."""

from __future__ import annotations

import typer

from core.errors import SmeshError

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command(hidden=True)
def todo() -> None:
    """Not available yet."""
    raise SmeshError("smesh node is not available yet")
