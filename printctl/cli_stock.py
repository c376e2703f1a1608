"""``printctl stock …``: the blank ledger, its daily close, counts, two-person controls and
the office's paperwork. Mounted by :mod:`printctl.cli`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from printctl.cli_common import JsonOpt, _context, _print_json, err, out
from printctl.models import SpoilReason
from printctl.stock.figures import DailyStatement, reason_label

stock_app = typer.Typer(
    help="Blank stock: deliveries, hoppers, spoils, counts, the daily close and its papers.",
    no_args_is_help=True,
)

DayOpt = Annotated[
    str | None, typer.Option("--day", help="The business day, YYYY-MM-DD (default: today).")
]
PdfOpt = Annotated[Path | None, typer.Option("--pdf", help="Write the PDF here (file or folder).")]


def _entry_line(kind: str, quantity: int, source: str, target: str, entry_id: int | None) -> str:
    return f"Entry #{entry_id}: {kind} {quantity} ({source} → {target})."


# ---------------------------------------------------------------------------- movements


@stock_app.command("receive")
def stock_receive(
    count: Annotated[int, typer.Argument(help="How many blanks arrived.")],
    lot: Annotated[str, typer.Option(help="The delivery's lot number.")],
    document: Annotated[
        str | None, typer.Option(help="The delivery document (berita acara serah terima).")
    ] = None,
    serial_first: Annotated[str | None, typer.Option(help="First serial of the delivery.")] = None,
    serial_last: Annotated[str | None, typer.Option(help="Last serial of the delivery.")] = None,
    note: Annotated[str, typer.Option(help="Remarks.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Record a delivery of blanks into the vault."""
    from printctl.service_stock import receive_delivery, show

    with _context() as ctx:
        entry = receive_delivery(
            ctx,
            count,
            lot,
            document=document,
            serial_first=serial_first,
            serial_last=serial_last,
            note=note,
        )
        view = show(ctx)
    if json_out:
        _print_json({"entry": entry.model_dump(), **view.as_dict()})
    else:
        out.print(
            f"Received {count} blanks (lot {lot}) into the vault. "
            f"Vault: {view.balance.vault}; on hand: {view.balance.on_hand}."
        )


def _move_command(source: str, target: str, count: int, json_out: bool) -> None:
    from printctl.service_stock import locations_now, move_blanks

    with _context() as ctx:
        entry = move_blanks(ctx, count, source, target)
        places = locations_now(ctx)
    if json_out:
        _print_json({"entry": entry.model_dump(), "locations": places})
        return
    out.print(_entry_line("moved", count, entry.from_loc, entry.to_loc, entry.id))
    out.print(
        f"  {entry.from_loc}: {places.get(entry.from_loc, 0)}, "
        f"{entry.to_loc}: {places.get(entry.to_loc, 0)}"
    )


@stock_app.command("load")
def stock_load(
    printer: Annotated[str, typer.Argument(help="The printer whose hopper is filled.")],
    count: Annotated[int, typer.Argument(help="Blanks taken from the vault.")],
    json_out: JsonOpt = False,
) -> None:
    """Record blanks taken from the vault into a printer's hopper (before it prints them)."""
    _move_command("vault", f"hopper:{printer}", count, json_out)


@stock_app.command("unload")
def stock_unload(
    printer: Annotated[str, typer.Argument(help="The printer whose hopper is emptied.")],
    count: Annotated[int, typer.Argument(help="Blanks put back in the vault.")],
    json_out: JsonOpt = False,
) -> None:
    """Record blanks taken out of a printer's hopper back into the vault."""
    _move_command(f"hopper:{printer}", "vault", count, json_out)


@stock_app.command("move")
def stock_move(
    count: Annotated[int, typer.Argument(help="How many blanks.")],
    source: Annotated[str, typer.Option("--from", help="vault or hopper:<printer>.")],
    target: Annotated[str, typer.Option("--to", help="vault or hopper:<printer>.")],
    json_out: JsonOpt = False,
) -> None:
    """Move blanks between the vault and hoppers (or from one hopper to another)."""
    _move_command(source, target, count, json_out)


@stock_app.command("spoil")
def stock_spoil(
    count: Annotated[int, typer.Argument(help="How many blanks.")],
    reason: Annotated[SpoilReason, typer.Option(help="The office's category.")],
    note: Annotated[str, typer.Option(help="What happened.")],
    location: Annotated[str, typer.Option(help="Where they were: vault or hopper:<printer>.")] = (
        "vault"
    ),
    chip_uid: Annotated[str | None, typer.Option(help="The card's chip UID, if it has one.")] = (
        None
    ),
    json_out: JsonOpt = False,
) -> None:
    """Record blanks spoiled outside a print job (damaged in storage, a dead chip, …)."""
    from printctl.service_stock import spoil_blanks

    with _context() as ctx:
        entry = spoil_blanks(ctx, count, reason, location, note, chip_uid=chip_uid)
    if json_out:
        _print_json(entry.model_dump())
    else:
        out.print(
            _entry_line(f"spoiled ({reason.value})", count, entry.from_loc, "spoiled", entry.id)
        )


@stock_app.command("holder-return")
def stock_holder_return(
    count: Annotated[int, typer.Argument(help="How many old cards.")],
    note: Annotated[str, typer.Option(help="Why: a move, a data change, …")],
    chip_uid: Annotated[str | None, typer.Option(help="The card's chip UID.")] = None,
    document: Annotated[str | None, typer.Option(help="The receipt or request number.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Record old cards handed back by their holders: they are destroyed with the spoiled."""
    from printctl.service_stock import holder_returned

    with _context() as ctx:
        entry = holder_returned(ctx, count, note, chip_uid=chip_uid, document=document)
    if json_out:
        _print_json(entry.model_dump())
    else:
        out.print(_entry_line("returned by holder", count, "holders", "spoiled", entry.id))


@stock_app.command("return")
def stock_return(
    count: Annotated[int, typer.Argument(help="How many blanks.")],
    document: Annotated[str, typer.Option(help="The return letter or handover document.")],
    note: Annotated[str, typer.Option(help="Remarks (to whom).")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Record blanks sent back from the vault to the province or the center."""
    from printctl.service_stock import return_to_province

    with _context() as ctx:
        entry = return_to_province(ctx, count, document, note)
    if json_out:
        _print_json(entry.model_dump())
    else:
        out.print(_entry_line("returned", count, "vault", "province", entry.id))


# ---------------------------------------------------------------------------- two people


@stock_app.command("adjust")
def stock_adjust(
    location: Annotated[str, typer.Option(help="vault or hopper:<printer>.")],
    by: Annotated[int, typer.Option(help="Signed change, e.g. -2 or 3.")],
    reason: Annotated[str, typer.Option(help="Why the ledger is wrong.")],
    json_out: JsonOpt = False,
) -> None:
    """Propose an adjustment; it takes effect when a supervisor approves it."""
    from printctl.service_stock import propose_adjustment

    with _context() as ctx:
        proposal = propose_adjustment(ctx, location, by, reason)
    if json_out:
        _print_json(proposal.model_dump())
    else:
        out.print(
            f"Proposed adjustment #{proposal.id}: {proposal.location} {by:+d}. "
            f"A supervisor approves it with `printctl stock approve {proposal.id}`."
        )


@stock_app.command("destroy")
def stock_destroy(
    witness: Annotated[list[str], typer.Option(help="A witness's name (at least two).")],
    place: Annotated[str, typer.Option(help="Where the cards are destroyed.")] = "",
    method: Annotated[str, typer.Option(help="How (e.g. dibakar / burned).")] = "dibakar",
    entry: Annotated[
        list[int] | None, typer.Option(help="Only these spoiled entries (default: all waiting).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose destroying the spoiled cards; a supervisor's approval carries it out."""
    from printctl.service_stock import propose_destruction

    with _context() as ctx:
        proposal = propose_destruction(ctx, witness, place, method, entry or None)
    if json_out:
        _print_json(proposal.model_dump())
    else:
        out.print(
            f"Proposed destruction #{proposal.id} of {proposal.quantity} card(s). "
            f"A supervisor approves it with `printctl stock approve {proposal.id}`."
        )


@stock_app.command("approve")
def stock_approve(
    proposal_id: Annotated[int, typer.Argument(help="The proposal's number.")],
    note: Annotated[str, typer.Option(help="Remarks.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Approve an adjustment or a destruction someone else proposed (supervisors only)."""
    from printctl.service_stock import approve_proposal

    with _context() as ctx:
        proposal = approve_proposal(ctx, proposal_id, note)
    if json_out:
        _print_json(proposal.model_dump())
    elif proposal.kind == "destroy":
        out.print(
            f"Approved: destruction #{proposal.result_id} done. Print its record with "
            "`printctl stock destruction-record --pdf FILE`."
        )
    elif proposal.kind == "adjust":
        out.print(f"Approved: adjustment entry #{proposal.result_id} written.")
    elif proposal.kind == "explain":
        out.print(f"Approved: the explanation is on {proposal.location}'s counter line.")
    else:
        out.print(f"Confirmed: the {proposal.quantity} blank(s) at {proposal.location}.")


@stock_app.command("reject")
def stock_reject(
    proposal_id: Annotated[int, typer.Argument(help="The proposal's number.")],
    note: Annotated[str, typer.Option(help="Why it is turned down.")],
    json_out: JsonOpt = False,
) -> None:
    """Turn down a proposal; nothing moves."""
    from printctl.service_stock import reject_proposal

    with _context() as ctx:
        proposal = reject_proposal(ctx, proposal_id, note)
    if json_out:
        _print_json(proposal.model_dump())
    else:
        out.print(f"Rejected proposal #{proposal_id}.")


@stock_app.command("count")
def stock_count(
    location: Annotated[str, typer.Option(help="vault or hopper:<printer>.")],
    counted: Annotated[int, typer.Option(help="How many blanks were physically counted.")],
    note: Annotated[str, typer.Option(help="Remarks.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Record a physical count; a difference opens a discrepancy for a supervisor."""
    from printctl.service_stock import count_location

    with _context() as ctx:
        row = count_location(ctx, location, counted, note)
    if json_out:
        _print_json(row.model_dump())
        return
    if row.state == "matched":
        out.print(f"Count #{row.id}: {row.location} holds {counted}, as the ledger says.")
    else:
        err.print(
            f"[bold yellow]discrepancy:[/] count #{row.id}: {row.location} counted {counted}, "
            f"the ledger says {row.expected} ({counted - row.expected:+d}). A supervisor "
            f"resolves it: `printctl stock resolve-count {row.id} --adjust|--found --note …`.",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@stock_app.command("resolve-count")
def stock_resolve_count(
    count_id: Annotated[int, typer.Argument(help="The count's number.")],
    note: Annotated[str, typer.Option(help="The supervisor's reason.")],
    adjust: Annotated[
        bool, typer.Option("--adjust/--found", help="Correct the ledger, or the blanks were found.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """A supervisor settles a count discrepancy."""
    from printctl.service_stock import resolve_count

    with _context() as ctx:
        row = resolve_count(ctx, count_id, "adjust" if adjust else "found", note)
    if json_out:
        _print_json(row.model_dump())
    else:
        out.print(f"Count #{count_id} resolved ({row.resolution}).")


# ---------------------------------------------------------------------------- days


@stock_app.command("explain-counter")
def stock_explain_counter(
    printer: Annotated[str, typer.Option(help="The printer.")],
    by: Annotated[int, typer.Option(help="How much of the difference (counter − ledger).")],
    note: Annotated[str, typer.Option(help="The explanation.")],
    day: DayOpt = None,
) -> None:
    """Propose an explanation of a printer's counter difference (it stays on record); a
    supervisor approves it before the day can close."""
    from printctl.service_stock import explain_counter

    with _context() as ctx:
        proposal = explain_counter(ctx, day, printer, by, note)
    out.print(
        f"Proposed explanation #{proposal.id} ({by:+d} on {printer}). A supervisor approves it "
        f"with `printctl stock approve {proposal.id}`."
    )


@stock_app.command("counter")
def stock_counter(
    printer: Annotated[str, typer.Argument(help="The printer.")],
    value: Annotated[int, typer.Argument(help="Its lifetime card counter, as it shows it.")],
) -> None:
    """Record a printer's card counter read by hand (after a run that did not end cleanly)."""
    from printctl.service_stock import record_counter_reading

    with _context() as ctx:
        record_counter_reading(ctx, printer, value)
    out.print(f"Recorded {printer}'s counter: {value}.")


def _print_statement(statement: DailyStatement) -> None:
    table = Table(f"{statement.day}", "blanks", show_header=True)
    for label, value in (
        ("opening", statement.opening),
        ("+ received", statement.received),
        ("− issued", statement.issued),
        ("− spoiled", statement.spoiled),
        ("− returned", statement.returned),
        ("± adjusted", statement.adjusted),
        ("= closing", statement.closing),
    ):
        table.add_row(label, str(value))
    out.print(table)
    out.print("  " + ", ".join(f"{k} {v}" for k, v in statement.locations.items()))
    for reason, n in sorted(statement.spoiled_by_reason.items()):
        out.print(f"  spoiled, {reason_label(reason)}: {n}")
    out.print(
        f"  to destroy: {statement.to_destroy_opening} + {statement.spoiled} spoiled + "
        f"{statement.holder_returned} handed back − {statement.destroyed} destroyed = "
        f"{statement.to_destroy_closing}"
    )
    for p in statement.printers:
        counter = "not read" if p.counter_consumed is None else str(p.counter_consumed)
        out.print(
            f"  printer {p.printer}: counter {counter}, ledger {p.ledger_consumed}, "
            f"explained {p.explained:+d}"
        )
    state = (
        f"closed by {statement.closed_by} at {statement.closed_at:%Y-%m-%d %H:%M}"
        if statement.closed_at
        else "open (draft)"
    )
    out.print(f"  {'balanced' if statement.balanced else 'NOT BALANCED'}; {state}")


@stock_app.command("close-day")
def stock_close_day(
    day: DayOpt = None,
    dry_run: Annotated[bool, typer.Option(help="Only check; close nothing.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check the day's balance and counters, and close it (a closed day is immutable)."""
    from printctl.service_stock import check_close, close_day

    with _context() as ctx:
        check = check_close(ctx, day) if dry_run else close_day(ctx, day)
    if json_out:
        _print_json(
            {
                "day": str(check.day),
                "closed": not dry_run,
                "can_close": check.can_close,
                "problems": [p.message for p in check.problems],
                "warnings": list(check.warnings),
                "statement": asdict(check.statement),
            }
        )
    else:
        _print_statement(check.statement)
        for problem in check.problems:
            err.print(f"[bold red]to resolve:[/] {problem.message}", soft_wrap=True)
        for warning in check.warnings:
            err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        if not dry_run:
            out.print(f"Closed {check.day}.")
    if dry_run and not check.can_close:
        raise typer.Exit(1)


@stock_app.command("statement")
def stock_statement(day: DayOpt = None, pdf: PdfOpt = None, json_out: JsonOpt = False) -> None:
    """The day's stock statement (laporan harian), on screen or as PDF."""
    from printctl.service_stock import statement, statement_pdf

    with _context() as ctx:
        if pdf is not None:
            path = statement_pdf(ctx, day, pdf)
            out.print(f"Wrote {path}.")
            return
        figures = statement(ctx, day)
    if json_out:
        _print_json(asdict(figures))
    else:
        _print_statement(figures)


@stock_app.command("monthly")
def stock_monthly(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    pdf: PdfOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The monthly report (totals by reason, daily issuance and spoilage)."""
    from printctl.service_stock import monthly, monthly_pdf

    with _context() as ctx:
        if pdf is not None:
            out.print(f"Wrote {monthly_pdf(ctx, month, pdf)}.")
            return
        report = monthly(ctx, month)
    names = (
        "received",
        "issued",
        "spoiled",
        "returned",
        "adjusted",
        "holder_returned",
        "destroyed",
    )
    totals = {n: report.total(n) for n in names}
    if json_out:
        _print_json(
            {
                "year": report.year,
                "month": report.month,
                "opening": report.opening,
                "closing": report.closing,
                **totals,
                "spoiled_by_reason": report.spoiled_by_reason(),
                "ledger_totals": report.ledger_totals,
            }
        )
        return
    out.print(
        f"{report.year}-{report.month:02d}: opening {report.opening}, closing {report.closing}"
    )
    for name, value in totals.items():
        out.print(f"  {name.replace('_', ' ')}: {value}")


@stock_app.command("destruction-record")
def stock_destruction_record(
    number: Annotated[str | None, typer.Argument(help="Its number (default: the newest).")] = None,
    pdf: PdfOpt = None,
) -> None:
    """Write the berita acara pemusnahan of a destruction as PDF."""
    from printctl.service_stock import destruction_pdf

    with _context() as ctx:
        out.print(f"Wrote {destruction_pdf(ctx, number, pdf)}.")


@stock_app.command("export")
def stock_export(
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write here (default: standard output).")
    ] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
) -> None:
    """Export the ledger's entries as CSV."""
    from printctl.service_stock import export_csv

    with _context(quiet_console=True) as ctx:
        rows = export_csv(ctx, csv_path, first, last)
    if csv_path is not None:
        out.print(f"Wrote {rows} entries to {csv_path}.")


@stock_app.command("show")
def stock_show(json_out: JsonOpt = False) -> None:
    """The stock now: per location, totals, warnings and what awaits a supervisor."""
    from printctl.service_stock import show

    with _context() as ctx:
        view = show(ctx)
    if json_out:
        _print_json(view.as_dict())
        return
    b = view.balance
    table = Table("", "blanks", show_header=False)
    table.add_row("vault", str(b.vault))
    for printer, n in b.hoppers.items():
        table.add_row(f"hopper {printer}", str(n))
    for label, value in (
        ("in printers now", b.in_flight),
        ("in doubt", b.in_doubt),
        ("on hand", b.on_hand),
        ("received (all time)", b.received),
        ("issued", b.issued),
        ("spoiled", b.spoiled),
        ("returned", b.returned),
        ("adjusted", b.adjusted),
        ("to destroy", b.to_destroy),
    ):
        table.add_row(label, str(value))
    out.print(table)
    for reason, n in sorted(view.spoiled_by_reason.items()):
        out.print(f"  spoiled, {reason}: {n}")
    for item in view.waiting["proposals"]:
        out.print(f"  awaiting a supervisor: proposal {item}")
    for item in view.waiting["counts"]:
        out.print(f"  open count {item}")
    for warning in view.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
