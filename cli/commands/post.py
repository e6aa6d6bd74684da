"""`smesh post`: initialize PoST data (CPU or OpenCL), prove, verify proofs and data (spec/post.md).

Flags mirror postcli where it has them.  The protocol work lives in `core.post`; this module parses,
asks, and renders (rich progress bars for people, one JSON object per line under --json).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.options import parse_hex
from cli.output import console, emit, err_console, note, warn
from cli.state import options
from core.errors import InvalidInput, SmeshError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="PoST: initialize data (CPU or OpenCL), prove, verify."
)

PROVIDER_CPU = 4294967295

Datadir = Annotated[Path, typer.Option("--datadir", "-d", help="Directory of the PoST data.")]
Preset = Annotated[
    str, typer.Option("--preset", help="Network parameters: mainnet, testnet, standalone or fastnet.")
]
ScryptN = Annotated[int | None, typer.Option("--scrypt-n", help="scrypt N (default: the preset's).")]
LabelsPerUnit = Annotated[
    int | None, typer.Option("--labels-per-unit", help="Labels per unit (default: the preset's).")
]


def _params(preset: str, labels_per_unit: int | None = None, scrypt_n: int | None = None,
            max_file_size: int | None = None):  # noqa: ANN202  # fmt: skip
    from core.post.params import preset as get_preset

    return get_preset(preset).replace(
        labels_per_unit=labels_per_unit, scrypt_n=scrypt_n, max_file_size=max_file_size
    )


def _provider(value: str | None) -> int | str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("cpu", "reference"):
        return v
    try:
        n = int(v)
    except ValueError:
        raise InvalidInput(
            f"--provider must be an OpenCL device number, 'cpu' or {PROVIDER_CPU}, got {value!r}"
        ) from None
    if n < 0:
        raise InvalidInput("--provider must not be negative")
    return "cpu" if n == PROVIDER_CPU else n


def _size(n: float) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _json_line(data: dict) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _confirm(question: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"{what}: add --yes to confirm")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Abort()


# ------------------------------------------------------------------------------------------------
# init


@app.command()
def init(
    datadir: Datadir,
    node_id: Annotated[
        str | None,
        typer.Option(
            "--node-id", "--id",
            help="Node id (ed25519 public key) as hex; default: identity.key in the datadir, created if missing.",
        ),
    ] = None,
    commitment_atx_id: Annotated[
        str | None,
        typer.Option("--commitment-atx-id", help="Commitment ATX id as hex (default: the existing metadata's)."),
    ] = None,
    num_units: Annotated[
        int | None,
        typer.Option("--num-units", min=1, help="Space units (default: existing metadata, else the preset's)."),
    ] = None,
    labels_per_unit: LabelsPerUnit = None,
    scrypt_n: ScryptN = None,
    max_file_size: Annotated[
        int | None, typer.Option("--max-file-size", help="Maximum bytes per postdata file (default 4 GiB).")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help=f"OpenCL device number, 'cpu' or {PROVIDER_CPU} (CPU), 'reference' (slow)."),
    ] = None,
    from_file: Annotated[
        int | None, typer.Option("--from-file", min=0, help="First file to initialize (inclusive).")
    ] = None,
    to_file: Annotated[
        int | None, typer.Option("--to-file", min=0, help="Last file to initialize (inclusive).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="DELETE the existing PoST data in the datadir first.")] = False,
    preset: Preset = "mainnet",
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, hidden=True)] = None,
    checkpoint_seconds: Annotated[
        float | None, typer.Option("--checkpoint-seconds", min=0, hidden=True, envvar="SMESH_POST_CHECKPOINT_SECONDS")
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Split the files over a Dask cluster: tcp://SCHEDULER:PORT (workers: 'smesh post worker') or "
            "local:N (N worker processes here). The datadir must be shared by every worker, at the same path.",
        ),
    ] = None,
    cluster_timeout: Annotated[
        float, typer.Option("--cluster-timeout", min=0.1, help="Seconds to wait for the Dask scheduler.")
    ] = 5.0,
) -> None:
    """Create or resume PoST data: postdata_<k>.bin files and postdata_metadata.json.

    Ctrl-C (or SIGTERM) stops after the labels being computed and writes them; a second Ctrl-C aborts
    at once.  Computed labels are written every few seconds, so even a kill -9 loses only those.
    With --cluster, each file is a task on a Dask worker; the result is byte-identical.
    """
    from core.post import labels
    from core.post import metadata as md
    from core.post.init import IDENTITY_FILE, InitOptions, Initializer, new_identity, read_identity, save_identity
    from core.post.layout import Layout, disk_state

    address = None
    if cluster is not None:  # a malformed address fails before anything else is looked at
        from core.post.cluster import parse_cluster_address

        address = parse_cluster_address(cluster)
    existing = md.load(datadir) if md.exists(datadir) and not reset else None
    base = _params(preset)
    if existing is not None:
        # resuming: the data's own shape, unless given; a shape the preset does not have needs saying so
        if labels_per_unit is None and existing.labels_per_unit != base.labels_per_unit:
            raise InvalidInput(
                f"{datadir} holds data with {existing.labels_per_unit} labels per unit, the {base.name} preset has "
                f"{base.labels_per_unit}: give the --preset (or --labels-per-unit and --scrypt-n) it was made with"
            )
        if max_file_size is None:
            max_file_size = existing.max_file_size
    params = _params(preset, labels_per_unit, scrypt_n, max_file_size)
    custom = params.labels_per_unit != base.labels_per_unit
    generated: bytes | None = None  # a new identity, written only once everything else checked out
    if node_id is not None:
        nid = parse_hex(node_id, "--node-id", 32)
    elif (known := read_identity(datadir)) is not None:
        nid = known
    elif existing is not None:
        nid = existing.node_id
    else:
        generated, nid = new_identity()
    if commitment_atx_id is not None:
        atx = parse_hex(commitment_atx_id, "--commitment-atx-id", 32)
    elif existing is not None:
        atx = existing.commitment_atx_id
    else:
        raise InvalidInput("--commitment-atx-id is required for a new setup")
    units = num_units if num_units is not None else (existing.num_units if existing else params.default_num_units)
    if not custom:
        try:
            params.check_num_units(units)
        except InvalidInput as e:
            if existing is None:
                raise
            warn(f"{e}: proofs of this data will not be accepted on {params.name}")
    opts = InitOptions(
        datadir=datadir, node_id=nid, commitment_atx_id=atx, num_units=units,
        labels_per_unit=params.labels_per_unit, max_file_size=params.max_file_size, scrypt_n=params.scrypt_n,
        from_file=from_file, to_file=to_file,
    )  # fmt: skip
    opts.validate()
    layout = Layout.of(units, params.labels_per_unit, params.max_file_size)
    stop = _StopRequest()
    if address is None:
        backend = labels.get_backend(_provider(provider))
        provider_text = f"provider {backend.name}"
        renderer: Any = _InitRenderer(*opts.file_range)
        initializer: Any = Initializer(
            opts, backend, batch_size=batch_size, progress=renderer.update, reset=reset, stop=stop,
            checkpoint_seconds=checkpoint_seconds,
        )  # fmt: skip
    else:
        from core.post.cluster import ClusterInitializer

        chosen = _provider(provider)
        if address.kind == "local":  # the workers run here: the device must exist here
            provider_text = f"provider {labels.get_backend(chosen).name}"
        else:
            provider_text = "each worker's provider" + (f" (default {provider})" if provider is not None else "")
        renderer = _ClusterRenderer()
        initializer = ClusterInitializer(
            opts, address, provider=chosen, batch_size=batch_size, progress=renderer.update, reset=reset,
            stop=stop, checkpoint_seconds=checkpoint_seconds, connect_timeout=cluster_timeout,
        )  # fmt: skip
    initializer.preflight()  # every refusal before anything is asked, printed or written
    if reset:
        _confirm(
            f"Delete the PoST data in {datadir} and start over?", yes, f"--reset deletes the PoST data in {datadir}"
        )
    elif existing is None and sys.stdin.isatty() and not yes:
        _confirm(
            f"Initialize {_size(layout.total_bytes)} ({units} units, {layout.num_files} files) in {datadir}?",
            yes, "init",
        )  # fmt: skip
    if generated is not None:
        save_identity(datadir, generated)
        note(f"generated a new identity: {datadir / IDENTITY_FILE} (node id {nid.hex()})")
    if existing is not None and not reset:
        state = disk_state(datadir, layout)
        if state.labels_present:
            note(f"resuming: {_size(state.bytes_present)} of {_size(layout.total_bytes)} already written")
    first, last = opts.file_range
    note(
        f"initializing {_size(layout.total_bytes)}: {units} units × {params.labels_per_unit} labels, "
        f"files {first}..{last} of {layout.num_files}, scrypt N={params.scrypt_n}, {provider_text}"
        + (f", on the Dask cluster {address}" if address is not None else "")
    )
    try:
        with stop.on_signals():
            result = initializer.run()
    finally:
        renderer.close()
    meta = result.metadata
    summary = {
        "event": "done",
        "datadir": str(datadir),
        "nodeId": meta.node_id.hex(),
        "commitmentAtxId": meta.commitment_atx_id.hex(),
        "numUnits": meta.num_units,
        "labelsPerUnit": meta.labels_per_unit,
        "maxFileSize": meta.max_file_size,
        "files": layout.num_files,
        "fromFile": first,
        "toFile": last,
        "rangeComplete": result.range_complete,
        "complete": result.data_complete,
        "nonce": meta.nonce,
        "nonceValue": meta.nonce_value.hex() if meta.nonce_value else None,
        "labelsComputed": result.labels_computed,
        "seconds": round(result.seconds, 3),
    }
    if address is not None:
        summary["cluster"] = str(address)
        summary["workers"] = list(result.workers)
    if options.json:
        _json_line(summary)
        return
    out = console()
    if result.data_complete:
        out.print(f"[green]init complete[/]: {layout.num_files} file(s), {_size(layout.total_bytes)} in {datadir}")
    else:
        out.print(f"files {first}..{last} complete; the whole data ({layout.num_files} files) is not complete yet")
    if meta.nonce is not None:
        out.print(f"VRF nonce: {meta.nonce} (value {meta.nonce_value.hex() if meta.nonce_value else '?'})")
    elif not result.data_complete:
        out.print(
            "no VRF nonce in this range yet: merge the metadata of the other parts with 'smesh post merge-nonces'"
        )


class _StopRequest:
    """The first Ctrl-C or SIGTERM asks init to stop once the labels being computed are done (it writes
    them, then raises InitStopped); a second Ctrl-C interrupts at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def on_signals(self):  # noqa: ANN201
        if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
            yield
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _JsonThrottle:
    """Under --json, a progress line at most every 0.2 s (and the last one)."""

    last_json = 0.0

    def json_line(self, p: Any) -> bool:
        """True under --json (the line was written, or skipped as too soon)."""
        if not options.json:
            return False
        now = time.monotonic()
        if now - self.last_json >= 0.2 or p.labels_done >= p.labels_total:
            self.last_json = now
            _json_line(p.to_json())
        return True


class _InitRenderer(_JsonThrottle):
    """A rich progress bar (stderr), or JSON lines (stdout) under --json."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.progress = None
        self.task = None

    def update(self, p: Any) -> None:
        if self.json_line(p):
            return
        if self.progress is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[labels]}"),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=err_console(),
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("init", total=max(p.labels_total, 1), labels="", rate="")
        if p.phase == "labels":
            desc = f"file {p.file}" if p.file is not None else "labels"
            total = max(p.labels_total, 1)
            labels = f"{p.labels_done}/{p.labels_total} labels"
        else:
            desc = "VRF nonce search"
            total = None
            labels = f"{p.labels_done} labels past the data"
        rate = p.labels_per_second
        self.progress.update(
            self.task, description=desc, completed=p.labels_done, total=total, labels=labels,
            rate=f"{rate * 16 / (1 << 20):.2f} MiB/s  {rate:,.0f} labels/s",
        )  # fmt: skip

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


class _ClusterRenderer(_JsonThrottle):
    """One rich progress bar for the whole cluster (total labels/s, ETA) and a line of per-worker rates
    (stderr), or JSON lines (stdout) under --json."""

    def __init__(self) -> None:
        self.progress = None
        self.task = None

    def update(self, p: Any) -> None:
        if self.json_line(p):
            return
        if self.progress is None:
            from rich.progress import BarColumn, Progress, TextColumn
            from rich.text import Text

            class WithWorkers(Progress):
                workers = ""

                def get_renderables(self):  # noqa: ANN202
                    yield self.make_tasks_table(self.tasks)
                    if self.workers:
                        yield Text(self.workers, style="dim")

            self.progress = WithWorkers(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[labels]}"),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"),
                console=err_console(), transient=False,
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task("cluster", total=max(p.labels_total, 1), labels="", rate="", eta="")
        rate = p.labels_per_second
        eta = p.eta_seconds
        if p.phase == "nonce-search":
            desc, total, labels = "VRF nonce search", None, f"{p.labels_done} labels past the data"
        else:
            desc = "stopping" if p.phase == "stopping" else f"files {p.files_done}/{p.files_total}"
            total, labels = max(p.labels_total, 1), f"{p.labels_done}/{p.labels_total} labels"
        self.progress.update(
            self.task, description=desc, completed=p.labels_done, total=total, labels=labels,
            rate=f"{rate * 16 / (1 << 20):.2f} MiB/s  {rate:,.0f} labels/s",
            eta="" if eta is None else f"ETA {_duration(eta)}",
        )  # fmt: skip
        busy = [w for w in p.workers if w.file is not None or w.labels_per_second > 0]
        self.progress.workers = "  ".join(
            f"{w.name}: {w.labels_per_second:,.0f} labels/s"
            + (f" (file {w.file}: {w.file_done}/{w.file_total})" if w.file is not None else "")
            for w in busy
        ) or ("waiting for workers" if not p.workers else "")
        self.progress.refresh()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600}h"
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ------------------------------------------------------------------------------------------------
# worker


@app.command()
def worker(
    scheduler: Annotated[
        str, typer.Option("--scheduler", help="The Dask scheduler: tcp://HOST:PORT (e.g. started by 'dask scheduler').")
    ],
    provider: Annotated[
        str | None,
        typer.Option("--provider", help=f"OpenCL device number (a GPU worker), 'cpu' or {PROVIDER_CPU} (default)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Worker name shown in progress (default: its address).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads for the numba kernel (default: all cores).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the scheduler.")] = 5.0,
) -> None:
    """Serve 'smesh post init --cluster' tasks as a Dask worker until Ctrl-C.

    One task (one PoST file) at a time, on this worker's provider; an OpenCL device is announced as the
    resource GPU=1.  The init's datadir must be reachable here at the same path (a shared filesystem).
    """
    from core.post.cluster import parse_cluster_address, serve_worker

    address = parse_cluster_address(scheduler, what="--scheduler", local=False)

    def started(info: Any) -> None:
        if options.json:
            _json_line({"event": "started", "worker": info.address, "name": info.name, "scheduler": info.scheduler,
                        "backend": info.backend, "resources": info.resources})  # fmt: skip
            return
        extra = ", resource GPU=1" if info.resources.get("GPU") else ""
        note(f"worker {info.name} ({info.backend}{extra}) joined {info.scheduler}; Ctrl-C stops it")

    serve_worker(address, provider=_provider(provider), name=name, threads=threads, connect_timeout=timeout,
                 on_started=started)  # fmt: skip
    note("worker stopped")


# ------------------------------------------------------------------------------------------------
# merge-nonces, status, providers


@app.command("merge-nonces")
def merge_nonces(
    datadir: Datadir,
    sources: Annotated[list[Path], typer.Argument(help="Metadata files (or datadirs) of the other partial runs.")],
    scrypt_n: ScryptN = None,
    preset: Preset = "mainnet",
) -> None:
    """Merge the VRF nonces of partial runs (--from-file/--to-file) into the datadir's metadata: best nonce wins."""
    from core.post.init import merge_nonces as merge

    params = _params(preset, scrypt_n=scrypt_n)
    result = merge(datadir, list(sources), params.scrypt_n)
    meta = result.metadata
    data = {
        "datadir": str(datadir),
        "nonce": meta.nonce,
        "nonceValue": meta.nonce_value.hex() if meta.nonce_value else None,
        "source": str(result.source) if result.source else None,
        "candidates": [{"file": str(p), "nonce": n, "valid": v} for p, n, v in result.candidates],
    }
    for p, n, v in result.candidates:
        if not v:
            warn(f"{p}: nonce {n} is not below the VRF target; ignored")

    def human() -> None:
        if meta.nonce is None:
            console().print("no valid VRF nonce in any of the files")
        else:
            console().print(f"VRF nonce {meta.nonce} (from {result.source}) written to {datadir}")

    emit(data, human)
    if meta.nonce is None:
        raise SmeshError("no valid VRF nonce found in any metadata file")


@app.command()
def status(datadir: Datadir) -> None:
    """Show the metadata, labels written and whether init is complete."""
    from core.post import metadata as md
    from core.post.layout import Layout, disk_state

    meta = md.load(datadir)
    layout = Layout.of(meta.num_units, meta.labels_per_unit, meta.max_file_size)
    state = disk_state(datadir, layout)
    files = [
        {"file": f.number, "bytes": f.size, "expectedBytes": f.expected_bytes, "complete": f.complete}
        for f in state.files
    ]
    data = {
        "datadir": str(datadir),
        "metadata": meta.to_dict(),
        "nodeId": meta.node_id.hex(),
        "commitmentAtxId": meta.commitment_atx_id.hex(),
        "numLabels": meta.num_labels,
        "labelsWritten": state.labels_present,
        "bytesWritten": state.bytes_present,
        "totalBytes": layout.total_bytes,
        "files": layout.num_files,
        "filesComplete": sum(f.complete for f in state.files),
        "complete": state.complete and meta.nonce is not None,
        "dataComplete": state.complete,
        "nonce": meta.nonce,
        "unexpectedFiles": [p.name for p in state.extra],
        "fileStates": files,
    }

    def human() -> None:
        from rich.table import Table

        t = Table(show_header=False, box=None)
        t.add_row("datadir", str(datadir))
        t.add_row("node id", meta.node_id.hex())
        t.add_row("commitment ATX", meta.commitment_atx_id.hex())
        t.add_row("units", f"{meta.num_units} × {meta.labels_per_unit} labels ({_size(layout.total_bytes)})")
        t.add_row("max file size", f"{meta.max_file_size} ({layout.num_files} files)")
        pct = 100 * state.labels_present / meta.num_labels if meta.num_labels else 0
        t.add_row("labels written", f"{state.labels_present} of {meta.num_labels} ({pct:.1f} %)")
        t.add_row("files complete", f"{data['filesComplete']} of {layout.num_files}")
        t.add_row("VRF nonce", "none yet" if meta.nonce is None else str(meta.nonce))
        if meta.last_position is not None:
            t.add_row("last position", str(meta.last_position))
        t.add_row("init complete", "[green]yes[/]" if data["complete"] else "[yellow]no[/]")
        console().print(t)
        for p in state.extra:
            warn(f"unexpected file {p.name} beyond the layout")

    emit(data, human)


@app.command()
def providers(
    benchmark: Annotated[
        bool, typer.Option("--benchmark", help="Measure labels/s at N=8192 on each provider.")
    ] = False,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Approximate time per benchmark.")] = 2.0,
) -> None:
    """List the OpenCL devices and the CPU provider."""
    from core.post import labels

    try:
        found = labels.list_providers()
    except SmeshError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken OpenCL stack must not crash the listing
        warn(f"OpenCL is not usable here ({type(e).__name__}: {e}); only the CPU is listed")
        found = [labels.CPU_PROVIDER]
    if not any(getattr(p, "id", None) != labels.PROVIDER_CPU for p in found):
        note("no OpenCL device found (no OpenCL runtime or no device): only the CPU provider is available")
    rows = []
    for p in found:
        row = {"id": p.id, "name": p.name, "kind": p.kind}
        if benchmark:
            row["labelsPerSecond"] = labels.benchmark(p.id, seconds)
        rows.append(row)

    def human() -> None:
        from rich.table import Table

        t = Table("id", "name", "kind", *(["labels/s (N=8192)", "MiB/s"] if benchmark else []))
        for r in rows:
            rate = r.get("labelsPerSecond", 0.0)
            extra = [f"{rate:,.0f}", f"{rate * 16 / (1 << 20):.3f}"] if benchmark else []
            t.add_row(str(r["id"]), r["name"], r["kind"], *extra)
        console().print(t)

    emit(rows, human)


# ------------------------------------------------------------------------------------------------
# prove


@app.command()
def prove(
    datadir: Datadir,
    challenge: Annotated[str, typer.Option("--challenge", help="32-byte challenge as hex (zeros: the initial proof).")],
    nonces: Annotated[
        int | None, typer.Option("--nonces", help="Nonces per pass, a multiple of 16 (default: the preset's).")
    ] = None,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Processes reading the data.")] = 1,
    randomx: Annotated[
        str | None, typer.Option("--randomx", help="k2pow RandomX mode: fast or light (default: the preset's).")
    ] = None,
    preset: Preset = "mainnet",
) -> None:
    """Prove the data for a challenge; prints the proof (post-rs JSON) and its metadata."""
    from core.post.prove import generate_proof

    from core.post import metadata as md

    params = _params(preset)
    ch = parse_hex(challenge, "--challenge", 32)
    meta = md.load(datadir)
    if meta.labels_per_unit != params.labels_per_unit:
        warn(
            f"the data has {meta.labels_per_unit} labels per unit, the {params.name} preset {params.labels_per_unit}: "
            f"{params.name} verifiers will reject this proof (is --preset right?)"
        )
    mode = (randomx or params.randomx_mode).lower()
    if mode not in ("fast", "light"):
        raise InvalidInput("--randomx must be fast or light")
    renderer = _ProveRenderer(mode)
    try:
        result = generate_proof(
            datadir, ch, k1=params.k1, k2=params.k2, pow_difficulty=params.pow_difficulty,
            nonces=nonces or params.nonces, threads=threads, randomx_mode=mode, progress=renderer.update,
        )  # fmt: skip
    finally:
        renderer.close()
    data = {"proof": result.proof.to_json(), "metadata": result.metadata.to_json()}
    if options.json:
        data["indices"] = list(result.indices)
        data["passes"] = result.passes
        emit(data)
    else:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")


class _ProveRenderer:
    def __init__(self, randomx_mode: str) -> None:
        self.randomx_mode = randomx_mode
        self.progress = None
        self.task = None
        self.pow_group: int | None = None

    def update(self, p: Any) -> None:
        if options.json:
            return
        if p.phase == "pow":
            if self.pow_group is None and self.randomx_mode == "fast":
                note("k2pow: RandomX fast mode builds a 2 GiB dataset first (--randomx light: 256 MiB, slower hashing)")
            if self.pow_group != p.nonce_group:
                self.pow_group = p.nonce_group
                note(f"k2pow for nonce group {p.nonce_group} (nonces {p.nonces.start}..{p.nonces.stop - 1})")
            return
        if self.progress is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=err_console(),
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task("reading", total=p.total)
        self.progress.update(
            self.task, completed=p.position, total=p.total,
            description=f"nonces {p.nonces.start}..{p.nonces.stop - 1}",
        )  # fmt: skip

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


# ------------------------------------------------------------------------------------------------
# verify-proof, verify-data


def _read_json_arg(value: str) -> Any:
    text = sys.stdin.read() if value == "-" else None
    if text is None:
        path = Path(value)
        if path.is_file():
            text = path.read_text()
        else:
            text = value  # inline JSON
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput("--proof is neither a readable JSON file nor JSON text") from None


@app.command("verify-proof")
def verify_proof(
    proof_file: Annotated[
        str | None,
        typer.Argument(
            metavar="PROOF",
            help="The proof JSON (file, '-' for stdin, or text): 'smesh post prove' output or a bare post-rs proof.",
            show_default=False,
        ),
    ] = None,
    proof: Annotated[str | None, typer.Option("--proof", help="The same as PROOF, as an option.")] = None,
    node_id: Annotated[str | None, typer.Option("--node-id", help="Override the metadata's node id (hex).")] = None,
    commitment_atx_id: Annotated[str | None, typer.Option("--commitment-atx-id", help="Override (hex).")] = None,
    challenge: Annotated[str | None, typer.Option("--challenge", help="Override the challenge (hex).")] = None,
    num_units: Annotated[int | None, typer.Option("--num-units", help="Override the number of units.")] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="all, subset (K3 labels drawn with --seed) or one (--index).")
    ] = "all",
    k3: Annotated[
        int | None, typer.Option("--k3", min=1, help="Labels to check in subset mode (default: the preset's K3).")
    ] = None,
    seed: Annotated[str, typer.Option("--seed", help="Subset-mode seed as hex.")] = "",
    index: Annotated[
        int | None,
        typer.Option("--index", min=0, help="Position (0..K2−1) in the proof's index list, for --mode one."),
    ] = None,
    labels_per_unit: LabelsPerUnit = None,
    scrypt_n: ScryptN = None,
    preset: Preset = "mainnet",
) -> None:
    """Verify a proof against the network's parameters; non-zero exit if invalid."""
    from core.post.prove import Proof, ProofMetadata
    from core.post.verify import All, One, Subset, VerifyError, VerifyParams
    from core.post.verify import verify_proof as verify

    if (proof_file is None) == (proof is None):
        raise InvalidInput("give the proof once: as PROOF or as --proof")
    params = _params(preset, labels_per_unit, scrypt_n)
    data = _read_json_arg(proof_file if proof is None else proof)
    if isinstance(data, dict) and "proof" in data:
        proof_obj = Proof.from_json(data["proof"])
        meta_json = data.get("metadata")
    else:
        proof_obj = Proof.from_json(data)
        meta_json = None
    if meta_json is not None:
        meta = ProofMetadata.from_json(meta_json, params.labels_per_unit)
    else:
        missing = [n for n, v in (("--node-id", node_id), ("--commitment-atx-id", commitment_atx_id),
                                  ("--challenge", challenge), ("--num-units", num_units)) if v is None]  # fmt: skip
        if missing:
            raise InvalidInput(f"the proof has no metadata: give {', '.join(missing)}")
        meta = ProofMetadata(bytes(32), bytes(32), bytes(32), 1, params.labels_per_unit)
    import dataclasses

    meta = dataclasses.replace(
        meta,
        node_id=parse_hex(node_id, "--node-id", 32) if node_id else meta.node_id,
        commitment_atx_id=(
            parse_hex(commitment_atx_id, "--commitment-atx-id", 32) if commitment_atx_id else meta.commitment_atx_id
        ),
        challenge=parse_hex(challenge, "--challenge", 32) if challenge else meta.challenge,
        num_units=num_units if num_units is not None else meta.num_units,
    )
    m = mode.lower()
    if m == "all":
        chosen = All()
    elif m == "subset":
        chosen = Subset(k3 or params.k3, parse_hex(seed, "--seed") if seed else b"")
    elif m == "one":
        if index is None:
            raise InvalidInput("--mode one needs --index")
        chosen = One(index)
    else:
        raise InvalidInput("--mode must be all, subset or one")
    vp = VerifyParams.from_params(params)
    try:
        checked = verify(proof_obj, meta, vp, chosen)
    except VerifyError as e:
        if options.json:
            emit({"valid": False, "error": str(e), "position": e.position, "index": e.index})
        raise SmeshError(f"invalid proof: {e}") from None
    emit(
        {"valid": True, "mode": m, "checkedIndices": checked},
        lambda: console().print(f"[green]proof is valid[/] ({m}: {len(checked)} label(s) recomputed)"),
    )


@app.command("verify-data")
def verify_data(
    datadir: Datadir,
    fraction: Annotated[
        float, typer.Option("--fraction", help="Percentage of each file's labels to recompute (postcli: 0.2).")
    ] = 0.2,
    scrypt_n: ScryptN = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Label backend for the recomputation (default: cpu).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for the sample (default: random).")] = None,
    preset: Preset = "mainnet",
) -> None:
    """Recompute a sample of labels in every file; names the bad file and byte offset (non-zero exit)."""
    from core.post import labels
    from core.post.verify import verify_data as check

    if not 0 < fraction <= 100:  # 0 would check nothing and call the data good
        raise InvalidInput(f"--fraction must be a percentage above 0 and at most 100, got {fraction:g}")
    params = _params(preset, scrypt_n=scrypt_n)
    backend = labels.get_backend(_provider(provider) or "cpu")
    report = check(datadir, fraction, params.scrypt_n, compute=backend.compute, seed=seed)
    data = {
        "datadir": str(datadir),
        "files": report.files,
        "labelsChecked": report.labels_checked,
        "valid": not report.bad and report.nonce_ok is not False,
        "nonceValid": report.nonce_ok,
        "bad": [{"file": b.file, "offset": b.offset, "index": b.index} for b in report.bad],
    }
    if options.json:
        emit(data)
    if report.bad:
        first = report.bad[0]
        more = f" (and {len(report.bad) - 1} more)" if len(report.bad) > 1 else ""
        if not options.json:
            for b in report.bad[1:20]:
                err_console().print(b.describe())
        raise SmeshError(first.describe() + more)
    if report.nonce_ok is False:
        raise SmeshError("the metadata's VRF nonce is not below the target for this data")
    if not options.json:
        console().print(
            f"[green]data is valid[/]: {report.labels_checked} label(s) recomputed in {report.files} file(s)"
        )
