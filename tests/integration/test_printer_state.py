"""A stopped printer stays stopped across runs until a person resumes it."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from printctl.center.sample import sample_record
from printctl.config import PrinterConfig
from printctl.domain import Sex
from printctl.models import Record, RecordState
from printctl.queue.batches import BatchFilters
from printctl.records import seal_record
from printctl.service import (
    Context,
    UserError,
    inspect_job,
    jobs,
    new_batch,
    printers,
    receive_stock,
    resume,
    run_batches,
)


def seed(ctx: Context, count: int) -> int:
    rows = []
    for i in range(count):
        record = sample_record(
            record_id=f"PRR-P-{i:04d}",
            nik=f"140902170890{i + 1:04d}",
            name=f"WARGA {i}",
            sex=Sex.LAKI_LAKI,
        )
        rows.append(seal_record(record, ctx.cipher, bundle_id="B", state=RecordState.READY))
    with Session(ctx.engine) as session:
        session.execute(insert(Record), rows)
        session.commit()
    receive_stock(ctx, 20, "L", load=["p1"])
    batch_id, _ = new_batch(ctx, BatchFilters())
    return batch_id


@pytest.fixture
def blank_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering is not under test here: every card is a blank image."""
    from drivers.conformance import blank_card_image

    monkeypatch.setattr(
        "printctl.service.make_card_renderer", lambda _date: lambda _r: blank_card_image()
    )


@pytest.mark.usefixtures("blank_renderer")
def test_a_stopped_printer_waits_for_resume(ctx: Context) -> None:
    """An empty hopper stops the printer; the next run leaves it alone until it is resumed."""
    from dataclasses import replace

    batch_id = seed(ctx, 3)
    # This office's policy: an empty hopper stops the printer until someone resumes it.
    config = [
        PrinterConfig("p1", "sim://?cards=1", "sim://", policy=(("media-empty", "stop-printer"),))
    ]
    ctx.settings = replace(ctx.settings, printers=tuple(config))
    first = run_batches(ctx, [batch_id], config).workers[0]
    assert first.completed == 1 and first.stop_reason.startswith("media-empty")
    assert not first.stop_clears_itself
    second = run_batches(ctx, [batch_id], config).workers[0]
    assert second.completed == 0
    assert "resume with: printctl printers resume p1" in second.stop_reason
    (view,) = printers(ctx)
    assert (view.state, view.reason.split(" ")[0]) == ("stopped", "media-empty")
    assert view.reasons == ("media-empty",) and not view.clears_itself
    assert resume(ctx, "p1").startswith("media-empty")
    with pytest.raises(UserError, match="not stopped"):
        resume(ctx, "p1")
    refilled = [PrinterConfig("p1", "sim://?cards=5", "sim://")]
    assert run_batches(ctx, [batch_id], refilled).completed == 2


@pytest.mark.usefixtures("blank_renderer")
def test_a_stop_that_clears_itself_is_checked_again_by_the_next_run(ctx: Context) -> None:
    """Under the default policy an empty hopper waits (here: no wait allowed), leaves the
    printer stopped with a condition that clears itself, and the next run simply goes on."""
    from dataclasses import replace

    batch_id = seed(ctx, 3)
    config = [PrinterConfig("p1", "sim://?cards=1", "sim://")]
    ctx.settings = replace(ctx.settings, printers=tuple(config), wait_max_s=0.0)
    first = run_batches(ctx, [batch_id], config).workers[0]
    assert first.completed == 1 and first.stop_clears_itself
    (view,) = printers(ctx)
    assert (view.state, view.reasons, view.clears_itself) == ("stopped", ("media-empty",), True)
    refilled = [PrinterConfig("p1", "sim://?cards=5", "sim://")]
    assert run_batches(ctx, [batch_id], refilled).completed == 2
    assert printers(ctx)[0].state == "idle"


@pytest.mark.usefixtures("blank_renderer")
def test_resume_needs_the_inspection_first(ctx: Context) -> None:
    """A printer with a card awaiting inspection cannot be resumed, and takes no job."""
    from dataclasses import replace

    batch_id = seed(ctx, 2)
    config = [PrinterConfig("p1", "sim://?cards=5&fault=print:1:timeout", "sim://")]
    ctx.settings = replace(ctx.settings, printers=tuple(config))
    result = run_batches(ctx, [batch_id], config).workers[0]
    assert "needs inspection" in result.stop_reason
    with pytest.raises(UserError, match="awaiting inspection"):
        resume(ctx, "p1")
    retry = run_batches(ctx, [batch_id], [PrinterConfig("p1", "sim://?cards=5", "sim://")])
    assert "await inspection" in retry.workers[0].stop_reason
    (waiting,) = [j for j in jobs(ctx) if j.state == "needs-inspection"]
    inspect_job(ctx, waiting.id or 0, "none")
    assert printers(ctx)[0].awaiting_inspection == 0
    resume(ctx, "p1")
    final = run_batches(ctx, [batch_id], [PrinterConfig("p1", "sim://?cards=5", "sim://")])
    assert final.completed == 2


@pytest.mark.usefixtures("blank_renderer")
def test_paused_and_canceled_batches_give_out_no_jobs(ctx: Context) -> None:
    """A paused batch waits; a canceled one returns its records to ready; priority orders."""
    from printctl.service import change_batch

    first = seed(ctx, 2)
    config = [PrinterConfig("p1", "sim://?cards=10", "sim://")]
    change_batch(ctx, first, "pause")
    assert [j.state for j in jobs(ctx)] == ["pending", "pending"]
    assert change_batch(ctx, first, "cancel") == 2
    assert {j.state for j in jobs(ctx)} == {"canceled"}
    again, _ = new_batch(ctx, BatchFilters(limit=1))
    later, _ = new_batch(ctx, BatchFilters(limit=1))
    change_batch(ctx, later, "priority", 5)
    change_batch(ctx, again, "pause")
    result = run_batches(ctx, [later], config)
    assert result.completed == 1
    with pytest.raises(UserError, match="canceled already"):
        change_batch(ctx, first, "cancel")
