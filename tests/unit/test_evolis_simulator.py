"""The Evolis device simulator, driven with raw bytes (no transport)."""

from __future__ import annotations

import pytest

from drivers.evolis.framing import build_command, build_compressed_download, encode_nack
from drivers.evolis.simulator import EvolisSimulator
from printctl.hardware import DriverConfigError

ACK = b"\x06"
WHITE_K = build_compressed_download("k", 2, bytes(1016))


def cmd(name: str, *params: str | int) -> bytes:
    return build_command(name, *params)


def acked(options: str = "") -> EvolisSimulator:
    sim = EvolisSimulator(options)
    assert sim.receive(cmd("Pem", 4)) == ACK
    return sim


def test_default_mode_answers_only_reads_until_pem_4() -> None:
    """Before Pem;4 settings and moves get no reply; R commands always answer NUL-terminated."""
    sim = EvolisSimulator("serial=E77")
    assert sim.receive(cmd("Pr", "ymcko")) == b""
    assert sim.receive(cmd("Rsn")) == b"E77\x00"
    assert sim.receive(cmd("Pem", 4)) == ACK
    assert sim.receive(cmd("Pr", "ymcko")) == ACK
    assert sim.receive(cmd("Rem")) == b"4;0\x00"


def test_a_card_goes_through_and_panels_are_counted_as_printed() -> None:
    """Si takes a blank; each download prints the one before; Se prints the last and ejects."""
    sim = acked("cards=3")
    replies = sim.receive(cmd("Si") + cmd("Sr") + WHITE_K + WHITE_K.replace(b";k;", b";o;"))
    assert replies == ACK * 4
    assert (sim.cards_inserted, sim.panels_printed, sim.hopper) == (1, 1, 2)
    assert sim.receive(cmd("Se")) == ACK
    assert (sim.panels_printed, sim.output_tray, sim.position) == (2, 1, "none")
    assert sim.last_card.outcome == "output"
    assert sim.last_card.black().getextrema() == (255, 255)  # all white


def test_win_style_sequence_inserts_the_card_on_the_first_download() -> None:
    """[WIN]'s Ss, Sr, Dbc, Se;1 (no Si) prints one card from the feeder."""
    sim = acked()
    stream = cmd("Ss") + cmd("Sr") + WHITE_K + b"\x00" * 32 + cmd("Se", 1) + b"\x00" * 32
    assert sim.receive(stream) == ACK * 4
    assert (sim.cards_inserted, sim.output_tray) == (1, 1)


def test_printer_conditions_answer_with_their_nack_codes() -> None:
    """Open cover → C, empty hopper → F, no ribbon → R (card rejected), jam → T (card rejected)."""
    assert acked("cover=open").receive(cmd("Si")) == encode_nack("C")
    assert acked("cards=0").receive(cmd("Si")) == encode_nack("F")
    no_ribbon = acked("ribbon=0")
    assert no_ribbon.receive(cmd("Si") + cmd("Sr")) == ACK + encode_nack("R")
    assert (no_ribbon.reject_bin, no_ribbon.position) == (1, "none")
    jam = acked("fault=feed:1:jam")
    assert jam.receive(cmd("Si")) == encode_nack("T")
    assert (jam.cards_inserted, jam.reject_bin, jam.position) == (1, 1, "none")


def test_media_error_reprints_on_a_second_blank() -> None:
    """A media error is recovered by the printer itself: Se is ACKed, Rco;c goes up by 2."""
    sim = acked("cards=5&fault=print:1:media-reprint")
    assert sim.receive(cmd("Si") + cmd("Sr") + WHITE_K + cmd("Se")) == ACK * 4
    assert (sim.cards_inserted, sim.hopper, sim.reject_bin, sim.output_tray) == (2, 3, 1, 1)
    assert sim.panels_printed == 2
    assert sim.receive(cmd("Rco", "c")) == b"2\x00"
    assert sim.last_card.reprinted


def test_timeout_fault_acts_but_loses_the_reply() -> None:
    """``timeout`` carries the command out without answering (the outcome-unknown case)."""
    sim = acked("fault=feed:1:timeout")
    assert sim.receive(cmd("Si")) == b""
    assert (sim.cards_inserted, sim.position) == (1, "print")


def test_bad_commands_are_nacked() -> None:
    """Unknown commands, junk, out-of-order moves and bad parameters get NACK 1 or 2."""
    sim = acked()
    assert sim.receive(cmd("Zz")) == encode_nack("1")
    assert sim.receive(b"\x1b12;x\r") == encode_nack("1")
    assert sim.receive(cmd("Se") + cmd("Ser")) == ACK + encode_nack("1")
    assert sim.receive(cmd("Pr", "rainbow")) == encode_nack("2")
    assert sim.receive(cmd("Rxx")) == encode_nack("1")


def test_psc_is_followed() -> None:
    """After Psc the simulator frames commands with the new delimiters; Rsc reports them."""
    sim = acked()
    assert sim.receive(cmd("Psc", 2, 44, 3)) == ACK
    assert sim.receive(b"\x02Rsc\x03") == b"2;44;3\x00"


def test_misbehaving_options() -> None:
    """``silent_after`` stops answering after N commands; ``garble`` answers nonsense."""
    silent = EvolisSimulator("silent_after=2&ackmode=true")
    assert silent.receive(cmd("Rtp") + cmd("Rsn")) != b""
    assert silent.receive(cmd("Rtp")) == b""
    assert acked().receive(cmd("Rtp")).endswith(b"\x00")
    garbled = EvolisSimulator("garble=true")
    assert garbled.receive(cmd("Pem", 4)) == b"?\x00"


def test_text_replies_can_go_without_nul() -> None:
    """With nul=false replies end only by silence, as the spec leaves possible."""
    assert EvolisSimulator("nul=false&model=Zenius").receive(cmd("Rtp")) == b"Zenius"


def test_unknown_simulator_options_are_rejected() -> None:
    """A misspelt option fails loudly, like every driver URL."""
    with pytest.raises(DriverConfigError, match="cardz"):
        EvolisSimulator("cardz=5")
    with pytest.raises(DriverConfigError):
        EvolisSimulator("fault=status:1:jam")
