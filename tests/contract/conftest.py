"""The storage contract: the same tests run against every repository/unit-of-work adapter.

Each adapter provides a `StorageHarness`: a unit-of-work factory and a view of its outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import sqlalchemy as sa

from resolutionflow_core.ports import UnitOfWork
from resolutionflow_core.session import Session
from resolutionflow_memory import InMemoryStorage
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.tables import session_outbox
from tests.databases import EVERY_STORE, empty_storage, url_for


@dataclass
class StorageHarness:
    name: str
    uow: Callable[[], UnitOfWork]
    outbox: Callable[[], Awaitable[list[tuple[str, int, str]]]]
    """Committed outbox rows as (session id, version, event name), in commit order."""


class HasUnitsOfWork(Protocol):
    """A test's storage: the harness here, or another suite's engine with its own extras."""

    uow: Callable[[], UnitOfWork]


async def insert(storage: HasUnitsOfWork, *sessions: Session) -> None:
    """Store new ``sessions`` in one unit of work."""
    async with storage.uow() as uow:
        for session in sessions:
            await uow.sessions.add(session)
        await uow.commit()


def memory_harness() -> StorageHarness:
    storage = InMemoryStorage()

    async def outbox() -> list[tuple[str, int, str]]:
        return [(str(e.session_id), e.version, e.name) for e in storage.outbox]

    return StorageHarness("memory", storage.unit_of_work, outbox)


async def sql_harness(name: str, url: str) -> tuple[StorageHarness, SqlStorage]:
    storage = await empty_storage(url)
    query = sa.select(
        session_outbox.c.session_id, session_outbox.c.version, session_outbox.c.event_name
    ).order_by(session_outbox.c.id)

    async def outbox() -> list[tuple[str, int, str]]:
        rows = await storage.database.read(lambda conn: conn.execute(query).all())
        return [(str(r[0]), r[1], r[2]) for r in rows]

    return StorageHarness(name, storage.unit_of_work, outbox), storage


@pytest.fixture(params=EVERY_STORE)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageHarness]:
    if request.param == "memory":
        yield memory_harness()
        return
    harness, sql = await sql_harness(request.param, url_for(request, tmp_path / "sessions.db"))
    try:
        yield harness
    finally:
        await sql.dispose()
