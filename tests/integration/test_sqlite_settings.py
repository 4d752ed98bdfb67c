"""SQLite is set up as a server wants it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.engine import SQLITE_BUSY_TIMEOUT_MS


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_foreign_keys_and_memory_temp_files(
    tmp_path: Path,
) -> None:
    storage = SqlStorage.from_url(f"sqlite:///{tmp_path / 'settings.db'}")

    def pragmas(conn: sa.Connection) -> tuple[object, ...]:
        return tuple(
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "busy_timeout",
                "foreign_keys",
                "synchronous",
                "temp_store",
            )
        )

    try:
        assert await storage.database.read(pragmas) == ("wal", SQLITE_BUSY_TIMEOUT_MS, 1, 1, 2)
    finally:
        await storage.dispose()


async def test_write_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a write transaction holds the lock before its first statement, so a
    second writer waits at its own BEGIN instead of failing later on a stale snapshot."""
    path = tmp_path / "lock.db"
    storage = SqlStorage.from_url(f"sqlite:///{path}")
    await storage.database.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (x)"))

    def other_writer_gets_in() -> str:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return "got in"
        except sqlite3.OperationalError as error:
            return str(error)
        finally:
            other.close()

    try:
        assert await storage.database.read(lambda conn: other_writer_gets_in()) == "got in"
        locked = await storage.database.write(lambda conn: other_writer_gets_in())
        assert locked == "database is locked"
    finally:
        await storage.dispose()


async def test_bulk_work_keeps_sqlite_temporary_data_in_files(tmp_path: Path) -> None:
    """A migration or ``db reindex`` may rewrite every row: its temporary data (statement
    journals, sorts) goes to files, not memory (`sqlite_pragmas`)."""
    from resolutionflow_sqlalchemy.migrations.connection import open_engine

    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    storage = SqlStorage.from_url(url, bulk=True)
    migrating = open_engine(url)

    def temp_store(conn: sa.Connection) -> object:
        return conn.exec_driver_sql("PRAGMA temp_store").scalar()

    try:
        assert await storage.database.read(temp_store) == 0
        async with migrating.connect() as connection:
            assert await connection.run_sync(temp_store) == 0
    finally:
        await storage.dispose()
        await migrating.dispose()
