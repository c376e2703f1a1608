"""The printing half of ``printctl serve``: this station's printers, supervised for as long as
the process runs.

One slot per configured printer. The supervisor looks at every slot each ``poll_s`` (or at
once when :meth:`StationService.wake` is called): a slot without a live worker whose printer
may take jobs (:func:`printctl.printers.why_not_ready`) gets one. A worker runs until its
printer stops (a jam, a pause, a card in doubt…) or the service stops; a stopped printer is
not started again until it may take jobs again — a person resumed it, or its stop clears
itself (then it is retried every ``poll_s``). Each tick also marks done the running batches
whose jobs are all done, since nobody else would while the service keeps running.

Stopping (``stop`` set) lets every printer finish the card it holds; then the worker
threads are joined and the station deregistered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from printctl.config import PrinterConfig
from printctl.db import read_session, session_scope
from printctl.hardware import CardImage, HardwareError
from printctl.logs import get_logger
from printctl.models import PrinterReason, PrinterRunState
from printctl.printers import why_not_ready
from printctl.queue.station_lock import StationBusy, station_lock
from printctl.queue.store import transition_printer
from printctl.queue.worker import PrinterWorker, WorkerEvent, WorkerResult
from printctl.service import (
    Context,
    Device,
    UserError,
    finish_station_batches,
    make_card_renderer,
    make_worker,
    open_device,
    registered_station,
)
from printctl.stock.ledger import business_day

log = get_logger(__name__)


@dataclass
class _Slot:
    """One configured printer and what the supervisor knows of it."""

    config: PrinterConfig
    #: The printer's driver and encoder, made once and reused by each worker (drivers are
    #: opened and closed by the worker itself); None until made, or after making failed.
    device: Device | None = None
    thread: threading.Thread | None = None
    worker: PrinterWorker | None = None
    #: When the current worker started, or the last one ended.
    since: datetime | None = None
    last_event: WorkerEvent | None = None
    last_event_at: datetime | None = None
    #: Why the printer may not take jobs, as last seen by the supervisor ("": it may).
    not_ready: str = ""
    last_result: WorkerResult | None = None


class StationService:
    """Supervises one worker thread per configured printer until ``stop`` is set."""

    def __init__(
        self,
        ctx: Context,
        printers: Sequence[PrinterConfig],
        *,
        stop: threading.Event,
        poll_s: float | None = None,
        notify: Callable[[WorkerEvent], None] | None = None,
    ) -> None:
        self.ctx = ctx
        #: Blanks on hand that no printer may take: a night run sets it for its window
        #: (every worker asks before each feed), and sets it back to 0 after.
        self.stock_reserve = 0
        self.stop = stop
        self.poll_s = ctx.settings.poll_s if poll_s is None else poll_s
        self._notify_outer = notify
        self._slots = {config.name: _Slot(config) for config in printers}
        self._lock = threading.Lock()  # guards the slots' fields read by snapshot()
        #: Set by wake() (and on stop): the supervisor looks now. Cleared before each look,
        #: so a wake during a look is not lost.
        self._look = threading.Event()
        #: Idle workers wait on this between looks for work; wake() notifies them.
        self._idle_cond = threading.Condition()
        self._render: Callable[[Any], CardImage] | None = None

    # ------------------------------------------------------------------ the public face

    def run(self, *, hold_lock: bool = True) -> None:
        """Run the station until ``stop`` is set (blocking; ``serve`` calls it in a thread).

        Raises :class:`UserError` when another process runs this station already. With
        ``hold_lock=False`` the caller holds the station lock already (a night run does).
        """
        if not hold_lock:
            self._run_locked()
            return
        try:
            with station_lock(self.ctx.engine, self.ctx.station):
                self._run_locked()
        except StationBusy as exc:
            raise UserError(str(exc)) from None

    def wake(self) -> None:
        """Look at the printers now (after a batch was started or a printer resumed)."""
        self._look.set()
        with self._idle_cond:
            self._idle_cond.notify_all()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per printer, JSON-ready: whether its worker runs, since when, the last event seen,
        and why it may not take jobs (as the supervisor last saw it)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for name, slot in self._slots.items():
                event, at = slot.last_event, slot.last_event_at
                last: dict[str, Any] | None = None
                if event is not None:
                    last = {"kind": event.kind, "job_id": event.job_id, "detail": event.detail}
                    last["at"] = at.isoformat() if at else None
                result = slot.worker.result if slot.worker else slot.last_result
                out[name] = {
                    "running": slot.thread is not None and slot.thread.is_alive(),
                    "since": slot.since.isoformat() if slot.since else None,
                    "not_ready": slot.not_ready or None,
                    "completed": result.completed if result else 0,
                    "last_event": last,
                }
            return out

    # ------------------------------------------------------------------ supervision

    def _run_locked(self) -> None:
        # The stop event wakes the supervisor and idle workers at once, not after poll_s.
        watcher = threading.Thread(target=self._wake_on_stop, name="station-stop", daemon=True)
        watcher.start()
        with registered_station(self.ctx, self.stop):
            self._render = make_card_renderer(lambda: business_day(self.ctx.clock()))
            try:
                while not self.stop.is_set():
                    self._look.clear()
                    try:
                        self._tick()
                    except Exception:  # a database hiccup: the next tick tries again
                        log.exception("station supervisor tick failed", station=self.ctx.station)
                    self._look.wait(self.poll_s)
            finally:
                self.stop.set()  # also when the supervisor itself failed: workers end too
                self._join_workers()
            finish_station_batches(self.ctx)

    def _wake_on_stop(self) -> None:
        self.stop.wait()
        self.wake()

    def _tick(self) -> None:
        """Start a worker on each printer that may take jobs and has none; finish batches."""
        for slot in self._slots.values():
            if self.stop.is_set():
                return
            if slot.thread is not None and slot.thread.is_alive():
                continue
            with read_session(self.ctx.engine) as session:
                reason = why_not_ready(session, slot.config.name)
            with self._lock:
                slot.not_ready = reason or ""
            if reason is None:
                self._start(slot)
        finish_station_batches(self.ctx)

    def _start(self, slot: _Slot) -> None:
        """Start a worker thread on the slot's printer (making its devices on first use)."""
        name = slot.config.name
        if slot.device is None:
            try:
                slot.device = open_device(slot.config)
            except (UserError, HardwareError) as exc:
                self._device_failed(slot, exc)
                return
        assert self._render is not None
        worker = make_worker(
            self.ctx,
            slot.device,
            render=self._render,
            batch_ids=None,  # every running batch
            stop=self.stop,
            notify=self._notify,
            idle=self._idle,
            stock_reserve=lambda: self.stock_reserve,
        )
        thread = threading.Thread(target=self._drive, args=(slot, worker), name=f"worker-{name}")
        with self._lock:
            slot.worker, slot.thread, slot.since = worker, thread, self.ctx.clock()
        log.info("printer worker starting", printer=name, station=self.ctx.station)
        thread.start()

    def _device_failed(self, slot: _Slot, exc: Exception) -> None:
        """A printer whose devices cannot be made stops until a person resumes it."""
        name = slot.config.name
        log.error("printer devices cannot be opened", printer=name, error=str(exc))
        with session_scope(self.ctx.engine) as session:
            transition_printer(
                session,
                name,
                PrinterRunState.STOPPED,
                actor=self.ctx.actor,
                station=self.ctx.station,
                clock=self.ctx.clock,
                url=slot.config.url,
                reasons=(PrinterReason.DEVICE_ERROR,),
                reason=f"cannot open its devices: {exc}",
                auto_resume=False,
            )
        with self._lock:
            slot.not_ready = f"cannot open its devices: {exc}"

    def _drive(self, slot: _Slot, worker: PrinterWorker) -> None:
        """The worker thread: run the worker, then let the supervisor look at the slot."""
        try:
            worker.run()
        except Exception:  # its row could not be written: the next tick looks again
            log.exception("printer worker failed", printer=worker.name)
        finally:
            with self._lock:
                slot.last_result, slot.worker = worker.result, None
                slot.since = self.ctx.clock()
            self._look.set()

    def _join_workers(self) -> None:
        """Wait for every worker to finish the card it holds (``stop`` is set)."""
        for slot in self._slots.values():
            thread = slot.thread
            if thread is not None:
                thread.join()

    def _idle(self) -> bool:
        """A worker found no job: wait ``poll_s`` (or a wake); False once stopping."""
        if self.stop.is_set():
            return False
        with self._idle_cond:
            self._idle_cond.wait(self.poll_s)
        return not self.stop.is_set()

    def _notify(self, event: WorkerEvent) -> None:
        """Keep the last event per printer for snapshot(), then pass it on."""
        slot = self._slots.get(event.printer)
        if slot is not None:
            with self._lock:
                slot.last_event, slot.last_event_at = event, self.ctx.clock()
        if self._notify_outer is not None:
            try:
                self._notify_outer(event)
            except Exception:  # a display's failure must not stop a printer
                log.exception("event listener failed", printer=event.printer)
