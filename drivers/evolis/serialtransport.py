"""The serial transport (pyserial), and the ``evolis+serial`` factory.

``evolis+serial:///dev/ttyUSB0?baud=9600&timeout=10&flow=none``. The Evolis serial ports are
disabled by default and must be set up once with ``Pcom`` (spec §1, "Serial"); 8 data
bits, no parity, 1 stop bit is assumed, as in the guide's example ``Pcom;1;9600;N;8;1``.
"""

from __future__ import annotations

import contextlib
import errno
from typing import TYPE_CHECKING, Any

import serial

from printctl.hardware import ConnectionLost, DeviceTimeout, PermissionDenied

if TYPE_CHECKING:
    from drivers.evolis.driver import EvolisPrinter

__all__ = ["SerialTransport", "serial_printer"]

#: Bytes per write call: each chunk gets its own bound, so a slow baud rate still progresses.
_CHUNK = 4096
_SERIAL_HINT = "add the user to the 'dialout' group, or run 'printctl driver udev-rules'"


class SerialTransport:
    """A serial port opened exclusively (a second program on the same port is refused)."""

    def __init__(self, port: str, *, baud: int, timeout: float, flow: str = "none") -> None:
        self.where = port
        # A chunk takes 10 bit times per byte at ``baud``; allow that on top of the timeout.
        write_timeout = timeout + _CHUNK * 10 / baud
        self._read_timeout: float | None = None
        try:
            self._port: Any = serial.Serial(
                port,
                baudrate=baud,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=timeout,
                write_timeout=write_timeout,
                xonxoff=flow == "xonxoff",
                rtscts=flow == "rtscts",
                exclusive=True,
            )
        except serial.SerialException as exc:
            raise _open_error(port, exc) from exc
        except ValueError as exc:
            raise ConnectionLost(f"{port}: cannot configure the port: {exc}") from exc

    def write(self, data: bytes) -> None:
        """Write all of ``data``, chunk by chunk, each chunk bounded."""
        port = self._require()
        try:
            for start in range(0, len(data), _CHUNK):
                port.write(data[start : start + _CHUNK])
            port.flush()
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(
                f"{self.where}: write timed out (is the printer's serial port enabled"
                " and at the same speed? see Pcom)"
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(f"{self.where}: write failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        """The first byte within ``timeout``, then whatever else is already waiting."""
        port = self._require()
        try:
            if timeout != self._read_timeout:
                # pyserial reconfigures the port on each change: only set it when it differs.
                port.timeout = max(timeout, 0.0)
                self._read_timeout = timeout
            first: bytes = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            return first + (port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(f"{self.where}: read failed: {exc}") from exc

    def close(self) -> None:
        """Close the port (idempotent)."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def _require(self) -> Any:
        if self._port is None:
            raise ConnectionLost(f"{self.where}: the port is closed")
        return self._port


def _open_error(port: str, exc: serial.SerialException) -> Exception:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if "exclusively lock" in text or code == errno.EBUSY:
        return PermissionDenied(
            f"{port}: port busy: another program (or another printctl) has it open"
        )
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{port}: permission denied; {_SERIAL_HINT}")
    if code == errno.ENOENT:
        return ConnectionLost(f"{port}: no such port (is the adapter plugged in?)")
    return ConnectionLost(f"{port}: cannot open: {text}")


def serial_printer(url: str) -> EvolisPrinter:
    """The ``evolis+serial`` registry factory (importing this module needs pyserial)."""
    from drivers.evolis.driver import EvolisPrinter

    return EvolisPrinter(url)
