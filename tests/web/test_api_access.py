"""Every route of the OpenAPI document refuses anonymous callers, and every change refuses
the roles its permission does not name (and lets the others past the role check)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from printctl.users import Role
from printctl.web.permissions import Perm, roles_with
from tests.web.support import Office, make_office

OPEN_ROUTES = {("GET", "/login"), ("POST", "/login"), ("GET", "/health")}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Office:
    return make_office(tmp_path_factory.mktemp("office"))


def _document(office: Office) -> dict[str, Any]:
    client = office.client()
    answer = client.get(
        "/api/v1/openapi.json", headers={"Authorization": f"Bearer {office.tokens[Role.AUDITOR]}"}
    )
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _operations(office: Office) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in _document(office)["paths"].items():
        for method, op in item.items():
            ops.append((method.upper(), path, op))
    return ops


def _fill(path: str) -> str:
    # Path parameters: a number works for ids and names alike (nothing by that id exists).
    return re.sub(r"\{[^}]+\}", "999", path)


def test_the_openapi_document_itself_needs_a_login(office: Office) -> None:
    assert office.client().get("/api/v1/openapi.json").status_code == 401
    assert office.client().get("/openapi.json").status_code == 404
    assert office.client().get("/docs").status_code == 404


def test_every_route_but_login_and_health_refuses_anonymous_requests(office: Office) -> None:
    """API routes answer 401; console routes send the browser to the login page. Neither
    runs the route (no audit entry, no data in the answer)."""
    ops = _operations(office)
    assert len(ops) > 60  # the whole surface: pages, fragments, documents, API, actions
    client = office.client()
    checked = 0
    for method, path, _op in ops:
        if (method, path) in OPEN_ROUTES:
            continue
        answer = client.request(method, _fill(path), follow_redirects=False)
        if path.startswith("/api/"):
            assert answer.status_code == 401, (method, path, answer.status_code)
        else:
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/login"), (method, path)
        checked += 1
    assert checked == len(ops) - len(OPEN_ROUTES & {(m, p) for m, p, _ in ops})


def test_an_unknown_or_revoked_token_is_refused(office: Office) -> None:
    answer = office.client().get("/api/v1/dashboard", headers={"Authorization": "Bearer pct_nope"})
    assert answer.status_code == 401


def test_every_route_declares_its_permission_and_the_table_pins_the_key_ones(
    office: Office,
) -> None:
    """The OpenAPI document names each route's permission; the separation of duties the
    office relies on is pinned here by hand, not read back from the code."""
    by_route = {
        (m, p): op.get("x-permission")
        for m, p, op in _operations(office)
        if (m, p) not in OPEN_ROUTES
    }
    assert all(by_route.values()), [k for k, v in by_route.items() if not v]
    expected = {
        ("POST", "/api/v1/records/{record_id}/approve"): {"supervisor"},
        ("POST", "/api/v1/stock/proposals/{proposal_id}/approve"): {"supervisor"},
        ("POST", "/api/v1/stock/close-day"): {"supervisor"},
        ("POST", "/api/v1/stock/destroy"): {"supervisor"},
        ("POST", "/api/v1/batches"): {"operator", "supervisor"},
        ("POST", "/api/v1/jobs/{job_id}/inspect"): {"operator", "supervisor"},
        ("POST", "/api/v1/printers/{name}/test-print"): {"technician"},
        ("POST", "/api/v1/printers/{name}/resume"): {"operator", "supervisor", "technician"},
        ("POST", "/api/v1/users"): {"admin"},
        ("GET", "/api/v1/audit"): {"auditor", "supervisor", "admin"},
        ("POST", "/api/v1/records/{record_id}/reveal"): {"operator", "supervisor"},
    }
    for route, roles in expected.items():
        assert set(roles_with(Perm(by_route[route]))) == roles, route


def test_role_checks_hold_for_every_mutating_route(office: Office) -> None:
    """Each POST route, called with every role's token: the roles its permission lacks get
    403 and nothing happens; the others get past the check (a 4xx for the dummy input at
    most, never 401/403)."""
    mutating = [
        (m, p, op) for m, p, op in _operations(office) if m == "POST" and p.startswith("/api/")
    ]
    assert len(mutating) >= 25
    client = office.client()
    for _method, path, op in mutating:
        allowed = set(roles_with(Perm(op["x-permission"])))
        for role in Role:
            answer = client.post(
                _fill(path), json={}, headers={"Authorization": f"Bearer {office.tokens[role]}"}
            )
            if role.value in allowed:
                assert answer.status_code not in (401, 403), (path, role, answer.text)
            else:
                assert answer.status_code == 403, (path, role, answer.status_code)


def test_console_forms_need_the_csrf_token_of_their_session(office: Office) -> None:
    """A cookie-authenticated change without the session's CSRF token is refused."""
    auditor = {"Authorization": f"Bearer {office.tokens[Role.AUDITOR]}"}
    before = len(office.client().get("/api/v1/batches", headers=auditor).json())
    client, csrf = office.login(Role.OPERATOR)
    without = client.post("/batches", data={"limit": "1"}, follow_redirects=False)
    assert without.status_code == 403
    wrong = client.post(
        "/batches", data={"limit": "1", "csrf_token": "x" * 43}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert len(office.client().get("/api/v1/batches", headers=auditor).json()) == before
    right = client.post("/batches", data={"limit": "1", "csrf_token": csrf}, follow_redirects=False)
    # Past the CSRF check the action runs (the earlier tests may have batched every ready
    # record, so it may answer with the service's refusal: a message, not a 403).
    assert right.status_code == 303 and "printctl_flash" in right.cookies


def test_an_operator_cannot_reach_supervisor_pages_or_actions(office: Office) -> None:
    client, csrf = office.login(Role.OPERATOR)
    refusal = client.get("/audit")
    assert refusal.status_code == 403
    assert "audit.read" in refusal.text and 'action="/logout"' in refusal.text  # menu kept
    assert client.get("/users").status_code == 403
    refused = client.post("/stock/close-day", data={"csrf_token": csrf}, follow_redirects=False)
    assert refused.status_code == 403
    # The pages do not even offer the buttons.
    assert "/stock/close-day" not in client.get("/stock").text


def test_failed_logins_are_limited_per_address_and_journaled(tmp_path: Path) -> None:
    office = make_office(tmp_path / "o", printers=1, records=5)
    client = office.client()
    statuses = []
    for _ in range(12):
        page = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token is not None
        answer = client.post(
            "/login",
            data={"name": "nobody", "password": "wrong guess 123", "login_token": token[1]},
        )
        statuses.append(answer.status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    auditor = {"Authorization": f"Bearer {office.tokens[Role.AUDITOR]}"}
    events = client.get("/api/v1/audit?action=user.login", headers=auditor).json()
    actions = [e["action"] for e in events]
    assert actions.count("user.login-failed") == 10 and actions.count("user.login-throttled") == 2


def test_the_stock_papers_download_from_the_console(office: Office) -> None:
    """The daily statement is a PDF; the ledger a CSV; a destruction record that does not
    exist yet is a message on the stock page, not an error page."""
    client, _csrf = office.login(Role.OPERATOR)
    pdf = client.get("/stock/statement.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    csv_file = client.get("/stock/ledger.csv")
    assert csv_file.status_code == 200 and csv_file.text.startswith("id,day,at,kind")
    none_yet = client.get("/stock/destruction.pdf", follow_redirects=False)
    assert none_yet.status_code == 303 and none_yet.headers["location"] == "/stock"
    assert "no destruction" in client.get("/stock").text
