"""Structured logging: JSON lines to a file, readable lines on a terminal, NIKs masked.

Every log line passes through :func:`mask_niks`, which replaces any 16-digit run (a NIK, in
a message or in any field) with its masked form, so personal identifiers never reach a log
file even when a caller forgets to mask.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from printctl.domain import mask_nik

_NIK_RE = re.compile(r"(?<!\d)\d{16}(?!\d)")


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return _NIK_RE.sub(lambda m: mask_nik(m.group(0)), value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(v) for v in value)
    return value


def mask_niks(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask every NIK-shaped number in the event."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(value)
    return event_dict


# Lines from other libraries' loggers (SQLAlchemy, pyusb, …) are masked the same way.
_FOREIGN: list[Any] = [
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
    mask_niks,
]


def configure_logging(
    log_file: Path | None, *, level: str = "info", console: TextIO | None = sys.stderr
) -> None:
    """Send JSON lines to ``log_file`` and readable lines to ``console`` (errors only)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handlers: list[logging.Handler] = []
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.processors.JSONRenderer(), foreign_pre_chain=_FOREIGN
            )
        )
        file_handler.setLevel(numeric)
        handlers.append(file_handler)
    if console is not None:
        console_handler = logging.StreamHandler(console)
        console_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.dev.ConsoleRenderer(colors=False), foreign_pre_chain=_FOREIGN
            )
        )
        # The CLI says what went wrong in its own words; the console log adds only errors.
        console_handler.setLevel(max(numeric, logging.ERROR))
        handlers.append(console_handler)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(numeric)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # before masking: tracebacks get masked too
            mask_niks,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A bound structlog logger for ``name``."""
    return structlog.get_logger(name)
