"""The USB transport (pyusb bulk endpoints), and the ``evolis+usb`` factory.

``evolis+usb://?serial=E1234`` picks the Evolis printer (vendor 0x0F49) with that USB serial
number; ``evolis+usb://?vid=0f49&pid=…`` picks by product id, and without ``serial`` there
must be exactly one match. Opening detaches the kernel ``usblp`` driver when it holds the
printer (re-attached on close), claims the printer interface with a few retries, and finds
the bulk OUT and IN endpoints from the descriptors.

The pyusb backend can be injected (a :class:`usb.backend.IBackend`, e.g.
:class:`drivers.evolis.usbsim.SimulatedBackend`), either per transport or for the whole
process with :data:`default_backend`; ``None`` lets pyusb pick libusb.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import usb.core
import usb.util

from printctl.hardware import (
    ConnectionLost,
    DeviceTimeout,
    DriverConfigError,
    HardwareError,
    PermissionDenied,
)

if TYPE_CHECKING:
    from drivers.evolis.driver import EvolisPrinter

__all__ = ["EVOLIS_VID", "UsbTransport", "default_backend", "usb_error", "usb_printer"]

EVOLIS_VID = 0x0F49
#: The pyusb backend used when none is passed in (tests and rehearsals set a simulated one).
default_backend: Any = None

_UDEV_HINT = "run 'printctl driver udev-rules' and install the rules it prints, then replug"
_USBLP = (
    "resource busy: the kernel usblp driver or another program holds the printer"
    " (unload it with 'sudo modprobe -r usblp', or use evolis+file:///dev/usb/lp0 instead)"
)
_PRINTER_CLASS = 7


def usb_error(exc: usb.core.USBError, what: str) -> HardwareError:
    """Translate a pyusb error from ``what`` into the :mod:`printctl.hardware` tree."""
    code = exc.errno
    if isinstance(exc, usb.core.USBTimeoutError) or code == errno.ETIMEDOUT:
        return DeviceTimeout(f"{what}: timed out")
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{what}: permission denied; {_UDEV_HINT}")
    if code == errno.EBUSY:
        return PermissionDenied(f"{what}: {_USBLP}")
    if code in (errno.ENODEV, errno.ENOENT):
        return ConnectionLost(f"{what}: the printer is gone (unplugged or switched off?)")
    return ConnectionLost(f"{what}: USB error: {exc}")


def _ms(seconds: float) -> int:
    # pyusb and libusb read a timeout of 0 as "wait for ever": never send one.
    return max(1, int(seconds * 1000 + 0.999))


class UsbTransport:
    """One Evolis printer's printer-class interface, claimed, with its bulk endpoints."""

    def __init__(
        self,
        *,
        serial: str | None,
        vid: int = EVOLIS_VID,
        pid: int | None = None,
        timeout: float,
        backend: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        claim_attempts: int = 4,
        claim_delay: float = 0.5,
    ) -> None:
        self._timeout = timeout
        self._backend = backend if backend is not None else default_backend
        self._dev: Any = self._find(serial, vid, pid)
        self.where = f"usb {self._label(self._dev, serial)}"
        self._reattach: int | None = None
        self._intf: int | None = None
        try:
            self._setup(sleep, claim_attempts, claim_delay)
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- discovery

    def _find(self, serial: str | None, vid: int, pid: int | None) -> Any:
        match: dict[str, int] = {"idVendor": vid}
        if pid is not None:
            match["idProduct"] = pid
        ids = f"{vid:04x}" + (f":{pid:04x}" if pid is not None else "")
        try:
            found = list(usb.core.find(find_all=True, backend=self._backend, **match))
        except usb.core.NoBackendError as exc:
            raise DriverConfigError(
                "no USB backend: install libusb-1.0 (e.g. 'apt install libusb-1.0-0')"
            ) from exc
        except usb.core.USBError as exc:
            raise usb_error(exc, "usb bus") from exc
        serials: list[tuple[Any, str | None]] = []
        unreadable = 0
        for dev in found:
            try:
                serials.append((dev, dev.serial_number))
            except usb.core.USBError as exc:
                if exc.errno not in (errno.EACCES, errno.EPERM):
                    raise usb_error(exc, f"usb {ids}") from exc
                unreadable += 1
                serials.append((dev, None))
            except ValueError:
                # pyusb's "no langid": the string descriptors could not be read, which on
                # Linux almost always means the device node is not accessible to us.
                unreadable += 1
                serials.append((dev, None))
        listing = ", ".join(self._label(dev, sn) for dev, sn in serials) or "none"
        if serial is not None:
            chosen = [dev for dev, sn in serials if sn == serial]
            if chosen:
                return chosen[0]
            if unreadable:
                raise PermissionDenied(
                    f"usb {ids}: cannot read the serial number of {unreadable} printer(s):"
                    f" permission denied; {_UDEV_HINT}"
                )
            raise ConnectionLost(
                f"usb {ids}: no Evolis printer with serial {serial!r} (found: {listing})"
            )
        if not serials:
            raise ConnectionLost(
                f"usb {ids}: no Evolis printer found (is it plugged in and switched on?)"
            )
        if len(serials) > 1:
            raise DriverConfigError(
                f"usb {ids}: {len(serials)} printers found ({listing});"
                " say which with ?serial=… in the URL"
            )
        return serials[0][0]

    @staticmethod
    def _label(dev: Any, serial: str | None) -> str:
        where = f"bus {dev.bus} address {dev.address}"
        return f"{serial or 'serial ?'} ({dev.idVendor:04x}:{dev.idProduct:04x}, {where})"

    # ----------------------------------------------------------------- set-up

    def _setup(self, sleep: Callable[[float], None], attempts: int, delay: float) -> None:
        dev = self._dev
        try:
            try:
                config = dev.get_active_configuration()
            except usb.core.USBError:
                # Unconfigured: no kernel driver can be bound yet, so configuring is safe.
                dev.set_configuration()
                config = dev.get_active_configuration()
            intf = self._printer_interface(config)
            number = int(intf.bInterfaceNumber)
            if self._kernel_driver_active(number):
                dev.detach_kernel_driver(number)
                self._reattach = number
        except usb.core.USBError as exc:
            raise usb_error(exc, self.where) from exc
        for attempt in range(attempts):
            try:
                usb.util.claim_interface(dev, number)
                break
            except usb.core.USBError as exc:
                # Right after a detach or another program's release the claim can still
                # be refused as busy for a moment; give it a few tries before giving up.
                if exc.errno == errno.EBUSY and attempt < attempts - 1:
                    sleep(delay)
                    continue
                raise usb_error(exc, self.where) from exc
        self._intf = number
        self._out = self._endpoint(intf, usb.util.ENDPOINT_OUT)
        self._in = self._endpoint(intf, usb.util.ENDPOINT_IN)
        self._packet = max(64, int(self._in.wMaxPacketSize))

    def _kernel_driver_active(self, number: int) -> bool:
        try:
            return bool(self._dev.is_kernel_driver_active(number))
        except NotImplementedError:  # backends without the call (Windows, OpenUSB)
            return False

    def _printer_interface(self, config: Any) -> Any:
        interfaces = list(config)
        for intf in interfaces:
            if intf.bInterfaceClass == _PRINTER_CLASS and self._has_bulk_pair(intf):
                return intf
        for intf in interfaces:
            if self._has_bulk_pair(intf):
                return intf
        raise ConnectionLost(f"{self.where}: no interface with bulk IN and OUT endpoints")

    @staticmethod
    def _bulk(intf: Any, direction: int) -> Any:
        return usb.util.find_descriptor(
            intf,
            custom_match=lambda ep: (
                usb.util.endpoint_direction(ep.bEndpointAddress) == direction
                and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
            ),
        )

    def _has_bulk_pair(self, intf: Any) -> bool:
        return all(
            self._bulk(intf, d) is not None for d in (usb.util.ENDPOINT_OUT, usb.util.ENDPOINT_IN)
        )

    def _endpoint(self, intf: Any, direction: int) -> Any:
        return self._bulk(intf, direction)

    # ----------------------------------------------------------------- I/O

    def write(self, data: bytes) -> None:
        """Bulk OUT, all of ``data`` within the timeout."""
        dev = self._require()
        offset = 0
        try:
            while offset < len(data):
                chunk = data[offset:] if offset else data
                offset += int(dev.write(self._out, chunk, timeout=_ms(self._timeout)))
        except usb.core.USBError as exc:
            raise usb_error(exc, f"{self.where}: write") from exc

    def read(self, timeout: float) -> bytes:
        """Bulk IN: what the printer sends within ``timeout`` (``b""`` when nothing)."""
        dev = self._require()
        try:
            data = dev.read(self._in, self._packet * 8, timeout=_ms(timeout))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise usb_error(exc, f"{self.where}: read") from exc
        return bytes(data)

    def close(self) -> None:
        """Release the interface, give the kernel driver back, free the handle."""
        dev, self._dev = self._dev, None
        if dev is None:
            return
        with contextlib.suppress(Exception):
            if self._intf is not None:
                usb.util.release_interface(dev, self._intf)
        with contextlib.suppress(Exception):
            if self._reattach is not None:
                dev.attach_kernel_driver(self._reattach)
        with contextlib.suppress(Exception):
            usb.util.dispose_resources(dev)

    def _require(self) -> Any:
        if self._dev is None:
            raise ConnectionLost(f"{self.where}: the transport is closed")
        return self._dev


def usb_printer(url: str) -> EvolisPrinter:
    """The ``evolis+usb`` registry factory (importing this module needs pyusb)."""
    from drivers.evolis.driver import EvolisPrinter

    return EvolisPrinter(url)
