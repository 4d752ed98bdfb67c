"""The command tree is loaded a command at a time: a command imports its own module, not
every command's, and a command on SQLite never loads the PostgreSQL dialect. Whole
processes, their ``sys.modules`` read at exit (what is imported, not how long it takes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resolutionflow_cli.main import COMMANDS, app
from resolutionflow_sqlalchemy import migrations
from tests.cli.test_startup_imports import loaded_modules as run

COMMAND_MODULES = {f"resolutionflow_cli.commands.{entry.module}" for entry in COMMANDS.values()}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "current.sqlite3"
    asyncio.run(migrations.upgrade(f"sqlite:///{path}"))
    return path


@pytest.mark.process
def test_sessions_list_loads_only_its_command_and_no_postgresql_dialect(database: Path) -> None:
    code, out, modules = run(["sessions", "list", "--json"], database)
    assert code == 0, out
    assert json.loads(out)["items"] == []
    assert modules & COMMAND_MODULES == {"resolutionflow_cli.commands.sessions"}
    postgresql = {name for name in modules if name.startswith("sqlalchemy.dialects.postgresql")}
    assert not postgresql, sorted(postgresql)


@pytest.mark.process
def test_a_lifecycle_command_loads_only_the_lifecycle_module(database: Path) -> None:
    code, _, modules = run(["pause", "00000000-0000-0000-0000-000000000000"], database)
    assert code == 3  # not found: the command ran, on its own module
    assert modules & COMMAND_MODULES == {"resolutionflow_cli.commands.lifecycle"}


@pytest.mark.process
def test_a_groups_help_loads_no_sqlalchemy(tmp_path: Path) -> None:
    code, out, modules = run(["sessions", "--help"], tmp_path / "none.sqlite3")
    assert code == 0
    assert "list" in out
    assert "show" in out
    assert not {name for name in modules if name.split(".")[0] == "sqlalchemy"}
    assert modules & COMMAND_MODULES == {"resolutionflow_cli.commands.sessions"}
    assert not (tmp_path / "none.sqlite3").exists()


def test_the_help_lists_every_command_each_built_from_its_module() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f" {name} " in result.stdout, name
    # Each entry names a real command: it loads, under its own name, with its help.
    for name in COMMANDS:
        shown = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (name, shown.output)
        assert f"resolutionflow {name}" in shown.stdout, name


def test_a_mistyped_command_is_still_answered_with_the_likely_one() -> None:
    result = CliRunner().invoke(app, ["sesions", "list"])
    assert result.exit_code == 2
    assert "Did you mean 'sessions'?" in result.output


NOT_FOR_LISTING = {
    "alembic": "the schema check reads the revision scripts as text",
    "litestar": "only `serve` serves",
    "uvicorn": "only `serve` serves",
    "jinja2": "only the web app renders pages",
    "anthropic": "the offline assistant is configured",
    "httpx": "no PSA or LLM is called",
    "resolutionflow_psa": "no PSA client is made",
    "resolutionflow_memory": "the offline assistant is made when first asked, and a list asks not",
}


@pytest.mark.process
@pytest.mark.parametrize("args", [["sessions", "list"], ["sessions", "list", "--json"]])
def test_sessions_list_loads_no_server_sdk_or_offline_assistant(
    database: Path, args: list[str]
) -> None:
    code, out, modules = run(args, database)
    assert code == 0, out
    loaded = {name.split(".")[0] for name in modules}
    assert {name: why for name, why in NOT_FOR_LISTING.items() if name in loaded} == {}


@pytest.mark.process
def test_a_command_that_asks_the_offline_assistant_still_gets_its_answer(database: Path) -> None:
    code, out, modules = run(["sessions", "new", "--type", "guided", "--json", "Printer"], database)
    assert code == 0, out
    assert "resolutionflow_memory.llm" in modules
    assert "[offline assistant]" in out  # the first step, written by the offline assistant


@pytest.mark.process
def test_version_loads_neither_the_core_nor_rich_asyncio_or_pydantic(tmp_path: Path) -> None:
    code, out, modules = run(["--version"], tmp_path / "none.sqlite3")
    assert (code, out.split()[0]) == (0, "resolutionflow")
    loaded = {name.split(".")[0] for name in modules}
    unneeded = {"resolutionflow_core", "rich", "asyncio", "pydantic", "sqlalchemy"}
    assert loaded & unneeded == set()


THE_SESSIONS_MACHINERY = {
    "resolutionflow_core.session": "the aggregate: a users command reads no session",
    "resolutionflow_core.events": "the aggregate's events",
    "resolutionflow_core.services": "the sessions service",
}


@pytest.mark.process
def test_a_command_that_needs_no_session_loads_neither_the_aggregate_nor_its_service(
    tmp_path: Path,
) -> None:
    """`resolutionflow_core` loads a name's module when it is used, and who acts (`access`)
    does not load the aggregate it checks: a command about users builds none of it."""
    code, out, modules = run(["users", "--help"], tmp_path / "none.sqlite3")
    assert code == 0, out
    assert "resolutionflow_core.users" in modules
    loaded = {name: why for name, why in THE_SESSIONS_MACHINERY.items() if name in modules}
    assert loaded == {}
