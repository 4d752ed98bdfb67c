"""Connections set up as a server wants them, and how the adapter runs its SQL.

- **SQLite** (the embedded default): the standard ``sqlite3`` driver in WAL mode, with a
  busy timeout and foreign keys on. Its calls block, so each unit of work's reads and its
  commit each run, whole, in a worker thread: one thread hop per operation, not one per
  statement. Write transactions take the write lock at ``BEGIN IMMEDIATE``, waiting for
  another writer up to the busy timeout instead of failing at once.
- **PostgreSQL**: asyncpg through SQLAlchemy's asyncio extension.

Either way the adapter's SQL is written once, as plain functions of a `sqlalchemy.Connection`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another one to finish before giving up."""

WRITE = "resolutionflow_write"
"""Execution option that marks a connection's transaction as a write transaction."""


def async_url(url: str) -> str:
    """The URL with an async driver: ``sqlite`` → aiosqlite, ``postgresql`` → asyncpg."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite:///file.db`` or ``postgresql://…``), configured
    like the adapter's own (used by the migrations)."""
    engine = create_async_engine(async_url(url), **options)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine.sync_engine)
    return engine


def configure_sqlite(engine: sa.Engine) -> None:
    """WAL, busy timeout, foreign keys; BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that reads first could fail at once with SQLITE_BUSY when
        # another writer got in between; IMMEDIATE waits for the lock instead.
        # Sent on the driver connection: a full SQLAlchemy execution per BEGIN costs more
        # than the statement itself.
        begin = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        dbapi_connection.execute(begin)


class Database(Protocol):
    """Runs a function of a connection inside one transaction."""

    dialect: sa.Dialect

    async def read(self, work: Callable[[sa.Connection], T]) -> T: ...

    async def write(self, work: Callable[[sa.Connection], T]) -> T: ...

    async def dispose(self) -> None: ...


class ThreadedDatabase:
    """A blocking engine (SQLite) whose transactions each run whole in a worker thread."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect

    async def read(self, work: Callable[[sa.Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, False)

    async def write(self, work: Callable[[sa.Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work, True)

    def _run(self, work: Callable[[sa.Connection], T], write: bool) -> T:
        with self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(**{WRITE: True})
            with conn.begin():
                return work(conn)

    async def dispose(self) -> None:
        await asyncio.to_thread(self.engine.dispose)


class AsyncDatabase:
    """An asyncio engine (PostgreSQL on asyncpg); the work runs through ``run_sync``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect

    async def read(self, work: Callable[[sa.Connection], T]) -> T:
        async with self.engine.connect() as conn, conn.begin():
            return await conn.run_sync(work)

    async def write(self, work: Callable[[sa.Connection], T]) -> T:
        async with self.engine.connect() as conn, conn.begin():
            return await conn.run_sync(work)

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_database(url: str, **options: Any) -> Database:
    """The `Database` for ``url``: SQLite in threads, PostgreSQL on asyncpg."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed.set(drivername="sqlite"), **options)
        configure_sqlite(engine)
        return ThreadedDatabase(engine)
    if parsed.get_backend_name() == "postgresql":
        return AsyncDatabase(create_async_engine(async_url(url), **options))
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )
