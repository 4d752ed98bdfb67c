"""What one chat turn and one session read cost in database work: counted, not timed.

On a shared, loaded machine timings move by tens of percent between runs; these counts do
not. For ``SessionService.send_message`` with the offline LLM (a chat of 10 messages, already
described) and for ``SessionService.get`` of that session, on ``SqlStorage.from_url`` as the
product opens it, the script counts:

- **hops**: calls of the adapter's ``Database.read`` / ``Database.write`` (on SQLite each is
  one trip to a worker thread);
- **transactions**: ``BEGIN`` … ``COMMIT`` pairs (a read in PostgreSQL autocommit is none);
- **statements**: SQL statements sent (PostgreSQL: SQLAlchemy ``before_cursor_execute``;
  SQLite: the sqlite3 driver's trace, since the adapter runs its hot statements on the
  driver's cursor; an executemany counts once);
- for ``GET /ai-sessions/{id}``: the session, and its PSA deliveries if it is linked to a
  ticket, as the API reads them (the session measured is not linked);
- **round trips** (PostgreSQL): statements + 2 per transaction (its ``BEGIN`` and ``COMMIT``).

    uv run python bench/turn_trips.py                 # SQLite and PostgreSQL
    PYTHONPATH=OLD/src:OLD/src/adapters:OLD/src/entrypoints uv run python bench/turn_trips.py
                                                      # an earlier version (a `git archive`)

PostgreSQL is ``RESOLUTIONFLOW_BENCH_POSTGRES`` (skipped if unreachable).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import create_schema, machine_summary, open_storage, postgres_database, print_table
from service_turn import ACTOR, seed
from sqlalchemy import event
from storage_chat_turn import next_turn

from resolutionflow_core.services import SessionService
from resolutionflow_memory.llm import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.delivery import SqlDeliveryQueue

SIZE = 10


def sync_engine(storage: SqlStorage) -> sa.Engine:
    engine: Any = storage.database.engine  # type: ignore[attr-defined]
    return engine.sync_engine if hasattr(engine, "sync_engine") else engine


def counting(storage: SqlStorage, counts: Counter[str]) -> None:
    """Count hops, transactions and statements of ``storage`` into ``counts``."""
    database: Any = storage.database
    for name in ("read", "write"):
        method = getattr(database, name)

        def counted(*args: Any, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
            counts["hops"] += 1
            return _method(*args, **kwargs)

        setattr(database, name, counted)
    engine = sync_engine(storage)

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            counts["transactions"] += 1

    if engine.dialect.name == "sqlite":
        # The adapter runs its hot statements on the sqlite3 cursor, past SQLAlchemy's
        # events: count what the driver runs (its trace), bar transaction control and
        # triggers' work. The trace repeats a statement's text for each trigger program it
        # runs and for each row of an executemany, and marks FTS5's internal statements
        # with "--": a statement counts once until another one starts.
        last: list[str] = [""]

        def traced(sql: str) -> None:
            if sql.startswith("--") or sql == last[0]:
                return
            last[0] = sql
            if sql.split(None, 1)[0].upper() not in _CONTROL:
                counts["statements"] += 1

        @event.listens_for(engine, "checkout")
        def _checkout(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_trace_callback(traced)

        @event.listens_for(engine, "checkin")
        def _checkin(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_trace_callback(None)

        return

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(*_: Any) -> None:
        counts["statements"] += 1


_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


async def count(url: str, backend: str) -> list[list[object]]:
    await create_schema(url)
    storage = open_storage(url)
    session_id = (await seed(storage, (SIZE,)))[SIZE]
    service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
    text = next_turn(SIZE).user_text
    await service.send_message(ACTOR, session_id, text)  # warm: statement caches, pool
    await service.get(ACTOR, session_id)
    queue = SqlDeliveryQueue(storage.database)

    async def api_get() -> None:  # what GET /ai-sessions/{id} reads (the key check is cached)
        session = await service.get(ACTOR, session_id)
        if session.psa_link:  # only a linked session can have deliveries (as the API reads)
            await queue.for_session(session.id)

    counts: Counter[str] = Counter()
    counting(storage, counts)
    rows: list[list[object]] = []
    for what, run in (
        ("chat turn (send_message)", lambda: service.send_message(ACTOR, session_id, text)),
        ("session read (get)", lambda: service.get(ACTOR, session_id)),
        ("API GET of a session (not linked)", api_get),
    ):
        counts.clear()
        await run()
        trips = counts["statements"] + 2 * counts["transactions"]
        rows.append(
            [
                backend,
                what,
                counts["hops"],
                counts["transactions"],
                counts["statements"],
                trips if backend == "postgresql" else "-",
            ]
        )
    await storage.dispose()
    return rows


async def main() -> None:
    print(f"Database work per operation, a chat of {SIZE} messages (counted, not timed)")
    print(machine_summary())
    print()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="rf-trips-") as tmp:
        rows += await count(f"sqlite:///{Path(tmp) / 'trips.db'}", "sqlite")
    async with postgres_database("rf_bench_trips") as url:
        if url is not None:
            rows += await count(url, "postgresql")
    print_table(["backend", "operation", "hops", "transactions", "statements", "round trips"], rows)


if __name__ == "__main__":
    asyncio.run(main())
