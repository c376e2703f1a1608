"""Byte transports to an Evolis printer: the contract, TCP, and a device file.

Every transport is a small object with ``write(data)``, ``read(timeout) -> bytes`` and
``close()``; it is connected when constructed. Rules they all follow:

- ``read(timeout)`` waits at most ``timeout`` seconds for the first byte and returns what
  has arrived (``b""`` when nothing did): deciding where a reply ends is the driver's job;
- ``write`` is bounded by the transport's write timeout and writes everything or raises;
- OS and library exceptions are translated here, at the boundary, into the
  :mod:`printctl.hardware` tree (``raise … from``): :class:`ConnectionLost`,
  :class:`DeviceTimeout`, :class:`PermissionDenied`;
- ``close()`` is idempotent and never raises.

USB (pyusb) and serial (pyserial) live in :mod:`drivers.evolis.usbtransport` and
:mod:`drivers.evolis.serialtransport` so that a missing optional dependency only disables
those two schemes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from printctl.hardware import ConnectionLost, DeviceTimeout, HardwareError, PermissionDenied

__all__ = [
    "DEFAULT_TCP_PORT",
    "FileTransport",
    "TcpTransport",
    "Transport",
    "os_error",
]

#: Used when an ``evolis+tcp://host`` URL gives no port: the raw-printing port most network
#: card printers listen on. An assumption: the Evolis guide predates network printers.
DEFAULT_TCP_PORT = 9100
_CHUNK = 65536


@runtime_checkable
class Transport(Protocol):
    """Bytes to and from one printer."""

    def write(self, data: bytes) -> None:
        """Send all of ``data`` or raise (bounded by the transport's write timeout)."""

    def read(self, timeout: float) -> bytes:
        """Wait up to ``timeout`` s for data; return what arrived, ``b""`` if nothing did."""

    def close(self) -> None:
        """Release the device; idempotent, never raises."""


def os_error(exc: OSError, what: str, *, hint: str = "") -> HardwareError:
    """Translate an :class:`OSError` from ``what`` (device, path, host…) into the error tree."""
    code = exc.errno
    detail = f"{what}: {exc.strerror or exc}"
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{detail} (permission denied){f'; {hint}' if hint else ''}")
    if code == errno.EBUSY:
        return PermissionDenied(f"{detail} (device busy: another program has it open)")
    if code == errno.ETIMEDOUT or isinstance(exc, TimeoutError):
        return DeviceTimeout(f"{detail} (timed out)")
    return ConnectionLost(detail)


# --------------------------------------------------------------------------- TCP


class TcpTransport:
    """A TCP connection to a network printer (or to the simulator's ``serve_tcp``)."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.where = f"tcp {host}:{port}"
        self._timeout = timeout
        try:
            self._sock: socket.socket | None = socket.create_connection(
                (host, port), timeout=timeout
            )
        except TimeoutError as exc:
            raise DeviceTimeout(f"{self.where}: no answer within {timeout:g} s") from exc
        except socket.gaierror as exc:
            raise ConnectionLost(f"{self.where}: cannot resolve host ({exc})") from exc
        except OSError as exc:
            raise os_error(exc, self.where) from exc
        # Commands are small and each waits for its reply: do not let Nagle hold them back.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionLost(f"{self.where}: the connection is closed")
        return self._sock

    def write(self, data: bytes) -> None:
        """Send everything within the timeout (a long panel gets a proportionate bound)."""
        sock = self._socket()
        try:
            sock.settimeout(self._timeout)
            sock.sendall(data)
        except TimeoutError as exc:
            raise DeviceTimeout(f"{self.where}: write timed out after {self._timeout:g} s") from exc
        except OSError as exc:
            raise os_error(exc, self.where) from exc

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout``; a closed connection is ConnectionLost."""
        sock = self._socket()
        try:
            sock.settimeout(max(timeout, 0.0005))
            data = sock.recv(_CHUNK)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise os_error(exc, self.where) from exc
        if not data:
            raise ConnectionLost(f"{self.where}: the printer closed the connection")
        return data

    def close(self) -> None:
        """Close the socket (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


# --------------------------------------------------------------------------- device file

_LP_HINT = "run 'printctl driver udev-rules' or add the user to the 'lp' group"


class FileTransport:
    """A character device such as ``/dev/usb/lp0`` (the kernel's usblp driver).

    As [PAR] does, the device is opened for each write and each read and closed again, so
    that the printer is not held between calls; a read waits (bounded) for the first byte
    and then takes what follows until a NUL or until no more comes.
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = path
        self._timeout = timeout
        self._clock = clock
        self._closed = False
        # Fail at connect time, not on the first command, when the device is missing.
        fd = self._open(os.O_RDWR)
        os.close(fd)

    def _open(self, flags: int) -> int:
        if self._closed:
            raise ConnectionLost(f"{self.where}: the transport is closed")
        try:
            return os.open(self.where, flags | os.O_NOCTTY | os.O_NONBLOCK)
        except FileNotFoundError as exc:
            raise ConnectionLost(
                f"{self.where}: no such device (is the printer plugged in and switched on?)"
            ) from exc
        except OSError as exc:
            raise os_error(exc, self.where, hint=_LP_HINT) from exc

    def write(self, data: bytes) -> None:
        """Open, write everything within the timeout, close."""
        fd = self._open(os.O_WRONLY)
        deadline = self._clock() + self._timeout
        view = memoryview(data)
        try:
            while view:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise DeviceTimeout(
                        f"{self.where}: write timed out after {self._timeout:g} s"
                        f" ({len(data) - len(view)} of {len(data)} bytes sent)"
                    )
                _, ready, _ = select.select([], [fd], [], remaining)
                if not ready:
                    continue
                try:
                    sent = os.write(fd, view[:_CHUNK])
                except BlockingIOError:
                    continue
                view = view[sent:]
        except OSError as exc:
            raise os_error(exc, self.where, hint=_LP_HINT) from exc
        finally:
            os.close(fd)

    def read(self, timeout: float) -> bytes:
        """Open, wait up to ``timeout`` for data, read until NUL or a pause, close."""
        fd = self._open(os.O_RDONLY)
        out = bytearray()
        try:
            wait = max(timeout, 0.0)
            while True:
                ready, _, _ = select.select([fd], [], [], wait)
                if not ready:
                    break
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                out += chunk
                if b"\0" in chunk:
                    break
                wait = min(0.02, wait)  # after the first byte: take what follows at once
        except OSError as exc:
            if exc.errno == errno.EIO and out:
                return bytes(out)
            raise os_error(exc, self.where, hint=_LP_HINT) from exc
        finally:
            os.close(fd)
        return bytes(out)

    def close(self) -> None:
        """Nothing is held between calls; just refuse further use."""
        self._closed = True
