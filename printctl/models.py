"""The stored tables (SQLModel) and the state vocabularies they use.

Personal data never appears here in clear: :class:`Record` keeps it in ``payload``, ``photo``
and ``signature`` as AES-GCM ciphertext (:mod:`printctl.crypto`); the only clear facts are the
ones the queue must filter and count on (district name, request type, the NIK's last four
digits and a keyed hash of it).

Schema changes go through Alembic (``printctl/migrations``); a test checks that the migrations
and these models agree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC time: SQLite hands back naive datetimes, and every
    stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RecordState(enum.StrEnum):
    """Where a stored record stands."""

    READY = "ready"  #: may be put in a batch
    AWAITING_APPROVAL = "awaiting-approval"  #: a reprint type waiting for a supervisor
    SUPERSEDED = "superseded"  #: a higher version arrived before this one was printed
    QUEUED = "queued"  #: a job for it is in a batch
    PRINTED = "printed"  #: a card was issued
    PRINTED_OUTDATED = "printed-outdated"  #: printed, then a higher version arrived
    FAILED = "failed"  #: its job failed; a person decides what next
    NEEDS_INSPECTION = "needs-inspection"  #: a card may exist; a person must look
    REFUSED = "refused"  #: a supervisor refused the reprint: never printed


#: States after which a record's personal data may be erased once the retention period has
#: passed (a printed record qualifies once its card is handed over: ``handed_over_at``).
RETIRED_RECORD_STATES = (RecordState.SUPERSEDED, RecordState.REFUSED)


class EvidenceKind(enum.StrEnum):
    """What a reprint request rests on (the paper a supervisor checks before approving)."""

    POLICE_LETTER = "police-letter"  #: surat keterangan hilang from the police (lost card)
    SURRENDERED_CARD = "surrendered-card"  #: the damaged card handed in: its chip UID
    FAMILY_CARD = "family-card"  #: the updated family card (KK) behind a data change


class Surrender(enum.StrEnum):
    """Whether a holder must hand back an earlier card (a data change replaces it)."""

    NONE = ""
    DUE = "to-surrender"  #: a data change was approved: the old card must come back
    SURRENDERED = "surrendered"  #: handed back and recorded in the ledger (returned-by-holder)


class OutboxState(enum.StrEnum):
    """Where an issuance event stands on its way to the center."""

    PENDING = "pending"  #: not yet acknowledged by the center
    DELIVERED = "delivered"  #: the center accepted it (online answer, receipt, or confirmation)
    #: The center refused it (its answer is in ``problem``): set aside so the events behind
    #: it flow on; a person looks (``printctl events list --state rejected``).
    REJECTED = "rejected"


class EventType(enum.StrEnum):
    """Issuance event types (spec ``prr-bundle-v1`` §5)."""

    CARD_PRINTED = "CARD_PRINTED"
    CARD_HANDED_OVER = "CARD_HANDED_OVER"
    BLANK_SPOILED = "BLANK_SPOILED"
    RECORD_QUARANTINED = "RECORD_QUARANTINED"


class JobState(enum.StrEnum):
    """A print job's state (IPP's ``job-state`` vocabulary, plus inspection).

    The allowed moves are :data:`printctl.queue.store.JOB_TRANSITIONS`.
    """

    PENDING = "pending"  #: waiting for a printer
    HELD = "held"  #: not eligible until a person releases it (``printctl jobs release``)
    PROCESSING = "processing"  #: a printer has it; ``step`` says how far the card got
    STOPPED = "stopped"  #: its printer stopped on a transient condition while holding it
    COMPLETED = "completed"  #: the card was issued
    ABORTED = "aborted"  #: gave up (attempts exhausted): the record needs a person
    CANCELED = "canceled"  #: withdrawn (batch canceled, record superseded)
    NEEDS_INSPECTION = "needs-inspection"  #: outcome unknown: never retried without a person


#: Job states in which a printer (and so a station) holds the job.
ACTIVE_JOB_STATES = (JobState.PROCESSING, JobState.STOPPED)


class JobReason(enum.StrEnum):
    """Why a job is in its state (IPP ``job-state-reasons``, stored as a space-separated set)."""

    HELD_BY_POLICY = "job-held-by-policy"  #: the printer's fault policy said hold
    HELD_BY_OPERATOR = "job-held-by-operator"
    RENDER_FAILED = "render-failed"  #: the card could not be drawn (template or data)
    ENCODER_MISSING = "encoder-missing"  #: the job needs a chip encoder the printer lacks
    PRINTER_STOPPED = "printer-stopped"  #: waiting while its printer recovers
    RETRY = "job-retry"  #: handed back for another attempt
    ATTEMPTS_EXHAUSTED = "attempts-exhausted"
    OUTCOME_UNKNOWN = "card-outcome-unknown"  #: a card may exist; a person must look
    RECOVERED = "recovered-after-restart"
    LEASE_EXPIRED = "station-lease-expired"  #: its station stopped heart-beating
    SUPERSEDED = "record-superseded"
    CANCELED_BY_OPERATOR = "job-canceled-by-operator"


class JobStep(enum.StrEnum):
    """Where inside ``processing`` a job is. Persisted before the printer is told to act."""

    NONE = ""
    RENDERING = "rendering"
    FEEDING = "feeding"
    ENCODING = "encoding"
    PRINTING = "printing"
    EJECTING = "ejecting"
    REJECTING = "rejecting"
    #: The attempt's card is in the reject bin and its blank(s) in the ledger: nothing is in
    #: the printer for this job, so recovery requeues it (the blank is never also in doubt).
    SPOILED = "spoiled"


#: Steps during which a blank is out of the hopper and its outcome not yet in the ledger.
CARD_STEPS = (
    JobStep.FEEDING,
    JobStep.ENCODING,
    JobStep.PRINTING,
    JobStep.EJECTING,
    JobStep.REJECTING,
)


class PrinterRunState(enum.StrEnum):
    """A printer's state as the queue sees it (IPP ``printer-state``)."""

    IDLE = "idle"  #: takes jobs when a run drives it
    PROCESSING = "processing"  #: a run is printing on it
    STOPPED = "stopped"  #: takes no job; ``reasons`` say why and whether it clears itself


class PrinterReason(enum.StrEnum):
    """Why a printer is stopped, or what it warns of (IPP ``printer-state-reasons``)."""

    MEDIA_EMPTY = "media-empty"  #: the hopper is empty
    MEDIA_JAM = "media-jam"
    RIBBON_LOW = "ribbon-low"  #: a warning: the printer keeps printing
    RIBBON_EMPTY = "ribbon-empty"
    COVER_OPEN = "cover-open"
    REJECT_BIN_FULL = "reject-bin-full"
    OFFLINE = "offline"  #: the printer (or its reader) does not answer
    COOLING = "cooling"  #: resting after its duty cycle
    OUT_OF_STOCK = "out-of-stock"  #: the ledger has no blank on hand for it
    AWAITING_INSPECTION = "awaiting-inspection"  #: a card of its is in doubt
    ENCODER_FAULT = "encoder-fault"  #: the chip encoder is missing, gone or hanging
    SPOILING = "spoiling"  #: too many failed cards in a row
    DEVICE_ERROR = "device-error"  #: anything else the driver reported
    INTERNAL_ERROR = "internal-error"  #: a bug or database failure in printctl
    PAUSED = "paused"  #: a person paused it (printctl printers pause); resume to go on


class BatchState(enum.StrEnum):
    """A batch's life."""

    OPEN = "open"
    RUNNING = "running"
    PAUSED = "paused"  #: workers take none of its jobs until it is started again
    DONE = "done"
    CANCELED = "canceled"


class LedgerKind(enum.StrEnum):
    """The kinds of blank-ledger entry. Balances are always derived from these.

    Every entry moves ``quantity`` blanks from one location to another (see
    :mod:`printctl.stock.locations`); which moves each kind allows is
    :data:`printctl.stock.locations.ALLOWED_MOVES`.
    """

    RECEIVED = "received"  #: a delivery into the vault
    MOVED = "moved"  #: vault ↔ a printer's hopper (or back from doubt after an inspection)
    ISSUED = "issued"  #: became a card handed to its holder
    IN_DOUBT = "in-doubt"  #: a printer took it and nobody knows yet what came out
    SPOILED = "spoiled"  #: ruined (or a card handed back by its holder): awaits destruction
    RETURNED = "returned"  #: sent back to the province or the center
    DESTROYED = "destroyed"  #: a spoiled card destroyed under a destruction record
    ADJUSTED = "adjusted"  #: a correction one person proposed and a supervisor approved


class SpoilReason(enum.StrEnum):
    """The office's categories for spoiled blanks."""

    ENCODE_FAILED = "encode-failed"  #: gagal encode
    PRINT_FAILED = "print-failed"  #: gagal cetak
    DAMAGED = "damaged"  #: rusak
    DATA_CHANGED = "data-changed"  #: perubahan elemen data
    NO_CHIP = "no-working-chip"  #: chip tidak berfungsi
    #: An old card its holder handed back (after a move or a data change): it joins the
    #: cards to destroy but was never part of the blank stock.
    RETURNED_BY_HOLDER = "returned-by-holder"
    #: A technician's test card (``printers … test-print`` in the console): a blank used up.
    TEST_PRINT = "test-print"


class TrustedKey(SQLModel, table=True):
    """A center public key that bundles may be signed with."""

    __tablename__ = "trusted_key"

    key_id: str = Field(primary_key=True, max_length=100)
    public_key: str = Field(max_length=200)  # base64 of the raw 32-byte Ed25519 key
    added_at: datetime = Field(default_factory=utcnow)
    added_by: str = Field(max_length=100)


class Bundle(SQLModel, table=True):
    """A PRR bundle that was imported (rejected bundles are in the audit log only)."""

    __tablename__ = "bundle"

    id: int | None = Field(default=None, primary_key=True)
    bundle_id: str = Field(max_length=100, unique=True)
    sequence: int
    issuer: str = Field(max_length=100)
    key_id: str = Field(max_length=100)
    manifest_sha256: str = Field(max_length=64)
    file_name: str = Field(max_length=500)
    records_imported: int = 0
    records_quarantined: int = 0
    imported_at: datetime = Field(default_factory=utcnow)


class Record(SQLModel, table=True):
    """One version of a print-ready record. Personal data is encrypted."""

    __tablename__ = "record"
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_record_version"),
        Index("ix_record_state", "state"),
        Index("ix_record_nik_hash", "nik_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=40, index=True)
    version: int
    bundle_id: str = Field(max_length=100)
    request_type: str = Field(max_length=20)
    district: str = Field(max_length=100)
    nik_hash: str = Field(max_length=64)
    nik_last4: str = Field(max_length=4)
    state: str = Field(max_length=30)
    state_reason: str = Field(default="", max_length=500)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    photo: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    #: The supervisor who approved (or refused) a reprint, and when.
    approved_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = None
    requested_by: str | None = Field(default=None, max_length=100)
    #: :class:`EvidenceKind` and its reference (a family-card number is kept masked).
    evidence_kind: str | None = Field(default=None, max_length=30)
    evidence: str | None = Field(default=None, max_length=500)
    chip_uid: str | None = Field(default=None, max_length=40)
    imported_at: datetime = Field(default_factory=utcnow)
    printed_at: datetime | None = None
    #: The counter handover: who handed the card over, who checked the fingerprint.
    handed_over_at: datetime | None = None
    handed_over_by: str | None = Field(default=None, max_length=100)
    verified_by: str | None = Field(default=None, max_length=100)
    #: :class:`Surrender`: must the holder hand this (older) card back?
    surrender: str = Field(default="", max_length=20)
    #: When the record was retired (superseded, refused) or its card handed over: the
    #: retention period counts from here. ``erased_at``: its personal data is gone.
    retired_at: datetime | None = None
    erased_at: datetime | None = None


class QuarantinedRecord(SQLModel, table=True):
    """A record line that failed validation; it is kept (without its data) with the reason."""

    __tablename__ = "quarantined_record"

    id: int | None = Field(default=None, primary_key=True)
    bundle_id: str = Field(max_length=100, index=True)
    line: int
    record_id: str | None = Field(default=None, max_length=100)
    version: int | None = None
    reason: str = Field(max_length=1000)
    at: datetime = Field(default_factory=utcnow)


class Batch(SQLModel, table=True):
    """A set of jobs an operator started together."""

    __tablename__ = "batch"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    state: str = Field(default=BatchState.OPEN.value, max_length=20)
    filters: str = Field(default="{}", max_length=2000)  # JSON of what selected the records
    priority: int = 0
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """One card to print for one record version."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_claim", "state", "batch_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id")
    record_pk: int = Field(foreign_key="record.id", index=True)
    state: str = Field(default=JobState.PENDING.value, max_length=30)
    step: str = Field(default=JobStep.NONE.value, max_length=20)
    attempts: int = 0
    printer: str | None = Field(default=None, max_length=100)
    station: str | None = Field(default=None, max_length=100)
    #: The worker run that claimed the job; its transitions check it, so no other run can
    #: move a job it does not own.
    owner: str | None = Field(default=None, max_length=64)
    chip_uid: str | None = Field(default=None, max_length=40)
    #: :class:`JobReason` values (and printer reasons while stopped), space-separated.
    reasons: str = Field(default="", max_length=500)
    error: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PrinterRow(SQLModel, table=True):
    """A printer this database has seen, with the last state and counters read from it."""

    __tablename__ = "printer"

    name: str = Field(primary_key=True, max_length=100)
    url: str = Field(max_length=500)
    station: str = Field(max_length=100)
    state: str = Field(default=PrinterRunState.IDLE.value, max_length=20)
    #: :class:`PrinterReason` values, space-separated.
    reasons: str = Field(default="", max_length=500)
    reason: str = Field(default="", max_length=500)  # the words a person reads
    #: True when the stop clears by itself (a closed cover, a refilled hopper, a rest that
    #: ended): the next run checks the printer and goes on. False: a person must resume it.
    auto_resume: bool = False
    cards_inserted: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    #: Who asked to pause it while a worker drove it: the worker stops at the next card
    #: boundary (never mid-card) and clears this when it records the stop.
    pause_requested_by: str | None = Field(default=None, max_length=100)
    #: The job whose card the printer holds now (None between cards and when stopped).
    current_job: int | None = None
    #: Levels as the printer last reported them in a status read (None: never read, or the
    #: driver does not say), and when that read was.
    ribbon_panels_left: int | None = None
    cards_in_hopper: int | None = None
    status_at: datetime | None = None


class StationRow(SQLModel, table=True):
    """A print station (one ``printctl run`` process) sharing this database, with its lease.

    A running station renews ``heartbeat_at``; one whose heartbeat is older than its
    ``lease_s`` is presumed dead, and another station reconciles its jobs.
    """

    __tablename__ = "station"

    name: str = Field(primary_key=True, max_length=100)
    run_id: str = Field(max_length=64)
    host: str = Field(default="", max_length=200)
    pid: int = 0
    state: str = Field(default="running", max_length=20)  # running | stopped | lost
    reason: str = Field(default="", max_length=500)
    lease_s: float = 30.0
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)


class LedgerEntry(SQLModel, table=True):
    """One append-only movement of blanks from one location to another.

    Stock is the sum of these, never a stored count; the database refuses updates and
    deletes (triggers, migration 0003). ``day`` is the office's business day the entry is
    posted to: the local date, or the first day still open when that one is closed.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        Index("ix_ledger_from", "from_loc", "day"),
        Index("ix_ledger_to", "to_loc", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    day: str = Field(default="", max_length=10, index=True)  # YYYY-MM-DD, office time
    kind: str = Field(max_length=20, index=True)
    quantity: int
    from_loc: str = Field(default="", max_length=120)
    to_loc: str = Field(default="", max_length=120)
    lot: str | None = Field(default=None, max_length=100)
    serial_first: str | None = Field(default=None, max_length=40)
    serial_last: str | None = Field(default=None, max_length=40)
    #: The paper behind the entry: delivery note, return letter, destruction record number.
    document: str | None = Field(default=None, max_length=100)
    job_id: int | None = Field(default=None, foreign_key="job.id")
    record_id: str | None = Field(default=None, max_length=40)
    printer: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=100)
    chip_uid: str | None = Field(default=None, max_length=40)
    #: A destroyed entry names the spoiled entry it destroys.
    ref_entry_id: int | None = Field(default=None, foreign_key="ledger_entry.id", index=True)
    note: str = Field(default="", max_length=500)
    actor: str = Field(max_length=100)
    #: The second person, for entries that need two (adjustments, destructions).
    approved_by: str | None = Field(default=None, max_length=100)


class StockDay(SQLModel, table=True):
    """A closed business day: its statement, frozen. Nothing may be posted to it afterwards."""

    __tablename__ = "stock_day"

    day: str = Field(primary_key=True, max_length=10)
    closed_at: datetime = Field(default_factory=utcnow)
    closed_by: str = Field(max_length=100)
    #: The last ledger entry the day's figures include.
    last_entry_id: int = 0
    statement: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    statement_sha256: str = Field(max_length=64)


class StockDayBalance(SQLModel, table=True):
    """A closed day's closing balance at one location (where later balances start from)."""

    __tablename__ = "stock_day_balance"

    day: str = Field(primary_key=True, max_length=10)
    location: str = Field(primary_key=True, max_length=120)
    quantity: int


class CounterReading(SQLModel, table=True):
    """A printer's lifetime card counter, read at a known point of the ledger."""

    __tablename__ = "counter_reading"
    __table_args__ = (Index("ix_counter_printer_day", "printer", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    day: str = Field(max_length=10)
    printer: str = Field(max_length=100)
    value: int
    #: The highest ledger entry id when the counter was read: the ledger side of the
    #: comparison counts entries up to here.
    ledger_mark: int
    source: str = Field(max_length=40)  # run-start | run-end | close-day | manual
    #: The ribbon's panels left, read with the counter (None: not read, or not reported):
    #: consecutive readings show how many panels each card really takes.
    ribbon_panels_left: int | None = None


class NightState(enum.StrEnum):
    """A night run's life."""

    RUNNING = "running"  #: printing (or the process died and will be started again)
    DONE = "done"  #: the window ended or the work ran out; the morning report is written


class NightRun(SQLModel, table=True):
    """One unattended night: its window, the plan made before it, and its morning report."""

    __tablename__ = "night_run"

    id: int | None = Field(default=None, primary_key=True)
    station: str = Field(max_length=100, index=True)
    window_start: datetime
    window_end: datetime
    state: str = Field(default=NightState.RUNNING.value, max_length=20)
    #: The batch the night's records were queued in (None: nothing to print).
    batch_id: int | None = Field(default=None, foreign_key="batch.id")
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    #: JSON: the plan (:class:`printctl.night.plan.NightPlan`), with the stock before.
    plan: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    #: JSON: the morning report, written when the night ends.
    report: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class CounterExplanation(SQLModel, table=True):
    """Why a printer's counter and the ledger differ on a day (the difference is kept)."""

    __tablename__ = "counter_explanation"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    day: str = Field(max_length=10, index=True)
    printer: str = Field(max_length=100)
    quantity: int  #: how much of the difference this explains (counter − ledger)
    note: str = Field(max_length=500)
    actor: str = Field(max_length=100)


class StockProposal(SQLModel, table=True):
    """The first half of a two-person operation (an adjustment, a destruction)."""

    __tablename__ = "stock_proposal"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # adjust | destroy
    at: datetime = Field(default_factory=utcnow)
    proposed_by: str = Field(max_length=100)
    location: str = Field(default="", max_length=120)
    quantity: int = 0  #: signed, for an adjustment
    reason: str = Field(max_length=500)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    state: str = Field(default="proposed", max_length=20)  # proposed | approved | rejected
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = None
    decision_note: str = Field(default="", max_length=500)
    #: What approval produced: the adjusted entry's id or the destruction's id.
    result_id: int | None = None


class StockCount(SQLModel, table=True):
    """A physical count of one location; a difference stays open until a supervisor resolves it."""

    __tablename__ = "stock_count"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    day: str = Field(max_length=10)
    location: str = Field(max_length=120)
    counted: int
    expected: int
    actor: str = Field(max_length=100)
    state: str = Field(max_length=20)  # matched | open | resolved
    resolution: str = Field(default="", max_length=20)  # adjusted | recounted | found
    resolved_by: str | None = Field(default=None, max_length=100)
    resolved_at: datetime | None = None
    note: str = Field(default="", max_length=500)
    adjustment_entry_id: int | None = None


class Destruction(SQLModel, table=True):
    """A destruction record (berita acara pemusnahan): its destroyed entries point here."""

    __tablename__ = "destruction"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=60, unique=True)
    day: str = Field(max_length=10)
    at: datetime = Field(default_factory=utcnow)
    proposed_by: str = Field(max_length=100)
    approved_by: str = Field(max_length=100)
    witnesses: str = Field(default="[]", max_length=2000)  # JSON list of names
    place: str = Field(default="", max_length=200)
    method: str = Field(default="", max_length=200)
    quantity: int = 0


class OutboxEvent(SQLModel, table=True):
    """An issuance event waiting for (or acknowledged by) the center (spec §5).

    Written in the same transaction as the state change it reports, so the center is never
    told of something that did not happen and nothing that happened goes untold. It holds
    no personal data: the NIK is read from the (encrypted) record when the event bundle is
    made, and a record keeps its data until all its events are delivered.
    """

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_state", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=36, unique=True)
    type: str = Field(max_length=30)
    at: datetime = Field(default_factory=utcnow)
    station: str = Field(max_length=100)
    printer: str | None = Field(default=None, max_length=100)
    record_pk: int | None = Field(default=None, foreign_key="record.id", index=True)
    record_id: str | None = Field(default=None, max_length=100)
    version: int | None = None
    chip_uid: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=1000)
    #: Extra facts for the center as JSON (the bundle and line of a quarantined record, the
    #: ledger entry of a spoiled blank); never personal data.
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: str = Field(default=OutboxState.PENDING.value, max_length=20)
    #: The event bundle it last went out in on a flash drive (awaiting the center's receipt).
    exported_in: str | None = Field(default=None, max_length=100)
    exported_at: datetime | None = None
    delivered_at: datetime | None = None
    #: How delivery was acknowledged: ``push <bundle>``, ``receipt <bundle>``, ``confirmed by <user>``.
    delivered_via: str | None = Field(default=None, max_length=200)
    #: Why the center refused it (state ``rejected``).
    problem: str | None = Field(default=None, max_length=1000)


class UserAccount(SQLModel, table=True):
    """A person who uses printctl, with a role and a scrypt-hashed password."""

    __tablename__ = "user_account"

    #: The name, normalised (NFKC, case-folded, single spaces) as every "second person"
    #: check compares names.
    name: str = Field(primary_key=True, max_length=100)
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=300)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=100)


class ApiToken(SQLModel, table=True):
    """A user's API token, kept only as its SHA-256."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(foreign_key="user_account.name", max_length=100, index=True)
    label: str = Field(max_length=100)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A console login: the cookie's SHA-256, whose it is, and its CSRF token.

    Kept in the database (not in a signed cookie) so that logging out, disabling a user or
    an idle timeout ends the session at once, on every station sharing the database.
    """

    __tablename__ = "web_session"

    id_sha256: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(foreign_key="user_account.name", max_length=100, index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    address: str = Field(default="", max_length=100)
    language: str = Field(default="", max_length=5)


class AuditEvent(SQLModel, table=True):
    """A tamper-evident audit entry; each one's hash covers the previous one's."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=100)
    station: str = Field(max_length=100)
    action: str = Field(max_length=100, index=True)
    entity: str = Field(max_length=50)
    entity_id: str = Field(max_length=100)
    outcome: str = Field(max_length=50)
    # JSON; never personal data in clear. Unbounded: a bundle's event lists its quarantine.
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
