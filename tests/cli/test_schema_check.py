"""The schema check of a command run with the composition root's own `open_application`
(as the console script runs): made on the storage the application then works on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from resolutionflow_cli.errors import ExitCode
from resolutionflow_cli.main import app
from resolutionflow_sqlalchemy import SqlStorage, migrations, schema_version


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What the command opened and closed: databases opened for the schema check alone,
    and storages disposed."""
    seen: dict[str, list[Any]] = {"check_only": [], "disposed": []}
    opening = schema_version.open_database

    def open_for_check(url: str, **options: Any) -> Any:
        seen["check_only"].append(url)
        return opening(url, **options)

    disposing = SqlStorage.dispose

    async def dispose(self: SqlStorage) -> None:
        seen["disposed"].append(self)
        await disposing(self)

    monkeypatch.setattr(schema_version, "open_database", open_for_check)
    monkeypatch.setattr(SqlStorage, "dispose", dispose)
    return seen


def run(url: str, *args: str) -> Any:
    env = {"RESOLUTIONFLOW_DATABASE_URL": url, "RESOLUTIONFLOW_LLM": "offline"}
    return CliRunner().invoke(app, list(args), env=env)  # no obj: the default opener


def test_the_schema_is_read_through_the_application_storage(
    operator_env: str, opened: dict[str, list[Any]]
) -> None:
    result = run(operator_env, "sessions", "list")
    assert (result.exit_code, result.output.strip()) == (0, "No sessions match.")
    assert opened["check_only"] == []  # no second database for the check
    assert len(opened["disposed"]) == 1  # the application's, closed with it


def test_an_old_schema_is_refused_and_the_storage_closed(
    tmp_path: Path, opened: dict[str, list[Any]]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    asyncio.run(migrations.upgrade(url, "0001_baseline"))
    result = run(url, "sessions", "list")
    assert result.exit_code == ExitCode.USAGE
    assert "is at revision 0001_baseline" in result.output
    assert "run 'resolutionflow db upgrade'" in result.output
    assert len(opened["disposed"]) == 1
