"""EvolisPrinter over real transports: TCP on 127.0.0.1, a pty for serial and device file,
and pyusb's own code path over a simulated backend. Timeouts are kept small."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator

import pytest

from drivers.conformance import blank_card_image
from drivers.evolis.driver import EvolisPrinter
from drivers.evolis.simulator import EvolisSimulator, run_simulator
from drivers.evolis.transports import FileTransport, os_error
from drivers.evolis.usbsim import SimulatedBackend, SimulatedUsbDevice
from drivers.evolis.usbtransport import UsbTransport
from printctl.hardware import (
    ConnectionLost,
    DeviceTimeout,
    DriverConfigError,
    EncoderStation,
    PermissionDenied,
)
from printctl.render.testcard import render_test_card

#: Far above the drivers' timeouts here (0.3 s, 0.5 s): it catches a hang, not slowness.
HANG_GUARD_S = 15.0


@pytest.fixture
def sim() -> Iterator[EvolisSimulator]:
    """A simulator stopped after the test."""
    simulator = EvolisSimulator("cards=10")
    yield simulator
    simulator.stop()


def card_life(printer: EvolisPrinter) -> None:
    printer.open()
    try:
        printer.feed()
        printer.move_to_encoder(EncoderStation.CONTACTLESS)
        printer.print_card(blank_card_image())
        printer.eject()
    finally:
        printer.close()


def test_tcp_card_life_and_test_card_round_trip(sim: EvolisSimulator) -> None:
    """Over TCP the test card's K panel arrives pixel for pixel and counters move by one."""
    port = sim.serve_tcp("127.0.0.1", 0)
    printer = EvolisPrinter(f"evolis+tcp://127.0.0.1:{port}?timeout=2")
    card = render_test_card()
    printer.open()
    printer.feed()
    printer.print_card(card)
    printer.eject()
    assert printer.status().cards_inserted == 1
    printer.close()
    assert card.front.black is not None
    assert sim.last_card.black().tobytes() == card.front.black.convert("1").tobytes()


def test_tcp_printer_that_stops_answering_times_out_within_the_bound(
    sim: EvolisSimulator,
) -> None:
    """A printer silent mid-job raises DeviceTimeout (after about `timeout`): it never hangs."""
    silent = EvolisSimulator("silent_after=7")
    port = silent.serve_tcp()
    printer = EvolisPrinter(f"evolis+tcp://127.0.0.1:{port}?timeout=0.3")
    try:
        printer.open()
        printer.feed()
        started = time.monotonic()
        with pytest.raises(DeviceTimeout) as error:
            printer.print_card(blank_card_image())
        # Only a driver that waits without bound fails this: the guard is loose on purpose,
        # since this machine is shared and a loaded one takes its time (no timing threshold).
        assert time.monotonic() - started < HANG_GUARD_S
        assert error.value.card_may_have_moved is True
    finally:
        printer.close()
        silent.stop()


def test_tcp_connection_refused_is_connection_lost(sim: EvolisSimulator) -> None:
    """Nobody listening is ConnectionLost (retryable), raised by open."""
    port = sim.serve_tcp()
    sim.stop()
    with pytest.raises(ConnectionLost) as error:
        EvolisPrinter(f"evolis+tcp://127.0.0.1:{port}?timeout=0.5").open()
    assert error.value.retryable


def test_serial_over_a_pty(sim: EvolisSimulator) -> None:
    """pyserial on the slave end of a real pty drives a full card through the simulator."""
    path = sim.serve_pty()
    card_life(EvolisPrinter(f"evolis+serial://{path}?baud=115200&timeout=2"))
    assert (sim.cards_inserted, sim.output_tray) == (1, 1)


def test_serial_port_busy_is_permission_denied(sim: EvolisSimulator) -> None:
    """A second program on the same serial port is refused with a 'port busy' message."""
    path = sim.serve_pty()
    first = EvolisPrinter(f"evolis+serial://{path}?timeout=2")
    first.open()
    try:
        with pytest.raises(PermissionDenied, match="busy"):
            EvolisPrinter(f"evolis+serial://{path}?timeout=2").open()
    finally:
        first.close()


def test_missing_serial_port_is_connection_lost() -> None:
    """A port that does not exist (adapter unplugged) is ConnectionLost naming the port."""
    with pytest.raises(ConnectionLost, match="ttyNOPE"):
        EvolisPrinter("evolis+serial:///dev/ttyNOPE?timeout=0.2").open()


def test_device_file_over_a_pty(sim: EvolisSimulator) -> None:
    """evolis+file opens the device for each write and read, as [PAR] does, and works."""
    path = sim.serve_pty()
    card_life(EvolisPrinter(f"evolis+file://{path}?timeout=2"))
    assert sim.output_tray == 1


def test_device_file_errors_are_translated(tmp_path: os.PathLike[str]) -> None:
    """A missing device is ConnectionLost; EACCES and EBUSY become PermissionDenied."""
    with pytest.raises(ConnectionLost, match="no such device"):
        FileTransport(os.path.join(tmp_path, "lp9"), timeout=0.1)
    denied = os_error(PermissionError(errno.EACCES, "Permission denied"), "/dev/usb/lp0")
    assert isinstance(denied, PermissionDenied)
    busy = os_error(OSError(errno.EBUSY, "Device or resource busy"), "/dev/usb/lp0")
    assert isinstance(busy, PermissionDenied) and "busy" in str(busy)


# --------------------------------------------------------------------------- USB


def usb_printer(backend: SimulatedBackend, query: str = "serial=E1") -> EvolisPrinter:
    return EvolisPrinter(
        f"evolis+usb://?{query}&timeout=0.5", usb_backend=backend, sleep=lambda s: None
    )


def test_usb_picks_the_printer_by_serial_among_identical_ones() -> None:
    """Two identical printers are told apart by USB serial number through pyusb's find."""
    first, second = EvolisSimulator(), EvolisSimulator()
    backend = SimulatedBackend(
        SimulatedUsbDevice(first, serial="E1", address=4),
        SimulatedUsbDevice(second, serial="E2", address=5),
    )
    card_life(usb_printer(backend, "serial=E2"))
    assert (first.cards_inserted, second.cards_inserted) == (0, 1)


def test_usb_without_serial_and_two_printers_lists_them() -> None:
    """Ambiguity is a configuration error listing the serials found."""
    backend = SimulatedBackend(
        SimulatedUsbDevice(EvolisSimulator(), serial="E1"),
        SimulatedUsbDevice(EvolisSimulator(), serial="E2"),
    )
    with pytest.raises(DriverConfigError, match=r"E1 .*E2 .*serial="):
        usb_printer(backend, "pid=0011").open()


def test_usb_unplugged_printer_lists_what_was_found() -> None:
    """A serial not on the bus is ConnectionLost naming the printers that are there."""
    backend = SimulatedBackend(SimulatedUsbDevice(EvolisSimulator(), serial="E7"))
    with pytest.raises(ConnectionLost, match=r"'E1'.*found: E7"):
        usb_printer(backend).open()
    with pytest.raises(ConnectionLost, match="no Evolis printer found"):
        usb_printer(SimulatedBackend(), "pid=0011").open()


def test_usb_permission_denied_hints_at_udev_rules() -> None:
    """EACCES from the backend (no udev rule) is PermissionDenied pointing to udev-rules."""
    backend = SimulatedBackend(
        SimulatedUsbDevice(EvolisSimulator(), serial="E1", open_errno=errno.EACCES)
    )
    with pytest.raises(PermissionDenied, match="printctl driver udev-rules"):
        usb_printer(backend).open()


def test_usb_detaches_usblp_and_retries_a_busy_claim() -> None:
    """The kernel driver is detached (and given back on close); a busy claim is retried."""
    device = SimulatedUsbDevice(EvolisSimulator(), serial="E1", busy_claims=2)
    sleeps: list[float] = []
    transport = UsbTransport(
        serial="E1", timeout=0.5, backend=SimulatedBackend(device), sleep=sleeps.append
    )
    assert device.detached == 1 and not device.kernel_driver and device.claims == 1
    assert len(sleeps) == 2
    transport.close()
    transport.close()
    assert device.kernel_driver


def test_usb_claim_busy_for_good_explains_usblp() -> None:
    """A claim that stays busy ends in PermissionDenied naming the kernel usblp driver."""
    device = SimulatedUsbDevice(EvolisSimulator(), serial="E1", busy_claims=99)
    with pytest.raises(PermissionDenied, match="usblp"):
        usb_printer(SimulatedBackend(device)).open()


def test_usb_unplugged_mid_job_and_silent_printer() -> None:
    """Pulling the cable is ConnectionLost; a silent printer is DeviceTimeout within the bound."""
    device = SimulatedUsbDevice(EvolisSimulator(), serial="E1")
    printer = usb_printer(SimulatedBackend(device))
    printer.open()
    printer.feed()
    device.unplugged = True
    with pytest.raises(ConnectionLost) as lost:
        printer.print_card(blank_card_image())
    assert lost.value.card_may_have_moved is True
    printer.close()
    silent = SimulatedUsbDevice(EvolisSimulator("silent_after=5"), serial="E1")
    printer = usb_printer(SimulatedBackend(silent))
    printer.open()
    started = time.monotonic()
    with pytest.raises(DeviceTimeout):
        printer.feed()
    assert time.monotonic() - started < HANG_GUARD_S  # bounded, not hanging (see above)
    printer.close()


def test_run_simulator_says_where_it_listens() -> None:
    """The CLI entry point prints the TCP and pty URLs and stops cleanly."""
    lines: list[str] = []
    run_simulator(tcp_port=0, pty=True, echo=lines.append, wait=lambda: None)
    assert any("evolis+tcp://127.0.0.1:" in line for line in lines)
    assert any("evolis+serial:///dev/" in line for line in lines)
    assert lines[-1].startswith("stopped:")
