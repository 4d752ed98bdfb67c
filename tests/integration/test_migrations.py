"""The shipped Alembic migrations, on SQLite and PostgreSQL.

Up from empty, down to nothing, every downgrade undoing its upgrade exactly, the rows of the
pre-unification schema surviving, and the newest schema equal to ``tables.metadata``: to
autogenerate, and to a database made by ``create_all``, constraint by constraint.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from resolutionflow_sqlalchemy import create_engine, migrations
from resolutionflow_sqlalchemy.search_schema import include_object, is_search_object
from resolutionflow_sqlalchemy.tables import (
    ai_session_former_owners,
    ai_session_steps,
    ai_sessions,
    assistant_chats,
    metadata,
    session_outbox,
)
from tests.databases import PostgresServer, drop_postgres, start_postgres

T = TypeVar("T")

STORAGE_DOCS = Path(__file__).resolve().parents[2] / "docs" / "storage.md"

SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config())
REVISIONS = tuple(script.revision for script in SCRIPTS.walk_revisions())[::-1]
"""Every revision, oldest first, as the migrations directory holds them: a new migration is
tested by every test below without being listed here."""
HEAD = REVISIONS[-1]
INDEX_ONLY = {
    "0012_search_parts",
    "0013_search_appends",
    "0015_fts_optimize",
    "0016_pg_last_append",
}
"""Revisions that change only the search index (tests/integration/test_search_migration.py)."""
TABLES = {
    "ai_sessions",
    "ai_session_steps",
    "ai_session_former_owners",
    "assistant_chats",
    "session_outbox",
    "api_keys",
    "idempotency_keys",
    "psa_deliveries",
    "psa_connections",
    "users",
    "browser_sessions",
}

NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases of one kind, each a new SQLite file or PostgreSQL database."""
    created: list[PostgresServer] = []
    numbers = itertools.count(1)
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")  # skips, or fails under CI, if no server

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'sessions{next(numbers)}.db'}"
        server = start_postgres()
        created.append(server)
        return server.database_url

    yield make
    for server in created:
        drop_postgres(server)


@pytest.fixture
def url(new_database: NewDatabase) -> str:
    return new_database()


async def on_connection(url: str, work: Callable[[sa.Connection], T]) -> T:
    """Run ``work`` in a transaction on a connection of the adapter's engine, then commit."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def table_names(connection: sa.Connection) -> set[str]:
    # The search index's tables are checked by tests/integration/test_search_migration.py.
    return {n for n in sa.inspect(connection).get_table_names() if not is_search_object(n)}


def schema(connection: sa.Connection) -> dict[str, dict[str, Any]]:
    """Everything the database says about our tables, in a form two databases can compare.

    Column order is left out: an added column comes last on both databases, as ALTER TABLE
    … ADD COLUMN puts it, while ``tables.py`` lists columns by meaning.
    """
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    described: dict[str, dict[str, Any]] = {}
    for table in sorted(set(table_names(connection)) - {"alembic_version"}):
        described[table] = {
            "columns": {
                column["name"]: (
                    column["type"].compile(dialect=dialect),
                    column["nullable"],
                    column["default"],
                )
                for column in inspector.get_columns(table)
            },
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": inspector.get_foreign_keys(table),
            "indexes": {
                index["name"]: (index["column_names"], index["unique"])
                for index in inspector.get_indexes(table)
            },
            "unique": {
                unique["name"]: unique["column_names"]
                for unique in inspector.get_unique_constraints(table)
            },
            "checks": {
                check["name"]: " ".join(check["sqltext"].split())
                for check in inspector.get_check_constraints(table)
            },
        }
    return described


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


# Rows as the pre-unification application wrote them: only the baseline's columns.
SESSION_ID = uuid.UUID(int=1)
CHAT_ID = uuid.UUID(int=2)
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

BASELINE_SESSION: dict[str, Any] = {
    "id": SESSION_ID,
    "account_id": "acme",
    "user_id": "alice",
    "intake_type": "psa_ticket",
    "intake_content": {"text": "VPN drops every hour", "ticket": "4711"},
    "conversation_messages": [
        {"role": "user", "content": "VPN drops every hour", "created_at": "2026-03-01T09:00Z"}
    ],
    "status": "escalated",
    "problem_summary": "Site-to-site VPN drops hourly",
    "problem_domain": "network",
    "step_count": 1,
    "confidence_score": 0.55,
    "confidence_tier": "exploring",
    "escalation_reason": "needs access to the firewall",
    "psa_provider": "connectwise",
    "psa_ticket_id": "4711",
    "psa_ticket_snapshot": {"summary": "VPN down", "status": "New"},
    "psa_linked_at": AT,
    "created_at": AT,
    "updated_at": AT,
    "last_activity_at": AT,
    "escalated_at": AT,
}
BASELINE_STEP: dict[str, Any] = {
    "session_id": SESSION_ID,
    "number": 1,
    "kind": "question",
    "content": "Does the tunnel drop at the same minute every hour?",
    "options": [{"label": "Yes"}, {"label": "No"}],
    "reasoning": "a fixed period points at a lifetime setting",
    "confidence": 0.55,
    "response": "Yes, at :17",
    "created_at": AT,
    "responded_at": AT,
}
BASELINE_CHAT: dict[str, Any] = {
    "id": CHAT_ID,
    "account_id": "acme",
    "user_id": "bob",
    "title": "Printer offline",
    "messages": [
        {"role": "user", "content": "The printer is offline"},
        {"role": "assistant", "content": "Is it on the same VLAN?"},
    ],
    "created_at": AT,
    "updated_at": AT,
}


def insert_baseline_rows(connection: sa.Connection) -> None:
    # Today's table objects do the type conversion; an INSERT names only the given columns.
    connection.execute(ai_sessions.insert().values(BASELINE_SESSION))
    connection.execute(ai_session_steps.insert().values(BASELINE_STEP))
    connection.execute(assistant_chats.insert().values(BASELINE_CHAT))


def read(connection: sa.Connection, table: sa.Table, columns: list[str]) -> list[dict[str, Any]]:
    rows = connection.execute(sa.select(*(table.c[name] for name in columns)))
    return [dict(row._mapping) for row in rows]


def session_at_head(**values: Any) -> dict[str, Any]:
    return {**BASELINE_SESSION, "session_type": "guided", "title": None, **values}


# --- up and down -------------------------------------------------------------------------


async def test_upgrade_from_an_empty_database_creates_every_table(url: str) -> None:
    await migrations.upgrade(url)

    assert await on_connection(url, table_names) == TABLES | {"alembic_version"}
    assert await migrations.current(url) == HEAD


async def test_downgrade_to_base_leaves_only_the_version_table(url: str) -> None:
    await migrations.upgrade(url)

    await migrations.downgrade(url, "base")

    assert await on_connection(url, table_names) == {"alembic_version"}
    assert await migrations.current(url) is None


async def test_upgrade_downgrade_upgrade_ends_with_the_same_schema(url: str) -> None:
    await migrations.upgrade(url)
    first = await on_connection(url, schema)

    await migrations.downgrade(url, "base")
    await migrations.upgrade(url)

    assert await on_connection(url, schema) == first
    assert await migrations.current(url) == HEAD


async def test_every_downgrade_restores_exactly_the_schema_before_its_upgrade(url: str) -> None:
    before: dict[str, dict[str, dict[str, Any]]] = {"base": await on_connection(url, schema)}
    for previous, revision in zip(("base", *REVISIONS), REVISIONS, strict=False):
        await migrations.upgrade(url, revision)
        before[revision] = await on_connection(url, schema)
        if revision not in INDEX_ONLY:
            assert before[revision] != before[previous], f"{revision} changed nothing"

    for revision, previous in reversed(list(zip(REVISIONS, ("base", *REVISIONS), strict=False))):
        await migrations.downgrade(url, previous)
        assert await on_connection(url, schema) == before[previous], f"undoing {revision}"
        assert await migrations.current(url) == (None if previous == "base" else previous)


async def test_current_reports_each_revision_and_the_head(url: str) -> None:
    assert await migrations.current(url) is None
    for revision in REVISIONS:
        await migrations.upgrade(url, revision)
        assert await migrations.current(url) == revision
    assert await migrations.current(url) == migrations.heads()[0] == HEAD


async def test_concurrent_upgrades_take_turns_and_all_succeed(new_database: NewDatabase) -> None:
    # API workers starting together each run the migrations; the later ones find them done.
    # Two databases at once too: Alembic's state is global to the process.
    first, second = new_database(), new_database()

    await asyncio.gather(*(migrations.upgrade(url) for url in (first, second) * 3))

    for url in (first, second):
        assert await migrations.current(url) == HEAD
        assert await on_connection(url, table_names) == TABLES | {"alembic_version"}


# --- the data ----------------------------------------------------------------------------


async def test_rows_written_at_the_baseline_survive_every_upgrade(url: str) -> None:
    await migrations.upgrade(url, "0001_baseline")
    await on_connection(url, insert_baseline_rows)

    for revision in REVISIONS[1:]:
        await migrations.upgrade(url, revision)

        def check(connection: sa.Connection, revision: str = revision) -> None:
            sessions = read(connection, ai_sessions, list(BASELINE_SESSION))
            assert sessions == [BASELINE_SESSION], revision
            assert read(connection, ai_session_steps, list(BASELINE_STEP)) == [BASELINE_STEP]
            assert read(connection, assistant_chats, list(BASELINE_CHAT)) == [BASELINE_CHAT]
            added = read(connection, ai_sessions, ["session_type", "title"])
            assert added == [{"session_type": "guided", "title": None}], revision

        await on_connection(url, check)

    added_last = await on_connection(
        url, lambda c: read(c, ai_sessions, ["version", "root_cause", "escalated_by"])
    )
    assert added_last == [{"version": 0, "root_cause": None, "escalated_by": None}]


async def test_0011_fills_the_former_owners_from_the_claims_in_the_outbox(url: str) -> None:
    await migrations.upgrade(url, "0010_users")
    gone = uuid.UUID(int=99)  # a claim of a session deleted since: no row for it

    def claim(session_id: uuid.UUID, version: int, previous: str) -> dict[str, Any]:
        return {
            "session_id": session_id,
            "account_id": "acme",
            "version": version,
            "event_name": "session.claimed",
            "payload": {"previous_owner": previous},
            "occurred_at": datetime(2026, 3, 1, 10, version, tzinfo=UTC),
        }

    def seed(connection: sa.Connection) -> None:
        connection.execute(
            ai_sessions.insert().values(session_at_head(user_id="carol", status="active"))
        )
        other = {
            "session_id": SESSION_ID,
            "account_id": "acme",
            "version": 1,
            "event_name": "session.escalated",
            "payload": {"reason": "Needs a senior"},
            "occurred_at": datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        }
        connection.execute(
            session_outbox.insert(),
            [
                other,
                claim(SESSION_ID, 3, "bob"),  # out of order on purpose: version decides
                claim(SESSION_ID, 2, "alice"),
                claim(SESSION_ID, 5, "alice"),  # alice claimed it back: listed once
                claim(gone, 2, "dave"),
            ],
        )

    await on_connection(url, seed)
    await migrations.upgrade(url, "0011_former_owners")

    rows = await on_connection(
        url, lambda c: read(c, ai_session_former_owners, ["session_id", "user_id", "position"])
    )
    assert sorted(rows, key=lambda row: row["position"]) == [
        {"session_id": SESSION_ID, "user_id": "alice", "position": 0},
        {"session_id": SESSION_ID, "user_id": "bob", "position": 1},
    ]


async def test_downgrade_below_the_plan_refuses_while_chat_sessions_exist(url: str) -> None:
    await migrations.upgrade(url)
    await on_connection(
        url,
        lambda c: c.execute(ai_sessions.insert().values(session_at_head(session_type="chat"))),
    )
    at_head = await on_connection(url, schema)

    with pytest.raises(migrations.MigrationRefused, match="1 chat session"):
        await migrations.downgrade(url, "base")

    # One transaction: 0003's downgrade, which ran before the refusal, was rolled back too.
    assert await migrations.current(url) == HEAD
    assert await on_connection(url, schema) == at_head


async def test_downgrades_keep_guided_sessions_and_their_steps(url: str) -> None:
    await migrations.upgrade(url, "0001_baseline")
    await on_connection(url, insert_baseline_rows)
    await migrations.upgrade(url)

    await migrations.downgrade(url, "0001_baseline")

    def check(connection: sa.Connection) -> None:
        # On SQLite the downgrades rebuild ai_sessions; ON DELETE CASCADE must not fire.
        assert read(connection, ai_sessions, list(BASELINE_SESSION)) == [BASELINE_SESSION]
        assert read(connection, ai_session_steps, list(BASELINE_STEP)) == [BASELINE_STEP]

    await on_connection(url, check)


@pytest.mark.parametrize(
    ("column", "value"),
    [("session_type", "voice"), ("status", "closed"), ("version", -1)],
)
async def test_check_constraints_reject_a_value_outside_the_enumeration(
    url: str, column: str, value: object
) -> None:
    await migrations.upgrade(url)
    await on_connection(url, lambda c: c.execute(ai_sessions.insert().values(session_at_head())))

    bad = session_at_head(id=uuid.UUID(int=99), **{column: value})
    with pytest.raises(sa.exc.IntegrityError, match=f"ck_ai_sessions_{column}"):
        await on_connection(url, lambda c: c.execute(ai_sessions.insert().values(bad)))


# --- the models and the migrations agree -------------------------------------------------


async def test_autogenerate_finds_no_difference_between_models_and_migrations(url: str) -> None:
    await migrations.upgrade(url)

    def differences(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        return list(compare_metadata(context, metadata))

    assert await on_connection(url, differences) == []


async def test_the_migrated_schema_equals_the_one_create_all_makes(
    new_database: NewDatabase,
) -> None:
    migrated, created = new_database(), new_database()
    await migrations.upgrade(migrated)
    await on_connection(created, metadata.create_all)

    # Autogenerate ignores CHECK constraints and server defaults; this compares them too.
    assert await on_connection(migrated, schema) == await on_connection(created, schema)


# --- the scripts -------------------------------------------------------------------------


def test_the_history_is_one_line_from_baseline_to_head() -> None:
    down_revisions = [SCRIPTS.get_revision(revision).down_revision for revision in REVISIONS]

    assert REVISIONS[0] == "0001_baseline"
    assert down_revisions == [None, *REVISIONS[:-1]]  # each revision follows the one before
    assert migrations.heads() == (HEAD,)
    # Numbered in order, so that the files list in the order they run.
    assert [int(revision[:4]) for revision in REVISIONS] == list(range(1, len(REVISIONS) + 1))
    # alembic_version.version_num is VARCHAR(32).
    assert all(len(revision) <= 32 for revision in REVISIONS)


def alembic(*arguments: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.process
def test_the_alembic_cli_runs_the_shipped_migrations(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    url = new_database()
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        f"[alembic]\nscript_location = resolutionflow_sqlalchemy:migrations\n"
        f"sqlalchemy.url = {url}\n"
    )

    alembic("-c", str(ini), "upgrade", "head", cwd=tmp_path)
    assert HEAD in alembic("-c", str(ini), "current", cwd=tmp_path)

    # -x url=… wins over the ini file's URL.
    no_url = tmp_path / "no_url.ini"
    no_url.write_text("[alembic]\nscript_location = resolutionflow_sqlalchemy:migrations\n")
    alembic("-c", str(no_url), "-x", f"url={url}", "downgrade", REVISIONS[1], cwd=tmp_path)
    assert REVISIONS[1] in alembic("-c", str(ini), "current", cwd=tmp_path)


@pytest.mark.process
def test_offline_mode_prints_the_plans_ddl_for_postgresql(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = resolutionflow_sqlalchemy:migrations\n")

    nowhere = "url=postgresql://nobody@localhost/none"  # offline: no connection is made

    sql = alembic("-c", str(ini), "-x", nowhere, "upgrade", "head", "--sql", cwd=tmp_path)

    assert (
        "ALTER TABLE ai_sessions ADD COLUMN session_type VARCHAR(10) DEFAULT 'guided' NOT NULL"
        in sql
    )
    assert "ALTER TABLE ai_sessions ADD COLUMN title VARCHAR(255)" in sql
    assert "CREATE TABLE session_outbox" in sql


@pytest.mark.process
def test_the_example_in_the_storage_docs_runs(tmp_path: Path) -> None:
    section = STORAGE_DOCS.read_text().split("## Schema and migrations", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/storage.md lost its migrations example"
    script = tmp_path / "example.py"
    script.write_text(match.group(1))

    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [HEAD, REVISIONS[1], repr((HEAD,))]
