"""``printctl serve``: one process with the console and API (uvicorn), the printer workers
(:class:`printctl.station_service.StationService`), the center schedule and the night runs
of the ``overnight`` windows (:class:`printctl.night.run.NightScheduler`).

SIGTERM or Ctrl-C stops the web server first; then every printer finishes the card it
holds, the scheduler ends between tasks, and the station deregisters.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from printctl.logs import get_logger
from printctl.service import Context, UserError

if TYPE_CHECKING:
    from printctl.station_service import StationService

log = get_logger(__name__)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); a UserError names a bad value."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UserError(f"--listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got {text!r})")
    return host.strip("[]"), int(port)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything starts so a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dataclass
class Background:
    """The threads ``serve`` runs beside the web server, and the first fatal error."""

    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    error: BaseException | None = None
    on_error: Callable[[], None] = lambda: None

    def start(self, name: str, target: Callable[[], Any]) -> None:
        """Run ``target`` in a thread; an exception it raises stops the whole service."""

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported by serve, after the server stops
                log.error("service part failed", part=name, error=str(exc))
                if self.error is None:
                    self.error = exc
                self.stop.set()
                self.on_error()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def finish(self) -> None:
        """Ask every part to stop, and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join()


def run_nights(ctx: Context, station: StationService, stop: threading.Event) -> None:
    """The ``overnight`` windows, run on the service's printers until ``stop`` (a failed
    look is logged and tried again: a database hiccup must not end the service)."""
    from printctl.night.run import LOOK_EVERY_S, NightScheduler

    nights = NightScheduler(ctx, station, ctx.settings.printers)
    # Between nights a look every few seconds is plenty (sooner on a simulated clock).
    between = max(LOOK_EVERY_S, min(5.0, 30.0 / ctx.pace))
    while not stop.wait(LOOK_EVERY_S if nights.night is not None else between):
        try:
            nights.tick()
        except Exception:
            log.exception("night schedule failed", station=ctx.station)


def serve(
    ctx: Context,
    *,
    listen: str,
    printers: bool = True,
    report: Callable[[str, Any], None] = lambda _task, _result: None,
    started: Callable[[str], None] = lambda _url: None,
) -> BaseException | None:
    """Run the whole service until SIGTERM/SIGINT; returns the error that ended a part of it
    early (the station already running elsewhere, …), or None after a clean stop."""
    import uvicorn

    from printctl.service_sync import run_service_loop
    from printctl.station_service import StationService
    from printctl.web.app import create_app

    host, port = parse_listen(listen)
    sock = bind(host, port)
    ctx.cipher  # noqa: B018 (load the data key now: a missing key is a start-up error)
    parts = Background()
    station = (
        StationService(ctx, ctx.settings.printers, stop=parts.stop)
        if printers and ctx.settings.printers
        else None
    )
    app = create_app(ctx, station=station)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        # The console polls; a slow client must not hold a worker thread for long.
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)

    def stop_server() -> None:
        server.should_exit = True

    parts.on_error = stop_server
    if station is not None:
        parts.start("station", station.run)
        if ctx.settings.overnight:
            parts.start("nights", lambda: run_nights(ctx, station, parts.stop))
    elif ctx.settings.overnight:
        log.warning("overnight windows are configured but this service drives no printers")
    parts.start(
        "schedule",
        lambda: run_service_loop(
            ctx, stop=parts.stop.wait, monotonic=time.monotonic, report=report
        ),
    )
    started(f"http://{host}:{port}/")
    try:
        server.run(sockets=[sock])
    finally:
        parts.finish()
        sock.close()
    return parts.error
