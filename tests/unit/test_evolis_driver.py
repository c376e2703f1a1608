"""EvolisPrinter over an in-memory transport wired to the simulator: no I/O, no waiting."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops

from drivers.conformance import blank_card_image
from drivers.evolis.driver import EvolisPrinter, ProtocolError
from drivers.evolis.framing import CommandRejected, ReplyKind
from drivers.evolis.simulator import EvolisSimulator
from drivers.sim import CardSequenceError, ImageRejected
from printctl.hardware import (
    CardImage,
    CardJam,
    CardPosition,
    CoverOpen,
    DeviceTimeout,
    DriverConfigError,
    EncoderStation,
    FeederEmpty,
    RibbonOut,
    SidePanels,
)
from printctl.render.testcard import render_test_card


class FakeClock:
    """Seconds that only move when a read waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class LoopTransport:
    """Bytes straight into the simulator; a read with nothing pending 'waits' on the clock."""

    def __init__(self, sim: EvolisSimulator, clock: FakeClock) -> None:
        self.sim, self.clock = sim, clock
        self.inbox = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.inbox += self.sim.receive(data)

    def read(self, timeout: float) -> bytes:
        if self.inbox:
            data = bytes(self.inbox)
            self.inbox.clear()
            return data
        self.clock.now += timeout
        return b""

    def close(self) -> None:
        self.closed = True


def make(
    options: str = "", url: str = "evolis+tcp://printer:9100?timeout=2"
) -> tuple[EvolisPrinter, EvolisSimulator, FakeClock]:
    sim = EvolisSimulator(options)
    clock = FakeClock()
    printer = EvolisPrinter(url, transport_factory=lambda: LoopTransport(sim, clock), clock=clock)
    return printer, sim, clock


def commands(sim: EvolisSimulator) -> list[str]:
    return [line.split(";<")[0] for line in sim.log]


def test_url_options_are_checked() -> None:
    """Unknown options, bad values and missing hosts or paths are DriverConfigErrors."""
    for url in (
        "evolis+tcp://h?cardz=1",
        "evolis+tcp://h?timeout=0",
        "evolis+tcp://h?ribbon=rainbow",
        "evolis+tcp://?timeout=1",
        "evolis+serial://?baud=9600",
        "evolis+serial:///dev/ttyS0?baud=300",
        "evolis+usb://?vid=xyz",
        "evolis+usb://host/path",
        "evolis+file://",
        "sim://",
    ):
        with pytest.raises(DriverConfigError):
            EvolisPrinter(url)
    EvolisPrinter("evolis+usb://?vid=0x0f49&pid=0011&serial=E1&timeout=3")


def test_open_switches_on_ack_mode_and_reads_identity() -> None:
    """open sends Pem;4, reads Rtp/Rsn/Rfv and sets the ribbon; capabilities show them."""
    printer, sim, _ = make("model=Primacy&serial=E42")
    printer.open()
    printer.open()  # idempotent
    assert commands(sim) == ["Pem;4", "Rtp", "Rsn", "Rfv", "Pr;ymckok"]
    caps = printer.capabilities()
    assert (caps.model, caps.serial, caps.encode_before_print) == ("Evolis Primacy", "E42", True)
    assert caps.encoder_station is EncoderStation.CONTACTLESS


def test_the_card_life_sends_the_documented_sequence() -> None:
    """feed, encoder, print and eject send Si, Sic, Sr + front panels, Sv + back, Se."""
    printer, sim, _ = make()
    printer.open()
    printer.feed()
    printer.move_to_encoder(EncoderStation.CONTACTLESS)
    assert printer.status().card_position is CardPosition.ENCODER
    printer.print_card(blank_card_image())
    printer.eject()
    assert [c for c in commands(sim)[5:] if not c.startswith("R")] == [
        "Si",
        "Sic",
        "Sr",
        "Db;y;64",
        "Db;m;64",
        "Db;c;64",
        "Dbc;k;2;1016",
        "Dbc;o;2;1016",
        "Sv",
        "Dbc;k;2;1016",
        "Se",
    ]
    assert printer.status().card_position is CardPosition.NONE


def test_status_reads_counters_and_ribbon() -> None:
    """status reports Rco;c, Rco;p, ribbon cards × panels per card, and Rcr's verdict."""
    printer, _, _ = make("counter=40&panels=200&ribbon=10")
    printer.open()
    status = printer.status()
    assert (status.cards_inserted, status.panels_printed) == (40, 200)
    assert status.ribbon_panels_left == 10 * 6  # ymckok duplex: 5 + 1 panels per card
    assert status.cards_in_hopper is None and status.conditions == ()
    empty, _, _ = make("ribbon=0")
    empty.open()
    assert empty.status().conditions == ("ribbon-empty",)


def test_round_trip_of_the_test_card_is_pixel_exact_on_k() -> None:
    """The stream sent for render_test_card(), decoded by the simulator, gives the same panels."""
    card = render_test_card()
    printer, sim, _ = make()
    printer.open()
    printer.feed()
    printer.print_card(card)
    printer.eject()
    assert card.back is not None and card.front.black is not None and card.back.black is not None
    got = sim.last_card
    assert got.black("front").tobytes() == card.front.black.convert("1").tobytes()
    assert got.black("back").tobytes() == card.back.black.convert("1").tobytes()
    assert card.front.colour is not None
    diff = ImageChops.difference(got.colour("front"), card.front.colour.convert("RGB"))
    assert max(diff.tobytes()) <= 2  # 64 levels: ±255/63/2


def test_cover_open_and_empty_hopper_move_no_card() -> None:
    """NACK C and NACK F become CoverOpen / FeederEmpty saying no card moved."""
    printer, _, _ = make("cover=open")
    printer.open()
    with pytest.raises(CoverOpen) as cover:
        printer.feed()
    assert cover.value.card_may_have_moved is False and cover.value.retryable
    printer, _, _ = make("cards=0")
    printer.open()
    with pytest.raises(FeederEmpty) as empty:
        printer.feed()
    assert empty.value.card_may_have_moved is False
    assert printer.status().card_position is CardPosition.NONE


def test_ribbon_out_and_jam_spoil_the_card() -> None:
    """NACK R while printing and NACK T on feed say a card moved and clear the card path."""
    printer, sim, _ = make("ribbon=0")
    printer.open()
    printer.feed()
    with pytest.raises(RibbonOut) as ribbon:
        printer.print_card(blank_card_image())
    assert ribbon.value.card_may_have_moved is True
    assert printer.status().card_position is CardPosition.NONE and sim.reject_bin == 1
    printer, sim, _ = make("fault=feed:1:jam")
    printer.open()
    with pytest.raises(CardJam) as jam:
        printer.feed()
    assert jam.value.card_may_have_moved is True
    printer.feed()  # the path is clear again


def test_media_error_reprint_shows_in_the_counters() -> None:
    """The printer's own reprint after a media error shows as cards_inserted +2 for one job."""
    printer, sim, _ = make("fault=print:1:media-reprint")
    printer.open()
    before = printer.status()
    printer.feed()
    printer.print_card(blank_card_image())
    printer.eject()
    after = printer.status()
    assert after.cards_inserted is not None and before.cards_inserted is not None
    assert after.cards_inserted - before.cards_inserted == 2
    assert (sim.output_tray, sim.reject_bin) == (1, 1)


def test_a_printer_that_stops_answering_mid_job_times_out_within_the_bound() -> None:
    """No reply during print_card → DeviceTimeout after `timeout` s, card_may_have_moved set."""
    printer, _, clock = make("silent_after=9", url="evolis+tcp://p?timeout=0.5")
    printer.open()  # 5 commands
    printer.feed()  # 6
    start = clock.now
    with pytest.raises(DeviceTimeout) as timeout:
        printer.print_card(blank_card_image())
    assert timeout.value.card_may_have_moved is True
    assert clock.now - start <= 0.5 + 1e-9
    assert "print_card" in str(timeout.value)


def test_a_lost_reply_is_not_taken_for_the_next_one() -> None:
    """After a timed-out feed the driver still allows reject, and the late state is consistent."""
    printer, sim, _ = make("fault=feed:1:timeout", url="evolis+tcp://p?timeout=0.2")
    printer.open()
    with pytest.raises(DeviceTimeout) as lost:
        printer.feed()
    assert lost.value.card_may_have_moved is True
    with pytest.raises(CardSequenceError):
        printer.feed()
    printer.reject()
    assert sim.reject_bin == 1 and printer.status().cards_inserted == 1


def test_text_replies_without_nul_end_on_silence() -> None:
    """A printer that does not NUL-terminate still gives its strings (ended by a short pause)."""
    printer, _, _ = make("nul=false&model=Zenius&serial=Z9")
    printer.open()
    assert printer.capabilities().serial == "Z9"
    assert printer.status().cards_inserted == 0


def test_garbled_replies_are_a_protocol_error() -> None:
    """A reply that makes no sense for the command raises ProtocolError (not retryable)."""
    printer, _, _ = make("garble=true")
    with pytest.raises(ProtocolError) as error:
        printer.open()
    assert error.value.retryable is False


def test_card_life_order_is_enforced() -> None:
    """Ejecting a blank card, printing twice or feeding over a card are sequence errors."""
    printer, _, _ = make()
    printer.open()
    with pytest.raises(CardSequenceError):
        printer.eject()
    printer.feed()
    with pytest.raises(CardSequenceError):
        printer.eject()
    printer.print_card(blank_card_image())
    with pytest.raises(CardSequenceError):
        printer.print_card(blank_card_image())
    with pytest.raises(CardSequenceError):
        printer.move_to_encoder(EncoderStation.CONTACT)
    printer.reject()


def test_images_that_do_not_fit_are_rejected_before_anything_is_sent() -> None:
    """A wrong-size layer, or a back on a simplex printer, raises ImageRejected; no card moves."""
    printer, sim, _ = make(url="evolis+tcp://p?duplex=false")
    printer.open()
    printer.feed()
    sent = len(sim.log)
    with pytest.raises(ImageRejected):
        printer.print_card(blank_card_image(back=True))
    small = CardImage(front=SidePanels(colour=None, black=Image.new("1", (10, 10))))
    with pytest.raises(ImageRejected):
        printer.print_card(small)
    assert len(sim.log) == sent


def test_send_command_returns_replies_and_follows_psc() -> None:
    """The technician console gets ACK, NACK (not raised) and text; Psc is followed."""
    printer, _, _ = make("counter=7")
    printer.open()
    assert printer.send_command("Rco;c").text == "7"
    nack = printer.send_command("Zz")
    assert nack.kind is ReplyKind.NACK and str(nack) == "NACK 1 (command error)"
    assert str(printer.send_command("Psc;2;44;3")) == "ACK"
    assert printer.send_command("Rsc").text == "2;44;3"
    printer.feed()  # framed with the new delimiters
    with pytest.raises(DriverConfigError):
        printer.send_command(";")


def test_unsupported_ribbon_is_a_command_error() -> None:
    """A NACK 2 at open is CommandRejected, and the failed open leaves the printer closed."""
    printer, _, _ = make(url="evolis+tcp://p?ribbon=k")
    printer.open()
    sim = EvolisSimulator()
    clock = FakeClock()
    bad = EvolisPrinter(
        "evolis+tcp://p", transport_factory=lambda: LoopTransport(sim, clock), clock=clock
    )
    bad.ribbon = "rainbow"
    with pytest.raises(CommandRejected):
        bad.open()
    with pytest.raises(Exception, match="not open"):
        bad.status()


def test_close_is_idempotent_and_forgets_the_card() -> None:
    """close twice is fine; reopening starts with an empty card path."""
    printer, _, _ = make()
    printer.open()
    printer.feed()
    printer.close()
    printer.close()
    printer.open()
    assert printer.status().card_position is CardPosition.NONE
