"""The PC/SC test stack: pcscd + vsmartcard's virtual reader (vpcd) + our virtual card.

Tests against the real PC/SC stack use the first virtual reader slot, ``Virtual PCD 00 00``,
whose driver listens on 127.0.0.1:35963 for a card (:mod:`drivers.vicc`). The encoder
contract suite uses the second slot (``Virtual PCD 00 01``, port 35964) through the driver's
own ``virtual_card=`` option, so the two never share a reader.

When something is missing (pyscard, pcscd, vsmartcard-vpcd) the tests skip with the reason,
or fail when ``PRINTCTL_REQUIRE_SERVICES=1``; ``.ci/pcsc-setup.sh`` installs and starts it all.
Waits are bounded polls of the reader state (pcscd polls the virtual reader a few times a
second), never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import services_required, skip_or_fail

from drivers.vicc import DEFAULT_UID, VPCD_HOST, VPCD_PORT, VirtualCardHandle, start_virtual_card

ENABLE_HINT = "to enable: run .ci/pcsc-setup.sh (installs pcscd, vsmartcard-vpcd, pyscard)"

#: The reader the integration tests use, and where its driver waits for our virtual card.
READER = "Virtual PCD 00 00"
PORT = VPCD_PORT
#: The encoder contract suite's reader slot (see :func:`pcsc_contract_urls`).
CONTRACT_READER = "Virtual PCD 00 01"
CONTRACT_PORT = VPCD_PORT + 1

#: How long a test waits for pcscd to notice a card arriving or leaving.
STATE_TIMEOUT_S = 5.0
#: How long a test waits for another pytest process to finish with the virtual reader.
LOCK_TIMEOUT_S = 120.0


def encoder_url(reader: str = READER, **options: str) -> str:
    """A ``pcsc://`` URL for ``reader`` with extra options (values URL-quoted)."""
    query = "&".join(f"{k}={quote(v, safe=':')}" for k, v in {"reader": reader, **options}.items())
    return f"pcsc://?{query}"


def stack_problem(reader: str = READER) -> str | None:
    """Why the PC/SC test stack is not usable, or ``None`` when it is."""
    try:
        from smartcard import scard
    except ImportError:
        return "pyscard is not installed"
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        return f"pcscd is not running ({scard.SCardGetErrorMessage(result).strip()})"
    try:
        result, readers = scard.SCardListReaders(context, [])
        readers = list(readers) if result == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)
    if reader not in readers:
        return (
            f"pcscd does not list the virtual reader {reader!r} (readers: {readers or 'none'});"
            " is vsmartcard-vpcd installed and pcscd restarted since?"
        )
    return None


def require_stack(reader: str = READER) -> None:
    """Skip (or fail, in CI) unless pyscard, pcscd and the virtual reader are there."""
    problem = stack_problem(reader)
    if problem is not None:
        skip_or_fail(f"PC/SC stack unavailable: {problem}; {ENABLE_HINT}")


def card_present(reader: str = READER) -> bool:
    """What pcscd says right now: is a (responsive) card in ``reader``'s field?"""
    from smartcard import scard

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
    try:
        result, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        state = int(states[0][1])
    finally:
        scard.SCardReleaseContext(context)
    return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE


def wait_for_card(present: bool, reader: str = READER, timeout: float = STATE_TIMEOUT_S) -> None:
    """Wait (bounded) until pcscd sees a card in ``reader`` (or sees none); fail otherwise."""
    from smartcard import scard

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
    deadline = time.monotonic() + timeout
    try:
        state = scard.SCARD_STATE_UNAWARE
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            # Returns as soon as the state differs from the one passed in, so this blocks
            # in pcscd rather than spinning here.
            _result, states = scard.SCardGetStatusChange(
                context, left_ms, [(reader, state & ~scard.SCARD_STATE_CHANGED)]
            )
            state = int(states[0][1])
            now = bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
            if now == present:
                return
            if left_ms == 0:
                what = "a card" if present else "no card"
                raise AssertionError(f"pcscd did not see {what} in {reader!r} within {timeout} s")
    finally:
        scard.SCardReleaseContext(context)


@contextlib.contextmanager
def _lock_reader(port: int) -> Iterator[None]:
    """Hold the virtual reader slot against other pytest processes (bounded wait)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"printctl-vpcd-{port}.lock"
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another process held the virtual reader ({path}) too long")
                time.sleep(0.05)  # a poll interval under a deadline, not a wait for an event
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def pcsc_reader() -> Iterator[str]:
    """The virtual reader, empty and ours for the test; skips when the stack is missing."""
    require_stack(READER)
    with _lock_reader(PORT):
        wait_for_card(present=False)  # a card left over from a crashed run would confuse tests
        yield READER


@pytest.fixture
def virtual_card(pcsc_reader: str) -> Iterator[VirtualCardHandle]:
    """A virtual card (UID ``04A1B2C3D4E5F6``) in the virtual reader, seen by pcscd."""
    handle = start_virtual_card(DEFAULT_UID, host=VPCD_HOST, port=PORT)
    try:
        wait_for_card(present=True, reader=pcsc_reader)
        yield handle
    finally:
        handle.stop()
        wait_for_card(present=False, reader=pcsc_reader)


def pcsc_contract_urls() -> list[Any]:
    """The encoder contract suite's PC/SC entry: the driver with its own virtual card.

    When the stack is missing it is a skipped parameter with the reason (or, with
    ``PRINTCTL_REQUIRE_SERVICES=1``, the plain URL, whose checks then fail loudly).
    """
    url = encoder_url(
        CONTRACT_READER,
        virtual_card=DEFAULT_UID.hex().upper(),
        vpcd=f"{VPCD_HOST}:{CONTRACT_PORT}",
        timeout="5",
    )
    problem = stack_problem(CONTRACT_READER)
    if problem is None or services_required():
        return [url]
    reason = f"PC/SC stack unavailable: {problem}; {ENABLE_HINT}"
    return [pytest.param(url, marks=pytest.mark.skip(reason=reason))]
