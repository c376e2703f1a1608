"""Shared fixtures for the renderer tests: records with Pillow-drawn portrait and signature."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from PIL import Image, ImageDraw

from printctl.center.sample import sample_record
from printctl.domain import RecordData

ISSUE_DATE = date(2026, 3, 14)


def portrait_jpeg(seed: int = 0) -> bytes:
    """A 360×480 portrait JPEG: red studio ground, a face and shoulders (no real person)."""
    image = Image.new("RGB", (360, 480), (200, 30, 40))
    draw = ImageDraw.Draw(image)
    skin = (224 - seed % 40, 172, 140)
    draw.ellipse((40, 330, 320, 620), fill=(30, 30, 60))  # shoulders
    draw.rectangle((150, 280, 210, 360), fill=skin)  # neck
    draw.ellipse((100, 90, 260, 300), fill=skin)  # face
    draw.ellipse((95, 70, 265, 170), fill=(25, 20, 20))  # hair
    draw.ellipse((140, 170, 160, 185), fill=(20, 20, 20))
    draw.ellipse((200, 170, 220, 185), fill=(20, 20, 20))
    draw.arc((150, 220, 210, 260), 20, 160, fill=(120, 40, 40), width=4)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def signature_png() -> bytes:
    """A 400×150 PNG signature: a black scribble on a transparent ground."""
    image = Image.new("RGBA", (400, 150), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    points = [(20, 110), (60, 30), (90, 120), (130, 40), (160, 100), (200, 60), (240, 90)]
    draw.line(points, fill=(0, 0, 0, 255), width=6, joint="curve")
    draw.line([(230, 100), (380, 70)], fill=(0, 0, 0, 255), width=5)
    draw.ellipse((280, 30, 330, 80), outline=(0, 0, 0, 255), width=5)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


_PHOTO = portrait_jpeg()
_SIGNATURE = signature_png()


def make_record(**overrides: Any) -> RecordData:
    """The spec's sample record (SITI AMINAH, Kuantan Singingi) with ``overrides`` applied."""
    return sample_record(**{"photo": _PHOTO, "signature": _SIGNATURE, **overrides})


#: A 60-character name (the spec's maximum), in words as names are.
LONG_NAME = "MUHAMMAD ABDURRAHMAN WAHYUDI SAPUTRA KUSUMANEGARA PRAWIROHAD"
assert len(LONG_NAME) == 60
