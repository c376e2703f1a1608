"""Evolis framing: commands, downloads, the stream parser, replies and NACK mapping."""

from __future__ import annotations

import pytest

from drivers.evolis.framing import (
    ACK,
    NACK,
    Command,
    CommandRejected,
    Delimiters,
    FramingError,
    ReplyKind,
    StreamParser,
    build_command,
    build_compressed_download,
    build_download,
    decode_reply,
    encode_nack,
    encode_text,
    error_for_nack,
    panel_bytes,
    parse_command_text,
    parse_counter,
    parse_stream,
    reply_length,
)
from printctl.hardware import CardJam, CoverOpen, FeederEmpty, MediaError, PrinterError, RibbonOut

#: A 2-level panel full of the bytes a naive parser would split on.
NASTY = (b"\x0d\x1b\x3b\x00" * (panel_bytes(2) // 4 + 1))[: panel_bytes(2)]


def test_build_command_frames_name_and_parameters() -> None:
    """A command is ESC, the name and parameters joined by ';', then CR."""
    assert build_command("Pem", 4) == b"\x1bPem;4\r"
    assert build_command("Se") == b"\x1bSe\r"
    assert build_command("Pc", "k", "=", 10) == b"\x1bPc;k;=;10\r"


def test_build_command_refuses_delimiters_and_binary_names() -> None:
    """A parameter holding ';' or CR, a bad name or a download name is a programming error."""
    with pytest.raises(FramingError):
        build_command("Pr", "k;o")
    with pytest.raises(FramingError):
        build_command("Pr", "k\r")
    with pytest.raises(FramingError):
        build_command("1x")
    with pytest.raises(FramingError):
        build_command("Db", "k", 2)


def test_panel_sizes_follow_the_formula_not_the_guides_table() -> None:
    """Panel byte counts are 648 × 1016 × bits / 8 (spec §3), not [E]'s wrong table."""
    assert [panel_bytes(levels) for levels in (2, 32, 64, 128)] == [
        82_296,
        411_480,
        493_776,
        576_072,
    ]


def test_db_needs_exactly_one_panel_of_data() -> None:
    """Db carries no length, so its data must be exactly one full panel."""
    data = bytes(panel_bytes(2))
    assert build_download("k", 2, data) == b"\x1bDb;k;2;" + data + b"\r"
    with pytest.raises(FramingError, match="82296"):
        build_download("k", 2, data[:-1])
    with pytest.raises(FramingError):
        build_download("x", 2, data)


def test_dbc_has_a_three_field_and_a_start_line_form() -> None:
    """Dbc is ``Dbc;k;2;n;data`` ([WIN]) or, with a start line, ``Dbc;k;2;line;n;data``."""
    assert build_compressed_download("k", 2, b"\x00\xff") == b"\x1bDbc;k;2;2;\x00\xff\r"
    assert build_compressed_download("k", 2, b"\x00", start_line=5) == b"\x1bDbc;k;2;5;1;\x00\r"


def test_three_field_dbc_refuses_a_payload_that_reads_as_four_fields() -> None:
    """A payload starting ``digits;`` would be misread as the start-line form, so it is refused."""
    with pytest.raises(FramingError, match="ambiguous"):
        build_compressed_download("k", 2, b"12;abc")


def test_parser_reads_binary_payloads_by_length_through_cr_and_esc() -> None:
    """A Db payload full of CR, ESC and ';' bytes arrives whole, and the next command follows."""
    stream = build_download("k", 2, NASTY) + build_command("Se")
    commands = parse_stream(stream)
    assert [c.name for c in commands] == ["Db", "Se"]
    assert commands[0].params == ("k", "2")
    assert commands[0].payload == NASTY


def test_parser_survives_any_chunking() -> None:
    """Feeding the stream in odd-sized chunks yields the same commands as in one piece."""
    stream = (
        build_command("Ss")
        + build_compressed_download("k", 2, b"\x05\r\x1b;\r\x00" + b"\x00" * 20)
        + b"\x00" * 16
        + build_download("o", 2, NASTY)
        + build_command("Se", 1)
    )
    whole = parse_stream(stream)
    parser = StreamParser()
    pieces: list[Command] = []
    for start in range(0, len(stream), 997):
        pieces += parser.feed(stream[start : start + 997])
    assert pieces == whole
    assert [c.name for c in whole] == ["Ss", "Dbc", "Db", "Se"]


def test_parser_ignores_nul_padding_between_commands() -> None:
    """[WIN] pads with NULs after the Dbc payload's CR and after Se;1: they are not commands."""
    payload = bytes([1, 0x80]) + b"\x00" * 1015
    stream = (
        build_command("Pr", "k")
        + build_command("Ss")
        + build_command("Sr")
        + build_compressed_download("k", 2, payload)
        + b"\x00" * 32
        + build_command("Se", 1)
        + b"\x00" * 32
    )
    commands = parse_stream(stream)
    assert [str(c) for c in commands] == ["Pr;k", "Ss", "Sr", "Dbc;k;2;1017;<1017 bytes>", "Se;1"]


def test_parser_accepts_commands_without_esc_after_a_cr() -> None:
    """Once a command ended with CR the next may leave out its ESC ([E] p.4)."""
    commands = parse_stream(b"\x1bSs\rSr\rSe\r")
    assert [c.name for c in commands] == ["Ss", "Sr", "Se"]


def test_parser_accepts_a_payload_without_its_closing_cr() -> None:
    """[E]'s Db example has no CR after the data: the next ESC starts the next command."""
    data = bytes(panel_bytes(2))
    stream = b"\x1bDb;k;2;" + data + b"\x1bSe\r"
    assert [c.name for c in parse_stream(stream)] == ["Db", "Se"]


def test_parser_reads_both_dbc_forms() -> None:
    """Three numeric fields give the byte count; four give the start line, then the count."""
    three, four = parse_stream(b"\x1bDbc;k;2;3;\x00\x00\x00\r" + b"\x1bDbc;o;2;7;2;\xff\xff\r")
    assert (three.params, three.payload) == (("k", "2", "3"), b"\x00\x00\x00")
    assert (four.params, four.payload) == (("o", "2", "7", "2"), b"\xff\xff")


def test_parser_follows_psc_and_a_bare_psc_restores_the_defaults() -> None:
    """After ``Psc;2;44;3`` commands are STX name , params ETX, until a bare Psc."""
    stream = b"\x1bPsc;2;44;3\r" + b"\x02Pc,k,=,10\x03" + b"\x02Psc\x03" + b"\x1bSe\r"
    parser = StreamParser()
    commands = parser.feed(stream)
    assert [str(c) for c in commands] == ["Psc;2;44;3", "Pc;k;=;10", "Psc", "Se"]
    assert parser.delimiters == Delimiters()


def test_parser_frames_payloads_with_changed_delimiters() -> None:
    """A download after Psc uses the new separator and end byte; CR inside stays data."""
    new = Delimiters(2, 44, 3)
    stream = build_command("Psc", 2, 44, 3) + build_compressed_download(
        "k", 2, b"\x01\r", delimiters=new
    )
    commands = parse_stream(stream)
    assert commands[1].params == ("k", "2", "2") and commands[1].payload == b"\x01\r"


def test_parser_reports_bytes_without_esc_and_resynchronises() -> None:
    """Junk before the first ESC becomes one error command; the parser then carries on."""
    commands = parse_stream(b"hello\x1bSe\r")
    assert commands[0].error is not None and commands[0].name == ""
    assert commands[1].name == "Se"


def test_parser_reports_a_bad_download_header() -> None:
    """A Db with an impossible level count is an error command, not a hang."""
    commands = StreamParser().feed(b"\x1bDb;k;3;xyz\x1bSe\r")
    assert commands[0].error is not None
    assert commands[-1].name == "Se"


def test_reply_framing_and_decoding() -> None:
    """ACK is one byte, NACK two, a text reply runs to its NUL; partial replies wait."""
    assert reply_length(bytes([ACK])) == 1
    assert reply_length(bytes([NACK])) is None
    assert reply_length(encode_nack("C")) == 2
    assert reply_length(b"Primacy") is None
    assert reply_length(encode_text("Primacy") + b"junk") == 8
    assert decode_reply(bytes([ACK])).kind is ReplyKind.ACK
    nack = decode_reply(encode_nack("F"))
    assert (nack.kind, nack.code, nack.ok) == (ReplyKind.NACK, "F", False)
    assert str(nack) == "NACK F (feeder: no card)"
    assert decode_reply(b"OK\r\n\x00").text == "OK"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("C", CoverOpen),
        ("F", FeederEmpty),
        ("R", RibbonOut),
        ("T", CardJam),
        ("W", MediaError),
        ("1", CommandRejected),
        ("2", CommandRejected),
        ("?", PrinterError),
    ],
)
def test_nack_codes_map_onto_the_error_tree(code: str, cls: type[Exception]) -> None:
    """Each NACK code becomes the documented printctl error (T is a jam, not a link timeout)."""
    error = error_for_nack(code, "evolis+tcp://x: feed")
    assert type(error) is cls
    assert f"NACK {code}" in str(error)


def test_nack_errors_carry_retry_and_movement_facts() -> None:
    """Command errors are never retryable; the caller decides whether a card moved."""
    rejected = error_for_nack("2", "x")
    assert rejected.retryable is False and rejected.card_may_have_moved is False
    assert error_for_nack("C", "x").retryable is True
    assert error_for_nack("R", "x", card_may_have_moved=False).card_may_have_moved is False
    assert error_for_nack("T", "x").card_may_have_moved is True


def test_technician_text_and_counters_parse() -> None:
    """Console text splits into name and params; counters are the first number in a reply."""
    assert parse_command_text("\x1bRco;c\r") == ("Rco", ["c"])
    with pytest.raises(FramingError):
        parse_command_text(";;")
    assert parse_counter("1234") == 1234
    assert parse_counter("CARDS: 17") == 17
    assert parse_counter("") is None
