"""The night plan: what an unattended night will print, on which printer, until when.

Made before the night starts (``printctl overnight plan`` shows it without printing) from:

* the work: jobs already waiting in running batches (printed first, as the workers take
  them), then ready records;
* the blanks: those on hand in the office less the night's reserve, and each hopper's own
  (nobody loads a hopper at night);
* each printer of this station: whether it may take jobs now, its pace (learned from its
  history, else its rated speed), its duty cycle (a rest after so many cards), the blanks in
  its hopper and the cards its ribbon has left (its level, divided by the panels a card
  really takes there);
* the window, and the moment the last card must start so that it is out before the end.

Which records: first-time cards (``NEW``) before replacements when blanks are scarce, and the
oldest first. In what order: grouped by district (the oldest first within one), so that
each printer's output tray comes out sorted for distribution.

The plan is a simulation of the night, card by card: each printer takes the next card when
it is free, rests when its duty cycle says, and stops when its hopper, its ribbon, the
blanks the reserve allows or the window run out. Faults are not foreseen: the morning report
sets what happened against this.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from printctl.config import PrinterConfig, Settings
from printctl.domain import RequestType
from printctl.models import (
    Job,
    PrinterRow,
    Record,
    RecordState,
    as_utc,
)
from printctl.night.history import NOMINAL_PANELS_PER_CARD, learned
from printctl.printers import why_not_ready
from printctl.queue.store import claimable
from printctl.stock import hopper_available, office_available

#: The pace assumed for a printer with neither history nor a rated speed (cards per hour):
#: about what one office measured end to end, chip included.
DEFAULT_CARDS_PER_HOUR = 60.0
#: The last card starts this many of the slowest printer's card times before the window ends.
STOP_MARGIN_CARDS = 1.25


@dataclass
class PlannedPrinter:
    """One printer in the plan: what the plan assumed of it, and what it expects it to do."""

    name: str
    usable: bool
    not_ready: str
    seconds_per_card: float
    pace_source: str
    rest_after: int
    rest_s: float
    hopper: int
    ribbon_cards: int | None
    ribbon_source: str
    cards: int = 0
    rests: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    #: What ends its night: window | work | blanks | ribbon | reserve | not-ready.
    limit: str = ""
    #: When it will need a new ribbon, or run out of blanks (None: not tonight).
    ribbon_out_at: datetime | None = None
    blanks_out_at: datetime | None = None
    districts: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = dict(self.__dict__)
        for key in ("first_at", "last_at", "ribbon_out_at", "blanks_out_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        out["districts"] = [list(pair) for pair in self.districts]
        return out


@dataclass
class NightPlan:
    """The whole plan; :meth:`as_dict` is what is stored and shown."""

    window_start: datetime
    window_end: datetime
    stop_at: datetime
    made_at: datetime
    reserve: int
    on_hand: int
    budget: int
    ready: int
    ready_new: int
    queued: int
    scarce: bool
    selected: int
    planned: int
    left_over: int
    finish_at: datetime | None
    printers: list[PlannedPrinter]
    districts: list[tuple[str, int]]
    #: Record ids (database keys) to queue tonight, in print order.
    record_pks: list[int]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
            elif key == "printers":
                out[key] = [p.as_dict() for p in value]
            elif key == "districts":
                out[key] = [list(pair) for pair in value]
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class _Item:
    record_pk: int
    district: str
    request_type: str
    imported_at: datetime
    queued: bool


def _queued_work(session: Session) -> list[_Item]:
    """Jobs waiting in running batches, in the order workers take them."""
    rows = session.exec(claimable(select(Job, Record))).all()
    return [
        _Item(job.record_pk, rec.district, rec.request_type, as_utc(rec.imported_at), True)
        for job, rec in rows
    ]


def _ready_records(session: Session) -> list[_Item]:
    rows = session.exec(
        select(Record)
        .where(col(Record.state) == RecordState.READY.value)
        .order_by(col(Record.imported_at), col(Record.id))
    ).all()
    return [
        _Item(r.id or 0, r.district, r.request_type, as_utc(r.imported_at), False) for r in rows
    ]


def _printer_input(
    session: Session, config: PrinterConfig, unreachable: str = ""
) -> PlannedPrinter:
    """What the plan assumes of one printer, from its row, the ledger and its history."""
    reason = why_not_ready(session, config.name) or (
        f"it did not answer: {unreachable}" if unreachable else None
    )
    seen = learned(session, config.name)
    if seen.seconds_per_card is not None:
        pace = seen.seconds_per_card
        pace_source = f"learned from its last {seen.pace_cards} cards"
    elif config.rated_cards_per_hour > 0:
        pace = 3600 / config.rated_cards_per_hour
        pace_source = f"rated {config.rated_cards_per_hour:g} cards/hour (no history yet)"
    else:
        pace = 3600 / DEFAULT_CARDS_PER_HOUR
        pace_source = f"assumed {DEFAULT_CARDS_PER_HOUR:g} cards/hour (no history, no rating)"
    row = session.get(PrinterRow, config.name)
    panels = row.ribbon_panels_left if row is not None else None
    if panels is None:
        ribbon_cards, ribbon_source = None, "ribbon level unknown"
    elif seen.panels_per_card is not None:
        ribbon_cards = int(panels / seen.panels_per_card)
        ribbon_source = (
            f"{panels} panels at {seen.panels_per_card:.2f} a card "
            f"(learned from {seen.ribbon_cards} cards)"
        )
    else:
        ribbon_cards = int(panels / NOMINAL_PANELS_PER_CARD)
        ribbon_source = f"{panels} panels at {NOMINAL_PANELS_PER_CARD:g} a card (no history yet)"
    return PlannedPrinter(
        name=config.name,
        usable=reason is None,
        not_ready=reason or "",
        seconds_per_card=pace,
        pace_source=pace_source,
        rest_after=config.rest_after,
        rest_s=config.rest_minutes * 60,
        hopper=max(0, hopper_available(session, config.name)),
        ribbon_cards=ribbon_cards,
        ribbon_source=ribbon_source,
    )


def simulate(
    printers: Sequence[PlannedPrinter],
    items: int,
    budget: int,
    start: datetime,
    stop_at: datetime,
    *,
    reserve: int = 0,
) -> list[tuple[int, datetime]]:
    """Play the night card by card; fills each printer's results and returns, per card in
    queue order, the index of the printer that prints it and when it comes out."""
    heap: list[tuple[datetime, int]] = []
    state: dict[int, dict[str, int]] = {}
    for index, printer in enumerate(printers):
        printer.cards, printer.rests, printer.first_at, printer.last_at = 0, 0, None, None
        printer.ribbon_out_at = printer.blanks_out_at = None
        if not printer.usable:
            printer.limit = "not-ready"
            continue
        state[index] = {
            "hopper": printer.hopper,
            "ribbon": printer.ribbon_cards if printer.ribbon_cards is not None else -1,
            "since_rest": 0,
        }
        heapq.heappush(heap, (start, index))
    out: list[tuple[int, datetime]] = []
    while heap:
        at, index = heapq.heappop(heap)
        printer, left = printers[index], state[index]
        if len(out) >= items:
            printer.limit = "work"
            continue
        if at >= stop_at:
            printer.limit = "window"
            continue
        if left["hopper"] <= 0:
            printer.limit, printer.blanks_out_at = "blanks", at
            continue
        if left["ribbon"] == 0:
            printer.limit, printer.ribbon_out_at = "ribbon", at
            continue
        if budget <= 0:
            printer.limit = "reserve" if reserve else "blanks"
            continue
        done = at + timedelta(seconds=printer.seconds_per_card)
        budget -= 1
        left["hopper"] -= 1
        left["ribbon"] -= 1 if left["ribbon"] > 0 else 0
        left["since_rest"] += 1
        printer.cards += 1
        printer.first_at = printer.first_at or at
        printer.last_at = done
        out.append((index, done))
        following = done
        if printer.rest_after and left["since_rest"] >= printer.rest_after:
            following += timedelta(seconds=printer.rest_s)
            left["since_rest"] = 0
            printer.rests += 1
        heapq.heappush(heap, (following, index))
    return out


def stop_time(printers: Sequence[PlannedPrinter], window_end: datetime) -> datetime:
    """When the night stops taking new cards: the slowest usable printer's card (with a
    margin) before the end, so that no card is left half-done when the window closes."""
    paces = [p.seconds_per_card for p in printers if p.usable] or [0.0]
    return window_end - timedelta(seconds=max(paces) * STOP_MARGIN_CARDS)


def make_plan(
    session: Session,
    settings: Settings,
    printers: Sequence[PrinterConfig],
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    reserve: int | None = None,
    unreachable: Mapping[str, str] | None = None,
) -> NightPlan:
    """The plan for a night from ``window_start`` (or now, if later) to ``window_end``;
    ``unreachable`` names the printers that did not answer a status read just now."""
    reserve = settings.night_reserve if reserve is None else reserve
    start = max(window_start, now)
    silent = unreachable or {}
    planned = [_printer_input(session, c, silent.get(c.name, "")) for c in printers]
    stop_at = stop_time(planned, window_end)
    queued = _queued_work(session)
    ready = _ready_records(session)
    on_hand = office_available(session)
    budget = max(0, on_hand - reserve)
    scarce = budget < len(queued) + len(ready)
    if scarce:  # first-time cards first, each kind oldest first (the sort is stable)
        ready.sort(key=lambda item: item.request_type != RequestType.NEW.value)
    capacity = len(simulate(planned, len(queued) + len(ready), budget, start, stop_at))
    chosen = ready[: max(0, capacity - len(queued))]
    chosen.sort(key=lambda item: (item.district.upper(), item.imported_at, item.record_pk))
    # What ends each printer's night is what ended it with all the work there was.
    ends = [(p.limit, p.ribbon_out_at, p.blanks_out_at) for p in planned]
    queue = queued[:capacity] + chosen
    cards = simulate(planned, len(queue), budget, start, stop_at, reserve=reserve)
    for printer, (limit, ribbon_out, blanks_out) in zip(planned, ends, strict=True):
        printer.limit, printer.ribbon_out_at, printer.blanks_out_at = limit, ribbon_out, blanks_out
    for index, printer in enumerate(planned):
        mine = Counter(queue[n].district for n, (who, _at) in enumerate(cards) if who == index)
        printer.districts = _in_order(mine, queue)
    notes = _notes(planned, queued, ready, chosen, budget, reserve, on_hand)
    return NightPlan(
        window_start=window_start,
        window_end=window_end,
        stop_at=stop_at,
        made_at=now,
        reserve=reserve,
        on_hand=on_hand,
        budget=budget,
        ready=len(ready),
        ready_new=sum(1 for item in ready if item.request_type == RequestType.NEW.value),
        queued=len(queued),
        scarce=scarce,
        selected=len(chosen),
        planned=len(cards),
        left_over=len(ready) - len(chosen),
        finish_at=max((at for _who, at in cards), default=None),
        printers=planned,
        districts=_in_order(Counter(item.district for item in queue), queue),
        record_pks=[item.record_pk for item in chosen],
        notes=notes,
    )


def _in_order(counts: Counter[str], queue: Sequence[_Item]) -> list[tuple[str, int]]:
    """District counts in the order the districts come out."""
    seen: list[str] = []
    for item in queue:
        if item.district in counts and item.district not in seen:
            seen.append(item.district)
    return [(district, counts[district]) for district in seen]


def _notes(
    printers: Sequence[PlannedPrinter],
    queued: Sequence[_Item],
    ready: Sequence[_Item],
    chosen: Sequence[_Item],
    budget: int,
    reserve: int,
    on_hand: int,
) -> list[str]:
    """What the plan's reader should know, in sentences."""
    notes: list[str] = []
    for printer in printers:
        if not printer.usable:
            notes.append(f"{printer.name} prints nothing tonight: {printer.not_ready}")
        elif printer.ribbon_cards is None:
            notes.append(f"{printer.name}: ribbon level unknown; the plan assumes it lasts")
    left = len(ready) - len(chosen)
    if left:
        why = []
        if budget < len(queued) + len(ready):
            why.append(
                f"blanks: {on_hand} on hand, {reserve} kept in reserve"
                if reserve
                else f"blanks: {on_hand} on hand"
            )
        if any(p.limit in ("window", "ribbon", "blanks") for p in printers if p.usable):
            why.append("printer time, ribbons and hoppers")
        notes.append(f"{left} ready record(s) wait for another day ({'; '.join(why) or 'limits'})")
        skipped = sum(1 for item in ready[len(chosen) :] if item.request_type != "NEW")
        if skipped and budget < len(queued) + len(ready):
            notes.append(
                f"blanks are scarce: first-time cards go first; {skipped} replacements wait"
            )
    return notes
