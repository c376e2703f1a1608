"""The card renderer: panels, layers, fitting of long values, Unicode, determinism."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from PIL import Image

from printctl.hardware import PANEL_SIZE
from printctl.render import (
    AddressDoesNotFit,
    MediaDecodeError,
    NameDoesNotFit,
    UnprintableText,
    default_template,
    load_template,
    render_card,
    renderer_for,
)
from printctl.render.template import Box, FontSpec, Template
from tests.unit.render_fixtures import ISSUE_DATE, LONG_NAME, make_record


def _px(template: Template, x_mm: float, y_mm: float) -> tuple[int, int]:
    ppm = template.dpi / 25.4
    return template.offset_px[0] + round(x_mm * ppm), template.offset_px[1] + round(y_mm * ppm)


def _ink(panel: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Black pixels of a mode-1 panel inside ``box`` (left, top, right, bottom)."""
    return panel.crop(box).convert("L").histogram()[0]


def _name_rows_box(template: Template, lines: int = 1) -> tuple[int, int, int, int]:
    fields = template.front.fields
    assert fields is not None
    left, top = _px(template, fields.value_x_mm, fields.first_baseline_mm - 2.2)
    right, bottom = _px(
        template,
        fields.value_right_mm,
        fields.first_baseline_mm + (lines - 1) * fields.pitch_mm + 0.8,
    )
    return left, top, right, bottom


def test_panels_have_the_printer_size_and_modes() -> None:
    """Front and back each have an RGB colour panel and a mode-1 black panel of 1016×648."""
    card = render_card(make_record(), issue_date=ISSUE_DATE).image
    assert card.back is not None
    for side in (card.front, card.back):
        assert side.colour is not None and side.black is not None
        assert (side.colour.mode, side.colour.size) == ("RGB", PANEL_SIZE)
        assert (side.black.mode, side.black.size) == ("1", PANEL_SIZE)
        assert side.overlay is None


def test_rendered_card_names_the_template_version() -> None:
    """A rendered card records which template version made it."""
    assert render_card(make_record(), issue_date=ISSUE_DATE).template == "ektp v1"


def test_text_is_on_the_black_layer_and_not_on_the_colour_layer() -> None:
    """The name's pixels are black on K, and the colour panel there is only light artwork."""
    template = default_template()
    card = render_card(make_record(), issue_date=ISSUE_DATE).image
    box = _name_rows_box(template)
    assert card.front.black is not None and card.front.colour is not None
    assert _ink(card.front.black, box) > 100
    histogram = card.front.colour.crop(box).convert("L").histogram()
    assert sum(histogram[:150]) == 0  # no pixel darker than light artwork


def test_photo_is_on_the_colour_layer_at_the_photo_box_and_not_on_black() -> None:
    """The portrait's red ground fills the photo box on the colour panel; K is empty there."""
    template = default_template()
    engine = renderer_for(template).engine
    assert template.front.photo is not None
    left, top, width, height = engine.px_box(template.front.photo, aspect=3 / 4)
    card = render_card(make_record(), issue_date=ISSUE_DATE).image
    assert card.front.colour is not None and card.front.black is not None
    r, g, b = card.front.colour.getpixel((left + 5, top + 5))  # type: ignore[misc]
    assert r > 150 and g < 80 and b < 80
    r, g, b = card.front.colour.getpixel((left - 6, top + 5))  # type: ignore[misc]
    assert b > r  # just outside: the light-blue artwork
    assert _ink(card.front.black, (left, top, left + width, top + height)) == 0


def test_signature_is_on_the_black_layer_in_its_box() -> None:
    """The holder's signature prints on K inside the signature box."""
    template = default_template()
    assert template.front.signature is not None
    left, top, width, height = renderer_for(template).engine.px_box(template.front.signature)
    card = render_card(make_record(), issue_date=ISSUE_DATE).image
    assert card.front.black is not None
    assert _ink(card.front.black, (left, top, left + width, top + height)) > 200


def test_sixty_character_name_shrinks_and_wraps_inside_the_text_column() -> None:
    """A 60-character name is set in two lines within the value column, with nothing outside it."""
    template = default_template()
    fields = template.front.fields
    assert fields is not None and template.front.photo is not None
    record = make_record(name=LONG_NAME)
    front, _ = renderer_for(template).engine.layout(record, ISSUE_DATE)
    name_runs = [r for r in front.texts if r.text and r.text in LONG_NAME and len(r.text) > 10]
    assert len(name_runs) == 2
    assert " ".join(r.text for r in name_runs) == LONG_NAME
    mm = 72 / 25.4
    for run in name_runs:
        assert fields.min_size <= run.size <= fields.size
        assert run.left + run.width <= fields.value_right_mm * mm

    black = render_card(record, issue_date=ISSUE_DATE).image.front.black
    assert black is not None
    assert _ink(black, _name_rows_box(template, lines=2)) > 300
    # The gutter between the value column and the photo stays empty beside the photo.
    photo = template.front.photo
    gutter_left, _ = _px(template, fields.value_right_mm, 0)
    gutter_right, _ = _px(template, photo.x_mm, 0)
    _, top = _px(template, 0, fields.first_baseline_mm - 3)
    _, bottom = _px(template, 0, photo.y_mm + photo.height_mm)
    assert _ink(black, (gutter_left + 1, top, gutter_right - 1, bottom)) == 0
    # Nothing prints in the bleed, outside the card.
    ink = Image.eval(black.convert("L"), lambda v: 255 - v).getbbox()
    assert ink is not None
    card_right, card_bottom = _px(template, template.width_mm, template.height_mm)
    assert ink[0] >= template.offset_px[0] and ink[1] >= template.offset_px[1]
    assert ink[2] <= card_right and ink[3] <= card_bottom


def test_name_that_cannot_fit_raises_name_does_not_fit() -> None:
    """A name too long for two lines at the minimum size fails the card, without quoting it."""
    name = " ".join(["KUSUMANEGARAWIRYA"] * 8)
    with pytest.raises(NameDoesNotFit, match="name does not fit") as caught:
        render_card(make_record(name=name), issue_date=ISSUE_DATE)
    assert caught.value.field == "name"
    assert "KUSUMA" not in str(caught.value)


def test_single_unbreakable_word_too_wide_raises_name_does_not_fit() -> None:
    """A name with no space to wrap at, too wide on one line, fails rather than clips."""
    with pytest.raises(NameDoesNotFit):
        render_card(make_record(name="A" * 60), issue_date=ISSUE_DATE)


def test_address_that_cannot_fit_in_two_lines_raises_address_does_not_fit() -> None:
    """An address longer than two lines at the minimum size raises AddressDoesNotFit."""
    address = "JL. " + " ".join(["PANGERAN DIPONEGORO"] * 8)
    with pytest.raises(AddressDoesNotFit):
        render_card(make_record(address=address), issue_date=ISSUE_DATE)


def test_long_address_wraps_to_two_lines() -> None:
    """A long address is set in two lines and the rows below it move down one line."""
    address = "JL. SUDIRMAN GANG MELATI INDAH NO. 123 BLOK C KOMPLEK PERUMAHAN"
    engine = renderer_for(default_template()).engine
    front, _ = engine.layout(make_record(address=address), ISSUE_DATE)
    lines = [r for r in front.texts if r.text in address and len(r.text) > 5]
    assert len(lines) == 2
    rt_rw = next(r for r in front.texts if r.text == "002/003")
    assert rt_rw.y < min(r.y for r in lines)


@pytest.mark.parametrize(
    "name",
    ["NI KADEK AYU PUTRI'ANI", "MUH. ALI-AKBAR", "ŞÜKRÜ NGUYỄN", "siti aminah"],
)
def test_names_with_punctuation_and_unicode_letters_render(name: str) -> None:
    """Apostrophes, hyphens, dots and non-ASCII letters are printed, in upper case."""
    record = make_record(name=name)
    front, _ = renderer_for(default_template()).engine.layout(record, ISSUE_DATE)
    assert name.upper() in [r.text for r in front.texts]
    card = render_card(record, issue_date=ISSUE_DATE).image
    assert card.front.black is not None
    assert _ink(card.front.black, _name_rows_box(default_template())) > 50


def test_character_missing_from_the_font_raises_unprintable_text() -> None:
    """A letter the card font has no glyph for fails the card instead of printing a box."""
    with pytest.raises(UnprintableText, match="U\\+674E"):
        render_card(make_record(name="LI 李"), issue_date=ISSUE_DATE)


def _fallback_template() -> Template:
    template = default_template()
    fonts = tuple(
        FontSpec(role=f.role, file="NoSuchFont-printctl.ttf", fallback=f.fallback)
        for f in template.fonts
    )
    return dataclasses.replace(template, fonts=fonts)


def test_fallback_font_transliterates_letters_outside_latin1() -> None:
    """Without a TrueType font, ``NGUYỄN`` prints as ``NGUYEN`` in Helvetica, Latin-1 kept."""
    template = _fallback_template()
    engine = renderer_for(template).engine
    assert not engine.fonts["regular"].is_unicode
    front, _ = engine.layout(make_record(name="ŞÜKRÜ NGUYỄN"), ISSUE_DATE)
    assert "SÜKRÜ NGUYEN" in [r.text for r in front.texts]
    card = render_card(make_record(name="ŞÜKRÜ NGUYỄN"), issue_date=ISSUE_DATE, template=template)
    assert card.image.front.black is not None


def test_fallback_font_refuses_letters_without_a_latin_base() -> None:
    """Without a TrueType font, a CJK letter raises UnprintableText rather than crashing."""
    with pytest.raises(UnprintableText):
        render_card(make_record(name="LI 李"), issue_date=ISSUE_DATE, template=_fallback_template())


def test_photo_that_does_not_decode_raises_media_decode_error() -> None:
    """Broken photo bytes are a render error naming the photo."""
    with pytest.raises(MediaDecodeError, match="photo"):
        render_card(make_record(photo=b"not a jpeg"), issue_date=ISSUE_DATE)


def test_same_input_gives_identical_panels() -> None:
    """Rendering the same record twice gives byte-identical panels on both sides."""
    first = render_card(make_record(), issue_date=ISSUE_DATE).image
    second = render_card(make_record(), issue_date=ISSUE_DATE).image
    assert first.back is not None and second.back is not None
    for a, b in ((first.front, second.front), (first.back, second.back)):
        assert a.colour is not None and b.colour is not None
        assert a.black is not None and b.black is not None
        assert a.colour.tobytes() == b.colour.tobytes()
        assert a.black.tobytes() == b.black.tobytes()


def test_issue_date_and_regency_are_printed() -> None:
    """The header names the province and the regency, and the issue date is dd-mm-yyyy."""
    front, back = renderer_for(default_template()).engine.layout(make_record(), date(2026, 1, 2))
    texts = [r.text for r in front.texts]
    assert "PROVINSI RIAU" in texts
    assert "KABUPATEN KUANTAN SINGINGI" in texts
    assert "02-01-2026" in texts
    assert "TELUK KUANTAN, 17-08-1990" in texts
    assert "No. PRR-2026-000001/1" in [r.text for r in back.texts]


def test_city_keeps_its_name_in_the_header() -> None:
    """A regency given as ``KOTA …`` is printed as is, not as ``KABUPATEN KOTA …``."""
    front, _ = renderer_for(default_template()).engine.layout(
        make_record(regency="Kota Pekanbaru"), ISSUE_DATE
    )
    assert "KOTA PEKANBARU" in [r.text for r in front.texts]


def test_photo_box_off_the_card_is_refused_by_the_template_loader(tmp_path: object) -> None:
    """A template whose boxes stay on the card loads; geometry is checked against the card."""
    template = load_template()
    assert template.front.photo is not None
    photo: Box = template.front.photo
    assert photo.x_mm + photo.width_mm <= template.width_mm
    assert photo.y_mm + photo.height_mm <= template.height_mm
