"""Card templates: where they live, how they are read, and what they may say.

A template is a directory holding ``template.toml`` (geometry in millimetres from the card's
top-left corner, fonts, colours, the fields and their labels) plus optional assets such as a
``fonts/`` directory. The artwork itself is procedural (see :mod:`printctl.render.art`), so a
template ships no images.

Templates are read once and are immutable (and hashable), which lets the renderer cache work
that depends only on the template, such as the background raster.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from printctl.render.errors import TemplateError

#: Placeholders a template's texts may use; each is filled from the record, upper-cased.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "nik",
        "name",
        "birth_place",
        "birth_date",
        "sex",
        "blood_type",
        "address",
        "rt",
        "rw",
        "village",
        "district",
        "regency",
        "regency_title",
        "province",
        "religion",
        "marital_status",
        "occupation",
        "citizenship",
        "valid_until",
        "issue_place",
        "issue_date",
        "record_id",
        "version",
    }
)

#: Art programs known to :mod:`printctl.render.art`.
ART_PATTERNS: frozenset[str] = frozenset({"guilloche", "plain"})

Align = Literal["left", "centre", "right"]


@dataclass(frozen=True)
class FontSpec:
    """A font role (``regular``, ``bold``): a TrueType file to look for, and a fallback.

    ``fallback`` is one of ReportLab's built-in Type 1 fonts, used when the file is found
    nowhere; it only covers Latin-1 (see :mod:`printctl.render.fonts`).
    """

    role: str
    file: str
    fallback: str


@dataclass(frozen=True)
class Box:
    """A rectangle on the card, in millimetres from the card's top-left corner."""

    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class TextItem:
    """One line of text: literal text with placeholders, shrunk within limits to fit its width."""

    id: str
    text: str
    x_mm: float
    baseline_mm: float
    align: Align
    font: str
    size: float
    min_size: float
    max_width_mm: float


@dataclass(frozen=True)
class InlineField:
    """A second ``label : value`` pair on a field row's line (``Gol. Darah`` after the sex)."""

    label: str
    value: str
    label_x_mm: float
    colon_x_mm: float
    value_x_mm: float
    value_right_mm: float


@dataclass(frozen=True)
class FieldRow:
    """One ``label : value`` row of the field block; the value may wrap to ``max_lines``."""

    id: str
    label: str
    value: str
    max_lines: int
    value_right_mm: float | None
    inline: InlineField | None


@dataclass(frozen=True)
class FieldBlock:
    """The left column: rows of labels, colons aligned in one column, and values."""

    label_x_mm: float
    colon_x_mm: float
    value_x_mm: float
    value_right_mm: float
    first_baseline_mm: float
    pitch_mm: float
    bottom_mm: float
    label_font: str
    value_font: str
    size: float
    min_size: float
    rows: tuple[FieldRow, ...]


@dataclass(frozen=True)
class ArtSpec:
    """Which procedural background to draw, and where its emblem sits."""

    pattern: str
    emblem_colour: str
    emblem_x_mm: float
    emblem_y_mm: float
    emblem_radius_mm: float


@dataclass(frozen=True)
class SideSpec:
    """Everything on one side of the card."""

    art: ArtSpec
    texts: tuple[TextItem, ...]
    fields: FieldBlock | None
    photo: Box | None
    signature: Box | None


@dataclass(frozen=True)
class Template:
    """A parsed, validated card template. Build it with :func:`load_template`."""

    name: str
    version: int
    directory: Path
    width_mm: float
    height_mm: float
    panel_px: tuple[int, int]
    dpi: int
    offset_px: tuple[int, int]
    threshold: int
    fonts: tuple[FontSpec, ...]
    colours: tuple[tuple[str, str], ...]
    front: SideSpec
    back: SideSpec

    def font(self, role: str) -> FontSpec:
        """The font spec for ``role``; raises :class:`TemplateError` for an unknown role."""
        for spec in self.fonts:
            if spec.role == role:
                return spec
        raise TemplateError(f"template {self.name!r} has no font role {role!r}")

    def colour(self, name: str) -> str:
        """The ``#RRGGBB`` colour called ``name``; raises :class:`TemplateError` if missing."""
        for key, value in self.colours:
            if key == name:
                return value
        raise TemplateError(f"template {self.name!r} has no colour {name!r}")

    @property
    def label(self) -> str:
        """``name vN``, for proofs, logs and the test card."""
        return f"{self.name} v{self.version}"


# --------------------------------------------------------------------------- locating


def templates_root() -> Path:
    """The directory that holds the templates.

    An installed wheel carries them at ``printctl/_templates`` (``pyproject.toml``
    force-includes ``templates/`` there); a source checkout has them at the repository root.
    """
    packaged = Path(__file__).resolve().parents[1] / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def template_dir(name: str) -> Path:
    """The directory of template ``name``: the packaged copy first, then the repository's."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise TemplateError(f"invalid template name {name!r}")
    packaged = Path(__file__).resolve().parents[1] / "_templates" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates" / name


def load_template(name: str = "ektp", *, directory: Path | None = None) -> Template:
    """Read and validate a template by name (or from an explicit ``directory``).

    Raises :class:`TemplateError` when the file is missing, is not valid TOML, has unknown or
    missing keys, uses unknown placeholders, fonts or colours, or puts a box off the card.
    """
    root = directory if directory is not None else template_dir(name)
    path = root / "template.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"template file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    return _parse(raw, root)


# --------------------------------------------------------------------------- parsing


class _Table:
    """A TOML table read key by key; keys left unread at :meth:`done` are an error.

    Unknown keys are rejected rather than ignored, so that a typo in a template fails loudly
    instead of silently printing a card with a default.
    """

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        if not isinstance(data, Mapping):
            raise TemplateError(f"{where}: expected a table")
        self._data = dict(data)
        self.where = where

    def _take(self, key: str, default: Any) -> Any:
        if key in self._data:
            return self._data.pop(key)
        if default is _REQUIRED:
            raise TemplateError(f"{self.where}: missing key {key!r}")
        return default

    def get_str(self, key: str, default: Any = None) -> str:
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            raise TemplateError(f"{self.where}.{key}: expected a string")
        return value

    def get_int(self, key: str, default: Any = None) -> int:
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TemplateError(f"{self.where}.{key}: expected an integer")
        return value

    def get_num(self, key: str, default: Any = None) -> float:
        value = self._take(key, _REQUIRED if default is None else default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TemplateError(f"{self.where}.{key}: expected a number")
        return float(value)

    def opt_num(self, key: str) -> float | None:
        if key not in self._data:
            return None
        return self.get_num(key)

    def pair(self, key: str) -> tuple[int, int]:
        value = self._take(key, _REQUIRED)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise TemplateError(f"{self.where}.{key}: expected two integers")
        return (value[0], value[1])

    def table(self, key: str, *, required: bool = True) -> _Table | None:
        if key not in self._data:
            if required:
                raise TemplateError(f"{self.where}: missing table {key!r}")
            return None
        return _Table(self._data.pop(key), f"{self.where}.{key}")

    def tables(self, key: str) -> list[_Table]:
        value = self._take(key, [])
        if not isinstance(value, list):
            raise TemplateError(f"{self.where}.{key}: expected an array of tables")
        return [_Table(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(value)]

    def raw_items(self) -> list[tuple[str, Any]]:
        items = list(self._data.items())
        self._data.clear()
        return items

    def done(self) -> None:
        if self._data:
            unknown = ", ".join(sorted(self._data))
            raise TemplateError(f"{self.where}: unknown key(s) {unknown}")


_REQUIRED = object()


def _check_placeholders(text: str, where: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise TemplateError(f"{where}: bad placeholder syntax in {text!r}") from exc
    for field_name in fields:
        if field_name not in PLACEHOLDERS:
            raise TemplateError(f"{where}: unknown placeholder {{{field_name}}}")


def _parse(raw: Mapping[str, Any], directory: Path) -> Template:
    top = _Table(raw, "template")
    name = top.get_str("name")
    version = top.get_int("version")
    if version < 1:
        raise TemplateError("template.version: must be 1 or more")

    card = top.table("card")
    assert card is not None
    width_mm = card.get_num("width_mm")
    height_mm = card.get_num("height_mm")
    card.done()

    raster = top.table("raster")
    assert raster is not None
    panel_px = raster.pair("panel_px")
    dpi = raster.get_int("dpi")
    offset_px = raster.pair("offset_px")
    threshold = raster.get_int("threshold", 128)
    raster.done()
    if not 0 < threshold < 256:
        raise TemplateError("template.raster.threshold: must be within 1..255")

    fonts_table = top.table("fonts")
    assert fonts_table is not None
    fonts: list[FontSpec] = []
    for role, spec in fonts_table.raw_items():
        t = _Table(spec, f"template.fonts.{role}")
        fonts.append(FontSpec(role=role, file=t.get_str("file"), fallback=t.get_str("fallback")))
        t.done()

    colours_table = top.table("colours")
    assert colours_table is not None
    colours: list[tuple[str, str]] = []
    for key, value in colours_table.raw_items():
        if not (isinstance(value, str) and len(value) == 7 and value.startswith("#")):
            raise TemplateError(f"template.colours.{key}: expected '#RRGGBB'")
        try:
            int(value[1:], 16)
        except ValueError:
            raise TemplateError(f"template.colours.{key}: expected '#RRGGBB'") from None
        colours.append((key, value.upper()))

    front_t = top.table("front")
    back_t = top.table("back")
    assert front_t is not None and back_t is not None
    front = _parse_side(front_t, width_mm)
    back = _parse_side(back_t, width_mm)
    top.done()

    template = Template(
        name=name,
        version=version,
        directory=directory,
        width_mm=width_mm,
        height_mm=height_mm,
        panel_px=panel_px,
        dpi=dpi,
        offset_px=offset_px,
        threshold=threshold,
        fonts=tuple(fonts),
        colours=tuple(colours),
        front=front,
        back=back,
    )
    _validate(template)
    return template


def _parse_side(t: _Table, card_width_mm: float) -> SideSpec:
    art_t = t.table("art")
    assert art_t is not None
    art = ArtSpec(
        pattern=art_t.get_str("pattern"),
        emblem_colour=art_t.get_str("emblem_colour", "emblem"),
        emblem_x_mm=art_t.get_num("emblem_x_mm"),
        emblem_y_mm=art_t.get_num("emblem_y_mm"),
        emblem_radius_mm=art_t.get_num("emblem_radius_mm"),
    )
    art_t.done()
    if art.pattern not in ART_PATTERNS:
        raise TemplateError(f"{art_t.where}.pattern: unknown pattern {art.pattern!r}")

    texts: list[TextItem] = []
    for i, item in enumerate(t.tables("text")):
        size = item.get_num("size")
        align = item.get_str("align", "left")
        if align not in ("left", "centre", "right"):
            raise TemplateError(f"{item.where}.align: expected left, centre or right")
        text = TextItem(
            id=item.get_str("id", f"text{i}"),
            text=item.get_str("text"),
            x_mm=item.get_num("x_mm"),
            baseline_mm=item.get_num("baseline_mm"),
            align=align,  # type: ignore[arg-type]  # checked just above
            font=item.get_str("font", "regular"),
            size=size,
            min_size=item.get_num("min_size", size),
            max_width_mm=item.get_num("max_width_mm", card_width_mm - 4.0),
        )
        item.done()
        _check_placeholders(text.text, item.where)
        texts.append(text)

    fields: FieldBlock | None = None
    fields_t = t.table("fields", required=False)
    if fields_t is not None:
        rows: list[FieldRow] = []
        for row_t in fields_t.tables("row"):
            inline: InlineField | None = None
            inline_t = row_t.table("inline", required=False)
            if inline_t is not None:
                inline = InlineField(
                    label=inline_t.get_str("label"),
                    value=inline_t.get_str("value"),
                    label_x_mm=inline_t.get_num("label_x_mm"),
                    colon_x_mm=inline_t.get_num("colon_x_mm"),
                    value_x_mm=inline_t.get_num("value_x_mm"),
                    value_right_mm=inline_t.get_num("value_right_mm"),
                )
                inline_t.done()
                _check_placeholders(inline.value, inline_t.where)
            row = FieldRow(
                id=row_t.get_str("id"),
                label=row_t.get_str("label"),
                value=row_t.get_str("value"),
                max_lines=row_t.get_int("max_lines", 1),
                value_right_mm=row_t.opt_num("value_right_mm"),
                inline=inline,
            )
            row_t.done()
            if row.max_lines < 1:
                raise TemplateError(f"{row_t.where}.max_lines: must be 1 or more")
            _check_placeholders(row.value, row_t.where)
            rows.append(row)
        size = fields_t.get_num("size")
        fields = FieldBlock(
            label_x_mm=fields_t.get_num("label_x_mm"),
            colon_x_mm=fields_t.get_num("colon_x_mm"),
            value_x_mm=fields_t.get_num("value_x_mm"),
            value_right_mm=fields_t.get_num("value_right_mm"),
            first_baseline_mm=fields_t.get_num("first_baseline_mm"),
            pitch_mm=fields_t.get_num("pitch_mm"),
            bottom_mm=fields_t.get_num("bottom_mm"),
            label_font=fields_t.get_str("label_font", "regular"),
            value_font=fields_t.get_str("value_font", "regular"),
            size=size,
            min_size=fields_t.get_num("min_size", size),
            rows=tuple(rows),
        )
        fields_t.done()

    photo = _parse_box(t.table("photo", required=False))
    signature = _parse_box(t.table("signature", required=False))
    t.done()
    return SideSpec(art=art, texts=tuple(texts), fields=fields, photo=photo, signature=signature)


def _parse_box(t: _Table | None) -> Box | None:
    if t is None:
        return None
    box = Box(
        x_mm=t.get_num("x_mm"),
        y_mm=t.get_num("y_mm"),
        width_mm=t.get_num("width_mm"),
        height_mm=t.get_num("height_mm"),
    )
    t.done()
    return box


def _validate(tpl: Template) -> None:
    """Cross-checks that need the whole template: references and geometry."""
    roles = {f.role for f in tpl.fonts}
    for key in ("regular", "bold"):
        if key not in roles:
            raise TemplateError(f"template.fonts: the {key!r} role is required")
    names = {k for k, _ in tpl.colours}
    for key in ("background_top", "background_bottom", "guilloche", "guilloche_alt", "emblem"):
        if key not in names:
            raise TemplateError(f"template.colours: {key!r} is required")
    px_w = round(tpl.width_mm / 25.4 * tpl.dpi)
    px_h = round(tpl.height_mm / 25.4 * tpl.dpi)
    if tpl.offset_px[0] + px_w > tpl.panel_px[0] or tpl.offset_px[1] + px_h > tpl.panel_px[1]:
        raise TemplateError("template.raster: the card does not fit in the panel at offset_px")

    for side_name, side in (("front", tpl.front), ("back", tpl.back)):
        tpl.colour(side.art.emblem_colour)
        for item in side.texts:
            if item.font not in roles:
                raise TemplateError(f"{side_name} text {item.id!r}: unknown font {item.font!r}")
            if not 0 < item.min_size <= item.size:
                raise TemplateError(f"{side_name} text {item.id!r}: need 0 < min_size <= size")
            _inside(tpl, side_name, item.id, item.x_mm, item.baseline_mm, 0.0, 0.0)
        for box_name, box in (("photo", side.photo), ("signature", side.signature)):
            if box is not None:
                _inside(tpl, side_name, box_name, box.x_mm, box.y_mm, box.width_mm, box.height_mm)
        if (
            side.photo is not None
            and abs(side.photo.width_mm * 4 - side.photo.height_mm * 3) > 0.05
        ):
            raise TemplateError(f"{side_name}.photo: the box must be 3:4 (width:height)")
        block = side.fields
        if block is not None:
            for role in (block.label_font, block.value_font):
                if role not in roles:
                    raise TemplateError(f"{side_name}.fields: unknown font {role!r}")
            if not 0 < block.min_size <= block.size:
                raise TemplateError(f"{side_name}.fields: need 0 < min_size <= size")
            if not block.label_x_mm < block.colon_x_mm < block.value_x_mm < block.value_right_mm:
                raise TemplateError(f"{side_name}.fields: columns must run left to right")
            _inside(tpl, side_name, "fields", block.label_x_mm, block.first_baseline_mm, 0, 0)
            _inside(tpl, side_name, "fields", block.value_right_mm, block.bottom_mm, 0, 0)


def _inside(tpl: Template, side: str, what: str, x: float, y: float, w: float, h: float) -> None:
    if x < 0 or y < 0 or x + w > tpl.width_mm or y + h > tpl.height_mm:
        raise TemplateError(f"{side} {what}: placed off the card")
