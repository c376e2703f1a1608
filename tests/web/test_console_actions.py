"""The console's forms do what the CLI does: a delivery received and counted, a printer
paused, test-printed (its blank in the ledger as test-print) and resumed."""

from __future__ import annotations

from pathlib import Path

from printctl.users import Role
from tests.web.support import make_office


def test_an_operator_receives_and_counts_blanks_from_the_stock_page(tmp_path: Path) -> None:
    office = make_office(tmp_path / "o", printers=1, records=5)
    auditor = {"Authorization": f"Bearer {office.tokens[Role.AUDITOR]}"}
    before = office.client().get("/api/v1/stock", headers=auditor).json()
    client, csrf = office.login(Role.OPERATOR)
    received = client.post(
        "/stock/receive",
        data={"csrf_token": csrf, "count": "25", "lot": "2026-12-A", "document": "SJ-77"},
    )
    assert received.status_code == 200 and "25 blank(s) received" in received.text
    after = office.client().get("/api/v1/stock", headers=auditor).json()
    assert after["vault"] == before["vault"] + 25 and after["received"] == before["received"] + 25
    counted = client.post(
        "/stock/count",
        data={"csrf_token": csrf, "location": "vault", "counted": str(after["vault"])},
    )
    assert "matches the ledger" in counted.text
    bad = client.post("/stock/receive", data={"csrf_token": csrf, "count": "0", "lot": "x"})
    assert "check the form" in bad.text  # one message, nothing recorded
    assert office.client().get("/api/v1/stock", headers=auditor).json()["vault"] == after["vault"]


def test_a_technician_pauses_test_prints_and_resumes_a_printer(tmp_path: Path) -> None:
    office = make_office(tmp_path / "o", printers=1, records=5)
    auditor = {"Authorization": f"Bearer {office.tokens[Role.AUDITOR]}"}
    hopper = office.client().get("/api/v1/stock", headers=auditor).json()["hoppers"]["sim-1"]
    client, csrf = office.login(Role.TECHNICIAN)
    refused = client.post("/printers/sim-1/test-print", data={"csrf_token": csrf})
    assert "pause sim-1 before a test print" in refused.text
    paused = client.post("/printers/sim-1/pause", data={"csrf_token": csrf, "note": "test card"})
    assert "sim-1 paused" in paused.text
    printed = client.post("/printers/sim-1/test-print", data={"csrf_token": csrf})
    assert "test card printed on sim-1" in printed.text
    stock = office.client().get("/api/v1/stock", headers=auditor).json()
    assert stock["spoiled_by_reason"] == {"test-print": 1}
    assert stock["hoppers"]["sim-1"] == hopper - 1  # the blank left the hopper's balance
    resumed = client.post("/printers/sim-1/resume", data={"csrf_token": csrf})
    assert "sim-1 resumed" in resumed.text
    printers = office.client().get("/api/v1/printers", headers=auditor).json()
    assert printers[0]["state"] == "idle"
