"""SQLite's write thread keeps its connection from one write transaction to the next, gives
it back to the pool when a write fails or the database is disposed, and every write
transaction still takes the write lock at its start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resolutionflow_sqlalchemy.engine import WRITE, ThreadedDatabase, open_database


@pytest.fixture
async def database(tmp_path: Path) -> ThreadedDatabase:
    database = open_database(f"sqlite:///{tmp_path / 'writes.db'}")
    assert isinstance(database, ThreadedDatabase)
    return database


def driver_and_options(conn: sa.Connection) -> tuple[Any, dict[str, Any]]:
    return conn.connection.dbapi_connection, dict(conn.get_execution_options())


async def test_writes_share_one_connection_that_takes_the_write_lock(
    database: ThreadedDatabase,
) -> None:
    first, options = await database.write(driver_and_options)
    second, _ = await database.write(driver_and_options)
    assert second is first
    assert options.get(WRITE) is True  # the begin event sends BEGIN IMMEDIATE
    in_transaction = await database.write(lambda conn: conn.in_transaction())
    assert in_transaction
    assert database.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    await database.dispose()
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_failed_write_gives_its_connection_back_and_the_next_write_works(
    database: ThreadedDatabase,
) -> None:
    await database.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (x INTEGER)"))

    def fails(conn: sa.Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        await database.write(fails)
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await database.write(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (2)"))
    rows = await database.read(lambda conn: conn.exec_driver_sql("SELECT x FROM t").all())
    assert [tuple(row) for row in rows] == [(2,)]  # the failed write's row was rolled back
    await database.dispose()
