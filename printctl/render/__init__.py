"""Card rendering: template → layout → proof PDF (ReportLab) and printer panels (pdfium).

The public surface::

    render_card(record, issue_date=..., template=None) -> RenderedCard   # panels for the printer
    write_proof_pdf(cards, path, template=None) -> int                   # PDF a person checks
    render_test_card(template=None) -> CardImage                          # technician's pattern
    load_template(name="ektp") -> Template

Errors are :class:`RenderError` and its subclasses (see :mod:`printctl.render.errors`).
"""

from __future__ import annotations

from printctl.render.card import (
    CardRenderer,
    RenderedCard,
    default_template,
    render_card,
    renderer_for,
    write_proof_pdf,
)
from printctl.render.errors import (
    AddressDoesNotFit,
    FieldDoesNotFit,
    MediaDecodeError,
    NameDoesNotFit,
    RenderError,
    TemplateError,
    UnprintableText,
)
from printctl.render.layout import Layer, LayoutEngine, SideLayout, draw_side
from printctl.render.template import Template, load_template, template_dir
from printctl.render.testcard import render_test_card

__all__ = [
    "AddressDoesNotFit",
    "CardRenderer",
    "FieldDoesNotFit",
    "Layer",
    "LayoutEngine",
    "MediaDecodeError",
    "NameDoesNotFit",
    "RenderError",
    "RenderedCard",
    "SideLayout",
    "Template",
    "TemplateError",
    "UnprintableText",
    "default_template",
    "draw_side",
    "load_template",
    "render_card",
    "render_test_card",
    "renderer_for",
    "template_dir",
    "write_proof_pdf",
]
