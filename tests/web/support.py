"""A training office behind the web app for the API and console tests, with one user per
role (each password ends in the role's name reversed, so no password holds its user name)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from printctl.config import load_settings
from printctl.demo import prepare_office
from printctl.service import Context
from printctl.service_users import add_user, issue_token
from printctl.users import Role
from printctl.web.app import create_app

PASSWORDS = {role: f"correct horse {role.value[::-1]} 42" for role in Role}
#: user name per role
USERS = {role: f"u-{role.value}" for role in Role}


@dataclass
class Office:
    """A prepared office, its app, and a token per role."""

    folder: Path
    ctx: Context
    app: FastAPI
    tokens: dict[Role, str]

    def client(self) -> TestClient:
        """A fresh client (no cookies)."""
        return TestClient(self.app, base_url="http://console.test")

    def login(self, role: Role) -> tuple[TestClient, str]:
        """A client signed in as ``role``'s user, and its CSRF token."""
        client = self.client()
        page = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token is not None
        answer = client.post(
            "/login",
            data={"name": USERS[role], "password": PASSWORDS[role], "login_token": token[1]},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        home = client.get("/")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
        assert csrf is not None
        return client, csrf[1]


def make_office(folder: Path, *, printers: int = 2, records: int = 20, **options: Any) -> Office:
    """Prepare a training office in ``folder`` with a user and a token for every role;
    ``options`` go to :func:`printctl.demo.prepare_office` (faults, policy, timescale)."""
    prepare_office(folder, records=records, printers=printers, blanks=40, **options)
    settings = load_settings(folder / "printctl.toml", environ={})
    ctx = Context.open(settings, actor="setup")
    admin = replace(ctx, actor=USERS[Role.ADMIN])
    add_user(ctx, USERS[Role.ADMIN], Role.ADMIN, PASSWORDS[Role.ADMIN])
    for role in Role:
        if role is not Role.ADMIN:
            add_user(admin, USERS[role], role, PASSWORDS[role])
    tokens = {role: issue_token(admin, USERS[role], "tests") for role in Role}
    return Office(folder, ctx, create_app(ctx), tokens)
