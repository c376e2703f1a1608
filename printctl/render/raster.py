"""PDF pages to printer panels, with pdfium.

ReportLab's own bitmap renderer needs pycairo, which is not available, so pages are drawn as
PDF and rasterised by pdfium. A page is rendered with an explicit transform (300 dpi, the card's
corner at the template's pixel offset) into a bitmap of exactly the panel size, so a card-size
proof page and a panel-size raster page land on the same pixels.

pdfium is not thread-safe; every call into it holds :data:`PDFIUM_LOCK`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

#: pdfium keeps global state; all rendering in this process goes through this lock.
PDFIUM_LOCK = threading.Lock()

# Crisp edges for the resin panel: text and images rendered without anti-aliasing give a
# clean 1-bit result after thresholding (and render faster).
_K_FLAGS = (
    pdfium_c.FPDF_GRAYSCALE
    | pdfium_c.FPDF_RENDER_NO_SMOOTHTEXT
    | pdfium_c.FPDF_RENDER_NO_SMOOTHPATH
    | pdfium_c.FPDF_RENDER_NO_SMOOTHIMAGE
)
_COLOUR_FLAGS = pdfium_c.FPDF_REVERSE_BYTE_ORDER  # RGB byte order, what Pillow wants


def rasterise(
    pdf: bytes,
    *,
    size: tuple[int, int],
    scale: float,
    offset: tuple[float, float] = (0.0, 0.0),
    black: bool,
    threshold: int | None = 128,
) -> Iterator[Image.Image]:
    """Render every page of ``pdf`` to a ``size`` image, page point (0, top) at ``offset`` px.

    ``black=True`` gives mode ``1`` (a pixel is black where the grey render is darker than
    ``threshold``), or with ``threshold=None`` the grey (``L``) render itself to combine with
    other layers before :func:`to_bitmap`. Otherwise RGB. ``scale`` is pixels per point
    (dpi / 72).
    """
    width, height = size
    images: list[Image.Image] = []
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(pdf)
        try:
            for index in range(len(document)):
                page = document[index]
                try:
                    images.append(_render_page(page, width, height, scale, offset, black))
                finally:
                    page.close()
        finally:
            document.close()
    for image in images:
        yield to_bitmap(image, threshold) if black and threshold is not None else image


def to_bitmap(grey: Image.Image, threshold: int = 128) -> Image.Image:
    """A grey render as a mode-``1`` panel: black where darker than ``threshold``."""
    if threshold != 128:
        # Pillow's "1" conversion without dithering cuts at 128; move other cut-offs there.
        grey = grey.point(lambda v: 255 if v >= threshold else 0)
    return grey.convert("1", dither=Image.Dither.NONE)


def _render_page(
    page: pdfium.PdfPage,
    width: int,
    height: int,
    scale: float,
    offset: tuple[float, float],
    black: bool,
) -> Image.Image:
    fmt = pdfium_c.FPDFBitmap_Gray if black else pdfium_c.FPDFBitmap_BGR
    bitmap = pdfium.PdfBitmap.new_native(width, height, fmt, rev_byteorder=not black)
    try:
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
        matrix = pdfium_c.FS_MATRIX(scale, 0, 0, scale, offset[0], offset[1])
        clip = pdfium_c.FS_RECTF(0, 0, width, height)
        flags = _K_FLAGS if black else _COLOUR_FLAGS
        pdfium_c.FPDF_RenderPageBitmapWithMatrix(bitmap, page, matrix, clip, flags)
        # to_pil() shares the bitmap's buffer; copy before the bitmap is freed.
        image: Image.Image = bitmap.to_pil().copy()
        return image
    finally:
        bitmap.close()
