"""The mock drivers: every call recorded, always successful, deterministic UIDs."""

from __future__ import annotations

import pytest

from drivers.conformance import GET_UID, blank_card_image
from drivers.mock import Call, MockEncoder, MockPrinter
from printctl.hardware import CardPosition, DriverConfigError, EncoderStation


def test_mock_printer_records_calls_and_counts() -> None:
    """MockPrinter records each call with an argument summary and counts cards and panels."""
    p = MockPrinter("mock://?serial=M7")
    p.open()
    p.feed()
    p.move_to_encoder(EncoderStation.CONTACTLESS)
    p.print_card(blank_card_image(label="job-9"))
    p.eject()
    p.feed()
    p.reject()
    assert p.calls == [
        Call("open"),
        Call("feed"),
        Call("move_to_encoder", "contactless"),
        Call("print_card", "label='job-9' back=True"),
        Call("eject"),
        Call("feed"),
        Call("reject"),
    ]
    status = p.status()
    assert (status.cards_inserted, status.panels_printed) == (2, 6)
    assert status.cards_in_hopper is None and status.card_position is CardPosition.NONE
    assert (p.output_tray, p.reject_bin) == (1, 1)
    assert p.capabilities().serial == "M7"


def test_mock_printer_does_not_enforce_order() -> None:
    """The mock accepts calls in any order: order is the simulator's job."""
    p = MockPrinter()
    p.eject()
    p.eject()
    assert p.output_tray == 2


def test_mock_encoder_uids_are_sequential_per_card() -> None:
    """UIDs are 04000000000001, 04000000000002, … and change after each script."""
    e = MockEncoder()
    e.open()
    assert e.read_uid() == "04000000000001"
    assert e.run_script([GET_UID]) == "04000000000001"
    assert e.read_uid() == "04000000000002"
    assert e.calls[-1] == Call("read_uid")
    assert Call("run_script", "1 commands") in e.calls


def test_mock_rejects_options() -> None:
    """The mocks reject options they do not know, like every driver."""
    with pytest.raises(DriverConfigError):
        MockEncoder("mock://?seed=1")
    with pytest.raises(DriverConfigError):
        MockPrinter("mock://?cards=5")
