"""Evolis panel bitmaps: orientation, packing, compression and their inverses."""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageDraw

from drivers.evolis.framing import FramingError, panel_bytes, parse_stream
from drivers.evolis.panels import (
    PanelError,
    colour_image,
    colour_values,
    compress_levels,
    compress_mono,
    decode_download,
    decompress_levels,
    decompress_mono,
    download_commands,
    mono_image,
    mono_panel,
    pack_levels,
    unpack_levels,
)
from printctl.hardware import PANEL_SIZE, SidePanels

PIXELS = 648 * 1016


def _noise_mono(seed: int) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("1", PANEL_SIZE, rng.randbytes(PANEL_SIZE[0] * PANEL_SIZE[1] // 8))


def _noise_values(rng: random.Random, bits: int, count: int) -> bytes:
    return rng.randbytes(count).translate(bytes(b & ((1 << bits) - 1) for b in range(256)))


def test_a_black_pixel_lands_where_drv_puts_it() -> None:
    """Upright (x, y) goes to line x, pixel 647 − y, MSB first, bit 1 = print (spec §3)."""
    image = Image.new("1", PANEL_SIZE, 1)
    image.putpixel((10, 647), 0)  # bottom row: first pixel of line 10
    image.putpixel((1015, 0), 0)  # top row: last pixel of the last line
    data = mono_panel(image)
    assert len(data) == 82_296
    assert data[10 * 81] == 0x80
    assert data[-1] == 0x01
    assert data.count(0) == len(data) - 2


def test_mono_round_trip_is_pixel_for_pixel() -> None:
    """mono_image(mono_panel(img)) gives back the very same pixels."""
    image = _noise_mono(1)
    assert mono_image(mono_panel(image)).tobytes() == image.tobytes()


def test_missing_layers_are_white_or_full_overlay() -> None:
    """No K layer is a white panel; no overlay means varnish everywhere."""
    assert mono_panel(None) == bytes(panel_bytes(2))
    assert mono_panel(None, blank_prints=True) == b"\xff" * panel_bytes(2)


def test_mono_compression_uses_white_black_and_trimmed_lines() -> None:
    """0x00 is a white line, 0xFF a black one, N + N bytes a line trimmed of trailing white."""
    data = bytearray(panel_bytes(2))
    data[81:162] = b"\xff" * 81
    data[162] = 0x01
    data[162 + 4] = 0x80
    packed = compress_mono(bytes(data))
    assert packed[:2] == b"\x00\xff"
    assert packed[2:8] == bytes([5, 0x01, 0, 0, 0, 0x80])
    assert len(packed) == 2 + 6 + 1013
    assert decompress_mono(packed) == bytes(data)


def test_mono_compression_round_trips_noise() -> None:
    """Compression and decompression are exact inverses on arbitrary panels."""
    data = mono_panel(_noise_mono(2))
    assert decompress_mono(compress_mono(data)) == data


def test_mono_compression_never_looks_like_the_start_line_form() -> None:
    """A first line that would start ``'1';'`` is sent untrimmed (N = 81) instead."""
    data = bytearray(panel_bytes(2))
    data[0:2] = b"2;"
    data[48] = 1  # last non-white byte at 49 → N = 49 = '1'
    packed = compress_mono(bytes(data))
    assert packed[0] == 81
    assert decompress_mono(packed) == bytes(data)


def test_bad_compressed_panels_are_refused() -> None:
    """Short data, bad line codes and trailing bytes raise PanelError."""
    with pytest.raises(PanelError):
        decompress_mono(b"\x00" * 10)
    with pytest.raises(PanelError):
        decompress_mono(b"\x52" + b"\x00" * 2000)
    with pytest.raises(PanelError):
        decompress_mono(b"\x00" * 1017)


@pytest.mark.parametrize(("levels", "size"), [(32, 411_480), (64, 493_776), (128, 576_072)])
def test_colour_packing_round_trips(levels: int, size: int) -> None:
    """Values pack MSB first with no padding to the spec's panel size, and unpack back."""
    bits = {32: 5, 64: 6, 128: 7}[levels]
    rng = random.Random(levels)
    values = _noise_values(rng, bits, PIXELS)
    packed = pack_levels(values, levels)
    assert len(packed) == size
    assert unpack_levels(packed, levels) == values


def test_six_bit_packing_is_msb_first() -> None:
    """At 64 levels the first four pixels 63, 0, 63, 0 pack into FC 0F C0."""
    values = bytes([63, 0, 63, 0]) + bytes(PIXELS - 4)
    assert pack_levels(values, 64)[:3] == bytes([0xFC, 0x0F, 0xC0])


def test_colour_compression_codes() -> None:
    """Blank line = 80 00; a run sets the flag and a count byte; 0x40 adds 256 at 64 levels."""
    values = bytearray(PIXELS)
    values[648 : 648 + 300] = bytes([5]) * 300
    values[648 + 300 : 648 * 2] = bytes([7]) * 2 + bytes(346)
    packed = compress_levels(bytes(values), 64)
    assert packed[:2] == b"\x80\x00"
    assert packed[2:4] == bytes([0x80 | 0x40 | 5, 300 - 256])
    assert packed[4:6] == bytes([7, 7])  # short runs go out as single pixels
    assert packed[6:8] == bytes([0x80 | 0x40, 346 - 256])
    assert decompress_levels(packed, 64) == bytes(values)


@pytest.mark.parametrize("levels", [32, 64, 128])
def test_colour_compression_round_trips_long_runs_and_noise(levels: int) -> None:
    """Runs longer than one count (767/511/255) split correctly and decode back exactly."""
    bits = {32: 5, 64: 6, 128: 7}[levels]
    rng = random.Random(levels)
    top = (1 << bits) - 1
    values = bytes([top]) * 300_000 + _noise_values(rng, bits, PIXELS - 300_000)
    assert decompress_levels(compress_levels(values, levels), levels) == values


def test_colour_compression_spare_bits_at_32_levels() -> None:
    """At 32 levels a run of 648 uses both spare bits (0x40 + 0x20 = 512) plus 136."""
    values = bytes([3]) * PIXELS
    packed = compress_levels(values, 32)
    assert packed[:2] == bytes([0x80 | 0x60 | 3, 648 - 512])


def test_colour_polarity_is_ink_amount() -> None:
    """White is no ink (0); cyan is full C and no M/Y; black is full everywhere."""
    image = Image.new("RGB", PANEL_SIZE, "white")
    ImageDraw.Draw(image).rectangle((0, 0, 9, 647), fill=(0, 255, 255))
    image.putpixel((1015, 0), (0, 0, 0))
    y, m, c = colour_values(image, 64)
    assert (y[0], m[0], c[0]) == (0, 0, 63)
    assert (y[-1], m[-1], c[-1]) == (63, 63, 63)
    assert y[648 * 500] == m[648 * 500] == c[648 * 500] == 0


def test_colour_round_trip_is_within_quantisation() -> None:
    """RGB → Y/M/C at 64 levels → RGB differs by at most 2 per channel (255/63/2)."""
    rng = random.Random(3)
    image = Image.frombytes("RGB", PANEL_SIZE, rng.randbytes(PANEL_SIZE[0] * PANEL_SIZE[1] * 3))
    y, m, c = colour_values(image, 64)
    back = colour_image(y, m, c, 64)
    assert max(abs(a - b) for a, b in zip(image.tobytes(), back.tobytes(), strict=True)) <= 2


def test_download_commands_decode_back() -> None:
    """Every framed panel parses and decodes to what was encoded (K exact, colour quantised)."""
    black = _noise_mono(4)
    side = SidePanels(colour=Image.new("RGB", PANEL_SIZE, (255, 0, 0)), black=black)
    commands = download_commands(side, "ymcko", compress=frozenset("ymcko"))
    assert [panel for panel, _ in commands] == list("ymcko")
    parsed = parse_stream(b"".join(raw for _, raw in commands))
    decoded = {c.param(0): decode_download(c) for c in parsed}
    assert mono_image(decoded["k"].data).tobytes() == black.tobytes()
    assert decoded["o"].data == b"\xff" * panel_bytes(2)
    assert set(decoded["c"].data) == {0}
    assert set(decoded["y"].data) == set(decoded["m"].data) == {63}


def test_wrong_sizes_and_bad_downloads_are_refused() -> None:
    """A layer of the wrong size, or a download that does not decode, raises PanelError."""
    with pytest.raises(PanelError):
        mono_panel(Image.new("1", (100, 100)))
    (bad,) = parse_stream(b"\x1bDbc;k;2;3;\x52\x00\x00\r")
    with pytest.raises(PanelError):
        decode_download(bad)
    (mismatch,) = parse_stream(b"\x1bDbc;y;2;1;\x00\r")
    with pytest.raises((PanelError, FramingError)):
        decode_download(mismatch)
