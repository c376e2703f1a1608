"""``printctl demo``: the whole job end to end on simulated printers, in a fresh workspace.

A fake center signs a bundle of synthetic records (a few deliberately bad); the office
trusts the center's key, imports the bundle, receives blanks, approves the reprints (two
people), prints everything printable on simulated printers that jam, re-print and fail a
chip now and then, and writes a proof PDF and a run report. The summary says whether the
blank ledger balances, against the printers' own counters too.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlmodel import Session, col, select

from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key, write_key_pair
from printctl.config import load_settings
from printctl.crypto import generate_key_file
from printctl.domain import RequestType
from printctl.logs import configure_logging
from printctl.models import EvidenceKind, Job, JobState, Record, RecordState, utcnow
from printctl.progress import live_progress
from printctl.queue.batches import BatchFilters
from printctl.records import open_record
from printctl.render.card import write_proof_pdf
from printctl.reports.run_report import PrinterLine, RunReport, write_run_report
from printctl.service import (
    Context,
    UserError,
    import_bundles,
    new_batch,
    receive_stock,
    run_batches,
    stock,
    stock_report,
    trust_key,
)
from printctl.service_records import approve_reprint, request_reprint
from printctl.stock.ledger import business_day

# Rated 225 cards/hour (16 s a card) sped up 100×: a printer makes a card every 0.16 s.
_CARD_MS = 16_000
_TIMESCALE = 100

# Each printer gets its own trouble, so the demo shows every accountability path.
_FAULTS = [
    "fault=print:7:jam",  # a jam: the blank is spoiled, the job retried on a fresh one
    "fault=print:5:media-reprint",  # the printer re-prints on its own: two blanks for one card
    "fault=encode:4:sw6A82",  # a chip command fails: the card is rejected as encode failure
]

_BAD_RECORDS = {
    "duplicate-status": 2,
    "nik-sex-mismatch": 1,
    "broken-photo": 1,
    "missing-field": 1,
}


def _printer_lines(
    count: int,
    seed: int,
    *,
    faults: list[str] | None = None,
    timescale: int = _TIMESCALE,
    policy: dict[str, str] | None = None,
) -> str:
    """The ``[[printers]]`` tables: ``faults`` (one fault plan per printer, "" for none)
    defaults to the demo's own trouble; ``policy`` is every printer's fault-policy override."""
    plans = faults if faults is not None else [_FAULTS[i % len(_FAULTS)] for i in range(count)]
    lines = []
    for i in range(count):
        fault = plans[i] if i < len(plans) else ""
        printer_fault, encoder_fault = (
            ("", fault) if fault.startswith("fault=encode") else (fault, "")
        )
        url = f"sim://?cards=500&ribbon=1000&card_ms={_CARD_MS}&timescale={timescale}&serial=SIM{i + 1:04d}"
        if printer_fault:
            url += "&" + printer_fault
        encoder = f"sim://?seed={seed + i}"
        if encoder_fault:
            encoder += "&" + encoder_fault.replace("encode:", "run:")
        table = f'[[printers]]\nname = "sim-{i + 1}"\nurl = "{url}"\nencoder = "{encoder}"\n'
        if policy:
            table += "[printers.policy]\n" + "".join(f'{k} = "{v}"\n' for k, v in policy.items())
        lines.append(table)
    return "\n".join(lines)


def prepare_workspace(
    workdir: Path,
    *,
    printers: int,
    seed: int,
    station: str = "demo-station",
    **printer_options: Any,
) -> Path:
    """Write the demo's printctl.toml and data key into ``workdir``; returns the config path.
    ``printer_options`` go to the printer tables (faults, timescale, policy)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "printctl.toml"
    config.write_text(
        "# Written by `printctl demo`.\n"
        'office_name = "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Kuantan Singingi"\n'
        'regency_code = "14.09"\n'
        f'station = "{station}"\n'
        'database_url = "sqlite:///printctl.db"\n'
        'data_key_file = "data.key"\n'
        'log_file = "printctl.log.jsonl"\n\n' + _printer_lines(printers, seed, **printer_options),
        encoding="utf-8",
    )
    key = workdir / "data.key"
    if not key.exists():
        generate_key_file(key)
    return config


def run_demo(
    *,
    workdir: Path | None,
    records: int = 200,
    printers: int = 3,
    blanks: int = 250,
    seed: int = 7,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the demo; returns the summary (see ``printctl demo --json``)."""
    started = utcnow()
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="printctl-demo-"))
    elif (workdir / "printctl.db").exists():
        raise UserError(f"{workdir} already holds a printctl database; use an empty folder")
    say = console.print if console is not None else (lambda *_a, **_k: None)
    config = prepare_workspace(workdir, printers=printers, seed=seed)
    settings = load_settings(config, environ={})
    configure_logging(
        settings.resolve(settings.log_file) if settings.log_file else None, console=None
    )
    ctx = Context.open(settings, actor="demo-operator")
    try:
        say(f"[bold]printctl demo[/] in {workdir}")
        center_key = generate_center_key(seed=seed)
        key_files = write_key_pair(center_key, workdir / "center")
        trust_key(ctx, key_files.public_pem, center_key.key_id)
        bundle = make_bundle(
            workdir / "inbox",
            key=center_key,
            count=records,
            seed=seed,
            bad_records=_BAD_RECORDS,
            request_types={
                RequestType.NEW: 0.94,
                RequestType.REPLACE_LOST: 0.03,
                RequestType.DATA_CHANGE: 0.03,
            },
        )
        say(f"center signed {bundle.path.name} ({records} records)")
        (outcome,) = import_bundles(ctx, [bundle.path])
        if outcome.outcome != "imported":
            raise RuntimeError(f"demo bundle was {outcome.outcome}: {outcome.reason}")
        say(
            f"imported {outcome.imported} records, quarantined {len(outcome.quarantined)}: "
            + ", ".join(sorted({q["reason"].split(":")[0] for q in outcome.quarantined}))
        )
        approved = _approve_reprints(ctx)
        if approved:
            say(f"supervisor approved {approved} reprints (requested by demo-operator)")
        # The delivery goes straight into the printers' hoppers, shared evenly.
        receive_stock(
            ctx,
            blanks,
            "DEMO-LOT-1",
            note="demo delivery",
            load=[p.name for p in settings.printers],
        )
        stock_before = stock(ctx).on_hand
        batch_id, jobs = new_batch(ctx, BatchFilters(), name="demo batch")
        say(
            f"received {blanks} blanks; batch {batch_id} has {jobs} jobs; printing on {printers} printers"
        )

        names = [p.name for p in settings.printers]
        with live_progress(console, total=jobs, printers=names) as notify:
            result = run_batches(ctx, [batch_id], settings.printers, notify=notify)

        after = stock(ctx)
        report = stock_report(ctx)
        proof = workdir / "proof.pdf"
        printed = _write_proof(ctx, proof, business_day(started))
        with Session(ctx.engine) as session:
            job_states = Counter(session.exec(select(Job.state)).all())
        hardware_taken = [w.blanks_taken for w in result.workers]
        ledger_used = after.issued + after.spoiled + after.in_doubt
        balanced = stock_before - after.on_hand == ledger_used and (
            None in hardware_taken or sum(t or 0 for t in hardware_taken) == ledger_used
        )
        report_pdf = write_run_report(
            RunReport(
                office_name=settings.office_name,
                station=settings.station,
                started_at=started,
                finished_at=utcnow(),
                records_imported=outcome.imported,
                records_quarantined=len(outcome.quarantined),
                quarantine_reasons=dict(
                    Counter(q["reason"].split(":")[0] for q in outcome.quarantined)
                ),
                printers=[
                    PrinterLine(
                        name=w.printer,
                        url=settings.printer(w.printer).url,
                        issued=w.completed,
                        spoiled=w.spoiled,
                        aborted=w.aborted,
                        needs_inspection=w.needs_inspection,
                        stop_reason=w.stop_reason,
                    )
                    for w in result.workers
                ],
                stock_before=stock_before,
                stock_after=after.on_hand,
                issued=after.issued,
                spoiled=after.spoiled,
                in_doubt=after.in_doubt,
                spoiled_by_reason=report["spoiled_by_reason"],
                balanced=balanced,
                problems=[e for w in result.workers for e in w.errors]
                + [
                    f"{w.printer} stopped: {w.stop_reason}" for w in result.workers if w.stop_reason
                ],
            ),
            workdir / "run-report.pdf",
        )
        summary: dict[str, Any] = {
            "workdir": str(workdir),
            "records_imported": outcome.imported,
            "records_quarantined": len(outcome.quarantined),
            "quarantined": outcome.quarantined,
            "reprints_approved": approved,
            "jobs": jobs,
            "job_states": dict(job_states),
            "cards_issued": after.issued,
            "blanks_spoiled": after.spoiled,
            "blanks_in_doubt": after.in_doubt,
            "spoiled_by_reason": report["spoiled_by_reason"],
            "stock_before": stock_before,
            "stock_after": after.on_hand,
            "printer_counters": {w.printer: w.blanks_taken for w in result.workers},
            "balanced": balanced,
            "proof_pdf": str(proof),
            "proof_cards": printed,
            "report_pdf": str(report_pdf),
            "seconds": round((utcnow() - started).total_seconds(), 1),
        }
        say(
            f"issued {after.issued} cards, spoiled {after.spoiled} blanks "
            f"({', '.join(f'{k} {v}' for k, v in sorted(report['spoiled_by_reason'].items()))}); "
            f"stock {stock_before} → {after.on_hand}; ledger "
            + ("[green]balances[/]" if balanced else "[bold red]DOES NOT BALANCE[/]")
        )
        say(f"proof: {proof}\nreport: {report_pdf}")
        return summary
    finally:
        ctx.close()


def _approve_reprints(ctx: Context) -> int:
    """The demo's supervisor approves every reprint the operator asks for."""
    with Session(ctx.engine) as session:
        waiting = session.exec(
            select(Record.record_id, Record.request_type).where(
                col(Record.state) == RecordState.AWAITING_APPROVAL.value
            )
        ).all()
    supervisor = replace(ctx, actor="demo-supervisor")
    for n, (record_id, request_type) in enumerate(waiting, start=1):
        # The paper each kind of reprint rests on: a police letter, the damaged card's chip
        # UID (handed in at the counter), the updated family card's number.
        evidence = {
            RequestType.REPLACE_DAMAGED.value: f"04DE{n:010X}",
            RequestType.DATA_CHANGE.value: f"140901010101{n:04d}",
        }.get(request_type, f"LP/{n}/XII/2026")
        kind = EvidenceKind.POLICE_LETTER if request_type == RequestType.NEW.value else None
        request_reprint(ctx, record_id, evidence=evidence, kind=kind)
        approve_reprint(supervisor, record_id)
    return len(waiting)


def _write_proof(ctx: Context, path: Path, issue_date: Any) -> int:
    """A proof PDF of every card issued (front and back)."""
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(Record)
            .join(Job, col(Job.record_pk) == col(Record.id))
            .where(col(Job.state) == JobState.COMPLETED.value)
            .order_by(col(Job.id))
        ).all()
        cards = [(open_record(row, ctx.cipher), issue_date) for row in rows]
    return write_proof_pdf(cards, path)


#: A training office prints at 20× the rated speed: a card every 0.8 s, slow enough to watch.
TRAINING_TIMESCALE = 20


def prepare_office(
    workdir: Path,
    *,
    records: int = 60,
    printers: int = 2,
    blanks: int = 100,
    seed: int = 7,
    timescale: int = TRAINING_TIMESCALE,
    faults: list[str] | None = None,
    policy: dict[str, str] | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """A training office for the console, ready for a first batch: simulated printers (no
    faults unless ``faults`` gives a plan per printer), a fake center's bundle imported,
    blanks received and loaded into the hoppers, lost-card reprints waiting for their
    request. Nothing is printed: that is the operator's job, in ``printctl serve``."""
    if (workdir / "printctl.db").exists():
        raise UserError(f"{workdir} already holds a printctl database; use an empty folder")
    say = console.print if console is not None else (lambda *_a, **_k: None)
    config = prepare_workspace(
        workdir,
        printers=printers,
        seed=seed,
        station="training-station",
        faults=faults if faults is not None else [""] * printers,
        timescale=timescale,
        policy=policy,
    )
    settings = load_settings(config, environ={})
    configure_logging(
        settings.resolve(settings.log_file) if settings.log_file else None, console=None
    )
    from printctl.service_sync import station_key

    ctx = Context.open(settings, actor="training-setup")
    try:
        station_key(ctx, create=True)
        center_key = generate_center_key(seed=seed)
        key_files = write_key_pair(center_key, workdir / "center")
        trust_key(ctx, key_files.public_pem, center_key.key_id)
        bundle = make_bundle(
            workdir / "inbox",
            key=center_key,
            count=records,
            seed=seed,
            request_types={RequestType.NEW: 0.9, RequestType.REPLACE_LOST: 0.1},
        )
        (outcome,) = import_bundles(ctx, [bundle.path])
        if outcome.outcome != "imported":
            raise RuntimeError(f"training bundle was {outcome.outcome}: {outcome.reason}")
        receive_stock(
            ctx,
            blanks,
            "TRAINING-LOT-1",
            note="training delivery",
            load=[p.name for p in settings.printers],
        )
        with Session(ctx.engine) as session:
            states = Counter(session.exec(select(Record.state)).all())
        say(
            f"Training office in {workdir}: {outcome.imported} records "
            f"({states.get(RecordState.READY.value, 0)} ready, "
            f"{states.get(RecordState.AWAITING_APPROVAL.value, 0)} reprints awaiting a request), "
            f"{blanks} blanks in {printers} simulated printers."
        )
        return {
            "workdir": str(workdir),
            "config": str(config),
            "records": outcome.imported,
            "states": dict(states),
            "blanks": blanks,
            "printers": [p.name for p in settings.printers],
        }
    finally:
        ctx.close()
