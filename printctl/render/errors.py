"""The renderer's errors.

Every failure to turn a record into a card is a :class:`RenderError`; the queue treats it as a
problem of that job's data (it will fail the same way on every printer), never as a printer
fault. Messages never quote the record's personal data: they say which field and why::

    RenderError
    ├── TemplateError          the template is missing, malformed or refers to unknown things
    ├── MediaDecodeError       the photo or signature does not decode
    ├── UnprintableText        a character the card font has no glyph for
    └── FieldDoesNotFit        a value does not fit its box even at the smallest allowed size
        ├── NameDoesNotFit
        └── AddressDoesNotFit
"""

from __future__ import annotations


class RenderError(Exception):
    """A card could not be rendered; retrying the same record with the same template won't help."""


class TemplateError(RenderError):
    """The card template is missing, malformed, or names fields, fonts or colours it lacks."""


class MediaDecodeError(RenderError):
    """The record's photo or signature image does not decode."""


class UnprintableText(RenderError):
    """A value holds a character the card font cannot print (it would come out as a box)."""


class FieldDoesNotFit(RenderError):
    """A value does not fit its box after shrinking to the minimum size and wrapping.

    ``field`` names the template field (e.g. ``"name"``); the value itself is not quoted, so
    the message is safe for logs.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class NameDoesNotFit(FieldDoesNotFit):
    """The holder's name does not fit on the card: the job fails instead of clipping."""


class AddressDoesNotFit(FieldDoesNotFit):
    """The address does not fit in its lines: the job fails instead of clipping."""
