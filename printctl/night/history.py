"""What a printer's own history says about it: its real pace, and what its ribbons really give.

Datasheets promise ~200 cards an hour and 200 cards a ribbon; offices measure two minutes a
card and 126 cards a ribbon. The night plan believes the office's own figures once there
are enough of them, and the datasheet (or a cautious default) until then.

* **Pace**: the time between one issued card and the next on the same printer (the ledger's
  ``issued`` entries), over its last few hundred cards. Gaps longer than three times the
  median (rests, stops, the night in between) are not printing time and are left out; the
  rest are averaged, so that the odd jam's second blank counts as the time it cost.
* **Ribbon**: each counter reading keeps the ribbon's panels left. Between two readings with
  no new ribbon in between, the panels the printer used, divided by the cards it issued,
  is what one good card really costs (cleaning, spoiled cards and restarts included).
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from printctl.models import CounterReading, LedgerEntry, LedgerKind, as_utc

#: Cards of history a figure needs before the plan believes it over the datasheet.
MIN_PACE_CARDS = 10
MIN_RIBBON_CARDS = 20
#: Issued cards whose spacing makes the learned pace (the most recent ones).
PACE_WINDOW = 300
#: Panels a card takes on a YMCKO-K ribbon (five colour panels front, black back): what a
#: ribbon's level is divided by until the printer's history says better.
NOMINAL_PANELS_PER_CARD = 6.0


@dataclass(frozen=True)
class Learned:
    """One printer's learned figures (None: not enough history yet)."""

    printer: str
    seconds_per_card: float | None
    pace_cards: int
    panels_per_card: float | None
    ribbon_cards: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return dict(self.__dict__)


def learned_pace(session: Session, printer: str) -> tuple[float | None, int]:
    """Seconds per issued card on ``printer``, and how many cards it was learned from."""
    times = [
        as_utc(at)
        for at in session.exec(
            select(LedgerEntry.at)
            .where(
                col(LedgerEntry.kind) == LedgerKind.ISSUED.value,
                col(LedgerEntry.printer) == printer,
            )
            .order_by(col(LedgerEntry.id).desc())
            .limit(PACE_WINDOW + 1)
        ).all()
    ]
    times.reverse()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g > 0]
    if len(gaps) < MIN_PACE_CARDS:
        return None, len(gaps)
    median = statistics.median(gaps)
    printing = [g for g in gaps if g <= 3 * median]
    return statistics.fmean(printing), len(printing)


def learned_panels_per_card(session: Session, printer: str) -> tuple[float | None, int]:
    """Ribbon panels one issued card really takes on ``printer``, and over how many cards."""
    readings = session.exec(
        select(CounterReading)
        .where(
            col(CounterReading.printer) == printer,
            col(CounterReading.ribbon_panels_left).is_not(None),
        )
        .order_by(col(CounterReading.id))
    ).all()
    panels = cards = 0
    for before, after in itertools.pairwise(readings):
        assert before.ribbon_panels_left is not None and after.ribbon_panels_left is not None
        used = before.ribbon_panels_left - after.ribbon_panels_left
        if used <= 0:
            continue  # a new ribbon was fitted in between (or nothing printed)
        issued = session.exec(
            select(func.count()).where(
                col(LedgerEntry.kind) == LedgerKind.ISSUED.value,
                col(LedgerEntry.printer) == printer,
                col(LedgerEntry.id) > before.ledger_mark,
                col(LedgerEntry.id) <= after.ledger_mark,
            )
        ).one()
        if issued:
            panels += used
            cards += int(issued)
    if cards < MIN_RIBBON_CARDS:
        return None, cards
    return panels / cards, cards


def learned(session: Session, printer: str) -> Learned:
    """Both learned figures of ``printer``."""
    pace, pace_cards = learned_pace(session, printer)
    per_card, ribbon_cards = learned_panels_per_card(session, printer)
    return Learned(printer, pace, pace_cards, per_card, ribbon_cards)
