"""``printctl overnight``: unattended nights by hand or from a systemd timer, their plan
and their morning report."""

from __future__ import annotations

import json
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from printctl.cli_common import CliError, JsonOpt, _context, _print_json, err, out

night_app = typer.Typer(invoke_without_command=True)

UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="End of the night, HH:MM office time (default: the configured window now, or the "
        "next one for `plan`).",
    ),
]
PrinterOpt = Annotated[
    list[str] | None, typer.Option("--printer", help="Printer names (default: all).")
]


def _window(ctx: Any, until_text: str | None, *, upcoming: bool) -> tuple[datetime, datetime]:
    """The window a command means: now until ``--until``, or a configured one."""
    from printctl.night.windows import WindowError, next_window, until, window_now

    now = ctx.clock()
    if until_text is not None:
        try:
            return now, until(now, until_text)
        except WindowError as exc:
            raise CliError(str(exc)) from None
    current = window_now(ctx.settings.overnight, now)
    if current is not None:
        return current
    if upcoming:
        coming = next_window(ctx.settings.overnight, now)
        if coming is not None:
            return coming
    raise CliError(
        "no night window now: give --until HH:MM, or configure overnight windows "
        '(overnight = ["mon-fri 22:00-05:30"] in printctl.toml)'
    )


def _hhmm(value: str | None) -> str:
    from printctl.stock.ledger import office_time

    return f"{office_time(datetime.fromisoformat(value)):%H:%M}" if value else "—"


def _show_plan(plan: dict[str, Any]) -> None:
    out.print(
        f"Night {_hhmm(plan['window_start'])}–{_hhmm(plan['window_end'])} (last card starts by "
        f"{_hhmm(plan['stop_at'])}): [bold]{plan['planned']}[/] card(s) planned, "
        f"{plan['queued']} already queued + {plan['selected']} of {plan['ready']} ready "
        f"record(s); done by {_hhmm(plan['finish_at'])}."
    )
    out.print(
        f"Blanks: {plan['on_hand']} on hand, {plan['reserve']} kept in reserve, "
        f"{plan['budget']} the night may use"
        + ("; scarce: first-time cards first." if plan["scarce"] else ".")
    )
    table = Table("printer", "cards", "pace", "rests", "ends by", "ribbon out", "blanks out")
    for p in plan["printers"]:
        pace = f"{3600 / p['seconds_per_card']:.0f}/h" if p["seconds_per_card"] else "—"
        table.add_row(
            p["name"],
            str(p["cards"]),
            f"{pace} ({p['pace_source']})",
            str(p["rests"]),
            escape(p["limit"] + (f": {p['not_ready']}" if p["not_ready"] else "")),
            _hhmm(p["ribbon_out_at"]),
            _hhmm(p["blanks_out_at"]),
        )
    out.print(table)
    if plan["districts"]:
        out.print(
            "Order: " + ", ".join(f"{district} {n}" for district, n in plan["districts"]),
            soft_wrap=True,
        )
    for note in plan["notes"]:
        out.print(escape(f"• {note}"), soft_wrap=True)


def _show_report(report: dict[str, Any], pdf: Path | None) -> None:
    totals = report["totals"]
    out.print(
        f"Night {report['window']['label']}: ended ({report['ended_because']}); planned "
        f"{totals['planned']}, printed {totals['printed']}, spoiled {totals['spoiled']}, in doubt "
        f"{totals['in_doubt']}; {totals['returned_to_ready']} back among the ready records."
    )
    table = Table("printer", "planned", "printed", "spoiled", "faults")
    for p in report["printers"]:
        table.add_row(
            p["printer"], str(p["planned"]), str(p["printed"]), str(p["spoiled"]), str(p["faults"])
        )
    out.print(table)
    for fault in report["faults"]:
        out.print(
            escape(f"  {fault['time']} {fault['printer']}: {fault['what']} → {fault['action']}"),
            soft_wrap=True,
        )
    out.print(f"[bold]First thing:[/] {escape(report['first_thing'])}", soft_wrap=True)
    if pdf is not None:
        out.print(f"Morning report: {pdf}")


@night_app.callback()
def overnight(
    typer_ctx: typer.Context,
    until_text: UntilOpt = None,
    printer: PrinterOpt = None,
    resume_only: Annotated[
        bool,
        typer.Option(
            "--resume-only",
            help="Only carry on a night this station left running (after a power cut and a "
            "reboot): to the end of its window, or just its report if the window has passed.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run tonight's unattended print run, then write the morning report (`--until 05:30`, or the configured window open now).

    Pulls from the center first; leaves night_reserve blanks; a fault stops only that printer and its work goes to the others; a card in doubt parks its printer; the last card is out before the window ends. Started again after a power cut, it carries on the same night. SIGTERM or Ctrl-C ends the night early (each printer finishes its card).
    """
    if typer_ctx.invoked_subcommand is not None:
        return
    from printctl.night.run import left_running, run_night
    from printctl.service import select_printers

    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _context(quiet_console=json_out) as ctx:
            chosen = select_printers(ctx.settings, printer)
            if resume_only:
                left = left_running(ctx)
                if left is None:
                    out.print("No night was left running: nothing to resume.")
                    return
                start, end = left
            else:
                start, end = _window(ctx, until_text, upcoming=False)

            def began(night: Any, resumed: bool) -> None:
                if json_out:
                    return
                if resumed:
                    err.print(
                        f"Night {night.id} was left running (power cut?): carrying on.",
                        soft_wrap=True,
                    )
                else:
                    _show_plan(json.loads(night.plan))

            outcome = run_night(
                ctx, chosen, window_start=start, window_end=end, stop=stop, on_begin=began
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if json_out:
        _print_json({**outcome.report, "pdf": str(outcome.pdf) if outcome.pdf else None})
    else:
        _show_report(outcome.report, outcome.pdf)


@night_app.command("plan")
def plan_cmd(
    until_text: UntilOpt = None,
    printer: PrinterOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show what tonight would print, on which printer, until when — without printing."""
    from printctl.night.run import plan_now
    from printctl.service import select_printers

    with _context(quiet_console=json_out) as ctx:
        chosen = select_printers(ctx.settings, printer)
        start, end = _window(ctx, until_text, upcoming=True)
        plan = plan_now(ctx, chosen, window_start=start, window_end=end).as_dict()
    plan.pop("record_pks", None)
    if json_out:
        _print_json(plan)
    else:
        _show_plan(plan)


@night_app.command("report")
def report_cmd(
    night: Annotated[int | None, typer.Argument(help="The night (default: the last one).")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also write the PDF here.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a night's morning report (the last night's by default)."""
    from printctl.night.run import stored_report
    from printctl.reports.morning_report import write_morning_report

    with _context(quiet_console=json_out) as ctx:
        report = stored_report(ctx, night)
    written = write_morning_report(report, pdf) if pdf is not None else None
    if json_out:
        _print_json(report)
    else:
        _show_report(report, written)
