"""An unattended night: pull, plan, print within the window and the reserve, then report.

One night is one :class:`~printctl.models.NightRun` row, keyed by this station and the
window's start. Its life:

1. **Begin** (once per window). Pull from the center, if it has one and the network
   allows; make the plan (:mod:`printctl.night.plan`); queue the records it chose in one
   batch, in the plan's order, and start it. Plan, stock before and batch are stored.
2. **Print.** The station's printers take jobs as always, with the night's policy on top:
   every feed first checks the stock reserve (a printer that would go below it stops); a
   fault stops only that printer, and the jobs it had not started go back to the queue for
   the others; a card whose outcome is unknown parks its printer until a person inspects
   it. The night stops taking cards a little before the window ends (one slow card's time,
   see :func:`printctl.night.plan.stop_time`), so that no card is left half-done; it ends
   sooner when the work is done or every printer waits for a person.
3. **End.** The cards in the printers finish; what the night did not reach goes back to the
   ready records (the batch is closed); events are pushed to the center; the morning
   report is stored, written as a PDF and sent through the notification hook.

A process that dies mid-night (a power cut) and is started again finds its night still
running: it carries on with the same plan and batch (recovery has set the card that was in
a printer aside for inspection), and the report names the interruption. Started again after
the window, it only ends the night and writes the report.

``printctl overnight`` runs a night with its own printers (the station lock held
throughout); ``printctl serve`` runs nights from the ``overnight`` windows on the printers it
drives anyway (:class:`NightScheduler`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from printctl.config import PrinterConfig
from printctl.db import read_session, session_scope
from printctl.logs import get_logger
from printctl.models import (
    AuditEvent,
    Batch,
    BatchState,
    Job,
    JobState,
    NightRun,
    NightState,
    PrinterReason,
    PrinterRow,
    PrinterRunState,
    StationRow,
    as_utc,
)
from printctl.night.plan import NightPlan, make_plan
from printctl.night.report import build_report, stock_words
from printctl.printers import awaiting_inspection
from printctl.queue.batches import (
    BatchError,
    BatchFilters,
    close_batch,
    create_batch,
    pause_batch,
    start_batch,
)
from printctl.queue.station_lock import StationBusy, station_lock
from printctl.queue.store import work_left
from printctl.service import Context, UserError
from printctl.stock.ledger import office_time

log = get_logger(__name__)

#: How often (wall-clock seconds) the night looks at the time and at its printers.
LOOK_EVERY_S = 0.25


@dataclass
class NightOutcome:
    """What ``printctl overnight`` reports when the night is over."""

    night_id: int
    report: dict[str, Any]
    pdf: Path | None
    resumed: bool


def plan_now(
    ctx: Context,
    printers: Sequence[PrinterConfig],
    *,
    window_start: datetime,
    window_end: datetime,
    reserve: int | None = None,
) -> NightPlan:
    """The plan for a window, as it would be made now (no job or stock changes). The
    printers are asked for their levels first unless this station is running (then their
    levels are those its workers read last)."""
    silent: dict[str, str] = {}
    try:
        with station_lock(ctx.engine, ctx.station):
            silent = probe_printers(ctx, printers)
    except StationBusy:
        pass
    with read_session(ctx.engine) as session:
        return make_plan(
            session,
            ctx.settings,
            printers,
            window_start=window_start,
            window_end=window_end,
            now=ctx.clock(),
            reserve=reserve,
            unreachable=silent,
        )


def _night_for(session: Session, station: str, window_start: datetime) -> NightRun | None:
    rows = session.exec(
        select(NightRun)
        .where(col(NightRun.station) == station)
        .order_by(col(NightRun.id).desc())
        .limit(20)
    ).all()
    for row in rows:
        if as_utc(row.window_start) == window_start:
            return row
    return None


def _pull(ctx: Context) -> dict[str, Any]:
    """Pull from the center when the office has one; the night goes on without it."""
    if not ctx.settings.center_url:
        return {"done": False, "why": "no center configured (flash drives only)"}
    from printctl.service_sync import pull

    try:
        result = pull(ctx)
    except Exception as exc:  # the network or the center: the night prints what it has
        log.warning("night pull failed", error=str(exc))
        return {"done": False, "why": str(exc)}
    imported = sum(1 for o in result.outcomes if o.outcome == "imported")
    return {"done": result.error is None, "why": result.error or "", "bundles": imported}


def _push(ctx: Context) -> dict[str, Any]:
    if not ctx.settings.center_url:
        return {"done": False, "why": "no center configured (flash drives only)"}
    from printctl.service_sync import push

    try:
        result = push(ctx)
    except Exception as exc:
        log.warning("night push failed", error=str(exc))
        return {"done": False, "why": str(exc)}
    return {"done": result.error is None, "why": result.error or "", "sent": result.sent}


def probe_printers(ctx: Context, printers: Sequence[PrinterConfig]) -> dict[str, str]:
    """Read each printer's status now (levels, hopper) into its row, so that the plan sees
    them; returns the printers that did not answer, with why. Only while no worker drives
    them (this station's lock held, nothing printing)."""
    from printctl.hardware import HardwareError
    from printctl.queue.store import transition_printer
    from printctl.registry import make_printer

    silent: dict[str, str] = {}
    for config in printers:
        try:
            printer = make_printer(config.url)
            printer.open()
            try:
                status = printer.status()
            finally:
                printer.close()
        except HardwareError as exc:
            silent[config.name] = str(exc)
            continue
        with session_scope(ctx.engine) as session:
            row = session.get(PrinterRow, config.name)
            if row is None:
                transition_printer(
                    session,
                    config.name,
                    PrinterRunState.IDLE,
                    actor=ctx.actor,
                    station=ctx.station,
                    clock=ctx.clock,
                    url=config.url,
                )
                session.flush()
                row = session.get(PrinterRow, config.name)
            assert row is not None
            row.ribbon_panels_left = status.ribbon_panels_left
            row.cards_in_hopper = status.cards_in_hopper
            row.status_at = ctx.clock()
            session.add(row)
    return silent


def running_night(session: Session, station: str) -> NightRun | None:
    """The night this station left running (its process died, or it runs now), if any."""
    return session.exec(
        select(NightRun)
        .where(col(NightRun.station) == station, col(NightRun.state) == NightState.RUNNING.value)
        .order_by(col(NightRun.id).desc())
    ).first()


def left_running(ctx: Context) -> tuple[datetime, datetime] | None:
    """The window of the night this station left running, if any (``--resume-only``)."""
    with read_session(ctx.engine) as session:
        night = running_night(session, ctx.station)
        if night is None:
            return None
        return as_utc(night.window_start), as_utc(night.window_end)


def begin_night(
    ctx: Context,
    printers: Sequence[PrinterConfig],
    *,
    window_start: datetime,
    window_end: datetime,
    probe: bool = False,
) -> tuple[NightRun, bool]:
    """The night for this window: started now (pull, plan, batch), or the one a previous
    process of this station left running (returned with True: resumed).

    A night left running whose window has ended meanwhile is ended first (its report
    written), then this one begins.
    """
    station = ctx.station
    with read_session(ctx.engine) as session:
        existing = running_night(session, station)
        interrupted = _last_sign_of_life(session, station, existing) if existing else None
        done = _night_for(session, station, window_start)
    if existing is not None and as_utc(existing.window_end) <= ctx.clock():
        end_night(ctx, existing, ended_because="the station stopped before the window ended")
        existing = None
    elif done is not None and done.state == NightState.DONE.value:
        raise UserError(
            f"the night of {office_time(window_start):%Y-%m-%d %H:%M} has run already "
            f"(night {done.id}); its report: printctl overnight report {done.id}"
        )
    if existing is not None:
        with session_scope(ctx.engine) as session:
            ctx.journal(
                session,
                "night.resumed",
                entity="night",
                entity_id=existing.id or 0,
                detail={"interrupted_at": interrupted.isoformat() if interrupted else None},
                outcome="warning",
            )
        log.warning("night resumed after an interruption", night=existing.id)
        return existing, True
    pulled = _pull(ctx)
    silent = probe_printers(ctx, printers) if probe else {}
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        plan = make_plan(
            session,
            ctx.settings,
            printers,
            window_start=window_start,
            window_end=window_end,
            now=now,
            unreachable=silent,
        )
        stock_before = stock_words(session)
        batch_id: int | None = None
        if plan.record_pks:
            try:
                batch, _count = create_batch(
                    session,
                    name=f"night {office_time(window_start):%Y-%m-%d %H:%M}",
                    filters=BatchFilters(),
                    actor=ctx.actor,
                    station=station,
                    clock=ctx.clock,
                    record_pks=plan.record_pks,
                )
            except BatchError as exc:
                raise UserError(f"the night's batch could not be made: {exc}") from None
            assert batch.id is not None
            # Started at once: nobody is there to start it.
            start_batch(session, batch.id, actor=ctx.actor, station=station, clock=ctx.clock)
            batch_id = batch.id
        stored = plan.as_dict()
        stored["record_pks"] = len(plan.record_pks)  # the batch holds them; keep the count
        stored["stock_before"] = stock_before
        stored["pull"] = pulled
        night = NightRun(
            station=station,
            window_start=window_start,
            window_end=window_end,
            batch_id=batch_id,
            started_at=now,
            plan=json.dumps(stored),
        )
        session.add(night)
        session.flush()
        ctx.journal(
            session,
            "night.started",
            entity="night",
            entity_id=night.id or 0,
            detail={
                "window": [window_start.isoformat(), window_end.isoformat()],
                "planned": plan.planned,
                "batch": batch_id,
                "reserve": plan.reserve,
                "pull": pulled,
            },
        )
        session.flush()
        session.expunge(night)
    log.info("night started", night=night.id, planned=plan.planned, batch=batch_id)
    return night, False


def _last_sign_of_life(session: Session, station: str, night: NightRun) -> datetime | None:
    """When this station last wrote to the journal before this process: about when the
    process that ran the night died."""
    query = select(func.max(AuditEvent.at)).where(
        col(AuditEvent.station) == station, col(AuditEvent.at) >= night.started_at
    )
    row = session.get(StationRow, station)
    if row is not None and row.pid == os.getpid():
        # This process registered the station already (serve): what it wrote is not the
        # dead one's.
        query = query.where(col(AuditEvent.at) < row.started_at)
    at = session.exec(query).one()
    return as_utc(at) if at is not None else None


#: Stops that nobody clears at night: they end that printer's night as surely as a stop
#: that waits for a person.
NIGHT_ENDERS = frozenset(
    {
        PrinterReason.RIBBON_EMPTY.value,
        PrinterReason.MEDIA_EMPTY.value,
        PrinterReason.OUT_OF_STOCK.value,
        PrinterReason.COVER_OPEN.value,
        PrinterReason.AWAITING_INSPECTION.value,
    }
)


def _nothing_can_print(session: Session, names: Sequence[str], since: datetime) -> bool:
    """True when every one of these printers stopped tonight for good: for a person, or for
    a condition nobody will clear before morning (an empty ribbon, no blanks)."""
    if not names:
        return True
    for name in names:
        if awaiting_inspection(session, name):
            continue  # parked (after a restart its row may still say what it last did)
        row = session.get(PrinterRow, name)
        if row is None or row.state != PrinterRunState.STOPPED.value:
            return False
        if as_utc(row.updated_at) < since:
            return False  # a stop from before the night: its worker has not looked again yet
        if row.auto_resume and not set(row.reasons.split()) & NIGHT_ENDERS:
            return False
    return True


class NightWatch:
    """Watches one night while its printers print: says when it must stop, and why."""

    def __init__(self, ctx: Context, night: NightRun, printers: Sequence[PrinterConfig]) -> None:
        self.ctx = ctx
        self.night = night
        self.names = [p.name for p in printers]
        plan = json.loads(night.plan)
        self.stop_at = datetime.fromisoformat(plan["stop_at"])
        self.window_end = as_utc(night.window_end)
        self.reserve = int(plan.get("reserve", 0))

    def why_stop(self) -> str:
        """Why the night must stop now ("" while it goes on)."""
        if self.ctx.clock() >= self.stop_at:
            return "window"
        with read_session(self.ctx.engine) as session:
            if work_left(session, None, held_by_printers=True) == 0:
                return "work done"
            if _nothing_can_print(session, self.names, as_utc(self.night.started_at)):
                return "no printer can go on until a person acts"
        return ""


def end_night(ctx: Context, night: NightRun, *, ended_because: str) -> NightOutcome:
    """After the printers stopped: close the batch, push, store and send the report."""
    from printctl.night.notify import notify
    from printctl.reports.morning_report import write_morning_report

    assert night.id is not None
    with session_scope(ctx.engine) as session:
        if night.batch_id is not None:
            returned = close_batch(
                session,
                night.batch_id,
                reason="the night ended before it was printed",
                actor=ctx.actor,
                station=ctx.station,
                clock=ctx.clock,
            )
        else:
            returned = 0
    pushed = _push(ctx)
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        row = session.get(NightRun, night.id)
        assert row is not None
        row.ended_at = now
        row.state = NightState.DONE.value
        session.add(row)
        session.flush()
        report = build_report(
            session,
            ctx.settings,
            row,
            ended_because=ended_because,
            returned=returned,
            pushed=pushed,
        )
        row.report = json.dumps(report)
        ctx.journal(
            session,
            "night.ended",
            entity="night",
            entity_id=night.id,
            detail={
                "ended_because": ended_because,
                "printed": report["totals"]["printed"],
                "planned": report["totals"]["planned"],
                "returned": returned,
            },
        )
    pdf: Path | None = None
    try:
        reports = ctx.settings.resolve(ctx.settings.reports_dir)
        reports.mkdir(parents=True, exist_ok=True)
        pdf = write_morning_report(
            report, reports / f"night-{office_time(as_utc(night.window_start)):%Y-%m-%d}.pdf"
        )
    except OSError as exc:  # a full disk must not lose the report: it is in the database
        log.error("morning report PDF not written", error=str(exc))
    notify(ctx, report, pdf)
    log.info("night ended", night=night.id, because=ended_because)
    return NightOutcome(night.id, report, pdf, resumed=False)


def run_night(
    ctx: Context,
    printers: Sequence[PrinterConfig],
    *,
    window_start: datetime,
    window_end: datetime,
    stop: threading.Event,
    on_begin: Callable[[NightRun, bool], None] = lambda _night, _resumed: None,
) -> NightOutcome:
    """A whole night on these printers, with this station's lock held throughout
    (``printctl overnight``). ``stop`` (SIGTERM) ends it early, cleanly."""
    from printctl.station_service import StationService

    try:
        with station_lock(ctx.engine, ctx.station):
            if window_end <= ctx.clock():
                return _end_left_night(ctx, window_end)
            night, resumed = begin_night(
                ctx, printers, window_start=window_start, window_end=window_end, probe=True
            )
            on_begin(night, resumed)
            watch = NightWatch(ctx, night, printers)
            printing = threading.Event()
            service = StationService(ctx, printers, stop=printing)
            service.stock_reserve = watch.reserve
            failure: list[BaseException] = []

            def drive() -> None:
                try:
                    service.run(hold_lock=False)
                except BaseException as exc:  # reported below, after the night ends
                    failure.append(exc)

            thread = threading.Thread(target=drive, name="night-station")
            thread.start()
            why = "stopped by a person" if stop.is_set() else ""
            while not why and thread.is_alive():
                if stop.wait(LOOK_EVERY_S):
                    why = "stopped by a person"
                    break
                why = watch.why_stop()
            printing.set()  # each printer finishes the card it holds
            thread.join()
            if failure:
                raise failure[0]
            outcome = end_night(ctx, night, ended_because=why or "the station stopped")
            outcome.resumed = resumed
            return outcome
    except StationBusy as exc:
        raise UserError(str(exc)) from None


def _end_left_night(ctx: Context, window_end: datetime) -> NightOutcome:
    """A window that has ended: end the night left running in it (its report), if any."""
    with read_session(ctx.engine) as session:
        night = running_night(session, ctx.station)
    if night is None or as_utc(night.window_end) != window_end:
        raise UserError(f"the window ended already ({office_time(window_end):%Y-%m-%d %H:%M})")
    outcome = end_night(ctx, night, ended_because="the station stopped before the window ended")
    outcome.resumed = True
    return outcome


class NightScheduler:
    """``printctl serve``'s nights: when an ``overnight`` window opens, begin a night on the
    service's printers; when it must stop, stop its batch and end it. Call :meth:`tick`
    often (the schedule thread does, every second or so)."""

    def __init__(self, ctx: Context, service: Any, printers: Sequence[PrinterConfig]) -> None:
        self.ctx = ctx
        self.service = service  # a StationService (its stock_reserve is set per night)
        self.printers = list(printers)
        self.night: NightRun | None = None
        self.watch: NightWatch | None = None
        self.why = ""
        #: The window whose night could not begin (told once, in the log and the journal).
        self.refused: datetime | None = None

    def tick(self) -> None:
        """Begin, watch or end the night, as the clock says."""
        from printctl.night.windows import window_now

        if self.night is None:
            now = self.ctx.clock()
            with read_session(self.ctx.engine) as session:
                stale = running_night(session, self.ctx.station)
            if stale is not None and as_utc(stale.window_end) <= now:
                # Left running by a process that died, and its window is over: report it.
                end_night(
                    self.ctx, stale, ended_because="the station stopped before the window ended"
                )
                return
            window = window_now(self.ctx.settings.overnight, now)
            if window is None:
                return
            with read_session(self.ctx.engine) as session:
                existing = _night_for(session, self.ctx.station, window[0])
                left_running = running_night(session, self.ctx.station)
            if left_running is None and existing is not None:
                return  # this window's night has run already
            if self.refused == window[0]:
                return  # said once already; the next window tries again
            try:
                self.night, _resumed = begin_night(
                    self.ctx, self.printers, window_start=window[0], window_end=window[1]
                )
            except UserError as exc:
                self.refused = window[0]
                log.error("night not started", window=window[0].isoformat(), error=str(exc))
                with session_scope(self.ctx.engine) as session:
                    self.ctx.journal(
                        session,
                        "night.refused",
                        entity="night",
                        entity_id=window[0].isoformat(),
                        detail={"error": str(exc)},
                        outcome="failed",
                    )
                return
            self.watch = NightWatch(self.ctx, self.night, self.printers)
            self.service.stock_reserve = self.watch.reserve
            self.service.wake()
            return
        assert self.watch is not None
        if not self.why:
            self.why = self.watch.why_stop()
            if not self.why:
                return
            self._stop_batch()
        if self._cards_in_printers():
            return  # the cards in the printers finish first
        end_night(self.ctx, self.night, ended_because=self.why)
        self.service.stock_reserve = 0
        self.night, self.watch, self.why = None, None, ""

    def _stop_batch(self) -> None:
        batch_id = self.night.batch_id if self.night is not None else None
        if batch_id is None:
            return
        with session_scope(self.ctx.engine) as session:
            batch = session.get(Batch, batch_id)
            if batch is not None and batch.state == BatchState.RUNNING.value:
                pause_batch(
                    session,
                    batch_id,
                    actor=self.ctx.actor,
                    station=self.ctx.station,
                    clock=self.ctx.clock,
                )

    def _cards_in_printers(self) -> bool:
        batch_id = self.night.batch_id if self.night is not None else None
        if batch_id is None:
            return False
        with read_session(self.ctx.engine) as session:
            held = session.exec(
                select(func.count()).where(
                    col(Job.batch_id) == batch_id,
                    col(Job.state).in_([JobState.PROCESSING.value, JobState.STOPPED.value]),
                )
            ).one()
        return int(held) > 0


def nights(ctx: Context, limit: int = 30) -> list[NightRun]:
    """The latest nights of every station, newest first."""
    with read_session(ctx.engine) as session:
        return list(
            session.exec(select(NightRun).order_by(col(NightRun.id).desc()).limit(limit)).all()
        )


def stored_report(ctx: Context, night_id: int | None = None) -> dict[str, Any]:
    """The morning report of a night that has ended (the last one by default)."""
    with read_session(ctx.engine) as session:
        if night_id is None:
            row = session.exec(
                select(NightRun)
                .where(col(NightRun.state) == NightState.DONE.value)
                .order_by(col(NightRun.id).desc())
            ).first()
            if row is None:
                raise UserError("no night has ended yet: there is no morning report")
        else:
            row = session.get(NightRun, night_id)
            if row is None:
                raise UserError(f"no night {night_id}")
            if row.state != NightState.DONE.value:
                raise UserError(f"night {night_id} has not ended yet: its report comes after")
        report: dict[str, Any] = json.loads(row.report)
        return report
