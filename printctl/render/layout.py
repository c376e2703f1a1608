"""From a record to positioned text and images, and from those onto a ReportLab canvas.

Layout is computed once per card (:class:`LayoutEngine`), independent of any output; the one
drawing function, :func:`draw_side`, then puts a :class:`SideLayout` on a canvas with a
selection of layers. The proof PDF and the printer panels are both made by :func:`draw_side`,
so they cannot disagree about where anything is.

Coordinates: templates speak millimetres from the card's top-left corner; the canvas speaks
points from the card's bottom-left corner; panels speak pixels from the panel's top-left
corner, the card's corner sitting at ``template.offset_px``. Images (photo, signature) are
snapped to the panel's pixel grid so that each image pixel is exactly one printer dot.
"""

from __future__ import annotations

import enum
import io
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageOps
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from printctl.domain import RecordData
from printctl.render.art import MM, draw_art
from printctl.render.errors import (
    AddressDoesNotFit,
    FieldDoesNotFit,
    MediaDecodeError,
    NameDoesNotFit,
    TemplateError,
)
from printctl.render.fitting import fit
from printctl.render.fonts import CardFont, resolve_font
from printctl.render.template import Box, FieldBlock, SideSpec, Template

#: Signature strokes are thin; a lighter threshold than for text keeps them joined after
#: downscaling.
SIGNATURE_THRESHOLD = 176

_IMAGE_INSET_PX = 0.01
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELD_ERRORS: Mapping[str, type[FieldDoesNotFit]] = {
    "name": NameDoesNotFit,
    "address": AddressDoesNotFit,
}


class Layer(enum.Flag):
    """Which ribbon panels a drawing is for.

    ``COLOUR`` (Y, M, C): background artwork and the photo. ``BLACK`` (resin K): all text and
    the signature, in pure black. ``PROOF`` is both, as a person checks a card on screen.
    """

    COLOUR = enum.auto()
    BLACK = enum.auto()
    PROOF = COLOUR | BLACK


@dataclass(frozen=True)
class TextRun:
    """One line of text: canvas font name, size (pt), left end of its baseline (pt, card
    coordinates) and its width (pt)."""

    text: str
    font: str
    size: float
    left: float
    y: float
    width: float
    static: bool = False  # the same on every card of this template (labels, fixed text)


@dataclass(frozen=True, eq=False)
class PlacedImage:
    """A prepared image and its box in panel pixels ``(left, top, width, height)``."""

    image: Image.Image
    box: tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class SideLayout:
    """Everything on one side of one card, positioned and ready to draw."""

    side: SideSpec
    texts: tuple[TextRun, ...]
    photo: PlacedImage | None = None
    signature: PlacedImage | None = None


def record_values(record: RecordData, issue_date: date) -> dict[str, str]:
    """The placeholder values of ``record``, as printed: upper-case, dates as dd-mm-yyyy."""

    def clean(value: str) -> str:
        return " ".join(value.split()).upper()

    def padded(value: str) -> str:
        value = clean(value)
        return value.zfill(3) if value.isdigit() else value

    regency = clean(record.regency)
    # Cities are "KOTA …" and keep their name; regencies read "KABUPATEN …" on the card.
    regency_title = (
        regency if regency.startswith(("KOTA ", "KABUPATEN ")) else f"KABUPATEN {regency}"
    )
    valid_until = clean(record.valid_until)
    if _ISO_DATE.match(valid_until):
        valid_until = f"{valid_until[8:10]}-{valid_until[5:7]}-{valid_until[0:4]}"
    return {
        "nik": clean(record.nik),
        "name": clean(record.name),
        "birth_place": clean(record.birth_place),
        "birth_date": record.birth_date.strftime("%d-%m-%Y"),
        "sex": clean(str(record.sex)),
        "blood_type": clean(record.blood_type) or "-",
        "address": clean(record.address),
        "rt": padded(record.rt),
        "rw": padded(record.rw),
        "village": clean(record.village),
        "district": clean(record.district),
        "regency": regency,
        "regency_title": regency_title,
        "province": clean(record.province),
        "religion": clean(record.religion),
        "marital_status": clean(record.marital_status),
        "occupation": clean(record.occupation),
        "citizenship": clean(record.citizenship),
        "valid_until": valid_until,
        "issue_place": clean(record.issue_place),
        "issue_date": issue_date.strftime("%d-%m-%Y"),
        "record_id": clean(record.record_id),
        "version": str(record.version),
    }


class LayoutEngine:
    """Lays cards out for one template; fonts are resolved and static text checked once."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.fonts: dict[str, CardFont] = {
            spec.role: resolve_font(template, spec.role) for spec in template.fonts
        }
        self.card_width = template.width_mm * MM
        self.card_height = template.height_mm * MM
        self._px_per_mm = template.dpi / 25.4
        self._pt_per_px = 72.0 / template.dpi
        for side in (template.front, template.back):
            if side.fields is not None:
                self._check_labels(side.fields)

    # ------------------------------------------------------------------ geometry

    def px_box(self, box: Box, *, aspect: float | None = None) -> tuple[int, int, int, int]:
        """``box`` in panel pixels, snapped to the grid; ``aspect`` (w/h) is kept exactly."""
        ox, oy = self.template.offset_px
        width = round(box.width_mm * self._px_per_mm)
        height = round(width / aspect) if aspect else round(box.height_mm * self._px_per_mm)
        return (
            ox + round(box.x_mm * self._px_per_mm),
            oy + round(box.y_mm * self._px_per_mm),
            width,
            height,
        )

    def box_points(self, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        """A panel-pixel box as canvas ``(x, y, width, height)`` in points.

        The box is pulled in by a hundredth of a pixel on each side: the card's height is not a
        whole number of pixels, and pdfium (single-precision, rounding image bounds outwards)
        would otherwise stretch an image over one extra row and resample it.
        """
        ox, oy = self.template.offset_px
        left, top, width, height = box
        k = self._pt_per_px
        inset = _IMAGE_INSET_PX * k
        return (
            (left - ox) * k + inset,
            self.card_height - (top - oy + height) * k + inset,
            width * k - 2 * inset,
            height * k - 2 * inset,
        )

    def _y(self, baseline_mm: float) -> float:
        return self.card_height - baseline_mm * MM

    # ------------------------------------------------------------------ layout

    def layout(self, record: RecordData, issue_date: date) -> tuple[SideLayout, SideLayout]:
        """Both sides of ``record``'s card. Raises a :class:`RenderError` subclass on failure."""
        values = record_values(record, issue_date)
        front = self.layout_side(self.template.front, values, record.photo, record.signature)
        back = self.layout_side(self.template.back, values, record.photo, record.signature)
        return front, back

    def layout_side(
        self,
        side: SideSpec,
        values: Mapping[str, str],
        photo: bytes | None = None,
        signature: bytes | None = None,
    ) -> SideLayout:
        """Lay out one side from placeholder ``values`` and the record's media bytes."""
        runs: list[TextRun] = []
        for item in side.texts:
            font = self.fonts[item.font]
            text = font.printable(item.text.format_map(values), field=item.id)
            max_width = item.max_width_mm * MM
            fitted = fit(
                text,
                width=max_width,
                size=item.size,
                min_size=item.min_size,
                max_lines=1,
                measure=font.width,
            )
            if fitted is None:
                raise self._does_not_fit(item.id, text, max_width, 1, item.min_size)
            x = item.x_mm * MM
            width = font.width(fitted.lines[0], fitted.size)
            left = {"left": x, "centre": x - width / 2, "right": x - width}[item.align]
            if left < 0 or left + width > self.card_width:
                raise FieldDoesNotFit(f"{item.id} runs off the card", field=item.id)
            runs.append(
                TextRun(
                    fitted.lines[0],
                    font.name,
                    fitted.size,
                    left,
                    self._y(item.baseline_mm),
                    width,
                    static=not _has_placeholders(item.text),
                )
            )
        if side.fields is not None:
            runs.extend(self._layout_fields(side.fields, values))

        placed_photo = placed_signature = None
        if side.photo is not None:
            if photo is None:
                raise MediaDecodeError("the template has a photo box but there is no photo")
            box = self.px_box(side.photo, aspect=3 / 4)
            placed_photo = PlacedImage(prepare_photo(photo, (box[2], box[3])), box)
        if side.signature is not None:
            if signature is None:
                raise MediaDecodeError("the template has a signature box but there is no signature")
            box = self.px_box(side.signature)
            placed_signature = PlacedImage(prepare_signature(signature, (box[2], box[3])), box)
        return SideLayout(side, tuple(runs), placed_photo, placed_signature)

    def _layout_fields(self, block: FieldBlock, values: Mapping[str, str]) -> list[TextRun]:
        label_font = self.fonts[block.label_font]
        value_font = self.fonts[block.value_font]
        runs: list[TextRun] = []
        baseline = block.first_baseline_mm
        for row in block.rows:
            y = self._y(baseline)
            runs.append(_run(label_font, row.label, block.size, block.label_x_mm, y, static=True))
            runs.append(_run(label_font, ":", block.size, block.colon_x_mm, y, static=True))
            text = value_font.printable(row.value.format_map(values), field=row.id)
            right = row.value_right_mm if row.value_right_mm is not None else block.value_right_mm
            width = (right - block.value_x_mm) * MM
            fitted = fit(
                text,
                width=width,
                size=block.size,
                min_size=block.min_size,
                max_lines=row.max_lines,
                measure=value_font.width,
            )
            if fitted is None:
                raise self._does_not_fit(row.id, text, width, row.max_lines, block.min_size)
            for i, line in enumerate(fitted.lines):
                line_y = self._y(baseline + i * block.pitch_mm)
                runs.append(_run(value_font, line, fitted.size, block.value_x_mm, line_y))
            if row.inline is not None:
                inline = row.inline
                runs.append(
                    _run(label_font, inline.label, block.size, inline.label_x_mm, y, static=True)
                )
                runs.append(_run(label_font, ":", block.size, inline.colon_x_mm, y, static=True))
                field_id = f"{row.id}.inline"
                text = value_font.printable(inline.value.format_map(values), field=field_id)
                width = (inline.value_right_mm - inline.value_x_mm) * MM
                inline_fit = fit(
                    text,
                    width=width,
                    size=block.size,
                    min_size=block.min_size,
                    max_lines=1,
                    measure=value_font.width,
                )
                if inline_fit is None:
                    raise self._does_not_fit(field_id, text, width, 1, block.min_size)
                line = inline_fit.lines[0]
                runs.append(_run(value_font, line, inline_fit.size, inline.value_x_mm, y))
            if baseline + (len(fitted.lines) - 1) * block.pitch_mm > block.bottom_mm:
                raise FieldDoesNotFit(
                    f"the field block runs past its bottom at {row.id}", field=row.id
                )
            baseline += len(fitted.lines) * block.pitch_mm
        return runs

    def _does_not_fit(
        self, field: str, text: str, width: float, max_lines: int, min_size: float
    ) -> FieldDoesNotFit:
        # The message names the field and the numbers, never the value: it ends up in logs.
        error = _FIELD_ERRORS.get(field, FieldDoesNotFit)
        lines = "one line" if max_lines == 1 else f"{max_lines} lines"
        return error(
            f"{field} does not fit: {len(text)} characters in {width / MM:.1f} mm, "
            f"even in {lines} at the minimum {min_size:g} pt",
            field=field,
        )

    def _check_labels(self, block: FieldBlock) -> None:
        font = self.fonts[block.label_font]
        for row in block.rows:
            labels = [(row.label, block.colon_x_mm - block.label_x_mm)]
            if row.inline is not None:
                labels.append((row.inline.label, row.inline.colon_x_mm - row.inline.label_x_mm))
            for label, room in labels:
                if font.width(font.printable(label, field="label"), block.size) > room * MM:
                    raise TemplateError(f"label {label!r} overlaps its colon")


def _run(
    font: CardFont, text: str, size: float, left_mm: float, y: float, *, static: bool = False
) -> TextRun:
    return TextRun(text, font.name, size, left_mm * MM, y, font.width(text, size), static)


def _has_placeholders(text: str) -> bool:
    return any(field is not None for _, field, _, _ in string.Formatter().parse(text))


# --------------------------------------------------------------------------- media


def prepare_photo(data: bytes, size: tuple[int, int]) -> Image.Image:
    """Decode the portrait, turn it upright, crop it to the box's aspect and scale it (RGB)."""
    try:
        opened = Image.open(io.BytesIO(data))
        # Decode at a reduced JPEG scale when the photo is much larger than the box: the
        # square bound keeps the draft large enough whatever the EXIF orientation.
        bound = max(size)
        opened.draft("RGB", (bound, bound))
        image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaDecodeError(f"the photo does not decode: {exc}") from exc
    # Bicubic: indistinguishable from Lanczos at this modest downscale on a dye-sublimation
    # print, and a millisecond cheaper per card.
    return ImageOps.fit(image, size, Image.Resampling.BICUBIC, centering=(0.5, 0.4))


def prepare_signature(data: bytes, size: tuple[int, int]) -> Image.Image:
    """Decode the signature, trim it to its ink, fit it centred in ``size``; mode ``1``."""
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaDecodeError(f"the signature does not decode: {exc}") from exc
    image: Image.Image = opened
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    grey = image.convert("L")
    ink = grey.point(lambda v: 255 if v < SIGNATURE_THRESHOLD else 0).getbbox()
    canvas = Image.new("L", size, 255)
    if ink is not None:
        grey = grey.crop(ink)
        scale = min(size[0] / grey.width, size[1] / grey.height)
        scaled = grey.resize(
            (max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
            Image.Resampling.BOX,  # area average: thin strokes turn grey, not lost
        )
        canvas.paste(scaled, ((size[0] - scaled.width) // 2, (size[1] - scaled.height) // 2))
    return canvas.point(lambda v: 255 if v >= SIGNATURE_THRESHOLD else 0, mode="1")


# --------------------------------------------------------------------------- drawing


def draw_side(
    canvas: Canvas,
    engine: LayoutEngine,
    layout: SideLayout,
    layers: Layer,
    *,
    art_form: str | None = None,
    images: bool = True,
    static_text: bool | None = None,
) -> None:
    """Draw one side in card coordinates onto ``canvas``, only the selected ``layers``.

    ``art_form`` names a form XObject already holding this side's artwork (a proof reuses one
    per document instead of repeating thousands of path segments on every page).
    ``images=False`` leaves out the photo and signature: the panel path pastes those
    prepared bitmaps straight onto their pixel boxes, which is exact and faster than a trip
    through PDF. ``static_text`` draws only the runs that are the same on every card (True)
    or only those that vary (False); ``None`` draws all.
    """
    if Layer.COLOUR in layers:
        if art_form is not None:
            canvas.doForm(art_form)
        else:
            draw_art(canvas, engine.template, layout.side)
        if images and layout.photo is not None:
            x, y, w, h = engine.box_points(layout.photo.box)
            canvas.drawImage(ImageReader(layout.photo.image), x, y, w, h)
    if Layer.BLACK in layers:
        canvas.setFillColorRGB(0, 0, 0)  # resin black: K prints pure black or nothing
        # One text object for the whole side: far less PDF syntax than a BT/ET per line.
        text = canvas.beginText()
        font: tuple[str, float] | None = None
        for run in layout.texts:
            if static_text is not None and run.static != static_text:
                continue
            if font != (run.font, run.size):
                font = (run.font, run.size)
                text.setFont(run.font, run.size)
            text.setTextOrigin(run.left, run.y)
            text.textOut(run.text)
        canvas.drawText(text)
        if images and layout.signature is not None:
            x, y, w, h = engine.box_points(layout.signature.box)
            canvas.drawImage(
                ImageReader(_ink_rgba(layout.signature.image)), x, y, w, h, mask="auto"
            )


def _ink_rgba(bitmap: Image.Image) -> Image.Image:
    """A mode-``1`` bitmap as black ink on a transparent ground, so the proof shows the art."""
    alpha = ImageOps.invert(bitmap.convert("L"))
    ink = Image.new("RGBA", bitmap.size, (0, 0, 0, 0))
    ink.putalpha(alpha)
    return ink
