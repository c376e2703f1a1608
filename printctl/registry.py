"""Driver discovery: printers and encoders addressed by the scheme of a driver URL.

Drivers come from two places:

- the built-in table :data:`BUILTINS`, which names each driver's factory by import path
  (``"drivers.sim:SimPrinter"``) so that a driver whose optional dependency is missing
  (pyusb, pyscard…) is listed as unavailable with an install hint instead of breaking
  ``import printctl``;
- the entry-point groups ``printctl.printers`` and ``printctl.encoders``: the entry point's
  name is the URL scheme and its value a factory ``Callable[[str], Printer]`` (or
  ``Encoder``) taking the whole URL, e.g. in a plug-in's ``pyproject.toml``::

      [project.entry-points."printctl.printers"]
      "acme+usb" = "printctl_acme:AcmePrinter"

Built-ins win over entry points with the same scheme, and the first entry point wins over a
later duplicate; the losers are listed as unavailable so the conflict is visible. An entry
point that fails to load is listed as unavailable too and never hides the other drivers.

Factories construct drivers; they do not open them (opening touches the device).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, cast

from printctl.hardware import DriverConfigError, Encoder, HardwareError, Printer

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUPS",
    "BuiltinDriver",
    "DriverInfo",
    "DriverKind",
    "DriverRegistry",
    "EntryPointLike",
    "list_drivers",
    "make_encoder",
    "make_printer",
]

DriverKind: TypeAlias = Literal["printer", "encoder"]


class EntryPointLike(Protocol):
    """What the registry uses of :class:`importlib.metadata.EntryPoint` (fakes welcome)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def group(self) -> str: ...
    def load(self) -> Any: ...


EntryPointsFn: TypeAlias = Callable[..., Iterable[EntryPointLike]]

#: The entry-point group third-party drivers register under, per kind.
ENTRY_POINT_GROUPS: dict[DriverKind, str] = {
    "printer": "printctl.printers",
    "encoder": "printctl.encoders",
}

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")


@dataclass(frozen=True)
class BuiltinDriver:
    """A driver shipped with printctl, loaded lazily from ``target`` (``module:attribute``).

    ``extra`` names the optional-dependency group (``usb``, ``pcsc``…) to install when the
    import fails; ``None`` for drivers that need nothing beyond printctl's own dependencies.
    """

    kind: DriverKind
    scheme: str
    target: str
    summary: str
    extra: str | None = None


#: Built-in drivers. Adding one with optional dependencies (e.g. ``evolis+usb`` with
#: ``extra="usb"``) is one row; its import failing shows it as unavailable with a hint.
BUILTINS: tuple[BuiltinDriver, ...] = (
    BuiltinDriver(
        "printer", "mock", "drivers.mock:MockPrinter", "records every call; always succeeds"
    ),
    BuiltinDriver(
        "printer",
        "sim",
        "drivers.sim:SimPrinter",
        "simulated printer: hopper, ribbon, counters, timing, scripted faults",
    ),
    BuiltinDriver(
        "printer",
        "evolis+usb",
        "drivers.evolis.usbtransport:usb_printer",
        "Evolis card printer over USB (pyusb): evolis+usb://?serial=…",
        extra="usb",
    ),
    BuiltinDriver(
        "printer",
        "evolis+serial",
        "drivers.evolis.serialtransport:serial_printer",
        "Evolis card printer on a serial port: evolis+serial:///dev/ttyUSB0?baud=9600",
        extra="serial",
    ),
    BuiltinDriver(
        "printer",
        "evolis+tcp",
        "drivers.evolis.driver:EvolisPrinter",
        "Evolis card printer over TCP: evolis+tcp://host:9100",
    ),
    BuiltinDriver(
        "printer",
        "evolis+file",
        "drivers.evolis.driver:EvolisPrinter",
        "Evolis card printer through a device file: evolis+file:///dev/usb/lp0",
    ),
    BuiltinDriver(
        "encoder", "mock", "drivers.mock:MockEncoder", "records every call; always succeeds"
    ),
    BuiltinDriver(
        "encoder",
        "sim",
        "drivers.sim:SimEncoder",
        "simulated chip encoder: deterministic UIDs, APDU checks, scripted faults",
    ),
    BuiltinDriver(
        "encoder",
        "pcsc",
        "drivers.pcsc:PcscEncoder",
        "PC/SC chip encoder via pcscd (reader=NAME, timeout=, protocol=, virtual_card=)",
        extra="pcsc",
    ),
)


@dataclass(frozen=True)
class DriverInfo:
    """One row of :func:`list_drivers`: a driver, where it comes from and whether it loads.

    ``origin`` is ``"built-in"`` or the distribution that registered the entry point.
    ``missing`` says what prevents loading (a module name, or the error), ``install_hint``
    how to fix it when printctl knows.
    """

    kind: DriverKind
    scheme: str
    origin: str
    available: bool
    missing: str | None
    install_hint: str | None
    summary: str


@dataclass(frozen=True)
class _Resolved:
    info: DriverInfo
    factory: Callable[[str], Any] | None


class DriverRegistry:
    """Built-ins plus entry points, resolved on each query (cheap, and sees new installs).

    ``entry_points`` defaults to :func:`importlib.metadata.entry_points`, looked up at call
    time so tests can inject or monkeypatch it.
    """

    def __init__(
        self,
        builtins: Iterable[BuiltinDriver] = BUILTINS,
        entry_points: EntryPointsFn | None = None,
    ) -> None:
        self._builtins = tuple(builtins)
        self._entry_points = entry_points

    def list_drivers(self) -> list[DriverInfo]:
        """Every known driver, printers first, then by scheme; unavailable ones included."""
        rows = [r.info for kind in ("printer", "encoder") for r in self._resolve(kind)]
        return sorted(rows, key=lambda i: (i.kind != "printer", i.scheme, i.origin))

    def make_printer(self, url: str) -> Printer:
        """Construct (not open) the printer driver for ``url``."""
        driver = self._make("printer", url)
        if not isinstance(driver, Printer):
            raise DriverConfigError(
                f"printer driver for {url!r} built a {type(driver).__name__}, not a Printer"
            )
        return driver

    def make_encoder(self, url: str) -> Encoder:
        """Construct (not open) the encoder driver for ``url``."""
        driver = self._make("encoder", url)
        if not isinstance(driver, Encoder):
            raise DriverConfigError(
                f"encoder driver for {url!r} built a {type(driver).__name__}, not an Encoder"
            )
        return driver

    # ----------------------------------------------------------------- internals

    def _make(self, kind: DriverKind, url: str) -> object:
        scheme = _scheme_of(url)
        resolved = self._resolve(kind)
        usable = {r.info.scheme: r for r in resolved if r.factory is not None}
        chosen = usable.get(scheme)
        if chosen is None or chosen.factory is None:
            broken = [r.info for r in resolved if r.info.scheme == scheme]
            if broken:
                info = broken[0]
                hint = f" (install with: {info.install_hint})" if info.install_hint else ""
                raise DriverConfigError(
                    f"{kind} driver {scheme!r} is not available: {info.missing}{hint}"
                )
            known = ", ".join(sorted({r.info.scheme for r in resolved}))
            raise DriverConfigError(f"unknown {kind} driver {scheme!r} in {url!r} (known: {known})")
        try:
            return cast(object, chosen.factory(url))
        except HardwareError:
            raise
        except Exception as exc:
            # A third-party factory failing with anything else is still a configuration
            # problem from the caller's point of view; keep the cause chained for the log.
            raise DriverConfigError(
                f"{kind} driver {scheme!r} ({chosen.info.origin}) failed on {url!r}:"
                f" {type(exc).__name__}: {exc}"
            ) from exc

    def _resolve(self, kind: DriverKind) -> list[_Resolved]:
        resolved: list[_Resolved] = []
        taken: dict[str, str] = {}
        for builtin in self._builtins:
            if builtin.kind != kind:
                continue
            row = _load_builtin(builtin)
            resolved.append(row)
            taken.setdefault(builtin.scheme, "built-in")
        for ep in self._group(ENTRY_POINT_GROUPS[kind]):
            row = _load_entry_point(kind, ep, taken)
            resolved.append(row)
            taken.setdefault(row.info.scheme, row.info.origin)
        return resolved

    def _group(self, group: str) -> list[EntryPointLike]:
        fn = self._entry_points or importlib.metadata.entry_points
        try:
            return list(fn(group=group))
        except Exception:  # a corrupt installed distribution must not hide the built-ins
            return []


def _scheme_of(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or not _SCHEME.match(scheme):
        raise DriverConfigError(f"{url!r}: not a driver URL (expected scheme://…, e.g. sim://)")
    return scheme


def _load_builtin(builtin: BuiltinDriver) -> _Resolved:
    module_name, _, attribute = builtin.target.partition(":")
    hint = f"pip install 'printctl[{builtin.extra}]'" if builtin.extra else None
    missing: str | None = None
    factory: Callable[[str], Any] | None = None
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attribute)
    except ImportError as exc:
        missing = f"module {exc.name!r}" if exc.name else str(exc)
    except Exception as exc:  # a bug in a built-in must not hide the other drivers
        missing, hint = f"{type(exc).__name__}: {exc}", None
    info = DriverInfo(
        kind=builtin.kind,
        scheme=builtin.scheme,
        origin="built-in",
        available=factory is not None,
        missing=missing,
        install_hint=hint if factory is None else None,
        summary=builtin.summary,
    )
    return _Resolved(info, factory)


def _load_entry_point(kind: DriverKind, ep: EntryPointLike, taken: dict[str, str]) -> _Resolved:
    scheme = ep.name.lower()
    dist = getattr(ep, "dist", None)
    origin = str(getattr(dist, "name", "") or "") or f"entry point {ep.value}"
    missing: str | None = None
    hint: str | None = None
    factory: Callable[[str], Any] | None = None
    summary = ""
    if not _SCHEME.match(scheme):
        missing = f"{scheme!r} is not a valid URL scheme"
    elif scheme in taken:
        missing = f"scheme {scheme!r} is already provided by {taken[scheme]}"
    else:
        try:
            loaded = ep.load()
        except ImportError as exc:
            missing = f"module {exc.name!r}" if exc.name else str(exc)
            hint = f"pip install {origin}" if dist is not None else None
        except Exception as exc:
            missing = f"entry point {ep.value!r} failed to load: {type(exc).__name__}: {exc}"
        else:
            if callable(loaded):
                factory = loaded
                summary = _first_line(getattr(loaded, "__doc__", None))
            else:
                missing = f"entry point {ep.value!r} is not callable"
    info = DriverInfo(
        kind=kind,
        scheme=scheme,
        origin=origin,
        available=factory is not None,
        missing=missing,
        install_hint=hint,
        summary=summary or f"{kind} driver from {origin}",
    )
    return _Resolved(info, factory)


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


_DEFAULT = DriverRegistry()


def make_printer(url: str) -> Printer:
    """Construct (not open) the printer driver named by ``url``'s scheme.

    Raises :class:`DriverConfigError` for an unknown scheme, an unavailable driver, or
    options the driver rejects.
    """
    return _DEFAULT.make_printer(url)


def make_encoder(url: str) -> Encoder:
    """Construct (not open) the encoder driver named by ``url``'s scheme."""
    return _DEFAULT.make_encoder(url)


def list_drivers() -> list[DriverInfo]:
    """Every built-in and entry-point driver, available or not, with install hints."""
    return _DEFAULT.list_drivers()
