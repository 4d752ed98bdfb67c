"""Browser tests: the real server process, driven by Playwright in Debian's Chromium.

The Playwright browser download is not reachable here, so the tests point Playwright at
``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it). Without it
the tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_core.access import Role
from resolutionflow_core.system import SystemClock
from resolutionflow_core.users import register_user
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.users import SqlUserStore
from tests.servers import ServerProcess

CHROMIUM = os.environ.get("RESOLUTIONFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    account: str
    email: str
    role: Role


ALICE = Person("acme", "alice@acme.example", Role.ENGINEER)
BOB = Person("acme", "bob@acme.example", Role.ENGINEER)
VIC = Person("acme", "vic@acme.example", Role.VIEWER)
GINA = Person("globex", "gina@globex.example", Role.ENGINEER)
OWEN = Person("acme", "owen@acme.example", Role.OWNER)
PEOPLE = (ALICE, BOB, VIC, GINA, OWEN)


def web_server(directory: Path) -> ServerProcess:
    """The server on a new SQLite file in ``directory``, started and ready."""
    database_url = f"sqlite:///{directory / 'web.sqlite3'}"
    return ServerProcess(database_url, directory).start().wait_ready()


def sign_in_on(page: Any, web: ServerProcess, person: Person) -> None:
    """Fill in the sign-in form on ``page`` as ``person`` and wait for the dashboard."""
    page.fill("#account", person.account)
    page.fill("#email", person.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(web.base_url + "/")


async def _register(database_url: str, people: tuple[Person, ...]) -> None:
    storage = SqlStorage.from_url(database_url)
    try:
        users = SqlUserStore(storage.database)
        passwords = Argon2Passwords()
        for person in people:
            await register_user(
                users, passwords, account_id=person.account, email=person.email,
                role=person.role, password=PASSWORD, now=SystemClock().now(),
            )  # fmt: skip
    finally:
        await storage.dispose()


def fail_a_delivery(database_url: str, session_id: str, ticket_id: str = "4711") -> None:
    """Give a resolved session a linked ticket whose resolution note failed to deliver, as
    the relay leaves it after the PSA refused it (the served app cannot reach a PSA stub:
    its host guard refuses loopback)."""
    import sqlalchemy as sa

    from resolutionflow_core.delivery import marker_for
    from resolutionflow_sqlalchemy.tables import ai_sessions, psa_deliveries

    now = SystemClock().now()
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            version = conn.execute(
                sa.update(ai_sessions)
                .where(ai_sessions.c.id == UUID(session_id))
                .values(
                    psa_provider="connectwise",
                    psa_ticket_id=ticket_id,
                    psa_ticket_snapshot={"summary": "Outlook password prompts"},
                    psa_linked_at=now,
                )
                .returning(ai_sessions.c.version)
            ).scalar_one()
            conn.execute(
                sa.insert(psa_deliveries).values(
                    session_id=UUID(session_id), account_id="acme", version=version,
                    ticket_provider="connectwise", ticket_id=ticket_id, note_kind="resolution",
                    note_text="Resolved: rebuilt the Outlook profile",
                    marker=marker_for(UUID(session_id), version), state="failed", attempts=5,
                    next_attempt_at=now, created_at=now,
                    last_error="ConnectWise refused the note: 401 Unauthorized",
                )
            )  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> str:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true, so a missing Chromium is a failure: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[ServerProcess]:
    server = web_server(tmp_path_factory.mktemp("web"))
    try:
        # In a thread of its own: Playwright's sync API may already run a loop in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _register(server.database_url, PEOPLE)).result()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
