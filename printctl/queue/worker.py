"""The worker: one per printer, it claims jobs and drives one card at a time through the printer.

The order inside a job is the accountability rule: **persist, then act**. Before the printer
is told to take a blank the job's step is committed as ``feeding``; before each further move
the step is committed again. Whatever happens next, the database says how far the card got.

The next card is claimed and rendered on a helper thread while the current one is in the
printer (render-ahead), so a printer does not wait for software between cards. A claimed
job that has not fed a blank is handed back whenever the printer stops, and start-up
recovery hands it back if the process dies.

When a step fails, the printer's fault policy (:mod:`printctl.queue.policy`) decides what
follows, from the condition code and from what is known about the card:

* no blank left the hopper — the job is untouched by the failure (retry, hand back, hold);
* the card is intact in the path (the step did not happen: a cover opened) — the job may keep
  it and wait for the condition to clear (``stopped``), then go on with the same card;
* the card is spent (jammed, misprinted, its chip half written) — it is rejected and its
  blank recorded as spoiled before anything else;
* where the card is cannot be known (the printer stopped answering mid-card, a reject
  failed) — the job becomes ``needs-inspection``, whatever the policy says, its blank is in
  doubt and this printer takes no new job until a person has looked.

After each card the printer's own lifetime counter is read again: if the printer took more
blanks than the job accounts for (Evolis re-prints once on its own after a media error), the
extra blanks are recorded as spoiled, so the ledger always matches the hardware.
"""

from __future__ import annotations

import enum
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session, col, select

from printctl.audit import Clock
from printctl.crypto import DataCipher
from printctl.db import read_session
from printctl.domain import RecordData
from printctl.hardware import (
    CardImage,
    CardPosition,
    ConnectionLost,
    Encoder,
    EncoderError,
    HardwareError,
    NoCard,
    Printer,
    PrinterCapabilities,
    PrinterState,
)
from printctl.logs import get_logger
from printctl.models import (
    ACTIVE_JOB_STATES,
    Batch,
    BatchState,
    Job,
    JobReason,
    JobState,
    JobStep,
    LedgerEntry,
    LedgerKind,
    PrinterReason,
    PrinterRow,
    PrinterRunState,
    Record,
    RecordState,
    SpoilReason,
)
from printctl.printers import is_paused, pause_words
from printctl.queue.policy import (
    CONDITIONS,
    Action,
    FaultPolicy,
    condition_of,
    printer_reason,
)
from printctl.queue.store import (
    TransitionConflict,
    claim_next_job,
    set_record_state,
    transition_job,
    transition_printer,
    work_left,
)
from printctl.records import has_newer_version, open_record
from printctl.stock import hopper_available, office_available, record_issued, record_spoiled
from printctl.stock.days import record_counter

log = get_logger(__name__)

Renderer = Callable[[RecordData], CardImage]

#: PostgreSQL's "deadlock detected" and "serialization failure": the transaction was rolled
#: back whole and may be run again.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
_CLAIM_TRIES = 3

#: Printer status conditions that are warnings, not reasons to wait.
_WARNINGS = frozenset({"ribbon-low", "media-low"})
#: How often a batch run's idle printer looks again while another printer still holds a
#: job that may come back to the queue (seconds).
HANDBACK_LOOK_S = 0.05
#: Status conditions under which no card can be printed (checked before each feed).
_BLOCKING = ("ribbon-empty", "media-empty", "cover-open")


class RenderFailed(Exception):
    """Raised by a renderer adapter when a record cannot be drawn (e.g. the name won't fit)."""


@dataclass(frozen=True)
class WorkerEvent:
    """A progress notice for displays: what just happened on which printer."""

    printer: str
    #: completed | spoiled | retry | held | aborted | needs-inspection | waiting | resumed |
    #: cooling | stopped
    kind: str
    job_id: int | None = None
    detail: str = ""


@dataclass
class WorkerResult:
    """What one worker did before it stopped."""

    printer: str
    completed: int = 0
    spoiled: int = 0
    aborted: int = 0
    held: int = 0
    needs_inspection: int = 0
    stop_reason: str = ""
    #: The printer-state reasons of the stop (empty when the worker finished normally).
    stop_reasons: tuple[str, ...] = ()
    #: True when the stop clears by itself: the next run checks the printer and goes on.
    stop_clears_itself: bool = False
    errors: list[str] = field(default_factory=list)
    #: The printer's lifetime card counter when the worker started and stopped (None: unknown).
    counter_start: int | None = None
    counter_end: int | None = None

    @property
    def blanks_taken(self) -> int | None:
        """Blanks the printer itself says it took during this run."""
        if self.counter_start is None or self.counter_end is None:
            return None
        return self.counter_end - self.counter_start


class EncodeDeadline(EncoderError):
    """The chip script did not finish while the card was parked; the card is rejected."""

    code = "encode-deadline"


class _Fate(enum.Enum):
    """What is known about the current card after a failed step."""

    NONE = "no blank left the hopper"
    INTACT = "the card is in the path, untouched by the failed step"
    SPENT = "the card is ruined (or its chip half written)"
    UNKNOWN = "where the card is cannot be known"


class _Stop(Exception):
    """Internal: the printer must stop taking jobs, for ``code`` (and why, in the message)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "*",
        reason: PrinterReason | None = None,
        auto_resume: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason or printer_reason(code)
        self.auto_resume = auto_resume


class _Retry(Exception):
    """Internal: the failed call may be tried again on the same card."""


class _NotNow(Exception):
    """Internal: the next card cannot be fed with this commit (rolls its savepoint back)."""


@dataclass
class _Prepared:
    """A claimed job with its record opened and its card drawn (or why it could not be)."""

    job: Job
    record: RecordData | None = None
    image: CardImage | None = None
    render_error: str = ""


@dataclass
class _Card:
    """The card a job is driving through the printer right now."""

    job: Job
    record: RecordData
    before: int | None  # the printer's counter before the feed (None: no counter)
    step: JobStep = JobStep.FEEDING
    chip_uid: str | None = None


class PrinterWorker:
    """Drives one printer (and its chip encoder) through the jobs of running batches."""

    def __init__(
        self,
        *,
        engine: Engine,
        cipher: DataCipher,
        name: str,
        printer: Printer,
        encoder: Encoder,
        render: Renderer,
        station: str,
        clock: Clock,
        max_attempts: int = 3,
        batch_ids: Iterable[int] | None = None,
        stop: threading.Event | None = None,
        notify: Callable[[WorkerEvent], None] | None = None,
        retry_sleep: Callable[[float], None] | None = None,
        spoil_breaker: int = 5,
        encode_deadline: float = 30.0,
        rest_after: int = 0,
        rest_seconds: float = 0.0,
        idle: Callable[[], bool] | None = None,
        policy: FaultPolicy | None = None,
        render_ahead: bool = True,
        low_stock: int = 0,
        stock_reserve: Callable[[], int] | None = None,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.name = name
        self.printer = printer
        self.encoder = encoder
        self.render = render
        self.station = station
        self.clock = clock
        self.max_attempts = max_attempts
        self.batch_ids = list(batch_ids) if batch_ids is not None else None
        self.stop = stop or threading.Event()
        self.notify = notify or (lambda _event: None)
        #: The injected wait (backoff, duty-cycle rest); by default it returns early on stop.
        self.retry_sleep = retry_sleep or (lambda seconds: self.stop.wait(seconds))
        self.actor = f"worker:{name}"
        self.owner = uuid.uuid4().hex  # this run's claim token: only it may move its jobs
        self.spoil_breaker = spoil_breaker
        self.encode_deadline = encode_deadline
        self.rest_after = rest_after
        self.rest_seconds = rest_seconds
        #: Called when no job is claimable: True means "wait done, look again", False "finish".
        #: A batch run finishes (None); a station run waits for work until it is stopped.
        self.idle = idle
        self.policy = policy or FaultPolicy()
        self.render_ahead = render_ahead
        #: Warn (once) when the hopper's ledger balance falls to this many blanks (0: never).
        self.low_stock = low_stock
        self._low_warned = False
        #: Blanks on hand in the office that no card may take (asked before every feed: a
        #: night run's reserve; None or 0: none). Reaching it stops this printer.
        self.stock_reserve = stock_reserve
        self._cards_since_rest = 0
        #: Failed cards since the last good one (the spoil breaker counts these).
        self._failed_in_a_row = 0
        #: Since the last good card: how often a retry-later condition cleared, and how long
        #: the printer has waited for conditions. They bound conditions that keep coming back.
        self._clears = 0
        self._waited = 0.0
        #: The printer's counter as read after the last card (the next card's "before").
        self._last_counter: int | None = None
        self._caps: PrinterCapabilities | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"render-{name}")
        #: The job whose ``feeding`` was committed with the previous card's completion.
        self._fed_ahead: int | None = None
        #: The printer's warnings as last shown in its row (``ribbon-low``).
        self._warnings: tuple[str, ...] = ()
        #: The next job, being claimed and drawn on the render thread while a card prints.
        self._ahead: Future[_Prepared | None] | None = None
        #: Ribbon and hopper levels from the last status read, not yet in the printer's row:
        #: they go with the next write of that row, so a status read adds no transaction.
        self._levels: dict[str, Any] | None = None
        #: The ribbon level of the last status read (kept with counter readings).
        self._ribbon_read: int | None = None
        #: The conditions of the last status read: one in :data:`_BLOCKING` stops the
        #: printer before the next feed rather than spoiling a blank on it.
        self._conditions: frozenset[str] = frozenset()
        self.result = WorkerResult(printer=name)

    # ------------------------------------------------------------------ main loop

    def run(self) -> WorkerResult:
        """Print until no job is left, the printer must stop, or ``stop`` is set.

        A printer a person paused is not taken over: the run ends at once, stopped.
        """
        if not self._take_printer():
            return self.result
        try:
            self._run()
        finally:
            self._pool.shutdown(wait=True)
            self._settle_printer()
        return self.result

    def _take_printer(self) -> bool:
        """Mark the printer ``processing`` unless a person paused it (then False).

        Read and written in one transaction, so that a pause recorded just before cannot be
        overwritten by this run's start.
        """
        with Session(self.engine) as session:
            row = session.get(PrinterRow, self.name, with_for_update=True)
            if is_paused(row):
                assert row is not None
                self._record_stop(_Stop(row.reason, reason=PrinterReason.PAUSED))
                return False
            self._transition(session, PrinterRunState.PROCESSING)
            session.commit()
        return True

    def _settle_printer(self) -> None:
        """Record how the run ended in the printer's row; a pending pause is taken here.

        A requested pause turns a finished run, or a stop that would clear itself, into
        ``paused``; a stop that needs a person anyway stays that stop (resuming it clears
        the request). Either way the request is done with, and no card is held any more.
        """
        result = self.result
        with Session(self.engine) as session:
            row = session.get(PrinterRow, self.name, with_for_update=True)
            pause = self._pause_in(row)
            if pause and (not result.stop_reason or result.stop_clears_itself):
                result.stop_reason, result.stop_reasons = pause, (PrinterReason.PAUSED.value,)
                result.stop_clears_itself = False
            if result.stop_reason:
                self._transition(
                    session,
                    PrinterRunState.STOPPED,
                    reasons=result.stop_reasons,
                    reason=result.stop_reason,
                    auto_resume=result.stop_clears_itself,
                )
            else:
                self._transition(session, PrinterRunState.IDLE)
            self._update_row(session, pause_requested_by=None, current_job=None)
            session.commit()

    @staticmethod
    def _pause_in(row: PrinterRow | None) -> str:
        """The words of a pause a person asked for or recorded on this row ("": none)."""
        if row is None:
            return ""
        if row.pause_requested_by:
            return pause_words(row.pause_requested_by)
        return row.reason if is_paused(row) else ""

    def _paused(self) -> bool:
        """Whether a person paused this printer or asked to (a read, no lock)."""
        with read_session(self.engine) as reader:
            return bool(self._pause_in(reader.get(PrinterRow, self.name)))

    def _save_levels(self) -> None:
        """Write the levels read at the run's start now (an idle printer shows them too)."""
        if self._levels is None:
            return
        with Session(self.engine) as session:
            self._update_row(session)
            session.commit()

    def _check_pause(self, session: Session | None = None) -> None:
        """Stop (at a card boundary) when a person paused this printer or asked to."""
        if session is None:
            with read_session(self.engine) as reader:
                pause = self._pause_in(reader.get(PrinterRow, self.name))
        else:
            pause = self._pause_in(session.get(PrinterRow, self.name))
        if pause:
            raise _Stop(pause, reason=PrinterReason.PAUSED)

    def _run(self) -> None:
        while True:
            device = "printer"
            try:
                self.printer.open()
                device = "chip encoder"
                self.encoder.open()
                device = "printer"
                self._caps = self.printer.capabilities()
                self.result.counter_start = self._read_counter()
                self._save_counter(self.result.counter_start, "run-start")
                self._save_levels()
                break
            except HardwareError as exc:
                self._close_devices()
                stop = self._stop_for(
                    exc, f"cannot start the {device}", from_encoder=device == "chip encoder"
                )
                if not (stop.auto_resume and self._wait_until_clear(stop)):
                    self._record_stop(stop)
                    return
        try:
            self._loop()
        finally:
            try:
                self.result.counter_end = self._read_counter()
                self._save_counter(self.result.counter_end, "run-end")
            except HardwareError as exc:
                log.warning("final counter read failed", printer=self.name, error=str(exc))
            self._close_devices()

    def _loop(self) -> None:
        while not self.stop.is_set():
            prepared: _Prepared | None = None
            try:
                if self._ahead is not None:
                    # A job claimed (maybe fed) ahead before a pause was asked for is handed
                    # back, not printed: the pause takes effect at this card boundary.
                    self._check_pause()
                    ahead, self._ahead = self._ahead, None
                    prepared = ahead.result()
                if prepared is None:  # nothing was claimed ahead: look again now
                    prepared = self._claim_and_prepare()
                if prepared is None:
                    if self.idle is not None and self.idle():
                        continue
                    if self.idle is None and self._held_elsewhere():
                        # A batch run: another printer holds a job it may yet hand back (it
                        # stopped before feeding it). Finishing now would strand that job.
                        self.stop.wait(HANDBACK_LOOK_S)
                        continue
                    break
                self._process(prepared)
                self._maybe_rest()
            except _Stop as stop:
                self._release_ahead()
                if stop.auto_resume and self._wait_until_clear(stop):
                    continue
                self._record_stop(stop)
                break
            except Exception as exc:  # a bug or a database failure: stop, never hide it
                log.exception("worker failed", printer=self.name)
                self._release_ahead()
                job = prepared.job if prepared is not None else None
                where = f"on job {job.id}" if job is not None else "while taking the next job"
                self._record_stop(
                    _Stop(f"internal error {where}: {exc!r}", reason=PrinterReason.INTERNAL_ERROR)
                )
                if job is not None:
                    self._after_unexpected(job, exc)
                break
        self._release_ahead()

    def _maybe_rest(self) -> None:
        """Duty cycle: after ``rest_after`` cards, let the printer cool for ``rest_seconds``."""
        if not self.rest_after or self._cards_since_rest < self.rest_after:
            return
        self.notify(WorkerEvent(self.name, "cooling", None, f"{self.rest_seconds:g} s"))
        log.info("printer resting", printer=self.name, seconds=self.rest_seconds)
        self._printer_state(
            PrinterRunState.STOPPED,
            reasons=(PrinterReason.COOLING,),
            reason=f"resting {self.rest_seconds:g} s after {self._cards_since_rest} cards",
            auto_resume=True,
        )
        self.retry_sleep(self.rest_seconds)  # an injected wait; returns early on stop
        self._printer_state(PrinterRunState.PROCESSING)
        self._cards_since_rest = 0

    def _close_devices(self) -> None:
        for device in (self.encoder, self.printer):
            try:
                device.close()
            except HardwareError as exc:  # closing must not hide the real outcome
                log.warning("close failed", printer=self.name, error=str(exc))

    def _after_unexpected(self, job: Job, exc: Exception) -> None:
        """Leave a job that failed unexpectedly in a state a person will see."""
        assert job.id is not None
        with Session(self.engine) as session:
            current = session.get(Job, job.id)
        if current is None or current.owner != self.owner:
            return
        if current.state not in (JobState.PROCESSING.value, JobState.STOPPED.value):
            return
        state = JobState(current.state)
        try:
            if current.step in (JobStep.NONE.value, JobStep.RENDERING.value, JobStep.SPOILED.value):
                self._abort(job, f"internal error before any card moved: {exc!r}", state=state)
            else:
                self._needs_inspection(
                    job,
                    JobStep(current.step),
                    f"internal error while {current.step}: {exc!r}",
                    state=state,
                )
        except Exception:  # the database itself may be what failed; recovery will see it
            log.exception("could not record the failure", printer=self.name, job=job.id)

    # ------------------------------------------------------------------ claims and render-ahead

    def _claim(self) -> Job | None:
        """Claim the next job. A claim is database work only, so one that PostgreSQL aborted
        to break a deadlock (or a serialization failure) is simply tried again."""
        for attempt in range(_CLAIM_TRIES):
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    self._check_pause(session)  # before every claim, ahead ones too
                    job = claim_next_job(
                        session,
                        batch_ids=self.batch_ids,
                        printer=self.name,
                        station=self.station,
                        owner=self.owner,
                        clock=self.clock,
                    )
                    session.commit()
                    return job
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate not in _TRANSIENT_SQLSTATES or attempt == _CLAIM_TRIES - 1:
                    raise
                log.warning("claim retried", printer=self.name, sqlstate=sqlstate)
        return None  # not reached: the last attempt returns or raises

    def _claim_and_prepare(self) -> _Prepared | None:
        """Claim the next job, open its record and draw its card (None: no job to claim).

        Runs on the worker thread for the first card and on the render thread ahead of the
        others. A claimed job whose record cannot be opened or drawn (other than a
        :class:`RenderFailed`) is handed back before the error goes on, so that no job is
        left claimed by a run that is stopping.
        """
        job = self._claim()
        if job is None:
            return None
        try:
            with read_session(self.engine) as session:
                row = session.get(Record, job.record_pk)
                assert row is not None
                record = open_record(row, self.cipher)
            try:
                image = self.render(record)
                if not image.label:  # the printer's log (and the simulator) name the card so
                    image = replace(image, label=f"{record.record_id} v{record.version}")
                return _Prepared(job, record, image)
            except RenderFailed as exc:
                return _Prepared(job, record, render_error=str(exc))
        except Exception:
            self._hand_back(job, "its record could not be opened or drawn")
            raise

    def _release_ahead(self) -> None:
        """Hand back the job claimed ahead, if any: this printer will not print it now."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        try:
            prepared = ahead.result()  # let the render thread finish with it first
        except _Stop:  # paused before it claimed anything
            return
        except Exception:  # it handed its job back itself
            log.exception("claim ahead failed", printer=self.name)
            return
        if prepared is not None:
            self._hand_back(prepared.job, "released: the printer stopped before this card")

    def _held_elsewhere(self) -> bool:
        """Whether another printer of this station holds a job of this run's batches now
        (one that may yet go back to the queue). Other stations' jobs are not waited for:
        a dead station's are theirs to reconcile."""
        query = select(func.count()).where(
            col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]),
            col(Job.station) == self.station,
            col(Job.printer) != self.name,
        )
        if self.batch_ids is not None:
            query = query.where(col(Job.batch_id).in_(self.batch_ids))
        with read_session(self.engine) as session:
            return int(session.exec(query).one()) > 0

    def _work_left(self) -> bool:
        """Whether a job this printer could take is pending in its running batches."""
        with read_session(self.engine) as session:
            return work_left(session, self.batch_ids) > 0

    # ------------------------------------------------------------------ waiting for a condition

    def _wait_until_clear(self, stop: _Stop) -> bool:
        """Wait, with backoff, until the condition that stopped the printer clears.

        The printer shows ``stopped`` with the condition meanwhile. True when it cleared (the
        printer is processing again). False when the run is stopping; when no work is left
        for this printer (and, in a station run, the idle hook says to finish); in a batch
        run, once the printer has waited ``wait_max_s`` since its last good card; and when
        the condition has cleared ``retry_later_limit`` times without a good card in between
        — then it is no transient, and ``stop`` becomes a stop until resumed.
        """
        if self._clears >= self.policy.retry_later_limit:
            stop.auto_resume = False
            stop.args = (
                f"{stop} (cleared {self._clears} times without a good card: stopped until resumed)",
            )
            return False
        self._printer_state(
            PrinterRunState.STOPPED, reasons=(stop.reason,), reason=str(stop), auto_resume=True
        )
        self.notify(WorkerEvent(self.name, "waiting", None, str(stop)))
        log.warning("printer waiting", printer=self.name, condition=stop.code, reason=str(stop))

        def keep_waiting() -> bool:
            # Paused by a person meanwhile: no point waiting for the condition.
            # Nothing for this printer to do: a batch run ends; a station run asks its idle
            # hook, which ends it too when the station runs until idle.
            if self._paused():
                return False
            return self._work_left() or (self.idle is not None and self.idle())

        budget = float("inf") if self.idle is not None else self.policy.wait_max_s - self._waited
        if not self._backoff_until_clear(stop.code, budget_s=budget, keep_waiting=keep_waiting):
            return False
        self._printer_state(PrinterRunState.PROCESSING)
        self.notify(WorkerEvent(self.name, "resumed", None, stop.code))
        log.info("printer resumed", printer=self.name, condition=stop.code)
        return True

    def _backoff_until_clear(
        self, code: str, *, budget_s: float, keep_waiting: Callable[[], bool]
    ) -> bool:
        """Sleep with backoff and re-check ``code`` until it clears (True), the run stops,
        ``budget_s`` seconds have been waited, or ``keep_waiting`` says no (False)."""
        waited, attempt, cleared = 0.0, 0, False
        while not self.stop.is_set() and waited < budget_s and keep_waiting():
            delay = self.policy.backoff(attempt)
            self.retry_sleep(delay)
            waited += delay
            attempt += 1
            if not self.stop.is_set() and self._cleared(code):
                cleared = True
                break
        self._waited += waited
        self._clears += cleared
        return cleared

    def _cleared(self, code: str) -> bool:
        """Whether the condition ``code`` has gone (asks the ledger, the reader or the printer)."""
        if code == "out-of-stock":
            with read_session(self.engine) as session:
                return hopper_available(session, self.name) > 0
        if code == "stock-reserve":
            reserve = self.stock_reserve() if self.stock_reserve is not None else 0
            if not reserve:
                return True
            with read_session(self.engine) as session:
                return office_available(session) > reserve
        reason = printer_reason(code)
        try:
            if reason is PrinterReason.ENCODER_FAULT:
                self.encoder.close()
                self.encoder.open()
                return True
            self.printer.open()
            status = self.printer.status()
        except HardwareError:
            return False
        blocking = set(status.conditions) - _WARNINGS
        return not blocking and status.state not in (PrinterState.ERROR, PrinterState.OFFLINE)

    # ------------------------------------------------------------------ one job

    def _process(self, prepared: _Prepared) -> None:
        job = prepared.job
        assert job.id is not None
        # Its feeding went with the last card's completion: no device call comes between.
        fed = self._fed_ahead == job.id
        self._fed_ahead = None
        if prepared.render_error or prepared.record is None or prepared.image is None:
            self._before_card_failed(
                job, "render-failed", f"render failed: {prepared.render_error}"
            )
            return
        record, image = prepared.record, prepared.image
        capabilities = self._caps or self.printer.capabilities()
        before = self._last_counter
        if not fed or before is None:
            try:
                before = self._read_counter()
            except HardwareError as exc:
                self._hand_back(job, f"status read failed: {exc}")
                raise self._stop_for(exc, "status read failed") from exc
        blocked = [code for code in _BLOCKING if code in self._conditions]
        if blocked:
            # The printer said, when last asked, that it cannot print (an empty ribbon, an
            # empty hopper, an open cover): feeding a blank now would only spoil it.
            code = blocked[0]
            self._hand_back(job, f"{code}: not fed", (JobReason.PRINTER_STOPPED,))
            action = self.policy.action_for(code)
            raise _Stop(
                f"{code} before the feed: {CONDITIONS[code][0]} (no blank used)",
                code=code,
                auto_resume=action in (Action.RETRY_LATER, Action.RETRY_NOW),
            )
        station = capabilities.encoder_station
        if station is None:
            # An e-KTP without its chip written is no card: never print one.
            self._hand_back(
                job, "the printer has no chip-encoding station", (JobReason.ENCODER_MISSING,)
            )
            raise _Stop(
                "this printer has no chip-encoding station; e-KTP cards need one",
                reason=PrinterReason.ENCODER_FAULT,
            )
        if not fed and not self._enter_feeding(job):
            return
        if self.render_ahead and self._ahead is None:
            # The next job is claimed and its card drawn while this one is in the printer.
            # Only now: at start-up every printer's first card is drawn before any second one.
            self._ahead = self._pool.submit(self._claim_and_prepare)
        card = _Card(job, record, before)

        def encode() -> None:
            card.chip_uid = self._encode(job, record)

        move: Callable[[], None] = lambda: self.printer.move_to_encoder(station)  # noqa: E731
        chip_steps = [(JobStep.ENCODING, move, False), (JobStep.ENCODING, encode, True)]
        steps: list[tuple[JobStep, Callable[[], None], bool]] = [
            (JobStep.FEEDING, self.printer.feed, False)
        ]
        if capabilities.encode_before_print:
            steps += chip_steps
        steps.append((JobStep.PRINTING, lambda: self.printer.print_card(image), False))
        if not capabilities.encode_before_print:
            steps += chip_steps
        steps.append((JobStep.EJECTING, self.printer.eject, False))
        if not self._drive(card, steps):
            return
        self._complete(card)

    def _drive(
        self, card: _Card, steps: Sequence[tuple[JobStep, Callable[[], None], bool]]
    ) -> bool:
        """Run the card's steps in order, persisting each step first; False if the job ended."""
        for step, call, from_encoder in steps:
            if step is not card.step:
                card.step = self._step(card.job, step, chip_uid=card.chip_uid)
            tries = 0
            while True:
                try:
                    call()
                    break
                except HardwareError as exc:
                    try:
                        self._fault(card, exc, from_encoder=from_encoder, tries=tries)
                    except _Retry:
                        tries += 1
                        continue
                    return False
        return True

    def _encode(self, job: Job, record: RecordData) -> str:
        """Run the chip script while the card is parked, within the encode deadline.

        A card must not wait at the station forever: past the deadline the card is rejected
        (as an encode failure) even if the reader is still busy. The UID goes on the job with
        the next step's commit, before the printer moves the card on.
        """
        outcome: dict[str, str | BaseException] = {}

        def talk() -> None:
            try:
                outcome["uid"] = self.encoder.run_script(record.chip_script)
            except BaseException as exc:  # handed over to the worker thread below
                outcome["error"] = exc

        thread = threading.Thread(target=talk, name=f"encode-{self.name}", daemon=True)
        thread.start()
        thread.join(self.encode_deadline)
        if thread.is_alive():
            raise EncodeDeadline(
                f"the chip did not finish within {self.encode_deadline:g} s; card rejected"
            )
        error = outcome.get("error")
        if isinstance(error, BaseException):
            raise error
        # The UID is committed with the next step, before the printer is told to go on.
        return str(outcome["uid"])

    def _read_counter(self) -> int | None:
        status = self.printer.status()
        self._conditions = frozenset(status.conditions)
        self._note_levels(status.ribbon_panels_left, status.cards_in_hopper)
        self._show_warnings(status.conditions)
        return status.cards_inserted

    def _show_warnings(self, conditions: Iterable[str]) -> None:
        """Show the printer's warnings (``ribbon-low``) among its reasons while it prints."""
        warnings = tuple(sorted(set(conditions) & _WARNINGS))
        if warnings == self._warnings:
            return
        self._warnings = warnings
        if warnings:
            log.warning("printer warns", printer=self.name, warnings=list(warnings))
        self._printer_state(
            PrinterRunState.PROCESSING,
            reasons=warnings,
            reason=f"warning: {', '.join(warnings)}" if warnings else "",
        )

    def _step(self, job: Job, step: JobStep, *, chip_uid: str | None = None) -> JobStep:
        """Persist the next step (and the chip UID once known) before the printer acts."""
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.PROCESSING,
                step=step,
                audit=False,  # steps are journaled by the outcome event; keeps the log readable
                columns={"chip_uid": chip_uid} if chip_uid else None,
            )
            session.commit()
        return step

    def _enter_feeding(self, job: Job) -> bool:
        """Commit ``feeding`` if a blank is on hand and the record is current; else hand back.

        False when the job was handed back (its record was superseded); out of stock stops
        the printer.
        """
        with Session(self.engine) as session:
            problem = self._feeding_in(session, job)
            if not problem:
                session.commit()
                return True
            session.rollback()
        if problem == "stock-reserve":
            # The night keeps the reserve for the day shift: this printer stops taking cards
            # (the others stop at their next feed too); the stop clears once no reserve
            # applies, i.e. when the night is over.
            self._hand_back(job, "the stock reserve is reached", (JobReason.PRINTER_STOPPED,))
            raise _Stop(
                "stock reserve reached: the blanks left on hand are kept for the day shift",
                code="stock-reserve",
                auto_resume=True,
            )
        if problem == "out-of-stock":
            # Whatever the policy's action, no blank may be fed: the job goes back and the
            # printer stops, waiting for stock unless the policy says to stop for a person.
            action = self.policy.action_for("out-of-stock")
            self._hand_back(job, "no blanks on hand", (JobReason.PRINTER_STOPPED,))
            raise _Stop(
                f"out of stock: the ledger has no blank in {self.name}'s hopper; load blanks "
                f"and record it (printctl stock load {self.name} N)",
                code="out-of-stock",
                auto_resume=action in (Action.RETRY_LATER, Action.RETRY_NOW),
            )
        self._hand_back(job, problem)
        return False

    def _feeding_in(self, session: Session, job: Job) -> str:
        """In ``session``: move the job to ``feeding``, or say why not (changing nothing)."""
        batch = session.get(Batch, job.batch_id)
        if batch is None or batch.state != BatchState.RUNNING.value:
            return "its batch was paused or canceled"
        # The hopper's ledger balance less the cards this printer holds right now.
        left = hopper_available(session, self.name)
        if left <= 0:
            return "out-of-stock"
        reserve = self.stock_reserve() if self.stock_reserve is not None else 0
        if reserve and office_available(session) <= reserve:
            return "stock-reserve"
        self._warn_low_stock(left)
        if has_newer_version(session, job.record_pk):
            return "superseded"
        self._move(session, job, JobState.PROCESSING, step=JobStep.FEEDING, audit=False)
        self._update_row(session, current_job=job.id)  # the card starts with this commit
        return ""

    def _feed_next_with(self, session: Session) -> int | None:
        """Commit the next card's ``feeding`` with this card's completion, when it is ready.

        One transaction between two cards instead of two: the printer waits less. Only when
        the next card is drawn already, no rest is due and the run is not stopping — so the
        next feed follows this commit at once. Returns the job moved to ``feeding``, if any.
        """
        ahead = self._ahead
        if ahead is None or not ahead.done() or ahead.exception() is not None:
            return None
        prepared = ahead.result()
        if prepared is None or prepared.render_error or self.stop.is_set():
            return None
        if self.rest_after and self._cards_since_rest + 1 >= self.rest_after:
            return None
        if self._pause_in(session.get(PrinterRow, self.name)):
            return None  # paused: the next card is handed back, not fed
        try:
            with session.begin_nested():  # a failure here must not undo the issued card
                if self._feeding_in(session, prepared.job):
                    raise _NotNow
        except _NotNow:
            return None
        except Exception:
            log.exception("feeding ahead failed", printer=self.name, job=prepared.job.id)
            return None
        return prepared.job.id

    # ------------------------------------------------------------------ faults

    def _fate(self, step: JobStep, exc: HardwareError, *, from_encoder: bool) -> _Fate:
        """What is known about the card after ``exc`` during ``step``."""
        if step is JobStep.FEEDING:
            if exc.card_may_have_moved:
                # A jam is reported (the blank is ruined); a lost reply leaves it unknown.
                return _Fate.UNKNOWN if isinstance(exc, ConnectionLost) else _Fate.SPENT
            return _Fate.NONE
        if from_encoder:
            return _Fate.SPENT  # the chip may be half written: that card is never issued
        if isinstance(exc, ConnectionLost):
            return _Fate.UNKNOWN
        return _Fate.SPENT if exc.card_may_have_moved else _Fate.INTACT

    def _fault(self, card: _Card, exc: HardwareError, *, from_encoder: bool, tries: int) -> None:
        """Apply the policy to a failed step. Raises :class:`_Retry` to try the call again,
        :class:`_Stop` to stop the printer; returns when the job has left ``processing``."""
        job, step = card.job, card.step
        code = condition_of(exc, from_encoder=from_encoder)
        action = self.policy.action_for(code)
        fate = self._fate(step, exc, from_encoder=from_encoder)
        if fate is _Fate.NONE and step is JobStep.FEEDING and not self._counter_unmoved(card):
            fate = _Fate.UNKNOWN  # the driver says no card moved; the printer's counter disagrees
        message = f"{code} while {step.value}: {exc}"
        log.warning(
            "step failed",
            printer=self.name,
            job=job.id,
            step=step.value,
            error=code,
            fate=fate.name,
        )
        if fate is _Fate.UNKNOWN or (action is Action.NEEDS_INSPECTION and fate is not _Fate.NONE):
            self._needs_inspection(job, step, message)
            raise _Stop(
                f"job {job.id} needs inspection: {message}",
                reason=PrinterReason.AWAITING_INSPECTION,
            )
        if action is Action.RETRY_NOW:
            if fate is _Fate.SPENT:
                action = Action.ABORT_JOB  # a ruined card cannot be retried: a fresh blank can
            elif tries < self.policy.retry_now_limit:
                self.notify(WorkerEvent(self.name, "retry", job.id, message))
                raise _Retry
            else:
                action = Action.RETRY_LATER if exc.retryable else Action.STOP_PRINTER
        if action is Action.RETRY_LATER and fate is _Fate.INTACT and self._hold_card(card, code):
            raise _Retry
        taken = 0
        if fate is not _Fate.NONE:
            taken = self._reject_and_spoil(card, exc, code)
            self._failed_in_a_row += 1
        self._settle(job, code, message, action, spent=taken > 0)
        self._check_spoil_breaker(code)

    def _settle(self, job: Job, code: str, message: str, action: Action, *, spent: bool) -> None:
        """End a failed attempt as ``action`` says, once the card (if any) is accounted for.

        Returns when the printer goes on; raises :class:`_Stop` when it must stop.
        """
        if action is Action.HOLD_JOB:
            self._hold(job, code, message)
        elif action is Action.ABORT_JOB:
            self._abort_attempt(job, message, spent=spent)
        elif action is Action.NEEDS_INSPECTION:
            # No blank left the hopper, so none is in doubt: the job waits for a person, held,
            # and the printer stops for them as the policy asks.
            self._hold(job, code, message)
            raise _Stop(f"{message}; a person must look (policy)", code=code)
        else:  # retry-later or stop-printer: the job waits for any printer
            reasons = (JobReason.PRINTER_STOPPED, JobReason.RETRY)
            self._hand_back(job, f"{message}; the printer stopped", reasons)
            raise _Stop(message, code=code, auto_resume=action is Action.RETRY_LATER)

    def _counter_unmoved(self, card: _Card) -> bool:
        """After a failed feed: True unless the printer's counter says a blank was taken."""
        if card.before is None:
            return True  # no counter: the driver's word is all there is
        try:
            after = self._read_counter()
        except HardwareError:
            return False
        return after is None or after <= card.before

    def _before_card_failed(self, job: Job, code: str, message: str) -> None:
        """A condition before any blank moved (e.g. the card could not be drawn)."""
        action = self.policy.action_for(code)
        if action is Action.RETRY_NOW:
            action = Action.RETRY_LATER  # nothing to retry on the spot: the job goes back
        self._settle(job, code, message, action, spent=False)

    def _hold_card(self, card: _Card, code: str) -> bool:
        """Keep an intact card in the printer while the condition clears (up to card_wait_s).

        The job shows ``stopped`` meanwhile. True when the condition cleared: the same card
        goes on. False (waited too long, or the run stops): the card must come out.
        """
        job = card.job
        assert job.id is not None
        self._release_ahead()  # other printers may print it while this one waits
        reason = printer_reason(code)
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.STOPPED,
                step=card.step,
                reason=f"{code}: waiting with the card {card.step.value}",
                reasons=(JobReason.PRINTER_STOPPED, reason),
            )
            session.commit()
        self._printer_state(
            PrinterRunState.STOPPED,
            reasons=(reason,),
            reason=f"{CONDITIONS.get(code, CONDITIONS['*'])[0]}; a card waits in the printer",
            auto_resume=True,
        )
        self.notify(WorkerEvent(self.name, "waiting", job.id, code))
        cleared = self._clears < self.policy.retry_later_limit and self._backoff_until_clear(
            code, budget_s=self.policy.card_wait_s, keep_waiting=lambda: True
        )
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.PROCESSING,
                from_state=JobState.STOPPED,
                step=card.step,
                reason=f"{code} cleared" if cleared else f"{code} did not clear; card rejected",
            )
            session.commit()
        self._printer_state(PrinterRunState.PROCESSING)
        if cleared:
            self.notify(WorkerEvent(self.name, "resumed", job.id, code))
        return cleared

    def _reject_and_spoil(self, card: _Card, exc: HardwareError, code: str) -> int:
        """Get the card out of the path (reject bin) and record its blank(s) as spoiled.

        Returns how many blanks the printer's counter says were taken (0: none left the
        hopper after all)."""
        job, step = card.job, card.step
        assert job.id is not None
        try:
            if self.printer.status().card_position is not CardPosition.NONE:
                card.step = self._step(job, JobStep.REJECTING, chip_uid=card.chip_uid)
                self.printer.reject()
        except HardwareError as reject_exc:
            self._needs_inspection(
                job, step, f"{code}, then the card could not be rejected: {reject_exc}"
            )
            raise _Stop(
                f"job {job.id} needs inspection: the card could not be rejected ({reject_exc})",
                reason=PrinterReason.AWAITING_INSPECTION,
            ) from reject_exc
        if isinstance(exc, NoCard):
            reason = SpoilReason.NO_CHIP  # the card was parked, its chip did not answer
        elif isinstance(exc, EncoderError) or step is JobStep.ENCODING:
            reason = SpoilReason.ENCODE_FAILED
        else:
            reason = SpoilReason.PRINT_FAILED
        # A blank that never left the hopper (the counter did not move) is not spoiled. The
        # entry and the step saying so are one commit: after a crash the job is requeued, its
        # blank accounted once, never left in doubt as well.
        taken = self._blanks_taken(card.before, at_least=0)
        with Session(self.engine) as session:
            # The job's row before the ledger's audit event (the lock order of _complete).
            self._move(session, job, JobState.PROCESSING, step=JobStep.SPOILED, audit=False)
            if taken:
                self._spoil(
                    session,
                    job,
                    taken,
                    reason,
                    f"{code} while {step.value}: {exc}",
                    chip_uid=card.chip_uid,
                    record_id=card.record.record_id,
                )
            session.commit()
        card.step = JobStep.SPOILED
        self.result.spoiled += taken
        log.warning("blank spoiled", printer=self.name, job=job.id, step=step.value, error=code)
        self.notify(WorkerEvent(self.name, "spoiled", job.id, f"{code} while {step.value}"))
        return taken

    def _spoil(
        self,
        session: Session,
        job: Job,
        quantity: int,
        reason: SpoilReason,
        note: str,
        *,
        chip_uid: str | None = None,
        record_id: str | None = None,
    ) -> None:
        """Record ``quantity`` blanks of this job as spoiled, in the caller's transaction."""
        record_spoiled(
            session,
            quantity=quantity,
            reason=reason,
            job_id=job.id,
            printer=self.name,
            note=note,
            chip_uid=chip_uid,
            record_id=record_id,
            actor=self.actor,
            station=self.station,
            clock=self.clock,
        )

    def _save_counter(self, value: int | None, source: str) -> None:
        """Keep a counter reading for the day's reconciliation (see stock.days)."""
        if value is None:
            return
        try:
            with Session(self.engine) as session:
                reading = record_counter(session, self.name, value, source=source, clock=self.clock)
                reading.ribbon_panels_left = self._ribbon_read
                session.add(reading)
                session.commit()
        except SQLAlchemyError as exc:  # the run goes on; the close will say it is missing
            log.warning("counter reading not saved", printer=self.name, error=str(exc))

    def _warn_low_stock(self, left: int) -> None:
        """Log once when the hopper's ledger balance falls to the low-stock threshold."""
        if self.low_stock and left <= self.low_stock and not self._low_warned:
            self._low_warned = True
            log.warning("low stock in hopper", printer=self.name, blanks_left=left)
        elif left > self.low_stock:
            self._low_warned = False

    def _check_spoil_breaker(self, code: str) -> None:
        if self._failed_in_a_row >= self.spoil_breaker:
            # Something is wrong with this printer or its blanks, not with the records.
            raise _Stop(
                f"{self._failed_in_a_row} cards failed in a row (last: {code}); "
                "check the printer and its blanks",
                reason=PrinterReason.SPOILING,
            )

    def _stop_for(self, exc: HardwareError, what: str, *, from_encoder: bool = False) -> _Stop:
        """The stop a device error calls for outside a card (opening, a status read)."""
        code = condition_of(exc, from_encoder=from_encoder)
        action = self.policy.action_for(code)
        return _Stop(
            f"{code}: {what}: {exc}",
            code=code,
            auto_resume=action in (Action.RETRY_LATER, Action.RETRY_NOW),  # nothing to redo now
        )

    # ------------------------------------------------------------------ outcomes

    def _move(
        self,
        session: Session,
        job: Job,
        to_state: JobState,
        *,
        from_state: JobState = JobState.PROCESSING,
        step: JobStep = JobStep.NONE,
        reason: str = "",
        audit: bool = True,
        columns: dict[str, object] | None = None,
        reasons: Iterable[str] = (),
    ) -> None:
        """Move this run's own job (from ``processing`` unless told otherwise)."""
        assert job.id is not None
        if to_state not in (JobState.PROCESSING, JobState.STOPPED):
            # The card's end: the printer holds it no more. Before the job's audit event, so
            # the printer row's lock is taken before the journal's, as everywhere.
            session.execute(
                update(PrinterRow)
                .where(col(PrinterRow.name) == self.name, col(PrinterRow.current_job) == job.id)
                .values(current_job=None)
            )
        transition_job(
            session,
            job.id,
            from_state=from_state,
            to_state=to_state,
            step=step,
            reason=reason,
            actor=self.actor,
            station=self.station,
            clock=self.clock,
            owner=self.owner,
            audit=audit,
            columns=columns,
            reasons=reasons,
        )

    def _blanks_taken(self, before: int | None, *, at_least: int) -> int:
        """How many blanks the printer took for this job, from its own counter when it has one.

        Without a counter reading, one blank is assumed (the card the job fed).
        """
        try:
            after = self._read_counter()
        except HardwareError as exc:
            log.warning("counter read failed after card", printer=self.name, error=str(exc))
            self._last_counter = None  # the next card must read its own "before"
            return 1
        self._last_counter = after
        if before is None or after is None:
            return 1
        return max(at_least, after - before)

    def _complete(self, card: _Card) -> None:
        job, record, chip_uid = card.job, card.record, card.chip_uid
        assert job.id is not None
        taken = self._blanks_taken(card.before, at_least=1)
        with Session(self.engine) as session:
            # The next card's row first, before this transaction writes any audit event: the
            # audit chain's lock is then taken last, as in every other transaction. Taken the
            # other way round it deadlocks on PostgreSQL with a concurrent claim that locked
            # the next job's row while skipping it.
            fed_next = self._feed_next_with(session)
            if fed_next is None:
                self._update_row(session, current_job=None)  # (and the levels just read)
            if taken > 1:
                # A re-print: the extra blanks are in the reject bin. Should the hopper's
                # ledger hold fewer, the ledger covers it and asks a supervisor to confirm.
                self._spoil(
                    session,
                    job,
                    taken - 1,
                    SpoilReason.PRINT_FAILED,
                    f"printer re-printed on its own: its counter rose by {taken}",
                )
            record_issued(
                session,
                job_id=job.id,
                printer=self.name,
                chip_uid=chip_uid,
                record_id=record.record_id,
                actor=self.actor,
                station=self.station,
                clock=self.clock,
            )
            self._move(
                session,
                job,
                JobState.COMPLETED,
                columns={"chip_uid": chip_uid, "error": ""},
            )
            # A higher version may have arrived while this card was in the printer: the card
            # exists either way, but then it carries outdated data and needs a decision.
            state, reason = RecordState.PRINTED, ""
            if has_newer_version(session, job.record_pk):
                state = RecordState.PRINTED_OUTDATED
                reason = "a higher version arrived while this card was printed"
            set_record_state(
                session,
                job.record_pk,
                state,
                reason=reason,
                actor=self.actor,
                station=self.station,
                clock=self.clock,
                columns={"chip_uid": chip_uid, "printed_at": self.clock()},
            )
            session.commit()
        self._fed_ahead = fed_next
        if taken > 1:
            self.result.spoiled += taken - 1
        self._failed_in_a_row = 0
        self._clears, self._waited = 0, 0.0
        self._cards_since_rest += 1
        self.result.completed += 1
        log.info(
            "card issued",
            printer=self.name,
            job=job.id,
            record=record.record_id,
            nik=record.nik_masked,
            chip_uid=chip_uid,
        )
        self.notify(WorkerEvent(self.name, "completed", job.id))

    def _abort_attempt(self, job: Job, message: str, *, spent: bool) -> None:
        """This attempt ends: a fresh blank, unless ``max_attempts`` blanks were spoiled for it.

        An attempt that moved no blank counts by the job's claims instead, so that a policy
        aborting a condition before the feed cannot loop for ever.
        """
        with read_session(self.engine) as session:
            spoiled_for_job = session.exec(
                select(func.coalesce(func.sum(LedgerEntry.quantity), 0)).where(
                    col(LedgerEntry.job_id) == job.id,
                    col(LedgerEntry.kind) == LedgerKind.SPOILED.value,
                )
            ).one()
        if spoiled_for_job >= self.max_attempts:
            self._abort(job, f"{spoiled_for_job} blanks spoiled (last: {message})")
        elif not spent and job.attempts >= self.max_attempts:
            self._abort(job, f"{job.attempts} attempts failed (last: {message})")
        else:
            self._hand_back(job, f"{message}; retrying on a fresh blank", (JobReason.RETRY,))

    def _needs_inspection(
        self, job: Job, step: JobStep, why: str, *, state: JobState = JobState.PROCESSING
    ) -> None:
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.NEEDS_INSPECTION,
                from_state=state,
                step=step,
                reason=why,
                columns={"error": f"outcome unknown while {step.value}: {why}"[:1000]},
                reasons=(JobReason.OUTCOME_UNKNOWN,),
            )
            set_record_state(
                session,
                job.record_pk,
                RecordState.NEEDS_INSPECTION,
                reason=f"card may exist: {why}",
                actor=self.actor,
                station=self.station,
                clock=self.clock,
            )
            session.commit()
        self.result.needs_inspection += 1
        log.error("needs inspection", printer=self.name, job=job.id, step=step.value, error=why)
        self.notify(WorkerEvent(self.name, "needs-inspection", job.id, why))

    def _hand_back(self, job: Job, reason: str, reasons: Iterable[str] = ()) -> None:
        """Return the job to pending; cancel it if its record was superseded meanwhile (the
        record is superseded) or its batch canceled (the record is ready again)."""
        if self._fed_ahead == job.id:
            self._fed_ahead = None
        with Session(self.engine) as session:
            newer = has_newer_version(session, job.record_pk)
            batch = session.get(Batch, job.batch_id)
            withdrawn = batch is not None and batch.state == BatchState.CANCELED.value
            if newer:
                reason, reasons = f"{reason}; a higher version has arrived", (JobReason.SUPERSEDED,)
            elif withdrawn:
                reason, reasons = (
                    f"{reason}; its batch was canceled",
                    (JobReason.CANCELED_BY_OPERATOR,),
                )
            try:
                self._move(
                    session,
                    job,
                    JobState.CANCELED if newer or withdrawn else JobState.PENDING,
                    reason=reason,
                    columns={"printer": None, "owner": None, "error": reason[:1000]},
                    reasons=reasons,
                )
            except TransitionConflict:
                log.error("hand back lost a race", job=job.id)
                return
            if newer or withdrawn:
                set_record_state(
                    session,
                    job.record_pk,
                    RecordState.SUPERSEDED if newer else RecordState.READY,
                    reason="a higher version arrived before this record was printed"
                    if newer
                    else "its batch was canceled",
                    actor=self.actor,
                    station=self.station,
                    clock=self.clock,
                )
            session.commit()
        self.notify(WorkerEvent(self.name, "retry", job.id, reason))

    def _hold(self, job: Job, code: str, message: str) -> None:
        """Set the job aside for a person (``printctl jobs release``); the printer goes on."""
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.HELD,
                reason=message,
                columns={"printer": None, "owner": None, "error": message[:1000]},
                reasons=(JobReason.HELD_BY_POLICY, code),
            )
            session.commit()
        self.result.held += 1
        self.result.errors.append(f"job {job.id} held: {message}")
        log.error("job held", printer=self.name, job=job.id, reason=message)
        self.notify(WorkerEvent(self.name, "held", job.id, message))

    def _abort(self, job: Job, reason: str, *, state: JobState = JobState.PROCESSING) -> None:
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.ABORTED,
                from_state=state,
                reason=reason,
                columns={"error": reason[:1000]},
                reasons=(JobReason.ATTEMPTS_EXHAUSTED,),
            )
            set_record_state(
                session,
                job.record_pk,
                RecordState.FAILED,
                reason=reason,
                actor=self.actor,
                station=self.station,
                clock=self.clock,
            )
            session.commit()
        self.result.aborted += 1
        self.result.errors.append(f"job {job.id}: {reason}")
        log.error("job aborted", printer=self.name, job=job.id, reason=reason)
        self.notify(WorkerEvent(self.name, "aborted", job.id, reason))

    # ------------------------------------------------------------------ the printer's state

    def _record_stop(self, stop: _Stop) -> None:
        self.result.stop_reason = str(stop)
        self.result.stop_reasons = (stop.reason.value,)
        self.result.stop_clears_itself = stop.auto_resume
        if stop.reason is PrinterReason.PAUSED:  # a person's wish, not a fault
            log.info("printer paused", printer=self.name, reason=str(stop))
        else:
            log.error("printer stopped", printer=self.name, reason=str(stop))
        self.notify(WorkerEvent(self.name, "stopped", None, str(stop)))

    def _printer_state(
        self,
        state: PrinterRunState,
        *,
        reasons: Iterable[str] = (),
        reason: str = "",
        auto_resume: bool = False,
    ) -> None:
        """Show a change of the printer's state while the run goes on.

        A printer a person paused meanwhile (while it waited for a condition) keeps showing
        ``paused``: the run takes no new card, and its end records the pause.
        """
        with Session(self.engine) as session:
            if is_paused(session.get(PrinterRow, self.name, with_for_update=True)):
                return
            self._transition(
                session, state, reasons=reasons, reason=reason, auto_resume=auto_resume
            )
            session.commit()

    def _transition(
        self,
        session: Session,
        state: PrinterRunState,
        *,
        reasons: Iterable[str] = (),
        reason: str = "",
        auto_resume: bool = False,
    ) -> None:
        """Move the printer's row in ``session``, with the levels last read."""
        if state is PrinterRunState.PROCESSING and not reasons:
            reasons = self._warnings  # a printer that goes on still warns
            reason = reason or (f"warning: {', '.join(self._warnings)}" if self._warnings else "")
        transition_printer(
            session,
            self.name,
            state,
            actor=self.actor,
            station=self.station,
            clock=self.clock,
            url=self.printer.url,
            reasons=reasons,
            reason=reason,
            auto_resume=auto_resume,
            counter=self.result.counter_end,
        )
        session.flush()  # the row exists from here on: _update_row may write to it
        self._update_row(session)

    def _update_row(self, session: Session, **values: Any) -> None:
        """Set columns of the printer's row in ``session``, with the levels last read."""
        if self._levels is not None:
            values = {**self._levels, **values}
            self._levels = None
        if values:
            session.execute(
                update(PrinterRow).where(col(PrinterRow.name) == self.name).values(**values)
            )

    def _note_levels(self, ribbon_panels_left: int | None, cards_in_hopper: int | None) -> None:
        """Keep a status read's levels for the next write of the printer's row."""
        self._ribbon_read = ribbon_panels_left
        self._levels = {
            "ribbon_panels_left": ribbon_panels_left,
            "cards_in_hopper": cards_in_hopper,
            "status_at": self.clock(),
        }
