"""A spy around any printer or encoder: every call logged with its duration and its error.

``spy(driver)`` wraps a :class:`~printctl.hardware.Printer` in a :class:`SpyPrinter` or an
:class:`~printctl.hardware.Encoder` in a :class:`SpyEncoder`. The wrapper satisfies the same
Protocol, forwards each call to the inner driver unchanged, and records a :class:`SpyCall`:
the method, a short summary of its arguments, how long it took (``clock``, by default
:func:`time.perf_counter`, injectable so that tests are exact), and, when it raised, the
error's ``code``, ``retryable`` and ``card_may_have_moved``. The error itself is re-raised
unchanged, so a spied driver behaves exactly like the bare one.

Each record is appended to ``calls`` (a list that several spies may share, e.g. the fresh
driver of each conformance check), passed to ``on_call`` if given, and logged through
structlog (:func:`printctl.logs.get_logger`): ``debug`` for a success, ``warning`` for an error.

Nothing personal is recorded: ``print_card`` is summarised by the image's ``label`` (a job id)
and which sides it has, ``run_script`` by its number of commands (never the APDU bytes, which
carry the holder's data), and no UID a call returns is recorded, because a chip UID
identifies a citizen's card.

The spy does not use the registry; ``printctl driver status|test-print|test-encode|check
--spy`` builds the driver through the registry and then wraps it here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from printctl.hardware import (
    CardImage,
    Encoder,
    EncoderStation,
    HardwareError,
    Printer,
    PrinterCapabilities,
    PrinterStatus,
)
from printctl.logs import get_logger

if TYPE_CHECKING:
    from printctl.domain import ChipCommand

__all__ = ["SpyCall", "SpyEncoder", "SpyPrinter", "spy"]

T = TypeVar("T")
D = TypeVar("D", Printer, Encoder)  # the wrapped driver


@dataclass(frozen=True)
class SpyCall:
    """One call through a spy.

    ``args`` summarises the arguments and ``result`` the return value, both free of personal
    data (empty when there is nothing safe or useful to say). ``seconds`` is the call's
    duration. ``error`` is the :class:`~printctl.hardware.HardwareError` code (or the
    exception's class name for anything else) and ``None`` for a success; ``retryable`` and
    ``card_may_have_moved`` are the error's two facts, ``None`` for a success or for an
    exception outside the error tree (a driver bug, which says neither).
    """

    driver: str
    name: str
    args: str
    seconds: float
    result: str = ""
    error: str | None = None
    error_type: str | None = None
    retryable: bool | None = None
    card_may_have_moved: bool | None = None

    @property
    def ok(self) -> bool:
        """True when the call returned normally."""
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return asdict(self)


class _Spy(Generic[D]):
    """What both wrappers share: the record-keeping around one forwarded call."""

    def __init__(
        self,
        inner: D,
        *,
        calls: list[SpyCall] | None = None,
        on_call: Callable[[SpyCall], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        logger: Any = None,
    ) -> None:
        self.inner: D = inner
        self.url: str = inner.url
        # A caller may pass its own list so that the spies of several drivers (one per
        # conformance check) write one log in call order.
        self.calls: list[SpyCall] = calls if calls is not None else []
        self._on_call = on_call
        self._clock = clock
        self._log = logger if logger is not None else get_logger("printctl.spy")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    def open(self) -> None:
        """Forward ``open``."""
        self._call("open", self.inner.open)

    def close(self) -> None:
        """Forward ``close``."""
        self._call("close", self.inner.close)

    def _call(
        self,
        name: str,
        fn: Callable[[], T],
        *,
        args: str = "",
        result: Callable[[T], str] | None = None,
    ) -> T:
        start = self._clock()
        try:
            value = fn()
        except BaseException as exc:
            self._record(name, args, self._clock() - start, error=exc)
            raise  # unchanged: the caller must see exactly what the bare driver raised
        self._record(
            name, args, self._clock() - start, result=result(value) if result is not None else ""
        )
        return value

    def _record(
        self,
        name: str,
        args: str,
        seconds: float,
        *,
        result: str = "",
        error: BaseException | None = None,
    ) -> None:
        if error is None:
            call = SpyCall(self.url, name, args, seconds, result=result)
        elif isinstance(error, HardwareError):
            call = SpyCall(
                self.url,
                name,
                args,
                seconds,
                error=error.code,
                error_type=type(error).__name__,
                retryable=error.retryable,
                card_may_have_moved=error.card_may_have_moved,
            )
        else:
            call = SpyCall(
                self.url,
                name,
                args,
                seconds,
                error=type(error).__name__,
                error_type=type(error).__name__,
            )
        self.calls.append(call)
        if self._on_call is not None:
            self._on_call(call)
        fields = {k: v for k, v in call.as_dict().items() if v not in (None, "")}
        if call.ok:
            self._log.debug("driver call", **fields)
        else:
            self._log.warning("driver call failed", **fields)


def _status_summary(status: PrinterStatus) -> str:
    parts = [f"state={status.state.value}"]
    if status.conditions:
        parts.append("conditions=" + ",".join(status.conditions))
    for label, value in (
        ("hopper", status.cards_in_hopper),
        ("inserted", status.cards_inserted),
        ("panels", status.panels_printed),
    ):
        if value is not None:
            parts.append(f"{label}={value}")
    parts.append(f"position={status.card_position.value}")
    return " ".join(parts)


def _image_summary(image: CardImage) -> str:
    # The label is a job id by the CardImage contract; the panels are the holder's likeness.
    return f"label={image.label!r} back={'yes' if image.back is not None else 'no'}"


class SpyPrinter(_Spy[Printer]):
    """A :class:`~printctl.hardware.Printer` that forwards to ``inner`` and records each call.

    ``inner`` is the wrapped driver (read its own attributes there); ``calls`` the records.
    """

    def capabilities(self) -> PrinterCapabilities:
        """Forward ``capabilities``; the record names the model."""
        return self._call("capabilities", self.inner.capabilities, result=lambda c: c.model)

    def status(self) -> PrinterStatus:
        """Forward ``status``; the record summarises state, counters and card position."""
        return self._call("status", self.inner.status, result=_status_summary)

    def feed(self) -> None:
        """Forward ``feed``."""
        self._call("feed", self.inner.feed)

    def move_to_encoder(self, station: EncoderStation) -> None:
        """Forward ``move_to_encoder``; the record names the station."""
        self._call(
            "move_to_encoder", lambda: self.inner.move_to_encoder(station), args=str(station)
        )

    def print_card(self, image: CardImage) -> None:
        """Forward ``print_card``; the record has the image's label, never its panels."""
        self._call("print_card", lambda: self.inner.print_card(image), args=_image_summary(image))

    def eject(self) -> None:
        """Forward ``eject``."""
        self._call("eject", self.inner.eject)

    def reject(self) -> None:
        """Forward ``reject``."""
        self._call("reject", self.inner.reject)


class SpyEncoder(_Spy[Encoder]):
    """An :class:`~printctl.hardware.Encoder` that forwards to ``inner`` and records each call.

    UIDs pass through to the caller but are never recorded.
    """

    def detect(self) -> bool:
        """Forward ``detect``; the record says whether a card was there."""
        return self._call("detect", self.inner.detect, result=lambda found: str(found).lower())

    def read_uid(self) -> str:
        """Forward ``read_uid``; the UID is returned, not recorded."""
        return self._call("read_uid", self.inner.read_uid)

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        """Forward ``run_script``; the record has the number of commands, not their bytes."""
        count = len(script)
        return self._call(
            "run_script",
            lambda: self.inner.run_script(script),
            args=f"{count} command{'' if count == 1 else 's'}",
        )


def spy(
    driver: Printer | Encoder,
    *,
    calls: list[SpyCall] | None = None,
    on_call: Callable[[SpyCall], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    logger: Any = None,
) -> SpyPrinter | SpyEncoder:
    """Wrap ``driver`` in the spy for its kind (printer first, should it be both).

    Raises :class:`TypeError` for an object that is neither a Printer nor an Encoder.
    """
    if isinstance(driver, Printer):
        return SpyPrinter(driver, calls=calls, on_call=on_call, clock=clock, logger=logger)
    if isinstance(driver, Encoder):
        return SpyEncoder(driver, calls=calls, on_call=on_call, clock=clock, logger=logger)
    raise TypeError(f"{type(driver).__name__} is neither a Printer nor an Encoder")
