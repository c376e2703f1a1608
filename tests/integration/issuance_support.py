"""Shared set-up for the issuance tests: records sealed straight into the database, printed by
one simulated printer, and a clock that can jump forward by days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session, col, select

from drivers.conformance import blank_card_image
from drivers.sim import SimEncoder, SimPrinter
from printctl.center.sample import sample_record
from printctl.domain import RecordData, RequestType, Sex
from printctl.models import OutboxEvent, Record, RecordState
from printctl.queue.batches import BatchFilters, start_batch
from printctl.queue.worker import PrinterWorker, WorkerResult
from printctl.records import seal_record
from printctl.service import Context, new_batch, receive_stock


class JumpClock:
    """Advances one second per reading; :meth:`jump` moves it on by days."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def jump(self, *, days: float) -> None:
        self.now += timedelta(days=days)


def with_clock(ctx: Context, clock: JumpClock) -> Context:
    """The same context on another clock."""
    return replace(ctx, clock=clock)


def person(
    i: int,
    *,
    request_type: RequestType = RequestType.NEW,
    nik_serial: int | None = None,
    photo: bytes | None = None,
) -> RecordData:
    """Record ``i`` (PRR-I-0000i); people with the same ``nik_serial`` share a NIK."""
    serial = (i if nik_serial is None else nik_serial) + 1
    return sample_record(
        record_id=f"PRR-I-{i:05d}",
        nik=f"140902170890{serial:04d}",
        name=f"WARGA {i}",
        sex=Sex.LAKI_LAKI,
        photo=photo or b"jpeg-of-warga-%d" % i,
        signature=b"png",
        request_type=request_type,
    )


def seed(ctx: Context, records: list[RecordData], state: RecordState = RecordState.READY) -> None:
    """Store the records sealed, as an import would."""
    rows = [seal_record(r, ctx.cipher, bundle_id="B-ISSUE", state=state) for r in records]
    with Session(ctx.engine) as session:
        session.execute(insert(Record), rows)
        session.commit()


def print_ready(
    ctx: Context, *, blanks: int = 20, printer_url: str = "sim://?cards=50"
) -> WorkerResult:
    """Batch every ready record and print the batch on one simulated printer ``p1``."""
    receive_stock(ctx, blanks, "LOT-I", load=["p1"])
    batch_id, _ = new_batch(ctx, BatchFilters())
    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    worker = PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name="p1",
        printer=SimPrinter(printer_url),
        encoder=SimEncoder("sim://"),
        render=lambda _record: blank_card_image(),
        station="s",
        clock=ctx.clock,
        max_attempts=3,
        spoil_breaker=5,
        retry_sleep=lambda _s: None,
    )
    return worker.run()


def outbox_rows(ctx: Context) -> list[OutboxEvent]:
    """Every outbox event, oldest first."""
    with Session(ctx.engine) as session:
        return list(session.exec(select(OutboxEvent).order_by(col(OutboxEvent.id))).all())


def record_row(ctx: Context, record_id: str) -> Record:
    """The newest version of ``record_id``."""
    with Session(ctx.engine) as session:
        row = session.exec(
            select(Record)
            .where(col(Record.record_id) == record_id)
            .order_by(col(Record.version).desc())
        ).first()
        assert row is not None
        return row
