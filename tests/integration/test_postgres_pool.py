"""PostgreSQL's pool under concurrent one-statement reads and writes (`AsyncDatabase.row`):
a connection the pool has no room for is closed properly (it used to fail with
`MissingGreenlet`, logged, and was left to the garbage collector), and by default the
connections a server opens are kept, not opened and closed again for each statement."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa

from resolutionflow_sqlalchemy.engine import POSTGRES_POOL_SIZE, AsyncDatabase, open_database
from tests.databases import PostgresServer

pytestmark = pytest.mark.postgres

_SLEEP = sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float)))
_BACKENDS = sa.text(
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def _backends(url: str) -> set[int]:
    """The server processes of the connections to the database, but for the one asking."""
    counter = open_database(url)
    try:
        rows = await counter.read(lambda conn: conn.execute(_BACKENDS).scalars().all())
        return set(rows)
    finally:
        await counter.dispose()


async def test_overflow_connections_are_closed_cleanly(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_server.database_url
    database = open_database(url, pool_size=1, max_overflow=3)
    assert isinstance(database, AsyncDatabase)
    try:
        with caplog.at_level(logging.ERROR, logger="sqlalchemy.pool"):
            # Four statements at once: one pooled connection, three overflow ones, which the
            # pool closes as they come back.
            await asyncio.gather(*(database.row(_SLEEP, {"seconds": 0.2}) for _ in range(4)))
            await asyncio.gather(
                *(database.row(_SLEEP, {"seconds": 0.2}, write=True) for _ in range(4))
            )
        assert [r.getMessage() for r in caplog.records] == []
        pool = database.engine.sync_engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        # Closed, not left open until the garbage collector aborts them: the server sees
        # only the one connection the pool keeps.
        assert len(await _backends(url)) == 1
        (value,) = await database.row(sa.select(sa.literal_column("7")), {})
        assert value == 7
    finally:
        await database.dispose()


async def test_the_connections_a_server_opens_are_kept(postgres_server: PostgresServer) -> None:
    url = postgres_server.database_url
    database = open_database(url)
    try:
        at_once = 8  # more than SQLAlchemy's default pool of 5, within the product's
        assert at_once <= POSTGRES_POOL_SIZE
        await asyncio.gather(*(database.row(_SLEEP, {"seconds": 0.2}) for _ in range(at_once)))
        kept = await _backends(url)
        assert len(kept) == at_once
        # The next burst runs on the same connections: none opened, none closed.
        await asyncio.gather(*(database.row(_SLEEP, {"seconds": 0.2}) for _ in range(at_once)))
        assert await _backends(url) == kept
    finally:
        await database.dispose()
