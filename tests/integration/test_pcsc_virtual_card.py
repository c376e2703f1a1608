"""The virtual contactless card (drivers.vicc) on its own: APDU answers, vpcd framing, transport.

None of these needs pcscd: the card is a pure function over bytes, and the transport is tested
against a stand-in vpcd (a listening socket in the test).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from drivers.vicc import (
    DEFAULT_UID,
    LEAVE,
    VirtualCard,
    VirtualCardError,
    contactless_atr,
    decode_frames,
    encode_frame,
    handle_message,
    start_virtual_card,
)

EMRTD = bytes.fromhex("A0000002471001")
SELECT_EMRTD = bytes.fromhex("00A4040C07") + EMRTD


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.fixture
def card() -> VirtualCard:
    """A powered virtual card with the default UID and applications."""
    c = VirtualCard()
    c.power_on()
    return c


# --------------------------------------------------------------------------- ATR and UID


def test_atr_is_the_pcsc_contactless_atr() -> None:
    """Without historical bytes the ATR is PC/SC part 3's 3B 80 80 01 01 (TCK = 01)."""
    assert contactless_atr() == h("3B80800101")


def test_atr_checksum_covers_historical_bytes() -> None:
    """The TCK makes the XOR of every byte after TS zero, historical bytes included."""
    atr = contactless_atr(b"PRINTCTL")
    assert atr[:4] == h("3B888001") and atr[4:12] == b"PRINTCTL"
    check = 0
    for byte in atr[1:]:
        check ^= byte
    assert check == 0


def test_get_data_returns_uid_and_9000(card: VirtualCard) -> None:
    """FF CA 00 00 00 answers the UID followed by 9000."""
    assert card.answer(h("FFCA000000")) == DEFAULT_UID + h("9000")


def test_get_data_with_short_le_answers_6c_with_uid_length(card: VirtualCard) -> None:
    """A GET DATA whose Le is shorter than the UID answers 6C + the UID's length."""
    assert card.answer(h("FFCA000002")) == h("6C07")


def test_get_data_for_ats_bytes_is_not_supported(card: VirtualCard) -> None:
    """GET DATA with P1 = 01 (historical bytes) answers 6A81."""
    assert card.answer(h("FFCA010000")) == h("6A81")


def test_uid_must_have_an_iso14443_length() -> None:
    """A UID of other than 4, 7 or 10 bytes is refused."""
    with pytest.raises(ValueError, match="4, 7 or 10"):
        VirtualCard(h("0102030405"))


# --------------------------------------------------------------------------- SELECT / binary


def test_select_known_aid_without_fci(card: VirtualCard) -> None:
    """SELECT by AID with P2 = 0C answers a bare 9000 and selects the application."""
    assert card.answer(SELECT_EMRTD) == h("9000")
    assert card.selected == EMRTD


def test_select_known_aid_returns_fci(card: VirtualCard) -> None:
    """SELECT by AID with P2 = 00 answers an FCI template holding the AID, then 9000."""
    assert card.answer(h("00A4040007") + EMRTD) == h("6F098407") + EMRTD + h("9000")


def test_select_unknown_aid_is_6a82(card: VirtualCard) -> None:
    """SELECT of an AID the card does not have answers 6A82 and selects nothing."""
    assert card.answer(h("00A4040009F0") + b"printctl") == h("6A82")
    assert card.selected is None


def test_select_by_file_id_is_not_emulated(card: VirtualCard) -> None:
    """SELECT with P1 other than 04 answers 6A86."""
    assert card.answer(h("00A4000C023F00")) == h("6A86")


def test_update_binary_needs_a_selected_application(card: VirtualCard) -> None:
    """UPDATE BINARY with nothing selected answers 6986."""
    assert card.answer(h("00D6000002CAFE")) == h("6986")


def test_update_then_read_binary_round_trips(card: VirtualCard) -> None:
    """Bytes written by UPDATE BINARY come back from READ BINARY at the same offset."""
    card.answer(SELECT_EMRTD)
    assert card.answer(h("00D6001004DEADBEEF")) == h("9000")
    assert card.answer(h("00B0001004")) == h("DEADBEEF9000")
    assert card.files[EMRTD][0x10:0x14] == h("DEADBEEF")


def test_update_binary_outside_the_file_is_6b00(card: VirtualCard) -> None:
    """Writing past the end of the 1024-byte file answers 6B00 and writes nothing."""
    card.answer(SELECT_EMRTD)
    assert card.answer(h("00D603FF02CAFE")) == h("6B00")
    assert card.files[EMRTD][-1] == 0


def test_update_binary_with_wrong_lc_is_6700(card: VirtualCard) -> None:
    """An UPDATE BINARY whose Lc disagrees with its data answers 6700."""
    card.answer(SELECT_EMRTD)
    assert card.answer(h("00D6000003CAFE")) == h("6700")


def test_read_binary_past_the_end_answers_6282(card: VirtualCard) -> None:
    """Reading more than is left returns what there is, then 6282 (end of file)."""
    card.answer(SELECT_EMRTD)
    assert card.answer(h("00B003FE04")) == h("0000") + h("6282")


def test_unknown_instruction_is_6d00(card: VirtualCard) -> None:
    """An instruction the card does not implement answers 6D00."""
    assert card.answer(h("0084000008")) == h("6D00")


def test_unknown_class_is_6e00(card: VirtualCard) -> None:
    """A class byte outside ISO and proprietary ranges answers 6E00."""
    assert card.answer(h("40A4040C07") + EMRTD) == h("6E00")


def test_power_cycle_forgets_selection_but_keeps_data(card: VirtualCard) -> None:
    """Power off drops the selected application; written bytes survive, like EEPROM."""
    card.answer(SELECT_EMRTD)
    card.answer(h("00D6000001AA"))
    card.power_off()
    card.power_on()
    assert card.selected is None
    assert card.answer(h("00B0000001")) == h("6986")
    card.answer(SELECT_EMRTD)
    assert card.answer(h("00B0000001")) == h("AA9000")


def test_chained_read_binary_goes_through_get_response() -> None:
    """With chain_responses, READ BINARY answers 61xx and GET RESPONSE hands out the data."""
    card = VirtualCard(chain_responses=True)
    card.answer(SELECT_EMRTD)
    card.answer(h("00D6000003010203"))
    assert card.answer(h("00B0000003")) == h("6103")
    assert card.answer(h("00C0000002")) == h("0102") + h("6101")
    assert card.answer(h("00C0000001")) == h("03") + h("9000")
    assert card.answer(h("00C0000001")) == h("6986")


# --------------------------------------------------------------------------- misbehaviour


def test_transmit_records_apdus_in_order(card: VirtualCard) -> None:
    """Every APDU the card is sent is recorded, in order."""
    card.transmit(h("FFCA000000"))
    card.transmit(SELECT_EMRTD)
    assert card.received == [h("FFCA000000"), SELECT_EMRTD]


def test_fault_replaces_the_answer_of_the_nth_apdu() -> None:
    """A fault at index N answers that APDU with the given status word and no data."""
    card = VirtualCard(faults={1: h("6A80")})
    assert card.transmit(h("FFCA000000")) == DEFAULT_UID + h("9000")
    assert card.transmit(SELECT_EMRTD) == h("6A80")
    assert card.transmit(SELECT_EMRTD) == h("9000")


def test_removal_at_the_nth_apdu_answers_nothing() -> None:
    """At a removal index the card records the APDU and answers None (it left the field)."""
    card = VirtualCard(removals={0})
    assert card.transmit(SELECT_EMRTD) is None
    assert card.received == [SELECT_EMRTD]


# --------------------------------------------------------------------------- vpcd protocol


def test_control_messages_switch_power_and_ask_for_the_atr() -> None:
    """One-byte messages: 01 powers on, 04 returns the ATR, 00 powers off, 02 resets."""
    card = VirtualCard()
    assert handle_message(card, b"\x01") is None and card.powered
    assert handle_message(card, b"\x04") == card.atr
    card.answer(SELECT_EMRTD)
    assert handle_message(card, b"\x02") is None and card.selected is None
    assert handle_message(card, b"\x00") is None and not card.powered


def test_longer_messages_are_apdus() -> None:
    """A message longer than one byte is answered as an APDU; a removal becomes LEAVE."""
    card = VirtualCard(removals={1})
    assert handle_message(card, h("FFCA000000")) == DEFAULT_UID + h("9000")
    assert handle_message(card, h("FFCA000000")) is LEAVE


def test_frames_round_trip_and_keep_the_incomplete_rest() -> None:
    """decode_frames splits length-prefixed messages and returns a partial one as the rest."""
    stream = encode_frame(b"\x04") + encode_frame(h("FFCA000000")) + h("0005FFCA")
    frames, rest = decode_frames(stream)
    assert frames == [b"\x04", h("FFCA000000")]
    assert rest == h("0005FFCA")
    assert encode_frame(b"\x01") == h("000101")


# --------------------------------------------------------------------------- transport


@pytest.fixture
def fake_vpcd() -> Iterator[socket.socket]:
    """A listening socket standing in for vpcd (the card connects to it)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    yield server
    server.close()


def _exchange(conn: socket.socket, message: bytes) -> bytes:
    conn.sendall(encode_frame(message))
    header = _read_exactly(conn, 2)
    return _read_exactly(conn, int.from_bytes(header, "big"))


def _read_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "the card closed the connection"
        data += chunk
    return data


def test_card_answers_over_the_vpcd_socket(fake_vpcd: socket.socket) -> None:
    """Connected to a vpcd, the card answers GET ATR and APDUs in length-prefixed frames."""
    port = fake_vpcd.getsockname()[1]
    with start_virtual_card("04A1B2C3", port=port) as handle:
        conn, _ = fake_vpcd.accept()
        conn.settimeout(5)
        with conn:
            conn.sendall(encode_frame(b"\x01"))  # power on: no answer expected
            assert _exchange(conn, b"\x04") == h("3B80800101")
            assert _exchange(conn, h("FFCA000000")) == h("04A1B2C39000")
        assert handle.received == (h("FFCA000000"),)


def test_card_leaves_by_closing_the_socket(fake_vpcd: socket.socket) -> None:
    """remove_on makes the card close its connection on that APDU instead of answering."""
    port = fake_vpcd.getsockname()[1]
    with start_virtual_card(port=port) as handle:
        conn, _ = fake_vpcd.accept()
        conn.settimeout(5)
        with conn:
            handle.remove_on(2)
            assert _exchange(conn, h("FFCA000000")).endswith(h("9000"))
            conn.sendall(encode_frame(SELECT_EMRTD))
            assert conn.recv(16) == b""  # closed, unanswered
        assert handle.wait_left(5)
        assert not handle.inserted
        assert handle.received == (h("FFCA000000"), SELECT_EMRTD)


def test_fail_next_counts_from_now(fake_vpcd: socket.socket) -> None:
    """fail_next(sw, 2) answers the second APDU from now with sw."""
    port = fake_vpcd.getsockname()[1]
    with start_virtual_card(port=port) as handle:
        conn, _ = fake_vpcd.accept()
        conn.settimeout(5)
        with conn:
            _exchange(conn, h("FFCA000000"))
            handle.fail_next(h("6A80"), 2)
            assert _exchange(conn, SELECT_EMRTD) == h("9000")
            assert _exchange(conn, SELECT_EMRTD) == h("6A80")


def test_remove_and_insert_reconnect(fake_vpcd: socket.socket) -> None:
    """remove() closes the connection and insert() opens a new one, keeping the card's data."""
    port = fake_vpcd.getsockname()[1]
    with start_virtual_card(port=port) as handle:
        first, _ = fake_vpcd.accept()
        with first:
            first.settimeout(5)
            _exchange(first, SELECT_EMRTD)
            _exchange(first, h("00D6000001AB"))
            handle.remove()
            assert not handle.inserted
            assert first.recv(16) == b""
        handle.insert()
        second, _ = fake_vpcd.accept()
        with second:
            second.settimeout(5)
            _exchange(second, SELECT_EMRTD)
            assert _exchange(second, h("00B0000001")) == h("AB9000")


def test_no_vpcd_listening_is_a_clear_error() -> None:
    """Starting a card where no vpcd listens raises VirtualCardError naming the setup script."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = placeholder.getsockname()[1]
        with pytest.raises(VirtualCardError, match=r"pcsc-setup\.sh"):
            start_virtual_card(port=port)
