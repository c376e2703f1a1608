"""The technician's test card: a calibration pattern for checking a printer's panels.

Front: colour layer with a grey ramp (0–100 % in eleven steps) and primary/secondary colour
patches; black (resin) layer with a frame 1 mm inside the card edge, corner marks at the
edge, text, and a grid of 1-pixel lines every 10 px (drawn straight onto the panel, so each
line is exactly one printer dot wide). Back: frame and text, to check duplex registration.
Nothing on it is personal data.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from reportlab.pdfgen.canvas import Canvas

from printctl.hardware import CardImage, SidePanels
from printctl.render.art import MM
from printctl.render.card import CardRenderer, default_template, renderer_for
from printctl.render.raster import rasterise
from printctl.render.template import Box, Template

#: Where the 1-pixel grid sits on the front, in mm from the card's top-left corner.
GRID_BOX = Box(x_mm=56.0, y_mm=8.0, width_mm=26.0, height_mm=26.0)
GRID_STEP_PX = 10

_PATCHES = (
    ("C", (0, 174, 239)),
    ("M", (236, 0, 140)),
    ("Y", (255, 242, 0)),
    ("R", (237, 28, 36)),
    ("G", (0, 166, 81)),
    ("B", (46, 49, 146)),
)


def render_test_card(template: Template | None = None, *, back: bool = True) -> CardImage:
    """Render the calibration card for ``template`` (default: ``ektp``); ``back`` adds side 2."""
    renderer = renderer_for(template or default_template())
    colour_pdf, black_pdf = _draw(renderer, back=back)
    tpl = renderer.template
    scale = tpl.dpi / 72.0
    offset = (float(tpl.offset_px[0]), float(tpl.offset_px[1]))
    colours = list(
        rasterise(colour_pdf, size=tpl.panel_px, scale=scale, offset=offset, black=False)
    )
    blacks = list(
        rasterise(
            black_pdf,
            size=tpl.panel_px,
            scale=scale,
            offset=offset,
            black=True,
            threshold=tpl.threshold,
        )
    )
    _grid(blacks[0], renderer)
    front = SidePanels(colour=colours[0], black=blacks[0])
    back_panels = SidePanels(colour=colours[1], black=blacks[1]) if back else None
    return CardImage(front=front, back=back_panels, label="test-card")


def _draw(renderer: CardRenderer, *, back: bool) -> tuple[bytes, bytes]:
    engine = renderer.engine
    width, height = engine.card_width, engine.card_height
    regular = engine.fonts["regular"].name
    bold = engine.fonts["bold"].name
    colour_buf, black_buf = io.BytesIO(), io.BytesIO()
    colour = Canvas(colour_buf, pagesize=(width, height), invariant=1)
    black = Canvas(black_buf, pagesize=(width, height), invariant=1)
    sides = ("SISI DEPAN / FRONT", "SISI BELAKANG / BACK") if back else ("SISI DEPAN / FRONT",)
    for index, side_name in enumerate(sides):
        if index == 0:
            _ramp(colour, width)
        black.setStrokeColorRGB(0, 0, 0)
        black.setFillColorRGB(0, 0, 0)
        black.setLineWidth(0.3 * MM)
        black.rect(1 * MM, 1 * MM, width - 2 * MM, height - 2 * MM, stroke=1, fill=0)
        # Corner marks touching the card edge show how much of the bleed the printer lost.
        for cx, cy, dx, dy in (
            (0, 0, 1, 1),
            (width, 0, -1, 1),
            (0, height, 1, -1),
            (width, height, -1, -1),
        ):
            black.line(cx, cy, cx + dx * 4 * MM, cy)
            black.line(cx, cy, cx, cy + dy * 4 * MM)
        black.setFont(bold, 10)
        black.drawString(4 * MM, height - 7 * MM, "PRINTCTL TEST CARD")
        black.setFont(regular, 6)
        black.drawString(4 * MM, height - 10.5 * MM, side_name)
        black.drawString(4 * MM, height - 13.5 * MM, f"template {renderer.template.label}")
        for i, size in enumerate((4, 5, 6, 8)):
            black.setFont(regular, size)
            black.drawString(
                4 * MM, height - (18.5 + i * 3.4) * MM, f"{size} pt ABCDEFGH 0123456789"
            )
        colour.showPage()
        black.showPage()
    colour.save()
    black.save()
    return colour_buf.getvalue(), black_buf.getvalue()


def _ramp(canvas: Canvas, width: float) -> None:
    steps = 11
    patch = (width - 8 * MM) / steps
    for i in range(steps):
        level = 1 - i / (steps - 1)
        canvas.setFillColorRGB(level, level, level)
        canvas.rect(4 * MM + i * patch, 9 * MM, patch, 6 * MM, stroke=0, fill=1)
    for i, (_, rgb) in enumerate(_PATCHES):
        canvas.setFillColorRGB(*(c / 255 for c in rgb))
        canvas.rect(4 * MM + i * patch, 2.5 * MM, patch, 5 * MM, stroke=0, fill=1)


def _grid(panel: Image.Image, renderer: CardRenderer) -> None:
    left, top, width, height = renderer.engine.px_box(GRID_BOX)
    draw = ImageDraw.Draw(panel)
    for x in range(left, left + width + 1, GRID_STEP_PX):
        draw.line([(x, top), (x, top + height)], fill=0, width=1)
    for y in range(top, top + height + 1, GRID_STEP_PX):
        draw.line([(left, y), (left + width, y)], fill=0, width=1)
