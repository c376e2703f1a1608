"""The driver contract: what printctl asks of a card printer and a chip encoder.

This is the only module of :mod:`printctl` that drivers import. A driver is a class that
satisfies :class:`Printer` or :class:`Encoder` structurally, plus a factory registered under a
URL scheme (see :mod:`printctl.registry`).

The error tree. Every driver error is a :class:`HardwareError` that carries two facts the
queue decides from: ``retryable`` (trying the same step again may succeed once the condition
clears) and ``card_may_have_moved`` (a blank may have left the hopper, so it must be accounted
for)::

    HardwareError
    ├── DriverConfigError          bad or unknown URL, missing dependency (never retryable)
    ├── ConnectionLost             device gone / not answering
    │   └── DeviceTimeout          a read or write did not finish within its bound
    ├── PermissionDenied           the OS refused access (udev rules, busy device)
    ├── PrinterError
    │   ├── CoverOpen              retryable, no card moved
    │   ├── FeederEmpty            the hopper is empty, no card moved
    │   ├── RibbonOut              ribbon at its end; the card in the printer is spoiled
    │   ├── CardJam                mechanical jam; a card has moved and is spoiled
    │   └── MediaError             a print failed on the card (spoiled)
    └── EncoderError
        ├── NoCard                 no card in the reader's field
        ├── StatusWordMismatch     a chip command returned an unexpected status word
        ├── CardRemoved            the card left the field mid-script
        └── ReaderGone             the reader disappeared
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image

    from printctl.domain import ChipCommand

#: The printer's native panel size in pixels (long edge, short edge) at 300 dpi.
PANEL_SIZE: tuple[int, int] = (1016, 648)
PANEL_DPI = 300


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class SidePanels:
    """The raster layers of one side of a card, each ``PANEL_SIZE`` landscape, upright.

    ``colour`` (RGB) goes to the Y, M and C panels: photo and artwork. ``black`` (mode ``1``,
    black pixel = print) goes to the resin K panel: text, so that it prints sharp and black.
    ``overlay`` (mode ``1``, black = varnish) is the protective O panel; ``None`` means full.
    """

    colour: Image.Image | None
    black: Image.Image | None
    overlay: Image.Image | None = None


@dataclass(frozen=True)
class CardImage:
    """Everything a printer needs to print one card: front and, optionally, back panels."""

    front: SidePanels
    back: SidePanels | None = None
    label: str = ""  # what logs may say about the card, e.g. a job id; never personal data


class EncoderStation(enum.StrEnum):
    """Where a printer parks a card for its chip to be written."""

    CONTACTLESS = "contactless"
    CONTACT = "contact"


class CardPosition(enum.StrEnum):
    """Where the printer's current card is, as far as the driver knows."""

    NONE = "none"
    PRINT = "print"
    ENCODER = "encoder"


@dataclass(frozen=True)
class PrinterCapabilities:
    """What a printer can do; the worker adapts to these, never to a driver's name."""

    model: str
    serial: str = ""
    colour: bool = True
    duplex: bool = True
    encoder_station: EncoderStation | None = EncoderStation.CONTACTLESS
    encode_before_print: bool = True
    panel_size: tuple[int, int] = PANEL_SIZE
    dpi: int = PANEL_DPI


class PrinterState(enum.StrEnum):
    """The printer's own view of itself."""

    READY = "ready"
    BUSY = "busy"
    ERROR = "error"
    OFFLINE = "offline"


@dataclass(frozen=True)
class PrinterStatus:
    """A status read. Counters are the printer's own lifetime counters; ``None`` = unknown."""

    state: PrinterState
    conditions: tuple[str, ...] = ()  # e.g. ("cover-open",), ("media-empty",)
    cards_in_hopper: int | None = None
    ribbon_panels_left: int | None = None
    cards_inserted: int | None = None  # lifetime: every blank the printer has taken
    panels_printed: int | None = None
    card_position: CardPosition = CardPosition.NONE
    detail: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- errors


class HardwareError(Exception):
    """Base of every driver error. See the module docstring for the tree.

    ``retryable``: the same step may succeed if tried again later.
    ``card_may_have_moved``: a blank may have left the hopper during the failed call.
    """

    retryable: bool = False
    card_may_have_moved: bool = False
    code: str = "hardware-error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        card_may_have_moved: bool | None = None,
    ) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        if card_may_have_moved is not None:
            self.card_may_have_moved = card_may_have_moved


class DriverConfigError(HardwareError):
    """The URL is malformed, names an unknown driver or option, or a dependency is missing."""

    code = "driver-config"


class ConnectionLost(HardwareError):
    """The device is gone or stopped answering."""

    retryable = True
    code = "offline"


class DeviceTimeout(ConnectionLost):
    """A read or write did not complete within its configured bound."""

    code = "timeout"


class PermissionDenied(HardwareError):
    """The operating system refused access to the device (see ``printctl driver udev-rules``)."""

    code = "permission-denied"


class PrinterError(HardwareError):
    """A condition reported by the printer itself."""

    code = "printer-error"


class CoverOpen(PrinterError):
    """The cover is open. Close it and the printer continues; no card moved."""

    retryable = True
    code = "cover-open"


class FeederEmpty(PrinterError):
    """The input hopper is empty; no card moved."""

    retryable = True
    code = "media-empty"


class RibbonOut(PrinterError):
    """The ribbon ran out; the card being printed (if any) is spoiled."""

    card_may_have_moved = True
    code = "ribbon-empty"


class CardJam(PrinterError):
    """A card jammed in the card path; it is spoiled and must be removed by hand."""

    card_may_have_moved = True
    code = "media-jam"


class MediaError(PrinterError):
    """Printing on the card failed (ribbon sync, card defect); the card is spoiled."""

    card_may_have_moved = True
    code = "media-error"


class EncoderError(HardwareError):
    """A chip-encoding failure."""

    code = "encoder-error"


class NoCard(EncoderError):
    """No card answered in the reader's field."""

    retryable = True
    code = "no-card"


class StatusWordMismatch(EncoderError):
    """A chip command returned a status word other than the one the script expects."""

    code = "status-word"

    def __init__(self, message: str, *, index: int, got: bytes, expected: bytes) -> None:
        super().__init__(message)
        self.index = index
        self.got = got
        self.expected = expected


class CardRemoved(EncoderError):
    """The card left the field while its script ran."""

    code = "card-removed"


class ReaderGone(EncoderError):
    """The reader is no longer available."""

    retryable = True
    code = "reader-gone"


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class Printer(Protocol):
    """A card printer. Calls block until the step is done or raise a :class:`HardwareError`.

    A card's life: ``feed`` (take a blank from the hopper) → optionally ``move_to_encoder``
    (park it at the chip station) → ``print_card`` → ``eject`` (to the output tray), or at any
    point after ``feed``: ``reject`` (to the reject bin).
    """

    url: str

    def open(self) -> None:
        """Connect to the device. Idempotent."""

    def close(self) -> None:
        """Release the device. Idempotent; never raises for an already-closed device."""

    def capabilities(self) -> PrinterCapabilities:
        """What this printer can do."""

    def status(self) -> PrinterStatus:
        """Read the printer's state and counters. Never blocks beyond the driver's timeout."""

    def feed(self) -> None:
        """Take one blank from the hopper into the card path."""

    def move_to_encoder(self, station: EncoderStation) -> None:
        """Park the current card at the chip-encoding station and wait there."""

    def print_card(self, image: CardImage) -> None:
        """Print the current card's panels (front, then back when given)."""

    def eject(self) -> None:
        """Send the current card to the output tray."""

    def reject(self) -> None:
        """Send the current card to the reject bin."""


@runtime_checkable
class Encoder(Protocol):
    """A chip encoder (a PC/SC reader next to the printer's encoding station)."""

    url: str

    def open(self) -> None:
        """Connect to the reader. Idempotent."""

    def close(self) -> None:
        """Release the reader. Idempotent."""

    def detect(self) -> bool:
        """True when a card is present in the reader's field."""

    def read_uid(self) -> str:
        """The chip UID of the present card, upper-case hex."""

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        """Send each command in order, compare status words, and return the chip UID."""
