"""``resolutionflow db``: the schema's migrations, and commands on a schema that is not ready."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from resolutionflow_sqlalchemy import migrations
from tests.cli.conftest import Cli

HEAD = migrations.heads()[0]


def _previous(revision: str) -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config()).get_revision(revision)
    assert script is not None
    down = script.down_revision
    assert isinstance(down, str)
    return down


def test_current_says_the_schema_is_the_newest(cli: Cli) -> None:
    state = cli.json("db", "current")
    assert state == {
        "database": cli.database_url,
        "current": HEAD,
        "heads": [HEAD],
        "up_to_date": True,
    }
    shown = cli.ok("db", "current").stdout
    assert HEAD in shown
    assert "up to date" in shown


def test_upgrade_is_safe_to_run_again(cli: Cli) -> None:
    assert "already at" in cli.ok("db", "upgrade").stdout
    assert cli.json("db", "upgrade")["to"] == HEAD


def test_downgrade_then_upgrade_and_commands_refuse_an_old_schema(cli: Cli) -> None:
    previous = _previous(HEAD)
    moved = cli.json("db", "downgrade", previous, "--yes")
    assert moved == {
        "database": cli.database_url,
        "action": "downgrade",
        "from": HEAD,
        "to": previous,
    }
    assert cli.json("db", "current")["up_to_date"] is False
    line = cli.refused(2, "sessions", "list")
    assert f"is at revision {previous}" in line
    assert "run 'resolutionflow db upgrade'" in line
    shown = cli.ok("db", "upgrade").stdout
    assert f"{previous} → {HEAD}" in shown
    assert cli.json("sessions", "list")["items"] == []


def test_downgrade_asks_first_and_no_leaves_the_schema_as_it_is(cli: Cli) -> None:
    result = cli("db", "downgrade", "base", input="n\n")
    assert result.exit_code == 1
    assert "Tables and columns added since are dropped" in result.output
    assert result.stderr.strip().endswith("resolutionflow: refused: aborted")
    assert cli.json("db", "current")["current"] == HEAD


def test_downgrade_to_base_drops_everything(cli: Cli) -> None:
    assert cli.json("db", "downgrade", "base", "-y")["to"] is None
    assert cli.json("db", "current")["current"] is None


def test_an_unknown_revision_is_a_usage_error(cli: Cli) -> None:
    line = cli.refused(2, "db", "upgrade", "9999_nonexistent")
    assert "9999_nonexistent" in line


def test_a_new_sqlite_database_gets_its_schema_on_first_use(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fresh" / "new.sqlite3"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", url)
    current = cli.json("db", "current")
    assert current["current"] is None
    assert not path.exists(), "db current must not create the database"
    result = cli.ok("sessions", "list")
    assert "No sessions match." in result.stdout
    assert f"Created the database schema in {url} (revision {HEAD})." in result.stderr
    assert asyncio.run(migrations.current(url)) == HEAD


def test_the_root_option_chooses_the_database(cli: Cli, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    assert cli.json("--database-url", other, "db", "current")["database"] == other


def test_a_sqlite_file_of_something_else_is_never_migrated_implicitly(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "other-app.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", f"sqlite:///{path}")
    line = cli.refused(2, "sessions", "list")
    assert line.endswith("has no schema yet: run 'resolutionflow db upgrade'")
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"invoices"}
