"""The simulated chip encoder: UIDs per card, APDU checks, status words and faults."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from drivers.sim import (
    DeviceNotOpen,
    MalformedCommand,
    SimEncoder,
    apdu_problem,
    simulated_status_word,
    simulated_uid,
)
from printctl.domain import ChipCommand
from printctl.hardware import (
    CardRemoved,
    DeviceTimeout,
    DriverConfigError,
    NoCard,
    ReaderGone,
    StatusWordMismatch,
)

OK = b"\x90\x00"
SELECT = ChipCommand(bytes.fromhex("00A4040007A0000002471001"), OK)
READ = ChipCommand(bytes.fromhex("00B0000000"), OK)
UPDATE = ChipCommand(bytes.fromhex("00D6000003010203"), OK)
SCRIPT = [SELECT, READ, UPDATE, READ]


def make(url: str = "sim://") -> SimEncoder:
    encoder = SimEncoder(url)
    encoder.open()
    return encoder


def test_uid_is_seven_byte_04_hex_and_deterministic() -> None:
    """UIDs are 7 bytes, upper-case hex starting 04, the same for the same seed and card."""
    uid = make("sim://?seed=1").read_uid()
    assert re.fullmatch(r"04[0-9A-F]{12}", uid)
    assert uid == make("sim://?seed=1").read_uid() == simulated_uid(1, 1)
    assert uid != make("sim://?seed=2").read_uid()


@pytest.mark.parametrize(("size", "pattern"), [("4", r"08[0-9A-F]{6}"), ("10", r"04[0-9A-F]{18}")])
def test_uid_length_option(size: str, pattern: str) -> None:
    """uid_bytes=4 gives a random-NUID-style 08… UID, uid_bytes=10 a 10-byte 04… UID."""
    assert re.fullmatch(pattern, make(f"sim://?uid_bytes={size}").read_uid())


def test_uid_stays_until_the_script_has_run() -> None:
    """read_uid and run_script agree for one card; the next card has a new UID."""
    e = make()
    first = e.read_uid()
    assert e.detect() is True
    assert e.read_uid() == first
    assert e.run_script(SCRIPT) == first
    second = e.read_uid()
    assert second != first
    assert e.run_script(SCRIPT) == second
    assert (e.scripts_run, e.commands_sent, e.card) == (2, 8, 2)


def test_next_card_hook_changes_the_uid() -> None:
    """next_card() brings a new card (and UID) into the field."""
    e = make()
    first = e.read_uid()
    e.next_card()
    assert e.read_uid() != first


def test_status_word_fault_on_the_chosen_run() -> None:
    """run:2:sw6A82 makes the second script's first command answer 6A82."""
    e = make("sim://?fault=run:2:sw6A82&seed=1")
    e.run_script(SCRIPT)
    with pytest.raises(StatusWordMismatch) as info:
        e.run_script(SCRIPT)
    assert (info.value.index, info.value.got, info.value.expected) == (0, b"\x6a\x82", OK)
    assert info.value.retryable is False
    e.run_script(SCRIPT)  # one-shot: the third card is fine


def test_expected_status_words_other_than_9000_are_met() -> None:
    """A script expecting a warning status word such as 6283 passes on the sim."""
    assert make().run_script([ChipCommand(SELECT.apdu, b"\x62\x83")])


def test_impossible_expectation_mismatches() -> None:
    """A status word no chip can send (SW1 00) is answered 6F00 and raises a mismatch."""
    e = make()
    with pytest.raises(StatusWordMismatch) as info:
        e.run_script([READ, ChipCommand(READ.apdu, b"\x00\x00")])
    assert (info.value.index, info.value.got) == (1, b"\x6f\x00")


@pytest.mark.parametrize(
    ("expect", "answer"),
    [
        (OK, OK),
        (b"\x61\x10", b"\x61\x10"),
        (b"\x6a\x82", b"\x6a\x82"),
        (b"\x00\x00", b"\x6f\x00"),
        (b"\x60\x00", b"\x6f\x00"),
        (b"\x90", b"\x6f\x00"),
    ],
)
def test_simulated_status_word(expect: bytes, answer: bytes) -> None:
    """The chip answers the expected word when SW1 is 61–6F or 90–9F, else 6F00."""
    assert simulated_status_word(ChipCommand(b"\x00\xb0\x00\x00", expect)) == answer


@pytest.mark.parametrize(
    ("apdu", "problem"),
    [
        ("00A40400", None),
        ("00B0000010", None),
        ("00D6000003010203", None),
        ("00A4040007A000000247100100", None),
        ("00B0000000FFFF", None),
        ("00D60000000003010203", None),
        ("00D6000000000301020300FF", None),
        ("00A404", "at least 4"),
        ("00D60000030102", "Lc=3 but 2 bytes follow"),
        ("00D600000301020304FF", "Lc=3 but 5 bytes follow"),
        ("00D600000000", "extended length"),
        ("00D60000000000AA", "extended Lc is 0"),
        ("00D6000000000301", "extended Lc=3 but 1 bytes follow"),
    ],
)
def test_apdu_problem(apdu: str, problem: str | None) -> None:
    """apdu_problem accepts ISO 7816-4 cases 1–4 (short and extended) and names Lc mismatches."""
    result = apdu_problem(bytes.fromhex(apdu))
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


def test_malformed_script_is_refused_before_sending() -> None:
    """A malformed APDU anywhere in the script raises MalformedCommand and sends nothing."""
    e = make()
    uid = e.read_uid()
    with pytest.raises(MalformedCommand, match="command 2: Lc=5"):
        e.run_script([SELECT, READ, ChipCommand(bytes.fromhex("00D6000005AA"), OK)])
    with pytest.raises(MalformedCommand, match="command 0: expected status word is 1 bytes"):
        e.run_script([ChipCommand(READ.apdu, b"\x90")])
    assert e.commands_sent == 0
    assert e.read_uid() == uid  # the card had no turn


def test_removed_fault_stops_halfway() -> None:
    """run:1:removed sends half the script, then raises CardRemoved; the next card is new."""
    e = make("sim://?fault=run:1:removed")
    uid = e.read_uid()
    with pytest.raises(CardRemoved):
        e.run_script(SCRIPT)
    assert e.commands_sent == 2
    assert e.read_uid() != uid


def test_timeout_fault_runs_the_whole_script() -> None:
    """run:1:timeout: every command was sent (the chip is written) but the reply was lost."""
    e = make("sim://?fault=run:1:timeout")
    with pytest.raises(DeviceTimeout):
        e.run_script(SCRIPT)
    assert e.commands_sent == 4


def test_nocard_on_detect_returns_false() -> None:
    """detect:2:nocard makes the second detect report an empty field, without raising."""
    e = make("sim://?fault=detect:2:nocard")
    assert [e.detect(), e.detect(), e.detect()] == [True, False, True]


@pytest.mark.parametrize(
    ("url", "call", "error"),
    [
        ("sim://?fault=uid:1:nocard", lambda e: e.read_uid(), NoCard),
        ("sim://?fault=run:1:nocard", lambda e: e.run_script(SCRIPT), NoCard),
        ("sim://?fault=detect:1:gone", lambda e: e.detect(), ReaderGone),
        ("sim://?fault=uid:1:removed", lambda e: e.read_uid(), CardRemoved),
    ],
)
def test_encoder_faults_raise_their_errors(
    url: str, call: Callable[[SimEncoder], object], error: type[Exception]
) -> None:
    """Each encoder fault kind raises its error from the hardware tree."""
    e = make(url)
    with pytest.raises(error):
        call(e)
    assert e.commands_sent == 0


def test_random_encoder_faults_are_deterministic() -> None:
    """fault_rate with a seed gives the same outcomes on every run."""

    def outcomes(url: str) -> list[str]:
        e = make(url)
        out = []
        for _ in range(50):
            try:
                out.append(e.run_script(SCRIPT))
            except Exception as exc:
                out.append(type(exc).__name__)
        return out

    first = outcomes("sim://?fault_rate=0.3&seed=4")
    assert first == outcomes("sim://?fault_rate=0.3&seed=4")
    assert {"CardRemoved", "NoCard", "StatusWordMismatch"} & set(first)


def test_use_before_open_is_refused() -> None:
    """Reading a UID on an unopened reader raises DeviceNotOpen."""
    with pytest.raises(DeviceNotOpen):
        SimEncoder("sim://").read_uid()


@pytest.mark.parametrize(
    "url", ["sim://?cards=5", "sim://?uid_bytes=8", "sim://?fault=print:1:jam"]
)
def test_printer_options_are_not_encoder_options(url: str) -> None:
    """Options and fault steps of the printer are rejected by the encoder."""
    with pytest.raises(DriverConfigError):
        SimEncoder(url)
