"""Browser tests: the real server process, driven by Playwright in Debian's Chromium.

The Playwright browser download is not reachable here, so the tests point Playwright at
``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it). Without it
the tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_core.access import Role
from resolutionflow_core.system import SystemClock
from resolutionflow_core.users import register_user
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.users import SqlUserStore

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
STARTUP_SECONDS = 60


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class WebServer:
    directory: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.directory / 'web.sqlite3'}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONFLOW_")}
        environment.pop("ANTHROPIC_API_KEY", None)
        environment |= {
            "RESOLUTIONFLOW_DATABASE_URL": self.database_url,
            "RESOLUTIONFLOW_HOST": "127.0.0.1",
            "RESOLUTIONFLOW_PORT": str(self.port),
            "RESOLUTIONFLOW_LLM": "offline",
        }
        with (
            (self.directory / "stdout.txt").open("wb") as stdout,
            (self.directory / "stderr.txt").open("wb") as stderr,
        ):
            self.process = subprocess.Popen(
                [sys.executable, "-m", "resolutionflow_api"],
                cwd=self.directory,
                env=environment,
                stdout=stdout,
                stderr=stderr,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.stderr}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.stderr}")

    @property
    def stdout(self) -> str:
        return (self.directory / "stdout.txt").read_text()

    @property
    def stderr(self) -> str:
        return (self.directory / "stderr.txt").read_text()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


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
def web(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[WebServer]:
    server = WebServer(tmp_path_factory.mktemp("web")).start()
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
