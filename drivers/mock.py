"""Mock printer and encoder: record every call, always succeed.

``mock://`` is the driver for tests that care about *what was asked of the hardware*, not about
how hardware behaves (that is ``sim://``). Every call is appended to ``calls`` as a
:class:`Call` (method name and a short, personal-data-free summary of its arguments). Simple
counters keep :meth:`MockPrinter.status` sensible; the mock does not enforce the card-life
order. Options: printer ``serial=MOCK0001``, ``model=printctl-mock``; encoder none.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from drivers.sim import simulated_status_word
from drivers.urls import parse_driver_url
from printctl.hardware import (
    CardImage,
    CardPosition,
    EncoderStation,
    PrinterCapabilities,
    PrinterState,
    PrinterStatus,
    StatusWordMismatch,
)

if TYPE_CHECKING:
    from printctl.domain import ChipCommand

__all__ = ["Call", "MockEncoder", "MockPrinter"]


class Call(NamedTuple):
    """One recorded driver call: the method name and a summary of its arguments."""

    name: str
    args: str = ""


class MockPrinter:
    """A printer that records every call and always succeeds.

    The hopper and ribbon are unknown (``None`` in the status); the lifetime counters,
    output tray and reject bin count what was asked.
    """

    def __init__(self, url: str = "mock://") -> None:
        self.url = url
        opts = parse_driver_url(url).options_reader()
        self._caps = PrinterCapabilities(
            model=opts.get_str("model", "printctl-mock"),
            serial=opts.get_str("serial", "MOCK0001"),
        )
        opts.done()
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.is_open = False
        self.cards_inserted = 0
        self.panels_printed = 0
        self.output_tray = 0
        self.reject_bin = 0
        self.position = CardPosition.NONE

    def __repr__(self) -> str:
        return f"MockPrinter({self.url!r})"

    def _record(self, name: str, args: str = "") -> None:
        self.calls.append(Call(name, args))

    def open(self) -> None:
        """Record the call; the printer is then open."""
        with self._lock:
            self._record("open")
            self.is_open = True

    def close(self) -> None:
        """Record the call; the printer is then closed."""
        with self._lock:
            self._record("close")
            self.is_open = False

    def capabilities(self) -> PrinterCapabilities:
        """Default capabilities: colour, duplex, contactless station, encode before print."""
        with self._lock:
            self._record("capabilities")
        return self._caps

    def status(self) -> PrinterStatus:
        """READY, with the counters of what was asked so far."""
        with self._lock:
            self._record("status")
            return PrinterStatus(
                state=PrinterState.READY,
                cards_inserted=self.cards_inserted,
                panels_printed=self.panels_printed,
                card_position=self.position,
                detail={"output_tray": str(self.output_tray), "reject_bin": str(self.reject_bin)},
            )

    def feed(self) -> None:
        """Count one card inserted."""
        with self._lock:
            self._record("feed")
            self.cards_inserted += 1
            self.position = CardPosition.PRINT

    def move_to_encoder(self, station: EncoderStation) -> None:
        """Note the card as parked at the encoder."""
        with self._lock:
            self._record("move_to_encoder", str(station))
            self.position = CardPosition.ENCODER

    def print_card(self, image: CardImage) -> None:
        """Count the panels a YMCKO(-K) printer would print for ``image``."""
        with self._lock:
            back = image.back is not None
            self._record("print_card", f"label={image.label!r} back={back}")
            self.panels_printed += 5 + (1 if back else 0)
            self.position = CardPosition.PRINT

    def eject(self) -> None:
        """Count one card in the output tray."""
        with self._lock:
            self._record("eject")
            self.output_tray += 1
            self.position = CardPosition.NONE

    def reject(self) -> None:
        """Count one card in the reject bin."""
        with self._lock:
            self._record("reject")
            self.reject_bin += 1
            self.position = CardPosition.NONE


class MockEncoder:
    """An encoder that records every call and succeeds whenever a real chip could.

    UIDs are ``04000000000001``, ``04000000000002``, …: one per card, where a card stays in
    the field until its script has run. Each command is answered with
    :func:`drivers.sim.simulated_status_word`, i.e. the expected status word unless no chip
    could ever send it (``0000``), which is how a conformance check provokes a mismatch.
    """

    def __init__(self, url: str = "mock://") -> None:
        self.url = url
        parse_driver_url(url).options_reader().done()
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.is_open = False
        self.card = 1
        self._card_done = False

    def __repr__(self) -> str:
        return f"MockEncoder({self.url!r})"

    def _record(self, name: str, args: str = "") -> None:
        self.calls.append(Call(name, args))
        if self._card_done:  # the previous card has had its script: this is a new one
            self.card += 1
            self._card_done = False

    def _uid(self) -> str:
        return f"04{self.card:012X}"

    def open(self) -> None:
        """Record the call; the reader is then open."""
        with self._lock:
            self._record("open")
            self.is_open = True

    def close(self) -> None:
        """Record the call; the reader is then closed."""
        with self._lock:
            self._record("close")
            self.is_open = False

    def detect(self) -> bool:
        """Always a card in the field."""
        with self._lock:
            self._record("detect")
            return True

    def read_uid(self) -> str:
        """The current card's UID."""
        with self._lock:
            self._record("read_uid")
            return self._uid()

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        """Record the script's length and return the UID (status words compared as a chip would)."""
        with self._lock:
            self._record("run_script", f"{len(script)} commands")
            self._card_done = True
            for index, command in enumerate(script):
                got = simulated_status_word(command)
                expected = bytes(command.expect)
                if got != expected:
                    raise StatusWordMismatch(
                        f"{self.url}: run_script: command {index} returned {got.hex().upper()},"
                        f" expected {expected.hex().upper()}",
                        index=index,
                        got=got,
                        expected=expected,
                    )
            return self._uid()
