"""`smesh rewards`: rewards paid to a coinbase address or a smesher, from a node's API (RewardService.List)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands.online import Api, Limit, Offset
from cli.options import PasswordFile, WalletFile, parse_hex
from cli.output import console, emit, note
from core.errors import InvalidInput

app = typer.Typer(add_completion=False, help="Rewards paid to an address or a smesher, from a node's API.")


@app.command()
def rewards(
    address: Annotated[
        str | None,
        typer.Argument(help="Coinbase address (default: every account of the wallet).", show_default=False),
    ] = None,
    smesher: Annotated[
        str | None, typer.Option("--smesher", help="Smesher (node) id as 64 hex characters.", show_default=False)
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
    api: Api = None,
    file: WalletFile = None,
    password_file: PasswordFile = None,
) -> None:
    """Rewards paid to an address or a smesher, from a node's API."""
    from cli.commands.online import checked_addresses, connect, newest_first, wallet_addresses

    if address is not None and smesher is not None:
        raise InvalidInput("give a coinbase ADDRESS or --smesher, not both")
    node_id = parse_hex(smesher, "smesher id", 32) if smesher is not None else None
    with connect(api) as client:
        hrp = client.network_info().hrp
        if node_id is not None:
            found, title = client.rewards(smesher=node_id, limit=limit, offset=offset), f"smesher {node_id.hex()}"
        elif address is not None:
            coinbase = checked_addresses([address], hrp)[0]
            found, title = client.rewards(coinbase=coinbase, limit=limit, offset=offset), coinbase
        else:
            coinbases = [a for _, a in wallet_addresses(file, password_file, hrp)]
            pages = [client.rewards(coinbase=c, limit=offset + limit) for c in coinbases]
            found = newest_first(pages, lambda r: r.layer, lambda r: (r.layer, r.coinbase, r.smesher), limit, offset)
            title = coinbases[0] if len(coinbases) == 1 else f"{len(coinbases)} accounts"
    rows = [
        {"layer": r.layer, "total": r.total, "layerReward": r.layer_reward, "coinbase": r.coinbase,
         "smesher": r.smesher.hex()}
        for r in found
    ]
    emit(rows, lambda: _print(found, f"Rewards of {title}"))


def _print(found: list, title: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from cli.commands.online import smh

    table = Table(title=escape(title), title_justify="left")
    table.add_column("layer", justify="right")
    table.add_column("total")
    table.add_column("layer reward")
    table.add_column("coinbase", overflow="fold")
    table.add_column("smesher", overflow="fold")
    for r in found:
        table.add_row(str(r.layer), smh(r.total), smh(r.layer_reward), escape(r.coinbase), r.smesher.hex())
    console().print(table)
    total = sum(r.total for r in found)
    if found:
        console().print(f"total: {smh(total)} ({total} smidge) in {len(found)} reward(s)")
    else:
        note("no rewards")
