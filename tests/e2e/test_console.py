"""The console in a real browser: each role signs in and sees what it may do; an operator
takes a batch from ready records to printed cards on simulated printers, resolving a jam
left for inspection; a reprint requested by an operator is approved by a supervisor; an
operator cannot reach supervisor actions."""

from __future__ import annotations

from typing import Any

import pytest

from printctl.users import Role
from tests.e2e.conftest import Live
from tests.web.support import PASSWORDS, USERS

pytestmark = pytest.mark.slow

#: What each role's menu offers (English labels, the language chosen at login).
MENUS = {
    Role.OPERATOR: [
        "Dashboard",
        "Ready records",
        "Batches",
        "Attention",
        "Stock",
        "Printers",
        "Nights",
    ],
    Role.SUPERVISOR: [
        "Dashboard",
        "Ready records",
        "Batches",
        "Attention",
        "Stock",
        "Printers",
        "Nights",
        "Audit log",
    ],
    Role.TECHNICIAN: [
        "Dashboard",
        "Ready records",
        "Batches",
        "Attention",
        "Stock",
        "Printers",
        "Nights",
    ],
    Role.AUDITOR: [
        "Dashboard",
        "Ready records",
        "Batches",
        "Attention",
        "Stock",
        "Printers",
        "Nights",
        "Audit log",
    ],
    Role.ADMIN: [
        "Dashboard",
        "Ready records",
        "Batches",
        "Attention",
        "Stock",
        "Printers",
        "Nights",
        "Audit log",
        "Users",
    ],
}


def sign_in(live: Live, browser: Any, role: Role, *, lang: str = "en") -> Any:
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"{live.url}/login?lang={lang}")
    page.fill("input[name=name]", USERS[role])
    page.fill("input[name=password]", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    return page


def test_each_role_signs_in_and_sees_its_own_menu(live: Live, browser: Any) -> None:
    for role in Role:
        page = sign_in(live, browser, role)
        menu = page.locator("header.top nav a").all_inner_texts()
        assert menu == MENUS[role], role
        assert page.locator(f"[data-user='{USERS[role]}']").count() == 1
        page.context.close()


def test_the_console_speaks_indonesian_by_default(live: Live, browser: Any) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{live.url}/")
    assert "/login" in page.url
    assert page.locator("button[type=submit]").inner_text() == "Masuk"
    page.goto(f"{live.url}/login?lang=id")
    page.fill("input[name=name]", USERS[Role.OPERATOR])
    page.fill("input[name=password]", PASSWORDS[Role.OPERATOR])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    assert page.locator("h1").inner_text() == "Dasbor"
    page.context.close()


def test_an_operator_prints_a_batch_and_resolves_the_jam_from_the_console(
    live: Live, browser: Any
) -> None:
    page = sign_in(live, browser, Role.OPERATOR)
    live.shot(page, "dashboard-before")
    page.click("header.top nav a:has-text('Ready records')")
    ready = int(page.locator("[data-matching]").inner_text())
    assert ready > 4
    live.shot(page, "ready-records")
    page.click("#create-batch button[type=submit]")
    page.wait_for_url("**/batches/*")
    assert "created and started" in page.locator(".flash").inner_text()
    batch_url = page.url

    # sim-1 jams on its second card: the card is left for a person, the printer stops.
    page.goto(f"{live.url}/attention")
    page.wait_for_selector("[data-inspect-job]", timeout=60_000)
    page.wait_for_selector("[data-stopped-printer='sim-1']", timeout=60_000)
    live.shot(page, "attention")
    card = page.locator("[data-inspect-job]").first
    card.locator("select[name=found]").select_option("spoiled")
    card.locator("input[name=note]").fill("jammed card taken out, torn")
    card.locator("button[type=submit]").click()
    assert "recorded as spoiled" in page.locator(".flash").inner_text()
    page.locator("[data-stopped-printer='sim-1'] button:has-text('Resume')").click()
    assert "sim-1 resumed" in page.locator(".flash").inner_text()

    # Live progress: the batch page updates itself until every card is printed.
    page.goto(batch_url)
    page.wait_for_selector("[data-state='done']", timeout=120_000)
    printed = int(page.locator("[data-printed]").inner_text())
    assert printed == ready  # the spoiled card's record was printed again, once
    assert page.locator("[data-job-state='needs-inspection']").count() == 0
    live.shot(page, "batch-done")
    page.goto(f"{live.url}/")
    assert page.locator("[data-attention-total]").get_attribute("data-attention-total") != ""
    live.shot(page, "dashboard-after")
    page.context.close()

    stock = (
        live.office.client()
        .get(
            "/api/v1/stock", headers={"Authorization": f"Bearer {live.office.tokens[Role.AUDITOR]}"}
        )
        .json()
    )
    assert stock["issued"] == ready and stock["spoiled"] == 1 and stock["in_doubt"] == 0


def test_a_reprint_requested_by_an_operator_is_approved_by_a_supervisor(
    live: Live, browser: Any
) -> None:
    operator = sign_in(live, browser, Role.OPERATOR)
    operator.goto(f"{live.url}/attention")
    row = operator.locator("[data-reprint]").first
    record_id = row.get_attribute("data-reprint")
    operator.goto(f"{live.url}/records/{record_id}")
    operator.select_option("select[name=kind]", "police-letter")
    operator.fill("input[name=evidence]", "LP/17/XII/2026/Polres")
    operator.click("form[action$='/request-reprint'] button[type=submit]")
    operator.wait_for_selector(".flash.ok")
    assert "requested" in operator.locator(".flash.ok").inner_text()
    # The operator is offered no approval, and asking anyway is refused.
    assert operator.locator("form[action$='/approve']").count() == 0
    operator.goto(f"{live.url}/attention")
    assert operator.locator(f"[data-reprint='{record_id}'] form[action$='/approve']").count() == 0
    operator.context.close()

    supervisor = sign_in(live, browser, Role.SUPERVISOR)
    supervisor.goto(f"{live.url}/attention")
    supervisor.locator(f"[data-reprint='{record_id}'] button:has-text('Approve reprint')").click()
    assert "approved" in supervisor.locator(".flash").inner_text().lower()
    supervisor.goto(f"{live.url}/records/{record_id}")
    supervisor.wait_for_selector("h1 [data-state='ready']")
    supervisor.context.close()


def test_an_operator_cannot_reach_supervisor_actions(live: Live, browser: Any) -> None:
    page = sign_in(live, browser, Role.OPERATOR)
    for path in ("/audit", "/users"):
        answer = page.goto(f"{live.url}{path}")
        assert answer is not None and answer.status == 403
    page.goto(f"{live.url}/stock")
    assert page.locator("form[action='/stock/close-day']").count() == 0
    # A forged form (the operator's own valid CSRF token) is refused by the role check.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"{live.url}/stock/close-day", form={"csrf_token": token or ""}, max_redirects=0
    )
    assert answer.status == 403
    page.context.close()


def test_opening_a_full_nik_is_explicit_and_audited(live: Live, browser: Any) -> None:
    page = sign_in(live, browser, Role.OPERATOR)
    page.goto(f"{live.url}/records")
    page.goto(f"{live.url}/batches")
    page.locator("table a").first.click()
    record_link = page.locator("[data-job] a").first
    record_id = record_link.inner_text()
    record_link.click()
    masked = page.locator("[data-nik-masked]").inner_text()
    assert masked.startswith("*" * 12) and len(masked) == 16
    page.click("details summary")
    page.fill("input[name=reason]", "holder at the counter disputes the number")
    page.click("form[action$='/reveal'] button[type=submit]")
    nik = page.locator("[data-nik-revealed]").inner_text()
    assert nik.isdigit() and len(nik) == 16 and nik.endswith(masked[-4:])
    page.context.close()
    events = (
        live.office.client()
        .get(
            f"/api/v1/audit?action=record.nik-revealed&entity_id={record_id}",
            headers={"Authorization": f"Bearer {live.office.tokens[Role.AUDITOR]}"},
        )
        .json()
    )
    assert [e["actor"] for e in events] == [USERS[Role.OPERATOR]]
    assert nik not in str(events)
