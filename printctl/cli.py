"""The ``printctl`` command line: parse, call :mod:`printctl.service`, show the result.

Errors a user can cause print one line on stderr and exit non-zero, never a traceback.
Every command that reads data takes ``--json``.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from printctl import __version__
from printctl.cli_center_serve import center_receipt, center_serve
from printctl.cli_common import (
    USER_ERRORS,
    CliError,
    JsonOpt,
    _context,
    _fail,
    _print_json,
    _state,
    err,
    out,
)
from printctl.cli_driver import driver_app
from printctl.cli_night import night_app
from printctl.cli_records import register as register_record_commands
from printctl.cli_stock import stock_app
from printctl.cli_sync import register as register_sync_commands
from printctl.cli_users import users_app
from printctl.config import STARTER_CONFIG, Settings
from printctl.crypto import generate_key_file
from printctl.progress import live_progress
from printctl.queue.batches import BatchFilters

app = typer.Typer(
    name="printctl",
    help="Card-printing job controller for e-KTP offices: records in, cards out, every blank "
    "accounted for.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Center keys that bundles may be signed with.", no_args_is_help=True)
records_app = typer.Typer(help="Print-ready records.", no_args_is_help=True)
batch_app = typer.Typer(help="Batches of print jobs.", no_args_is_help=True)
jobs_app = typer.Typer(help="Print jobs.", no_args_is_help=True)
printers_app = typer.Typer(help="This station's printers and their state.", no_args_is_help=True)
center_app = typer.Typer(
    help="The fake center: keys and signed bundles of synthetic records for demos, tests and "
    "training.",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
stations_app = typer.Typer(
    help="Print stations sharing this database, their leases and held jobs.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(records_app, name="records")
app.add_typer(stock_app, name="stock")
app.add_typer(batch_app, name="batch")
app.add_typer(jobs_app, name="jobs")
app.add_typer(printers_app, name="printers")
app.add_typer(center_app, name="center")
app.add_typer(audit_app, name="audit")
app.add_typer(stations_app, name="stations")
app.add_typer(driver_app, name="driver")
app.add_typer(users_app, name="users")
app.add_typer(night_app, name="overnight")
register_record_commands(app, records_app)
register_sync_commands(app, keys_app)


def _show_version(value: bool) -> None:
    if value:
        out.print(f"printctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Configuration file (default: ./printctl.toml)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    _state["config"] = config


# ---------------------------------------------------------------------------- init & demo


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the workspace.")] = Path("."),
    office_name: Annotated[str, typer.Option(help="The office's name, for reports.")] = (
        Settings.office_name
    ),
    regency_code: Annotated[str, typer.Option(help="The office's regency code.")] = "14.09",
) -> None:
    """Write a commented printctl.toml and a fresh data key, and create the database."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "printctl.toml"
    key_path = directory / "data.key"
    if config_path.exists():
        _fail(f"{config_path} already exists; not overwriting it")
    if key_path.exists():
        _fail(f"{key_path} already exists; not overwriting the only key to the stored data")
    config_path.write_text(
        STARTER_CONFIG.format(
            office_name=office_name, regency_code=regency_code, station="station-1"
        ),
        encoding="utf-8",
    )
    generate_key_file(key_path)
    _state["config"] = config_path
    with _context() as ctx:
        from printctl.service_sync import station_public_key

        station, _pem, _created = station_public_key(ctx)
    out.print(f"Created {config_path} and {key_path} (keep a copy of the key in the office safe).")
    out.print(
        f"This station signs its events with key {station.key_id!r}; give the center its "
        "public half (`printctl keys station --out FILE`)."
    )


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Workspace folder (default: a new temporary folder).")
    ] = None,
    records: Annotated[int, typer.Option(help="Records in the demo bundle.")] = 200,
    printers: Annotated[int, typer.Option(help="Simulated printers.")] = 3,
    blanks: Annotated[int, typer.Option(help="Blanks received before printing.")] = 250,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic records and faults.")] = 7,
    prepare_only: Annotated[
        bool,
        typer.Option(
            "--prepare-only",
            help="Set up a training office (records, blanks, simulated printers) in --workdir "
            "and print nothing: then run `printctl serve` there and print from the console.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the whole job end to end on simulated printers, in a fresh workspace."""
    from printctl.demo import prepare_office, run_demo

    if prepare_only:
        if workdir is None:
            _fail("--prepare-only needs --workdir: the folder the training office goes in")
        prepared = prepare_office(
            workdir,
            records=records,
            printers=printers,
            blanks=blanks,
            seed=seed,
            console=None if json_out else out,
        )
        if json_out:
            _print_json(prepared)
        else:
            out.print(
                f"Next: cd {workdir}; printctl users add NAME --role admin; printctl serve "
                "(then open the address it prints)"
            )
        return
    summary = run_demo(
        workdir=workdir,
        records=records,
        printers=printers,
        blanks=blanks,
        seed=seed,
        console=None if json_out else out,
    )
    if json_out:
        _print_json(summary)
    if not summary["balanced"]:
        err.print("[bold red]error:[/] the blank ledger does not balance")
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- keys & import


@keys_app.command("trust")
def keys_trust(
    file: Annotated[Path, typer.Argument(help="The center's Ed25519 public key (PEM or base64).")],
    key_id: Annotated[str, typer.Option("--id", help="The key id bundles name (key_id).")],
) -> None:
    """Trust a center public key for bundle signatures."""
    from printctl.service import trust_key

    with _context() as ctx:
        raw = trust_key(ctx, file, key_id)
    out.print(f"Trusted key {key_id} ({raw}).")


@keys_app.command("list")
def keys_list(json_out: JsonOpt = False) -> None:
    """List the trusted center keys."""
    from sqlmodel import Session, select

    from printctl.models import TrustedKey

    with _context() as ctx, Session(ctx.engine) as session:
        keys = list(session.exec(select(TrustedKey)))
    if json_out:
        _print_json([k.model_dump() for k in keys])
        return
    table = Table("key id", "public key", "added", "by")
    for k in keys:
        table.add_row(k.key_id, k.public_key, f"{k.added_at:%Y-%m-%d}", k.added_by)
    out.print(table)


@app.command("import")
def import_cmd(
    bundles: Annotated[
        list[Path],
        typer.Argument(
            help="PRR bundle files (*.prr.zip), or folders (a mounted flash drive): every "
            "bundle in a folder is imported in the center's sequence order."
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Import signed bundles of print-ready records. Exits 1 if any bundle was rejected."""
    from printctl.service import import_bundles

    with _context(quiet_console=json_out) as ctx:
        outcomes = import_bundles(ctx, bundles)
    if json_out:
        _print_json([o.as_dict() for o in outcomes])
    else:
        for o in outcomes:
            name = Path(o.path).name
            if o.outcome == "rejected":
                err.print(f"[bold red]rejected[/] {name}: {o.reason}", soft_wrap=True)
                continue
            if o.outcome == "already-imported":
                out.print(f"[yellow]already imported[/] {name}: {o.reason}")
                continue
            out.print(
                f"[green]imported[/] {name}: {o.imported} records, "
                f"{len(o.quarantined)} quarantined (bundle {o.bundle_id}, sequence {o.sequence})"
            )
            for q in o.quarantined:
                out.print(
                    f"  quarantined {q['record_id'] or '(line ' + str(q['line']) + ')'}: {q['reason']}"
                )
            for label in o.superseded:
                out.print(f"  superseded {label}")
            for warning in o.warnings:
                out.print(f"  [yellow]warning:[/] {warning}")
    if any(o.outcome == "rejected" for o in outcomes):
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- records


@records_app.command("list")
def records_list(
    state: Annotated[str | None, typer.Option(help="Only records in this state.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List records: id, version, request type, state (NIKs masked)."""
    from printctl.service import records

    with _context() as ctx:
        rows = records(ctx, state)
    if json_out:
        _print_json([r.as_dict() for r in rows])
        return
    table = Table()
    table.add_column("record", no_wrap=True)
    for title in ("v", "type", "state", "district", "NIK", "reason"):
        table.add_column(title)
    for r in rows:
        table.add_row(
            r.record_id or "?",
            str(r.version or ""),
            r.request_type or "",
            r.status,
            r.district or "",
            r.nik or "",
            r.reason,
        )
    out.print(table)
    out.print(f"{len(rows)} records")


# ---------------------------------------------------------------------------- batches & jobs


@batch_app.command("create")
def batch_create(
    district: Annotated[str | None, typer.Option(help="Only records of this district.")] = None,
    request_type: Annotated[
        str | None, typer.Option("--type", help="Only this request type (NEW, REPLACE_LOST, …).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many records.")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the batch.")] = None,
    trim: Annotated[
        bool,
        typer.Option(
            help="When the stock is short, queue only as many records as there are free "
            "blanks (first-time cards first) instead of refusing the batch."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create a batch of print jobs from ready records (refused if the stock is short)."""
    from printctl.queue.batches import StockMode
    from printctl.service import new_batch

    with _context() as ctx:
        batch_id, count = new_batch(
            ctx,
            BatchFilters(district=district, request_type=request_type, limit=limit),
            name=name,
            stock_mode=StockMode.TRIM if trim else StockMode.REFUSE,
        )
    if json_out:
        _print_json({"batch_id": batch_id, "jobs": count})
    else:
        out.print(f"Batch {batch_id}: {count} jobs.")


@batch_app.command("list")
def batch_list(json_out: JsonOpt = False) -> None:
    """List batches."""
    from printctl.service import batches, job_counts

    with _context() as ctx:
        rows = [(b, job_counts(ctx, [b.id] if b.id is not None else [])) for b in batches(ctx)]
    if json_out:
        _print_json([{**b.model_dump(), "jobs": counts} for b, counts in rows])
        return
    table = Table("id", "name", "state", "by", "jobs")
    for b, counts in rows:
        jobs_text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        table.add_row(str(b.id), b.name, b.state, b.created_by, jobs_text)
    out.print(table)


@batch_app.command("start")
def batch_start(
    batch_ids: Annotated[list[int], typer.Argument(help="Batches to print.")],
    printer: Annotated[
        list[str] | None, typer.Option("--printer", help="Printer names (default: all).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print batches on the configured printers until they are done or a printer stops."""
    from printctl.service import job_counts, run_batches, select_printers

    with _context(quiet_console=json_out) as ctx:
        chosen = select_printers(ctx.settings, printer)
        total = sum(
            n
            for state, n in job_counts(ctx, batch_ids).items()
            if state in ("pending", "processing")
        )
        console = None if json_out else out
        with live_progress(console, total=total, printers=[p.name for p in chosen]) as notify:
            result = run_batches(ctx, batch_ids, chosen, notify=notify)
        counts = job_counts(ctx, batch_ids)
    summary = {
        "batches": list(batch_ids),
        "jobs": counts,
        "printers": [w.__dict__ for w in result.workers],
    }
    if json_out:
        _print_json(summary)
    else:
        _print_run(result.workers, counts)
    if any(w.stop_reason for w in result.workers):
        raise typer.Exit(1)


def _print_run(workers: list[Any], counts: dict[str, int]) -> None:
    table = Table("printer", "issued", "spoiled", "aborted", "inspection", "stopped because")
    for w in workers:
        table.add_row(
            w.printer,
            str(w.completed),
            str(w.spoiled),
            str(w.aborted),
            str(w.needs_inspection),
            w.stop_reason,
        )
    out.print(table)
    out.print("jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@batch_app.command("release")
def batch_release(
    batch_ids: Annotated[list[int], typer.Argument(help="Batches to release.")],
) -> None:
    """Mark batches running without printing here: every `printctl run` station takes them."""
    from printctl.service import release_batches

    with _context() as ctx:
        release_batches(ctx, batch_ids)
    out.print(f"Released batch(es) {', '.join(map(str, batch_ids))} to every station.")


@app.command("run")
def run_cmd(
    station: Annotated[
        str | None, typer.Option(help="This station's name (default: the configured station).")
    ] = None,
    printer: Annotated[
        list[str] | None, typer.Option("--printer", help="Printer names (default: all).")
    ] = None,
    batch: Annotated[
        list[int] | None,
        typer.Option(
            "--batch", help="Only these batches (started here); default: every running one."
        ),
    ] = None,
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle", help="Exit once no job of the running batches is left to print."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run a print station: its printers take jobs of running batches, shared with others.

    Several stations may share one PostgreSQL database; each heartbeats, and a station that dies has its work reconciled by the others after its lease. SIGTERM or Ctrl-C: each printer finishes the card it holds, then the run ends. Exits 1 if a printer stopped or this station was taken over as lost.
    """
    from printctl.service import job_counts, run_station, select_printers

    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _context(quiet_console=json_out, station=station) as ctx:
            chosen = select_printers(ctx.settings, printer)
            console = None if json_out else out
            total = sum(
                n
                for state, n in job_counts(ctx, batch).items()
                if state in ("pending", "processing")
            )
            with live_progress(console, total=total, printers=[p.name for p in chosen]) as notify:
                result = run_station(
                    ctx, chosen, batch_ids=batch, stop=stop, notify=notify, until_idle=until_idle
                )
            counts = job_counts(ctx, batch)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary = {
        "station": result.station,
        "run_id": result.run_id,
        "lost": result.lost,
        "stopped_by_signal": stop.is_set() and not result.lost,
        "reaped": [r.__dict__ for r in result.reaped],
        "jobs": counts,
        "printers": [w.__dict__ for w in result.workers],
    }
    if json_out:
        _print_json(summary)
    else:
        _print_run(result.workers, counts)
        for lost in result.reaped:
            out.print(
                f"station {lost.name} was lost: {len(lost.requeued)} job(s) requeued, "
                f"{len(lost.needs_inspection)} await inspection"
            )
    if result.lost:
        err.print(
            f"[bold red]error:[/] station {result.station} was taken over as lost by another "
            "station (its heartbeat was late); it stopped taking work",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if any(w.stop_reason for w in result.workers):
        raise typer.Exit(1)


@stations_app.command("list")
def stations_list(json_out: JsonOpt = False) -> None:
    """Stations sharing this database: state, host, pid, heartbeat age, lease, jobs held."""
    from printctl.service import stations

    with _context() as ctx:
        views = stations(ctx)
    if json_out:
        _print_json([v.as_dict() for v in views])
        return
    table = Table("station", "state", "host", "pid", "heartbeat", "lease", "in flight", "reason")
    for v in views:
        age = f"{v.heartbeat_age_s:g} s ago" + (" (expired)" if v.expired else "")
        table.add_row(
            v.name, v.state, v.host, str(v.pid), age, f"{v.lease_s:g} s", str(v.in_flight), v.reason
        )
    out.print(table)


@batch_app.command("pause")
def batch_pause(batch_id: Annotated[int, typer.Argument(help="The batch to pause.")]) -> None:
    """Stop giving out the batch's jobs (cards in a printer finish); `batch start` resumes."""
    from printctl.service import change_batch

    with _context() as ctx:
        change_batch(ctx, batch_id, "pause")
    out.print(f"Batch {batch_id} paused.")


@batch_app.command("cancel")
def batch_cancel(batch_id: Annotated[int, typer.Argument(help="The batch to cancel.")]) -> None:
    """Cancel the batch's waiting jobs; their records become ready for another batch."""
    from printctl.service import change_batch

    with _context() as ctx:
        canceled = change_batch(ctx, batch_id, "cancel")
    out.print(f"Batch {batch_id} canceled ({canceled} waiting jobs).")


@batch_app.command("priority")
def batch_priority(
    batch_id: Annotated[int, typer.Argument(help="The batch.")],
    priority: Annotated[int, typer.Argument(help="Higher goes first.")],
) -> None:
    """Change a batch's priority: jobs of higher-priority batches are taken first."""
    from printctl.service import change_batch

    with _context() as ctx:
        change_batch(ctx, batch_id, "priority", priority)
    out.print(f"Batch {batch_id} priority {priority}.")


@jobs_app.command("list")
def jobs_list(
    batch: Annotated[int | None, typer.Option(help="Only this batch's jobs.")] = None,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List print jobs."""
    from printctl.service import jobs

    with _context() as ctx:
        rows = jobs(ctx, batch_id=batch, state=state)
    data = [
        {
            "id": j.id,
            "batch_id": j.batch_id,
            "state": j.state,
            "step": j.step,
            "attempts": j.attempts,
            "printer": j.printer,
            "chip_uid": j.chip_uid,
            "reasons": j.reasons.split(),
            "error": j.error,
        }
        for j in rows
    ]
    if json_out:
        _print_json(data)
        return
    table = Table("job", "batch", "state", "step", "attempts", "printer", "chip UID", "error")
    for d in data:
        table.add_row(
            *(
                str(d[k] or "")
                for k in (
                    "id",
                    "batch_id",
                    "state",
                    "step",
                    "attempts",
                    "printer",
                    "chip_uid",
                    "error",
                )
            )
        )
    out.print(table)


@jobs_app.command("inspect")
def jobs_inspect(
    job_id: Annotated[int, typer.Argument(help="The job waiting for inspection.")],
    found: Annotated[
        str, typer.Option(help="What came out: issued, spoiled or none.", show_default=False)
    ],
    chip_uid: Annotated[
        str | None, typer.Option(help="The chip UID read from the card, when found issued.")
    ] = None,
    note: Annotated[str, typer.Option(help="What you saw, for the audit log.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Record what a person found for a card whose outcome was unknown."""
    from printctl.service import inspect_job

    with _context() as ctx:
        facts = inspect_job(ctx, job_id, found, chip_uid=chip_uid, note=note)
    if json_out:
        _print_json({**facts.__dict__, "found": found})
        return
    counter = "unknown" if facts.printer_counter is None else str(facts.printer_counter)
    out.print(
        f"Job {job_id} on {facts.printer or '?'} (stopped while {facts.step or '?'}; printer "
        f"counter {counter}): recorded as {found}."
    )


@jobs_app.command("hold")
def jobs_hold(
    job_id: Annotated[int, typer.Argument(help="The pending job to set aside.")],
    note: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Set a pending job aside: no printer takes it until it is released."""
    from printctl.service import hold

    with _context() as ctx:
        hold(ctx, job_id, note)
    out.print(f"Job {job_id} is held (release it with: printctl jobs release {job_id}).")


@jobs_app.command("release")
def jobs_release(
    job_id: Annotated[int, typer.Argument(help="The held job.")],
    note: Annotated[str, typer.Option(help="What was fixed, for the audit log.")] = "",
) -> None:
    """Release a held job (held by an operator, or by a printer's fault policy) to pending."""
    from printctl.service import release

    with _context() as ctx:
        was = release(ctx, job_id, note)
    out.print(f"Job {job_id} is pending again (it was held: {was or 'no reason given'}).")


@printers_app.command("list")
def printers_list(json_out: JsonOpt = False) -> None:
    """The configured printers, whether they are stopped and why, and open inspections."""
    from printctl.service import printers

    with _context() as ctx:
        views = printers(ctx)
    if json_out:
        _print_json([v.as_dict() for v in views])
        return
    table = Table(
        "printer",
        "state",
        "reasons",
        "why",
        "job",
        "cards (counter)",
        "hopper",
        "ribbon panels",
        "awaiting inspection",
        "url",
    )

    def shown(value: int | None) -> str:
        return "" if value is None else str(value)

    for v in views:
        state = f"{v.state} (clears itself)" if v.clears_itself else v.state
        if v.pause_requested:
            state += " (pause requested)"
        levels_at = f" at {v.status_at:%H:%M}" if v.status_at else ""
        table.add_row(
            v.name,
            state,
            " ".join(v.reasons),
            v.reason,
            shown(v.current_job),
            shown(v.cards_inserted),
            shown(v.cards_in_hopper) + (levels_at if v.cards_in_hopper is not None else ""),
            shown(v.ribbon_panels_left),
            str(v.awaiting_inspection),
            v.url,
        )
    out.print(table)


@printers_app.command("pause")
def printers_pause(
    name: Annotated[str, typer.Argument(help="The printer to pause.")],
    note: Annotated[str, typer.Option(help="Why, for the log and the printer list.")] = "",
) -> None:
    """Pause a printer until resumed: at once if idle, else after the card it is printing."""
    from printctl.service import pause_printer

    with _context() as ctx:
        said = pause_printer(ctx, name, note)
    out.print(f"{said}; go on with: printctl printers resume {name}")


@printers_app.command("resume")
def printers_resume(name: Annotated[str, typer.Argument(help="The stopped printer.")]) -> None:
    """Let a stopped or paused printer take jobs again (after its cause was fixed); for a
    printer whose pause is only requested, cancel the request."""
    from printctl.service import resume

    with _context() as ctx:
        previous = resume(ctx, name)
    out.print(f"Resumed {name} (it had stopped: {previous}).")


# ---------------------------------------------------------------------------- fake center


@center_app.command("make-key")
def center_make_key(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the key files.")],
    key_id: Annotated[str, typer.Option("--id", help="The key id manifests will name.")] = (
        "pusat-2026-01"
    ),
    seed: Annotated[
        int | None, typer.Option(help="Derive the key from a seed (reproducible training).")
    ] = None,
) -> None:
    """Make a fake-center signing key: <id>.key.pem (private) and <id>.pub.pem (to trust)."""
    from printctl.center.keys import generate_center_key, write_key_pair

    files = write_key_pair(generate_center_key(key_id, seed=seed), out_dir)
    out.print(f"Private key: {files.private_pem}\nPublic key:  {files.public_pem}")
    out.print(f"Trust it with: printctl keys trust {files.public_pem} --id {key_id}")


def _parse_counts(items: list[str] | None, known: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items or []:
        kind, _, n = item.partition("=")
        if kind not in known:
            raise CliError(f"unknown bad-record kind {kind!r} (see `printctl center kinds`)")
        try:
            counts[kind] = int(n or "1")
        except ValueError:
            raise CliError(f"--bad-record {item}: the count must be a number") from None
    return counts


@center_app.command("make-bundle")
def center_make_bundle(
    key: Annotated[Path, typer.Option(help="The fake center's private key (*.key.pem).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the bundle file.")],
    key_id: Annotated[str, typer.Option(help="The key id to name in the manifest.")] = (
        "pusat-2026-01"
    ),
    count: Annotated[int, typer.Option(help="Records in the bundle.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same bundle.")] = 0,
    sequence: Annotated[int, typer.Option(help="The bundle's sequence number.")] = 1,
    version: Annotated[int, typer.Option(help="Record version (2+ supersedes).")] = 1,
    regency: Annotated[str, typer.Option(help="Regency code in the manifest.")] = "14.09",
    reprints: Annotated[
        float, typer.Option(help="Fraction of reprint requests (REPLACE_LOST, …).")
    ] = 0.0,
    bad_record: Annotated[
        list[str] | None,
        typer.Option("--bad-record", help="KIND=N: write N records with this defect."),
    ] = None,
    bad_bundle: Annotated[
        str | None, typer.Option(help="Make the whole bundle bad in this way.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a signed bundle of synthetic print-ready records (optionally with defects)."""
    from printctl.center.bundles import BAD_BUNDLE_KINDS, BAD_RECORD_KINDS, make_bundle
    from printctl.center.keys import load_center_key
    from printctl.domain import RequestType

    if count <= 0:
        raise CliError("--count must be positive")
    if bad_bundle is not None and bad_bundle not in BAD_BUNDLE_KINDS:
        raise CliError(f"unknown bad-bundle kind {bad_bundle!r} (see `printctl center kinds`)")
    if not 0.0 <= reprints <= 1.0:
        raise CliError("--reprints is a fraction between 0 and 1")
    try:
        center_key = load_center_key(key, key_id)
    except FileNotFoundError:
        raise CliError(f"{key}: no such file") from None
    except ValueError as exc:
        raise CliError(f"{key}: not a private key ({exc})") from None
    share = reprints / 3
    info = make_bundle(
        out_dir,
        key=center_key,
        count=count,
        seed=seed,
        regency_code=regency,
        sequence=sequence,
        version=version,
        bad_records=_parse_counts(bad_record, BAD_RECORD_KINDS),
        bad_bundle=bad_bundle,
        request_types={
            RequestType.NEW: 1.0 - reprints,
            RequestType.REPLACE_LOST: share,
            RequestType.REPLACE_DAMAGED: share,
            RequestType.DATA_CHANGE: share,
        },
    )
    if json_out:
        _print_json(
            {
                "path": str(info.path),
                "bundle_id": info.bundle_id,
                "sequence": info.sequence,
                "count": info.count,
                "bad_records": {k: list(v) for k, v in info.bad_records.items()},
                "bad_bundle": info.bad_bundle,
            }
        )
    else:
        out.print(f"Wrote {info.path} ({info.count} records, bundle {info.bundle_id}).")


@center_app.command("kinds")
def center_kinds(json_out: JsonOpt = False) -> None:
    """List the kinds of bad record and bad bundle the fake center can write."""
    from printctl.center.bundles import BAD_BUNDLE_KINDS, BAD_RECORD_KINDS

    if json_out:
        _print_json({"bad_records": dict(BAD_RECORD_KINDS), "bad_bundles": dict(BAD_BUNDLE_KINDS)})
        return

    table = Table("bad record (--bad-record KIND=N)", "defect")
    for kind, what in BAD_RECORD_KINDS.items():
        table.add_row(kind, what)
    out.print(table)
    table = Table("bad bundle (--bad-bundle KIND)", "spec rule")
    for kind, rule in BAD_BUNDLE_KINDS.items():
        table.add_row(kind, str(rule))
    out.print(table)


center_app.command("serve")(center_serve)
center_app.command("receipt")(center_receipt)


# ---------------------------------------------------------------------------- audit


@audit_app.command("verify")
def audit_verify(json_out: JsonOpt = False) -> None:
    """Check the audit log's hash chain; exits 1 at the first broken link."""
    from sqlmodel import Session, func, select

    from printctl.audit import verify_chain
    from printctl.models import AuditEvent

    with _context() as ctx, Session(ctx.engine) as session:
        broken = verify_chain(session)
        events = session.exec(select(func.count()).select_from(AuditEvent)).one()
    if json_out:
        _print_json({"events": events, "holds": broken is None, "first_broken_event": broken})
    elif broken is None:
        out.print(f"The audit chain holds ({events} events).")
    if broken is not None:
        if not json_out:
            err.print(f"[bold red]error:[/] the audit chain is broken at event {broken}")
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one line and exit 2."""
    from printctl.service import UserError

    user_errors: tuple[type[Exception], ...] = (*USER_ERRORS, UserError)
    try:
        app(args=argv, prog_name="printctl", standalone_mode=True)
    except user_errors as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        sys.exit(2)
    except OSError as exc:
        # The environment said no: a full disk, a folder where a file was expected, a
        # permission. One line naming the file; what was written is atomic or not at all.
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[bold red]error:[/] {exc.strerror or exc}{where}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
