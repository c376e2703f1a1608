"""The e-KTP template: where it is found, what it holds, and what a bad one is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from printctl.render import TemplateError, load_template, template_dir
from printctl.render.fitting import fit, split_lines

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_ektp_template_loads_with_name_version_and_card_geometry() -> None:
    """The shipped template is ``ektp`` version 1 on an ID-1 card with a 3:4 photo box."""
    template = load_template("ektp")
    assert (template.name, template.version) == ("ektp", 1)
    assert (template.width_mm, template.height_mm) == (85.60, 53.98)
    assert template.panel_px == (1016, 648)
    assert template.front.photo is not None
    assert template.front.photo.width_mm * 4 == pytest.approx(template.front.photo.height_mm * 3)


def test_front_fields_are_in_the_official_order() -> None:
    """The front's labels follow the e-KTP order, with Gol. Darah beside Jenis Kelamin."""
    fields = load_template().front.fields
    assert fields is not None
    assert [row.label for row in fields.rows] == [
        "Nama",
        "Tempat/Tgl Lahir",
        "Jenis Kelamin",
        "Alamat",
        "RT/RW",
        "Kel/Desa",
        "Kecamatan",
        "Agama",
        "Status Perkawinan",
        "Pekerjaan",
        "Kewarganegaraan",
        "Berlaku Hingga",
    ]
    assert fields.rows[2].inline is not None and fields.rows[2].inline.label == "Gol. Darah"


def test_template_dir_falls_back_to_the_repository_templates() -> None:
    """Without a packaged copy, templates are found in the repository's ``templates/``."""
    assert template_dir("ektp") == REPO_TEMPLATES / "ektp"


def test_template_name_cannot_escape_the_templates_directory() -> None:
    """A template name with a path separator is refused."""
    with pytest.raises(TemplateError):
        template_dir("../etc")


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "template.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_unknown_key_in_template_is_an_error(tmp_path: Path) -> None:
    """A misspelt key fails the load instead of being silently ignored."""
    source = (REPO_TEMPLATES / "ektp" / "template.toml").read_text(encoding="utf-8")
    directory = _write(tmp_path, source.replace("pitch_mm = ", "pitch_mmm = "))
    with pytest.raises(TemplateError, match="pitch_mm"):
        load_template(directory=directory)


def test_unknown_placeholder_in_template_is_an_error(tmp_path: Path) -> None:
    """A text naming a record field that does not exist fails the load."""
    source = (REPO_TEMPLATES / "ektp" / "template.toml").read_text(encoding="utf-8")
    directory = _write(tmp_path, source.replace('"{occupation}"', '"{job_title}"'))
    with pytest.raises(TemplateError, match="job_title"):
        load_template(directory=directory)


def test_missing_template_file_is_a_template_error(tmp_path: Path) -> None:
    """A directory without ``template.toml`` raises TemplateError, not FileNotFoundError."""
    with pytest.raises(TemplateError, match="not found"):
        load_template(directory=tmp_path)


def _chars(text: str, size: float) -> float:
    return len(text) * size  # a monospace stand-in: one unit per character per point


def test_fit_shrinks_before_it_wraps() -> None:
    """A value slightly too wide is set on one line at a smaller size, not wrapped."""
    result = fit("ABCDEFGHIJ", width=90, size=10, min_size=8, max_lines=2, measure=_chars)
    assert result is not None
    assert result.lines == ("ABCDEFGHIJ",)
    assert result.size == 9


def test_fit_wraps_into_balanced_lines_when_shrinking_is_not_enough() -> None:
    """A value too wide at the minimum size wraps at a space into lines of similar width."""
    result = fit("AAAA BBBB CCCC DDDD", width=60, size=6, min_size=5, max_lines=2, measure=_chars)
    assert result is not None
    assert result.lines == ("AAAA BBBB", "CCCC DDDD")


def test_fit_gives_up_when_two_lines_at_minimum_size_are_too_wide() -> None:
    """A value that fits in no allowed line count and size returns None."""
    assert (
        fit("AAAAAAAAAAAA BBBB", width=50, size=6, min_size=5, max_lines=2, measure=_chars) is None
    )


def test_split_lines_never_breaks_inside_a_hyphenated_word() -> None:
    """Breaks happen only at spaces, so ``ALI-AKBAR`` stays whole."""
    lines = split_lines(["MUH.", "ALI-AKBAR", "SAPUTRA"], 2, len)
    assert "ALI-AKBAR" in " ".join(lines).split(" ")
    assert all("ALI-" not in line or "ALI-AKBAR" in line for line in lines)
