"""The notification hook: the morning report sent where the office wants it.

Two ways, either or both (``printctl.toml``):

* ``night_notify_command``: a command run with the report's JSON on its standard input and
  ``PRINTCTL_REPORT_PDF`` (the PDF's path), ``PRINTCTL_FIRST_THING`` and
  ``PRINTCTL_NIGHT`` in its environment: a mail, chat or SMS gateway script. It may take a
  minute at most.
* ``night_notify_url``: the report's JSON POSTed to this URL (10 s at most).

A hook that fails is logged and journaled (``night.notify-failed``); it never fails the night.
The report holds no personal data beyond masked NIKs.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from printctl.db import session_scope
from printctl.logs import get_logger
from printctl.service import Context

log = get_logger(__name__)

COMMAND_TIMEOUT_S = 60.0
WEBHOOK_TIMEOUT_S = 10.0


def _run_command(command: str, body: bytes, env: dict[str, str]) -> str:
    """Run the hook command; "" when it succeeded, else why not."""
    try:
        done = subprocess.run(
            shlex.split(command),
            input=body,
            env={**os.environ, **env},
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, ValueError) as exc:
        return f"cannot run {command!r}: {exc}"
    except subprocess.TimeoutExpired:
        return f"{command!r} did not finish within {COMMAND_TIMEOUT_S:g} s"
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
        return f"{command!r} exited with status {done.returncode}: {tail}"
    return ""


def _post(url: str, body: bytes) -> str:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url} unreachable: {getattr(exc, 'reason', exc)}"
    return "" if 200 <= status < 300 else f"{url} answered {status}"


def notify(ctx: Context, report: dict[str, Any], pdf: Path | None) -> list[str]:
    """Send the report through the configured hooks; returns the failures (empty: all sent)."""
    settings = ctx.settings
    if not (settings.night_notify_command or settings.night_notify_url):
        return []
    body = json.dumps(report).encode("utf-8")
    failures: list[str] = []
    if settings.night_notify_command:
        env = {
            "PRINTCTL_REPORT_PDF": str(pdf) if pdf else "",
            "PRINTCTL_FIRST_THING": str(report.get("first_thing", "")),
            "PRINTCTL_NIGHT": str(report.get("night", "")),
        }
        problem = _run_command(settings.night_notify_command, body, env)
        if problem:
            failures.append(problem)
    if settings.night_notify_url:
        problem = _post(settings.night_notify_url, body)
        if problem:
            failures.append(problem)
    with session_scope(ctx.engine) as session:
        ctx.journal(
            session,
            "night.notified" if not failures else "night.notify-failed",
            entity="night",
            entity_id=int(report.get("night") or 0),
            detail={"failures": failures},
            outcome="ok" if not failures else "failed",
        )
    for problem in failures:
        log.error("night report not sent", error=problem)
    return failures
