"""The example third-party driver, installed with pip, found through its entry points.

``examples/printctl-example-driver`` is installed into the running environment once per
session (a copy of it, so the checkout stays clean), then uninstalled, unless it was already
installed before the session, in which case it is used and left as it was. The build needs
hatchling: with it importable the install uses ``--no-build-isolation`` (works offline);
otherwise pip fetches it into an isolated build environment from the configured index, and
the tests skip when that is impossible.

The CLI runs as a user runs it: ``python -m printctl driver …`` in a subprocess.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from printctl.registry import list_drivers

DIST = "printctl-example-driver"
SOURCE = Path(__file__).resolve().parents[2] / "examples" / DIST


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _installed() -> bool:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="session")
def example_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example driver installed in this environment for the session; yields its name."""
    if _installed():
        yield DIST
        return
    copy = tmp_path_factory.mktemp("example-driver") / DIST
    shutil.copytree(SOURCE, copy)
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    result = _pip("install", "--no-deps", *isolation, str(copy))
    if result.returncode != 0:
        tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        pytest.skip(f"could not pip install the example driver: {tail}")
    # The new distribution's directory must be seen by this process's import system.
    importlib.invalidate_caches()
    try:
        yield DIST
    finally:
        _pip("uninstall", "-y", DIST)
        importlib.invalidate_caches()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTCTL_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "printctl", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_example_driver_is_listed_with_its_distribution_as_origin(example_driver: str) -> None:
    """After pip install, list_drivers() has an available example printer and encoder from the dist."""
    rows = [info for info in list_drivers() if info.scheme == "example"]
    assert {(info.kind, info.origin, info.available) for info in rows} == {
        ("printer", example_driver, True),
        ("encoder", example_driver, True),
    }
    printer = next(info for info in rows if info.kind == "printer")
    assert printer.summary.startswith("In-memory example printer")


def test_driver_list_shows_the_example_driver(example_driver: str) -> None:
    """`printctl driver list` shows the example scheme with its distribution, in the table and JSON."""
    table = run_cli("driver", "list")
    assert table.returncode == 0, table.stderr
    assert "example" in table.stdout and example_driver in table.stdout
    rows = json.loads(run_cli("driver", "list", "--json").stdout)
    assert {"printer", "encoder"} == {r["kind"] for r in rows if r["origin"] == example_driver}


def test_driver_check_passes_on_the_example_printer_and_encoder(example_driver: str) -> None:
    """`printctl driver check example://` passes every printer check, and with --encoder every encoder check."""
    printer = run_cli("driver", "check", "example://", "--json")
    assert printer.returncode == 0, printer.stderr + printer.stdout
    data = json.loads(printer.stdout)
    assert data["passed"] and {r["outcome"] for r in data["results"]} == {"pass"}
    encoder = run_cli("driver", "check", "example://", "--encoder")
    assert encoder.returncode == 0, encoder.stderr + encoder.stdout
    assert "0 failed" in encoder.stdout


def test_the_example_driver_rejects_unknown_options(example_driver: str) -> None:
    """A misspelt option on the example driver is one error line, exit 2."""
    result = run_cli("driver", "check", "example://?cardz=3")
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "unknown option 'cardz'" in result.stderr
    assert "Traceback" not in result.stderr
