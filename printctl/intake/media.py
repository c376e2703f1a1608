"""Photo and signature checks for PRR records (spec ``prr-bundle-v1`` §3).

``photo``: a JPEG that decodes, is portrait and at least 300×400 px. ``signature``: a PNG that
decodes. Checking media is most of the cost of reading a bundle (one JPEG decode per record), so
:class:`MediaChecks` starts checks on worker threads as soon as a member's bytes are read and
hashed, while the main thread goes on reading, hashing and validating record fields. Pillow
releases the GIL while decoding, so this spreads the work over the machine's cores.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image

PHOTO = "photo"
SIGNATURE = "signature"
PHOTO_MIN_WIDTH = 300
PHOTO_MIN_HEIGHT = 400
DEFAULT_MAX_PIXELS = 40_000_000
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Members checked per worker task: large enough to amortise scheduling and GIL hand-offs.
BATCH = 64

_PNG_CHUNK = struct.Struct(">I4s")
_PNG_CRC = struct.Struct(">I")
_PNG_IHDR = struct.Struct(">IIBBBBB")
#: PNG colour type → (channels, allowed bit depths), from the PNG specification.
_PNG_COLOUR = {
    0: (1, (1, 2, 4, 8, 16)),
    2: (3, (8, 16)),
    3: (1, (1, 2, 4, 8)),
    4: (2, (8, 16)),
    6: (4, (8, 16)),
}


def photo_problem(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Why ``data`` is not a usable card photo, or None."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            width, height = img.size
            if width * height > max_pixels:
                return f"is implausibly large ({width}x{height} px)"
            if height <= width:
                return f"is not portrait ({width}x{height} px)"
            if width < PHOTO_MIN_WIDTH or height < PHOTO_MIN_HEIGHT:
                return (
                    f"is too small ({width}x{height} px, "
                    f"needs at least {PHOTO_MIN_WIDTH}x{PHOTO_MIN_HEIGHT})"
                )
            # Decoding at 1/8 scale still entropy-decodes the whole stream, so truncated or
            # corrupt data is caught, at a fraction of the cost of a full decode. Grey output
            # skips colour conversion; the chroma data is still parsed.
            img.draft("L" if img.mode == "RGB" else img.mode, (width // 8, height // 8))
            img.load()
    except Exception as exc:  # Pillow raises many types for bad data; all mean "broken".
        return f"does not decode as a JPEG ({type(exc).__name__})"
    return None


def png_fully_decodes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> bool:
    """True when ``data`` is a complete, non-interlaced PNG whose image data inflates exactly.

    This is a decode without the (infallible) unfiltering step: every chunk's CRC, IHDR, PLTE
    for palette images, the zlib stream inflating to exactly ``height × (1 + row bytes)`` with
    valid filter bytes, and IEND. It costs a fraction of Pillow's ``load()``, which spends
    ~100 µs of Python per small image. False means "not proven": the caller then asks Pillow,
    so nothing Pillow can decode is rejected.
    """
    if not data.startswith(PNG_SIGNATURE):
        return False
    pos = len(PNG_SIGNATURE)
    size = len(data)
    ihdr: tuple[int, int, int, int, int, int, int] | None = None
    has_palette = False
    idat: list[bytes] = []
    while True:
        if pos + 12 > size:
            return False
        length, ctype = _PNG_CHUNK.unpack_from(data, pos)
        body_end = pos + 8 + length
        if body_end + 4 > size:
            return False
        (crc,) = _PNG_CRC.unpack_from(data, body_end)
        if zlib.crc32(data[pos + 4 : body_end]) != crc:
            return False
        if ihdr is None and ctype != b"IHDR":
            return False
        if ctype == b"IHDR":
            if ihdr is not None or length != _PNG_IHDR.size:
                return False
            ihdr = _PNG_IHDR.unpack(data[pos + 8 : body_end])
        elif ctype == b"PLTE":
            has_palette = True
        elif ctype == b"IDAT":
            idat.append(data[pos + 8 : body_end])
        elif ctype == b"IEND":
            break
        pos = body_end + 4
    assert ihdr is not None
    width, height, depth, colour, compression, filtering, interlace = ihdr
    if colour not in _PNG_COLOUR or compression or filtering or interlace:
        return False  # interlaced images are left to Pillow
    channels, depths = _PNG_COLOUR[colour]
    if depth not in depths or (colour == 3 and not has_palette):
        return False
    if not 0 < width * height <= max_pixels or not idat:
        return False
    stride = (width * channels * depth + 7) // 8 + 1
    expected = stride * height
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(idat), expected + 1)
    except zlib.error:
        return False
    if len(raw) != expected or not inflater.eof:
        return False
    return max(raw[::stride]) <= 4  # filter types 0..4


def signature_problem(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Why ``data`` is not a usable signature image, or None."""
    if png_fully_decodes(data, max_pixels):
        return None
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as img:
            width, height = img.size
            if width * height > max_pixels:
                return f"is implausibly large ({width}x{height} px)"
            img.load()
    except Exception as exc:  # see photo_problem
        return f"does not decode as a PNG ({type(exc).__name__})"
    return None


_CHECKS: dict[str, Callable[[bytes, int], str | None]] = {
    PHOTO: photo_problem,
    SIGNATURE: signature_problem,
}
_Key = tuple[str, str]  # (role, member name)


class MediaChecks:
    """Media check results per (role, member), computed ahead on threads or on demand.

    :meth:`submit` queues a member's check in the role a record gives it; :meth:`problem`
    returns the queued result (once: results are not kept, so memory stays bounded by what is
    queued), or checks inline when the member was not queued. Use as a context manager, or
    call :meth:`close`, so that worker threads end.
    """

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS, workers: int | None = None) -> None:
        self._max_pixels = max_pixels
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media-check")
            if workers > 1
            else None
        )
        self._pending: dict[_Key, tuple[Future[list[str | None]], int]] = {}
        self._batch: list[tuple[_Key, bytes]] = []

    def __enter__(self) -> MediaChecks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers, dropping checks nobody will ask for."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
        self._batch.clear()

    def submit(self, role: str, name: str, data: bytes) -> None:
        """Queue a check of member ``name`` as a ``role`` (:data:`PHOTO`, :data:`SIGNATURE`).

        Only with worker threads; without them :meth:`problem` checks inline.
        """
        if self._pool is None:
            return
        self._batch.append(((role, name), data))
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand the queued members to the workers."""
        if self._pool is None or not self._batch:
            return
        batch, self._batch = self._batch, []
        future = self._pool.submit(self._run, [(key[0], data) for key, data in batch])
        for index, (key, _) in enumerate(batch):
            self._pending[key] = (future, index)

    def _run(self, jobs: list[tuple[str, bytes]]) -> list[str | None]:
        return [_CHECKS[role](data, self._max_pixels) for role, data in jobs]

    def forget(self, role: str, name: str) -> None:
        """Drop a queued check nobody will ask for (its record was quarantined before it)."""
        self._pending.pop((role, name), None)

    def problem(self, role: str, name: str, data: bytes | None) -> str | None:
        """Why member ``name`` (``data``, None if absent) is unusable in ``role``, or None."""
        if data is None:
            return "is not a member of this bundle"
        key = (role, name)
        if self._batch and any(queued == key for queued, _ in self._batch):
            self.flush()
        pending = self._pending.pop(key, None)
        if pending is not None:
            future, index = pending
            return future.result()[index]
        return _CHECKS[role](data, self._max_pixels)
