"""The spy wrapper: every call recorded with its duration and error, nothing personal logged."""

from __future__ import annotations

import itertools

import pytest
import structlog.testing

from drivers.conformance import (
    ENCODER_CHECKS,
    GET_UID,
    PRINTER_CHECKS,
    UNMATCHABLE,
    blank_card_image,
    run_checks,
)
from drivers.mock import MockEncoder, MockPrinter
from drivers.sim import SimEncoder, SimPrinter
from drivers.spy import SpyCall, SpyEncoder, SpyPrinter, spy
from printctl.domain import ChipCommand
from printctl.hardware import (
    CardJam,
    DeviceTimeout,
    Encoder,
    EncoderStation,
    Printer,
    StatusWordMismatch,
)


class StepClock:
    """perf_counter stand-in: each reading is a quarter second after the previous one."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> float:
        return next(self._ticks) * 0.25


def test_spy_printer_forwards_and_records_each_call_with_its_duration() -> None:
    """Each call reaches the sim (its counters move) and is recorded with the clock's duration."""
    sim = SimPrinter("sim://?cards=5")
    printer = SpyPrinter(sim, clock=StepClock())
    printer.open()
    printer.feed()
    printer.move_to_encoder(EncoderStation.CONTACTLESS)
    printer.print_card(blank_card_image(label="job-42"))
    printer.eject()
    printer.close()
    assert (sim.cards_inserted, sim.output_tray, sim.hopper) == (1, 1, 4)
    assert [(c.name, c.args) for c in printer.calls] == [
        ("open", ""),
        ("feed", ""),
        ("move_to_encoder", "contactless"),
        ("print_card", "label='job-42' back=yes"),
        ("eject", ""),
        ("close", ""),
    ]
    assert all(c.seconds == 0.25 and c.ok for c in printer.calls)


def test_spy_printer_summarises_status_and_capabilities_results() -> None:
    """status and capabilities are recorded with a short summary of what they returned."""
    printer = SpyPrinter(SimPrinter("sim://?cards=3&model=bench"), clock=StepClock())
    printer.open()
    assert printer.capabilities().model == "bench"
    assert printer.status().cards_in_hopper == 3
    assert printer.calls[1].result == "bench"
    assert printer.calls[2].result == "state=ready hopper=3 inserted=0 panels=0 position=none"


def test_spy_reraises_the_same_error_and_records_its_facts() -> None:
    """A driver error comes out unchanged, recorded with code, retryable and card_may_have_moved."""
    printer = SpyPrinter(SimPrinter("sim://?fault=feed:1:jam"), clock=StepClock())
    printer.open()
    with pytest.raises(CardJam) as caught:
        printer.feed()
    call = printer.calls[-1]
    assert call == SpyCall(
        driver="sim://?fault=feed:1:jam",
        name="feed",
        args="",
        seconds=0.25,
        error="media-jam",
        error_type="CardJam",
        retryable=False,
        card_may_have_moved=True,
    )
    assert not call.ok
    assert type(caught.value) is CardJam


def test_spy_records_a_retryable_timeout() -> None:
    """A status timeout is recorded as retryable with no card moved."""
    printer = SpyPrinter(SimPrinter("sim://?fault=status:*:timeout"), clock=StepClock())
    printer.open()
    with pytest.raises(DeviceTimeout):
        printer.status()
    call = printer.calls[-1]
    assert (call.error, call.retryable, call.card_may_have_moved) == ("timeout", True, False)


def test_spy_records_a_non_hardware_exception_without_inventing_facts() -> None:
    """A driver bug (not a HardwareError) is recorded by class name, retryable unknown, and re-raised."""

    class Broken(MockPrinter):
        def feed(self) -> None:
            raise ZeroDivisionError("bug")

    printer = SpyPrinter(Broken(), clock=StepClock())
    with pytest.raises(ZeroDivisionError):
        printer.feed()
    call = printer.calls[-1]
    assert (call.error, call.retryable, call.card_may_have_moved) == (
        "ZeroDivisionError",
        None,
        None,
    )


def test_spy_encoder_logs_command_count_never_apdu_bytes_or_uid() -> None:
    """run_script is recorded as a number of commands; neither the APDU bytes nor the UID appear."""
    sim = SimEncoder("sim://")
    encoder = SpyEncoder(sim, clock=StepClock())
    encoder.open()
    assert encoder.detect() is True
    uid = encoder.read_uid()
    secret = ChipCommand(apdu=bytes.fromhex("00DA010204") + b"NIK1", expect=b"\x90\x00")
    assert encoder.run_script([GET_UID, secret]) == uid
    assert [(c.name, c.args, c.result) for c in encoder.calls] == [
        ("open", "", ""),
        ("detect", "", "true"),
        ("read_uid", "", ""),
        ("run_script", "2 commands", ""),
    ]
    recorded = repr(encoder.calls)
    assert uid not in recorded and "NIK1" not in recorded and "00DA" not in recorded.upper()


def test_spy_encoder_reraises_status_word_mismatch_with_its_details() -> None:
    """A status-word mismatch keeps its index and status words when it passes the spy."""
    encoder = SpyEncoder(MockEncoder(), clock=StepClock())
    encoder.open()
    with pytest.raises(StatusWordMismatch) as caught:
        encoder.run_script([UNMATCHABLE])
    assert caught.value.index == 0 and caught.value.expected == b"\x00\x00"
    assert encoder.calls[-1].error == "status-word"
    assert encoder.calls[-1].args == "1 command"


def test_spy_picks_the_wrapper_for_the_driver_kind() -> None:
    """spy() wraps a printer in SpyPrinter and an encoder in SpyEncoder, and refuses anything else."""
    wrapped_printer = spy(MockPrinter())
    wrapped_encoder = spy(MockEncoder())
    assert isinstance(wrapped_printer, SpyPrinter) and isinstance(wrapped_printer, Printer)
    assert isinstance(wrapped_encoder, SpyEncoder) and isinstance(wrapped_encoder, Encoder)
    assert wrapped_printer.url == "mock://"
    with pytest.raises(TypeError, match="neither a Printer nor an Encoder"):
        spy(object())  # type: ignore[arg-type]


def test_spies_share_one_call_list_and_report_each_call() -> None:
    """Spies given the same list write one log in call order and tell on_call about each record."""
    calls: list[SpyCall] = []
    seen: list[str] = []
    first = spy(MockPrinter(), calls=calls, on_call=lambda c: seen.append(c.name))
    second = spy(MockEncoder(), calls=calls, on_call=lambda c: seen.append(c.name))
    first.open()
    second.open()
    first.close()
    assert [c.name for c in calls] == ["open", "open", "close"] == seen
    assert [c.driver for c in calls] == ["mock://", "mock://", "mock://"]


def test_spied_drivers_pass_the_conformance_checks() -> None:
    """Wrapping changes nothing a caller can see: spied sim drivers pass the contract suite."""
    calls: list[SpyCall] = []
    printer_results = run_checks(
        lambda: SpyPrinter(SimPrinter("sim://?cards=4"), calls=calls), PRINTER_CHECKS
    )
    encoder_results = run_checks(lambda: SpyEncoder(SimEncoder(), calls=calls), ENCODER_CHECKS)
    assert {r.outcome for r in printer_results + encoder_results} == {"pass"}
    assert "feed" in {c.name for c in calls}
    assert any(c.error == "media-empty" for c in calls)  # the drained-hopper check's feed


def test_spy_logs_through_structlog() -> None:
    """Successes are logged at debug, errors at warning, with the call's facts as fields."""
    printer = SpyPrinter(SimPrinter("sim://?fault=feed:1:cover"), clock=StepClock())
    with structlog.testing.capture_logs() as logs:
        printer.open()
        with pytest.raises(Exception, match="cover"):
            printer.feed()
    assert [(e["event"], e["log_level"], e["name"]) for e in logs] == [
        ("driver call", "debug", "open"),
        ("driver call failed", "warning", "feed"),
    ]
    assert logs[1]["error"] == "cover-open" and logs[1]["retryable"] is True
    assert logs[1]["seconds"] == 0.25
