"""The storage contract: the same tests run against every repository/unit-of-work adapter.

Each adapter provides a `StorageHarness`: a unit-of-work factory and a view of its outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from resolutionflow_core.ports import UnitOfWork
from resolutionflow_memory import InMemoryStorage
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.tables import metadata, session_outbox
from tests.databases import PostgresServer


@dataclass
class StorageHarness:
    name: str
    uow: Callable[[], UnitOfWork]
    outbox: Callable[[], Awaitable[list[tuple[str, int, str]]]]
    """Committed outbox rows as (session id, version, event name), in commit order."""


def memory_harness() -> StorageHarness:
    storage = InMemoryStorage()

    async def outbox() -> list[tuple[str, int, str]]:
        return [(str(e.session_id), e.version, e.name) for e in storage.outbox]

    return StorageHarness("memory", storage.unit_of_work, outbox)


async def sql_harness(name: str, url: str) -> tuple[StorageHarness, SqlStorage]:
    storage = SqlStorage.from_url(url)

    def reset(conn: sa.Connection) -> None:
        metadata.drop_all(conn)
        metadata.create_all(conn)

    await storage.database.write(reset)
    query = sa.select(
        session_outbox.c.session_id, session_outbox.c.version, session_outbox.c.event_name
    ).order_by(session_outbox.c.id)

    async def outbox() -> list[tuple[str, int, str]]:
        rows = await storage.database.read(lambda conn: conn.execute(query).all())
        return [(str(r[0]), r[1], r[2]) for r in rows]

    return StorageHarness(name, storage.unit_of_work, outbox), storage


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageHarness]:
    if request.param == "memory":
        yield memory_harness()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database_url
    harness, sql = await sql_harness(request.param, url)
    try:
        yield harness
    finally:
        await sql.dispose()
