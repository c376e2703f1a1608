"""The fake center's pull API (spec ``prr-bundle-v1`` §4), for tests, demos and training.

:class:`CenterServer` serves the ``*.prr.zip`` files of a folder and accepts event bundles
(§5) from trusted stations, storing events idempotently by ``event_id`` in a JSON-lines file
that survives a restart. :class:`FaultSwitches` make the network as bad as a regency office's
really is: dropped connections mid-download, stalls, 500s, corrupted bytes and outages, each
done at the socket level so the client meets the same errors it would in the field.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from printctl.sync.eventbundle import (
    EventBundleRejected,
    SigningKey,
    read_event_bundle,
    receipt_bytes,
)

__all__ = ["CenterServer", "EventStore", "FaultSwitches", "ingest_for_receipt"]

log = logging.getLogger(__name__)

#: How many offers one listing returns at most (spec §4).
MAX_OFFERS = 100
#: The largest event bundle the fake center reads from a request body.
MAX_EVENTS_BODY = 64 * 1024 * 1024
EVENTS_FILE = "events.jsonl"
_BUNDLE_PATH_RE = re.compile(r"/v1/bundles/([A-Za-z0-9][A-Za-z0-9-]{0,63})")
_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)")
_CHUNK = 64 * 1024
#: Errors that only mean the client went away (a timeout or a reset on its side).
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


@dataclass
class FaultSwitches:
    """Faults the server injects; mutable while it runs (tests flip them between requests).

    Every ``*_every`` is off at 0; N means every Nth request (or download) counted from the
    server's start, so 1 means every one.
    """

    #: Every Nth bundle download (and every Nth events post, whose events are stored first: a
    #: lost answer) sends part of the body and then closes the connection. A download drops
    #: only when more than ``drop_after_bytes`` remain, so a resuming client always progresses.
    drop_every: int = 0
    drop_after_bytes: int = 65536
    #: Every Nth request sends nothing for ``stall_s`` seconds, then answers normally.
    stall_every: int = 0
    stall_s: float = 0.0
    #: Every Nth request answers 500.
    error_every: int = 0
    #: Every Nth bundle download serves the file with some bytes flipped (same length).
    corrupt_every: int = 0
    #: Until this time on the server's clock every connection is closed without an answer.
    offline_until: float = 0.0


@dataclass(frozen=True)
class _Offer:
    bundle_id: str
    sequence: int
    regency_code: str
    size: int
    sha256: str
    path: Path


def _hits(every: int, count: int) -> bool:
    return every > 0 and count % every == 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    center: CenterServer

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Returning False makes socketserver close the accepted socket at once: to the client
        # the center is simply not there (no status line, no headers).
        return not self.center._offline_now()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up is the normal case under fault injection; anything
        # else is a bug in the fake center and is logged, never printed as a raw traceback.
        log.debug("center request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("center: " + format, *args)

    def do_GET(self) -> None:
        self.server.center._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.center._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.center._handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.center._handle(self, "DELETE")


class EventStore:
    """Received events, idempotent by ``event_id``, in ``<state_dir>/events.jsonl``.

    Appends are fsynced before :meth:`add` returns, because an acknowledged event is deleted
    from the station's outbox. The file is locked (``flock``) for each append and lines other
    processes appended meanwhile are read first, so ``printctl center receipt`` may run while
    ``printctl center serve`` uses the same state folder without storing an event twice.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._events: dict[str, dict[str, Any]] = {}
        self._read_up_to = 0
        with self._locked() as stream:
            self._repair_torn_tail(stream)
            self._catch_up(stream)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[BinaryIO]:
        with self._lock, self.path.open("a+b") as stream:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
            try:
                yield stream
            finally:
                fcntl.flock(stream.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _repair_torn_tail(stream: BinaryIO) -> None:
        stream.seek(0)
        data = stream.read()
        if data and not data.endswith(b"\n"):
            # A crash mid-append leaves a torn last line. It was never acknowledged, so drop it
            # (the station sends it again) rather than glue the next append onto it.
            stream.truncate(data.rfind(b"\n") + 1)
            os.fsync(stream.fileno())

    def _catch_up(self, stream: BinaryIO) -> None:
        stream.seek(self._read_up_to)
        data = stream.read()
        complete = data[: data.rfind(b"\n") + 1]
        for line in complete.splitlines():
            event = json.loads(line)
            self._events.setdefault(event["event_id"], event)
        self._read_up_to += len(complete)

    def events(self) -> dict[str, dict[str, Any]]:
        """Every stored event by ``event_id`` (including other processes' appends)."""
        with self._locked() as stream:
            self._catch_up(stream)
            return {k: dict(v) for k, v in self._events.items()}

    def add(self, events: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
        """Store the events not yet known; return ``(accepted ids, duplicate ids)`` in order."""
        accepted: list[str] = []
        duplicates: list[str] = []
        with self._locked() as stream:
            self._catch_up(stream)
            new: list[dict[str, Any]] = []
            for event in events:
                event_id = str(event["event_id"])
                if event_id in self._events or event_id in accepted:
                    duplicates.append(event_id)
                else:
                    accepted.append(event_id)
                    new.append(dict(event))
            if new:
                lines = b"".join(
                    json.dumps(e, sort_keys=True, ensure_ascii=False).encode() + b"\n" for e in new
                )
                stream.seek(0, os.SEEK_END)
                stream.write(lines)
                stream.flush()
                # Only what is on disk may be acknowledged: the station deletes its copy.
                os.fsync(stream.fileno())
                self._read_up_to += len(lines)
                for event in new:
                    self._events[event["event_id"]] = event
        return accepted, duplicates


def ingest_for_receipt(
    store: EventStore,
    events_zip: bytes,
    *,
    station_keys: Mapping[str, Ed25519PublicKey],
    receipt_key: SigningKey,
    at: datetime,
) -> bytes:
    """Verify a flash-drive event bundle, store its new events, return the signed receipt.

    Raises :class:`~printctl.sync.eventbundle.EventBundleRejected` for a bad bundle (nothing
    is stored then).
    """
    parsed = read_event_bundle(events_zip, trusted_keys=station_keys)
    accepted, duplicates = store.add(parsed.events)
    return receipt_bytes(
        events_bundle_id=parsed.bundle_id,
        accepted=accepted,
        duplicates=duplicates,
        key=receipt_key,
        at=at,
    )


class CenterServer:
    """The fake center on ``host:port`` (port 0 picks a free one; see :attr:`url`).

    ``bundles_dir`` holds the ``*.prr.zip`` files to offer; ``state_dir`` keeps the received
    events; ``token`` is the bearer token every request must carry; ``station_keys`` maps a
    station's ``key_id`` to the public key its event bundles must verify under;
    ``receipt_key`` signs flash-drive receipts (:meth:`receipt_for`). ``clock`` is the
    monotonic clock :meth:`go_offline` counts on; ``now`` gives receipt times.
    """

    def __init__(
        self,
        *,
        bundles_dir: Path,
        state_dir: Path,
        token: str,
        station_keys: Mapping[str, Ed25519PublicKey],
        receipt_key: SigningKey | None = None,
        faults: FaultSwitches | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not token:
            raise ValueError("the center needs a non-empty token")
        self.bundles_dir = Path(bundles_dir)
        self.state_dir = Path(state_dir)
        self.faults = faults if faults is not None else FaultSwitches()
        self._token = token.encode()
        self._station_keys = dict(station_keys)
        self._receipt_key = receipt_key
        self._clock = clock
        self._now = now
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # counters, log and the offer cache
        self._requests = 0
        self._downloads = 0
        self._log: list[tuple[str, str, int]] = []
        self._offer_cache: dict[Path, tuple[tuple[int, int], _Offer | None]] = {}
        self.store = EventStore(self.state_dir)
        self._httpd = _Server((host, port), _Handler, bind_and_activate=True)
        self._httpd.center = self
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The base URL, ``http://HOST:PORT``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve on a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            # A short poll interval keeps stop() (and so test teardown) quick.
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-center",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; stalled requests are abandoned, not waited for."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> CenterServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def go_offline(self, seconds: float) -> None:
        """Close every connection without an answer for the next ``seconds`` (server clock)."""
        self.faults.offline_until = self._clock() + seconds

    def _offline_now(self) -> bool:
        return self._clock() < self.faults.offline_until

    # ------------------------------------------------------------------------ observation

    def received_events(self) -> dict[str, dict[str, Any]]:
        """Every accepted event by ``event_id`` (persisted, so it survives a restart)."""
        return self.store.events()

    def requests_log(self) -> list[tuple[str, str, int]]:
        """``(method, path, status)`` of every request read so far (path without the query).

        Connections closed while offline are not requests and are not listed; a request whose
        answer was cut short is listed with the status it started to send.
        """
        with self._lock:
            return list(self._log)

    # ------------------------------------------------------------------------ receipts

    def receipt_for(self, events_zip: bytes) -> bytes:
        """Ingest an event bundle carried on a flash drive and return the signed receipt.

        The same idempotent store as ``POST /v1/events``; raises
        :class:`~printctl.sync.eventbundle.EventBundleRejected` for a bad bundle and
        ``ValueError`` when the server has no ``receipt_key``.
        """
        if self._receipt_key is None:
            raise ValueError("the center has no receipt key to sign receipts with")
        return ingest_for_receipt(
            self.store,
            events_zip,
            station_keys=self._station_keys,
            receipt_key=self._receipt_key,
            at=self._now(),
        )

    # ------------------------------------------------------------------------ bundles

    def _read_offer(self, path: Path, size: int) -> _Offer | None:
        try:
            with zipfile.ZipFile(path) as zf:
                manifest = json.loads(zf.read("manifest.json"))
            bundle_id = manifest["bundle_id"]
            sequence = manifest["sequence"]
            regency = manifest["regency_code"]
            if not (
                isinstance(bundle_id, str)
                and isinstance(sequence, int)
                and isinstance(regency, str)
            ):
                raise ValueError("manifest fields of the wrong type")
        except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            # The fake center serves what a real one would: bundles it can describe.
            log.warning("center: not offering %s (%s)", path.name, exc)
            return None
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
        return _Offer(bundle_id, sequence, regency, size, digest.hexdigest(), path)

    def _offers(self) -> list[_Offer]:
        offers: list[_Offer] = []
        paths = sorted(self.bundles_dir.glob("*.prr.zip"))
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            with self._lock:
                cached = self._offer_cache.get(path)
            if cached is not None and cached[0] == stamp:
                offer = cached[1]
            else:
                offer = self._read_offer(path, st.st_size)
                with self._lock:
                    self._offer_cache[path] = (stamp, offer)
            if offer is not None:
                offers.append(offer)
        offers.sort(key=lambda o: (o.sequence, o.bundle_id))
        return offers

    # ------------------------------------------------------------------------ HTTP

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._log.append((method, path, status))

    def _handle(self, handler: _Handler, method: str) -> None:
        """Route one request through the fault switches to its endpoint."""
        path = urlsplit(handler.path).path
        with self._lock:
            self._requests += 1
            number = self._requests
        faults = self.faults
        try:
            # An Event, not time.sleep: stop() must not wait for a stalled request.
            stalled = _hits(faults.stall_every, number) and faults.stall_s > 0
            if stalled and self._stopping.wait(faults.stall_s):
                self._record(method, path, 0)
                self._abort(handler)
                return
            if _hits(faults.error_every, number):
                self._json(handler, method, path, 500, {"error": "injected server error"})
                return
            if not self._authorized(handler):
                self._json(handler, method, path, 401, {"error": "missing or wrong bearer token"})
                return
            if method == "GET" and path == "/v1/bundles":
                self._list(handler, path)
            elif method == "GET" and path.startswith("/v1/bundles/"):
                self._download(handler, path)
            elif method == "POST" and path == "/v1/events":
                self._post_events(handler, path)
            else:
                self._json(handler, method, path, 404, {"error": f"no such endpoint {path}"})
        except _GONE:
            log.debug("center: client went away during %s %s", method, path)

    def _authorized(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self._token
        )

    def _json(
        self, handler: _Handler, method: str, path: str, status: int, body: dict[str, Any]
    ) -> None:
        data = json.dumps(body).encode()
        self._record(method, path, status)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _abort(handler: _Handler) -> None:
        """Cut the connection now: whatever was sent is all the client gets."""
        handler.close_connection = True
        try:
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def _list(self, handler: _Handler, path: str) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        regency = query.get("regency", [""])[0]
        after_text = query.get("after", ["0"])[0]
        if not re.fullmatch(r"\d{2}\.\d{2}", regency) or not after_text.isdigit():
            self._json(
                handler,
                "GET",
                path,
                400,
                {"error": "regency (PP.RR) and after (a whole number) are required"},
            )
            return
        after = int(after_text)
        offers = [o for o in self._offers() if o.regency_code == regency and o.sequence > after]
        body = {
            "bundles": [
                {
                    "bundle_id": o.bundle_id,
                    "sequence": o.sequence,
                    "bytes": o.size,
                    "sha256": o.sha256,
                }
                for o in offers[:MAX_OFFERS]
            ]
        }
        self._json(handler, "GET", path, 200, body)

    def _download(self, handler: _Handler, path: str) -> None:
        match = _BUNDLE_PATH_RE.fullmatch(path)
        offer = None
        if match:
            offer = next((o for o in self._offers() if o.bundle_id == match.group(1)), None)
        if offer is None:
            self._json(handler, "GET", path, 404, {"error": "no such bundle"})
            return
        data = offer.path.read_bytes()
        size = len(data)
        start, end = 0, size - 1
        status = 200
        range_header = handler.headers.get("Range")
        if range_header:
            m = _RANGE_RE.fullmatch(range_header.strip())
            if m is None or int(m.group(1)) >= size:
                self._record("GET", path, 416)
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{size}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            start = int(m.group(1))
            if m.group(2):
                end = min(int(m.group(2)), size - 1)
            status = 206
        with self._lock:
            self._downloads += 1
            number = self._downloads
        faults = self.faults
        if _hits(faults.corrupt_every, number):
            data = _corrupted(data)
        body = data[start : end + 1]
        self._record("GET", path, status)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Accept-Ranges", "bytes")
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        handler.end_headers()
        cut = max(faults.drop_after_bytes, 0)
        if _hits(faults.drop_every, number) and len(body) > cut:
            handler.wfile.write(body[:cut])
            self._abort(handler)
            return
        for offset in range(0, len(body), _CHUNK):
            handler.wfile.write(body[offset : offset + _CHUNK])

    def _post_events(self, handler: _Handler, path: str) -> None:
        length_text = handler.headers.get("Content-Length", "")
        if not length_text.isdigit():
            self._json(handler, "POST", path, 411, {"error": "Content-Length is required"})
            return
        length = int(length_text)
        if length > MAX_EVENTS_BODY:
            self._json(handler, "POST", path, 413, {"error": "the event bundle is too large"})
            return
        body = handler.rfile.read(length)
        if len(body) != length:
            raise ConnectionResetError("the request body was cut short")
        try:
            parsed = read_event_bundle(body, trusted_keys=self._station_keys)
        except EventBundleRejected as exc:
            self._json(handler, "POST", path, 400, {"error": exc.reason})
            return
        accepted, duplicates = self.store.add(parsed.events)
        with self._lock:
            self._downloads += 1
            number = self._downloads
        answer = json.dumps({"accepted": len(accepted), "duplicates": len(duplicates)}).encode()
        if _hits(self.faults.drop_every, number):
            # Stored but never acknowledged: the case idempotency by event_id exists for.
            self._record("POST", path, 200)
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer[: len(answer) // 2])
            self._abort(handler)
            return
        self._json(
            handler, "POST", path, 200, {"accepted": len(accepted), "duplicates": len(duplicates)}
        )


def _corrupted(data: bytes) -> bytes:
    """``data`` with a few bytes in the middle inverted: same length, different SHA-256."""
    if not data:
        return data
    middle = len(data) // 2
    stop = min(len(data), middle + 16)
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:stop]) + data[stop:]
