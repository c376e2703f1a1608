"""The printer conformance checks on Evolis drivers against the Evolis device simulator.

:func:`evolis_contract_urls` is also what ``tests/contract/test_printer_contract.py`` adds to
its URL list: it starts simulators once per process (TCP on 127.0.0.1, a pty for serial,
another for the device file, and a simulated pyusb backend installed as
``drivers.evolis.usbtransport.default_backend``, since a URL cannot carry a backend) and
returns URLs that reach them through the registry.
"""

from __future__ import annotations

import functools

import pytest

from drivers.conformance import PRINTER_CHECKS, run_checks
from drivers.evolis import usbtransport
from drivers.evolis.driver import EvolisPrinter
from drivers.evolis.simulator import EvolisSimulator
from drivers.evolis.usbsim import SimulatedBackend, SimulatedUsbDevice
from printctl.registry import make_printer

CONTRACT_USB_SERIAL = "EVCONTRACT1"


@functools.cache
def evolis_contract_urls() -> tuple[str, ...]:
    """URLs of simulated Evolis printers on every transport, started once per process."""
    tcp, serial, devfile, usb = (EvolisSimulator("cards=100") for _ in range(4))
    port = tcp.serve_tcp("127.0.0.1", 0)
    serial_path = serial.serve_pty()
    file_path = devfile.serve_pty()
    usbtransport.default_backend = SimulatedBackend(
        SimulatedUsbDevice(usb, serial=CONTRACT_USB_SERIAL)
    )
    return (
        f"evolis+tcp://127.0.0.1:{port}?timeout=5",
        f"evolis+serial://{serial_path}?baud=115200&timeout=5",
        f"evolis+file://{file_path}?timeout=5",
        f"evolis+usb://?serial={CONTRACT_USB_SERIAL}&timeout=5",
    )


@pytest.mark.parametrize("scheme", ["tcp", "serial", "file", "usb"])
def test_every_check_passes_or_skips_on_each_transport(scheme: str) -> None:
    """The conformance table for each Evolis transport has no failing row."""
    (url,) = [u for u in evolis_contract_urls() if u.startswith(f"evolis+{scheme}:")]
    rows = run_checks(lambda: make_printer(url), PRINTER_CHECKS)
    assert [r.check for r in rows] == [c.name for c in PRINTER_CHECKS]
    failed = [r for r in rows if r.outcome == "fail"]
    assert not failed, failed
    skipped = {r.check for r in rows if r.outcome == "skip"}
    assert skipped == {"feed-on-empty-hopper"}  # Evolis printers do not count their hopper


def test_a_misbehaving_printer_fails_the_conformance_checks() -> None:
    """A printer answering nonsense fails the checks with ProtocolError rows, never crashes."""
    garbled = EvolisSimulator("garble=true")
    port = garbled.serve_tcp()
    try:
        rows = {
            r.check: r
            for r in run_checks(
                lambda: EvolisPrinter(f"evolis+tcp://127.0.0.1:{port}?timeout=1"),
                PRINTER_CHECKS,
            )
        }
    finally:
        garbled.stop()
    assert rows["protocol"].outcome == "pass"
    assert rows["status-counters"].outcome == "fail"
    assert rows["card-life"].detail.startswith("ProtocolError")


def test_a_printer_that_hangs_mid_job_fails_card_life_with_a_timeout() -> None:
    """A printer that stops answering after a few commands fails card-life with DeviceTimeout."""
    hung = EvolisSimulator("silent_after=12")
    port = hung.serve_tcp()
    try:
        rows = run_checks(
            lambda: EvolisPrinter(f"evolis+tcp://127.0.0.1:{port}?timeout=0.2"),
            [c for c in PRINTER_CHECKS if c.name == "card-life"],
        )
    finally:
        hung.stop()
    assert rows[0].outcome == "fail" and rows[0].detail.startswith("DeviceTimeout")
