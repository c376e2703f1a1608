"""Synthetic card media for the fake center: portrait JPEGs and signature PNGs.

Portraits are head-and-shoulders drawings on the e-KTP backdrop (red for people born in odd
years, blue for even years, as Dukcapil photo rules have it), 360×480 px, about 10–20 KB like a
real enrolment photo. Drawing and encoding cost a few milliseconds, so a few dozen variants are
rendered once per process and reused; each record still gets distinct bytes (and so a distinct
SHA-256) by stamping its record id into a JPEG comment / PNG text chunk, which needs no
re-encoding and keeps the image valid.
"""

from __future__ import annotations

import functools
import io
import itertools
import random
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter

PHOTO_SIZE = (360, 480)
SIGNATURE_SIZE = (300, 120)
PHOTO_VARIANTS = 48
SIGNATURE_VARIANTS = 32

RED_BACKDROP = (200, 24, 30)
BLUE_BACKDROP = (20, 70, 170)
_SKIN = ((241, 204, 170), (224, 180, 140), (198, 150, 110), (170, 120, 85), (140, 95, 65))
_HAIR = ((20, 18, 16), (35, 28, 22), (55, 40, 30), (90, 90, 90), (200, 200, 200))
_CLOTHES = (
    (250, 250, 250),
    (30, 30, 35),
    (40, 60, 120),
    (120, 30, 40),
    (60, 100, 70),
    (200, 170, 90),
)
_HIJAB = ((245, 245, 240), (30, 30, 40), (110, 40, 80), (40, 70, 110), (150, 120, 90))
_INK = ((10, 10, 10), (15, 25, 90), (30, 30, 60))


@functools.lru_cache(maxsize=1)
def _vignette() -> Image.Image:
    return (
        Image.radial_gradient("L")
        .resize((PHOTO_SIZE[0] * 3 // 2, PHOTO_SIZE[1] * 3 // 2))
        .crop(
            (PHOTO_SIZE[0] // 4, PHOTO_SIZE[1] // 4, PHOTO_SIZE[0] * 5 // 4, PHOTO_SIZE[1] * 5 // 4)
        )
    )


def _chaikin(points: list[tuple[float, float]], rounds: int) -> list[tuple[float, float]]:
    """Corner-cutting smoothing: turns a jagged random walk into a pen-like curve."""
    for _ in range(rounds):
        smooth = [points[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            smooth.append((0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1))
            smooth.append((0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1))
        smooth.append(points[-1])
        points = smooth
    return points


def _draw_portrait(variant: int, backdrop: tuple[int, int, int], woman: bool) -> Image.Image:
    rng = random.Random(f"portrait:{variant}:{backdrop}:{woman}")
    w = PHOTO_SIZE[0]
    img = Image.new("RGB", PHOTO_SIZE, backdrop)
    d = ImageDraw.Draw(img)
    skin = rng.choice(_SKIN)
    hair = rng.choice(_HAIR[:3] if rng.random() < 0.85 else _HAIR)
    clothes = rng.choice(_CLOTHES)
    cx = w // 2 + rng.randint(-12, 12)
    head_w = rng.randint(124, 150)
    head_h = int(head_w * rng.uniform(1.22, 1.36))
    top = rng.randint(70, 100)
    hijab = woman and rng.random() < 0.6

    # Shoulders and torso, then collar: drawn first so the neck and head overlap them.
    shoulder_y = top + head_h + rng.randint(15, 35)
    d.ellipse((cx - 200, shoulder_y, cx + 200, shoulder_y + 260), fill=clothes)
    d.rectangle((cx - 30, top + head_h - 25, cx + 30, shoulder_y + 30), fill=skin)
    if not hijab:
        collar = tuple(max(0, c - 35) for c in clothes)
        d.polygon(
            [(cx - 45, shoulder_y + 5), (cx, shoulder_y + 60), (cx + 45, shoulder_y + 5)],
            fill=collar if clothes != (250, 250, 250) else (225, 225, 225),
        )
        d.polygon([(cx - 28, shoulder_y), (cx, shoulder_y + 45), (cx + 28, shoulder_y)], fill=skin)
    if hijab:
        cloth = rng.choice(_HIJAB)
        d.ellipse(
            (cx - head_w // 2 - 28, top - 28, cx + head_w // 2 + 28, top + head_h + 40),
            fill=cloth,
        )
        d.polygon(
            [
                (cx - head_w // 2 - 40, top + head_h // 2),
                (cx + head_w // 2 + 40, top + head_h // 2),
                (cx + 150, shoulder_y + 110),
                (cx - 150, shoulder_y + 110),
            ],
            fill=cloth,
        )
    elif rng.random() < 0.9:
        # Hair: a cap over the crown, longer at the sides for some.
        long_hair = woman and rng.random() < 0.8
        bottom = top + (head_h + 60 if long_hair else head_h // 2 + 10)
        d.ellipse((cx - head_w // 2 - 10, top - 18, cx + head_w // 2 + 10, bottom), fill=hair)
    d.ellipse((cx - head_w // 2, top, cx + head_w // 2, top + head_h), fill=skin)
    if not hijab and rng.random() < 0.9:
        d.chord(
            (cx - head_w // 2 - 4, top - 14, cx + head_w // 2 + 4, top + head_h // 2),
            180,
            360,
            fill=hair,
        )
    # Ears, eyes, brows, nose, mouth.
    ey = top + int(head_h * 0.48)
    if not hijab:
        for side in (-1, 1):
            ex = cx + side * (head_w // 2)
            d.ellipse((ex - 9, ey - 4, ex + 9, ey + 26), fill=skin)
    eye_dx = head_w // 5
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse((ex - 12, ey - 5, ex + 12, ey + 6), fill=(250, 250, 245))
        d.ellipse((ex - 5, ey - 5, ex + 5, ey + 5), fill=(40, 25, 15))
        d.line(
            (ex - 16, ey - 16, ex + 14, ey - 18),
            fill=hair if hair != (200, 200, 200) else (60, 60, 60),
            width=4,
        )
    nose_shade = tuple(max(0, c - 40) for c in skin)
    d.line((cx, ey + 8, cx - 6, ey + 36, cx + 6, ey + 38), fill=nose_shade, width=3)
    my = ey + 58
    d.line((cx - 20, my, cx, my + rng.randint(0, 4), cx + 20, my), fill=(150, 70, 70), width=4)
    if not woman and rng.random() < 0.25:
        d.arc((cx - 30, my - 14, cx + 30, my + 4), 200, 340, fill=hair, width=6)  # moustache

    # Camera noise and softness: flat fills would compress to a few KB, unlike real photos.
    # Studio light: a soft vignette darkens the edges, as with a real flash and backdrop.
    vignette = _vignette()
    img = Image.composite(Image.blend(img, Image.new("RGB", PHOTO_SIZE, 0), 0.35), img, vignette)
    noise = Image.effect_noise(PHOTO_SIZE, rng.uniform(10, 16)).convert("RGB")
    img = Image.blend(img, noise, 0.09)
    return img.filter(ImageFilter.GaussianBlur(0.6))


@functools.lru_cache(maxsize=4 * PHOTO_VARIANTS)
def _portrait_jpeg(variant: int, red: bool, woman: bool) -> bytes:
    img = _draw_portrait(variant, RED_BACKDROP if red else BLUE_BACKDROP, woman)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def _stamp_jpeg(jpeg: bytes, text: str) -> bytes:
    """Insert a COM segment right after SOI: distinct bytes, identical pixels."""
    payload = text.encode("utf-8")[:60000]
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def portrait_jpeg(rng: random.Random, *, birth_year: int, woman: bool, stamp: str = "") -> bytes:
    """A valid 360×480 portrait JPEG; backdrop red for odd birth years, blue for even ones."""
    data = _portrait_jpeg(rng.randrange(PHOTO_VARIANTS), birth_year % 2 == 1, woman)
    return _stamp_jpeg(data, stamp) if stamp else data


def _draw_signature(variant: int) -> Image.Image:
    rng = random.Random(f"signature:{variant}")
    w, h = SIGNATURE_SIZE
    transparent = rng.random() < 0.5
    img = Image.new("LA" if transparent else "L", SIGNATURE_SIZE, (255, 0) if transparent else 255)
    d = ImageDraw.Draw(img)
    ink = rng.choice(_INK)
    grey = int(0.299 * ink[0] + 0.587 * ink[1] + 0.114 * ink[2])
    colour: tuple[int, int] | int = (grey, 255) if transparent else grey
    x, y = rng.uniform(20, 50), rng.uniform(40, 80)
    points = [(x, y)]
    # A random walk that drifts right with loops: reads as a hand-written scribble.
    for _ in range(rng.randint(12, 22)):
        x = min(w - 10, max(10, x + rng.uniform(-18, 26)))
        y = min(h - 10, max(10, y + rng.uniform(-30, 30)))
        points.append((x, y))
    d.line(_chaikin(points, 3), fill=colour, width=rng.choice((2, 3)), joint="curve")
    if rng.random() < 0.7:
        y0 = rng.uniform(75, 105)
        d.line(
            (rng.uniform(20, 80), y0, rng.uniform(180, 280), y0 + rng.uniform(-8, 8)),
            fill=colour,
            width=2,
        )
    return img


@functools.lru_cache(maxsize=SIGNATURE_VARIANTS)
def _signature_png(variant: int) -> bytes:
    out = io.BytesIO()
    _draw_signature(variant).save(out, "PNG", optimize=True)
    return out.getvalue()


def _stamp_png(png: bytes, text: str) -> bytes:
    """Insert a tEXt chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    body = b"Comment\x00" + text.encode("latin-1", "replace")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


def signature_png(rng: random.Random, *, stamp: str = "") -> bytes:
    """A valid signature PNG (300×120, white or transparent background)."""
    data = _signature_png(rng.randrange(SIGNATURE_VARIANTS))
    return _stamp_png(data, stamp) if stamp else data


# --- deliberately bad media, for the bad-record kinds ---------------------------------------


def landscape_jpeg() -> bytes:
    """A decodable JPEG wider than tall (480×360): must be quarantined as not portrait."""
    out = io.BytesIO()
    _draw_portrait(0, BLUE_BACKDROP, False).rotate(90, expand=True).save(out, "JPEG", quality=70)
    return out.getvalue()


def small_jpeg() -> bytes:
    """A decodable portrait JPEG below 300×400 (240×320)."""
    out = io.BytesIO()
    _draw_portrait(1, RED_BACKDROP, True).resize((240, 320)).save(out, "JPEG", quality=70)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """A valid JPEG header with its scan data cut short: opens, but does not decode."""
    data = _portrait_jpeg(2, True, False)
    return data[: len(data) * 6 // 10]


def png_as_photo() -> bytes:
    """A valid PNG where a JPEG is required."""
    out = io.BytesIO()
    _draw_portrait(3, RED_BACKDROP, True).save(out, "PNG")
    return out.getvalue()


def broken_png() -> bytes:
    """A PNG whose image data is corrupt: the header parses, decoding fails."""
    data = _signature_png(0)
    idat = data.find(b"IDAT")
    return (
        data[: idat + 4] + bytes(b ^ 0x5A for b in data[idat + 4 : idat + 40]) + data[idat + 40 :]
    )
