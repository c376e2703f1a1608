"""Proof PDFs and the test card: pages, determinism, atomic writes, agreement with the panels."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops

from printctl.hardware import PANEL_SIZE
from printctl.render import (
    NameDoesNotFit,
    default_template,
    render_card,
    render_test_card,
    renderer_for,
    write_proof_pdf,
)
from printctl.render.testcard import GRID_BOX, GRID_STEP_PX
from tests.unit.render_fixtures import ISSUE_DATE, LONG_NAME, make_record


def _pages(path: Path) -> int:
    document = pdfium.PdfDocument(path)
    try:
        return len(document)
    finally:
        document.close()


def test_proof_has_two_card_size_pages_per_card(tmp_path: Path) -> None:
    """Each card gives a front and a back page of 85.60 × 53.98 mm; the card count is returned."""
    path = tmp_path / "proof.pdf"
    cards = [(make_record(record_id=f"PRR-2026-00000{i}"), ISSUE_DATE) for i in range(3)]
    assert write_proof_pdf(cards, path) == 3
    document = pdfium.PdfDocument(path)
    try:
        assert len(document) == 6
        width, height = document[0].get_size()
        assert width == pytest.approx(85.60 / 25.4 * 72, abs=0.01)
        assert height == pytest.approx(53.98 / 25.4 * 72, abs=0.01)
        text = document[0].get_textpage().get_text_range()
        assert "SITI AMINAH" in text and "Kewarganegaraan" in text
        assert "KARTU TANDA PENDUDUK" in document[1].get_textpage().get_text_range()
    finally:
        document.close()


def test_proof_pdf_is_byte_identical_for_the_same_input(tmp_path: Path) -> None:
    """Writing the same proof twice gives identical bytes (invariant ReportLab output)."""
    cards = [(make_record(), ISSUE_DATE), (make_record(name="ŞÜKRÜ NGUYỄN"), ISSUE_DATE)]
    write_proof_pdf(cards, tmp_path / "a.pdf")
    write_proof_pdf(cards, tmp_path / "b.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def test_failed_proof_leaves_the_existing_file_and_no_temporary_file(tmp_path: Path) -> None:
    """A card that does not fit aborts the proof; the old file stays and no temp file is left."""
    path = tmp_path / "proof.pdf"
    path.write_bytes(b"old")
    cards = [(make_record(), ISSUE_DATE), (make_record(name="A" * 60), ISSUE_DATE)]
    with pytest.raises(NameDoesNotFit):
        write_proof_pdf(cards, path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proof.pdf"]


def test_proof_page_and_panels_show_the_same_layout(tmp_path: Path) -> None:
    """The proof's front, rasterised, has its dark pixels where the K panel prints, and the photo
    where the colour panel has it."""
    template = default_template()
    renderer = renderer_for(template)
    record = make_record(name=LONG_NAME)
    path = tmp_path / "proof.pdf"
    write_proof_pdf([(record, ISSUE_DATE)], path)
    proof_front = renderer.rasterise_pages(path.read_bytes(), black=False)[0]
    card = render_card(record, issue_date=ISSUE_DATE).image
    assert card.front.black is not None and card.front.colour is not None
    assert template.front.photo is not None
    left, top, width, height = renderer.engine.px_box(template.front.photo, aspect=3 / 4)
    photo_box = (left, top, left + width, top + height)

    # Black layer: the artwork is light, so thresholding the proof page as the K panel is
    # made (grey, no anti-aliasing) leaves exactly the black layer, photo aside.
    proof_dark = renderer.rasterise_pages(path.read_bytes(), black=True)[0].convert("L")
    blank_photo = Image.new("L", (width, height), 255)
    proof_dark.paste(blank_photo, photo_box)
    panel_k = card.front.black.convert("L")
    ink = panel_k.histogram()[0]
    differing = ImageChops.difference(proof_dark, panel_k).convert("1").histogram()[-1]
    assert ink > 5000
    assert differing <= ink // 1000  # pixel for pixel, give or take 0.1 % of the ink

    # Colour layer: the photo box matches closely (only resampling rounding differs).
    diff = ImageChops.difference(proof_front.crop(photo_box), card.front.colour.crop(photo_box))
    mean = sum(i * n for i, n in enumerate(diff.convert("L").histogram())) / (width * height)
    assert mean < 4


def test_test_card_has_panels_frame_and_one_pixel_grid() -> None:
    """The test card has both sides at panel size, a frame on K and 1-pixel grid lines."""
    card = render_test_card()
    assert card.back is not None and card.label == "test-card"
    for side in (card.front, card.back):
        assert side.colour is not None and side.black is not None
        assert side.colour.size == side.black.size == PANEL_SIZE
        assert side.black.mode == "1"
    black = card.front.black
    assert black is not None
    left, top, width, _ = renderer_for(default_template()).engine.px_box(GRID_BOX)
    row = [black.getpixel((x, top + GRID_STEP_PX // 2)) for x in range(left, left + width)]
    inked = [i for i, v in enumerate(row) if v == 0]
    assert inked[:3] == [0, GRID_STEP_PX, 2 * GRID_STEP_PX]  # one pixel per line, 10 px apart
    ink = Image.eval(black.convert("L"), lambda v: 255 - v).getbbox()
    assert ink is not None and ink[0] <= 10 and ink[2] >= PANEL_SIZE[0] - 10  # frame near edges


def test_test_card_grey_ramp_is_on_the_colour_panel() -> None:
    """The colour panel carries a ramp from black to white."""
    colour = render_test_card(back=False).front.colour
    assert colour is not None
    histogram = colour.convert("L").histogram()
    assert sum(histogram[:20]) > 1000 and sum(histogram[241:]) > 1000
