"""Evolis card printers over the Evolis escape-command protocol.

Layers, bottom up (see ``/work/shared/spec/evolis-protocol.md`` for the protocol itself):

- :mod:`drivers.evolis.framing`: pure functions on bytes: build commands and image
  downloads, parse a printer-bound byte stream, classify replies, map NACK codes to the
  :mod:`printctl.hardware` error tree;
- :mod:`drivers.evolis.panels`: card images to panel bitmaps (K/O at 2 levels, Y/M/C at
  32/64/128 levels), their compression, and the inverse functions;
- :mod:`drivers.evolis.transports` (TCP, device file), :mod:`drivers.evolis.usbtransport`
  (pyusb) and :mod:`drivers.evolis.serialtransport` (pyserial): bytes in, bytes out, every
  read bounded, OS errors translated at the boundary;
- :mod:`drivers.evolis.driver`: :class:`~drivers.evolis.driver.EvolisPrinter`, the Printer
  Protocol over a transport;
- :mod:`drivers.evolis.simulator` and :mod:`drivers.evolis.usbsim`: an Evolis device
  simulator served over TCP, a pseudo-terminal or a pyusb backend.
"""

from __future__ import annotations
