"""What every ``printctl`` command module shares: the consoles, the context, JSON output,
and the errors a user can cause (one line on stderr, exit 2, never a traceback)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from printctl.config import ConfigError, Settings, load_settings
from printctl.crypto import DecryptionError, KeyFileError
from printctl.db import DatabaseError
from printctl.hardware import HardwareError
from printctl.logs import configure_logging
from printctl.queue.batches import BatchError
from printctl.stock import StockError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_state: dict[str, Any] = {"config": None}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


class CliError(Exception):
    """A user error caught at the command line: printed as one line, exit code 2."""


USER_ERRORS: tuple[type[Exception], ...] = (
    CliError,
    ConfigError,
    KeyFileError,
    DecryptionError,
    DatabaseError,
    BatchError,
    StockError,
    HardwareError,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    settings: Settings = load_settings(_state["config"])
    return settings


@contextmanager
def _context(*, quiet_console: bool = False, station: str | None = None) -> Iterator[Any]:
    from printctl.config import validate
    from printctl.service import Context

    settings = _settings()
    if station is not None:
        settings = validate(replace(settings, station=station))
    configure_logging(
        settings.resolve(settings.log_file) if settings.log_file else None,
        level=settings.log_level,
        console=None if quiet_console else sys.stderr,
    )
    ctx = Context.open(settings)
    try:
        yield ctx
    finally:
        ctx.close()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
