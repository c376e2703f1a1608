"""printctl: the card-printing job controller for e-KTP issuing offices."""

from __future__ import annotations

__version__ = "0.1.0"
