"""Cards out: printer panels (:func:`render_card`) and proof PDFs (:func:`write_proof_pdf`).

Both come from :func:`printctl.render.layout.draw_side`. For the panels, the parts that change
per card are drawn, the static parts are cached:

- colour panel: the side's artwork is rasterised once per template (it never changes), then
  each card's photo is pasted onto a copy with Pillow, on the same pixel box the PDF uses;
- black (K) panel: the text that varies per card is drawn as a small two-page PDF (front,
  back), rasterised by pdfium in grey without anti-aliasing and thresholded to 1 bit; the text
  every card shares (labels, titles) is rasterised the same way once and cached; the
  signature bitmap is added on its pixel box.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO

from PIL import Image, ImageChops
from reportlab.pdfgen.canvas import Canvas

from printctl.domain import RecordData
from printctl.hardware import CardImage, SidePanels
from printctl.render.art import BLEED_PT, draw_art
from printctl.render.errors import RenderError
from printctl.render.layout import Layer, LayoutEngine, SideLayout, TextRun, draw_side
from printctl.render.raster import rasterise, to_bitmap
from printctl.render.template import SideSpec, Template, load_template


@dataclass(frozen=True)
class RenderedCard:
    """A rendered card: the panels the printer gets, and the template that made them."""

    image: CardImage
    template: str  # "name vN", for the job's record of what was printed


@lru_cache(maxsize=1)
def default_template() -> Template:
    """The ``ektp`` template, read once per process."""
    return load_template("ektp")


class CardRenderer:
    """Renders cards for one template, keeping the per-template work (fonts, art) cached.

    Thread-safe: the art cache is filled under a lock and pdfium calls are serialised.
    """

    def __init__(self, template: Template) -> None:
        self.template = template
        self.engine = LayoutEngine(template)
        self._scale = template.dpi / 72.0
        self._art: dict[str, Image.Image] = {}
        self._static_k: dict[tuple[TextRun, ...], Image.Image] = {}
        self._art_lock = threading.Lock()

    # ------------------------------------------------------------------ panels

    def render(self, record: RecordData, *, issue_date: date) -> RenderedCard:
        """Both sides of ``record``'s card as printer panels."""
        front, back = self.engine.layout(record, issue_date)
        k_front, k_back = self.black_panels((front, back))
        card = CardImage(
            front=SidePanels(colour=self.colour_panel(front), black=k_front),
            back=SidePanels(colour=self.colour_panel(back), black=k_back),
        )
        return RenderedCard(image=card, template=self.template.label)

    def black_pdf(
        self, layouts: Iterable[SideLayout], *, static_text: bool | None = False
    ) -> bytes:
        """The black layer of ``layouts`` without the signature, as card-size PDF pages.

        By default only the text that varies per card; see :func:`draw_side`.
        """
        buffer = io.BytesIO()
        # Uncompressed: the pages are tiny and live for one pdfium call; zlib costs more.
        canvas = self._canvas(buffer, compress=False)
        for layout in layouts:
            draw_side(
                canvas, self.engine, layout, Layer.BLACK, images=False, static_text=static_text
            )
            canvas.showPage()
        canvas.save()
        return buffer.getvalue()

    def black_panels(self, layouts: Sequence[SideLayout]) -> list[Image.Image]:
        """The K panels (mode ``1``) of ``layouts``.

        The per-card text (:meth:`black_pdf`) is rasterised and combined with the cached
        raster of the text every card shares (labels, titles); then the signature bitmap is
        added on its pixel box. Without anti-aliasing each glyph's pixels do not depend on its
        neighbours, so the union equals rasterising everything at once (the proof test checks
        this pixel for pixel).
        """
        greys = self.rasterise_pages(self.black_pdf(layouts), black=True, threshold=None)
        panels: list[Image.Image] = []
        for layout, grey in zip(layouts, greys, strict=True):
            # The darker of two renders is the union of their ink (thresholding commutes with
            # taking the minimum), and combining in grey is cheaper than in mode 1.
            merged = ImageChops.darker(grey, self._static_black(layout))
            if layout.signature is not None:
                left, top, width, height = layout.signature.box
                box = (left, top, left + width, top + height)
                signature = layout.signature.image.convert("L")
                merged.paste(ImageChops.darker(merged.crop(box), signature), box)
            panels.append(to_bitmap(merged, self.template.threshold))
        return panels

    def _static_black(self, layout: SideLayout) -> Image.Image:
        # Keyed by the runs themselves, not just the side: should a template ever make the
        # "static" text differ between cards, the cache cannot serve a stale raster.
        key = tuple(run for run in layout.texts if run.static)
        with self._art_lock:
            cached = self._static_k.get(key)
        if cached is None:
            pdf = self.black_pdf([layout], static_text=True)
            (cached,) = self.rasterise_pages(pdf, black=True, threshold=None)
            with self._art_lock:
                if len(self._static_k) >= 16:  # bounded: a handful of sides per template
                    self._static_k.clear()
                self._static_k[key] = cached
        return cached

    def rasterise_pages(
        self, pdf: bytes, *, black: bool, threshold: int | None = -1
    ) -> list[Image.Image]:
        """Every card-size page of ``pdf`` as a panel (``1`` if ``black``, else RGB).

        ``threshold`` defaults to the template's; ``None`` keeps the grey render (``L``).
        Proof pages go through here too, which is how tests compare proof and panels.
        """
        return list(
            rasterise(
                pdf,
                size=self.template.panel_px,
                scale=self._scale,
                offset=(float(self.template.offset_px[0]), float(self.template.offset_px[1])),
                black=black,
                threshold=self.template.threshold if threshold == -1 else threshold,
            )
        )

    def colour_panel(self, layout: SideLayout) -> Image.Image:
        """The colour panel (RGB) of ``layout``: cached artwork plus the photo, if any."""
        panel = self.art_panel(layout.side).copy()
        if layout.photo is not None:
            left, top, _, _ = layout.photo.box
            panel.paste(layout.photo.image, (left, top))
        return panel

    def art_panel(self, side: SideSpec) -> Image.Image:
        """``side``'s artwork at panel size, bleed included; rendered once, then cached.

        Do not modify the returned image; :meth:`colour_panel` copies it.
        """
        key = "front" if side is self.template.front else "back"
        with self._art_lock:
            cached = self._art.get(key)
            if cached is None:
                cached = self._render_art(side)
                self._art[key] = cached
        return cached

    def _render_art(self, side: SideSpec) -> Image.Image:
        # A panel-size page with the card's corner at the pixel offset, so that the artwork's
        # bleed past the card edges fills the whole printer bitmap.
        width_px, height_px = self.template.panel_px
        ox, oy = self.template.offset_px
        page_w, page_h = width_px / self._scale, height_px / self._scale
        buffer = io.BytesIO()
        canvas = Canvas(buffer, pagesize=(page_w, page_h), invariant=1, pageCompression=0)
        canvas.translate(ox / self._scale, page_h - oy / self._scale - self.engine.card_height)
        draw_art(canvas, self.template, side)
        canvas.showPage()
        canvas.save()
        (image,) = rasterise(
            buffer.getvalue(), size=self.template.panel_px, scale=self._scale, black=False
        )
        return image

    # ------------------------------------------------------------------ proof

    def write_proof(self, cards: Iterable[tuple[RecordData, date]], out: IO[bytes]) -> int:
        """Write a proof PDF to the binary file ``out``; returns the number of cards."""
        canvas = self._canvas(out, compress=True)
        canvas.setTitle(f"printctl proof, template {self.template.label}")
        forms: dict[str, str] = {}
        count = 0
        for record, issue_date in cards:
            for layout in self.engine.layout(record, issue_date):
                draw_side(
                    canvas,
                    self.engine,
                    layout,
                    Layer.PROOF,
                    art_form=self._art_form(canvas, layout.side, forms),
                )
                canvas.showPage()
            count += 1
        canvas.save()
        return count

    def _art_form(self, canvas: Canvas, side: SideSpec, forms: dict[str, str]) -> str:
        key = "front" if side is self.template.front else "back"
        name = forms.get(key)
        if name is None:
            name = f"art-{key}"
            canvas.beginForm(
                name,
                -BLEED_PT,
                -BLEED_PT,
                self.engine.card_width + BLEED_PT,
                self.engine.card_height + BLEED_PT,
            )
            draw_art(canvas, self.template, side)
            canvas.endForm()
            forms[key] = name
        return name

    def _canvas(self, out: IO[bytes], *, compress: bool) -> Canvas:
        # invariant=1: no timestamps or random ids, so the same input gives the same bytes.
        return Canvas(
            out,
            pagesize=(self.engine.card_width, self.engine.card_height),
            invariant=1,
            pageCompression=1 if compress else 0,
        )


_RENDERERS: dict[Template, CardRenderer] = {}
_RENDERERS_LOCK = threading.Lock()


def renderer_for(template: Template) -> CardRenderer:
    """The shared :class:`CardRenderer` of ``template`` (so its caches are reused).

    Locked, not ``lru_cache``d: printer threads starting together must share one renderer
    instead of each drawing the artwork on its first card.
    """
    with _RENDERERS_LOCK:
        renderer = _RENDERERS.get(template)
        if renderer is None:
            renderer = _RENDERERS[template] = CardRenderer(template)
        return renderer


def warm_up(template: Template | None = None) -> None:
    """Build the renderer and its artwork caches now, before the printers start."""
    chosen = template or default_template()
    renderer = renderer_for(chosen)
    renderer.art_panel(chosen.front)
    if chosen.back is not None:
        renderer.art_panel(chosen.back)


def render_card(
    record: RecordData, *, issue_date: date, template: Template | None = None
) -> RenderedCard:
    """Render ``record``'s card (front and back) as printer panels.

    ``issue_date`` is the date printed under the photo. Raises :class:`RenderError`
    (:class:`NameDoesNotFit`, :class:`AddressDoesNotFit`, :class:`MediaDecodeError`, …) when the
    card cannot be made as the template says; a card is never clipped.
    """
    return renderer_for(template or default_template()).render(record, issue_date=issue_date)


def write_proof_pdf(
    cards: Iterable[tuple[RecordData, date]],
    path: Path,
    *,
    template: Template | None = None,
) -> int:
    """Write a proof PDF of ``cards`` (record, issue date) to ``path``; returns the card count.

    Two card-size pages per card (front, back), colour and black layers together. The file is
    written to a temporary file beside ``path`` and renamed, so ``path`` is either the old file
    or the complete new one; a render error for any card leaves ``path`` untouched.
    """
    renderer = renderer_for(template or default_template())
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            count = renderer.write_proof(cards, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return count


__all__ = [
    "CardRenderer",
    "RenderError",
    "RenderedCard",
    "default_template",
    "render_card",
    "renderer_for",
    "write_proof_pdf",
]
