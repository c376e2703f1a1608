"""The worker: one per printer, it claims jobs and drives one card at a time through the printer.

The order inside a job is the accountability rule: **persist, then act**. Before the printer
is told to take a blank the job's step is committed as ``feeding``; before each further move
the step is committed again. Whatever happens next, the database says how far the card got.

How a failure ends (the error's two facts decide, see :mod:`printctl.hardware`):

* no card moved (``feeding`` failed and the error says no card moved): the job goes back to
  pending without touching the ledger; a retryable condition is retried a few times, then
  the printer stops with the condition as its reason;
* a card moved and the printer told us what happened (jam, media error, ribbon out, chip
  failure): the blank is spoiled with its reason, the card goes to the reject bin, and the
  job goes back to pending for a fresh blank, until ``max_attempts`` blanks were spoiled;
* a card may have moved and we cannot know (the printer stopped answering): the job becomes
  ``needs-inspection``, its blank is *in doubt*, and this printer takes no new job. No record
  is printed again until a person has looked.

After each card the printer's own lifetime counter is read again: if the printer took more
blanks than the job accounts for (Evolis re-prints once on its own after a media error), the
extra blanks are recorded as spoiled, so the ledger always matches the hardware.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func
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
    RibbonOut,
)
from printctl.logs import get_logger
from printctl.models import (
    Job,
    JobState,
    JobStep,
    LedgerEntry,
    LedgerKind,
    PrinterRow,
    Record,
    RecordState,
    SpoilReason,
)
from printctl.queue.store import (
    TransitionConflict,
    claim_next_job,
    set_record_state,
    transition_job,
)
from printctl.records import has_newer_version, open_record
from printctl.stock import balance, record_issued, record_spoiled

log = get_logger(__name__)

Renderer = Callable[[RecordData], CardImage]


class RenderFailed(Exception):
    """Raised by a renderer adapter when a record cannot be drawn (e.g. the name won't fit)."""


@dataclass(frozen=True)
class WorkerEvent:
    """A progress notice for displays: what just happened on which printer."""

    printer: str
    kind: str  # completed | spoiled | retry | aborted | needs-inspection | stopped
    job_id: int | None = None
    detail: str = ""


@dataclass
class WorkerResult:
    """What one worker did before it stopped."""

    printer: str
    completed: int = 0
    spoiled: int = 0
    aborted: int = 0
    needs_inspection: int = 0
    stop_reason: str = ""
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


class _StopPrinter(Exception):
    """Internal: the printer must stop taking jobs (reason in the message)."""


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
        retry_limit: int = 3,
        spoil_breaker: int = 5,
        encode_deadline: float = 30.0,
        rest_after: int = 0,
        rest_seconds: float = 0.0,
        idle: Callable[[], bool] | None = None,
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
        self.retry_sleep = retry_sleep or (lambda seconds: self.stop.wait(seconds))
        self.retry_limit = retry_limit
        self.actor = f"worker:{name}"
        self.owner = uuid.uuid4().hex  # this run's claim token: only it may move its jobs
        self.spoil_breaker = spoil_breaker
        self.encode_deadline = encode_deadline
        self.rest_after = rest_after
        self.rest_seconds = rest_seconds
        #: Called when no job is claimable: True means "wait done, look again", False "finish".
        #: A batch run finishes (None); a station run waits for work until it is stopped.
        self.idle = idle
        self._cards_since_rest = 0
        self._spoiled_in_a_row = 0
        self.result = WorkerResult(printer=name)

    # ------------------------------------------------------------------ main loop

    def run(self) -> WorkerResult:
        """Print until no job is left, the printer must stop, or ``stop`` is set."""
        try:
            self._run()
        finally:
            self._set_printer_row(
                "stopped" if self.result.stop_reason else "idle", self.result.stop_reason
            )
        return self.result

    def _run(self) -> None:
        try:
            self.printer.open()
            self.encoder.open()
            self.result.counter_start = self._read_counter()
        except HardwareError as exc:
            self._stop_printer(f"cannot start: {exc.code}: {exc}")
            self._close_devices()
            return
        try:
            while not self.stop.is_set():
                try:
                    job = self._claim()
                except Exception as exc:  # the database failed: nothing was claimed
                    log.exception("claim failed", printer=self.name)
                    self._stop_printer(f"internal error while taking the next job: {exc!r}")
                    break
                if job is None:
                    if self.idle is not None and self.idle():
                        continue
                    break
                try:
                    self._process(job)
                    self._maybe_rest()
                except _StopPrinter as exc:
                    self._stop_printer(str(exc))
                    break
                except Exception as exc:  # a bug or a database failure: stop, never hide it
                    log.exception("worker failed", printer=self.name, job=job.id)
                    self._stop_printer(f"internal error on job {job.id}: {exc!r}")
                    self._after_unexpected(job, exc)
                    break
        finally:
            try:
                self.result.counter_end = self._read_counter()
            except HardwareError as exc:
                log.warning("final counter read failed", printer=self.name, error=str(exc))
            self._close_devices()

    def _maybe_rest(self) -> None:
        """Duty cycle: after ``rest_after`` cards, let the printer cool for ``rest_seconds``."""
        if not self.rest_after or self._cards_since_rest < self.rest_after:
            return
        self.notify(WorkerEvent(self.name, "cooling", None, f"{self.rest_seconds:g} s"))
        log.info("printer resting", printer=self.name, seconds=self.rest_seconds)
        self.retry_sleep(self.rest_seconds)  # an injected wait; returns early on stop
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
        if current is None or current.state != JobState.PROCESSING.value:
            return
        try:
            if current.step in (JobStep.NONE.value, JobStep.RENDERING.value):
                self._abort(job, f"internal error before any card moved: {exc!r}")
            else:
                self._needs_inspection(
                    job, JobStep(current.step), f"internal error while {current.step}: {exc!r}"
                )
        except Exception:  # the database itself may be what failed; recovery will see it
            log.exception("could not record the failure", printer=self.name, job=job.id)

    def _claim(self) -> Job | None:
        with Session(self.engine, expire_on_commit=False) as session:
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

    # ------------------------------------------------------------------ one job

    def _process(self, job: Job) -> None:
        assert job.id is not None
        with read_session(self.engine) as session:
            row = session.get(Record, job.record_pk)
            assert row is not None
            record = open_record(row, self.cipher)
        try:
            image = self.render(record)
        except RenderFailed as exc:
            self._abort(job, f"render failed: {exc}")
            return
        try:
            capabilities = self.printer.capabilities()
            before = self._read_counter()
        except HardwareError as exc:
            self._hand_back(job, f"status read failed: {exc}")
            raise _StopPrinter(f"{exc.code}: {exc}") from exc
        station = capabilities.encoder_station
        if station is None:
            # An e-KTP without its chip written is no card: never print one.
            self._hand_back(job, "the printer has no chip-encoding station")
            raise _StopPrinter("this printer has no chip-encoding station; e-KTP cards need one")
        encode_first = capabilities.encode_before_print
        self._enter_feeding(job)

        step = JobStep.FEEDING
        try:
            self._retrying(job, self.printer.feed)
            chip_uid: str | None = None
            if encode_first:
                step = self._step(job, JobStep.ENCODING)
                self.printer.move_to_encoder(station)
                chip_uid = self._encode(job, record)
            step = self._step(job, JobStep.PRINTING)
            self.printer.print_card(image)
            if not encode_first:
                step = self._step(job, JobStep.ENCODING)
                self.printer.move_to_encoder(station)
                chip_uid = self._encode(job, record)
            step = self._step(job, JobStep.EJECTING)
            self.printer.eject()
        except _NoCardMoved as exc:
            self._hand_back(job, str(exc.error))
            raise _StopPrinter(f"{exc.error.code}: {exc.error}") from exc.error
        except HardwareError as exc:
            self._card_failed(job, step, exc, before)
            return
        self._complete(job, record, chip_uid, before)

    def _retrying(self, job: Job, call: Callable[[], None]) -> None:
        """Feed, retrying conditions that clear by themselves; no card moved on failure."""
        for attempt in range(self.retry_limit + 1):
            try:
                call()
                return
            except HardwareError as exc:
                if exc.card_may_have_moved:
                    raise
                if not exc.retryable or attempt == self.retry_limit:
                    raise _NoCardMoved(exc) from exc
                self.notify(WorkerEvent(self.name, "retry", job.id, f"{exc.code}: {exc}"))
                log.info("retrying feed", printer=self.name, job=job.id, error=exc.code)
                self.retry_sleep(min(2.0**attempt, 30.0))
                if self.stop.is_set():
                    raise _NoCardMoved(exc) from exc

    def _move(
        self,
        session: Session,
        job: Job,
        to_state: JobState,
        *,
        step: JobStep = JobStep.NONE,
        reason: str = "",
        audit: bool = True,
        columns: dict[str, object] | None = None,
    ) -> None:
        """Move this run's own job out of ``processing`` (or to a new step inside it)."""
        assert job.id is not None
        transition_job(
            session,
            job.id,
            from_state=JobState.PROCESSING,
            to_state=to_state,
            step=step,
            reason=reason,
            actor=self.actor,
            station=self.station,
            clock=self.clock,
            owner=self.owner,
            audit=audit,
            columns=columns,
        )

    def _encode(self, job: Job, record: RecordData) -> str:
        """Run the chip script while the card is parked, within the encode deadline.

        A card must not wait at the station forever: past the deadline the card is rejected
        (as an encode failure) even if the reader is still busy. The UID is persisted on the
        job as soon as it is known.
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
        uid = str(outcome["uid"])
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.PROCESSING,
                step=JobStep.ENCODING,
                audit=False,
                columns={"chip_uid": uid},
            )
            session.commit()
        return uid

    def _read_counter(self) -> int | None:
        return self.printer.status().cards_inserted

    def _step(self, job: Job, step: JobStep) -> JobStep:
        """Persist the next step before the printer is told to act."""
        assert job.id is not None
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.PROCESSING,
                step=step,
                audit=False,  # steps are journaled by the outcome event; keeps the log readable
            )
            session.commit()
        return step

    def _enter_feeding(self, job: Job) -> None:
        """Commit ``feeding`` if a blank is on hand for it; else hand the job back and stop."""
        assert job.id is not None
        with Session(self.engine) as session:
            # on_hand already excludes the blanks other printers hold right now.
            if balance(session).on_hand <= 0:
                session.rollback()
                self._hand_back(job, "no blanks on hand")
                raise _StopPrinter("out of stock: no blanks on hand in the ledger")
            self._move(
                session,
                job,
                JobState.PROCESSING,
                step=JobStep.FEEDING,
                audit=False,
            )
            session.commit()

    # ------------------------------------------------------------------ outcomes

    def _blanks_taken(self, before: int | None, *, at_least: int) -> int:
        """How many blanks the printer took for this job, from its own counter when it has one.

        Without a counter reading, one blank is assumed (the card the job fed).
        """
        try:
            after = self._read_counter()
        except HardwareError as exc:
            log.warning("counter read failed after card", printer=self.name, error=str(exc))
            return 1
        if before is None or after is None:
            return 1
        return max(at_least, after - before)

    def _complete(
        self, job: Job, record: RecordData, chip_uid: str | None, before: int | None
    ) -> None:
        assert job.id is not None
        taken = self._blanks_taken(before, at_least=1)
        with Session(self.engine) as session:
            if taken > 1:
                record_spoiled(
                    session,
                    quantity=taken - 1,
                    reason=SpoilReason.PRINT_FAILED,
                    job_id=job.id,
                    printer=self.name,
                    note=f"printer re-printed on its own: its counter rose by {taken}",
                    actor=self.actor,
                    station=self.station,
                    clock=self.clock,
                )
            record_issued(
                session,
                job_id=job.id,
                printer=self.name,
                chip_uid=chip_uid,
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
        if taken > 1:
            self.result.spoiled += taken - 1
        self._spoiled_in_a_row = 0
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

    def _card_failed(self, job: Job, step: JobStep, exc: HardwareError, before: int | None) -> None:
        assert job.id is not None
        if isinstance(exc, ConnectionLost):
            self._needs_inspection(job, step, f"{exc.code}: {exc}")
            raise _StopPrinter(
                f"job {job.id} needs inspection: the printer stopped answering while {step.value}"
            ) from exc
        # The printer reported what happened: the card is spoiled. Get it out of the path,
        # having first written down that we are doing so.
        try:
            if self.printer.status().card_position is not CardPosition.NONE:
                self._step(job, JobStep.REJECTING)
                self.printer.reject()
        except HardwareError as reject_exc:
            self._needs_inspection(
                job, step, f"{exc.code}, then the card could not be rejected: {reject_exc}"
            )
            raise _StopPrinter(
                f"job {job.id} needs inspection: the card could not be rejected ({reject_exc})"
            ) from reject_exc
        if isinstance(exc, NoCard):
            reason = SpoilReason.NO_CHIP  # the card was parked, its chip did not answer
        elif isinstance(exc, EncoderError) or step is JobStep.ENCODING:
            reason = SpoilReason.ENCODE_FAILED
        else:
            reason = SpoilReason.PRINT_FAILED
        # A blank that never left the hopper (the counter did not move) is not spoiled.
        taken = self._blanks_taken(before, at_least=0)
        with Session(self.engine) as session:
            if taken:
                record_spoiled(
                    session,
                    quantity=taken,
                    reason=reason,
                    job_id=job.id,
                    printer=self.name,
                    note=f"{exc.code} while {step.value}: {exc}",
                    actor=self.actor,
                    station=self.station,
                    clock=self.clock,
                )
            spoiled_for_job = session.exec(
                select(func.coalesce(func.sum(LedgerEntry.quantity), 0)).where(
                    col(LedgerEntry.job_id) == job.id,
                    col(LedgerEntry.kind) == LedgerKind.SPOILED.value,
                )
            ).one()
            session.commit()
        self.result.spoiled += taken
        self._spoiled_in_a_row += taken
        log.warning("blank spoiled", printer=self.name, job=job.id, step=step.value, error=exc.code)
        self.notify(WorkerEvent(self.name, "spoiled", job.id, f"{exc.code} while {step.value}"))
        # A device fault (reader unplugged, ribbon out) says nothing about this record: the job
        # goes back untouched by the attempt limit, and the printer stops until it is fixed.
        # A reader that hangs past the deadline is as broken as one that is gone.
        device_fault = isinstance(exc, RibbonOut | EncodeDeadline) or (
            isinstance(exc, EncoderError) and exc.retryable and not isinstance(exc, NoCard)
        )
        if not device_fault and spoiled_for_job >= self.max_attempts:
            self._abort(
                job, f"{spoiled_for_job} blanks spoiled (last: {exc.code} while {step.value})"
            )
        else:
            self._hand_back(job, f"{exc.code} while {step.value}; retrying on a fresh blank")
        if device_fault:
            raise _StopPrinter(f"{exc.code}: {exc}")
        if self._spoiled_in_a_row >= self.spoil_breaker:
            # Something is wrong with this printer or its blanks, not with the records.
            raise _StopPrinter(
                f"{self._spoiled_in_a_row} blanks spoiled in a row (last: {exc.code}); "
                "check the printer and its blanks"
            )

    def _needs_inspection(self, job: Job, step: JobStep, why: str) -> None:
        assert job.id is not None
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.NEEDS_INSPECTION,
                step=step,
                reason=why,
                columns={"error": f"outcome unknown while {step.value}: {why}"[:1000]},
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

    def _hand_back(self, job: Job, reason: str) -> None:
        """Return the job to pending; if its record was superseded meanwhile, cancel it."""
        assert job.id is not None
        with Session(self.engine) as session:
            newer = has_newer_version(session, job.record_pk)
            try:
                self._move(
                    session,
                    job,
                    JobState.CANCELED if newer else JobState.PENDING,
                    reason=reason + ("; a higher version has arrived" if newer else ""),
                    columns={"printer": None, "owner": None, "error": reason[:1000]},
                )
            except TransitionConflict:
                log.error("hand back lost a race", job=job.id)
                return
            if newer:
                set_record_state(
                    session,
                    job.record_pk,
                    RecordState.SUPERSEDED,
                    reason="a higher version arrived before this record was printed",
                    actor=self.actor,
                    station=self.station,
                    clock=self.clock,
                )
            session.commit()
        self.notify(WorkerEvent(self.name, "retry", job.id, reason))

    def _abort(self, job: Job, reason: str) -> None:
        assert job.id is not None
        with Session(self.engine) as session:
            self._move(
                session,
                job,
                JobState.ABORTED,
                reason=reason,
                columns={"error": reason[:1000]},
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

    def _stop_printer(self, reason: str) -> None:
        self.result.stop_reason = reason
        log.error("printer stopped", printer=self.name, reason=reason)
        self.notify(WorkerEvent(self.name, "stopped", None, reason))

    def _set_printer_row(self, state: str, reason: str) -> None:
        counter = self.result.counter_end
        with Session(self.engine) as session:
            row = session.get(PrinterRow, self.name) or PrinterRow(
                name=self.name, url=self.printer.url, station=self.station
            )
            row.state = state
            row.reason = reason[:500]
            row.cards_inserted = counter if counter is not None else row.cards_inserted
            row.updated_at = self.clock()
            session.add(row)
            session.commit()


class _NoCardMoved(Exception):
    """Internal: the feed failed for good and no blank left the hopper."""

    def __init__(self, error: HardwareError) -> None:
        super().__init__(str(error))
        self.error = error
