"""Every phrase the console's templates show has its Bahasa Indonesia."""

from __future__ import annotations

import re
from pathlib import Path

from printctl.models import BatchState, JobState, JobStep, PrinterRunState, RecordState
from printctl.users import Role
from printctl.web.i18n import ID, number, translator
from printctl.web.views import PRINTER_ACTIONS

TEMPLATES = Path(__file__).parents[2] / "printctl" / "web" / "templates"


def test_every_template_phrase_has_an_indonesian_translation() -> None:
    phrases = set()
    for template in TEMPLATES.glob("*.html"):
        phrases |= set(re.findall(r"""\bt\((["'])(.+?)\1\)""", template.read_text()))
    texts = {text for _quote, text in phrases}
    assert len(texts) > 150
    missing = sorted(text for text in texts if text not in ID)
    assert missing == []


def test_states_roles_and_printer_actions_are_translated() -> None:
    codes = [
        *(s.value for s in JobState),
        *(s.value for s in BatchState),
        *(s.value for s in RecordState),
        *(s.value for s in PrinterRunState),
        *(s.value for s in JobStep if s.value),
        *(r.value for r in Role),
        *PRINTER_ACTIONS.values(),
    ]
    assert [c for c in codes if c not in ID] == []


def test_english_is_the_text_as_written_and_indonesian_groups_thousands_with_dots() -> None:
    assert translator("en")("Dashboard") == "Dashboard"
    assert translator("id")("Dashboard") == "Dasbor"
    from jinja2 import Environment

    env = Environment()
    env.filters["number"] = number
    template = env.from_string("{{ 12345 | number }}")
    assert template.render(lang="id") == "12.345"
    assert template.render(lang="en") == "12,345"
