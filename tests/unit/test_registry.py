"""Driver discovery by URL scheme: built-ins, entry points, unavailable drivers."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from drivers.mock import MockEncoder, MockPrinter
from drivers.sim import DeviceNotOpen, SimEncoder, SimPrinter
from printctl import registry
from printctl.hardware import DriverConfigError
from printctl.registry import BUILTINS, BuiltinDriver, DriverInfo, DriverRegistry


@dataclass
class FakeEntryPoint:
    """Quacks like importlib.metadata.EntryPoint, with a controllable load()."""

    name: str
    group: str
    loader: Callable[[], Any]
    value: str = "acme_drivers:Factory"
    dist: Any = None

    def load(self) -> Any:
        return self.loader()


class AcmePrinter(MockPrinter):
    """Acme card printer over TCP (test double)."""


def fake_entry_points(*eps: FakeEntryPoint) -> Callable[..., list[FakeEntryPoint]]:
    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        return [ep for ep in eps if ep.group == group]

    return entry_points


def _boom() -> Any:
    raise RuntimeError("plug-in bug at import")


ACME = FakeEntryPoint(
    "acme+tcp", "printctl.printers", lambda: AcmePrinter, dist=SimpleNamespace(name="printctl-acme")
)
BROKEN = FakeEntryPoint(
    "broken", "printctl.printers", _boom, dist=SimpleNamespace(name="printctl-broken")
)


def by_scheme(rows: list[DriverInfo], kind: str) -> dict[str, DriverInfo]:
    return {r.scheme: r for r in rows if r.kind == kind}


def test_builtins_are_listed_and_available() -> None:
    """list_drivers shows mock and sim, printer and encoder, built-in and always available."""
    rows = DriverRegistry(entry_points=fake_entry_points()).list_drivers()
    simulated = [r for r in rows if r.scheme in ("mock", "sim")]
    assert [(r.kind, r.scheme) for r in simulated] == [
        ("printer", "mock"),
        ("printer", "sim"),
        ("encoder", "mock"),
        ("encoder", "sim"),
    ]
    assert all(r.available and r.origin == "built-in" and r.summary for r in simulated)
    assert all(r.missing is None and r.install_hint is None for r in simulated)
    assert all(r.origin == "built-in" for r in rows)
    # Drivers with optional dependencies are listed either way, with a hint when missing.
    assert all(r.available or (r.missing and r.install_hint) for r in rows)


@pytest.mark.parametrize(("url", "cls"), [("mock://", MockPrinter), ("sim://?cards=5", SimPrinter)])
def test_make_printer_builds_builtins(url: str, cls: type) -> None:
    """make_printer picks the built-in by scheme and passes it the whole URL."""
    printer = registry.make_printer(url)
    assert type(printer) is cls and printer.url == url


@pytest.mark.parametrize(("url", "cls"), [("mock://", MockEncoder), ("SIM://?seed=3", SimEncoder)])
def test_make_encoder_builds_builtins(url: str, cls: type) -> None:
    """make_encoder picks the built-in by (case-insensitive) scheme."""
    assert type(registry.make_encoder(url)) is cls


def test_made_drivers_are_not_opened() -> None:
    """Factories construct drivers without opening them (opening touches the device)."""
    with pytest.raises(DeviceNotOpen):
        registry.make_printer("sim://").status()


#: Only the always-available built-ins, so that messages listing schemes stay fixed.
SIMULATED = tuple(b for b in BUILTINS if b.scheme in ("mock", "sim"))


def test_unknown_scheme_names_the_known_ones() -> None:
    """An unknown scheme raises DriverConfigError listing the known schemes of that kind."""
    reg = DriverRegistry(builtins=SIMULATED, entry_points=fake_entry_points())
    with pytest.raises(DriverConfigError) as info:
        reg.make_printer("foo://x")
    assert str(info.value) == "unknown printer driver 'foo' in 'foo://x' (known: mock, sim)"
    with pytest.raises(DriverConfigError, match="unknown encoder driver 'evolis'"):
        registry.make_encoder("evolis://")


@pytest.mark.parametrize("url", ["sim", "", "/dev/ttyUSB0", "1x://"])
def test_non_urls_are_rejected(url: str) -> None:
    """A string without scheme:// is refused with an example of a driver URL."""
    with pytest.raises(DriverConfigError, match="not a driver URL"):
        registry.make_printer(url)


def test_driver_option_errors_pass_through() -> None:
    """A driver's own DriverConfigError (unknown option) reaches the caller unchanged."""
    with pytest.raises(DriverConfigError, match=r"sim://\?cardz=5: unknown option 'cardz'"):
        registry.make_printer("sim://?cardz=5")


def test_builtin_with_missing_dependency_is_unavailable_with_hint() -> None:
    """A built-in whose optional import fails is listed as unavailable with a pip hint."""
    usb = BuiltinDriver(
        "printer",
        "evolis+usb",
        "printctl_no_such_module_xyz:EvolisPrinter",
        "Evolis over USB",
        "usb",
    )
    reg = DriverRegistry(builtins=(*SIMULATED, usb), entry_points=fake_entry_points())
    row = by_scheme(reg.list_drivers(), "printer")["evolis+usb"]
    assert (row.available, row.origin, row.summary) == (False, "built-in", "Evolis over USB")
    assert row.missing == "module 'printctl_no_such_module_xyz'"
    assert row.install_hint == "pip install 'printctl[usb]'"
    assert by_scheme(reg.list_drivers(), "printer")["sim"].available
    with pytest.raises(DriverConfigError) as info:
        reg.make_printer("evolis+usb://?serial=E1")
    assert str(info.value) == (
        "printer driver 'evolis+usb' is not available: module 'printctl_no_such_module_xyz'"
        " (install with: pip install 'printctl[usb]')"
    )
    with pytest.raises(DriverConfigError, match=r"known: evolis\+usb, mock, sim"):
        reg.make_printer("evolis+tcp://h")


def test_entry_point_driver_is_discovered() -> None:
    """An entry point in printctl.printers is listed with its distribution and can be made."""
    reg = DriverRegistry(entry_points=fake_entry_points(ACME))
    row = by_scheme(reg.list_drivers(), "printer")["acme+tcp"]
    assert (row.available, row.origin) == (True, "printctl-acme")
    assert row.summary == "Acme card printer over TCP (test double)."
    printer = reg.make_printer("acme+tcp://10.0.0.9:9100")
    assert type(printer) is AcmePrinter and printer.url == "acme+tcp://10.0.0.9:9100"
    assert "acme+tcp" not in by_scheme(reg.list_drivers(), "encoder")


def test_real_entry_point_objects_work() -> None:
    """Genuine importlib.metadata.EntryPoint objects load through the same path."""
    ep = importlib.metadata.EntryPoint("spare", "drivers.sim:SimEncoder", "printctl.encoders")
    reg = DriverRegistry(entry_points=lambda *, group: [ep] if group == ep.group else [])
    row = by_scheme(reg.list_drivers(), "encoder")["spare"]
    assert row.available and row.origin == "entry point drivers.sim:SimEncoder"
    assert type(reg.make_encoder("spare://")) is SimEncoder


def test_broken_entry_point_is_listed_and_hides_nothing() -> None:
    """An entry point that fails to load is unavailable; the other drivers still work."""
    missing = FakeEntryPoint(
        "ghost", "printctl.printers", lambda: importlib.import_module("printctl_ghost_xyz")
    )
    reg = DriverRegistry(entry_points=fake_entry_points(BROKEN, missing, ACME))
    rows = by_scheme(reg.list_drivers(), "printer")
    assert rows["broken"].available is False
    assert rows["broken"].missing is not None
    assert "RuntimeError: plug-in bug at import" in rows["broken"].missing
    assert rows["ghost"].missing == "module 'printctl_ghost_xyz'"
    assert rows["acme+tcp"].available and rows["sim"].available
    with pytest.raises(DriverConfigError, match="'broken' is not available: entry point"):
        reg.make_printer("broken://")
    assert type(reg.make_printer("acme+tcp://h")) is AcmePrinter


def test_entry_point_cannot_shadow_a_builtin() -> None:
    """An entry point reusing a built-in scheme is listed as unavailable; the built-in wins."""
    shadow = FakeEntryPoint(
        "sim", "printctl.printers", lambda: AcmePrinter, dist=SimpleNamespace(name="evil")
    )
    reg = DriverRegistry(entry_points=fake_entry_points(shadow))
    rows = [r for r in reg.list_drivers() if r.scheme == "sim" and r.kind == "printer"]
    assert [(r.origin, r.available) for r in rows] == [("built-in", True), ("evil", False)]
    assert rows[1].missing == "scheme 'sim' is already provided by built-in"
    assert type(reg.make_printer("sim://")) is SimPrinter


def test_non_callable_entry_point_is_unavailable() -> None:
    """An entry point whose value is not a factory is listed as unavailable."""
    ep = FakeEntryPoint("odd", "printctl.encoders", lambda: 42)
    row = by_scheme(DriverRegistry(entry_points=fake_entry_points(ep)).list_drivers(), "encoder")
    assert row["odd"].available is False and "not callable" in (row["odd"].missing or "")


def test_factory_failures_become_config_errors() -> None:
    """A third-party factory raising a non-hardware error surfaces as DriverConfigError."""

    def bad_factory(url: str) -> Any:
        raise ValueError("port must be given")

    ep = FakeEntryPoint("bad", "printctl.printers", lambda: bad_factory)
    reg = DriverRegistry(entry_points=fake_entry_points(ep))
    with pytest.raises(
        DriverConfigError, match="failed on 'bad://': ValueError: port must"
    ) as info:
        reg.make_printer("bad://")
    assert isinstance(info.value.__cause__, ValueError)


def test_factory_returning_a_non_driver_is_refused() -> None:
    """A factory that builds something without the Printer methods is refused."""
    ep = FakeEntryPoint("half", "printctl.printers", lambda: lambda url: object())
    reg = DriverRegistry(entry_points=fake_entry_points(ep))
    with pytest.raises(DriverConfigError, match="not a Printer"):
        reg.make_printer("half://")


def test_failing_entry_point_scan_keeps_builtins() -> None:
    """If scanning installed distributions fails, the built-ins are still there."""

    def broken_scan(*, group: str) -> list[FakeEntryPoint]:
        raise OSError("corrupt METADATA")

    rows = DriverRegistry(entry_points=broken_scan).list_drivers()
    assert {r.scheme for r in rows} >= {"mock", "sim"}
    assert all(r.origin == "built-in" for r in rows)


def test_module_functions_see_monkeypatched_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """make_encoder/list_drivers consult importlib.metadata.entry_points at call time."""

    class Reader(MockEncoder):
        """A plug-in reader."""

    ep = FakeEntryPoint(
        "acme-pcsc", "printctl.encoders", lambda: Reader, dist=SimpleNamespace(name="acme")
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points(ep))
    assert type(registry.make_encoder("acme-pcsc://")) is Reader
    assert any(r.scheme == "acme-pcsc" and r.origin == "acme" for r in registry.list_drivers())
