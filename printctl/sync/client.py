"""The office's client for the center's pull API (spec ``prr-bundle-v1`` §4).

The network between a regency office and the center is unreliable, so every call retries
network failures and 5xx answers with capped exponential backoff and jitter
(:class:`RetryPolicy`), and gives up with one clear sentence (:class:`CenterUnreachable`).
A 4xx answer is the center saying no; retrying would not change it (:class:`CenterRefused`).

Downloads resume: bytes go to ``<bundle_id>.prr.zip.part`` and each attempt (in this process
or after a restart) asks for the rest with ``Range``. The final name only ever holds a file
whose size and SHA-256 match the center's offer; nothing else is renamed to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

__all__ = [
    "BundleOffer",
    "CenterClient",
    "CenterProtocolError",
    "CenterRefused",
    "CenterUnreachable",
    "RetryPolicy",
]

BUNDLE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_CHUNK = 256 * 1024
#: The largest JSON answer the client reads (100 offers are a few kilobytes).
_MAX_JSON = 4 * 1024 * 1024


class CenterUnreachable(Exception):
    """The center could not be reached (offline, timing out, failing) after every retry.

    ``str(exc)`` is one sentence naming the URL and the last cause, fit to show a user.
    """


class CenterRefused(Exception):
    """The center answered 4xx (a wrong token, rejected events, an unknown bundle).

    ``status`` is the HTTP status, ``reason`` the center's explanation. Never retried.
    """

    def __init__(self, url: str, status: int, reason: str) -> None:
        super().__init__(f"the center at {url} refused the request (HTTP {status}): {reason}")
        self.url = url
        self.status = status
        self.reason = reason


class CenterProtocolError(Exception):
    """The center answered, but not in the shape of spec §4 (a proxy page, a wrong server)."""


@dataclass(frozen=True)
class BundleOffer:
    """One bundle the center offers: its id, sequence, size in bytes and SHA-256 (hex)."""

    bundle_id: str
    sequence: int
    size: int
    sha256: str


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``attempts`` is the number of tries (so ``attempts - 1`` waits). The wait after failed try
    ``n`` (0-based) is ``min(backoff_max_s, backoff_s * 2**n) * (1 - jitter * rng())``: jitter
    spreads the retries of many offices that lost the link at the same moment. For downloads,
    a try that brought new bytes does not use up the budget: a slow link that drops every few
    megabytes still finishes.
    """

    attempts: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter: float = 0.5

    def delay(self, failure: int, rng: Callable[[], float]) -> float:
        """The wait after the ``failure``-th (0-based) consecutive failed try."""
        base = min(self.backoff_max_s, self.backoff_s * 2**failure)
        return float(base * (1 - self.jitter * rng()))


class _Retryable(Exception):
    """One try failed in a way another try may fix; ``cause`` says how, in words."""

    def __init__(self, cause: str, *, progressed: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.progressed = progressed


class CenterClient:
    """Talks to the center at ``base_url`` with the office's bearer ``token``.

    ``timeout_s`` bounds each connect and each read. ``sleep`` and ``rng`` are injectable so
    tests run the retry logic without waiting.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"center URL {base_url!r} is not an http(s) URL")
        if retry.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout_s
        self._retry = retry
        self._sleep = sleep
        self._rng = rng

    # ------------------------------------------------------------------------ plumbing

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    @contextlib.contextmanager
    def _request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> Iterator[http.client.HTTPResponse]:
        """One HTTP exchange; network failures and 5xx become :class:`_Retryable`."""
        conn = self._connection()
        try:
            with self._network_errors():
                conn.request(
                    method,
                    self._prefix + path,
                    body=body,
                    headers={"Authorization": f"Bearer {self._token}", **headers},
                )
                response = conn.getresponse()
            if response.status >= 500:
                raise _Retryable(f"the center answered HTTP {response.status}")
            if 400 <= response.status < 500:
                self._refuse(path, response)
            yield response
        finally:
            conn.close()

    @contextlib.contextmanager
    def _network_errors(self) -> Iterator[None]:
        try:
            yield
        except TimeoutError:
            raise _Retryable(f"no answer within {self._timeout:g} s") from None
        except ConnectionRefusedError:
            raise _Retryable("the connection was refused") from None
        except http.client.RemoteDisconnected:
            raise _Retryable("the connection was closed before an answer") from None
        except http.client.IncompleteRead:
            raise _Retryable("the connection was cut in the middle of the answer") from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            raise _Retryable("the connection was reset") from None
        except ssl.SSLError as exc:
            raise _Retryable(f"TLS failed ({exc.reason or exc})") from None
        except socket.gaierror:
            raise _Retryable(f"the host name {self._host!r} could not be resolved") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Retryable(f"network error ({exc.__class__.__name__}: {exc})") from None

    def _refuse(self, path: str, response: http.client.HTTPResponse) -> NoReturn:
        reason = response.reason or "refused"
        with contextlib.suppress(Exception):
            answer = json.loads(response.read(_MAX_JSON))
            if isinstance(answer, dict) and isinstance(answer.get("error"), str):
                reason = answer["error"]
        raise CenterRefused(self._url(path), response.status, reason)

    def _with_retries(self, what: str, url: str, attempt: Callable[[], Any]) -> Any:
        failures = 0
        while True:
            try:
                return attempt()
            except _Retryable as exc:
                if exc.progressed:
                    failures = 0  # the link works, it is just poor: keep going
                failures += 1
                if failures >= self._retry.attempts:
                    raise CenterUnreachable(
                        f"could not {what} from the center at {url} after "
                        f"{failures} attempt{'s' if failures != 1 else ''}: {exc.cause}"
                    ) from None
                self._sleep(self._retry.delay(failures - 1, self._rng))

    def _read_json(self, response: http.client.HTTPResponse, url: str) -> Any:
        with self._network_errors():
            data = response.read(_MAX_JSON + 1)
        announced = response.getheader("Content-Length")
        if announced is not None and announced.isdigit() and len(data) < int(announced):
            # http.client returns what it got at a premature end instead of raising.
            raise _Retryable("the connection was cut in the middle of the answer")
        if len(data) > _MAX_JSON:
            raise CenterProtocolError(f"the center at {url} sent an answer too large for JSON")
        if response.status != 200:
            raise CenterProtocolError(
                f"the center at {url} answered HTTP {response.status}, expected 200"
            )
        try:
            return json.loads(data)
        except ValueError:
            raise CenterProtocolError(f"the center at {url} did not answer with JSON") from None

    # ------------------------------------------------------------------------ listing

    def list_bundles(self, *, regency: str, after: int) -> list[BundleOffer]:
        """The bundles for ``regency`` with a sequence above ``after``, oldest first.

        Raises :class:`CenterUnreachable`, :class:`CenterRefused` or, for an answer not of
        the spec's shape, :class:`CenterProtocolError`.
        """
        path = "/v1/bundles?" + urlencode({"regency": regency, "after": after})
        url = self._url(path)

        def attempt() -> list[BundleOffer]:
            with self._request("GET", path, headers={"Accept": "application/json"}) as response:
                answer = self._read_json(response, url)
            return _parse_offers(answer, url)

        offers: list[BundleOffer] = self._with_retries("list bundles", url, attempt)
        return offers

    # ------------------------------------------------------------------------ download

    def download(self, offer: BundleOffer, dest_dir: Path) -> Path:
        """Download ``offer`` to ``dest_dir/<bundle_id>.prr.zip`` and return that path.

        Bytes collect in ``<bundle_id>.prr.zip.part``; a later try, or a later process, resumes
        from its size with ``Range``. A part longer than the offer, or a complete one whose
        SHA-256 differs, is deleted and the download starts over (a failed try). The final name
        is given (fsync, ``os.replace``) only to a file of the offer's size and SHA-256; if it
        already holds exactly that, nothing is fetched.
        """
        _check_offer(offer)
        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        final = dest_dir / f"{offer.bundle_id}.prr.zip"
        part = dest_dir / f"{offer.bundle_id}.prr.zip.part"
        if final.exists() and _matches(final, offer):
            return final
        path = f"/v1/bundles/{offer.bundle_id}"
        url = self._url(path)

        def attempt() -> Path:
            return self._download_once(offer, path, part, final)

        result: Path = self._with_retries(f"download bundle {offer.bundle_id}", url, attempt)
        return result

    def _download_once(self, offer: BundleOffer, path: str, part: Path, final: Path) -> Path:
        have = part.stat().st_size if part.exists() else 0
        if have > offer.size:
            part.unlink()
            have = 0
        if have < offer.size or not part.exists():
            self._fetch_rest(offer, path, part, have)
        size = part.stat().st_size if part.exists() else 0
        if size < offer.size:
            # A short answer that still looked complete: keep the bytes, resume next try.
            raise _Retryable(
                f"the center sent {size} of {offer.size} bytes", progressed=size > have
            )
        if not _matches(part, offer):
            part.unlink()
            raise _Retryable("the downloaded file did not match the offer's SHA-256")
        with part.open("rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(part, final)
        _fsync_dir(final.parent)
        return final

    def _fetch_rest(self, offer: BundleOffer, path: str, part: Path, have: int) -> None:
        """Append bytes from ``have`` onwards to ``part``; raise :class:`_Retryable` if cut."""
        headers = {"Accept": "application/zip"}
        if have:
            headers["Range"] = f"bytes={have}-"
        with self._request("GET", path, headers=headers) as response:
            if response.status == 206:
                m = _CONTENT_RANGE_RE.fullmatch(response.getheader("Content-Range", "").strip())
                if m is None or int(m.group(1)) != have:
                    # Bytes from somewhere else cannot be appended; start clean next try.
                    part.unlink(missing_ok=True)
                    raise _Retryable("the center answered a different range than asked for")
            elif response.status == 200:
                # The center ignored Range (or none was sent): the body is the whole file.
                have = 0
            else:
                raise CenterProtocolError(
                    f"the center at {self._url(path)} answered HTTP {response.status} "
                    "to a bundle download"
                )
            received = 0
            overflow = False
            with part.open("r+b" if have else "wb") as stream:
                stream.seek(have)
                stream.truncate()
                try:
                    while True:
                        # Only the read is the network's: a failed write (a full disk) is
                        # this machine's problem and surfaces as the OSError it is.
                        with self._network_errors():
                            chunk = response.read(_CHUNK)
                        if not chunk:
                            break
                        if have + received + len(chunk) > offer.size:
                            overflow = True
                            break
                        stream.write(chunk)
                        received += len(chunk)
                except _Retryable as exc:
                    # What arrived is kept: the next try asks only for the rest.
                    exc.progressed = received > 0
                    raise
            if overflow:
                part.unlink()
                raise _Retryable(f"the center sent more than the offer's {offer.size} bytes")
            # http.client returns b"" at a premature end instead of raising, so compare with
            # the announced length to tell a cut connection from a complete answer.
            announced = response.getheader("Content-Length")
            if announced is not None and announced.isdigit() and received < int(announced):
                raise _Retryable(
                    f"the connection was cut after {received} of {announced} bytes",
                    progressed=received > 0,
                )

    # ------------------------------------------------------------------------ events

    def post_events(self, bundle: bytes) -> tuple[int, int]:
        """Send an event bundle; return ``(accepted, duplicates)`` as the center counted them.

        Retried on network errors and 5xx: safe, because the center ignores an event id it
        already has. A 4xx (a rejected bundle, a wrong token) raises :class:`CenterRefused`.
        """
        path = "/v1/events"
        url = self._url(path)
        headers = {"Content-Type": "application/zip", "Accept": "application/json"}

        def attempt() -> tuple[int, int]:
            with self._request("POST", path, body=bundle, headers=headers) as response:
                answer = self._read_json(response, url)
            if not isinstance(answer, dict) or not all(
                isinstance(answer.get(k), int) and not isinstance(answer.get(k), bool)
                for k in ("accepted", "duplicates")
            ):
                raise CenterProtocolError(
                    f"the center at {url} did not answer with accepted and duplicates counts"
                )
            return int(answer["accepted"]), int(answer["duplicates"])

        counts: tuple[int, int] = self._with_retries("deliver events", url, attempt)
        return counts


def _check_offer(offer: BundleOffer) -> None:
    if not BUNDLE_ID_RE.fullmatch(offer.bundle_id):
        raise ValueError(f"bundle id {offer.bundle_id!r} is not safe as a file name")
    if offer.size < 0 or not SHA256_RE.fullmatch(offer.sha256):
        raise ValueError(f"offer for {offer.bundle_id} has no valid size and SHA-256")


def _parse_offers(answer: Any, url: str) -> list[BundleOffer]:
    def bad(why: str) -> CenterProtocolError:
        return CenterProtocolError(f"the center at {url} sent a bundle list that {why}")

    if not isinstance(answer, dict) or not isinstance(answer.get("bundles"), list):
        raise bad("is not an object with a bundles list")
    offers: list[BundleOffer] = []
    for n, item in enumerate(answer["bundles"], start=1):
        if not isinstance(item, dict):
            raise bad(f"has entry {n} that is not an object")
        bundle_id, sequence, size, sha = (
            item.get("bundle_id"),
            item.get("sequence"),
            item.get("bytes"),
            item.get("sha256"),
        )
        if not isinstance(bundle_id, str) or not BUNDLE_ID_RE.fullmatch(bundle_id):
            raise bad(f"has entry {n} without a bundle_id safe as a file name")
        for name, value in (("sequence", sequence), ("bytes", size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(f"has entry {n} ({bundle_id}) without a whole-number {name}")
        if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha.lower()):
            raise bad(f"has entry {n} ({bundle_id}) without a 64-digit hex sha256")
        assert isinstance(sequence, int) and isinstance(size, int)
        offers.append(BundleOffer(bundle_id, sequence, size, sha.lower()))
    return offers


def _matches(path: Path, offer: BundleOffer) -> bool:
    """Whether the file at ``path`` has the offer's size and SHA-256."""
    try:
        if path.stat().st_size != offer.size:
            return False
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
    except FileNotFoundError:
        return False
    return digest.hexdigest() == offer.sha256


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)
