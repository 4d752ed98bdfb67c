"""The outbox rows a write leaves, column by column, on SQLite and PostgreSQL.

On PostgreSQL a chat change is one statement (the compare-and-set ``UPDATE`` with the outbox
``INSERT`` in a CTE, in autocommit); on SQLite the statements run on the driver's cursor.
Whatever the path, each event's row must hold the event itself: its version, name, payload
and time, and a stale copy must leave neither the session nor the outbox changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import StaleSession
from resolutionflow_core.events import DomainEvent
from resolutionflow_core.session import Session
from resolutionflow_core.usage import TokenUsage
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.tables import metadata, session_outbox
from tests.contract.test_repository import at, new_chat
from tests.databases import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def sql(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStorage]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database_url
    storage = SqlStorage.from_url(url)

    def reset(conn: sa.Connection) -> None:
        metadata.drop_all(conn)
        metadata.create_all(conn)

    await storage.database.write(reset)
    try:
        yield storage
    finally:
        await storage.dispose()


async def outbox_rows(storage: SqlStorage) -> list[tuple[Any, ...]]:
    c = session_outbox.c
    query = sa.select(
        c.session_id, c.account_id, c.version, c.event_name, c.payload, c.occurred_at
    ).order_by(c.id)
    return [tuple(row) for row in await storage.database.read(lambda conn: conn.execute(query))]


def row_of(event: DomainEvent) -> tuple[Any, ...]:
    return (
        event.session_id,
        event.account_id,
        event.version,
        event.name,
        event.payload(),
        event.occurred_at,
    )


async def stored(storage: SqlStorage, session: Session) -> None:
    async with storage.unit_of_work() as uow:
        await uow.sessions.add(session)
        await uow.commit()


async def test_a_changes_outbox_rows_hold_its_events(sql: SqlStorage) -> None:
    session = new_chat()
    await stored(sql, session)
    before = await outbox_rows(sql)
    events: list[DomainEvent] = []

    def reply(fresh: Session) -> None:
        fresh.add_message(
            MessageRole.ASSISTANT,
            'a reply with "quotes", ünïcode and a \\ backslash',
            now=at(7),
            by=None,
            model="claude",
            usage=TokenUsage(10, 20, 3, 4),
        )
        events.extend(fresh.events)

    async with sql.unit_of_work() as uow:
        changed, _ = await uow.change(session.id, account_id="acme", apply=reply)

    assert len(events) == 1
    assert await outbox_rows(sql) == [*before, row_of(events[0])]
    async with sql.unit_of_work() as uow:
        again = await uow.sessions.get(session.id, account_id="acme")
    assert again.version == changed.version
    assert again.conversation_messages[-1] == changed.conversation_messages[-1]


async def test_a_known_copys_commit_writes_every_event_of_it(sql: SqlStorage) -> None:
    session = new_chat()
    await stored(sql, session)
    async with sql.unit_of_work() as uow:
        known = await uow.sessions.get(session.id, account_id="acme")
    before = await outbox_rows(sql)

    async with sql.unit_of_work() as uow:
        await uow.sessions.attach(known)
        known.add_message(MessageRole.USER, "one", now=at(1), by="alice")
        known.add_message(MessageRole.ASSISTANT, "two", now=at(2), by=None)
        events = list(known.events)
        await uow.commit()

    assert len(events) == 2
    assert await outbox_rows(sql) == [*before, *map(row_of, events)]


async def test_a_stale_copy_writes_neither_the_session_nor_its_events(sql: SqlStorage) -> None:
    session = new_chat()
    await stored(sql, session)
    async with sql.unit_of_work() as uow:
        stale = await uow.sessions.get(session.id, account_id="acme")
    async with sql.unit_of_work() as uow:
        await uow.change(
            session.id,
            account_id="acme",
            apply=lambda s: s.add_message(MessageRole.USER, "first", now=at(1), by="alice"),
        )
    before = await outbox_rows(sql)

    async with sql.unit_of_work() as uow:
        await uow.sessions.attach(stale)
        stale.add_message(MessageRole.USER, "lost race", now=at(2), by="alice")
        with pytest.raises(StaleSession):
            await uow.commit()

    assert await outbox_rows(sql) == before
    async with sql.unit_of_work() as uow:
        now = await uow.sessions.get(session.id, account_id="acme")
    assert [m.content for m in now.conversation_messages][-1] == "first"
