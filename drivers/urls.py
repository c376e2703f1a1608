"""Driver URLs: ``scheme://host:port/path?option=value&…`` and their typed options.

A device is addressed by a URL (as pyserial's ``serial_for_url`` does), so one string in the
settings or on the command line says both which driver to use and how to configure it::

    sim://?cards=100&ribbon=200&fault=print:3:jam&seed=7
    evolis+tcp://10.0.0.5:9100?timeout=5
    evolis+serial:///dev/ttyUSB0?baud=9600

Options are read through an :class:`OptionReader`, which converts and checks each value and,
once the driver has read everything it knows, rejects whatever is left: a misspelt option
(``cardz=5``) must fail loudly, because silently ignoring it would run a printer with a
configuration the technician did not ask for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from printctl.hardware import DriverConfigError

__all__ = ["DriverURL", "OptionReader", "parse_driver_url"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class DriverURL:
    """A parsed driver URL.

    ``netloc`` is the raw ``host:port`` part (may be empty, as in ``sim://?cards=5``);
    ``host`` and ``port`` are its pieces when present. ``options`` holds the query string,
    each name at most once, values still as strings (read them with :meth:`options_reader`).
    """

    raw: str
    scheme: str
    netloc: str
    host: str | None
    port: int | None
    path: str
    options: dict[str, str]

    def options_reader(self) -> OptionReader:
        """A reader for this URL's options; call :meth:`OptionReader.done` after the last read."""
        return OptionReader(self)


def parse_driver_url(url: str) -> DriverURL:
    """Split ``url`` into scheme, netloc, path and options.

    Raises :class:`DriverConfigError` when the URL has no ``scheme://``, a malformed port,
    a fragment, a query item without ``=``, or the same option twice.
    """
    scheme, sep, _rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not _SCHEME.match(scheme):
        raise DriverConfigError(f"{url!r}: not a driver URL (expected scheme://…, e.g. sim://)")
    parts = urlsplit(url)
    if parts.fragment:
        raise DriverConfigError(f"{url}: a driver URL takes no '#fragment'")
    try:
        port = parts.port
    except ValueError as exc:
        raise DriverConfigError(f"{url}: bad port ({exc})") from exc
    options: dict[str, str] = {}
    # Split by hand rather than with parse_qsl: a driver URL is not a form, and "+" must stay
    # a plus (fault=status:4+:timeout), not turn into a space.
    for item in parts.query.split("&"):
        if not item:  # tolerate "?&cards=5" and a trailing "&"
            continue
        name, eq, value = item.partition("=")
        name, value = unquote(name), unquote(value)
        if not eq or not name:
            raise DriverConfigError(
                f"{url}: malformed option {item!r} (expected name=value&name=value)"
            )
        if name in options:
            raise DriverConfigError(f"{url}: option {name!r} given more than once")
        options[name] = value
    return DriverURL(
        raw=url,
        scheme=scheme,
        netloc=parts.netloc,
        host=parts.hostname,
        port=port,
        path=parts.path,
        options=options,
    )


class OptionReader:
    """Typed, checked access to a URL's options, remembering which names the driver knows.

    Each read declares an option as known; :meth:`done` then rejects any option that was not
    read, naming the known ones. Errors are :class:`DriverConfigError` prefixed with the URL.
    """

    def __init__(self, url: DriverURL) -> None:
        self._url = url
        self._known: list[str] = []

    @property
    def url(self) -> DriverURL:
        """The URL being read."""
        return self._url

    def error(self, message: str) -> DriverConfigError:
        """A :class:`DriverConfigError` whose message starts with the URL."""
        return DriverConfigError(f"{self._url.raw}: {message}")

    def _raw(self, name: str) -> str | None:
        if name not in self._known:
            self._known.append(name)
        return self._url.options.get(name)

    def get_str(self, name: str, default: str, *, choices: Iterable[str] | None = None) -> str:
        """A string option; with ``choices``, the value must be one of them."""
        raw = self._raw(name)
        if raw is None:
            return default
        if choices is not None:
            allowed = list(choices)
            if raw not in allowed:
                raise self.error(f"option {name}={raw!r}: expected one of {', '.join(allowed)}")
        return raw

    def get_optional_str(self, name: str) -> str | None:
        """A string option that has no default (``None`` when absent)."""
        return self._raw(name)

    def get_int(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """An integer option, optionally bounded (inclusive)."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw, 10)
        except ValueError:
            raise self.error(f"option {name}={raw!r}: expected an integer") from None
        self._check_bounds(name, raw, value, minimum, maximum)
        return value

    def get_float(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A finite number option, optionally bounded (inclusive)."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.error(f"option {name}={raw!r}: expected a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(f"option {name}={raw!r}: expected a finite number")
        self._check_bounds(name, raw, value, minimum, maximum)
        return value

    def get_bool(self, name: str, default: bool) -> bool:
        """A yes/no option: ``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise self.error(f"option {name}={raw!r}: expected true or false")

    def done(self) -> None:
        """Reject every option that no read above declared, listing the known ones."""
        unknown = [name for name in self._url.options if name not in self._known]
        if unknown:
            known = ", ".join(self._known) if self._known else "none"
            names = ", ".join(repr(name) for name in unknown)
            noun = "option" if len(unknown) == 1 else "options"
            raise self.error(f"unknown {noun} {names} (known: {known})")

    def _check_bounds(
        self,
        name: str,
        raw: str,
        value: float,
        minimum: float | None,
        maximum: float | None,
    ) -> None:
        if minimum is not None and value < minimum:
            raise self.error(f"option {name}={raw}: must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(f"option {name}={raw}: must be at most {maximum}")
