"""The PostgreSQL server the tests use: 127.0.0.1:5432 unless RESOLUTIONFLOW_TEST_POSTGRES.

Each test run creates its own database and drops it at the end. Without a server the
PostgreSQL tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa

    from resolutionflow_sqlalchemy import SqlStorage

ADMIN_URL = os.environ.get(
    "RESOLUTIONFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class PostgresServer:
    admin_url: str
    database: str

    @property
    def database_url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.database}"


async def _admin(statement: str) -> None:
    import asyncpg

    dsn = ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def start_postgres() -> PostgresServer:
    """A fresh database on the server, or skip (fail under CI) if there is no server."""
    name = f"rf_test_{uuid.uuid4().hex[:12]}"
    try:
        _run_admin(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError, ConnectionError) as error:
        reason = f"no PostgreSQL server at {ADMIN_URL}: {error!r}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true, so a missing PostgreSQL is a failure: {reason}")
        pytest.skip(reason)
    return PostgresServer(ADMIN_URL, name)


def drop_postgres(server: PostgresServer) -> None:
    _run_admin(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')


def _run_admin(statement: str) -> None:
    """Run an admin statement on its own loop in a thread (callers may be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin(statement)).result()


SQL_DATABASES: list[Any] = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""The SQL databases a storage test runs on, as fixture params: a SQLite file, PostgreSQL."""

EVERY_STORE: list[Any] = ["memory", *SQL_DATABASES]
"""The in-memory adapter, then the SQL databases."""


def url_for(request: pytest.FixtureRequest, sqlite_file: Path) -> str:
    """The URL of the database ``request.param`` names: ``sqlite_file``, or this run's
    PostgreSQL database (the test skips, or fails under CI, without a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{sqlite_file}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.database_url


async def empty_storage(url: str) -> SqlStorage:
    """`SqlStorage` on ``url`` with the current schema and no rows (its tables made afresh);
    the caller disposes of it."""
    from resolutionflow_sqlalchemy import SqlStorage
    from resolutionflow_sqlalchemy.tables import metadata

    def reset(conn: sa.Connection) -> None:
        metadata.drop_all(conn)
        metadata.create_all(conn)

    storage = SqlStorage.from_url(url)
    await storage.database.write(reset)
    return storage
