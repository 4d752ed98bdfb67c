"""The whole road of an old deployment: a baseline database full of legacy assistant chats
is upgraded through every migration, then its chats are moved into unified sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from resolutionflow_sqlalchemy import SqlStorage, migrate_assistant_chats, migrations
from resolutionflow_sqlalchemy.tables import ai_sessions, assistant_chats
from tests.databases import PostgresServer, drop_postgres, start_postgres
from tests.integration.test_legacy_migration import (
    Database,
    assert_migrated,
    legacy_cases,
    write_legacy,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own: no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old-deployment.db'}"
        return
    request.getfixturevalue("postgres_server")  # skips (or fails under CI) without a server
    server: PostgresServer = start_postgres()
    try:
        yield server.database_url
    finally:
        drop_postgres(server)


async def test_a_baseline_database_of_legacy_chats_upgrades_and_every_message_arrives(
    empty_url: str,
) -> None:
    await migrations.upgrade(empty_url, "0001_baseline")
    cases = legacy_cases(count=120)
    storage = SqlStorage.from_url(empty_url)
    database = Database(storage, empty_url, {})
    try:
        await write_legacy(database, cases)
        await migrations.upgrade(empty_url, "head")
        assert await migrations.current(empty_url) == migrations.heads()[0]
        # The upgrade alone moves nothing: the legacy store is kept as it was.
        assert await database.count(ai_sessions) == 0
        assert await database.count(assistant_chats) == len(cases)

        report = await migrate_assistant_chats(storage.database, batch_size=25)

        migrating = [case for case in cases if case.migrates]
        assert report.migrated == len(migrating)
        assert {chat.chat_id for chat in report.not_migrated} == {
            case.id for case in cases if not case.migrates
        }
        await assert_migrated(database, cases)
        rows = await database.read(sa.select(sa.func.count()).select_from(assistant_chats))
        assert rows == [(len(cases),)]
    finally:
        await storage.dispose()
