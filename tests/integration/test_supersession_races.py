"""Supersession and concurrency: old data is never printed, a record never gets two jobs.

Each test pins one way a record could be printed twice or with outdated data, found in
review: a higher version arriving while a card is in the printer, a quarantined higher
version, two runs of one station, two batches created at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from drivers.conformance import blank_card_image
from drivers.sim import SimEncoder, SimPrinter
from printctl.center.bundles import BundleInfo, make_bundle, make_superseding_bundle
from printctl.center.keys import CenterKey, generate_center_key, write_key_pair
from printctl.hardware import CardImage, CardJam
from printctl.models import Job, Record
from printctl.queue.batches import BatchError, BatchFilters, create_batch, start_batch
from printctl.queue.station_lock import station_lock
from printctl.queue.worker import PrinterWorker
from printctl.service import (
    Context,
    UserError,
    import_bundles,
    inspect_job,
    new_batch,
    receive_stock,
    run_batches,
    stock,
    trust_key,
)


@pytest.fixture
def center(ctx: Context, tmp_path: Path) -> CenterKey:
    key = generate_center_key(seed=11)
    trust_key(ctx, write_key_pair(key, tmp_path / "center").public_pem, key.key_id)
    return key


def first_bundle(ctx: Context, center: CenterKey, tmp_path: Path, **kw: Any) -> BundleInfo:
    info = make_bundle(tmp_path / "in", key=center, count=1, seed=5, **kw)
    (outcome,) = import_bundles(ctx, [info.path])
    assert outcome.outcome == "imported"
    return info


def version_two(ctx: Context, center: CenterKey, tmp_path: Path, v1: BundleInfo, **kw: Any) -> Any:
    info = make_superseding_bundle(tmp_path / "in2", key=center, previous=v1, **kw)
    (outcome,) = import_bundles(ctx, [info.path])
    return outcome


def states(ctx: Context) -> dict[int, str]:
    with Session(ctx.engine) as session:
        return {r.version: r.state for r in session.exec(select(Record))}


def job_states(ctx: Context) -> list[str]:
    with Session(ctx.engine) as session:
        return [j.state for j in session.exec(select(Job).order_by(col(Job.id)))]


def running_batch(ctx: Context, blanks: int = 5) -> int:
    receive_stock(ctx, blanks, "L", load=["p1"])
    batch_id, _ = new_batch(ctx, BatchFilters())
    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    return batch_id


def worker(ctx: Context, printer: SimPrinter) -> PrinterWorker:
    return PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name="p1",
        printer=printer,
        encoder=SimEncoder("sim://"),
        render=lambda _r: blank_card_image(),
        station="s",
        clock=ctx.clock,
        retry_sleep=lambda _s: None,
    )


class ArrivesMidPrint(SimPrinter):
    """A printer during whose print the center's version 2 is imported."""

    def __init__(self, url: str, arrive: Any, jam: bool) -> None:
        super().__init__(url)
        self.arrive, self.jam, self.arrived = arrive, jam, False

    def print_card(self, image: CardImage) -> None:
        if not self.arrived:
            self.arrived = True
            self.arrive()
            if self.jam:
                super().print_card(image)
                raise CardJam("jammed", card_may_have_moved=True)
        super().print_card(image)


def test_version_arriving_mid_print_then_a_jam_never_prints_the_old_data(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """If v1's card jams after v2 arrived, v1 is superseded, not printed again; v2 waits."""
    v1 = first_bundle(ctx, center, tmp_path)
    running_batch(ctx)
    printer = ArrivesMidPrint(
        "sim://?cards=5", lambda: version_two(ctx, center, tmp_path, v1), jam=True
    )
    result = worker(ctx, printer).run()
    assert result.completed == 0
    assert states(ctx) == {1: "superseded", 2: "awaiting-approval"}
    assert job_states(ctx) == ["canceled"]
    assert (stock(ctx).issued, stock(ctx).spoiled) == (0, 1)


def test_version_arriving_mid_print_marks_the_card_outdated(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """If v1's card completes after v2 arrived, v1 is printed-outdated and v2 waits."""
    v1 = first_bundle(ctx, center, tmp_path)
    running_batch(ctx)
    printer = ArrivesMidPrint(
        "sim://?cards=5", lambda: version_two(ctx, center, tmp_path, v1), jam=False
    )
    assert worker(ctx, printer).run().completed == 1
    assert states(ctx) == {1: "printed-outdated", 2: "awaiting-approval"}


def test_a_quarantined_higher_version_still_supersedes(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """A version 2 the center marked DUPLICATE_RECORD stops version 1 from printing."""
    v1 = first_bundle(ctx, center, tmp_path)
    outcome = version_two(ctx, center, tmp_path, v1, bad_records={"duplicate-status": 1})
    assert outcome.quarantined and outcome.superseded
    assert states(ctx) == {1: "superseded"}
    with pytest.raises(UserError, match="no ready records"):
        new_batch(ctx, BatchFilters())


def test_a_new_version_of_a_printed_record_needs_a_decision(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """After v1 was printed, v2 is not simply ready: it is a reprint and waits for approval."""
    v1 = first_bundle(ctx, center, tmp_path)
    running_batch(ctx)
    worker(ctx, SimPrinter("sim://?cards=5")).run()
    outcome = version_two(ctx, center, tmp_path, v1)
    assert outcome.printed_outdated
    assert states(ctx) == {1: "printed-outdated", 2: "awaiting-approval"}


def test_inspection_does_not_requeue_a_superseded_record(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """A card in doubt whose data changed meanwhile is not printed again after inspection."""
    v1 = first_bundle(ctx, center, tmp_path)
    running_batch(ctx)
    worker(ctx, SimPrinter("sim://?cards=5&fault=print:1:timeout")).run()
    version_two(ctx, center, tmp_path, v1)
    assert states(ctx) == {1: "needs-inspection", 2: "awaiting-approval"}
    inspect_job(ctx, 1, "none")
    assert job_states(ctx) == ["canceled"]
    assert states(ctx) == {1: "superseded", 2: "awaiting-approval"}


def test_a_second_run_of_the_same_station_is_refused(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """While one run holds the station, another cannot start (and recover its live jobs)."""
    first_bundle(ctx, center, tmp_path)
    receive_stock(ctx, 5, "L", load=["p1"])
    batch_id, _ = new_batch(ctx, BatchFilters())
    from printctl.config import PrinterConfig

    printers = [PrinterConfig("p1", "sim://?cards=5", "sim://")]
    with (
        station_lock(ctx.engine, ctx.station),
        pytest.raises(UserError, match="another printctl run"),
    ):
        run_batches(ctx, [batch_id], printers)
    assert job_states(ctx) == ["pending"]
    assert run_batches(ctx, [batch_id], printers).completed == 1


@pytest.mark.postgres
def test_two_batches_created_at_once_never_share_a_record(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """On PostgreSQL, batch creations queue behind each other (they count the same free
    blanks): the second, started while the first is open, waits, then finds its records
    taken."""
    import threading

    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("the race needs concurrent writers (PostgreSQL); SQLite serialises them")
    first_bundle(ctx, center, tmp_path)
    receive_stock(ctx, 5, "L", load=["p1"])
    outcome: list[str] = []

    def second_operator() -> None:
        with Session(ctx.engine) as second:
            try:
                create_batch(
                    second,
                    name="b",
                    filters=BatchFilters(),
                    actor="b",
                    station="s",
                    clock=ctx.clock,
                )
                outcome.append("created")
            except BatchError as exc:
                outcome.append(str(exc))

    with Session(ctx.engine) as first:
        create_batch(
            first, name="a", filters=BatchFilters(), actor="a", station="s", clock=ctx.clock
        )
        waiting = threading.Thread(target=second_operator)
        waiting.start()
        waiting.join(timeout=0.5)  # it must still be waiting: the first is not committed
        assert waiting.is_alive() and outcome == []
        first.commit()
    waiting.join()
    assert len(outcome) == 1 and "no ready records" in outcome[0]
    assert job_states(ctx) == ["pending"]


def test_two_imports_of_one_bundle_at_once_store_it_once(
    ctx: Context, center: CenterKey, tmp_path: Path
) -> None:
    """Concurrent imports of the same bundle: one imports, the other stores nothing, no crash."""
    import threading

    info = make_bundle(tmp_path / "in", key=center, count=20, seed=8)
    outcomes: list[str] = []

    def run() -> None:
        (outcome,) = import_bundles(ctx, [info.path])
        outcomes.append(outcome.outcome)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["already-imported", "imported"], ["imported", "rejected"])
    with Session(ctx.engine) as session:
        assert len(session.exec(select(Record)).all()) == 20
