"""A rehearsal night, end to end: ``printctl overnight`` in a child process on a simulated
clock (x300), four simulated printers each with its trouble — a jam, a ribbon that runs
out, a printer that goes offline, a hopper that empties — and a power cut that kills the
process mid-card, after which the night is started again and carries on.

What must hold whatever the timing: every planned card ends exactly one way (printed, in
doubt awaiting inspection, or back among the ready records), the report and the ledger agree
card for card and printer for printer, no card came out twice or after the window, the
reserve is untouched, and the report names each fault with what the system did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from printctl.night.rehearsal import (
    RehearsalPrinter,
    check_night,
    prepare_night_office,
    rehearse,
)

PRINTERS = [
    # Jams on its 5th print; the power fails during its 60th (it must print at least 61:
    # the others can take 79 of the 140 cards at most).
    RehearsalPrinter(
        "sim-1",
        blanks=150,
        fault="print:5:jam,print:60:power",
        rest_after=50,
        rest_minutes=15,
        rated_cards_per_hour=28,
    ),
    RehearsalPrinter("sim-2", blanks=80, ribbon=30, rated_cards_per_hour=28),  # ribbon out
    RehearsalPrinter("sim-3", blanks=80, fault="feed:20+:offline", rated_cards_per_hour=28),
    RehearsalPrinter("sim-4", blanks=30, rated_cards_per_hour=28),  # its hopper empties
]
START = datetime.fromisoformat("2026-12-02T21:59:00+07:00")


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[int]]:
    workdir = tmp_path_factory.mktemp("night")
    config = prepare_night_office(workdir, PRINTERS, records=140, vault=40, reserve=40)
    done = rehearse(config, start=START, until="05:30", timescale=300)
    return config, done.report, done.exits


def test_the_power_cut_killed_the_night_once_and_the_restart_finished_it(night) -> None:
    _config, report, exits = night
    assert exits == [137, 0]
    assert report["inside_window"]
    assert report["window"]["end"] >= report["ended_at"]


def test_the_report_agrees_with_the_ledger_and_nothing_was_printed_twice(night) -> None:
    config, report, _exits = night
    assert check_night(config, report) == []
    totals = report["totals"]
    # Every planned card ended one way: printed, in doubt, or back among the ready records.
    assert totals["planned"] == 140
    assert totals["printed"] + totals["in_doubt"] + totals["returned_to_ready"] == 140
    assert totals["in_doubt"] == len(report["awaiting_inspection"]) >= 1
    assert sum(p["printed"] for p in report["printers"]) == totals["printed"]


def test_the_reserve_was_left_for_the_day_shift(night) -> None:
    _config, report, _exits = night
    assert report["reserve"] == 40
    assert report["reserve_kept"]
    assert report["stock_after"]["on_hand"] >= 40


def test_the_report_names_each_fault_and_what_the_system_did(night) -> None:
    _config, report, _exits = night
    faults = {(f["printer"], r) for f in report["faults"] for r in f["reasons"]}
    assert ("sim-1", "print-failed") in faults  # the jam: a spoiled blank
    assert ("sim-2", "ribbon-empty") in faults
    assert ("sim-3", "offline") in faults
    assert ("sim-4", "media-empty") in faults or ("sim-4", "out-of-stock") in faults
    assert ("station night-station", "power-loss") in faults
    offline = next(f for f in report["faults"] if "offline" in f["reasons"])
    assert "until a person resumes it" in offline["action"]
    power = next(f for f in report["faults"] if "power-loss" in f["reasons"])
    assert "set aside for inspection" in power["action"]
    assert report["spoiled_by_reason"].get("print-failed", 0) >= 1


def test_the_first_thing_is_the_card_in_doubt_then_the_printers(night) -> None:
    _config, report, _exits = night
    assert report["first_thing"].startswith("Inspect")
    assert any("ribbon" in line and "sim-2" in line for line in report["todo"])
    assert any(line.startswith("sim-3 is stopped") for line in report["todo"])


def test_the_plan_foresaw_the_ribbon_and_the_empty_hopper(night) -> None:
    _config, report, _exits = night
    lines = {p["printer"]: p for p in report["printers"]}
    assert lines["sim-2"]["planned_limit"] == "ribbon" and lines["sim-2"]["ribbon_out_planned"]
    assert lines["sim-4"]["planned_limit"] == "blanks"
    assert lines["sim-2"]["planned"] == lines["sim-2"]["printed"] == 30
    assert lines["sim-4"]["planned"] == lines["sim-4"]["printed"] == 30


def test_the_morning_report_is_a_pdf_and_can_be_shown_again(night) -> None:
    config, report, _exits = night
    pdfs = list((config.parent / "reports").glob("night-*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF")
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "printctl",
            "--config",
            str(config),
            "overnight",
            "report",
            "--json",
        ],
        capture_output=True,
        check=True,
    )
    assert json.loads(shown.stdout)["totals"] == report["totals"]


def test_the_console_shows_the_morning_report_and_its_pdf(night) -> None:
    from fastapi.testclient import TestClient

    from printctl.config import load_settings
    from printctl.service import Context
    from printctl.service_users import add_user
    from printctl.users import Role
    from printctl.web.app import create_app
    from tests.web.support import PASSWORDS, USERS, Office

    config, report, _exits = night
    ctx = Context.open(load_settings(config, environ={}), actor="setup")
    try:
        add_user(ctx, USERS[Role.ADMIN], Role.ADMIN, PASSWORDS[Role.ADMIN])
        admin = replace(ctx, actor=USERS[Role.ADMIN])
        add_user(admin, USERS[Role.OPERATOR], Role.OPERATOR, PASSWORDS[Role.OPERATOR])
        office = Office(config.parent, ctx, create_app(ctx), {})
        client, _csrf = office.login(Role.OPERATOR)
        page = client.get("/night")
        assert page.status_code == 200
        assert "data-first-thing" in page.text and "Inspect 1 card" in page.text
        assert f"data-printed>{report['totals']['printed']}<" in page.text
        assert 'data-fault="power-loss"' in page.text
        pdf = client.get(f"/nights/{report['night']}/report.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert client.get("/night/plan").status_code == 200
        api = client.get(f"/api/v1/nights/{report['night']}").json()
        assert api["totals"] == report["totals"]
        anonymous = TestClient(office.app, base_url="http://console.test")
        assert anonymous.get("/night", follow_redirects=False).status_code == 303
    finally:
        ctx.close()
