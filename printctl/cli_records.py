"""``printctl records …`` decisions, ``printctl handover`` and retention. Mounted by
:mod:`printctl.cli` (``records list`` lives there with the other listings)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from printctl.cli_common import JsonOpt, _context, _print_json, out
from printctl.models import EvidenceKind


def register(app: typer.Typer, records_app: typer.Typer) -> None:
    """Mount these commands on the root app and its ``records`` group."""
    records_app.command("request-reprint")(records_request_reprint)
    records_app.command("approve")(records_approve)
    records_app.command("refuse")(records_refuse)
    records_app.command("surrender")(records_surrender)
    records_app.command("overdue")(records_overdue)
    records_app.command("erase-expired")(records_erase_expired)
    app.command("handover")(handover_cmd)


def records_request_reprint(
    record_id: Annotated[str, typer.Argument(help="The record awaiting approval.")],
    evidence: Annotated[
        str,
        typer.Option(
            help="The reference: the police letter's number, the surrendered card's chip UID, "
            "or the updated family card (KK) number."
        ),
    ],
    evidence_kind: Annotated[
        EvidenceKind | None,
        typer.Option(
            "--evidence-kind",
            help="What the evidence is (default by request type: REPLACE_LOST police-letter, "
            "REPLACE_DAMAGED surrendered-card, DATA_CHANGE family-card).",
        ),
    ] = None,
) -> None:
    """Ask for a reprint (the first of two people): records who asks and the evidence."""
    from printctl.service_records import request_reprint

    with _context() as ctx:
        label = request_reprint(ctx, record_id, evidence=evidence, kind=evidence_kind)
    out.print(f"Requested a reprint of {label}; a supervisor must approve or refuse it.")


def records_approve(
    record_id: Annotated[str, typer.Argument(help="The record to approve for reprint.")],
) -> None:
    """Approve a requested reprint (a supervisor, never the one who asked)."""
    from printctl.service_records import approve_reprint

    with _context() as ctx:
        label = approve_reprint(ctx, record_id)
    out.print(f"Approved {label} for printing.")


def records_refuse(
    record_id: Annotated[str, typer.Argument(help="The record whose reprint is refused.")],
    reason: Annotated[str, typer.Option(help="Why (it is kept with the record).")],
) -> None:
    """Refuse a requested reprint (a supervisor, never the one who asked): never printed."""
    from printctl.service_records import refuse_reprint

    with _context() as ctx:
        label = refuse_reprint(ctx, record_id, reason=reason)
    out.print(f"Refused the reprint of {label}.")


def records_surrender(
    record_id: Annotated[str, typer.Argument(help="The record of the card handed back.")],
    chip_uid: Annotated[str, typer.Option(help="The returned card's chip UID (hex).")],
    note: Annotated[str, typer.Option(help="Remarks.")] = "",
) -> None:
    """Record the old card a data change replaced, handed back by its holder."""
    from printctl.service_records import surrender

    with _context() as ctx:
        label = surrender(ctx, record_id, chip_uid=chip_uid, note=note)
    out.print(f"Recorded {label}'s card as surrendered (ledger: returned-by-holder, to destroy).")


def handover_cmd(
    record_id: Annotated[str, typer.Argument(help="The record whose card the holder received.")],
    verified_by: Annotated[
        str, typer.Option("--verified-by", help="Who checked the holder's fingerprint.")
    ],
) -> None:
    """Record that the holder received the card after the fingerprint check at the counter."""
    from printctl.service_records import handover

    with _context() as ctx:
        label = handover(ctx, record_id, verified_by=verified_by)
    out.print(f"Handed over {label} (verified by {verified_by.strip()}); the center will be told.")


def records_overdue(
    days: Annotated[
        int | None,
        typer.Option(help="Waiting longer than this many days (default: handover_overdue_days)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Printed cards not handed over in time (call the holders, or return the cards)."""
    from printctl.service_records import overdue_handovers

    with _context(quiet_console=json_out) as ctx:
        limit = ctx.settings.handover_overdue_days if days is None else days
        rows = overdue_handovers(ctx, days=limit)
    if json_out:
        _print_json([r.as_dict() for r in rows])
        return
    table = Table(title=f"Printed, not handed over after {limit} days")
    for name in ("record", "NIK", "district", "printed", "days", "chip"):
        table.add_column(name)
    for r in rows:
        printed = f"{r.printed_at:%Y-%m-%d}" if r.printed_at else ""
        table.add_row(
            f"{r.record_id} v{r.version}",
            r.nik,
            r.district,
            printed,
            str(r.days_waiting),
            r.chip_uid or "",
        )
    out.print(table)
    out.print(f"{len(rows)} cards overdue")


def records_erase_expired(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Erase the personal data of records past the retention period (handed over,
    superseded or refused retention_days ago); what accountability needs stays."""
    from printctl.service_records import erase_expired

    with _context(quiet_console=json_out) as ctx:
        result = erase_expired(ctx, dry_run=dry_run)
        days = ctx.settings.retention_days
    if json_out:
        _print_json(result.as_dict())
        return
    verb = "Would erase" if dry_run else "Erased"
    out.print(f"{verb} the personal data of {len(result.erased)} records (retention {days} days).")
    if result.waiting_for_center:
        out.print(
            f"{len(result.waiting_for_center)} records keep their data until the center has "
            "their events (`printctl push` or `printctl export-events`)."
        )
