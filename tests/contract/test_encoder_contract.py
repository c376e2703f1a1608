"""The encoder contract, run against every encoder driver URL in ENCODER_URLS.

Adding a driver is one line in ENCODER_URLS; bench URLs can come from the environment
(space-separated), e.g. ``PRINTCTL_CONTRACT_ENCODERS='pcsc://?reader=OMNIKEY'``, with a card
in the reader's field.
"""

from __future__ import annotations

import os

import pytest
from pcsc_support import pcsc_contract_urls

from drivers.conformance import ENCODER_CHECKS, Check
from printctl.hardware import Encoder
from printctl.registry import make_encoder

ENCODER_URLS: list[str] = [
    "mock://",
    "sim://",
    "sim://?uid_bytes=4&seed=9",
    *pcsc_contract_urls(),  # pcscd + vpcd, the driver's own virtual card; skips without them
    *os.environ.get("PRINTCTL_CONTRACT_ENCODERS", "").split(),
]


@pytest.mark.parametrize("url", ENCODER_URLS)
@pytest.mark.parametrize("check", ENCODER_CHECKS, ids=lambda check: check.name)
def test_encoder_contract(check: Check[Encoder], url: str) -> None:
    """The encoder driver at ``url`` passes the named contract check (or says why it cannot)."""
    encoder = make_encoder(url)
    try:
        result = check.run(encoder)
    finally:
        encoder.close()
    if result.outcome == "skip":
        pytest.skip(f"{check.name} on {url}: {result.detail}")
    assert result.outcome == "pass", result
