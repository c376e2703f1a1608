"""Where blanks can be, and which moves each kind of ledger entry may make.

Inside the office a blank is in the **vault**, in a printer's **hopper**, or **in doubt** (a
printer took it and nobody knows yet what came out); these three make the stock the office
publishes. A spoiled card waits in the **spoiled** store until it is destroyed. Everything else
is outside: the supplier a delivery came from, the holders cards were issued to, the province
blanks were returned to, destruction, and the adjustment account corrections come from or go
to. Only inside locations (and the spoiled store) have balances, and none may go negative.
"""

from __future__ import annotations

from printctl.models import LedgerKind

VAULT = "vault"
IN_DOUBT = "in-doubt"
SPOILED = "spoiled"
HOPPER_PREFIX = "hopper:"

SUPPLIER = "supplier"
HOLDERS = "holders"
PROVINCE = "province"
DESTROYED = "destroyed"
ADJUSTMENT = "adjustment"

#: Outside locations: no balance is kept for them.
OUTSIDE = frozenset({SUPPLIER, HOLDERS, PROVINCE, DESTROYED, ADJUSTMENT})


def hopper(printer: str) -> str:
    """The location of a printer's hopper."""
    return f"{HOPPER_PREFIX}{printer}"


def hopper_printer(location: str) -> str | None:
    """The printer whose hopper ``location`` is, or None."""
    if location.startswith(HOPPER_PREFIX) and len(location) > len(HOPPER_PREFIX):
        return location[len(HOPPER_PREFIX) :]
    return None


def is_stock(location: str) -> bool:
    """Whether blanks at ``location`` count in the office's stock (vault, hoppers, in doubt)."""
    return location in (VAULT, IN_DOUBT) or hopper_printer(location) is not None


def is_inside(location: str) -> bool:
    """Whether ``location`` keeps a balance (stock locations and the spoiled store)."""
    return is_stock(location) or location == SPOILED


def parse_location(text: str) -> str:
    """A location a person typed (``vault``, ``hopper:P1`` or just ``P1``, ``in-doubt``,
    ``spoiled``), in its stored form. Raises ValueError with the choices."""
    value = text.strip()
    if value in (VAULT, IN_DOUBT, SPOILED):
        return value
    if hopper_printer(value) is not None:
        return value
    if value and ":" not in value and value not in OUTSIDE:
        return hopper(value)
    raise ValueError(f"unknown location {text!r}: use vault, in-doubt, spoiled or hopper:<printer>")


def _hoppers(location: str) -> bool:
    return hopper_printer(location) is not None


def move_allowed(kind: LedgerKind, source: str, target: str) -> bool:
    """Whether an entry of ``kind`` may move blanks from ``source`` to ``target``."""
    if source == target:
        return False
    if kind is LedgerKind.RECEIVED:
        return source == SUPPLIER and target == VAULT
    if kind is LedgerKind.MOVED:
        return (
            (source == VAULT and _hoppers(target))
            or (_hoppers(source) and target == VAULT)
            or (_hoppers(source) and _hoppers(target))
            or (source == IN_DOUBT and _hoppers(target))
        )
    if kind is LedgerKind.ISSUED:
        return (_hoppers(source) or source == IN_DOUBT) and target == HOLDERS
    if kind is LedgerKind.IN_DOUBT:
        return _hoppers(source) and target == IN_DOUBT
    if kind is LedgerKind.SPOILED:
        return (is_stock(source) or source == HOLDERS) and target == SPOILED
    if kind is LedgerKind.RETURNED:
        return source == VAULT and target == PROVINCE
    if kind is LedgerKind.DESTROYED:
        return source == SPOILED and target == DESTROYED
    if kind is LedgerKind.ADJUSTED:
        return (
            source == ADJUSTMENT and (source != target) and (target == VAULT or _hoppers(target))
        ) or ((source == VAULT or _hoppers(source)) and target == ADJUSTMENT)
    return False
