"""Card images to Evolis panel bitmaps and back (spec §3), pure functions.

Orientation. The card design is upright, ``PANEL_SIZE`` = 1016 × 648 (landscape). The
protocol sends 1016 *lines* of 648 pixels; as [DRV] does (``pnmflip -rotate270``) we turn the
upright image 90° clockwise, so line 0 is the design's left edge and the first pixel of a
line (the MSB of its first byte) is the design's *bottom* row. Only a test print can show
which physical edge is which (spec §7); :func:`to_lines` / :func:`from_lines` are the one
place to change it.

K and O (2 levels): 1 bit per pixel, MSB first, **bit 1 = print** (resin or varnish), 81
bytes per line, 82 296 bytes per panel. Compressed (``Dbc``) one line at a time: ``0x00``
white line, ``0xFF`` black line, else ``N`` (1–81) followed by the line's first N bytes,
trailing white bytes trimmed.

Y, M, C (32/64/128 levels; the driver uses 64). Assumptions, all unverified (spec §7):

- **polarity**: the value is the amount of ink, 0 = none (white paper), ``levels - 1`` =
  full, so a blank line is value 0 (which is what the compressed blank-line code encodes);
- **separation**: naive complement, Y = 255 − B, M = 255 − G, C = 255 − R, quantised
  ``round(ink × (levels − 1) / 255)``;
- **packing** (``Db``): pixels packed back to back, most significant bit first, no padding
  (6 bits × 648 = 486 bytes per line at 64 levels);
- **compression** (``Dbc``): each line on its own (runs never cross lines). A code byte
  with flag 0x80 clear is one pixel (value in the low 5/6/7 bits); with the flag set, a
  count byte follows and the value repeats count times, the spare bits between flag and
  value each adding 256 to the count. Flag, value 0 and count 0 is a blank line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image

from drivers.evolis.framing import (
    DEFAULT_DELIMITERS,
    LEVEL_BITS,
    LINE_PIXELS,
    PANEL_LINES,
    Command,
    Delimiters,
    FramingError,
    ambiguous_dbc_payload,
    build_compressed_download,
    build_download,
    line_bytes,
    panel_bytes,
)
from printctl.hardware import PANEL_SIZE, SidePanels

__all__ = [
    "DecodedPanel",
    "PanelError",
    "colour_image",
    "colour_values",
    "compress_levels",
    "compress_mono",
    "decode_download",
    "decompress_levels",
    "decompress_mono",
    "download_commands",
    "from_lines",
    "mono_image",
    "mono_panel",
    "pack_levels",
    "to_lines",
    "unpack_levels",
]

_MONO_LINE = line_bytes(2)  # 81
_INVERT = bytes(255 - b for b in range(256))
_BLANK_LINE = b"\x80\x00"


class PanelError(ValueError):
    """An image or panel payload that does not fit the printer's panel format."""


# --------------------------------------------------------------------------- orientation


def to_lines(image: Image.Image) -> Image.Image:
    """The upright 1016 × 648 design as protocol lines: 648 wide, 1016 tall (90° clockwise)."""
    if image.size != PANEL_SIZE:
        raise PanelError(f"panel image is {image.size[0]}×{image.size[1]}, expected {PANEL_SIZE}")
    return image.transpose(Image.Transpose.ROTATE_270)


def from_lines(image: Image.Image) -> Image.Image:
    """The inverse of :func:`to_lines`: protocol lines back to the upright design."""
    return image.transpose(Image.Transpose.ROTATE_90)


# --------------------------------------------------------------------------- K and O


def mono_panel(image: Image.Image | None, *, blank_prints: bool = False) -> bytes:
    """A 2-level panel (82 296 bytes) from a mode-1 image where black = print.

    ``None`` is a white panel, or a fully printed one with ``blank_prints`` (an overlay
    that is ``None`` means "varnish everywhere", see :class:`~printctl.hardware.SidePanels`).
    """
    if image is None:
        return (b"\xff" if blank_prints else b"\x00") * panel_bytes(2)
    # PIL packs mode 1 MSB first with 1 = white; the printer wants 1 = print, so invert.
    return to_lines(image.convert("1")).tobytes().translate(_INVERT)


def mono_image(data: bytes) -> Image.Image:
    """The inverse of :func:`mono_panel`: an upright mode-1 image, black where printed."""
    if len(data) != panel_bytes(2):
        raise PanelError(f"a 2-level panel is {panel_bytes(2)} bytes, got {len(data)}")
    lines = Image.frombytes("1", (LINE_PIXELS, PANEL_LINES), data.translate(_INVERT))
    return from_lines(lines)


def compress_mono(data: bytes) -> bytes:
    """``Dbc`` data for a 2-level panel: per line 0x00 (white), 0xFF (black) or N + N bytes."""
    if len(data) != panel_bytes(2):
        raise PanelError(f"a 2-level panel is {panel_bytes(2)} bytes, got {len(data)}")
    out = bytearray()
    for index in range(PANEL_LINES):
        out += _mono_line(data[index * _MONO_LINE : (index + 1) * _MONO_LINE])
    if ambiguous_dbc_payload(out):
        # Line 0 began "<digits>;": send it untrimmed so it starts with N = 81 ("Q").
        first = _mono_line(data[:_MONO_LINE])
        out[: len(first)] = bytes([_MONO_LINE]) + data[:_MONO_LINE]
    return bytes(out)


def _mono_line(line: bytes) -> bytes:
    trimmed = line.rstrip(b"\x00")
    if not trimmed:
        return b"\x00"
    if trimmed == b"\xff" * _MONO_LINE:
        return b"\xff"
    return bytes([len(trimmed)]) + trimmed


def decompress_mono(data: bytes) -> bytes:
    """The inverse of :func:`compress_mono`: the full 82 296-byte panel."""
    out = bytearray()
    pos = 0
    for index in range(PANEL_LINES):
        if pos >= len(data):
            raise PanelError(f"compressed panel ends at line {index} of {PANEL_LINES}")
        code = data[pos]
        pos += 1
        if code == 0x00:
            out += bytes(_MONO_LINE)
        elif code == 0xFF:
            out += b"\xff" * _MONO_LINE
        elif code <= _MONO_LINE:
            if pos + code > len(data):
                raise PanelError(f"line {index}: {code} bytes announced, data ends")
            out += data[pos : pos + code] + bytes(_MONO_LINE - code)
            pos += code
        else:
            raise PanelError(f"line {index}: bad line code 0x{code:02X}")
    if pos != len(data):
        raise PanelError(f"{len(data) - pos} bytes after the last line")
    return bytes(out)


# --------------------------------------------------------------------------- Y, M, C


def colour_values(image: Image.Image | None, levels: int) -> tuple[bytes, bytes, bytes]:
    """Y, M and C ink values (one byte per pixel, in line order) from an RGB image."""
    bits = _bits(levels)
    count = LINE_PIXELS * PANEL_LINES
    if image is None:
        blank = bytes(count)
        return blank, blank, blank
    top = (1 << bits) - 1
    # Ink = 255 - channel, quantised to levels: one lookup table per channel via point().
    table = [round((255 - v) * top / 255) for v in range(256)]
    red, green, blue = to_lines(image.convert("RGB")).split()
    return (
        blue.point(table).tobytes(),
        green.point(table).tobytes(),
        red.point(table).tobytes(),
    )


def colour_image(y: bytes, m: bytes, c: bytes, levels: int) -> Image.Image:
    """The inverse of :func:`colour_values`: an upright RGB image (within quantisation)."""
    top = (1 << _bits(levels)) - 1
    table = [255 - round(min(v, top) * 255 / top) for v in range(256)]
    size = (LINE_PIXELS, PANEL_LINES)
    bands = [Image.frombytes("L", size, plane).point(table) for plane in (c, m, y)]
    return from_lines(Image.merge("RGB", bands))


def _bits(levels: int) -> int:
    if levels not in LEVEL_BITS or levels == 2:
        raise PanelError(f"colour levels must be 32, 64 or 128, not {levels}")
    return LEVEL_BITS[levels]


def pack_levels(values: bytes, levels: int) -> bytes:
    """``Db`` data: pixel values packed MSB first, ``bits`` per pixel, no padding."""
    bits = _bits(levels)
    _check_values(values, bits)
    width = line_bytes(levels)
    table = [format(v, f"0{bits}b") for v in range(1 << bits)]
    out = bytearray()
    for index in range(PANEL_LINES):
        line = values[index * LINE_PIXELS : (index + 1) * LINE_PIXELS]
        out += int("".join(map(table.__getitem__, line)), 2).to_bytes(width, "big")
    return bytes(out)


def unpack_levels(data: bytes, levels: int) -> bytes:
    """The inverse of :func:`pack_levels`: one value byte per pixel."""
    bits = _bits(levels)
    width = line_bytes(levels)
    if len(data) != width * PANEL_LINES:
        raise PanelError(f"a {levels}-level panel is {width * PANEL_LINES} bytes, got {len(data)}")
    lookup = {format(v, f"0{bits}b"): v for v in range(1 << bits)}
    out = bytearray()
    total = bits * LINE_PIXELS
    for index in range(PANEL_LINES):
        text = format(
            int.from_bytes(data[index * width : (index + 1) * width], "big"), f"0{total}b"
        )
        out += bytes(lookup[text[i : i + bits]] for i in range(0, total, bits))
    return bytes(out)


def _check_values(values: bytes, bits: int) -> None:
    if len(values) != LINE_PIXELS * PANEL_LINES:
        raise PanelError(f"expected {LINE_PIXELS * PANEL_LINES} pixel values, got {len(values)}")
    if values and max(values) >= 1 << bits:
        raise PanelError(f"a pixel value exceeds {(1 << bits) - 1}")


_RUN = re.compile(rb"(.)\1*", re.DOTALL)


def compress_levels(values: bytes, levels: int) -> bytes:
    """``Dbc`` data for a colour panel: the run-length code described in the module doc."""
    bits = _bits(levels)
    _check_values(values, bits)
    out = bytearray()
    for index in range(PANEL_LINES):
        line = values[index * LINE_PIXELS : (index + 1) * LINE_PIXELS]
        out += _colour_line(line, bits, force_run=False)
    if ambiguous_dbc_payload(out):
        # The first codes read "<digits>;": start line 0 with a run code (flag set) instead.
        first = _colour_line(values[:LINE_PIXELS], bits, force_run=False)
        out[: len(first)] = _colour_line(values[:LINE_PIXELS], bits, force_run=True)
    return bytes(out)


def _colour_line(line: bytes, bits: int, *, force_run: bool) -> bytes:
    if not any(line) and not force_run:
        return _BLANK_LINE
    spare = 7 - bits  # bits between the flag and the value, each worth 256 counts
    most = 255 + 256 * spare
    out = bytearray()
    for match in _RUN.finditer(line):
        value, run = match.group()[0], len(match.group())
        while run:
            take = min(run, most)
            if take < 3 and not force_run:
                out += bytes([value]) * take  # a single-pixel code is never longer
            else:
                extra, count = divmod(take, 256)
                # 0x40 adds 256 at 64 levels; 0x40 and 0x20 add 256 each at 32 levels.
                spare_bits = sum(0x40 >> i for i in range(extra))
                out += bytes([0x80 | spare_bits | value, count])
            force_run = False
            run -= take
    return bytes(out)


def decompress_levels(data: bytes, levels: int) -> bytes:
    """The inverse of :func:`compress_levels`: one value byte per pixel."""
    bits = _bits(levels)
    mask = (1 << bits) - 1
    spare_mask = 0x7F & ~mask
    out = bytearray()
    pos = 0
    for index in range(PANEL_LINES):
        filled = 0
        while filled < LINE_PIXELS:
            if pos >= len(data):
                raise PanelError(f"compressed panel ends in line {index}")
            code = data[pos]
            pos += 1
            if not code & 0x80:
                out.append(code & mask)
                filled += 1
                continue
            if pos >= len(data):
                raise PanelError(f"line {index}: run code without its count")
            count = data[pos] + 256 * bin(code & spare_mask).count("1")
            pos += 1
            if count == 0:
                if filled or code & mask:
                    raise PanelError(f"line {index}: count 0 is only a blank-line code")
                count = LINE_PIXELS
            if filled + count > LINE_PIXELS:
                raise PanelError(f"line {index}: a run crosses the end of the line")
            out += bytes([code & mask]) * count
            filled += count
    if pos != len(data):
        raise PanelError(f"{len(data) - pos} bytes after the last line")
    return bytes(out)


# --------------------------------------------------------------------------- commands


def download_commands(
    side: SidePanels,
    panels: str,
    *,
    levels: int = 64,
    compress: frozenset[str] = frozenset("ko"),
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> list[tuple[str, bytes]]:
    """The framed ``Db``/``Dbc`` command for each panel of ``panels`` (e.g. ``"ymcko"``).

    A missing layer is sent as a white panel (a full one for the overlay) rather than
    skipped: the printer would otherwise print whatever is left in its bitmap memory.
    ``compress`` names the panels sent as ``Dbc`` (default K and O, as [WIN] does).
    """
    out: list[tuple[str, bytes]] = []
    colour = colour_values(side.colour, levels) if any(p in "ymc" for p in panels) else None
    for panel in panels:
        if panel in "ymc":
            assert colour is not None
            values = colour["ymc".index(panel)]
            if panel in compress:
                command = build_compressed_download(
                    panel, levels, compress_levels(values, levels), delimiters=delimiters
                )
            else:
                command = build_download(
                    panel, levels, pack_levels(values, levels), delimiters=delimiters
                )
        elif panel in "ko":
            layer = side.black if panel == "k" else side.overlay
            data = mono_panel(layer, blank_prints=panel == "o")
            if panel in compress:
                command = build_compressed_download(
                    panel, 2, compress_mono(data), delimiters=delimiters
                )
            else:
                command = build_download(panel, 2, data, delimiters=delimiters)
        else:
            raise PanelError(f"unknown panel {panel!r}")
        out.append((panel, command))
    return out


@dataclass(frozen=True)
class DecodedPanel:
    """A panel as the printer stores it after a download.

    ``data`` is the uncompressed panel: packed bits for 2 levels (see :func:`mono_image`),
    one value byte per pixel in line order for colour (see :func:`colour_image`).
    """

    name: str
    levels: int
    data: bytes


def decode_download(command: Command) -> DecodedPanel:
    """Decode a parsed full-panel ``Db``/``Dbc`` command; raises :class:`PanelError`.

    The 4-field ``Dbc`` form must start at line 0 (a partial panel is not supported).
    """
    if command.payload is None or command.name not in ("Db", "Dbc"):
        raise PanelError(f"{command.name} is not a full-panel download")
    panel = command.param(0)
    try:
        levels = int(command.param(1))
    except ValueError:
        raise PanelError(f"bad levels {command.param(1)!r}") from None
    if panel not in ("y", "m", "c", "k", "o") or levels not in LEVEL_BITS:
        raise PanelError(f"bad panel {panel!r} or levels {levels}")
    if command.name == "Dbc" and len(command.params) == 4 and command.param(2) != "0":
        raise PanelError(f"Dbc from line {command.param(2)}: partial panels are not supported")
    if (panel in "ko") != (levels == 2):
        raise PanelError(f"panel {panel} cannot be sent at {levels} levels")
    payload = command.payload
    try:
        if levels == 2:
            data = payload if command.name == "Db" else decompress_mono(payload)
        elif command.name == "Db":
            data = unpack_levels(payload, levels)
        else:
            data = decompress_levels(payload, levels)
    except FramingError as exc:
        raise PanelError(str(exc)) from exc
    return DecodedPanel(panel, levels, data)
