"""Connections set up as a server wants them, and how the adapter runs its SQL.

- **SQLite** (the embedded default): the standard ``sqlite3`` driver in WAL mode, with a
  busy timeout and foreign keys on. Its calls block, so each unit of work's reads and its
  commit each run, whole, in a worker thread: one thread hop per operation, not one per
  statement. Reads and writes have separate thread pools, so a read never queues behind
  writers waiting for the write lock; writes go through one thread (SQLite has one writer
  anyway), and a write that cannot start or get the lock within the deadline fails with
  `StorageUnavailable` (busy). Write transactions take the lock at ``BEGIN IMMEDIATE``.
- **PostgreSQL**: asyncpg through SQLAlchemy's asyncio extension, with a connect timeout,
  a statement timeout (server side, and client side for a server that stopped answering)
  and a bounded wait for a pooled connection.

Either way the adapter's SQL is written once, as plain functions of a `sqlalchemy.Connection`,
and a database that is down, unreachable, frozen or locked past the deadline is reported as
`StorageUnavailable`, never as a driver's exception. The hottest statements (a chat turn's)
are Core statements compiled once and run on the driver itself (`DriverStatement`: the
sqlite3 cursor inside a SQLAlchemy transaction; on PostgreSQL `Database.row`, one statement
in autocommit on the asyncpg connection), with SQLAlchemy's own type processing and errors.
"""

from __future__ import annotations

import asyncio
import json
import operator
import sqlite3
import sys
import threading
import time
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from resolutionflow_core.errors import StorageUnavailable

if TYPE_CHECKING:
    # Imported when a PostgreSQL (or aiosqlite) engine is made: the asyncio extension pulls
    # in SQLAlchemy's ORM, about a third of SQLAlchemy's import time, which SQLite does not
    # need (its engine is the blocking one, run in threads).
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
"""Seconds the database gets: to connect, to run a statement, for a writer to get the lock."""
SQLITE_BUSY_TIMEOUT_MS = int(DEFAULT_TIMEOUT * 1000)
"""How long a SQLite writer waits for another one to finish before giving up."""
SQLITE_READ_THREADS = 4
POSTGRES_POOL_SIZE = 15
"""Connections a process keeps to PostgreSQL, and opens at most (no overflow)."""
BUSY_AFTER = 1.0
"""A write waiting this long (seconds; at most half the timeout) for its turn or the lock
makes the database "busy"."""
RETRY_BUSY = 1.0
RETRY_DOWN = 5.0

WRITE = "resolutionflow_write"
"""Execution option that marks a connection's transaction as a write transaction."""


def is_async_engine(database: object) -> TypeGuard[AsyncEngine]:
    """Whether ``database`` is a SQLAlchemy `AsyncEngine` (without importing the asyncio
    extension when nothing loaded it: then it cannot be one)."""
    extension = sys.modules.get("sqlalchemy.ext.asyncio")
    return extension is not None and isinstance(database, extension.AsyncEngine)


def async_url(url: str) -> str:
    """The URL with an async driver: ``sqlite`` → aiosqlite, ``postgresql`` → asyncpg."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


compact_json: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode
"""SQLite's JSON columns as text without white space, which is how ``json_insert`` writes
them back, so an append leaves the old text as it was. One encoder for every value
(``json.dumps`` with options would build one per call)."""


def create_engine(url: str, *, bulk: bool = False, **options: Any) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite:///file.db`` or ``postgresql://…``), configured
    like the adapter's own (used by the migrations, with ``bulk``: `sqlite_pragmas`)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    if make_url(url).get_backend_name() == "sqlite":
        options.setdefault("json_serializer", compact_json)
    engine = create_async_engine(async_url(url), **options)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine.sync_engine, bulk=bulk)
    return engine


def sqlite_pragmas(
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, *, bulk: bool = False
) -> list[str]:
    """The settings of every SQLite connection (benchmarks' raw connections use them too).

    Temporary storage is in memory, so statement journals are: an UPDATE of a session that
    fires the search index's triggers journals every page it rewrites (a 1,000-message
    history is ~50 pages), and past 64 KiB SQLite spilled that journal to a temporary file,
    which cost a turn ~0.15 ms of system calls at 1,000 messages. Not for ``bulk`` work (a
    migration, ``db reindex``), whose temporary data grows with the database: rebuilding the
    index of 100,000 sessions peaked at 432 MiB in memory, 47 MiB with files."""
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA temp_store={'DEFAULT' if bulk else 'MEMORY'}",
    ]


def configure_sqlite(
    engine: sa.Engine, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, bulk: bool = False
) -> None:
    """`sqlite_pragmas` on every connection; BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in sqlite_pragmas(busy_timeout_ms, bulk=bulk):
            cursor.execute(pragma)
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


class DriverStatement:
    """A Core statement compiled once for a dialect, run straight on the DBAPI cursor.

    SQLAlchemy's execution path (an execution context, the compiled-cache lookup, events,
    a result object) costs more than a hot statement's own work on SQLite; this keeps the
    statement written once as Core, compiled by SQLAlchemy for the dialect, with the same
    bind and result processors (types), and only skips the per-call machinery. For
    positional paramstyles (SQLite's ``qmark``); see `driver_statement`.
    """

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect) -> None:
        # A positional SQLCompiler: its parameter order and the bind processors of their
        # types (SQLAlchemy's own, also used by its execution path; pinned in uv.lock).
        compiled: Any = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        processors = compiled._bind_processors
        names = list(compiled.positiontup or ())
        self._binds = tuple((name, processors.get(name)) for name in names)
        # The values in order at C speed, then the few that have a processor (a datetime, a
        # JSON value): a Python loop over ~40 parameters cost more than the statement.
        self._take: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*names)
            if len(names) > 1
            else (lambda values: (values[names[0]],))
            if names
            else (lambda values: ())
        )
        self._processed = tuple(
            (index, process) for index, (_, process) in enumerate(self._binds) if process
        )
        columns = list(statement.selected_columns) if isinstance(statement, sa.Select) else []
        self._columns = columns
        self._dialect = dialect
        self._results: tuple[Any, ...] | None = None
        """The result processors of the columns; on asyncpg, known once the driver said the
        columns' types (`with_column_types`), as SQLAlchemy passes them too."""
        if dialect.driver == "pysqlite":
            self.with_column_types([None] * len(columns))
        self.row: Any = (
            namedtuple("Row", [str(column.key) for column in columns], rename=True)
            if columns
            else None
        )

    def with_column_types(self, types: list[Any]) -> None:
        """Take the result processors for the columns' types as the driver gives them."""
        self._results = tuple(
            column.type._cached_result_processor(self._dialect, coltype)
            for column, coltype in zip(self._columns, types, strict=True)
        )

    @property
    def knows_column_types(self) -> bool:
        return self._results is not None

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        taken = self._take(values)
        if not self._processed:
            return taken
        parameters = list(taken)
        for index, process in self._processed:
            parameters[index] = process(parameters[index])
        return tuple(parameters)

    def execute(self, conn: sa.Connection, values: Mapping[str, Any]) -> int:
        """Run it once; the number of rows it changed."""
        parameters = self.parameters(values)
        with _as_sqlalchemy_errors(conn, self.sql, parameters):
            cursor = _driver(conn).execute(self.sql, parameters)
        return int(cursor.rowcount)

    def execute_many(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        parameters = [self.parameters(values) for values in rows]
        with _as_sqlalchemy_errors(conn, self.sql, parameters):
            _driver(conn).executemany(self.sql, parameters)

    def first(self, conn: sa.Connection, values: Mapping[str, Any]) -> Any:
        """The first row (a named tuple, its values through the columns' types), or None."""
        parameters = self.parameters(values)
        with _as_sqlalchemy_errors(conn, self.sql, parameters):
            found = _driver(conn).execute(self.sql, parameters).fetchone()
        return self.row_of(found)

    def row_of(self, found: Any) -> Any:
        """A driver's row as a named tuple of the columns' values (None stays None)."""
        assert self.row is not None, "not a SELECT"
        assert self._results is not None, "the columns' types are not known yet"
        if found is None:
            return None
        return self.row._make(
            value if process is None or value is None else process(value)
            for value, process in zip(found, self._results, strict=True)
        )


_DRIVER_STATEMENTS: weakref.WeakKeyDictionary[sa.Dialect, dict[object, DriverStatement]] = (
    weakref.WeakKeyDictionary()
)


def compiled_once(dialect: sa.Dialect, statement: sa.ClauseElement) -> DriverStatement:
    """``statement`` compiled for ``dialect`` the first time it is asked for."""
    compiled = _DRIVER_STATEMENTS.get(dialect)
    if compiled is None:
        compiled = _DRIVER_STATEMENTS[dialect] = {}
    found = compiled.get(statement)
    if found is None:
        found = compiled[statement] = DriverStatement(statement, dialect)
    return found


def driver_statement(conn: sa.Connection, statement: sa.ClauseElement) -> DriverStatement | None:
    """``statement`` compiled once for ``conn``'s dialect, if it runs on the blocking
    ``sqlite3`` driver (the threaded SQLite engine); None elsewhere (run it with
    ``conn.execute``). Compiled once per statement object and dialect: pass statements
    built once (module constants, cached builders), never one built per call."""
    if conn.dialect.driver != "pysqlite":
        return None
    return compiled_once(conn.dialect, statement)


def first_row(conn: sa.Connection, statement: sa.Select[Any], values: Mapping[str, Any]) -> Any:
    """``statement``'s first row or None: on the sqlite3 cursor where `driver_statement`
    allows it, else through ``conn.execute``."""
    driver = driver_statement(conn, statement)
    if driver is not None:
        return driver.first(conn, values)
    return conn.execute(statement, values).first()


def rowcount(conn: sa.Connection, statement: sa.Update, values: Mapping[str, Any]) -> int:
    """Run ``statement`` once (as `first_row` chooses); the number of rows it changed."""
    driver = driver_statement(conn, statement)
    if driver is not None:
        return driver.execute(conn, values)
    return int(cast(Any, conn.execute(statement, values)).rowcount)


def execute_many(conn: sa.Connection, statement: sa.Insert, rows: list[dict[str, Any]]) -> None:
    """Run ``statement`` for each of ``rows`` (as `first_row` chooses)."""
    driver = driver_statement(conn, statement)
    if driver is not None:
        driver.execute_many(conn, rows)
    else:
        conn.execute(statement, rows)


@contextmanager
def _as_sqlalchemy_errors(conn: sa.Connection, sql: str, parameters: Any) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them (`sa.exc.DBAPIError` and its
    subclasses, the driver's error as ``orig``), as if the statement ran through
    ``conn.execute``: callers and error mappings see the same exceptions either way."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(sql, parameters, error, dbapi.Error) from error


def _driver(conn: sa.Connection) -> Any:
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    return dbapi_connection


WITH_NEXT_WRITE: ContextVar[tuple[Callable[[sa.Connection], object], ...]] = ContextVar(
    "with_next_write", default=()
)
"""Statements to run in the current request's next write transaction, with its own work:
so that a record about the write (an idempotency claim's "input saved here") commits, or
fails, with it. Cleared once a write commits."""


def with_next_write(statement: Callable[[sa.Connection], object]) -> None:
    """Run ``statement`` in the next write transaction of the current task, atomically."""
    WITH_NEXT_WRITE.set((*WITH_NEXT_WRITE.get(), statement))


def _with_pending(work: Callable[[sa.Connection], T]) -> Callable[[sa.Connection], T]:
    pending = WITH_NEXT_WRITE.get()
    if not pending:
        return work

    def work_and_pending(conn: sa.Connection) -> T:
        result = work(conn)
        for statement in pending:
            statement(conn)
        return result

    return work_and_pending


class Database(Protocol):
    """Runs a function of a connection inside one transaction."""

    dialect: sa.Dialect

    async def read(self, work: Callable[[sa.Connection], T], *, one_statement: bool = False) -> T:
        """``work`` in a read transaction; with ``one_statement`` (work that runs a single
        statement, which sees one snapshot anyway) the database may skip the transaction:
        PostgreSQL runs it in autocommit, one round trip instead of three."""
        ...

    async def write(self, work: Callable[[sa.Connection], T], *, one_statement: bool = False) -> T:
        """``work`` in a write transaction; with ``one_statement`` (work that runs a single
        statement, atomic by itself) and no statement waiting for the next write
        (`with_next_write`), the database may skip the transaction: PostgreSQL runs it in
        autocommit, one round trip instead of three."""
        ...

    async def row(
        self, statement: sa.Select[Any], values: Mapping[str, Any], *, write: bool = False
    ) -> Any:
        """The first row of one statement (a named tuple) or None, read (or, with ``write``,
        written: a statement atomic by itself) as `read` and `write` with ``one_statement``
        would run it. Pass statements built once (see `driver_statement`)."""
        ...

    def busy(self) -> bool:
        """Whether writes are waiting for their turn (the database answers, slowly)."""
        ...

    async def dispose(self) -> None: ...


class ThreadedDatabase:
    """A blocking engine (SQLite) whose transactions each run whole in a worker thread.

    Reads run in a pool of their own; writes in a single thread, in order. A write that
    waited ``timeout`` seconds for that thread is refused before it starts, and one that
    waits longer than the busy timeout for another process's write lock fails: either is
    `StorageUnavailable` (busy), and nothing was written.
    """

    def __init__(self, engine: sa.Engine, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.timeout = timeout
        self._reads = ThreadPoolExecutor(SQLITE_READ_THREADS, thread_name_prefix="sqlite-read")
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._write_engine = engine.execution_options(**{WRITE: True})
        self._writer: sa.Connection | None = None
        """The write thread's connection, kept from one write transaction to the next (only
        that thread uses it): a pool checkout, its events and the return to the pool cost
        more than the ``BEGIN IMMEDIATE`` and ``COMMIT`` themselves (~45 µs of ~55 µs)."""
        self._waiting: dict[int, float] = {}
        """Writes not finished yet, by ticket: when each was asked for (monotonic)."""
        self._tickets = iter(range(1 << 62))
        self._lock = threading.Lock()

    async def read(self, work: Callable[[sa.Connection], T], *, one_statement: bool = False) -> T:
        # On SQLite BEGIN and COMMIT are local calls, not round trips: always a transaction.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, self._read, work)

    async def write(self, work: Callable[[sa.Connection], T], *, one_statement: bool = False) -> T:
        # On SQLite BEGIN and COMMIT are local calls, and the write lock must be taken.
        loop = asyncio.get_running_loop()
        asked = time.monotonic()
        with self._lock:
            ticket = next(self._tickets)
            self._waiting[ticket] = asked
        try:
            result = await loop.run_in_executor(
                self._writes, self._write, _with_pending(work), asked
            )
            WITH_NEXT_WRITE.set(())
            return result
        finally:
            with self._lock:
                self._waiting.pop(ticket, None)

    async def row(
        self, statement: sa.Select[Any], values: Mapping[str, Any], *, write: bool = False
    ) -> Any:
        run = self.write if write else self.read
        return await run(lambda conn: first_row(conn, statement, values))

    def busy(self) -> bool:
        with self._lock:
            oldest = min(self._waiting.values(), default=None)
        return oldest is not None and time.monotonic() - oldest > min(BUSY_AFTER, self.timeout / 2)

    def _write(self, work: Callable[[sa.Connection], T], asked: float) -> T:
        waited = time.monotonic() - asked
        if waited > self.timeout:
            raise StorageUnavailable(
                f"the database is busy: this write waited {waited:.1f} s for its turn",
                busy=True,
                retry_after=RETRY_BUSY,
            )
        try:
            conn = self._writer
            if conn is None or conn.closed or conn.invalidated:
                conn = self._writer = self._write_engine.connect()
            with conn.begin():
                return work(conn)
        except Exception as error:
            # Whatever failed, the next write starts on a connection from the pool.
            self._release_writer()
            _raise_unavailable(error)
            raise

    def _release_writer(self) -> None:
        """Back to the pool with the write thread's connection (on that thread)."""
        conn, self._writer = self._writer, None
        if conn is not None:
            with suppress(Exception):  # a broken connection: the pool discards it
                conn.close()

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            with self.engine.connect() as conn, conn.begin():
                return work(conn)
        except Exception as error:
            _raise_unavailable(error)
            raise

    async def dispose(self) -> None:
        loop = asyncio.get_running_loop()
        with suppress(RuntimeError):  # already shut down
            await loop.run_in_executor(self._writes, self._release_writer)
        await asyncio.to_thread(self.engine.dispose)
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._writes.shutdown(wait=False, cancel_futures=True)


class AsyncDatabase:
    """An asyncio engine (PostgreSQL on asyncpg); the work runs through ``run_sync``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._renames_tables = bool(engine.get_execution_options().get("schema_translate_map"))
        from sqlalchemy.util import greenlet_spawn  # loaded with the asyncio extension

        self._spawn = greenlet_spawn

    async def read(self, work: Callable[[sa.Connection], T], *, one_statement: bool = False) -> T:
        if one_statement:
            return await self._autocommit(work)
        try:
            async with self.engine.connect() as conn, conn.begin():
                return await conn.run_sync(work)
        except Exception as error:
            _raise_unavailable(error)
            raise

    async def _autocommit(self, work: Callable[[sa.Connection], T]) -> T:
        """``work`` without BEGIN and COMMIT round trips around its statement."""
        try:
            async with self.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await autocommit.run_sync(work)
        except Exception as error:
            _raise_unavailable(error)
            raise

    async def write(self, work: Callable[[sa.Connection], T], *, one_statement: bool = False) -> T:
        if one_statement and not WITH_NEXT_WRITE.get():
            # No BEGIN and COMMIT round trips: the statement is atomic by itself.
            return await self._autocommit(work)
        try:
            async with self.engine.connect() as conn, conn.begin():
                result = await conn.run_sync(_with_pending(work))
        except Exception as error:
            _raise_unavailable(error)
            raise
        WITH_NEXT_WRITE.set(())
        return result

    async def row(
        self, statement: sa.Select[Any], values: Mapping[str, Any], *, write: bool = False
    ) -> Any:
        if write and WITH_NEXT_WRITE.get():  # with what waits for it, in one transaction
            return await self.write(lambda conn: first_row(conn, statement, values))
        if self._renames_tables:  # the SQL depends on execution options: SQLAlchemy's path
            run = self.write if write else self.read
            return await run(lambda conn: first_row(conn, statement, values), one_statement=True)
        # In autocommit, straight on the asyncpg connection: SQLAlchemy's execution path
        # (the greenlet bridge, an execution context, a result object) costs more client
        # CPU than the round trip itself. Compiled once, with SQLAlchemy's own bind and
        # result processors, as `DriverStatement` does on SQLite.
        driver = compiled_once(self.dialect, statement)
        parameters = driver.parameters(values)
        try:
            # A pooled connection as the engine hands it out (its connect errors wrapped as
            # SQLAlchemy's), without an engine Connection around it: nothing runs through it.
            pooled = await self._spawn(self.engine.sync_engine.raw_connection)
            try:
                adapted: Any = pooled.dbapi_connection
                driven = adapted.driver_connection
                if not driver.knows_column_types:  # once per statement: their type OIDs
                    prepared = await driven.prepare(driver.sql)
                    driver.with_column_types([a.type.oid for a in prepared.get_attributes()])
                found = await driven.fetchrow(driver.sql, *parameters)
            except Exception as error:
                wrapped = await self._driver_error(pooled, driver.sql, parameters, error)
                if wrapped is error:
                    raise
                raise wrapped from error
            finally:
                # Back to the pool, in a greenlet: the reset awaits nothing (no transaction
                # was begun), but a connection the pool has no room for is closed, and that
                # awaits (outside a greenlet it failed, `MissingGreenlet` logged, and the
                # connection was left to be aborted by the garbage collector).
                await self._spawn(pooled.close)
        except Exception as error:
            _raise_unavailable(error)
            raise
        return driver.row_of(found)

    async def _driver_error(
        self, pooled: Any, sql: str, parameters: Any, error: Exception
    ) -> Exception:
        """``error`` of the asyncpg driver as SQLAlchemy raises it (a `sa.exc.DBAPIError`,
        the translated driver error as ``orig``); the connection leaves the pool when the
        error says it is unusable, or is no database error at all (a client-side timeout)."""
        dbapi_error = self.dialect.loaded_dbapi.Error
        adapted = pooled.dbapi_connection
        try:
            adapted._handle_exception(error)  # raises the error as the DBAPI adapter's
        except dbapi_error as translated:
            invalidated = self.dialect.is_disconnect(translated, adapted, None)
            if invalidated:
                await self._spawn(pooled.invalidate, translated)
            wrapped: Exception = sa.exc.DBAPIError.instance(
                sql, parameters, translated, dbapi_error, connection_invalidated=invalidated
            )
            return wrapped
        except Exception as untranslated:
            await self._spawn(pooled.invalidate, untranslated)
            return untranslated
        raise AssertionError("unreachable: _handle_exception always raises")

    def busy(self) -> bool:
        return False

    async def dispose(self) -> None:
        await self.engine.dispose()


_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_SQLITE_DOWN = ("unable to open database file", "disk i/o error")
_POSTGRES_CLASSES = ("08", "53", "57")
"""SQLSTATE classes of an unusable server: connection exception, insufficient resources,
operator intervention (shutdown, statement timeout 57014, cannot connect now)."""


def unavailable(error: BaseException) -> StorageUnavailable | None:
    """``error`` as `StorageUnavailable` when it means the database cannot be used now."""
    if isinstance(error, StorageUnavailable):
        return error
    if isinstance(error, sa.exc.TimeoutError):  # no pooled connection came free in time
        return StorageUnavailable(
            "the database is busy: no connection came free in time",
            busy=True,
            retry_after=RETRY_BUSY,
        )
    if isinstance(error, sqlite3.OperationalError):  # raw: the BEGIN IMMEDIATE of a write
        return _sqlite_unavailable(error)
    if isinstance(error, sa.exc.DBAPIError):
        if isinstance(error.orig, sqlite3.Error) or "sqlite" in type(error.orig).__module__:
            return _sqlite_unavailable(error.orig)
        state = _sqlstate(error.orig)
        if error.connection_invalidated or (state or "").startswith(_POSTGRES_CLASSES):
            return StorageUnavailable(_down(error.orig))
        cause = error.orig.__cause__ if error.orig is not None else None
        if isinstance(cause, OSError | TimeoutError):
            return StorageUnavailable(_down(cause))
        return None
    if isinstance(error, OSError | TimeoutError):  # connect refused, unreachable, timed out
        return StorageUnavailable(_down(error))
    state = _sqlstate(error)
    if state is not None and state.startswith(_POSTGRES_CLASSES):
        return StorageUnavailable(_down(error))
    return None


def _sqlite_unavailable(error: BaseException | None) -> StorageUnavailable | None:
    message = str(error).lower()
    if any(text in message for text in _SQLITE_BUSY):
        return StorageUnavailable(
            "the database is busy: another writer holds it past the deadline",
            busy=True,
            retry_after=RETRY_BUSY,
        )
    if any(text in message for text in _SQLITE_DOWN):
        return StorageUnavailable(f"the database cannot be used: {error}")
    return None


def _raise_unavailable(error: Exception) -> None:
    """Raise `StorageUnavailable` for ``error`` if that is what it means."""
    translated = unavailable(error)
    if translated is not None and translated is not error:
        raise translated from error


def _sqlstate(error: BaseException | None) -> str | None:
    for candidate in (error, getattr(error, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


def _down(error: BaseException | None) -> str:
    if isinstance(error, TimeoutError) or type(error).__name__ == "TimeoutError":
        return "the database did not answer in time"
    reason = str(error).strip().splitlines()[0] if error is not None and str(error) else ""
    return "the database cannot be reached" + (f": {reason}" if reason else "")


def open_database(
    url: str, *, timeout: float = DEFAULT_TIMEOUT, bulk: bool = False, **options: Any
) -> Database:
    """The `Database` for ``url``: SQLite in threads, PostgreSQL on asyncpg.

    ``timeout`` (seconds) bounds a connect, a statement and the wait for a pooled
    connection (PostgreSQL), and a writer's wait for its turn and for the lock (SQLite).
    ``bulk``: for work that rewrites much of the database (``db reindex``): SQLite keeps its
    temporary data in files (`sqlite_pragmas`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        options.setdefault("json_serializer", compact_json)
        engine = sa.create_engine(parsed.set(drivername="sqlite"), **options)
        configure_sqlite(engine, busy_timeout_ms=int(timeout * 1000), bulk=bulk)
        return ThreadedDatabase(engine, timeout=timeout)
    if parsed.get_backend_name() == "postgresql":
        options.setdefault("pool_timeout", timeout)
        # As many connections as before at most (SQLAlchemy's 5 + 10 overflow), but all
        # kept: an overflow connection is closed when it is returned, so a server with more
        # than 5 statements in flight opened (a PostgreSQL backend each) and closed a
        # connection for most of its statements.
        options.setdefault("pool_size", POSTGRES_POOL_SIZE)
        options.setdefault("max_overflow", 0)
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("timeout", timeout)
        connect_args.setdefault("command_timeout", timeout)
        server_settings = dict(connect_args.pop("server_settings", {}))
        server_settings.setdefault("statement_timeout", str(int(timeout * 1000)))
        connect_args["server_settings"] = server_settings
        from sqlalchemy.ext.asyncio import create_async_engine

        return AsyncDatabase(
            create_async_engine(async_url(url), connect_args=connect_args, **options)
        )
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )
