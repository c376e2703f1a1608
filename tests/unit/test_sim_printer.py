"""The simulated printer's state machine, faults and timing (drivers.sim.SimPrinter)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image

from drivers.conformance import blank_card_image
from drivers.sim import CardSequenceError, DeviceNotOpen, ImageRejected, SimPrinter
from printctl.hardware import (
    PANEL_SIZE,
    CardImage,
    CardJam,
    CardPosition,
    ConnectionLost,
    CoverOpen,
    DeviceTimeout,
    DriverConfigError,
    EncoderStation,
    FeederEmpty,
    MediaError,
    PrinterState,
    RibbonOut,
    SidePanels,
)

CL = EncoderStation.CONTACTLESS


class FakeTime:
    """A clock that only moves when the simulator sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make(url: str = "sim://", time: FakeTime | None = None) -> SimPrinter:
    t = time or FakeTime()
    printer = SimPrinter(url, sleep=t.sleep, clock=t.clock)
    printer.open()
    return printer


def card_life(printer: SimPrinter, label: str = "job-1") -> None:
    printer.feed()
    printer.move_to_encoder(CL)
    printer.print_card(blank_card_image(label=label))
    printer.eject()


def snapshot(p: SimPrinter) -> dict[str, object]:
    return {
        "hopper": p.hopper,
        "output": p.output_tray,
        "reject": p.reject_bin,
        "ribbon": p.ribbon_left,
        "inserted": p.cards_inserted,
        "panels": p.panels_printed,
        "position": p.position,
    }


def test_card_life_moves_one_card_through() -> None:
    """feed → encoder → print → eject takes one blank to the output tray and counts it."""
    p = make("sim://?cards=10&ribbon=20")
    card_life(p)
    assert snapshot(p) == {
        "hopper": 9,
        "output": 1,
        "reject": 0,
        "ribbon": 19,
        "inserted": 1,
        "panels": 6,
        "position": CardPosition.NONE,
    }
    assert p.last_image is not None and p.last_image.label == "job-1"
    assert p.printed_labels == {"job-1": 1}


def test_position_follows_the_card() -> None:
    """The card position goes print → encoder → print → none along its life."""
    p = make()
    seen = [p.status().card_position]
    p.feed()
    seen.append(p.status().card_position)
    p.move_to_encoder(CL)
    seen.append(p.status().card_position)
    p.print_card(blank_card_image())
    seen.append(p.status().card_position)
    p.eject()
    seen.append(p.status().card_position)
    assert seen == ["none", "print", "encoder", "print", "none"]


def test_simplex_card_prints_five_panels() -> None:
    """A front-only card counts 5 panels (YMCKO) but still uses one ribbon set."""
    p = make("sim://?ribbon=3")
    p.feed()
    p.print_card(blank_card_image(back=False))
    p.eject()
    assert (p.panels_printed, p.ribbon_left) == (5, 2)


def test_a_nearly_spent_ribbon_is_a_warning_not_an_error() -> None:
    """At ribbon_low cards left the status warns ``ribbon-low``; the printer stays ready."""
    p = make("sim://?cards=5&ribbon=3&ribbon_low=2")
    assert p.status().conditions == ()
    card_life(p)
    s = p.status()
    assert s.conditions == ("ribbon-low",) and s.state is PrinterState.READY


def test_status_reports_hopper_ribbon_counters() -> None:
    """status() gives hopper, ribbon panels, lifetime counters from counter=/panels=, detail."""
    p = make("sim://?cards=3&ribbon=10&ribbon_low=5&counter=5000&panels=30000&serial=E9")
    card_life(p)
    s = p.status()
    assert s.state is PrinterState.READY
    assert s.conditions == ()
    assert (s.cards_in_hopper, s.ribbon_panels_left) == (2, 9 * 6)
    assert (s.cards_inserted, s.panels_printed) == (5001, 30006)
    assert s.detail["output_tray"] == "1"
    assert s.detail["reject_bin"] == "0"
    assert s.detail["serial"] == "E9"
    assert p.capabilities().serial == "E9"


def test_feed_on_empty_hopper_moves_nothing() -> None:
    """feed with an empty hopper raises FeederEmpty (no card moved) and changes no counter."""
    p = make("sim://?cards=0")
    before = snapshot(p)
    with pytest.raises(FeederEmpty) as info:
        p.feed()
    assert info.value.card_may_have_moved is False
    assert snapshot(p) == before
    assert "media-empty" in p.status().conditions
    p.load_cards(1)
    p.feed()
    assert p.position is CardPosition.PRINT


def test_feed_with_a_card_in_the_path_is_a_sequence_error() -> None:
    """A second feed before eject/reject raises CardSequenceError and moves nothing."""
    p = make()
    p.feed()
    before = snapshot(p)
    with pytest.raises(CardSequenceError, match="already in the card path") as info:
        p.feed()
    assert info.value.retryable is False and info.value.card_may_have_moved is False
    assert snapshot(p) == before


def _after(*steps: str) -> Callable[[SimPrinter], None]:
    def run(p: SimPrinter) -> None:
        for step in steps:
            if step == "feed":
                p.feed()
            elif step == "encode":
                p.move_to_encoder(CL)
            elif step == "print":
                p.print_card(blank_card_image())

    return run


@pytest.mark.parametrize(
    ("url", "setup", "call", "message"),
    [
        (
            "sim://",
            _after(),
            lambda p: p.print_card(blank_card_image()),
            "no card in the card path",
        ),
        ("sim://", _after(), lambda p: p.eject(), "no card in the card path"),
        ("sim://", _after(), lambda p: p.reject(), "no card in the card path"),
        ("sim://", _after(), lambda p: p.move_to_encoder(CL), "no card in the card path"),
        ("sim://", _after("feed"), lambda p: p.eject(), "not printed; reject it instead"),
        ("sim://", _after("feed", "encode"), lambda p: p.eject(), "not printed"),
        ("sim://", _after("feed", "encode"), lambda p: p.move_to_encoder(CL), "encodes before"),
        ("sim://", _after("feed", "print"), lambda p: p.move_to_encoder(CL), "encodes before"),
        (
            "sim://",
            _after("feed", "print"),
            lambda p: p.print_card(blank_card_image()),
            "already printed",
        ),
        (
            "sim://",
            _after("feed"),
            lambda p: p.move_to_encoder(EncoderStation.CONTACT),
            "no contact station",
        ),
        ("sim://?station=none", _after("feed"), lambda p: p.move_to_encoder(CL), "no encoder"),
        ("sim://?encode=after", _after("feed"), lambda p: p.move_to_encoder(CL), "encodes after"),
    ],
)
def test_sequence_violations_are_refused(
    url: str,
    setup: Callable[[SimPrinter], None],
    call: Callable[[SimPrinter], None],
    message: str,
) -> None:
    """Calls out of the card-life order raise CardSequenceError and leave the state alone."""
    p = make(url)
    setup(p)
    before = snapshot(p)
    with pytest.raises(CardSequenceError, match=message):
        call(p)
    assert snapshot(p) == before


def test_encode_after_printers_encode_printed_cards() -> None:
    """With encode=after the card is printed, then parked at the encoder, then ejected."""
    p = make("sim://?encode=after")
    assert p.capabilities().encode_before_print is False
    p.feed()
    p.print_card(blank_card_image())
    p.move_to_encoder(CL)
    p.eject()
    assert p.output_tray == 1


def test_reject_from_any_stage_goes_to_reject_bin() -> None:
    """reject right after feed sends the blank to the reject bin."""
    p = make("sim://?cards=2")
    p.feed()
    p.reject()
    assert (p.hopper, p.reject_bin, p.cards_inserted, p.position) == (1, 1, 1, "none")


def test_jam_on_print_ends_in_reject_bin() -> None:
    """print:1:jam raises CardJam and leaves the card in the reject bin, path clear."""
    p = make("sim://?cards=5&fault=print:1:jam")
    p.feed()
    with pytest.raises(CardJam) as info:
        p.print_card(blank_card_image())
    assert info.value.card_may_have_moved is True
    assert (p.reject_bin, p.position, p.ribbon_left, p.panels_printed) == (1, "none", 200, 0)
    card_life(p)  # no further action needed before the next card
    assert (p.output_tray, p.cards_inserted, p.hopper) == (1, 2, 3)


def test_jam_on_feed_takes_a_blank() -> None:
    """feed:1:jam takes a blank from the hopper, counts it, and puts it in the reject bin."""
    p = make("sim://?cards=5&fault=feed:1:jam")
    with pytest.raises(CardJam):
        p.feed()
    assert (p.hopper, p.cards_inserted, p.reject_bin, p.position) == (4, 1, 1, "none")


def test_jam_on_eject_spoils_the_printed_card() -> None:
    """eject:1:jam sends the printed card to the reject bin, not the output tray."""
    p = make("sim://?fault=eject:1:jam")
    p.feed()
    p.print_card(blank_card_image())
    with pytest.raises(CardJam):
        p.eject()
    assert (p.output_tray, p.reject_bin, p.position) == (0, 1, "none")


def test_media_reprint_consumes_two_blanks_and_succeeds() -> None:
    """print:1:media-reprint succeeds, but a second blank was used and one went to the bin."""
    p = make("sim://?cards=10&ribbon=10&fault=print:1:media-reprint")
    card_life(p)
    assert snapshot(p) == {
        "hopper": 8,
        "output": 1,
        "reject": 1,
        "ribbon": 8,
        "inserted": 2,
        "panels": 12,
        "position": CardPosition.NONE,
    }
    assert p.printed_labels == {"job-1": 1}


def test_media_reprint_without_a_blank_fails_as_media_error() -> None:
    """A reprint with an empty hopper raises MediaError with the first card in the bin."""
    p = make("sim://?cards=1&fault=print:1:media-reprint")
    p.feed()
    with pytest.raises(MediaError, match="no blank left"):
        p.print_card(blank_card_image())
    assert (p.reject_bin, p.cards_inserted, p.position) == (1, 1, "none")


def test_media_error_spoils_the_card_and_uses_ribbon() -> None:
    """print:1:media raises MediaError; the card and its ribbon set are used up."""
    p = make("sim://?ribbon=5&fault=print:1:media")
    p.feed()
    with pytest.raises(MediaError):
        p.print_card(blank_card_image())
    assert (p.reject_bin, p.ribbon_left, p.panels_printed, p.position) == (1, 4, 6, "none")


def test_ribbon_runs_out() -> None:
    """With the ribbon at 0, print raises RibbonOut, the card is rejected, status says so."""
    p = make("sim://?ribbon=1")
    card_life(p)
    p.feed()
    with pytest.raises(RibbonOut) as info:
        p.print_card(blank_card_image())
    assert info.value.card_may_have_moved is True
    assert (p.reject_bin, p.position) == (1, "none")
    status = p.status()
    assert status.state is PrinterState.ERROR
    assert "ribbon-empty" in status.conditions
    assert status.ribbon_panels_left == 0
    p.replace_ribbon(5)
    card_life(p)
    assert p.output_tray == 2


def test_ribbon_fault_empties_the_ribbon() -> None:
    """print:1:ribbon raises RibbonOut and leaves the ribbon at 0 until replaced."""
    p = make("sim://?fault=print:1:ribbon")
    p.feed()
    with pytest.raises(RibbonOut):
        p.print_card(blank_card_image())
    assert (p.ribbon_left, p.reject_bin) == (0, 1)


def test_cover_fault_leaves_the_card_and_retry_succeeds() -> None:
    """print:1:cover raises CoverOpen (retryable, no card moved); the retry prints the card."""
    p = make("sim://?fault=print:1:cover")
    p.feed()
    with pytest.raises(CoverOpen) as info:
        p.print_card(blank_card_image())
    assert info.value.retryable and not info.value.card_may_have_moved
    assert (p.position, p.reject_bin, p.ribbon_left) == ("print", 0, 200)
    p.print_card(blank_card_image())
    p.eject()
    assert p.output_tray == 1


def test_open_cover_blocks_moving_steps() -> None:
    """While the cover is open, feed raises CoverOpen and status shows the condition."""
    p = make()
    p.set_cover(True)
    with pytest.raises(CoverOpen):
        p.feed()
    status = p.status()
    assert status.state is PrinterState.ERROR and "cover-open" in status.conditions
    assert p.cards_inserted == 0
    p.set_cover(False)
    p.feed()
    assert p.cards_inserted == 1


def test_timeout_on_feed_means_the_card_moved() -> None:
    """feed:1:timeout: the blank was fed but the reply lost, so the error says it may have moved."""
    p = make("sim://?fault=feed:1:timeout")
    with pytest.raises(DeviceTimeout) as info:
        p.feed()
    assert info.value.card_may_have_moved is True and info.value.retryable is True
    assert (p.cards_inserted, p.position) == (1, "print")


def test_offline_open_then_recovers() -> None:
    """open:1:offline raises ConnectionLost once; the next open works."""
    p = SimPrinter("sim://?fault=open:1:offline")
    with pytest.raises(ConnectionLost):
        p.open()
    p.open()
    assert p.status().state is PrinterState.READY


def test_status_timeout_fault() -> None:
    """status:2+:timeout lets the first status read through and hangs every later one."""
    p = make("sim://?fault=status:2+:timeout")
    p.status()
    for _ in range(3):
        with pytest.raises(DeviceTimeout):
            p.status()


def test_use_before_open_is_refused() -> None:
    """Calling feed on an unopened (or closed) printer raises DeviceNotOpen."""
    p = SimPrinter("sim://")
    with pytest.raises(DeviceNotOpen, match="call open"):
        p.feed()
    p.open()
    p.close()
    with pytest.raises(DeviceNotOpen):
        p.status()


def _image(**kw: Image.Image | None) -> CardImage:
    panels = {
        "colour": Image.new("RGB", PANEL_SIZE, "white"),
        "black": Image.new("1", PANEL_SIZE, 1),
        "overlay": None,
    }
    panels.update(kw)
    return CardImage(front=SidePanels(**panels))


@pytest.mark.parametrize(
    ("url", "image", "message"),
    [
        ("sim://", _image(colour=Image.new("RGB", (1011, 638))), "1011×638 px"),
        ("sim://", _image(black=Image.new("1", (648, 1016))), "648×1016 px"),
        ("sim://", _image(colour=Image.new("RGBA", PANEL_SIZE)), "mode 'RGBA', needs 'RGB'"),
        ("sim://", _image(black=Image.new("L", PANEL_SIZE)), "black panel has mode 'L'"),
        ("sim://", _image(overlay=Image.new("1", (10, 10))), "front overlay panel is 10×10"),
        ("sim://", _image(colour=None, black=None), "neither a colour nor a black panel"),
        ("sim://?duplex=false", blank_card_image(back=True), "simplex"),
        ("sim://?colour=false", blank_card_image(back=False), "monochrome"),
    ],
)
def test_misfit_images_are_rejected(url: str, image: CardImage, message: str) -> None:
    """print_card refuses images that do not fit PANEL_SIZE or the capabilities; nothing prints."""
    p = make(url)
    p.feed()
    before = snapshot(p)
    with pytest.raises(ImageRejected, match=message) as info:
        p.print_card(image)
    assert info.value.card_may_have_moved is False
    assert snapshot(p) == before


def test_time_per_card_uses_the_injected_sleep() -> None:
    """card_ms=1000&timescale=10 sleeps 25/50/25 ms for feed/print/eject, never for real."""
    t = FakeTime()
    p = make("sim://?card_ms=1000&timescale=10", t)
    p.feed()
    p.move_to_encoder(CL)
    p.print_card(blank_card_image())
    assert p.status().detail["card_in_path_s"] == "0.050"
    p.eject()
    assert t.sleeps == pytest.approx([0.025, 0.05, 0.025])
    assert t.now == pytest.approx(100.1)


def test_no_sleep_by_default() -> None:
    """With the default card_ms=0 the simulator never calls sleep."""
    t = FakeTime()
    card_life(make("sim://", t))
    assert t.sleeps == []


def _random_run(url: str, cards: int = 60) -> tuple[dict[str, object], list[str]]:
    p = make(url)
    for n in range(cards):
        try:
            if p.position is CardPosition.NONE:
                p.feed()
            p.move_to_encoder(CL)
            p.print_card(blank_card_image(label=f"job-{n}"))
            p.eject()
        except (CardJam, MediaError, CoverOpen):
            if p.position is not CardPosition.NONE:
                p.reject()
    return snapshot(p), [str(f) for f in p.plan.fired]


def test_random_faults_are_deterministic_for_a_seed() -> None:
    """fault_rate with a seed replays the same faults and counters; another seed differs."""
    first = _random_run("sim://?cards=200&fault_rate=0.2&seed=7")
    assert first == _random_run("sim://?cards=200&fault_rate=0.2&seed=7")
    assert first != _random_run("sim://?cards=200&fault_rate=0.2&seed=8")
    state, fired = first
    assert fired
    # Every blank taken is either in the output tray, in the reject bin, or still in the path.
    in_path = 0 if state["position"] == CardPosition.NONE else 1
    assert state["inserted"] == state["output"] + state["reject"] + in_path  # type: ignore[operator]
    assert state["hopper"] == 200 - state["inserted"]  # type: ignore[operator]


def test_unknown_option_is_rejected() -> None:
    """A misspelt option fails construction with the list of known options."""
    with pytest.raises(DriverConfigError, match=r"unknown option 'cardz' \(known: cards, ribbon"):
        SimPrinter("sim://?cardz=5")


@pytest.mark.parametrize(
    "url",
    ["sim://?cards=-1", "sim://?timescale=0", "sim://?station=usb", "sim://?encode=maybe"],
)
def test_bad_option_values_are_rejected(url: str) -> None:
    """Out-of-range or unknown option values fail construction."""
    with pytest.raises(DriverConfigError, match=url.replace("?", r"\?")):
        SimPrinter(url)
