"""Statements the adapter runs on the driver (the sqlite3 cursor; asyncpg for PostgreSQL's
one-statement reads and writes), compiled once from Core, behave as through
``conn.execute``: the same values through the columns' types, the same errors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resolutionflow_core.errors import StorageUnavailable
from resolutionflow_sqlalchemy.engine import (
    AsyncDatabase,
    configure_sqlite,
    driver_statement,
    open_database,
)
from resolutionflow_sqlalchemy.tables import metadata, session_outbox
from tests.databases import PostgresServer

_INSERT = sa.insert(session_outbox).values(
    {c.name: sa.bindparam(c.name) for c in session_outbox.c if not c.primary_key}
)
_SELECT = sa.select(session_outbox).where(session_outbox.c.session_id == sa.bindparam("id"))
AT = datetime(2026, 3, 2, 9, 30, 15, 120, tzinfo=UTC)


def outbox_row(
    version: int, event_name: str, payload: dict[str, Any], occurred_at: datetime
) -> dict[str, Any]:
    """A ``session_outbox`` row of a new session (its own random id), as ``_INSERT`` takes it."""
    return {
        "session_id": uuid.uuid4(),
        "account_id": "acme",
        "version": version,
        "event_name": event_name,
        "payload": payload,
        "occurred_at": occurred_at,
    }


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    configure_sqlite(engine)
    metadata.create_all(engine)
    return engine


def test_a_row_goes_in_and_comes_back_through_the_column_types(engine: sa.Engine) -> None:
    at = datetime(2026, 3, 2, 9, 30, 15, 120, tzinfo=UTC)
    row = outbox_row(3, "session.message_added", {"role": "user", "index": 2}, at)
    with engine.begin() as conn:
        insert, select = driver_statement(conn, _INSERT), driver_statement(conn, _SELECT)
        assert insert is not None
        assert select is not None
        insert.execute_many(conn, [row])
        found = select.first(conn, {"id": row["session_id"]})
        by_core = conn.execute(_SELECT, {"id": row["session_id"]}).one()
    assert found is not None
    assert found == tuple(by_core)
    assert {k: getattr(found, k) for k in row} == row
    with engine.connect() as conn:
        select = driver_statement(conn, _SELECT)
        assert select is not None
        assert select.first(conn, {"id": uuid.uuid4()}) is None


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(engine: sa.Engine) -> None:
    row = outbox_row(1, "session.started", {}, datetime(2026, 3, 2, tzinfo=UTC))
    with engine.begin() as conn:
        insert = driver_statement(conn, _INSERT)
        assert insert is not None
        insert.execute_many(conn, [row])
        with pytest.raises(sa.exc.IntegrityError) as raised:
            insert.execute_many(conn, [row])  # (session_id, version) is unique
    assert "UNIQUE" in str(raised.value.orig)


_SLEEP = sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float)))
_AS_INTEGER = sa.select(sa.cast(sa.bindparam("text", type_=sa.Text), sa.Integer))


@pytest.mark.postgres
async def test_a_postgresql_row_on_asyncpg_is_the_row_conn_execute_reads(
    postgres_server: PostgresServer,
) -> None:
    database = open_database(postgres_server.database_url)
    assert isinstance(database, AsyncDatabase)
    row = outbox_row(2, "session.message_added", {"role": "user", "index": 1}, AT)
    try:
        await database.write(lambda conn: metadata.create_all(conn, [session_outbox]))
        await database.write(lambda conn: conn.execute(_INSERT, [row]))
        found = await database.row(_SELECT, {"id": row["session_id"]})
        by_core = await database.read(
            lambda conn: tuple(conn.execute(_SELECT, {"id": row["session_id"]}).one())
        )
        assert found == by_core
        assert {k: getattr(found, k) for k in row} == row
        assert await database.row(_SELECT, {"id": uuid.uuid4()}) is None
        with pytest.raises(sa.exc.DBAPIError) as by_core_error:
            await database.read(lambda conn: conn.execute(_AS_INTEGER, {"text": "no number"}))
        with pytest.raises(sa.exc.DBAPIError) as raised:
            await database.row(_AS_INTEGER, {"text": "no number"})
        assert type(raised.value) is type(by_core_error.value)
        assert type(raised.value.orig) is type(by_core_error.value.orig)
        assert "invalid input syntax" in str(raised.value.orig)
        await database.write(lambda conn: conn.execute(_INSERT, [{**row, "version": 3}]))
        with pytest.raises(sa.exc.IntegrityError):  # (session_id, version) is unique
            await database.row(
                sa.select(sa.func.count()).add_cte(_INSERT.cte("again")), row, write=True
            )
        assert await database.row(_AS_INTEGER, {"text": "42"}) == (42,)  # the pool still serves
    finally:
        await database.write(lambda conn: metadata.drop_all(conn, [session_outbox]))
        await database.dispose()


@pytest.mark.postgres
async def test_a_postgresql_statement_past_the_timeout_is_storage_unavailable(
    postgres_server: PostgresServer,
) -> None:
    database = open_database(postgres_server.database_url, timeout=0.3)
    try:
        with pytest.raises(StorageUnavailable):
            await database.row(_SLEEP, {"seconds": 2.0})
        assert await database.row(_AS_INTEGER, {"text": "7"}) == (7,)
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_a_cancelled_postgresql_statement_leaves_a_pool_that_still_serves(
    postgres_server: PostgresServer,
) -> None:
    database = open_database(postgres_server.database_url, pool_size=1, max_overflow=0)
    assert isinstance(database, AsyncDatabase)
    try:
        for _ in range(3):
            sleeping = asyncio.ensure_future(database.row(_SLEEP, {"seconds": 5.0}))
            await asyncio.sleep(0.2)
            sleeping.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sleeping
            assert await asyncio.wait_for(database.row(_AS_INTEGER, {"text": "5"}), 3) == (5,)
    finally:
        await database.dispose()
