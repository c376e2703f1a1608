"""Use cases of the link to the center: pulling bundles, pushing events, and the same by
flash drive (spec ``prr-bundle-v1`` §4–§5).

The network is assumed to fail. A pull downloads into the spool with resume and imports a
bundle only once its size and SHA-256 match what the center announced, through the same
code as ``printctl import``; importing is idempotent, so a pull interrupted anywhere can
simply run again. A push signs the oldest pending events into an event bundle and marks them
delivered only after the center's answer; the center ignores an event id it already has, so
a push interrupted after sending and before marking is harmless. Flash drives carry the
same event bundles; the center's signed receipt, imported back, marks them delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from printctl import outbox
from printctl.audit import record_event
from printctl.db import read_session, session_scope
from printctl.intake.importer import ImportOutcome, trusted_keys
from printctl.logs import get_logger
from printctl.models import Bundle, OutboxEvent, OutboxState
from printctl.service import Context, UserError, import_bundles
from printctl.sync.client import (
    BundleOffer,
    CenterClient,
    CenterProtocolError,
    CenterRefused,
    CenterUnreachable,
    RetryPolicy,
)
from printctl.sync.eventbundle import (
    EventBundleRejected,
    SigningKey,
    create_signing_key,
    event_bundle_bytes,
    load_signing_key,
    public_pem,
    read_receipt,
    write_event_bundle,
)

log = get_logger(__name__)

#: Events per event bundle: a night's work of a busy office fits in a few.
EVENTS_PER_BUNDLE = 500
#: The center lists at most this many bundles per answer (spec §4).
OFFERS_PER_PAGE = 100
#: A fixed namespace so that the same events always make the same event bundle id.
_BUNDLE_NAMESPACE = uuid.UUID("6f0e2c1e-8d43-4f0b-9d7c-7a3e2f1b5c90")

SYNC_ERRORS: tuple[type[Exception], ...] = (CenterUnreachable, CenterRefused, CenterProtocolError)


# ---------------------------------------------------------------------------- the station key


def station_key(ctx: Context, *, create: bool = False) -> SigningKey:
    """This station's signing key (its key id and issuer are the station's name)."""
    path = ctx.settings.resolve(ctx.settings.station_key_file)
    name = ctx.settings.station
    if not path.exists():
        if not create:
            raise UserError(
                f"this station has no signing key ({path}); create it with "
                "`printctl keys station` and give its public half to the center"
            )
        return create_signing_key(path, key_id=name, issuer=name)
    try:
        return load_signing_key(path, key_id=name, issuer=name)
    except ValueError as exc:
        raise UserError(f"{path}: not a station signing key ({exc})") from None


def station_public_key(ctx: Context) -> tuple[SigningKey, bytes, bool]:
    """The station key (created when missing), its public PEM, and whether it was created."""
    path = ctx.settings.resolve(ctx.settings.station_key_file)
    created = not path.exists()
    key = station_key(ctx, create=True)
    return key, public_pem(key.public_key()), created


# ---------------------------------------------------------------------------- the client


def center_client(ctx: Context, **overrides: Any) -> CenterClient:
    """A client for the configured center, or a UserError for an offline office."""
    settings = ctx.settings
    if not settings.center_url:
        raise UserError(
            "no center_url is configured: this office works offline. Bring bundles on a "
            "flash drive (`printctl import DRIVE`) and take events back with "
            "`printctl export-events DRIVE`"
        )
    if not settings.center_token:
        raise UserError("center_token is not set (PRINTCTL_CENTER_TOKEN)")
    options: dict[str, Any] = {
        "timeout_s": settings.center_timeout_s,
        "retry": RetryPolicy(attempts=settings.center_attempts),
    }
    options.update(overrides)
    return CenterClient(settings.center_url, settings.center_token, **options)


# ---------------------------------------------------------------------------- pull


@dataclass
class PullResult:
    """What one pull did; ``error`` is set when it stopped early (the rest waits)."""

    after: int
    offered: int = 0
    skipped: list[str] = field(default_factory=list)  #: bundles this office already holds
    outcomes: list[ImportOutcome] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "after": self.after,
            "offered": self.offered,
            "skipped": self.skipped,
            "outcomes": [o.as_dict() for o in self.outcomes],
            "error": self.error,
        }


def _held(session: Session) -> tuple[set[str], int]:
    """Bundle ids held, and the sequence to ask after: the end of the unbroken run from the
    lowest one held, so a bundle missing in between (one came on a drive) is offered again."""
    rows = session.exec(select(Bundle.bundle_id, Bundle.sequence)).all()
    ids = {bundle_id for bundle_id, _ in rows}
    sequences = sorted({sequence for _, sequence in rows})
    if not sequences:
        return ids, 0
    after = sequences[0]
    for sequence in sequences[1:]:
        if sequence != after + 1:
            break
        after = sequence
    return ids, after


def pull(ctx: Context, client: CenterClient | None = None) -> PullResult:
    """Fetch and import every bundle the center offers that this office does not hold."""
    client = client or center_client(ctx)
    with read_session(ctx.engine) as session:
        held, after = _held(session)
    result = PullResult(after=after)
    incoming = ctx.settings.resolve(ctx.settings.spool_dir) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    try:
        offers = _offers(ctx, client, after)
        result.offered = len(offers)
        for offer in offers:
            if offer.bundle_id in held:
                result.skipped.append(offer.bundle_id)
                continue
            path = client.download(offer, incoming)
            try:
                result.outcomes.extend(import_bundles(ctx, [path]))
            finally:
                # The file holds personal data in clear: once imported (or refused) it goes.
                path.unlink(missing_ok=True)
    except SYNC_ERRORS as exc:
        result.error = str(exc)
        log.warning("pull stopped", reason=str(exc))
    if result.offered or result.error:
        _journal(
            ctx,
            "center.pulled",
            result.error,
            {
                "after": after,
                "offered": result.offered,
                "imported": [o.bundle_id for o in result.outcomes if o.outcome == "imported"],
                "rejected": [o.bundle_id for o in result.outcomes if o.outcome == "rejected"],
            },
        )
    return result


def _offers(ctx: Context, client: CenterClient, after: int) -> list[BundleOffer]:
    """Every offer after ``after``, page by page (the center answers at most 100 a time)."""
    offers: list[BundleOffer] = []
    cursor = after
    while True:
        page = client.list_bundles(regency=ctx.settings.regency_code, after=cursor)
        fresh = [o for o in page if o.sequence > cursor]
        offers.extend(fresh)
        if len(page) < OFFERS_PER_PAGE or not fresh:
            break
        cursor = max(o.sequence for o in fresh)
    offers.sort(key=lambda o: o.sequence)
    return offers


# ---------------------------------------------------------------------------- push


@dataclass
class PushResult:
    """What one push delivered; ``error`` is set when it stopped early."""

    bundles: list[str] = field(default_factory=list)
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    pending: int = 0  #: still waiting afterwards
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Outgoing:
    """Pending events made ready for an event bundle."""

    bundle_id: str
    payloads: list[dict[str, Any]]
    event_ids: list[str]
    created_at: datetime


def _outgoing(ctx: Context, session: Session, events: list[OutboxEvent]) -> _Outgoing:
    """The events as the center reads them, under an id that the same events always get
    (so a resent bundle is the same bundle)."""
    ids = [e.event_id for e in events]
    bundle_id = str(uuid.uuid5(_BUNDLE_NAMESPACE, ctx.settings.station + ":" + ",".join(ids)))
    payloads = [outbox.event_payload(session, e, ctx.cipher) for e in events]
    return _Outgoing(bundle_id, payloads, ids, max(e.at for e in events))


def push(
    ctx: Context, client: CenterClient | None = None, *, per_bundle: int = EVENTS_PER_BUNDLE
) -> PushResult:
    """Send pending events, oldest first, until none is left or the center cannot be reached."""
    client = client or center_client(ctx)
    key = station_key(ctx, create=True)
    result = PushResult()
    after_id = 0
    try:
        while True:
            with read_session(ctx.engine) as session:
                events = outbox.pending(session, limit=per_bundle, after_id=after_id)
                if not events:
                    break
                batch = _outgoing(ctx, session, events)
                after_id = events[-1].id or after_id
            data = event_bundle_bytes(
                batch.payloads, key=key, bundle_id=batch.bundle_id, created_at=batch.created_at
            )
            accepted, duplicates = client.post_events(data)
            with session_scope(ctx.engine) as session:
                outbox.mark_delivered(
                    session, batch.event_ids, via=f"push {batch.bundle_id}", at=ctx.clock()
                )
            result.bundles.append(batch.bundle_id)
            result.sent += len(batch.event_ids)
            result.accepted += accepted
            result.duplicates += duplicates
    except SYNC_ERRORS as exc:
        result.error = str(exc)
        log.warning("push stopped", reason=str(exc))
    with read_session(ctx.engine) as session:
        result.pending = outbox.counts(session).pending
    if result.sent or result.error:
        _journal(
            ctx,
            "center.pushed",
            result.error,
            {
                "bundles": result.bundles,
                "sent": result.sent,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
            },
        )
    return result


# ---------------------------------------------------------------------------- flash drives


@dataclass
class ExportResult:
    """The event bundles written for a flash drive."""

    paths: list[Path] = field(default_factory=list)
    events: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"files": [str(p) for p in self.paths], "events": self.events}


def export_events(
    ctx: Context, directory: Path, *, per_bundle: int = EVENTS_PER_BUNDLE
) -> ExportResult:
    """Write every pending event into signed event bundles in ``directory`` (a drive).

    The events stay pending: they are delivered when the center's receipt is imported
    (``printctl import-receipt``) or an operator confirms the hand-off. Exporting again
    writes them again; the center ignores events it already has.
    """
    if not directory.is_dir():
        raise UserError(f"{directory} is not a folder (mount the flash drive first)")
    key = station_key(ctx, create=True)
    result = ExportResult()
    after_id = 0
    while True:
        with read_session(ctx.engine) as session:
            events = outbox.pending(session, limit=per_bundle, after_id=after_id)
            if not events:
                break
            batch = _outgoing(ctx, session, events)
            after_id = events[-1].id or after_id
        path = write_event_bundle(
            directory,
            batch.payloads,
            key=key,
            bundle_id=batch.bundle_id,
            created_at=batch.created_at,
        )
        bundle_id, ids = batch.bundle_id, batch.event_ids
        with session_scope(ctx.engine) as session:
            outbox.mark_exported(session, ids, bundle_id=bundle_id, at=ctx.clock())
            record_event(
                session,
                actor=ctx.actor,
                station=ctx.station,
                action="events.exported",
                entity="event-bundle",
                entity_id=bundle_id,
                detail={"file": path.name, "events": len(ids)},
                clock=ctx.clock,
            )
        result.paths.append(path)
        result.events += len(ids)
    return result


@dataclass
class ReceiptResult:
    """What a receipt from the center acknowledged."""

    events_bundle_id: str
    delivered: int  #: events marked delivered now
    already: int  #: events it names that were delivered before
    unknown: int  #: event ids it names that this office never had

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def import_receipt(ctx: Context, path: Path) -> ReceiptResult:
    """Import the center's signed receipt for an event bundle: its events are delivered."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a receipt file") from None
    with read_session(ctx.engine) as session:
        keys = trusted_keys(session)
    try:
        receipt = read_receipt(data, trusted_keys=keys)
    except EventBundleRejected as exc:
        raise UserError(f"{path.name}: receipt rejected: {exc.reason}") from None
    named = list(dict.fromkeys([*receipt.accepted, *receipt.duplicates]))
    with session_scope(ctx.engine) as session:
        states = dict(
            session.exec(
                select(OutboxEvent.event_id, OutboxEvent.state).where(
                    col(OutboxEvent.event_id).in_(named)
                )
            ).all()
        )
        delivered = outbox.mark_delivered(
            session, named, via=f"receipt {receipt.events_bundle_id}", at=ctx.clock()
        )
        result = ReceiptResult(
            events_bundle_id=receipt.events_bundle_id,
            delivered=delivered,
            already=sum(1 for s in states.values() if s == OutboxState.DELIVERED.value),
            unknown=len(named) - len(states),
        )
        record_event(
            session,
            actor=ctx.actor,
            station=ctx.station,
            action="events.receipt-imported",
            entity="event-bundle",
            entity_id=receipt.events_bundle_id,
            detail={**result.as_dict(), "file": path.name, "center_key": receipt.key_id},
            clock=ctx.clock,
        )
    return result


def confirm_export(ctx: Context, bundle_id: str) -> int:
    """An operator confirms the center has an exported bundle (no receipt came back)."""
    with session_scope(ctx.engine) as session:
        ids = list(
            session.exec(
                select(OutboxEvent.event_id).where(
                    col(OutboxEvent.exported_in) == bundle_id,
                    col(OutboxEvent.state) == OutboxState.PENDING.value,
                )
            ).all()
        )
        if not ids:
            raise UserError(f"no pending events went out in event bundle {bundle_id}")
        done = outbox.mark_delivered(session, ids, via=f"confirmed by {ctx.actor}", at=ctx.clock())
        record_event(
            session,
            actor=ctx.actor,
            station=ctx.station,
            action="events.delivery-confirmed",
            entity="event-bundle",
            entity_id=bundle_id,
            detail={"events": done},
            clock=ctx.clock,
        )
        return done


def outbox_status(ctx: Context) -> outbox.OutboxCounts:
    """The outbox at a glance."""
    with read_session(ctx.engine) as session:
        return outbox.counts(session)


# ---------------------------------------------------------------------------- schedule


@dataclass
class SyncSchedule:
    """When ``printctl serve`` next pulls and pushes; :meth:`due` says what to run now.

    Offline, the waits grow (doubling, up to ten times the interval) so a long outage does
    not mean a retry storm; the first success puts them back.
    """

    pull_every_s: float
    push_every_s: float
    next_pull: float = 0.0
    next_push: float = 0.0
    pull_failures: int = 0
    push_failures: int = 0

    def due(self, now: float) -> list[str]:
        """The tasks due at monotonic time ``now``: ``pull``, ``push`` or both."""
        tasks = []
        if now >= self.next_pull:
            tasks.append("pull")
        if now >= self.next_push:
            tasks.append("push")
        return tasks

    def done(self, task: str, now: float, *, ok: bool) -> None:
        """Record a task's outcome and schedule its next run."""
        if task == "pull":
            self.pull_failures = 0 if ok else self.pull_failures + 1
            self.next_pull = now + self._wait(self.pull_every_s, self.pull_failures)
        else:
            self.push_failures = 0 if ok else self.push_failures + 1
            self.next_push = now + self._wait(self.push_every_s, self.push_failures)

    @staticmethod
    def _wait(every: float, failures: int) -> float:
        return every * min(2 ** max(failures - 1, 0), 10) if failures else every

    def next_due(self) -> float:
        """The monotonic time of the next task."""
        return min(self.next_pull, self.next_push)


def run_sync_loop(
    ctx: Context,
    *,
    stop: Callable[[float], bool],
    monotonic: Callable[[], float],
    client: CenterClient | None = None,
    report: Callable[[str, Any], None] = lambda _task, _result: None,
) -> None:
    """Pull and push on the schedule until ``stop(seconds)`` (wait that long, return True to
    end) says so. Errors never end the loop; each one is reported and retried later."""
    schedule = SyncSchedule(ctx.settings.pull_every_s, ctx.settings.push_every_s)
    client = client or center_client(ctx)
    while True:
        now = monotonic()
        for task in schedule.due(now):
            outcome: PullResult | PushResult = (
                pull(ctx, client) if task == "pull" else push(ctx, client)
            )
            schedule.done(task, monotonic(), ok=outcome.error is None)
            report(task, outcome)
        if stop(max(schedule.next_due() - monotonic(), 0.0)):
            return


def _journal(ctx: Context, action: str, error: str | None, detail: dict[str, Any]) -> None:
    with session_scope(ctx.engine) as session:
        record_event(
            session,
            actor=ctx.actor,
            station=ctx.station,
            action=action,
            entity="center",
            entity_id=ctx.settings.center_url or "-",
            outcome="stopped" if error else "ok",
            detail={**detail, **({"error": error} if error else {})},
            clock=ctx.clock,
        )


__all__ = [
    "SYNC_ERRORS",
    "ExportResult",
    "PullResult",
    "PushResult",
    "ReceiptResult",
    "SyncSchedule",
    "center_client",
    "confirm_export",
    "export_events",
    "import_receipt",
    "outbox_status",
    "pull",
    "push",
    "run_sync_loop",
    "station_key",
    "station_public_key",
]
