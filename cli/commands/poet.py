"""`smesh poet`: run a PoET server (`serve`) and look at one (`status`).

`serve` takes the Go poet's flags (spec/poet.md §3.1) on top of a preset whose round schedule
matches the node preset of the same name; it serves REST/JSON and gRPC until Ctrl-C or SIGTERM,
when the worker checkpoints its round so a restart continues it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import console, emit, note, setup_logging
from cli.state import options
from core.errors import InvalidInput, SmeshError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="PoET: run a proof-of-elapsed-time server, query it.")

DEFAULT_REST = "localhost:8080"
DEFAULT_GRPC = "localhost:50002"

# name → (epoch, phase shift, cycle gap, genesis or None, pow difficulty); the dev presets follow
# the node presets of the same name (core.config.node), `default` the Go poet's own defaults.
_POET_DEFAULT = (30.0, 15.0, 10.0, None, 0)


def _presets() -> dict[str, tuple[float, float, float, int | None, int]]:
    from core.config.node import PRESETS

    out: dict[str, tuple[float, float, float, int | None, int]] = {"default": _POET_DEFAULT}
    for name, cfg in PRESETS.items():
        difficulty = 20 if name in ("mainnet", "testnet") else 0
        out[name] = (cfg.epoch_duration, cfg.phase_shift, cfg.cycle_gap, cfg.genesis_time, difficulty)
    return out


def _default_datadir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smesh" / "poet"


def _listen(text: str, what: str) -> tuple[str, int] | None:
    from core.poet.rest import parse_listen

    if text.strip().lower() in ("", "off", "none"):
        return None
    return parse_listen(text, what)


def _genesis(text: str | None, preset_genesis: int | None, datadir: Path) -> float:
    """--genesis-time, else the preset's, else the one this data directory was started with, else now."""
    if text is not None:
        from core.config.node import parse_genesis_time

        return float(parse_genesis_time(text))
    if preset_genesis is not None:
        return float(preset_genesis)
    stored = _stored_schedule(datadir)
    if stored is not None:
        return float(stored["genesis"])
    return float(int(time.time()))


def _stored_schedule(datadir: Path) -> dict | None:
    from core.poet.store import DB_NAME, Store, StoreError

    if not (datadir / DB_NAME).is_file():
        return None
    try:
        store = Store.in_datadir(datadir, readonly=True)
    except StoreError:
        return None
    try:
        raw = store.get_meta("schedule")
    finally:
        store.close()
    return None if raw is None else json.loads(raw)


def _setup_logging() -> None:
    setup_logging(logging.INFO)


@app.command()
def serve(
    preset: Annotated[
        str, typer.Option("--preset", help="Round schedule preset: default, standalone, fastnet, devnet, testnet, mainnet.")
    ] = "default",
    genesis_time: Annotated[
        str | None,
        typer.Option("--genesis-time", help="Network genesis: RFC 3339, Unix seconds or now+30s (default: the preset's, else now)."),
    ] = None,
    epoch_duration: Annotated[str | None, typer.Option("--epoch-duration", help="Round length, e.g. 60s, 336h.")] = None,
    phase_shift: Annotated[str | None, typer.Option("--phase-shift", help="Round start offset from the epoch start.")] = None,
    cycle_gap: Annotated[str | None, typer.Option("--cycle-gap", help="Gap between a round's end and the next round's start.")] = None,
    datadir: Annotated[
        Path | None, typer.Option("--datadir", "-b", help="Data directory (default: ~/.cache/smesh/poet).")
    ] = None,
    restlisten: Annotated[
        str, typer.Option("--restlisten", "-w", help="REST/JSON listen address host:port ('off' to disable).")
    ] = DEFAULT_REST,
    rpclisten: Annotated[
        str, typer.Option("--rpclisten", "-r", help="gRPC listen address host:port ('off' to disable).")
    ] = DEFAULT_GRPC,
    pow_difficulty: Annotated[
        int | None, typer.Option("--pow-difficulty", min=0, max=256, help="Registration PoW leading zero bits (0 on dev presets).")
    ] = None,
    certifier_url: Annotated[str | None, typer.Option("--certifier-url", help="URL nodes get certificates from.")] = None,
    certifier_pubkey: Annotated[
        str | None, typer.Option("--certifier-pubkey", help="The certifier's ed25519 public key (base64).")
    ] = None,
    trusted_keys_dir: Annotated[
        Path | None,
        typer.Option("--trusted-keys-dir", "--trusted-pub-keys-dir-path", help="Directory of trusted certifier *.key files."),
    ] = None,
    max_round_members: Annotated[
        int, typer.Option("--max-round-members", min=1, help="Registrations accepted per round.")
    ] = 1 << 32,
    label_depth: Annotated[int, typer.Option("--label-depth", min=1, hidden=True)] = 400,
    checkpoint_seconds: Annotated[float, typer.Option("--checkpoint-seconds", min=0.01, hidden=True)] = 2.0,
) -> None:
    """Run a PoET server: registration, rounds, the proof worker, REST and gRPC."""
    from core.poet.certifier import parse_public_key
    from core.poet.rounds import RoundSchedule, parse_duration
    from core.poet.service import ServiceConfig

    presets = _presets()
    if preset not in presets:
        raise InvalidInput(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
    p_epoch, p_shift, p_gap, p_genesis, p_difficulty = presets[preset]
    datadir = (datadir or _default_datadir()).expanduser()
    schedule = RoundSchedule(
        genesis=_genesis(genesis_time, p_genesis, datadir),
        epoch=parse_duration(epoch_duration, "epoch duration") if epoch_duration is not None else p_epoch,
        phase_shift=parse_duration(phase_shift, "phase shift") if phase_shift is not None else p_shift,
        cycle_gap=parse_duration(cycle_gap, "cycle gap") if cycle_gap is not None else p_gap,
    )
    config = ServiceConfig(
        datadir=datadir,
        schedule=schedule,
        pow_difficulty=p_difficulty if pow_difficulty is None else pow_difficulty,
        certifier_url=certifier_url,
        certifier_pubkey=parse_public_key(certifier_pubkey) if certifier_pubkey else None,
        trusted_keys_dir=trusted_keys_dir,
        max_round_members=max_round_members,
        label_depth=label_depth,
        checkpoint_seconds=checkpoint_seconds,
    )
    rest = _listen(restlisten, "REST listen address")
    grpc_address = _listen(rpclisten, "gRPC listen address")
    if rest is None and grpc_address is None:
        raise InvalidInput("both listeners are off: give --restlisten or --rpclisten")
    _setup_logging()
    import asyncio

    asyncio.run(_serve(config, rest, grpc_address))


async def _serve(config: Any, rest: tuple[str, int] | None, grpc_address: tuple[str, int] | None) -> None:
    import asyncio

    from core.poet.rounds import format_duration, timestamp_to_json
    from core.poet.service import start_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = await start_server(config, rest, grpc_address)
    try:
        service = server.service
        schedule = config.schedule
        open_round = (await service.status())["open_round"]
        closes = schedule.round_start(open_round)
        rest_text = f"{server.rest_address[0]}:{server.rest_address[1]}" if server.rest_address else None
        grpc_text = f"{server.grpc_address[0]}:{server.grpc_address[1]}" if server.grpc_address else None
        ready = {
            "event": "ready",
            "rest": rest_text,
            "grpc": grpc_text,
            "pubkey": service.pubkey.hex(),
            "pubkey_base64": base64.b64encode(service.pubkey).decode(),
            "datadir": str(config.datadir),
            "genesis": timestamp_to_json(schedule.genesis),
            "epoch_duration": schedule.epoch,
            "phase_shift": schedule.phase_shift,
            "cycle_gap": schedule.cycle_gap,
            "open_round": open_round,
            "open_round_closes": timestamp_to_json(closes),
        }
        if options.json:
            sys.stdout.write(json.dumps(ready) + "\n")
            sys.stdout.flush()
        else:
            note(f"[bold]PoET[/] serving from {config.datadir}")
            if rest_text:
                note(f"  REST   http://{rest_text}")
            if grpc_text:
                note(f"  gRPC   {grpc_text}")
            note(f"  service public key  {ready['pubkey_base64']}")
            note(
                f"  rounds: epoch {format_duration(schedule.epoch)}, phase shift {format_duration(schedule.phase_shift)}, "
                f"cycle gap {format_duration(schedule.cycle_gap)}; round {open_round} open until {ready['open_round_closes']}"
            )
            note("  Ctrl-C stops (the running round is checkpointed and resumes on restart)")
        await stop.wait()
    finally:
        note("stopping: checkpointing the running round")
        await server.close()
    if options.json:
        sys.stdout.write(json.dumps({"event": "stopped"}) + "\n")
        sys.stdout.flush()
    else:
        note("stopped")


# ------------------------------------------------------------------------------------------------
# status


_METRIC = re.compile(r'^([a-z_]+)(?:\{id="(\d+)"\})?\s+([0-9.eE+-]+)$')


def _get(url: str, timeout: float) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - a user-given http URL
            return r.read(16 * 1024 * 1024)
    except urllib.error.HTTPError as e:
        raise SmeshError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise SmeshError(f"cannot reach the PoET at {url}: {reason}") from None


def _status_from_url(url: str, timeout: float) -> dict[str, Any]:
    from core.poet.rounds import duration_from_json

    base = url.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    try:
        info = json.loads(_get(base + "/v1/info", timeout))
    except ValueError:
        raise SmeshError(f"{base}/v1/info did not return JSON: is this a PoET?") from None
    metrics: dict[str, dict[int | None, float]] = {}
    for line in _get(base + "/metrics", timeout).decode(errors="replace").splitlines():
        m = _METRIC.match(line.strip())
        if m:
            metrics.setdefault(m.group(1), {})[None if m.group(2) is None else int(m.group(2))] = float(m.group(3))
    if "poet_open_round" not in metrics:
        raise SmeshError(f"{base}/metrics has no round data: is this a smesh PoET?")
    open_round = int(metrics["poet_open_round"][None])
    members = metrics.get("poet_round_members_total", {})
    leaves = metrics.get("poet_round_leaves_total", {})
    ends = metrics.get("poet_round_end_timestamp_seconds", {})
    executing = None
    if leaves:
        rid = max(leaves)
        executing = {"round": rid, "members": int(members.get(rid, 0)), "leaves": int(leaves[rid]), "ends": ends.get(rid)}
    certifier = info.get("certifier")
    return {
        "source": base,
        "service_pubkey": base64.b64decode(info.get("servicePubkey") or "").hex(),
        "phase_shift": duration_from_json(info.get("phaseShift") or "0s"),
        "cycle_gap": duration_from_json(info.get("cycleGap") or "0s"),
        "certifier": None
        if not certifier
        else {"url": certifier.get("url"), "pubkey": base64.b64decode(certifier.get("pubkey") or "").hex()},
        "open_round": open_round,
        "open_round_members": int(members.get(open_round, 0)),
        "open_round_closes": metrics["poet_open_round_close_timestamp_seconds"][None],
        "executing": executing,
        "proofs": [
            {"round": r, "leaves": int(v)} for r, v in sorted(metrics.get("poet_proof_leaves", {}).items()) if r is not None
        ],
    }


def _status_from_datadir(datadir: Path) -> dict[str, Any]:
    from core.poet.service import STATE_FILE, _decode_state
    from core.poet.store import RoundState, Store

    store = Store.in_datadir(datadir, readonly=True)
    try:
        pubkey = b""
        state = datadir / STATE_FILE
        if state.is_file():
            pubkey = _decode_state(state.read_bytes(), state)[32:]
        last = store.last_closed_round()
        registered = store.rounds_with_members()
        open_round = (last + 1) if last is not None else (registered[-1][0] if registered else 0)
        pending = store.closed_rounds((RoundState.CLOSED, RoundState.EXECUTING))
        executing = None
        if pending:
            r = pending[0]
            executing = {"round": r.round, "members": r.members, "leaves": None, "ends": None}
        return {
            "source": str(datadir),
            "service_pubkey": pubkey.hex(),
            "open_round": open_round,
            "open_round_members": store.member_count(open_round),
            "open_round_closes": None,
            "executing": executing,
            "proofs": [{"round": r, "leaves": n} for r, n, _ in store.proof_summaries()],
        }
    finally:
        store.close()


@app.command()
def status(
    url: Annotated[str, typer.Option("--url", "-u", help="The PoET's REST address.")] = f"http://{DEFAULT_REST}",
    datadir: Annotated[
        Path | None, typer.Option("--datadir", "-b", help="Read a (running or stopped) PoET's data directory instead.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the server.")] = 5.0,
) -> None:
    """Show the open round, its members, the running round's leaves so far and published proofs."""
    from core.poet.rounds import timestamp_to_json

    data = _status_from_datadir(datadir.expanduser()) if datadir is not None else _status_from_url(url, timeout)

    def human() -> None:
        from rich.table import Table

        out = console()
        out.print(f"[bold]PoET[/] {data['source']}")
        if data["service_pubkey"]:
            out.print(f"  service public key  {base64.b64encode(bytes.fromhex(data['service_pubkey'])).decode()}")
        closes = data.get("open_round_closes")
        when = f", closes {timestamp_to_json(closes)}" if closes else ""
        out.print(f"  open round  {data['open_round']}: {data['open_round_members']} members{when}")
        ex = data["executing"]
        if ex:
            leaves = "?" if ex["leaves"] is None else f"{ex['leaves']:,}"
            ends = f", ends {timestamp_to_json(ex['ends'])}" if ex.get("ends") else ""
            out.print(f"  running round  {ex['round']}: {leaves} leaves so far{ends}")
        else:
            out.print("  running round  none")
        if data["proofs"]:
            table = Table("round", "leaves", title="published proofs", title_justify="left")
            for p in data["proofs"]:
                table.add_row(str(p["round"]), f"{p['leaves']:,}")
            out.print(table)
        else:
            out.print("  published proofs  none yet")

    emit(data, human)
