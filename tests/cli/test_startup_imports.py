"""What a command imports before it answers: whole processes, their ``sys.modules`` read
at exit. ``--help`` and ``--version`` need no database library at all; a command on an
up-to-date database needs SQLAlchemy but not Alembic, the HTTP server or the Anthropic SDK."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resolutionflow_sqlalchemy import migrations
from resolutionflow_sqlalchemy.schema_version import current_revision, is_current, shipped_heads
from tests.unit.test_import_core_names import loaded_by

pytestmark = pytest.mark.process  # starts processes: `pytest -m "not process"` skips it

MARK = "LOADED-MODULES:"

PROBE = f"""
import atexit, json, sys
atexit.register(lambda: print({MARK!r} + json.dumps(sorted(sys.modules)), file=sys.stderr))
from resolutionflow_cli.main import main
sys.argv = ["resolutionflow", *sys.argv[1:]]
main()
"""

SERVER_AND_SDK = ("alembic", "litestar", "uvicorn", "anthropic")


def loaded(args: list[str], database: Path) -> tuple[int, str, set[str]]:
    """Exit code, stdout and the top-level modules loaded by ``resolutionflow ARGS``."""
    code, out, modules = loaded_modules(args, database)
    return code, out, {name.split(".")[0] for name in modules}


def loaded_modules(args: list[str], database: Path) -> tuple[int, str, set[str]]:
    """Exit code, stdout and every module (dotted name) loaded by ``resolutionflow ARGS``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONFLOW_")}
    env["RESOLUTIONFLOW_DATABASE_URL"] = f"sqlite:///{database}"
    env["RESOLUTIONFLOW_LLM"] = "offline"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=60
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith(MARK))
    return done.returncode, done.stdout, set(json.loads(line[len(MARK) :]))


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_sqlalchemy(flag: str, tmp_path: Path) -> None:
    code, out, modules = loaded([flag], tmp_path / "none.sqlite3")
    assert code == 0
    assert "resolutionflow" in out
    heavy = {"sqlalchemy", "pydantic_settings", "resolutionflow_app", *SERVER_AND_SDK}
    assert modules.isdisjoint(heavy), sorted(modules & heavy)
    assert not (tmp_path / "none.sqlite3").exists(), "no database is opened"


def test_a_command_on_a_current_database_imports_no_alembic_server_or_sdk(
    tmp_path: Path,
) -> None:
    database = tmp_path / "current.sqlite3"
    asyncio.run(migrations.upgrade(f"sqlite:///{database}"))
    code, out, modules = loaded(["sessions", "list"], database)
    assert (code, out.strip()) == (0, "No sessions match.")
    assert "sqlalchemy" in modules
    assert modules.isdisjoint(SERVER_AND_SDK), sorted(modules & set(SERVER_AND_SDK))


def sessions_list_modules(tmp_path: Path) -> set[str]:
    """The modules `sessions list` loads, run on an empty database at the newest schema."""
    database = tmp_path / "current.sqlite3"
    asyncio.run(migrations.upgrade(f"sqlite:///{database}"))
    code, out, modules = loaded_modules(["sessions", "list"], database)
    assert (code, out.strip()) == (0, "No sessions match.")
    return modules


def test_a_command_on_sqlite_imports_no_asyncio_extension_orm_or_legacy_migration(
    tmp_path: Path,
) -> None:
    """SQLite runs on the blocking engine in threads: SQLAlchemy's asyncio extension (which
    pulls in the ORM), aiosqlite and the legacy-chat migration are not needed to answer."""
    modules = sessions_list_modules(tmp_path)
    assert "sqlalchemy.engine" in modules
    unneeded = {
        "sqlalchemy.ext.asyncio",
        "sqlalchemy.orm",
        "aiosqlite",
        "resolutionflow_sqlalchemy.legacy",
    }
    assert modules.isdisjoint(unneeded), sorted(modules & unneeded)


def test_the_scripts_read_as_text_name_the_same_head_as_alembic() -> None:
    assert shipped_heads() == frozenset(migrations.heads())


def test_only_the_newest_revision_counts_as_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"

    async def states() -> tuple[object, ...]:
        empty = (await current_revision(url), await is_current(url))
        await migrations.upgrade(url, "0001_baseline")
        old = (await current_revision(url), await is_current(url))
        await migrations.upgrade(url)
        new = (await current_revision(url), await is_current(url))
        return empty, old, new

    (head,) = migrations.heads()
    assert asyncio.run(states()) == ((None, False), ("0001_baseline", False), (head, True))


def test_listing_sessions_loads_no_store_it_does_not_use(tmp_path: Path) -> None:
    """The composition root makes the API keys', users' and idempotency keys' stores, and
    the PSA connections' management, when first asked for: `sessions list` asks for none."""
    modules = sessions_list_modules(tmp_path)
    assert "resolutionflow_app.bootstrap" in modules
    unused = {
        "resolutionflow_core.keys",
        "resolutionflow_core.users",
        "resolutionflow_app.keycache",
        "resolutionflow_app.connections",
        "resolutionflow_sqlalchemy.keys",
        "resolutionflow_sqlalchemy.users",
        "resolutionflow_sqlalchemy.idempotency",
    }
    assert modules.isdisjoint(unused), sorted(modules & unused)


def test_the_sessions_commands_module_loads_neither_the_aggregate_nor_the_services() -> None:
    """`resolutionflow_cli.commands.sessions` and the table it draws name the session, the
    services' `ChatTurn` and a delivery for type checkers only (the enums come from the
    leaf module `kinds`): what `sessions list` loads of the aggregate comes from the storage
    (`resolutionflow_sqlalchemy.storage` and `.mapping`), not from the command's side."""
    modules = loaded_by("import resolutionflow_cli.commands.sessions")
    assert "resolutionflow_cli.render" in modules
    aggregate = {
        "resolutionflow_core.session",
        "resolutionflow_core.services",
        "resolutionflow_core.documentation",
        "resolutionflow_sqlalchemy",
    }
    assert modules.isdisjoint(aggregate), sorted(modules & aggregate)
