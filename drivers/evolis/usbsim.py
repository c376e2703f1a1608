"""A pyusb backend with simulated Evolis printers behind it.

:class:`SimulatedBackend` implements pyusb's own backend interface
(:class:`usb.backend.IBackend`), so ``usb.core.find``, ``Device.serial_number``,
``set_configuration``, ``claim_interface``, ``write`` and ``read`` run their real code; only
the bottom layer (libusb) is replaced. Each :class:`SimulatedUsbDevice` feeds the bytes
written to its bulk OUT endpoint into an :class:`~drivers.evolis.simulator.EvolisSimulator`
and returns its replies on bulk IN. Devices can misbehave like real ones: opening refused
(``open_errno=errno.EACCES``, no udev rules), the kernel ``usblp`` driver bound, claims
refused as busy a few times, or the printer unplugged mid-job.

    backend = SimulatedBackend(SimulatedUsbDevice(EvolisSimulator(), serial="E1"))
    printer = EvolisPrinter("evolis+usb://?serial=E1", usb_backend=backend)
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from drivers.evolis.simulator import EvolisSimulator

__all__ = ["SimulatedBackend", "SimulatedUsbDevice"]

_EP_OUT = 0x01
_EP_IN = 0x82
_PACKET = 512
_PRINTER_CLASS = 7
_BULK = 2
_STRING = 3
_GET_DESCRIPTOR = 6


class _Descriptor:
    """An object with descriptor fields as attributes, as pyusb expects from a backend."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


@dataclass(eq=False)
class SimulatedUsbDevice:
    """One simulated printer on the bus, and the ways it can misbehave."""

    simulator: EvolisSimulator
    serial: str | None = "EVSIM0001"
    vid: int = 0x0F49
    pid: int = 0x0011
    bus: int = 1
    address: int = 5
    product: str = "Evolis Primacy (simulated)"
    #: The kernel usblp driver holds the interface until detached (a fresh Linux box).
    kernel_driver: bool = True
    #: errno raised when the device is opened (errno.EACCES: no udev rule for the user).
    open_errno: int | None = None
    #: How many claim attempts fail with EBUSY before one succeeds.
    busy_claims: int = 0
    #: Set to make every transfer fail as if the cable were pulled.
    unplugged: bool = False
    #: The active configuration (the OS configures a device on plug-in; None = unconfigured).
    configuration: int | None = 1
    detached: int = 0
    claims: int = 0
    _outbox: bytearray = field(default_factory=bytearray)
    _ready: threading.Condition = field(default_factory=threading.Condition)


def _error(code: int, text: str | None = None) -> usb.core.USBError:
    # The libusb1 backend raises USBError with the errno of the libusb error code.
    return usb.core.USBError(text or os.strerror(code), None, code)


class _Handle:
    def __init__(self, device: SimulatedUsbDevice) -> None:
        self.device = device
        self.claimed: set[int] = set()


class SimulatedBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb's backend interface over a list of simulated devices."""

    def __init__(self, *devices: SimulatedUsbDevice) -> None:
        super().__init__()
        self.devices = list(devices)

    # ----------------------------------------------------------------- descriptors

    def enumerate_devices(self) -> Any:
        return iter(list(self.devices))

    def get_parent(self, dev: SimulatedUsbDevice) -> None:
        return None

    def get_device_descriptor(self, dev: SimulatedUsbDevice) -> _Descriptor:
        return _Descriptor(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0200,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=dev.vid,
            idProduct=dev.pid,
            bcdDevice=0x0100,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=3 if dev.serial is not None else 0,
            bNumConfigurations=1,
            address=dev.address,
            bus=dev.bus,
            port_number=1,
            port_numbers=(1,),
            speed=3,
        )

    def get_configuration_descriptor(self, dev: SimulatedUsbDevice, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError("configuration index out of range")
        return _Descriptor(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=32,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0xC0,
            bMaxPower=1,
            extra_descriptors=[],
        )

    def get_interface_descriptor(
        self, dev: SimulatedUsbDevice, intf: int, alt: int, config: int
    ) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("interface index out of range")
        return _Descriptor(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=2,
            bInterfaceClass=_PRINTER_CLASS,
            bInterfaceSubClass=1,
            bInterfaceProtocol=2,  # bidirectional
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(
        self, dev: SimulatedUsbDevice, ep: int, intf: int, alt: int, config: int
    ) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0) or ep not in (0, 1):
            raise IndexError("endpoint index out of range")
        return _Descriptor(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=(_EP_OUT, _EP_IN)[ep],
            bmAttributes=_BULK,
            wMaxPacketSize=_PACKET,
            bInterval=0,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    # ----------------------------------------------------------------- handles, interfaces

    def open_device(self, dev: SimulatedUsbDevice) -> _Handle:
        if dev.open_errno is not None:
            raise _error(dev.open_errno)
        if dev.unplugged:
            raise _error(errno.ENODEV)
        dev.simulator.connect()
        return _Handle(dev)

    def close_device(self, handle: _Handle) -> None:
        handle.claimed.clear()

    def set_configuration(self, handle: _Handle, config_value: int) -> None:
        if handle.device.kernel_driver and handle.device.configuration is not None:
            raise _error(errno.EBUSY)
        handle.device.configuration = config_value

    def get_configuration(self, handle: _Handle) -> int:
        return handle.device.configuration or 0

    def set_interface_altsetting(self, handle: _Handle, intf: int, altsetting: int) -> None:
        return None

    def claim_interface(self, handle: _Handle, intf: int) -> None:
        dev = handle.device
        if dev.kernel_driver:
            raise _error(errno.EBUSY)
        if dev.busy_claims > 0:
            dev.busy_claims -= 1
            raise _error(errno.EBUSY)
        dev.claims += 1
        handle.claimed.add(intf)

    def release_interface(self, handle: _Handle, intf: int) -> None:
        handle.claimed.discard(intf)

    def is_kernel_driver_active(self, handle: _Handle, intf: int) -> bool:
        return handle.device.kernel_driver

    def detach_kernel_driver(self, handle: _Handle, intf: int) -> None:
        handle.device.kernel_driver = False
        handle.device.detached += 1

    def attach_kernel_driver(self, handle: _Handle, intf: int) -> None:
        handle.device.kernel_driver = True

    def clear_halt(self, handle: _Handle, ep: int) -> None:
        return None

    def reset_device(self, handle: _Handle) -> None:
        return None

    # ----------------------------------------------------------------- transfers

    def ctrl_transfer(
        self,
        handle: _Handle,
        bmRequestType: int,  # noqa: N803 - pyusb's parameter names
        bRequest: int,  # noqa: N803
        wValue: int,  # noqa: N803
        wIndex: int,  # noqa: N803
        data: Any,
        timeout: int,
    ) -> int:
        if bRequest != _GET_DESCRIPTOR or wValue >> 8 != _STRING:
            raise _error(errno.EPIPE, "Pipe error (request not supported)")
        index = wValue & 0xFF
        if index == 0:
            descriptor = bytes([4, _STRING, 0x09, 0x04])  # one language: en-US
        else:
            dev = handle.device
            text = {1: "Evolis", 2: dev.product, 3: dev.serial or ""}.get(index)
            if text is None:
                raise _error(errno.EPIPE)
            encoded = text.encode("utf-16-le")
            descriptor = bytes([2 + len(encoded), _STRING]) + encoded
        count = min(len(data), len(descriptor))
        data[:count] = type(data)(data.typecode, descriptor[:count])
        return count

    def _check(self, handle: _Handle, intf: int) -> SimulatedUsbDevice:
        dev = handle.device
        if dev.unplugged:
            raise _error(errno.ENODEV, "No such device (it may have been disconnected)")
        if intf not in handle.claimed:
            raise _error(errno.EBUSY, "interface not claimed")
        return dev

    def bulk_write(self, handle: _Handle, ep: int, intf: int, data: Any, timeout: int) -> int:
        dev = self._check(handle, intf)
        if ep != _EP_OUT:
            raise _error(errno.EPIPE)
        reply = dev.simulator.receive(bytes(data))
        with dev._ready:
            dev._outbox += reply
            dev._ready.notify_all()
        return len(data)

    def bulk_read(self, handle: _Handle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        dev = self._check(handle, intf)
        if ep != _EP_IN:
            raise _error(errno.EPIPE)
        with dev._ready:
            # A silent printer makes the host wait its whole timeout, as libusb would.
            if not dev._outbox and not dev._ready.wait_for(
                lambda: bool(dev._outbox), timeout / 1000.0
            ):
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
            count = min(len(buff), len(dev._outbox))
            buff[:count] = type(buff)(buff.typecode, bytes(dev._outbox[:count]))
            del dev._outbox[:count]
        return count
