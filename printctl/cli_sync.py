"""``printctl pull``, ``push``, ``export-events``, ``import-receipt``, ``events …``,
``keys station`` and ``serve``: the link to the center, online and by flash drive. Mounted by
:mod:`printctl.cli`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from printctl.cli_common import JsonOpt, _context, _print_json, err, out

events_app = typer.Typer(
    help="Issuance events waiting for the center (the outbox).", no_args_is_help=True
)


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Mount these commands on the root app and its ``keys`` group."""
    app.command("pull")(pull_cmd)
    app.command("push")(push_cmd)
    app.command("export-events")(export_events_cmd)
    app.command("import-receipt")(import_receipt_cmd)
    app.command("serve")(serve_cmd)
    app.add_typer(events_app, name="events")
    keys_app.command("station")(keys_station)


def _stopped_with(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)


def _stopped(error: str | None) -> None:
    if error:
        err.print(f"[bold red]error:[/] {error}", soft_wrap=True)
        raise typer.Exit(3)


def pull_cmd(json_out: JsonOpt = False) -> None:
    """Fetch the bundles the center offers and import them (resumes an interrupted download).

    Exit 3 when the center could not be reached; what was imported stays imported.
    """
    from printctl.service_sync import pull

    with _context(quiet_console=json_out) as ctx:
        result = pull(ctx)
    if json_out:
        _print_json(result.as_dict())
    else:
        out.print(
            f"The center offered {result.offered} bundle(s) after sequence {result.after}; "
            f"{len(result.skipped)} already here."
        )
        for o in result.outcomes:
            line = f"  {o.bundle_id} (sequence {o.sequence}): {o.outcome}"
            if o.outcome == "imported":
                line += f", {o.imported} records, {len(o.quarantined)} quarantined"
            elif o.reason:
                line += f": {o.reason}"
            out.print(line)
            for warning in o.warnings:
                out.print(f"    warning: {warning}")
    _stopped(result.error)
    if any(o.outcome == "rejected" for o in result.outcomes):
        raise typer.Exit(1)


def push_cmd(json_out: JsonOpt = False) -> None:
    """Send the pending issuance events to the center as signed event bundles.

    Exit 3 when the center could not be reached; the unsent events wait for the next push.
    """
    from printctl.service_sync import push

    with _context(quiet_console=json_out) as ctx:
        result = push(ctx)
    if json_out:
        _print_json(result.as_dict())
    else:
        out.print(
            f"Sent {result.sent} events in {len(result.bundles)} bundle(s): "
            f"{result.accepted} accepted, {result.duplicates} the center already had; "
            f"{result.pending} still pending."
        )
    _stopped(result.error)


def export_events_cmd(
    directory: Annotated[Path, typer.Argument(help="The mounted flash drive (a folder).")],
    again: Annotated[
        bool,
        typer.Option("--again", help="Also the events an earlier drive carried (it was lost)."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write the events no drive has carried yet to a flash drive, as signed event bundles.

    They stay pending until the center's receipt comes back (`printctl import-receipt`).
    """
    from printctl.service_sync import export_events

    with _context(quiet_console=json_out) as ctx:
        result = export_events(ctx, directory, again=again)
    if json_out:
        _print_json(result.as_dict())
        return
    if not result.paths:
        out.print("No events are waiting for the center.")
        return
    out.print(f"Wrote {result.events} events in {len(result.paths)} file(s):")
    for path in result.paths:
        out.print(f"  {path}")
    out.print("Bring the center's receipt back and run `printctl import-receipt FILE`.")


def import_receipt_cmd(
    path: Annotated[
        Path, typer.Argument(help="The center's receipt (*.receipt.zip), or a drive holding some.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Import the center's signed receipts: the events they name are delivered."""
    from printctl.service_sync import import_receipts

    with _context(quiet_console=json_out) as ctx:
        results = import_receipts(ctx, path)
    if json_out:
        _print_json([r.as_dict() for r in results])
        return
    for result in results:
        out.print(
            f"Receipt for {result.events_bundle_id}: {result.delivered} events delivered now, "
            f"{result.already} delivered before."
        )
        if result.unknown:
            out.print(f"  warning: it names {result.unknown} events this office never had")


@events_app.command("status")
def events_status(json_out: JsonOpt = False) -> None:
    """How many events wait for the center, by type, and how many went out on a drive."""
    from printctl.service_sync import outbox_status

    with _context(quiet_console=json_out) as ctx:
        counts = outbox_status(ctx)
    if json_out:
        _print_json(counts.as_dict())
        return
    out.print(
        f"Pending: {counts.pending} (on a flash drive, awaiting a receipt: {counts.exported})"
    )
    for event_type, n in counts.pending_by_type.items():
        out.print(f"  {event_type}: {n}")
    if counts.oldest_pending:
        out.print(f"Oldest pending: {counts.oldest_pending:%Y-%m-%d %H:%M} UTC")
    out.print(f"Delivered: {counts.delivered}")


@events_app.command("list")
def events_list(
    state: Annotated[
        str | None, typer.Option(help="pending, delivered or rejected (refused by the center).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 200,
    json_out: JsonOpt = False,
) -> None:
    """Outbox events, newest first; a rejected one shows the center's reason."""
    from rich.table import Table

    from printctl.service_sync import list_events

    with _context(quiet_console=json_out) as ctx:
        rows = list_events(ctx, state=state, limit=limit)
    if json_out:
        _print_json(
            [
                {
                    "event_id": e.event_id,
                    "type": e.type,
                    "record_id": e.record_id,
                    "version": e.version,
                    "at": e.at.isoformat(),
                    "state": e.state,
                    "exported_in": e.exported_in,
                    "delivered_via": e.delivered_via,
                    "problem": e.problem,
                }
                for e in rows
            ]
        )
        return
    table = Table()
    for name in ("at", "type", "record", "state", "via / problem"):
        table.add_column(name)
    for e in rows:
        record = f"{e.record_id} v{e.version}" if e.record_id else ""
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M}", e.type, record, e.state, e.problem or e.delivered_via or ""
        )
    out.print(table)


@events_app.command("retry")
def events_retry(
    event_ids: Annotated[
        list[str] | None, typer.Argument(help="The rejected events (default: all of them).")
    ] = None,
) -> None:
    """Send events the center refused again, once the center has fixed what it refused."""
    from printctl.service_sync import retry_rejected

    with _context() as ctx:
        n = retry_rejected(ctx, event_ids or None)
    out.print(f"{n} rejected events are pending again; `printctl push` sends them.")


@events_app.command("confirm")
def events_confirm(
    bundle_id: Annotated[str, typer.Argument(help="The exported event bundle's id.")],
) -> None:
    """Confirm the center has an exported event bundle when no receipt came back."""
    from printctl.service_sync import confirm_export

    with _context() as ctx:
        done = confirm_export(ctx, bundle_id)
    out.print(f"Marked {done} events of {bundle_id} delivered (confirmed by {ctx.actor}).")


def keys_station(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the public key (PEM) here.")
    ] = None,
) -> None:
    """This station's event-signing key: created when missing; prints its public half for
    the center to trust (under the station's name)."""
    from printctl.service_sync import station_public_key

    with _context() as ctx:
        key, pem, created = station_public_key(ctx)
    if out_file is not None:
        out_file.write_bytes(pem)
    verb = "Created" if created else "Station"
    out.print(
        f"{verb} key {key.key_id!r}" + (f"; public key written to {out_file}" if out_file else ":")
    )
    if out_file is None:
        out.print(pem.decode().rstrip())


def serve_cmd(
    listen: Annotated[
        str | None,
        typer.Option(help="HOST:PORT for the console and API (default: the listen setting)."),
    ] = None,
    printers: Annotated[
        bool,
        typer.Option(
            "--printers/--no-printers",
            help="Drive this station's printers (--no-printers: console and schedule only).",
        ),
    ] = True,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run each scheduled task once, then stop (no console)."),
    ] = False,
) -> None:
    """Run the office: the operators' console and API, this station's printers, and the
    schedule (pull every pull_every_s, push every push_every_s, erase expired data daily).

    SIGTERM or Ctrl-C: each printer finishes the card it holds, then everything stops.
    """
    from printctl.service_sync import PullResult, PushResult, run_service_loop, serve_tasks

    def report(task: str, result: Any) -> None:
        if isinstance(result, Exception):
            err.print(f"{task}: failed, retrying later: {result}", soft_wrap=True)
        elif getattr(result, "error", None):
            err.print(f"{task}: center unreachable, retrying later: {result.error}", soft_wrap=True)
        elif isinstance(result, PullResult):
            if result.outcomes:
                done = ", ".join(f"{o.bundle_id} {o.outcome}" for o in result.outcomes)
                out.print(f"pull: {done}")
        elif isinstance(result, PushResult):
            if result.sent:
                out.print(f"push: {result.sent} events delivered")
        elif getattr(result, "erased", None):
            out.print(f"erase: personal data of {len(result.erased)} records erased")

    if once:
        with _context() as ctx:
            tasks = serve_tasks(ctx)
            out.print(f"Running once: tasks {', '.join(tasks)}.")
            run_service_loop(
                ctx, stop=lambda _s: True, monotonic=time.monotonic, tasks=tasks, report=report
            )
        out.print("Stopped.")
        return

    from printctl.service import UserError
    from printctl.web.server import serve

    with _context() as ctx:
        center = ctx.settings.center_url or "none (flash drives only)"
        driven = [p.name for p in ctx.settings.printers] if printers else []

        def started(url: str) -> None:
            out.print(
                f"Serving {ctx.settings.station}: console and API at {url}; "
                f"printers {', '.join(driven) or 'none'}; center {center}. Ctrl-C stops."
            )

        try:
            error = serve(
                ctx,
                listen=listen or ctx.settings.listen,
                printers=printers,
                report=report,
                started=started,
            )
        except UserError as exc:
            _stopped_with(str(exc))
    if error is not None:
        _stopped_with(str(error))
    out.print("Stopped.")
