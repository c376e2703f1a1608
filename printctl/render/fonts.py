"""Fonts: finding the template's TrueType files, registering them once, and vetting text.

The card font must print every letter of a name. A TrueType font found on the system (the
template's own ``fonts/`` directory first, then the usual system font directories) is embedded,
so Unicode letters such as ``Ş`` or ``Ễ`` print as themselves; a character the font has no
glyph for raises :class:`UnprintableText` rather than printing a box.

When no TrueType file is found, the template's fallback (a built-in Type 1 font such as
Helvetica) is used. It only covers Latin-1 (WinAnsi), so text is **transliterated**: each
character outside it is decomposed (NFKD) and its combining marks dropped (``Ễ`` → ``E``,
``Ş`` → ``S``); a character with no Latin-1 base left (``李``) raises :class:`UnprintableText`.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from printctl.render.errors import TemplateError, UnprintableText
from printctl.render.template import Template

#: Where TrueType files are looked for after the template's own ``fonts/`` directory.
SYSTEM_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/local/share/fonts"),
)
_SYSTEM_FONT_ROOT = Path("/usr/share/fonts")

_BUILTIN_FONTS = frozenset(pdfmetrics.standardFonts)

_lock = threading.Lock()
_registered: dict[Path, str] = {}  # font file → the name it is registered under


@dataclass(frozen=True)
class CardFont:
    """A font role resolved to a font registered with ReportLab.

    ``name`` is what ``canvas.setFont`` and ``pdfmetrics.stringWidth`` take; ``path`` is the
    embedded TrueType file, or ``None`` for a built-in Type 1 fallback.
    """

    role: str
    name: str
    path: Path | None

    @property
    def is_unicode(self) -> bool:
        """True for an embedded TrueType font; False for a Latin-1-only fallback."""
        return self.path is not None

    def printable(self, text: str, *, field: str) -> str:
        """``text`` as this font will print it (NFC, transliterated for a fallback font).

        Raises :class:`UnprintableText` naming ``field`` and the code point when a
        character cannot be printed.
        """
        text = unicodedata.normalize("NFC", text)
        if self.path is not None:
            glyphs = _glyph_map(self.name)
            for ch in text:
                if ord(ch) not in glyphs:
                    raise UnprintableText(
                        f"{field}: character U+{ord(ch):04X} has no glyph in font {self.name}"
                    )
            return text
        out: list[str] = []
        for ch in text:
            if _latin1_printable(ch):
                out.append(ch)
                continue
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            if base and all(_latin1_printable(c) for c in base):
                out.append(base)
                continue
            raise UnprintableText(
                f"{field}: character U+{ord(ch):04X} cannot be printed with fallback font "
                f"{self.name} (no TrueType card font was found)"
            )
        return "".join(out)

    def width(self, text: str, size: float) -> float:
        """The advance width of ``text`` at ``size`` points, in points."""
        return float(pdfmetrics.stringWidth(text, self.name, size))


def _latin1_printable(ch: str) -> bool:
    # The built-in fonts use WinAnsiEncoding (cp1252): exactly what they have glyphs for.
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return ch.isprintable()


def _glyph_map(name: str) -> dict[int, int]:
    font = pdfmetrics.getFont(name)
    glyphs: dict[int, int] = font.face.charToGlyph
    return glyphs


def find_font_file(filename: str, template_dir: Path) -> Path | None:
    """The first ``filename`` found in the template's ``fonts/``, then the system directories."""
    for directory in (template_dir / "fonts", *SYSTEM_FONT_DIRS):
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    if _SYSTEM_FONT_ROOT.is_dir():
        # Distributions disagree on the sub-directory; a last, slower look covers them all.
        for candidate in sorted(_SYSTEM_FONT_ROOT.rglob(filename)):
            if candidate.is_file():
                return candidate
    return None


def resolve_font(template: Template, role: str) -> CardFont:
    """Resolve and register the font for ``role`` (idempotent, thread-safe)."""
    spec = template.font(role)
    if spec.fallback not in _BUILTIN_FONTS:
        raise TemplateError(f"font role {role!r}: fallback {spec.fallback!r} is not built in")
    path = find_font_file(spec.file, template.directory)
    if path is None:
        return CardFont(role=role, name=spec.fallback, path=None)
    path = path.resolve()
    with _lock:
        name = _registered.get(path)
        if name is None:
            name = f"printctl-{path.stem}"
            if name in _registered.values():  # same file name, different directory
                name = f"{name}-{len(_registered)}"
            try:
                pdfmetrics.registerFont(TTFont(name, str(path)))
            except (TTFError, OSError) as exc:
                raise TemplateError(f"font role {role!r}: cannot load {path}: {exc}") from exc
            _registered[path] = name
    return CardFont(role=role, name=name, path=path)
