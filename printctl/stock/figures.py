"""The numbers the office's stock paperwork shows, computed from the ledger.

These are plain values: :mod:`printctl.stock.days` computes them, the PDF writers in
:mod:`printctl.reports.stock_papers` and the CSV exports only lay them out. No personal data:
records are named by their id, cards by their chip UID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class PrinterCounterLine:
    """One printer's hardware counter against what the ledger says it consumed in a day."""

    printer: str
    #: The printer's lifetime card counter at the start and end of the day's window (None:
    #: never read in the window).
    counter_start: int | None
    counter_end: int | None
    #: Blanks the ledger says this printer took in the window (issued + spoiled + in doubt).
    ledger_consumed: int
    #: Blanks already explained (``printctl stock explain-counter``).
    explained: int = 0
    explanations: tuple[str, ...] = ()
    #: The sum of the counter's rises between consecutive readings. A fall (the printer was
    #: replaced or its counter reset) is not a rise; ``resets`` counts them.
    counter_rise: int | None = None
    resets: int = 0
    #: Blanks the ledger's jobs took from this printer after its last reading of the day:
    #: the counter must be read again before the day can close.
    after_last_reading: int = 0

    @property
    def counter_consumed(self) -> int | None:
        """Cards the printer's own counter says it took (None: not known)."""
        if self.counter_start is None or self.counter_end is None:
            return None
        if self.counter_rise is not None:
            return self.counter_rise
        return self.counter_end - self.counter_start

    @property
    def difference(self) -> int:
        """Counter minus ledger, before explanations (0 when the counter is unknown)."""
        consumed = self.counter_consumed
        return 0 if consumed is None else consumed - self.ledger_consumed

    @property
    def unexplained(self) -> int:
        """What is left to explain before the day may close."""
        return self.difference - self.explained


@dataclass(frozen=True)
class DailyStatement:
    """One day's stock statement: the number offices publish.

    ``closing = opening + received − issued − spoiled − returned + adjusted``, where
    ``spoiled`` counts blanks taken from stock (not cards handed back by holders) and
    ``adjusted`` is signed. ``closing`` is every blank still in the office: vault, hoppers
    and in doubt.
    """

    office_name: str
    day: date
    opening: int
    received: int
    issued: int
    spoiled: int
    returned: int
    adjusted: int
    closing: int
    #: Closing balance per location (``vault``, ``hopper:<printer>``, ``in-doubt``).
    locations: dict[str, int]
    #: Spoiled blanks of the day per reason code (stock only).
    spoiled_by_reason: dict[str, int]
    #: Cards handed back by holders that day (they join the cards to destroy, not the stock).
    holder_returned: int
    #: Spoiled cards awaiting destruction at the start and end of the day, and destroyed.
    to_destroy_opening: int
    destroyed: int
    to_destroy_closing: int
    deliveries: tuple[str, ...] = ()  #: "lot L, doc D, 500 (serials …)" per delivery
    printers: tuple[PrinterCounterLine, ...] = ()
    #: Set once the day is closed.
    closed_at: datetime | None = None
    closed_by: str | None = None

    @property
    def balanced(self) -> bool:
        """Whether the published equation holds."""
        return self.closing == (
            self.opening
            + self.received
            - self.issued
            - self.spoiled
            - self.returned
            + self.adjusted
        )


@dataclass(frozen=True)
class DestroyedCard:
    """One spoiled card (or blank) on a destruction record."""

    entry_id: int  #: the spoiled ledger entry
    day: date  #: the day it was spoiled
    reason: str  #: reason code (see :class:`printctl.models.SpoilReason`)
    quantity: int
    chip_uid: str | None
    printer: str | None
    record_id: str | None
    note: str = ""


@dataclass(frozen=True)
class DestructionRecord:
    """A berita acara pemusnahan: which spoiled cards were destroyed, when, before whom."""

    office_name: str
    number: str
    day: date
    executed_at: datetime
    proposed_by: str
    approved_by: str
    witnesses: tuple[str, ...]
    place: str
    method: str
    cards: tuple[DestroyedCard, ...]

    @property
    def total(self) -> int:
        """Cards destroyed."""
        return sum(c.quantity for c in self.cards)

    def by_reason(self) -> dict[str, int]:
        """Cards destroyed per reason code."""
        out: dict[str, int] = {}
        for c in self.cards:
            out[c.reason] = out.get(c.reason, 0) + c.quantity
        return out


@dataclass(frozen=True)
class MonthlyReport:
    """A month of daily statements, with totals (the report sent up each month)."""

    office_name: str
    year: int
    month: int
    days: tuple[DailyStatement, ...]
    #: Totals straight from the ledger for the month (the test compares them with the sum
    #: of the days).
    ledger_totals: dict[str, int] = field(default_factory=dict)

    @property
    def opening(self) -> int:
        """Stock at the start of the month (the first day's opening; 0 with no days)."""
        return self.days[0].opening if self.days else 0

    @property
    def closing(self) -> int:
        """Stock at the end of the month."""
        return self.days[-1].closing if self.days else 0

    def total(self, name: str) -> int:
        """The month's total of one daily figure (``received``, ``issued``, ``spoiled``, …)."""
        return sum(int(getattr(d, name)) for d in self.days)

    def spoiled_by_reason(self) -> dict[str, int]:
        """The month's spoiled blanks per reason code."""
        out: dict[str, int] = {}
        for d in self.days:
            for reason, n in d.spoiled_by_reason.items():
                out[reason] = out.get(reason, 0) + n
        return out


#: The office's words for each spoil reason code, as the paperwork prints them.
REASON_LABELS_ID: dict[str, str] = {
    "encode-failed": "Gagal encode chip",
    "print-failed": "Gagal cetak",
    "damaged": "Rusak fisik",
    "no-working-chip": "Chip tidak berfungsi",
    "data-changed": "Perubahan elemen data",
    "returned-by-holder": "Dikembalikan pemegang (pindah / perubahan data)",
    "test-print": "Cetak uji (teknisi)",
}


def reason_label(code: str) -> str:
    """The Indonesian label of a spoil reason code (the code itself when unknown)."""
    return REASON_LABELS_ID.get(code, code)
