"""The PC/SC encoder (drivers.pcsc) against the real stack: pcscd, vpcd and our virtual card.

The virtual card sits in ``Virtual PCD 00 00`` (see tests/pcsc_support.py). Without pcscd,
vsmartcard-vpcd or pyscard these tests skip saying so (fail in CI); run .ci/pcsc-setup.sh.
The URL and reader-choice tests need only pyscard; the missing-pyscard test needs nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pcsc_support
import pytest
from conftest import skip_or_fail
from pcsc_support import ENABLE_HINT, READER, card_present, encoder_url, wait_for_card

from drivers.vicc import DEFAULT_UID, VirtualCardHandle
from printctl.domain import ChipCommand
from printctl.hardware import (
    CardRemoved,
    DriverConfigError,
    NoCard,
    PermissionDenied,
    ReaderGone,
    StatusWordMismatch,
)
from printctl.registry import DriverRegistry, make_encoder

# The stack's fixtures (an empty virtual reader; a virtual card in it), used by name below.
pcsc_reader = pcsc_support.pcsc_reader
virtual_card = pcsc_support.virtual_card

OK = b"\x90\x00"
UID = DEFAULT_UID.hex().upper()
GET_UID = bytes.fromhex("FFCA000000")
SELECT = ChipCommand(bytes.fromhex("00A4040C07A0000002471001"), OK)
WRITE = ChipCommand(bytes.fromhex("00D6000004DEADBEEF"), OK)
READ = ChipCommand(bytes.fromhex("00B0000004"), OK)
SCRIPT = (SELECT, WRITE, READ)


def _scard() -> Any:
    try:
        from smartcard import scard
    except ImportError:
        skip_or_fail(f"pyscard is not installed; {ENABLE_HINT}")
    return scard


@pytest.fixture
def pcsc() -> Any:
    """The drivers.pcsc module (skips, or fails in CI, when pyscard is missing)."""
    _scard()
    import drivers.pcsc

    return drivers.pcsc


@pytest.fixture
def encoder(virtual_card: VirtualCardHandle) -> Iterator[Any]:
    """An open PC/SC encoder on the virtual reader, with the virtual card in the field."""
    enc = make_encoder(encoder_url(timeout="3"))
    enc.open()
    yield enc
    enc.close()


# --------------------------------------------------------------------------- configuration


def test_pyscard_missing_is_a_config_error_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without pyscard, pcsc:// is listed unavailable and make_encoder says how to install it."""
    monkeypatch.setitem(sys.modules, "smartcard", None)  # makes "import smartcard" fail
    monkeypatch.delitem(sys.modules, "smartcard.scard", raising=False)
    monkeypatch.delitem(sys.modules, "drivers.pcsc", raising=False)
    registry = DriverRegistry(entry_points=lambda **_: [])
    with pytest.raises(DriverConfigError, match=r"pip install 'printctl\[pcsc\]'") as caught:
        registry.make_encoder("pcsc://?reader=OMNIKEY")
    assert "smartcard" in str(caught.value)
    (info,) = [d for d in registry.list_drivers() if d.scheme == "pcsc"]
    assert not info.available and info.install_hint == "pip install 'printctl[pcsc]'"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pcsc://?readr=X", "unknown option 'readr'"),
        ("pcsc://host?reader=X", "takes no host or path"),
        ("pcsc://?reader=", "is empty"),
        ("pcsc://?protocol=t2", "expected one of any, t0, t1"),
        ("pcsc://?timeout=-1", "at least 0"),
        ("pcsc://?virtual_card=XYZ", "UID in hex"),
        ("pcsc://?virtual_card=0102", "4, 7 or 10 bytes"),
        ("pcsc://?virtual_card=01020304&vpcd=localhost", "HOST:PORT"),
    ],
)
def test_bad_url_is_a_config_error(pcsc: Any, url: str, message: str) -> None:
    """A malformed pcsc:// URL fails at construction with a DriverConfigError saying why."""
    with pytest.raises(DriverConfigError, match=message):
        pcsc.PcscEncoder(url)


def test_only_reader_is_used_when_none_is_named(pcsc: Any) -> None:
    """With no reader= option and exactly one reader connected, that reader is used."""
    assert pcsc.find_reader(["ACS ACR122U 00 00"], None, "pcsc://") == "ACS ACR122U 00 00"


def test_reader_is_matched_by_substring_in_any_case(pcsc: Any) -> None:
    """reader= matches any part of the name, ignoring case."""
    readers = ["HID Global OMNIKEY 5022 00 00", "Virtual PCD 00 00"]
    assert pcsc.find_reader(readers, "omnikey", "u") == readers[0]


def test_exact_reader_name_wins_over_substrings(pcsc: Any) -> None:
    """A reader= that is one reader's whole name picks it even if it is part of another's."""
    readers = ["Reader A", "Reader A 2"]
    assert pcsc.find_reader(readers, "reader a", "u") == "Reader A"


def test_ambiguous_reader_lists_the_readers(pcsc: Any) -> None:
    """Several readers and no reader=, or a reader= matching several, is a DriverConfigError."""
    readers = ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    with pytest.raises(DriverConfigError, match=r"'Virtual PCD 00 00', 'Virtual PCD 00 01'"):
        pcsc.find_reader(readers, None, "u")
    with pytest.raises(DriverConfigError, match="matches 2 readers"):
        pcsc.find_reader(readers, "virtual", "u")


def test_no_reader_connected_is_reader_gone(pcsc: Any) -> None:
    """No reader at all is ReaderGone (retryable): someone has to plug it in."""
    with pytest.raises(ReaderGone, match="no PC/SC reader is connected") as caught:
        pcsc.find_reader([], None, "u")
    assert caught.value.retryable


# --------------------------------------------------------------------------- real stack


def test_read_uid_returns_the_cards_uid(encoder: Any, virtual_card: VirtualCardHandle) -> None:
    """read_uid sends GET DATA and returns the virtual card's UID in upper-case hex."""
    assert encoder.detect() is True
    assert encoder.read_uid() == UID
    assert virtual_card.received == (GET_UID,)


def test_run_script_sends_exactly_the_script_and_returns_uid(
    encoder: Any, virtual_card: VirtualCardHandle
) -> None:
    """run_script reads the UID, then sends each APDU once, in order, and returns the UID."""
    assert encoder.run_script(SCRIPT) == UID
    assert virtual_card.received == (GET_UID, *(c.apdu for c in SCRIPT))
    assert virtual_card.card.files[SELECT.apdu[5:]][:4] == bytes.fromhex("DEADBEEF")


def test_wrong_status_word_raises_mismatch_and_stops(
    encoder: Any, virtual_card: VirtualCardHandle
) -> None:
    """A status word other than the expected one raises StatusWordMismatch and sends no more."""
    virtual_card.fail_next(bytes.fromhex("6A80"), 3)  # UID read, SELECT, then the WRITE
    with pytest.raises(StatusWordMismatch) as caught:
        encoder.run_script(SCRIPT)
    assert (caught.value.index, caught.value.got, caught.value.expected) == (1, b"\x6a\x80", OK)
    assert "command 1 returned 6A80, expected 9000" in str(caught.value)
    assert virtual_card.received == (GET_UID, SELECT.apdu, WRITE.apdu)


def test_unknown_application_is_a_mismatch(encoder: Any) -> None:
    """SELECT of an AID the card lacks gets 6A82, reported as a mismatch against 9000."""
    missing = ChipCommand(bytes.fromhex("00A4040C07A0000000000001"), OK)
    with pytest.raises(StatusWordMismatch) as caught:
        encoder.run_script([missing])
    assert caught.value.got == b"\x6a\x82"


def test_61xx_is_chained_with_get_response(encoder: Any, virtual_card: VirtualCardHandle) -> None:
    """A 61xx answer is followed by GET RESPONSE and the final 9000 satisfies the script."""
    virtual_card.card.chain_responses = True
    assert encoder.run_script([SELECT, WRITE, READ]) == UID
    assert virtual_card.received[-2:] == (READ.apdu, bytes.fromhex("00C0000004"))


def test_6cxx_resends_with_the_right_le(encoder: Any, virtual_card: VirtualCardHandle) -> None:
    """A 6Cxx answer makes the driver resend the command with Le = xx."""
    assert encoder.run_script([ChipCommand(bytes.fromhex("FFCA000002"), OK)]) == UID
    assert virtual_card.received == (
        GET_UID,
        bytes.fromhex("FFCA000002"),
        bytes.fromhex("FFCA000007"),
    )


def test_expected_61xx_is_not_chained(encoder: Any, virtual_card: VirtualCardHandle) -> None:
    """When the script itself expects 61xx, the answer is taken as is (no GET RESPONSE)."""
    virtual_card.card.chain_responses = True
    assert encoder.run_script([SELECT, ChipCommand(READ.apdu, b"\x61\x04")]) == UID
    assert virtual_card.received == (GET_UID, SELECT.apdu, READ.apdu)


def test_no_card_in_the_field_is_nocard(pcsc_reader: str) -> None:
    """With no virtual card connected, detect is False and read_uid raises NoCard after timeout."""
    enc = make_encoder(encoder_url(timeout="0.2"))
    try:
        assert enc.detect() is False
        with pytest.raises(NoCard, match=r"within 0\.2 s") as caught:
            enc.read_uid()
        assert caught.value.retryable
        with pytest.raises(NoCard):
            enc.run_script(SCRIPT)
    finally:
        enc.close()


def test_card_leaving_mid_script_is_card_removed(
    encoder: Any, virtual_card: VirtualCardHandle
) -> None:
    """A card that leaves the field during a command raises CardRemoved; reinserted, it works."""
    virtual_card.remove_on(3)  # UID read, SELECT, then gone on the WRITE
    with pytest.raises(CardRemoved, match="command 1"):
        encoder.run_script(SCRIPT)
    assert virtual_card.received == (GET_UID, SELECT.apdu, WRITE.apdu)
    assert not virtual_card.inserted
    virtual_card.insert()
    wait_for_card(present=True)
    assert encoder.run_script(SCRIPT) == UID


def test_unknown_reader_name_is_reader_gone(pcsc_reader: str) -> None:
    """A reader= matching no connected reader raises ReaderGone listing the ones pcscd sees."""
    enc = make_encoder("pcsc://?reader=NoSuchReader")
    with pytest.raises(ReaderGone, match=r"matches 'NoSuchReader'.*'Virtual PCD 00 00'") as caught:
        enc.open()
    assert caught.value.retryable
    enc.close()


def test_two_virtual_readers_need_a_name(pcsc_reader: str) -> None:
    """With vpcd's two readers and a reader= matching both, open raises DriverConfigError."""
    enc = make_encoder("pcsc://?reader=virtual%20pcd")
    with pytest.raises(DriverConfigError, match="matches 2 readers"):
        enc.open()


def test_card_held_exclusively_elsewhere_is_permission_denied(
    encoder: Any, virtual_card: VirtualCardHandle
) -> None:
    """When another program holds the card exclusively, read_uid raises PermissionDenied."""
    scard = _scard()
    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    result, handle, _ = scard.SCardConnect(
        context, READER, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T1
    )
    assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
    try:
        with pytest.raises(PermissionDenied, match="exclusively") as caught:
            encoder.read_uid()
        assert caught.value.retryable
    finally:
        scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(context)
    assert encoder.read_uid() == UID


def test_pcscd_not_running_is_reader_gone_saying_start_pcscd(pcsc: Any) -> None:
    """If pcscd does not answer, open raises ReaderGone telling the technician to start pcscd."""
    # The PC/SC client library reads its socket path once per process, so point a child
    # process at a socket nobody listens on instead of stopping the shared pcscd.
    code = (
        "from printctl.registry import make_encoder\n"
        "from printctl.hardware import ReaderGone\n"
        "try:\n"
        "    make_encoder('pcsc://?reader=X').open()\n"
        "except ReaderGone as exc:\n"
        "    print(type(exc).__name__, exc.retryable, exc)\n"
    )
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ReaderGone True ")
    assert "pcscd is not running" in done.stdout and "start" in done.stdout


def test_virtual_card_option_inserts_while_open(pcsc_reader: str) -> None:
    """With virtual_card=, open puts a card in the reader and close takes it out again."""
    enc = make_encoder(encoder_url(virtual_card="04112233", timeout="3"))
    enc.open()
    try:
        assert enc.detect() is True
        assert enc.read_uid() == "04112233"
    finally:
        enc.close()
    assert card_present() is False
