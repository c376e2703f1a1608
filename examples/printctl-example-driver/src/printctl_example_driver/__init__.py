"""An example third-party printctl driver: an in-memory printer and chip encoder.

It is the smallest driver that keeps the whole contract, meant to be copied: read the URL
options with :mod:`drivers.urls` (rejecting unknown ones), raise only errors from
:mod:`printctl.hardware` with the right ``retryable`` / ``card_may_have_moved`` facts, keep
lifetime counters, and pass ``printctl driver check example://``.

URLs::

    example://?cards=10&serial=EX0001      printer: blanks in the hopper, serial number
    example://?uid=04A1B2C3D4E5F6          encoder: the UID of the card on the reader
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from drivers.urls import parse_driver_url
from printctl.hardware import (
    CardImage,
    CardPosition,
    ConnectionLost,
    EncoderStation,
    FeederEmpty,
    PrinterCapabilities,
    PrinterError,
    PrinterState,
    PrinterStatus,
    StatusWordMismatch,
)

if TYPE_CHECKING:
    from printctl.domain import ChipCommand

__all__ = ["ExampleEncoder", "ExamplePrinter", "make_encoder", "make_printer"]


class ExamplePrinter:
    """An in-memory card printer: a hopper, lifetime counters and one card path."""

    def __init__(self, url: str) -> None:
        self.url = url
        opts = parse_driver_url(url).options_reader()
        self.hopper = opts.get_int("cards", 10, minimum=0)
        serial = opts.get_str("serial", "EX0001")
        opts.done()  # a misspelt option must fail here, not be ignored
        self._caps = PrinterCapabilities(model="example printer", serial=serial)
        self._open = False
        self.cards_inserted = 0
        self.panels_printed = 0
        self.position = CardPosition.NONE
        self._printed = False

    def open(self) -> None:
        """Connect; idempotent."""
        self._open = True

    def close(self) -> None:
        """Disconnect; idempotent."""
        self._open = False

    def capabilities(self) -> PrinterCapabilities:
        """Colour, duplex, a contactless station, encoding before printing."""
        return self._caps

    def status(self) -> PrinterStatus:
        """State, hopper, lifetime counters and where the card is."""
        self._require_open()
        return PrinterStatus(
            state=PrinterState.READY,
            conditions=("media-empty",) if self.hopper == 0 else (),
            cards_in_hopper=self.hopper,
            cards_inserted=self.cards_inserted,
            panels_printed=self.panels_printed,
            card_position=self.position,
        )

    def feed(self) -> None:
        """Take a blank; FeederEmpty (nothing moved) when the hopper is empty."""
        self._require_open()
        if self.position is not CardPosition.NONE:
            raise PrinterError(f"{self.url}: feed: a card is already in the card path")
        if self.hopper == 0:
            raise FeederEmpty(f"{self.url}: feed: the hopper is empty")
        self.hopper -= 1
        self.cards_inserted += 1
        self.position = CardPosition.PRINT
        self._printed = False

    def move_to_encoder(self, station: EncoderStation) -> None:
        """Park the card at the (contactless) chip station."""
        self._require_card("move_to_encoder")
        if station is not EncoderStation.CONTACTLESS:
            raise PrinterError(f"{self.url}: move_to_encoder: no {station} station")
        self.position = CardPosition.ENCODER

    def print_card(self, image: CardImage) -> None:
        """Print: Y, M, C, K, O on the front, K on the back."""
        self._require_card("print_card")
        self.panels_printed += 5 + (1 if image.back is not None else 0)
        self.position = CardPosition.PRINT
        self._printed = True

    def eject(self) -> None:
        """Send the printed card to the output tray."""
        self._require_card("eject")
        if not self._printed:
            raise PrinterError(f"{self.url}: eject: the card is blank; reject it instead")
        self.position = CardPosition.NONE

    def reject(self) -> None:
        """Send the card to the reject bin."""
        self._require_card("reject")
        self.position = CardPosition.NONE

    def _require_open(self) -> None:
        if not self._open:
            raise ConnectionLost(f"{self.url}: not open", retryable=False)

    def _require_card(self, step: str) -> None:
        self._require_open()
        if self.position is CardPosition.NONE:
            raise PrinterError(f"{self.url}: {step}: no card in the card path")


class ExampleEncoder:
    """An in-memory chip encoder with one card on the reader.

    The card answers GET UID (``FFCA000000``) with 9000, SELECT (``00A4``) with 6A82 (no
    such application) and everything else with 9000, like a blank chip that accepts writes.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        opts = parse_driver_url(url).options_reader()
        self.uid = opts.get_str("uid", "04A1B2C3D4E5F6").upper()
        opts.done()
        if len(self.uid) not in (8, 14, 20) or any(c not in "0123456789ABCDEF" for c in self.uid):
            raise opts.error(f"option uid={self.uid!r}: expected hex of 4, 7 or 10 bytes")
        self._open = False

    def open(self) -> None:
        """Connect; idempotent."""
        self._open = True

    def close(self) -> None:
        """Disconnect; idempotent."""
        self._open = False

    def detect(self) -> bool:
        """The card is always there."""
        self._require_open()
        return True

    def read_uid(self) -> str:
        """The card's UID."""
        self._require_open()
        return self.uid

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        """Answer each command, stop at the first unexpected status word, return the UID."""
        self._require_open()
        for index, command in enumerate(script):
            got = b"\x6a\x82" if bytes(command.apdu[:2]) == b"\x00\xa4" else b"\x90\x00"
            if got != bytes(command.expect):
                raise StatusWordMismatch(
                    f"{self.url}: command {index} returned {got.hex().upper()},"
                    f" expected {bytes(command.expect).hex().upper()}",
                    index=index,
                    got=got,
                    expected=bytes(command.expect),
                )
        return self.uid

    def _require_open(self) -> None:
        if not self._open:
            raise ConnectionLost(f"{self.url}: not open", retryable=False)


def make_printer(url: str) -> ExamplePrinter:
    """In-memory example printer (hopper, counters, card path)."""
    return ExamplePrinter(url)


def make_encoder(url: str) -> ExampleEncoder:
    """In-memory example chip encoder (one card, fixed UID)."""
    return ExampleEncoder(url)
