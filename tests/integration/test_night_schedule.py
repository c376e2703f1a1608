"""Nights run by ``printctl serve`` (the scheduler on the service's printers), the
``printctl overnight`` commands' plan, report and errors, and the notification hook."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlmodel import Session, col, select

from printctl.config import PrinterConfig
from printctl.models import AuditEvent, Batch, NightRun
from printctl.night.notify import notify
from printctl.night.run import NightScheduler
from printctl.service import Context, receive_stock
from printctl.station_service import StationService
from printctl.timebase import ScaledClock
from tests.integration.station_support import seed_printable_records
from tests.integration.test_cli import one_line_error, run

SCALE = 600.0
PRINTERS = (
    PrinterConfig(
        "n1",
        f"sim://?cards=50&card_ms=60000&timescale={SCALE:g}",
        "sim://",
        rated_cards_per_hour=60,
    ),
    PrinterConfig(
        "n2",
        f"sim://?cards=50&card_ms=60000&timescale={SCALE:g}",
        "sim://",
        rated_cards_per_hour=60,
    ),
)


def _night_office(ctx: Context) -> Context:
    """The context on a simulated clock (x600) ten seconds before a 22:00 window."""
    settings = replace(
        ctx.settings,
        printers=PRINTERS,
        overnight=("* 22:00-23:00",),
        night_reserve=4,
        lease_s=30 * SCALE,
        poll_s=0.05,
        reports_dir=Path("reports"),
    )
    clock = ScaledClock(datetime.fromisoformat("2026-12-02T21:59:50+07:00"), SCALE, time.time())
    return replace(ctx, settings=settings, clock=clock, pace=SCALE)


def test_serve_runs_the_window_on_its_printers_and_ends_it_with_a_report(ctx: Context) -> None:
    office = _night_office(ctx)
    seed_printable_records(office.engine, office.cipher, 10)
    receive_stock(office, 20, "LOT", load=["n1", "n2"])
    stop = threading.Event()
    service = StationService(office, PRINTERS, stop=stop, poll_s=0.05)
    thread = threading.Thread(target=service.run)
    thread.start()
    nights = NightScheduler(office, service, PRINTERS)
    try:
        deadline = time.monotonic() + 120
        ended: NightRun | None = None
        while ended is None and time.monotonic() < deadline:
            nights.tick()
            with Session(office.engine) as session:
                ended = session.exec(select(NightRun).where(col(NightRun.state) == "done")).first()
            time.sleep(0.02)
        assert ended is not None, "the night did not end"
        for _ in range(20):  # the same window does not start a second night
            nights.tick()
    finally:
        stop.set()
        thread.join()
    report = json.loads(ended.report)
    assert report["ended_because"] == "work done"
    assert report["totals"]["printed"] == report["totals"]["planned"] == 10
    assert service.stock_reserve == 0  # the reserve is the night's only
    with Session(office.engine) as session:
        assert len(session.exec(select(NightRun)).all()) == 1
        batch = session.get(Batch, ended.batch_id)
        assert batch is not None and batch.state == "done"
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("night.started") == actions.count("night.ended") == 1
    assert (office.settings.resolve(Path("reports")) / "night-2026-12-02.pdf").exists()


def test_the_plan_command_shows_tonight_without_printing(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    config = tmp_path / "printctl.toml"
    config.write_text(
        config.read_text().replace(
            'url = "sim://?cards=100&ribbon=200"', 'url = "sim://?cards=100&ribbon=30"'
        ),
    )
    plan = json.loads(run(tmp_path, "overnight", "plan", "--until", "05:30", "--json").stdout)
    assert plan["planned"] == 0 and plan["ready"] == 0
    (printer,) = plan["printers"]
    assert printer["name"] == "sim-1"
    assert printer["ribbon_cards"] == 30  # read from the printer itself just now
    assert (printer["limit"], printer["hopper"]) == ("work", 0)  # no records, no blanks loaded


def test_the_overnight_commands_refuse_what_they_cannot_do_in_one_line(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    one_line_error(run(tmp_path, "overnight", "report"), "no night has ended yet")
    one_line_error(run(tmp_path, "overnight", "report", "7"), "no night 7")
    one_line_error(run(tmp_path, "overnight", "--until", "25:00"), "not a time of day")
    one_line_error(run(tmp_path, "overnight", "plan"), "no night window now")


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_the_report_goes_to_the_hook_command_and_the_webhook(ctx: Context, tmp_path: Path) -> None:
    _Hook.received.clear()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "hook.json"
    settings = replace(
        ctx.settings,
        night_notify_command=f"sh -c 'cat > {out}; echo \"$PRINTCTL_FIRST_THING\" >> {out}.env'",
        night_notify_url=f"http://127.0.0.1:{server.server_port}/night",
    )
    report = {"night": 3, "first_thing": "Fit a new ribbon in sim-2.", "totals": {}}
    try:
        assert notify(replace(ctx, settings=settings), report, tmp_path / "r.pdf") == []
    finally:
        server.shutdown()
    assert json.loads(out.read_text()) == report
    assert (tmp_path / "hook.json.env").read_text().strip() == "Fit a new ribbon in sim-2."
    assert _Hook.received == [report]


def test_a_hook_that_fails_is_journaled_and_does_not_fail_the_night(ctx: Context) -> None:
    settings = replace(
        ctx.settings, night_notify_command="false", night_notify_url="http://127.0.0.1:9/x"
    )
    failures = notify(replace(ctx, settings=settings), {"night": 1}, None)
    assert len(failures) == 2
    assert "exited with status 1" in failures[0] and "unreachable" in failures[1]
    with Session(ctx.engine) as session:
        (event,) = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "night.notify-failed")
        ).all()
    assert event.outcome == "failed"


def test_a_night_left_running_past_its_window_is_ended_with_its_report(ctx: Context) -> None:
    """The machine comes back after the window (a power cut, a reboot in the morning):
    ``printctl overnight --resume-only`` only ends the night and writes its report."""
    from datetime import timedelta

    from printctl.night.run import begin_night, left_running, run_night
    from tests.integration.station_support import ManualClock

    clock = ManualClock(datetime.fromisoformat("2026-12-02T22:00:00+07:00"))
    office = replace(_night_office(ctx), clock=clock, pace=1.0)
    seed_printable_records(office.engine, office.cipher, 3)
    receive_stock(office, 6, "LOT", load=["n1", "n2"])
    end = clock() + timedelta(hours=7)
    night, resumed = begin_night(office, PRINTERS, window_start=clock(), window_end=end)
    assert not resumed and left_running(office) == (night.window_start, end)
    clock.advance(8 * 3600)  # the morning: the window has passed, nothing was printed
    outcome = run_night(
        office, PRINTERS, window_start=clock(), window_end=end, stop=threading.Event()
    )
    assert outcome.resumed and outcome.night_id == night.id
    assert outcome.report["ended_because"] == "the station stopped before the window ended"
    assert outcome.report["totals"]["returned_to_ready"] == outcome.report["totals"]["planned"] == 2
    assert outcome.report["reserve_kept"]  # 6 blanks, 4 kept: two were planned
    assert left_running(office) is None


def test_resume_only_with_no_night_left_running_does_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    done = run(tmp_path, "overnight", "--resume-only")
    assert done.returncode == 0 and "nothing to resume" in done.stdout
