"""The printer contract, run against every printer driver URL in PRINTER_URLS.

Adding a driver to the suite is one line in PRINTER_URLS. On a technician's bench, more URLs
(real hardware) can be added without editing this file, separated by spaces::

    PRINTCTL_CONTRACT_PRINTERS='evolis+tcp://10.0.0.5:9100' pytest tests/contract
"""

from __future__ import annotations

import os

import pytest

from drivers.conformance import PRINTER_CHECKS, Check
from printctl.hardware import Printer
from printctl.registry import make_printer
from tests.integration.test_evolis_contract import evolis_contract_urls

PRINTER_URLS: list[str] = [
    "mock://",
    "sim://?cards=5",
    "sim://?cards=3&encode=after&duplex=false",
    *evolis_contract_urls(),  # Evolis simulators on TCP, pty (serial, file) and pyusb
    *os.environ.get("PRINTCTL_CONTRACT_PRINTERS", "").split(),
]


@pytest.mark.parametrize("url", PRINTER_URLS)
@pytest.mark.parametrize("check", PRINTER_CHECKS, ids=lambda check: check.name)
def test_printer_contract(check: Check[Printer], url: str) -> None:
    """The printer driver at ``url`` passes the named contract check (or says why it cannot)."""
    printer = make_printer(url)
    try:
        result = check.run(printer)
    finally:
        printer.close()
    if result.outcome == "skip":
        pytest.skip(f"{check.name} on {url}: {result.detail}")
    assert result.outcome == "pass", result
