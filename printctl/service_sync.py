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

import contextlib
import errno
import fcntl
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from printctl import outbox
from printctl.audit import lock_journal
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
    #: Bundles rejected by an earlier pull and offered again unchanged: not fetched again.
    refused: list[str] = field(default_factory=list)
    outcomes: list[ImportOutcome] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "after": self.after,
            "offered": self.offered,
            "skipped": self.skipped,
            "refused": self.refused,
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


#: Room a download must leave on the spool's disk (the database often shares it).
DISK_MARGIN_BYTES = 512 * 1024**2


class SyncBusy(Exception):
    """Another pull is using this spool (``printctl serve`` and a manual pull at once)."""


@contextlib.contextmanager
def _spool_lock(incoming: Path) -> Iterator[None]:
    """One pull at a time per spool: two would share and delete each other's files."""
    with (incoming.parent / ".pull.lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusy(
                f"another pull is running on {incoming} (printctl serve?); try again later"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_PULL_ERRORS: tuple[type[Exception], ...] = (*SYNC_ERRORS, SyncBusy)


def _clean_spool(incoming: Path, held: set[str]) -> None:
    """Delete downloads of bundles already held: a pull killed between import and delete, or
    a bundle that meanwhile came on a flash drive, must not leave personal data behind."""
    for path in incoming.iterdir():
        bundle_id = path.name.split(".", 1)[0]
        if bundle_id in held and path.name.endswith((".prr.zip", ".prr.zip.part")):
            path.unlink(missing_ok=True)


def _refused_marker(spool: Path, offer: BundleOffer) -> Path:
    return spool / "rejected" / f"{offer.bundle_id}.{offer.sha256}"


def pull(ctx: Context, client: CenterClient | None = None) -> PullResult:
    """Fetch and import every bundle the center offers that this office does not hold.

    A bundle the import rejected is not fetched again while the center offers the same file
    (same SHA-256); it is listed in ``refused`` each time until the center replaces it.
    """
    client = client or center_client(ctx)
    spool = ctx.settings.resolve(ctx.settings.spool_dir)
    incoming = spool / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    with read_session(ctx.engine) as session:
        held, after = _held(session)
    result = PullResult(after=after)
    try:
        with _spool_lock(incoming):
            _clean_spool(incoming, held)
            offers = _offers(ctx, client, after)
            result.offered = len(offers)
            for offer in offers:
                if offer.bundle_id in held:
                    result.skipped.append(offer.bundle_id)
                    continue
                if _refused_marker(spool, offer).exists():
                    result.refused.append(offer.bundle_id)
                    continue
                _check_room(incoming, offer)
                path = client.download(offer, incoming)
                try:
                    outcomes = import_bundles(ctx, [path])
                finally:
                    # The file holds personal data in clear: once imported (or refused) it goes.
                    path.unlink(missing_ok=True)
                result.outcomes.extend(outcomes)
                if any(_refused_for_good(o) for o in outcomes):
                    marker = _refused_marker(spool, offer)
                    marker.parent.mkdir(parents=True, exist_ok=True)
                    marker.write_text("; ".join(o.reason or "" for o in outcomes) + "\n")
    except _PULL_ERRORS as exc:
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
                "refused_before": result.refused,
            },
        )
    return result


def _refused_for_good(outcome: ImportOutcome) -> bool:
    """A rejection that the same file would get again (not a race with another import)."""
    return outcome.outcome == "rejected" and "at the same moment" not in (outcome.reason or "")


def _check_room(incoming: Path, offer: BundleOffer) -> None:
    have = incoming / f"{offer.bundle_id}.prr.zip.part"
    already = have.stat().st_size if have.exists() else 0
    free = shutil.disk_usage(incoming).free
    need = offer.size - already + DISK_MARGIN_BYTES
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"not enough disk space to download bundle {offer.bundle_id} "
            f"({offer.size / 1e6:.0f} MB; {free / 1e6:.0f} MB free, "
            f"{DISK_MARGIN_BYTES / 1e6:.0f} MB are kept for the database)",
            str(incoming),
        )


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
    #: Events the center refused (set aside as ``rejected``).
    rejected: list[str] = field(default_factory=list)
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
    """Pending events made ready for an event bundle, under an id that the same events always
    get (so a resent bundle is the same bundle)."""

    station: str
    payloads: list[dict[str, Any]]
    event_ids: list[str]
    ats: list[datetime]

    @property
    def bundle_id(self) -> str:
        joined = self.station + ":" + ",".join(self.event_ids)
        return str(uuid.uuid5(_BUNDLE_NAMESPACE, joined))

    @property
    def created_at(self) -> datetime:
        return max(self.ats)

    def halves(self) -> list[_Outgoing]:
        """The first and second half (to find the event a center refuses)."""
        mid = len(self.event_ids) // 2
        return [
            _Outgoing(self.station, self.payloads[a:b], self.event_ids[a:b], self.ats[a:b])
            for a, b in ((0, mid), (mid, len(self.event_ids)))
        ]


def _outgoing(ctx: Context, session: Session, events: list[OutboxEvent]) -> _Outgoing:
    """The events as the center reads them (with the holder's NIK from the sealed record)."""
    return _Outgoing(
        ctx.settings.station,
        [outbox.event_payload(session, e, ctx.cipher) for e in events],
        [e.event_id for e in events],
        [e.at for e in events],
    )


def push(
    ctx: Context, client: CenterClient | None = None, *, per_bundle: int = EVENTS_PER_BUNDLE
) -> PushResult:
    """Send pending events, oldest first, until none is left or the center cannot be reached.

    Events are marked delivered only when the center's answer counts every one of them. A
    bundle the center refuses (HTTP 400) is split until the refused events are found; those
    are set aside as ``rejected`` with the center's reason, so the rest still flow.
    """
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
                after_id = events[-1].id or after_id
                queue = [_outgoing(ctx, session, events)]
            while queue:
                batch = queue.pop(0)
                data = event_bundle_bytes(
                    batch.payloads, key=key, bundle_id=batch.bundle_id, created_at=batch.created_at
                )
                try:
                    accepted, duplicates = client.post_events(data)
                except CenterRefused as exc:
                    if exc.status != 400:
                        raise  # a wrong token or a closed door: a person, not the events
                    if len(batch.event_ids) > 1:
                        queue[:0] = batch.halves()
                    else:
                        _reject(ctx, batch, exc.reason)
                        result.rejected.append(batch.event_ids[0])
                    continue
                if accepted + duplicates != len(batch.event_ids):
                    raise CenterProtocolError(
                        f"the center counted {accepted} accepted and {duplicates} duplicate "
                        f"events of the {len(batch.event_ids)} in bundle {batch.bundle_id}; "
                        "they stay pending and are sent again"
                    )
                with session_scope(ctx.engine) as session:
                    lock_journal(session)
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
    if result.sent or result.error or result.rejected:
        _journal(
            ctx,
            "center.pushed",
            result.error,
            {
                "bundles": result.bundles,
                "sent": result.sent,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
            },
        )
    return result


def _reject(ctx: Context, batch: _Outgoing, reason: str) -> None:
    """Set an event the center refuses aside, journaled, for a person to look at."""
    with session_scope(ctx.engine) as session:
        lock_journal(session)
        outbox.mark_rejected(session, batch.event_ids, problem=reason or "refused")
        ctx.journal(
            session,
            "event.rejected-by-center",
            entity="event",
            entity_id=batch.event_ids[0],
            outcome="rejected",
            detail={"reason": (reason or "")[:500]},
        )
    log.error("the center refused an event", event_id=batch.event_ids[0], reason=reason)


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
    ctx: Context, directory: Path, *, again: bool = False, per_bundle: int = EVENTS_PER_BUNDLE
) -> ExportResult:
    """Write every pending event into signed event bundles in ``directory`` (a drive).

    The events stay pending: they are delivered when the center's receipt is imported
    (``printctl import-receipt``) or an operator confirms the hand-off. Each export takes
    the events no drive has carried yet; ``again`` takes every pending one (a drive was
    lost), and they then belong to the new bundle. The center ignores events it has.
    """
    if not directory.is_dir():
        raise UserError(f"{directory} is not a folder (mount the flash drive first)")
    key = station_key(ctx, create=True)
    result = ExportResult()
    after_id = 0
    while True:
        with read_session(ctx.engine) as session:
            events = outbox.pending(
                session, limit=per_bundle, after_id=after_id, unexported=not again
            )
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
            lock_journal(session)
            outbox.mark_exported(session, ids, bundle_id=bundle_id, at=ctx.clock())
            ctx.journal(
                session,
                "events.exported",
                entity="event-bundle",
                entity_id=bundle_id,
                detail={"file": path.name, "events": len(ids)},
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
        lock_journal(session)
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
        ctx.journal(
            session,
            "events.receipt-imported",
            entity="event-bundle",
            entity_id=receipt.events_bundle_id,
            detail={**result.as_dict(), "file": path.name, "center_key": receipt.key_id},
        )
    return result


RECEIPT_SUFFIX = ".receipt.zip"


def import_receipts(ctx: Context, path: Path) -> list[ReceiptResult]:
    """Import one receipt file, or every ``*.receipt.zip`` in a folder (a flash drive)."""
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.name.endswith(RECEIPT_SUFFIX) and not p.name.startswith(".")
        )
        if not files:
            raise UserError(f"no receipts (*{RECEIPT_SUFFIX}) in {path}")
        return [import_receipt(ctx, f) for f in files]
    return [import_receipt(ctx, path)]


def confirm_export(ctx: Context, bundle_id: str) -> int:
    """An operator confirms the center has an exported bundle (no receipt came back)."""
    with session_scope(ctx.engine) as session:
        lock_journal(session)
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
        ctx.journal(
            session,
            "events.delivery-confirmed",
            entity="event-bundle",
            entity_id=bundle_id,
            detail={"events": done},
        )
        return done


def list_events(ctx: Context, *, state: str | None = None, limit: int = 200) -> list[OutboxEvent]:
    """Outbox events, newest first (``state``: pending, delivered or rejected)."""
    if state is not None and state not in {s.value for s in OutboxState}:
        known = ", ".join(s.value for s in OutboxState)
        raise UserError(f"unknown event state {state!r} (one of {known})")
    with read_session(ctx.engine) as session:
        query = select(OutboxEvent).order_by(col(OutboxEvent.id).desc()).limit(limit)
        if state is not None:
            query = query.where(col(OutboxEvent.state) == state)
        return list(session.exec(query).all())


def retry_rejected(ctx: Context, event_ids: list[str] | None = None) -> int:
    """Put events the center refused back in the outbox (the center fixed what it refused);
    ``None``: every rejected event. Journaled with who decided."""
    with session_scope(ctx.engine) as session:
        lock_journal(session)
        query = select(OutboxEvent).where(col(OutboxEvent.state) == OutboxState.REJECTED.value)
        if event_ids is not None:
            query = query.where(col(OutboxEvent.event_id).in_(event_ids))
        rows = list(session.exec(query).all())
        if event_ids is not None and len(rows) != len(set(event_ids)):
            found = {r.event_id for r in rows}
            missing = [e for e in event_ids if e not in found]
            raise UserError(f"not a rejected event: {', '.join(missing[:5])}")
        for row in rows:
            row.state = OutboxState.PENDING.value
            session.add(row)
        if rows:
            ctx.journal(
                session,
                "events.retry-rejected",
                entity="event",
                entity_id=f"{len(rows)} events",
                detail={"events": [r.event_id for r in rows][:100]},
            )
        return len(rows)


def outbox_status(ctx: Context) -> outbox.OutboxCounts:
    """The outbox at a glance."""
    with read_session(ctx.engine) as session:
        return outbox.counts(session)


# ---------------------------------------------------------------------------- schedule

#: How often ``printctl serve`` erases personal data past the retention period.
ERASE_EVERY_S = 24 * 3600.0


@dataclass
class SyncSchedule:
    """When ``printctl serve`` next runs each of its tasks; :meth:`due` says what runs now.

    A task that failed (the center unreachable) waits longer each time, doubling up to ten
    times its interval, so a long outage is no retry storm; its first success restores it.
    """

    intervals: dict[str, float]
    #: Tasks that keep their interval when they fail (erasure: a day's wait is long enough).
    steady: frozenset[str] = frozenset()
    next_at: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def due(self, now: float) -> list[str]:
        """The tasks due at monotonic time ``now``, in the order they were given."""
        return [task for task in self.intervals if now >= self.next_at.get(task, 0.0)]

    def done(self, task: str, now: float, *, ok: bool) -> None:
        """Record a task's outcome and schedule its next run."""
        failures = 0 if ok or task in self.steady else self.failures.get(task, 0) + 1
        self.failures[task] = failures
        every = self.intervals[task]
        self.next_at[task] = now + (every * min(2 ** (failures - 1), 10) if failures else every)

    def next_due(self) -> float:
        """The monotonic time of the next task."""
        return min(self.next_at.get(task, 0.0) for task in self.intervals)


def serve_tasks(
    ctx: Context, client: CenterClient | None = None
) -> dict[str, tuple[float, Callable[[], Any]]]:
    """``printctl serve``'s tasks: name → (interval, run). An office without a center only
    erases expired personal data; one with a center also pulls and pushes."""
    from printctl.service_records import erase_expired

    tasks: dict[str, tuple[float, Callable[[], Any]]] = {}
    if ctx.settings.center_url or client is not None:
        link = client or center_client(ctx)
        tasks["pull"] = (ctx.settings.pull_every_s, lambda: pull(ctx, link))
        tasks["push"] = (ctx.settings.push_every_s, lambda: push(ctx, link))
    tasks["erase"] = (ERASE_EVERY_S, lambda: erase_expired(ctx))
    return tasks


def run_service_loop(
    ctx: Context,
    *,
    stop: Callable[[float], bool],
    monotonic: Callable[[], float],
    tasks: dict[str, tuple[float, Callable[[], Any]]] | None = None,
    report: Callable[[str, Any], None] = lambda _task, _result: None,
) -> None:
    """Run the tasks on their schedule until ``stop(seconds)`` (wait that long; True ends
    the loop). A task's failure never ends the loop: it is reported and tried again later.
    ``report`` gets each task's result, or the exception it raised."""
    plan = tasks if tasks is not None else serve_tasks(ctx)
    schedule = SyncSchedule(
        {name: every for name, (every, _run) in plan.items()}, steady=frozenset({"erase"})
    )
    while True:
        for name in schedule.due(monotonic()):
            try:
                result: Any = plan[name][1]()
                ok = getattr(result, "error", None) is None
            except Exception as exc:  # a database hiccup must not end the service
                log.error("scheduled task failed", task=name, error=str(exc))
                result, ok = exc, False
            schedule.done(name, monotonic(), ok=ok)
            report(name, result)
        if stop(max(schedule.next_due() - monotonic(), 0.0)):
            return


def _journal(ctx: Context, action: str, error: str | None, detail: dict[str, Any]) -> None:
    with session_scope(ctx.engine) as session:
        ctx.journal(
            session,
            action,
            entity="center",
            entity_id=ctx.settings.center_url or "-",
            outcome="stopped" if error else "ok",
            detail={**detail, **({"error": error} if error else {})},
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
    "import_receipts",
    "list_events",
    "outbox_status",
    "pull",
    "push",
    "retry_rejected",
    "run_service_loop",
    "serve_tasks",
    "station_key",
    "station_public_key",
]
