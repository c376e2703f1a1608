"""``printctl users`` as an admin runs it (real processes): passwords on stdin, one-line
errors, no password or hash on screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_cli import ok, one_line_error, run


def run_with_stdin(
    cwd: Path, stdin: str, *args: str, user: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTCTL_")}
    env.update({"PRINTCTL_USER": user, "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "printctl", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_users_are_added_by_an_admin_and_listed_without_secrets(tmp_path: Path) -> None:
    """The first user is an admin; an operator cannot add users; the list shows roles."""
    ok(run(tmp_path, "init"))
    add = ("users", "add", "--password-stdin")
    one_line_error(
        run_with_stdin(
            tmp_path, "kopi-tubruk-2026!\n", *add, "andi", "--role", "operator", user="andi"
        ),
        "first user must be an admin",
    )
    ok(
        run_with_stdin(
            tmp_path, "kopi-tubruk-2026!\n", *add, "Rina", "--role", "admin", user="rina"
        )
    )
    ok(
        run_with_stdin(
            tmp_path, "nasi-goreng-2026!\n", *add, "andi", "--role", "operator", user="rina"
        )
    )
    one_line_error(
        run_with_stdin(
            tmp_path, "teh-manis-2026!\n", *add, "sari", "--role", "supervisor", user="andi"
        ),
        "not an admin",
    )
    listed = json.loads(ok(run(tmp_path, "users", "list", "--json")))
    assert [(u["name"], u["role"]) for u in listed] == [("andi", "operator"), ("rina", "admin")]
    token = ok(run(tmp_path, "users", "token", "andi", "--label", "script", user="rina")).strip()
    assert token.startswith("pct_")
    database = b"".join(
        path.read_bytes()
        for path in tmp_path.glob("printctl.db*")  # the file and its log
    )
    assert b"kopi-tubruk-2026!" not in database and token.encode() not in database
