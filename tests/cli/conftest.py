"""The command line in process, through Typer's `CliRunner`, on a SQLite file per test.

Every test gets its own database file, copied from one migrated once per run, and the
operator's environment: ``RESOLUTIONFLOW_DATABASE_URL`` points at the file, the offline
LLM answers, no actor is set (so the default ``default:owner:owner`` acts), no colour
settings. `Cli` runs commands and checks what they print.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from resolutionflow_app import Application, Settings, open_application
from resolutionflow_cli.main import app
from resolutionflow_cli.runtime import CliState
from resolutionflow_core.tickets import Ticket
from resolutionflow_memory import InMemoryPSA, InMemoryPSAConnections, OfflineLLM
from tests.llm_faults import FaultyLLM

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


@pytest.fixture
def database_url(tmp_path: Path, migrated_database: Path) -> str:
    path = tmp_path / "resolutionflow.sqlite3"
    shutil.copyfile(migrated_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """The environment of an operator on their own machine; returns the database URL."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("RESOLUTIONFLOW_LLM", "offline")
    return database_url


OpenHook = Callable[[Application], None]
AdapterFactory = Callable[[], Any]


class Opening:
    """How every application the commands open is built: `open_application` given these
    adapters (each made afresh per application), then these hooks run on it. The CLI takes
    it as its application factory (`CliState.open_application`)."""

    def __init__(self) -> None:
        self.adapters: dict[str, AdapterFactory] = {}
        self.hooks: list[OpenHook] = []

    def open(self, settings: Settings) -> Application:
        given = {name: make() for name, make in self.adapters.items()}
        application = open_application(settings, **given)
        for hook in self.hooks:
            hook(application)
        return application


@pytest.fixture
def opening() -> Opening:
    """The adapters and hooks of the applications the commands open (none: as configured)."""
    return Opening()


class Cli:
    """Runs ``resolutionflow …`` in process, its applications opened by ``opening``, and
    checks how it ends."""

    def __init__(self, database_url: str, opening: Opening) -> None:
        self.database_url = database_url
        self.opening = opening
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        state = CliState(open_application=self.opening.open)
        return self.runner.invoke(app, list(args), input=input, env=env, obj=state)

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
def cli(operator_env: str, opening: Opening) -> Cli:
    return Cli(operator_env, opening)


@pytest.fixture
def on_open(opening: Opening) -> Callable[[OpenHook], None]:
    """Registers hooks run on every application the commands open (to steer the PSA's
    routing or the relay)."""
    return opening.hooks.append


@pytest.fixture
def psa(opening: Opening) -> InMemoryPSA:
    """An in-memory PSA for the ``default`` account, holding ticket T-100, in every app opened:
    its sessions service and its delivery relay use it instead of the stored connections."""
    client = InMemoryPSA([TICKET])
    opening.adapters["psa"] = lambda: InMemoryPSAConnections({"default": client})
    return client


def llm_fails(opening: Opening, after_deltas: int = 0) -> None:
    """The first LLM call of every application opened fails (a stream, after
    ``after_deltas`` deltas)."""

    def failing() -> FaultyLLM:
        faulty = FaultyLLM(OfflineLLM())
        faulty.fail_next_calls(1, after_deltas=after_deltas)
        return faulty

    opening.adapters["llm"] = failing
