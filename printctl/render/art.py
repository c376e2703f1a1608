"""Procedural card artwork: the light-blue guilloche background and a simple emblem.

Drawn with ReportLab in card coordinates (points, origin at the card's bottom-left corner), so
the same drawing serves the proof PDF (as one form XObject per document) and the colour panel
(rasterised once per template and cached). The background runs past the card's edges so that
the printer's slightly larger bitmap prints edge to edge. The emblem is an original shape (ring,
rosette, shield and star), not a reproduction of any official artwork.
"""

from __future__ import annotations

import math

from reportlab.lib.colors import HexColor
from reportlab.pdfgen.canvas import Canvas

from printctl.render.template import SideSpec, Template

MM = 72.0 / 25.4
#: How far the artwork runs past each card edge, in points (the printer bitmap bleeds ~1 mm).
BLEED_PT = 3.0 * MM


def draw_art(canvas: Canvas, template: Template, side: SideSpec) -> None:
    """Draw ``side``'s background artwork (colour layer only) onto ``canvas``."""
    width = template.width_mm * MM
    height = template.height_mm * MM
    canvas.saveState()
    path = canvas.beginPath()
    path.rect(-BLEED_PT, -BLEED_PT, width + 2 * BLEED_PT, height + 2 * BLEED_PT)
    canvas.clipPath(path, stroke=0, fill=0)
    canvas.linearGradient(
        0,
        height,
        0,
        0,
        (
            HexColor(template.colour("background_top")),
            HexColor(template.colour("background_bottom")),
        ),
        extend=True,
    )
    if side.art.pattern == "guilloche":
        _waves(canvas, template, width, height)
    art = side.art
    _emblem(
        canvas,
        template,
        art.emblem_colour,
        art.emblem_x_mm * MM,
        height - art.emblem_y_mm * MM,
        art.emblem_radius_mm * MM,
    )
    canvas.restoreState()


def _waves(canvas: Canvas, template: Template, width: float, height: float) -> None:
    """Two families of sine waves whose beat makes the moiré of a security background."""
    step = 0.6 * MM
    x_start = -BLEED_PT
    x_end = width + BLEED_PT
    points = int((x_end - x_start) / step) + 1
    families = (
        ("guilloche", 1.9 * MM, 1.1 * MM, 17.0 * MM, 0.0),
        ("guilloche_alt", 2.3 * MM, 0.8 * MM, 11.0 * MM, math.pi / 2),
    )
    for colour, spacing, amplitude, wavelength, phase0 in families:
        canvas.setStrokeColor(HexColor(template.colour(colour)))
        canvas.setLineWidth(0.35)
        lines = int((height + 2 * BLEED_PT) / spacing) + 2
        path = canvas.beginPath()
        for i in range(lines):
            y0 = -BLEED_PT + i * spacing
            phase = phase0 + i * 0.45
            for j in range(points):
                x = x_start + j * step
                y = y0 + amplitude * math.sin(2 * math.pi * x / wavelength + phase)
                y += 0.35 * amplitude * math.sin(2 * math.pi * x / (wavelength * 0.37))
                if j == 0:
                    path.moveTo(x, y)
                else:
                    path.lineTo(x, y)
        canvas.drawPath(path, stroke=1, fill=0)


def _emblem(
    canvas: Canvas, template: Template, colour_name: str, cx: float, cy: float, r: float
) -> None:
    """A ring holding a rosette, a shield and a five-pointed star."""
    if r <= 0:
        return
    colour = HexColor(template.colour(colour_name))
    canvas.setStrokeColor(colour)
    canvas.setFillColor(colour)
    canvas.setLineWidth(0.9)
    canvas.circle(cx, cy, r, stroke=1, fill=0)
    canvas.setLineWidth(0.4)
    canvas.circle(cx, cy, r * 0.93, stroke=1, fill=0)

    # A hypotrochoid rosette: the classic guilloche figure.
    big, small, pen = 1.0, 0.28, 0.55
    path = canvas.beginPath()
    steps = 720
    scale = r * 0.9 / (big - small + pen)
    for k in range(steps + 1):
        t = 2 * math.pi * 7 * k / steps
        x = (big - small) * math.cos(t) + pen * math.cos((big - small) / small * t)
        y = (big - small) * math.sin(t) - pen * math.sin((big - small) / small * t)
        if k == 0:
            path.moveTo(cx + x * scale, cy + y * scale)
        else:
            path.lineTo(cx + x * scale, cy + y * scale)
    canvas.setLineWidth(0.3)
    canvas.drawPath(path, stroke=1, fill=0)

    # The shield, filled, with a star knocked out in the background colour.
    sw, sh = r * 0.42, r * 0.52
    shield = canvas.beginPath()
    shield.moveTo(cx - sw, cy + sh * 0.6)
    shield.lineTo(cx + sw, cy + sh * 0.6)
    shield.lineTo(cx + sw, cy - sh * 0.05)
    shield.curveTo(cx + sw, cy - sh * 0.55, cx + sw * 0.35, cy - sh * 0.8, cx, cy - sh)
    shield.curveTo(cx - sw * 0.35, cy - sh * 0.8, cx - sw, cy - sh * 0.55, cx - sw, cy - sh * 0.05)
    shield.close()
    canvas.drawPath(shield, stroke=0, fill=1)
    canvas.setFillColor(HexColor(template.colour("background_bottom")))
    star = canvas.beginPath()
    outer, inner = r * 0.26, r * 0.105
    for k in range(10):
        radius = outer if k % 2 == 0 else inner
        angle = math.pi / 2 + k * math.pi / 5
        x, y = cx + radius * math.cos(angle), cy + sh * 0.05 + radius * math.sin(angle)
        if k == 0:
            star.moveTo(x, y)
        else:
            star.lineTo(x, y)
    star.close()
    canvas.drawPath(star, stroke=0, fill=1)
