"""A live ``printctl serve`` (console, API and printer workers on simulated printers) on a
free port of 127.0.0.1, and Debian's Chromium driven by Playwright.

Screenshots of the main pages are kept in ``PRINTCTL_ARTIFACTS`` (default
``test-artifacts/e2e``) for a person to look at.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from printctl.station_service import StationService
from printctl.web.app import create_app
from printctl.web.server import bind
from tests.conftest import skip_or_fail
from tests.web.support import Office, make_office

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass
class Live:
    """The running service."""

    url: str
    office: Office
    artifacts: Path

    def shot(self, page: Any, name: str) -> None:
        """Keep a full-page screenshot as a test artefact."""
        page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    import uvicorn

    folder = tmp_path_factory.mktemp("office")
    # sim-1 jams on its 2nd card and, by this office's policy, leaves it for a person to
    # inspect; sim-2 prints cleanly. 0.08 s a card.
    office = make_office(
        folder,
        printers=2,
        records=14,
        faults=["fault=print:2:jam", ""],
        policy={"media-jam": "needs-inspection"},
        timescale=200,
    )
    stop = threading.Event()
    station = StationService(office.ctx, office.ctx.settings.printers, stop=stop, poll_s=0.2)
    office.app = create_app(office.ctx, station=station)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(office.app, log_config=None, log_level="warning"))
    threads = [
        threading.Thread(target=station.run, name="station", daemon=True),
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True),
    ]
    for thread in threads:
        thread.start()
    artifacts = Path(os.environ.get("PRINTCTL_ARTIFACTS", "test-artifacts")) / "e2e"
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        yield Live(f"http://127.0.0.1:{port}", office, artifacts)
    finally:
        server.should_exit = True
        stop.set()
        station.wake()
        for thread in threads:
            thread.join(timeout=60)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
