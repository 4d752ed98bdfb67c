"""The command line in process, through Typer's `CliRunner`, on a SQLite file per test.

Every test gets its own database file, copied from one migrated once per run, and the
operator's environment: ``RESOLUTIONFLOW_DATABASE_URL`` points at the file, the offline
LLM answers, no actor is set (so the default ``default:owner:owner`` acts), no colour
settings. `Cli` runs commands and checks what they print.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import resolutionflow_app
from resolutionflow_app import Application, Settings
from resolutionflow_cli.main import app
from resolutionflow_core.delivery import DeliveryRelay
from resolutionflow_core.services import SessionService
from resolutionflow_core.tickets import Ticket
from resolutionflow_memory import InMemoryPSA, InMemoryPSAConnections
from resolutionflow_sqlalchemy import migrations

CLEARED_ENV = (
    "RESOLUTIONFLOW_ACTOR",
    "RESOLUTIONFLOW_HOST",
    "RESOLUTIONFLOW_PORT",
    "RESOLUTIONFLOW_WORKERS",
    "ANTHROPIC_API_KEY",
    "NO_COLOR",
    "FORCE_COLOR",
    "COLUMNS",
    "TERM",
)

TICKET = Ticket("memory", "T-100", "Printer on floor 2 offline", company="Acme Ltd")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest revision, migrated once; tests copy it."""
    path = tmp_path_factory.mktemp("cli-template") / "template.sqlite3"
    asyncio.run(migrations.upgrade(f"sqlite:///{path}"))
    return path


@pytest.fixture
def database_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    path = tmp_path / "resolutionflow.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """The environment of an operator on their own machine; returns the database URL."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("RESOLUTIONFLOW_LLM", "offline")
    return database_url


class Cli:
    """Runs ``resolutionflow …`` in process and checks how it ends."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return self.runner.invoke(app, list(args), input=input, env=env)

    def ok(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        result = self(*args, input=input, env=env)
        assert result.exit_code == 0, (
            f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env).stdout)

    def refused(self, code: int, *args: str, input: str | None = None) -> str:
        """Run a command that must be refused: exit ``code``, one line on stderr; the line."""
        result = self(*args, input=input)
        assert result.exit_code == code, (
            f"exit {result.exit_code}, expected {code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
        assert lines[0].startswith("resolutionflow: ")
        return lines[0]

    def new_chat(self, text: str = "Outlook keeps asking for the password", *who: str) -> str:
        return str(self.json("sessions", "new", "--type", "chat", text, *who)["id"])

    def new_guided(self, text: str = "The office printer is offline", *who: str) -> str:
        return str(self.json("sessions", "new", "--type", "guided", text, *who)["id"])

    def session(self, session_id: str, *who: str) -> dict[str, Any]:
        return dict(self.json("sessions", "show", session_id, *who))


@pytest.fixture
def cli(operator_env: str) -> Cli:
    return Cli(operator_env)


OpenHook = Callable[[Application], None]


@pytest.fixture
def on_open(monkeypatch: pytest.MonkeyPatch) -> Callable[[OpenHook], None]:
    """Registers hooks run on every application the commands open (to steer LLM or PSA)."""
    hooks: list[OpenHook] = []
    opened: Callable[[Settings | None], Application] = resolutionflow_app.open_application

    def open_hooked(settings: Settings | None = None) -> Application:
        application = opened(settings)
        for hook in hooks:
            hook(application)
        return application

    monkeypatch.setattr(resolutionflow_app, "open_application", open_hooked)
    return hooks.append


@pytest.fixture
def psa(on_open: Callable[[OpenHook], None]) -> InMemoryPSA:
    """An in-memory PSA for the ``default`` account, holding ticket T-100, in every app opened:
    its sessions service and its delivery relay use it instead of the stored connections."""
    client = InMemoryPSA([TICKET])

    def connect(application: Application) -> None:
        connections = InMemoryPSAConnections({"default": client})
        application.psa = connections
        application.sessions = SessionService(
            uow=application.storage.unit_of_work,
            llm=application.llm,
            psa=connections,
            clock=application.clock,
        )
        relay = DeliveryRelay(application.deliveries, connections, application.clock)
        application.relay = lambda: relay  # type: ignore[method-assign]

    on_open(connect)
    return client
