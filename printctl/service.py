"""Use cases. The CLI (and later the API and the scheduler) call these and nothing deeper.

A :class:`Context` carries what every use case needs: settings, a database engine, who is
acting, and the clock. Nothing here prints; results come back as values for the caller to
show.
"""

from __future__ import annotations

import base64
import getpass
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from printctl.audit import Clock, record_event
from printctl.config import ConfigError, PrinterConfig, Settings
from printctl.crypto import DataCipher
from printctl.db import make_engine, migrate, read_session, session_scope
from printctl.hardware import CardImage, DriverConfigError, Encoder, Printer
from printctl.intake.bundle import BundleLimits, load_public_key
from printctl.intake.folder import BUNDLE_SUFFIX, expand
from printctl.intake.importer import ImportOutcome, import_bundle
from printctl.logs import get_logger
from printctl.models import (
    Batch,
    BatchState,
    Job,
    JobState,
    TrustedKey,
    utcnow,
)
from printctl.printers import (
    PrinterStateError,
    PrinterView,
    printer_views,
    resume_printer,
    settle_abandoned,
    why_not_ready,
)
from printctl.printers import pause_printer as _pause_printer
from printctl.queue.batches import (
    BatchError,
    BatchFilters,
    StockMode,
    cancel_batch,
    create_batch,
    finish_batches,
    hold_job,
    pause_batch,
    release_job,
    set_priority,
    start_batch,
)
from printctl.queue.inspection import Found, InspectionContext, InspectionError, resolve_inspection
from printctl.queue.recovery import recover_in_flight
from printctl.queue.station_lock import StationBusy, station_lock
from printctl.queue.stations import (
    Reaped,
    StationView,
    deregister_station,
    heartbeat,
    reap_lost_stations,
    register_station,
    station_views,
)
from printctl.queue.store import work_left
from printctl.queue.worker import PrinterWorker, RenderFailed, WorkerEvent, WorkerResult
from printctl.records import RecordSummary, list_records
from printctl.registry import make_encoder, make_printer
from printctl.render.card import render_card, warm_up
from printctl.render.errors import RenderError
from printctl.stock import (
    StockBalance,
    StockError,
    balance,
    move,
    receive,
    set_office_timezone,
    spoiled_by_reason,
)
from printctl.stock.controls import Supervisors
from printctl.stock.ledger import business_day, office_time
from printctl.stock.locations import VAULT, hopper
from printctl.timebase import parse_simulated_clock

log = get_logger(__name__)


class UserError(Exception):
    """Something the user asked for cannot be done; the message says why and what to do."""


def current_user() -> str:
    """Who is acting: ``PRINTCTL_USER`` or the operating-system login."""
    user = os.environ.get("PRINTCTL_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Context:
    """Settings, database, acting user and clock for one command or request."""

    settings: Settings
    engine: Engine
    actor: str
    clock: Clock = utcnow
    #: Simulated seconds per wall-clock second (a training office's simulated clock, see
    #: :mod:`printctl.timebase`); the waits printctl makes on simulated time are divided by it.
    pace: float = 1.0
    _cipher: DataCipher | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Business days (the stock's daily close) follow the office's calendar.
        set_office_timezone(self.settings.timezone)

    @classmethod
    def open(
        cls, settings: Settings, *, actor: str | None = None, clock: Clock | None = None
    ) -> Context:
        """Connect to the configured database and bring its schema up to date.

        Without ``clock``: the wall clock, or the settings' ``simulated_clock``.
        """
        pace = 1.0
        if clock is None and settings.simulated_clock:
            scaled = parse_simulated_clock(settings.simulated_clock)
            clock, pace = scaled, scaled.scale
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        return cls(
            settings=settings,
            engine=engine,
            actor=actor or current_user(),
            clock=clock or utcnow,
            pace=pace,
        )

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` of this context's time (shorter on a simulated clock); True when
        ``stop`` was set meanwhile."""
        return stop.wait(seconds / self.pace)

    @property
    def station(self) -> str:
        """This station's name, for the audit log."""
        return self.settings.station

    @property
    def cipher(self) -> DataCipher:
        """The data cipher, loaded on first use (commands that need no personal data skip it)."""
        if self._cipher is None:
            self._cipher = DataCipher.from_file(self.settings.resolve(self.settings.data_key_file))
        return self._cipher

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def journal(
        self,
        session: Session,
        action: str,
        *,
        entity: str,
        entity_id: str | int,
        detail: dict[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        """Append an audit event by the acting user at this station, in ``session``."""
        record_event(
            session,
            actor=self.actor,
            station=self.station,
            action=action,
            entity=entity,
            entity_id=entity_id,
            outcome=outcome,
            detail=detail,
            clock=self.clock,
        )


def supervisors(ctx: Context) -> Supervisors:
    """Who may approve what needs a second person: the ``supervisors`` setting and every
    enabled user with the supervisor role (``printctl users add NAME --role supervisor``).
    Neither: any second person may."""
    from printctl.users import supervisors as supervisor_users

    with read_session(ctx.engine) as session:
        users = supervisor_users(session)
    return Supervisors.of((*ctx.settings.supervisor_names(), *users))


# ---------------------------------------------------------------------------- keys & intake


def trust_key(ctx: Context, path: Path, key_id: str) -> str:
    """Add a center public key under ``key_id``; returns its base64 form."""
    if not key_id.strip():
        raise UserError("--id must name the key")
    try:
        key = load_public_key(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except ValueError as exc:
        raise UserError(f"{path}: not an Ed25519 public key ({exc})") from None
    raw = base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    with session_scope(ctx.engine) as session:
        existing = session.get(TrustedKey, key_id)
        if existing is not None:
            if existing.public_key == raw:
                return raw
            raise UserError(f"key id {key_id!r} is already trusted with a different key")
        session.add(
            TrustedKey(key_id=key_id, public_key=raw, added_by=ctx.actor, added_at=ctx.clock())
        )
        record_event(
            session,
            actor=ctx.actor,
            station=ctx.station,
            action="key.trusted",
            entity="key",
            entity_id=key_id,
            detail={"public_key": raw},
            clock=ctx.clock,
        )
    return raw


def import_bundles(ctx: Context, paths: Sequence[Path]) -> list[ImportOutcome]:
    """Import each bundle file, and every bundle of each folder given (a mounted flash drive)
    in sequence order; a rejected bundle is an outcome, not an exception."""
    files = expand(list(paths))
    empty = [p for p in paths if p.is_dir() and not any(f.parent == p for f in files)]
    if empty:
        raise UserError(f"no bundles (*{BUNDLE_SUFFIX}) in {empty[0]}")
    limits = BundleLimits(
        max_total_uncompressed=ctx.settings.bundle_max_bytes,
        max_ratio=ctx.settings.bundle_max_ratio,
    )
    return [
        import_bundle(
            ctx.engine,
            path,
            cipher=ctx.cipher,
            regency_code=ctx.settings.regency_code,
            actor=ctx.actor,
            station=ctx.station,
            limits=limits,
            clock=ctx.clock,
        )
        for path in files
    ]


def records(ctx: Context, state: str | None = None) -> list[RecordSummary]:
    """Stored and quarantined records."""
    with read_session(ctx.engine) as session:
        return list_records(session, state=state)


# ---------------------------------------------------------------------------- stock


def receive_stock(
    ctx: Context, count: int, lot: str, note: str = "", *, load: Iterable[str] = ()
) -> StockBalance:
    """Record a delivery of blanks into the vault; returns the new balance.

    With ``load``, the delivery goes on at once into those printers' hoppers, shared evenly
    (the demo's and a training room's shortcut: one delivery, every printer filled).
    """
    printers = list(load)
    try:
        with session_scope(ctx.engine) as session:
            receive(
                session,
                count,
                lot=lot,
                actor=ctx.actor,
                station=ctx.station,
                note=note,
                clock=ctx.clock,
            )
            for i, printer in enumerate(printers):
                share = count // len(printers) + (1 if i < count % len(printers) else 0)
                if share:
                    move(
                        session,
                        share,
                        VAULT,
                        hopper(printer),
                        actor=ctx.actor,
                        station=ctx.station,
                        note="loaded with the delivery",
                        clock=ctx.clock,
                    )
    except StockError as exc:
        raise UserError(str(exc)) from None
    return stock(ctx)


def stock(ctx: Context) -> StockBalance:
    """The ledger's balance now."""
    with read_session(ctx.engine) as session:
        return balance(session)


def stock_report(ctx: Context) -> dict[str, Any]:
    """Balance plus spoiled blanks by reason, JSON-ready."""
    with read_session(ctx.engine) as session:
        out = balance(session).as_dict()
        out["spoiled_by_reason"] = spoiled_by_reason(session)
        return out


# ---------------------------------------------------------------------------- batches & printing


def new_batch(
    ctx: Context,
    filters: BatchFilters,
    *,
    name: str | None = None,
    priority: int = 0,
    stock_mode: StockMode = StockMode.REFUSE,
) -> tuple[int, int]:
    """Create a batch from ready records; returns (batch id, job count).

    A batch larger than the free stock is refused with the numbers, or trimmed to it
    (``stock_mode``); scarce blanks go to first-time cards first.
    """
    try:
        with session_scope(ctx.engine) as session:
            batch, count = create_batch(
                session,
                name=name or f"batch {office_time(ctx.clock()):%Y-%m-%d %H:%M}",
                filters=filters,
                actor=ctx.actor,
                station=ctx.station,
                clock=ctx.clock,
                priority=priority,
                stock_mode=stock_mode,
                low_stock=ctx.settings.low_stock,
            )
            assert batch.id is not None
            return batch.id, count
    except BatchError as exc:
        raise UserError(str(exc)) from None


def make_card_renderer(issue_date: date | Callable[[], date]) -> Callable[[Any], CardImage]:
    """The worker's renderer: draws a record's card, turning layout failures into job errors.

    ``issue_date`` is a date, or a callable read at every card (a service that runs for days
    dates each card on the day it is printed). The artwork is drawn once here, so no printer
    waits for it on its first card.
    """
    warm_up()

    def render(record: Any) -> CardImage:
        day = issue_date() if callable(issue_date) else issue_date
        try:
            return render_card(record, issue_date=day).image
        except RenderError as exc:
            raise RenderFailed(str(exc)) from exc

    return render


@dataclass
class RunResult:
    """What a print run did, per printer."""

    workers: list[WorkerResult]

    @property
    def completed(self) -> int:
        """Cards issued in this run."""
        return sum(w.completed for w in self.workers)


def select_printers(settings: Settings, names: Iterable[str] | None) -> list[PrinterConfig]:
    """The configured printers to run on (all when ``names`` is empty)."""
    wanted = list(names or [])
    if not settings.printers:
        raise UserError("no printers configured: add [[printers]] to printctl.toml")
    if not wanted:
        return list(settings.printers)
    try:
        return [settings.printer(name) for name in wanted]
    except ConfigError as exc:
        raise UserError(str(exc)) from None


Device = tuple[PrinterConfig, Printer, Encoder]


def _open_devices(printers: Sequence[PrinterConfig]) -> list[Device]:
    """Make each printer's driver and chip encoder from its URLs (nothing is opened yet)."""
    return [open_device(config) for config in printers]


def open_device(config: PrinterConfig) -> Device:
    """Make one printer's driver and chip encoder; a UserError says what is wrong."""
    if not config.encoder:
        raise UserError(f'printer {config.name!r} has no chip encoder configured (encoder = "URL")')
    try:
        return config, make_printer(config.url), make_encoder(config.encoder)
    except DriverConfigError as exc:
        raise UserError(f"printer {config.name!r}: {exc}") from None


def run_batches(
    ctx: Context,
    batch_ids: Sequence[int],
    printers: Sequence[PrinterConfig],
    *,
    notify: Callable[[WorkerEvent], None] | None = None,
    stop: threading.Event | None = None,
    issue_date: date | None = None,
) -> RunResult:
    """Start the batches and print them, one worker thread per printer, until done or stopped."""
    devices = _open_devices(printers)
    try:
        with station_lock(ctx.engine, ctx.station):
            return _run_locked(
                ctx, batch_ids, devices, notify=notify, stop=stop, issue_date=issue_date
            )
    except StationBusy as exc:
        raise UserError(str(exc)) from None


def _run_locked(
    ctx: Context,
    batch_ids: Sequence[int],
    devices: list[Device],
    *,
    notify: Callable[[WorkerEvent], None] | None,
    stop: threading.Event | None,
    issue_date: date | None,
) -> RunResult:
    """run_batches' body, with the station lock held."""
    _recover_and_start(ctx, batch_ids)
    ready, skipped = _ready_devices(ctx, devices)
    stop = stop or threading.Event()
    workers = _make_workers(
        ctx, ready, batch_ids=batch_ids, stop=stop, notify=notify, issue_date=issue_date
    )
    _drive(workers, stop)
    with session_scope(ctx.engine) as session:
        finish_batches(
            session, list(batch_ids), actor=ctx.actor, station=ctx.station, clock=ctx.clock
        )
    return RunResult([w.result for w in workers] + skipped)


def _recover_and_start(ctx: Context, batch_ids: Sequence[int]) -> None:
    """With the station lock held: reconcile this station's abandoned work, start batches."""
    with session_scope(ctx.engine) as session:
        # A previous run of this station may have died mid-card: examine, never re-run blindly.
        recover_in_flight(session, station=ctx.station, actor=ctx.actor, clock=ctx.clock)
        # …and its printers' rows still say what they did then.
        settle_abandoned(session, station=ctx.station, actor=ctx.actor, clock=ctx.clock)
        for batch_id in batch_ids:
            try:
                start_batch(
                    session, batch_id, actor=ctx.actor, station=ctx.station, clock=ctx.clock
                )
            except BatchError as exc:
                raise UserError(str(exc)) from None


def _ready_devices(ctx: Context, devices: list[Device]) -> tuple[list[Device], list[WorkerResult]]:
    """The printers that may take jobs, and a result naming why each of the others may not.

    A printer stopped by an earlier run, or with a card awaiting inspection, stays out.
    """
    ready = []
    skipped: list[WorkerResult] = []
    with read_session(ctx.engine) as session:
        for config, printer, encoder in devices:
            reason = why_not_ready(session, config.name)
            if reason is None:
                ready.append((config, printer, encoder))
            else:
                skipped.append(WorkerResult(printer=config.name, stop_reason=reason))
    return ready, skipped


def _make_workers(
    ctx: Context,
    ready: list[Device],
    *,
    batch_ids: Sequence[int] | None,
    stop: threading.Event,
    notify: Callable[[WorkerEvent], None] | None,
    issue_date: date | None,
    idle: Callable[[], bool] | None = None,
) -> list[PrinterWorker]:
    """One worker per ready printer, sharing one renderer and one stop event."""
    # The office's date, not UTC's (early in an Indonesian morning UTC is on the day before).
    render = make_card_renderer(issue_date or business_day(ctx.clock()))
    return [
        make_worker(
            ctx, device, render=render, batch_ids=batch_ids, stop=stop, notify=notify, idle=idle
        )
        for device in ready
    ]


def make_worker(
    ctx: Context,
    device: Device,
    *,
    render: Callable[[Any], CardImage],
    batch_ids: Sequence[int] | None,
    stop: threading.Event,
    notify: Callable[[WorkerEvent], None] | None,
    idle: Callable[[], bool] | None,
    stock_reserve: Callable[[], int] | None = None,
) -> PrinterWorker:
    """The worker for one printer, configured from the settings; ``stock_reserve`` says how
    many blanks on hand no card may take (a night run's reserve; None: no reserve)."""
    config, printer, encoder = device
    return PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name=config.name,
        printer=printer,
        encoder=encoder,
        render=render,
        station=ctx.station,
        clock=ctx.clock,
        max_attempts=ctx.settings.max_attempts,
        encode_deadline=ctx.settings.encode_deadline_s,
        rest_after=config.rest_after,
        rest_seconds=config.rest_minutes * 60,
        # Rests and backoffs are waits on the context's time (shorter on a simulated clock).
        retry_sleep=lambda seconds: _wait(ctx, seconds, stop),
        stock_reserve=stock_reserve,
        policy=ctx.settings.fault_policy(config),
        low_stock=ctx.settings.low_stock_hopper,
        batch_ids=batch_ids,
        stop=stop,
        notify=notify,
        idle=idle,
    )


def _wait(ctx: Context, seconds: float, stop: threading.Event) -> None:
    ctx.sleep(seconds, stop)


def _drive(workers: list[PrinterWorker], stop: threading.Event) -> None:
    """Run each worker in its own thread until all have finished."""
    threads = [threading.Thread(target=w.run, name=f"worker-{w.name}") for w in workers]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        # Ctrl-C: each printer finishes the card it holds and takes no new job.
        stop.set()
        for thread in threads:
            thread.join()
        raise


# ---------------------------------------------------------------------------- stations


@dataclass
class StationRunResult(RunResult):
    """What a station run did: per printer, plus the stations it found dead."""

    station: str = ""
    run_id: str = ""
    #: Another station took this run's row over as lost: it stopped taking work.
    lost: bool = False
    #: Stations this run found dead and reconciled.
    reaped: list[Reaped] = field(default_factory=list)


def run_station(
    ctx: Context,
    printers: Sequence[PrinterConfig],
    *,
    batch_ids: Sequence[int] | None = None,
    stop: threading.Event | None = None,
    notify: Callable[[WorkerEvent], None] | None = None,
    until_idle: bool = False,
    issue_date: date | None = None,
) -> StationRunResult:
    """Run this station on a shared database: print every running batch until stopped.

    Holds the station lock, registers the station, reconciles its own abandoned work, then
    drives one worker per ready printer; with ``batch_ids`` only those batches (started
    here) are printed. An idle printer looks for work every ``poll_s``; with ``until_idle``
    the run ends once no job of the running batches is pending or held by any printer. A
    heartbeat thread renews the lease every third of ``lease_s`` and reconciles stations
    whose lease expired (once their lock proves them dead); if this station's own row was
    taken over as lost, it stops taking work. ``stop`` (set by SIGTERM/SIGINT in the CLI)
    lets each printer finish the card it holds, then the run ends cleanly.
    """
    devices = _open_devices(printers)
    stop = stop or threading.Event()
    try:
        with station_lock(ctx.engine, ctx.station):
            return _station_locked(
                ctx,
                devices,
                batch_ids=batch_ids,
                stop=stop,
                notify=notify,
                until_idle=until_idle,
                issue_date=issue_date,
            )
    except StationBusy as exc:
        raise UserError(str(exc)) from None


def _station_locked(
    ctx: Context,
    devices: list[Device],
    *,
    batch_ids: Sequence[int] | None,
    stop: threading.Event,
    notify: Callable[[WorkerEvent], None] | None,
    until_idle: bool,
    issue_date: date | None,
) -> StationRunResult:
    """run_station's body, with the station lock held."""
    with registered_station(ctx, stop, batch_ids=batch_ids or ()) as result:
        ready, skipped = _ready_devices(ctx, devices)

        def idle() -> bool:
            if until_idle:
                with read_session(ctx.engine) as session:
                    if work_left(session, batch_ids, held_by_printers=True) == 0:
                        return False
            return not stop.wait(ctx.settings.poll_s)

        workers = _make_workers(
            ctx,
            ready,
            batch_ids=batch_ids,
            stop=stop,
            notify=notify,
            issue_date=issue_date,
            idle=idle,
        )
        _drive(workers, stop)
        result.workers = [w.result for w in workers] + skipped
        finish_station_batches(ctx, batch_ids)
    return result


@contextmanager
def registered_station(
    ctx: Context, stop: threading.Event, *, batch_ids: Sequence[int] = ()
) -> Iterator[StationRunResult]:
    """With the station lock held: a station's life around its printing.

    Registers the station, reconciles its own abandoned work and starts ``batch_ids``,
    reconciles stations that died while none was running, then beats (renewing the lease,
    reaping the dead; ``stop`` is set if this run is taken over as lost) until the block
    ends, and deregisters the station whatever happened.
    """
    with session_scope(ctx.engine) as session:
        run_id = register_station(
            session,
            name=ctx.station,
            lease_s=ctx.settings.lease_s,
            actor=ctx.actor,
            clock=ctx.clock,
        )
    result = StationRunResult(workers=[], station=ctx.station, run_id=run_id)
    beat = _Heartbeat(ctx, run_id, stop, result)
    try:
        _recover_and_start(ctx, batch_ids)
        beat.beat()  # reconcile stations that died while none was running, before printing
        beat.start()
        try:
            yield result
        finally:
            beat.finish()
    finally:
        with session_scope(ctx.engine) as session:
            deregister_station(
                session,
                name=ctx.station,
                run_id=run_id,
                actor=ctx.actor,
                clock=ctx.clock,
                reason="run ended",
            )


def finish_station_batches(ctx: Context, batch_ids: Sequence[int] | None = None) -> None:
    """Mark done the batches (``batch_ids``, or every running one) with no work left."""
    with session_scope(ctx.engine) as session:
        scope = list(batch_ids) if batch_ids is not None else _running_batches(session)
        finish_batches(session, scope, actor=ctx.actor, station=ctx.station, clock=ctx.clock)


def _running_batches(session: Session) -> list[int]:
    rows = session.exec(select(Batch.id).where(col(Batch.state) == BatchState.RUNNING.value))
    return [batch_id for batch_id in rows.all() if batch_id is not None]


class _Heartbeat:
    """The station's heartbeat thread: renews the lease and reconciles dead stations."""

    def __init__(
        self, ctx: Context, run_id: str, stop: threading.Event, result: StationRunResult
    ) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.stop = stop
        self.result = result
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> None:
        """Beat every third of the lease until :meth:`finish`."""
        self.thread.start()

    def finish(self) -> None:
        """Stop beating (the run is over)."""
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()

    def beat(self) -> bool:
        """Renew the lease and reap dead stations once; False when this run was taken over."""
        ctx = self.ctx
        with session_scope(ctx.engine) as session:
            ours = heartbeat(session, name=ctx.station, run_id=self.run_id, clock=ctx.clock)
        if not ours:
            log.error("station taken over as lost: stopping", station=ctx.station)
            self.result.lost = True
            self.stop.set()
            return False
        reaped = reap_lost_stations(ctx.engine, me=ctx.station, actor=ctx.actor, clock=ctx.clock)
        for lost in reaped.reaped:
            log.warning(
                "station lost: work reconciled",
                station=lost.name,
                requeued=len(lost.requeued),
                needs_inspection=len(lost.needs_inspection),
            )
        self.result.reaped.extend(reaped.reaped)
        return True

    def _loop(self) -> None:
        interval = self.ctx.settings.lease_s / 3
        while not self.done.wait(interval):
            try:
                if not self.beat():
                    return
            except Exception:  # a database hiccup: the next beat tries again
                log.exception("heartbeat failed", station=self.ctx.station)


def job_counts(ctx: Context, batch_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Jobs per state, for all batches or the given ones."""
    with read_session(ctx.engine) as session:
        query = select(Job.state, func.count()).group_by(Job.state)
        if batch_ids is not None:
            query = query.where(col(Job.batch_id).in_(list(batch_ids)))
        return {state: int(n) for state, n in session.exec(query).all()}


def batches(ctx: Context) -> list[Batch]:
    """Every batch, newest first."""
    with read_session(ctx.engine) as session:
        return list(session.exec(select(Batch).order_by(col(Batch.id).desc())).all())


def jobs(ctx: Context, *, batch_id: int | None = None, state: str | None = None) -> list[Job]:
    """Jobs, oldest first, optionally of one batch or state."""
    with read_session(ctx.engine) as session:
        query = select(Job).order_by(col(Job.id))
        if batch_id is not None:
            query = query.where(col(Job.batch_id) == batch_id)
        if state is not None:
            query = query.where(col(Job.state) == state)
        return list(session.exec(query).all())


def requeue_note(job: Job) -> str:
    """A one-line description of a job for lists."""
    base = f"job {job.id} ({job.state}"
    if job.state == JobState.PROCESSING.value and job.step:
        base += f", {job.step}"
    return base + ")"


def inspect_job(
    ctx: Context, job_id: int, found: str, *, chip_uid: str | None = None, note: str = ""
) -> InspectionContext:
    """Record what a person found for a job whose outcome was unknown."""
    try:
        outcome = Found(found)
    except ValueError:
        raise UserError(f"--found must be one of issued, spoiled, none (got {found!r})") from None
    if outcome is Found.NONE and chip_uid:
        # A spoiled card's UID goes on the destruction record; no card has none.
        raise UserError("--chip-uid goes with --found issued or spoiled, not none")
    with session_scope(ctx.engine) as session:
        try:
            return resolve_inspection(
                session,
                job_id,
                outcome,
                actor=ctx.actor,
                station=ctx.station,
                clock=ctx.clock,
                chip_uid=chip_uid.upper() if chip_uid else None,
                note=note,
            )
        except InspectionError as exc:
            raise UserError(str(exc)) from None


def hold(ctx: Context, job_id: int, note: str = "") -> None:
    """Set a pending job aside until a person releases it."""
    try:
        with session_scope(ctx.engine) as session:
            hold_job(
                session, job_id, actor=ctx.actor, station=ctx.station, clock=ctx.clock, note=note
            )
    except BatchError as exc:
        raise UserError(str(exc)) from None


def release(ctx: Context, job_id: int, note: str = "") -> str:
    """Release a held job back to pending; returns why it had been held."""
    try:
        with session_scope(ctx.engine) as session:
            return release_job(
                session, job_id, actor=ctx.actor, station=ctx.station, clock=ctx.clock, note=note
            )
    except BatchError as exc:
        raise UserError(str(exc)) from None


def printers(ctx: Context) -> list[PrinterView]:
    """The configured printers with their last known state."""
    with read_session(ctx.engine) as session:
        return printer_views(session, [(p.name, p.url) for p in ctx.settings.printers])


def pause_printer(ctx: Context, name: str, note: str = "") -> str:
    """Pause a printer until resumed: at once when no worker drives it, else after the card
    it is printing. Returns a sentence saying which."""
    ctx.settings.printer(name)  # a ConfigError names the known printers
    with session_scope(ctx.engine) as session:
        try:
            return _pause_printer(
                session, name, actor=ctx.actor, station=ctx.station, clock=ctx.clock, note=note
            )
        except PrinterStateError as exc:
            raise UserError(str(exc)) from None


def resume(ctx: Context, name: str) -> str:
    """Resume a stopped printer; returns why it had stopped."""
    ctx.settings.printer(name)  # a ConfigError names the known printers
    with session_scope(ctx.engine) as session:
        try:
            return resume_printer(
                session, name, actor=ctx.actor, station=ctx.station, clock=ctx.clock
            )
        except PrinterStateError as exc:
            raise UserError(str(exc)) from None


def change_batch(ctx: Context, batch_id: int, action: str, priority: int | None = None) -> int:
    """Pause, cancel or reprioritise a batch; returns the number of jobs canceled (cancel)."""
    who = {"actor": ctx.actor, "station": ctx.station}
    try:
        with session_scope(ctx.engine) as session:
            if action == "pause":
                pause_batch(session, batch_id, clock=ctx.clock, **who)
            elif action == "cancel":
                return cancel_batch(session, batch_id, clock=ctx.clock, **who)
            elif action == "priority" and priority is not None:
                set_priority(session, batch_id, priority, clock=ctx.clock, **who)
            else:
                raise UserError(f"unknown batch action {action!r}")
    except BatchError as exc:
        raise UserError(str(exc)) from None
    return 0


def stations(ctx: Context) -> list[StationView]:
    """The stations registered in this database, with heartbeat age and jobs held."""
    with read_session(ctx.engine) as session:
        return station_views(session, clock=ctx.clock)


def release_batches(ctx: Context, batch_ids: Sequence[int]) -> None:
    """Mark batches running without printing here: every station run takes their jobs."""
    try:
        with session_scope(ctx.engine) as session:
            for batch_id in batch_ids:
                start_batch(
                    session, batch_id, actor=ctx.actor, station=ctx.station, clock=ctx.clock
                )
    except BatchError as exc:
        raise UserError(str(exc)) from None
