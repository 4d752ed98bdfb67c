"""The connection the migrations run on.

It comes from the adapter's own async engine (`resolutionflow_sqlalchemy.engine.create_engine`:
aiosqlite or asyncpg, the same SQLite pragmas), and a whole run is one write transaction:
DDL is transactional on both databases, so a failed run leaves nothing half done.

- **SQLite** alters a table by rebuilding it (Alembic's batch mode: create a copy, copy the
  rows, drop the original, rename the copy). With foreign keys on, dropping ``ai_sessions``
  would delete every guided step through ``ON DELETE CASCADE``. So, as SQLite's own
  procedure for such changes prescribes, foreign keys are off on this connection (the pragma
  is ignored inside a transaction, hence it is set at connect) and
  ``PRAGMA foreign_key_check`` must come back empty before the commit. The write lock is
  taken at ``BEGIN IMMEDIATE``: a second migrating process waits for the first.
- **PostgreSQL**: many API workers may run the migrations as they start; a transaction-level
  advisory lock makes them take turns, and the later ones find the work already done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from resolutionflow_sqlalchemy.engine import WRITE, create_engine
from resolutionflow_sqlalchemy.migrations.errors import MigrationRefused

ADVISORY_LOCK_KEY = 0x7266_6D69_6772_6174  # "rfmigrat"; advisory locks are per database
"""The PostgreSQL advisory lock that serialises migration runs."""


def open_engine(url: str) -> AsyncEngine:
    """A short-lived engine for migrations: no pool; on SQLite, foreign keys off and
    temporary data in files (a migration may rewrite every row)."""
    engine = create_engine(url, bulk=True, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        # Registered after the adapter's own connect hook (which turns them on), so runs last.
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    return engine


@asynccontextmanager
async def migration_connection(url: str) -> AsyncIterator[AsyncConnection]:
    """A connection inside one write transaction, committed only if the migrations succeed."""
    engine = open_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(**{WRITE: True})
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                    )
                yield connection
                if connection.dialect.name == "sqlite":
                    await connection.run_sync(check_foreign_keys)
    finally:
        await engine.dispose()


def check_foreign_keys(connection: sa.Connection) -> None:
    """Refuse to commit if a rebuilt table left rows pointing at rows that are gone."""
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if dangling:
        shown = ", ".join(f"{row[0]} row {row[1]} → {row[2]}" for row in dangling[:5])
        raise MigrationRefused(
            f"{len(dangling)} row(s) would reference rows that do not exist ({shown}); "
            "the migration was rolled back"
        )


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()
