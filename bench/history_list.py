"""History list: the first page against a page 1,000 rows deep, over 100,000 sessions.

The query is the history list's: 50 rows of one account filtered by session type (chat) and
status (resolved), newest activity first, through the adapter's public API
(``uow.sessions.list(SessionQuery(...))``). The deep page is reached the way a client
reaches it: follow ``next_cursor`` through 20 pages of 50, then time the next page (rows
1,001-1,050). Keyset pagination should make it cost what the first page costs (goal:
deep <= 2x first). Runs on SQLite (a file, WAL, no ANALYZE: as an embedded database is left)
and PostgreSQL (127.0.0.1:5432, skipped if unreachable; ANALYZEd after the load, as
autovacuum would do), and prints the query plan of the deep page on each.

The sessions are bulk-loaded with raw executemany INSERTs of rows built by the adapter's own
``mapping.session_values``: 4 accounts, 6 engineers each, 60% chat / 40% guided, statuses
weighted towards resolved, last activity spread over a year.

    uv run python bench/history_list.py [--sessions 100000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from _common import (
    asyncpg_dsn,
    create_schema,
    machine_summary,
    note,
    open_storage,
    postgres_database,
    print_table,
    time_interleaved,
    verdict,
)

from resolutionflow_core.chat import ConversationMessage, MessageRole
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import SessionPage, SessionQuery
from resolutionflow_core.session import IntakeType, Session, SessionType
from resolutionflow_core.usage import TokenUsage
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.mapping import message_to_json, session_values

try:  # the reworked core keeps the history in an append-only sequence
    from resolutionflow_core.chat import MessageHistory as _History
except ImportError:  # pragma: no cover - the first cut used a plain list
    _History = list  # type: ignore[assignment,misc]

GOAL = 2.0
"""Deep page time over first page time allowed (issue 3, "Benchmarks")."""

PAGE = 50
DEPTH = 1_000
ACCOUNTS = tuple(f"acct-{n}" for n in range(4))
USERS_PER_ACCOUNT = 6
TYPES = ((SessionType.CHAT, 0.6), (SessionType.GUIDED, 0.4))
STATUSES = (
    (SessionStatus.RESOLVED, 0.55),
    (SessionStatus.ACTIVE, 0.12),
    (SessionStatus.PAUSED, 0.08),
    (SessionStatus.ESCALATED, 0.10),
    (SessionStatus.ABANDONED, 0.15),
)
NOW = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)
YEAR = 365 * 24 * 3600
QUERY = SessionQuery(
    account_id=ACCOUNTS[0],
    session_types=frozenset({SessionType.CHAT}),
    statuses=frozenset({SessionStatus.RESOLVED}),
    limit=PAGE,
)

JSON_COLUMNS = {"intake_content", "conversation_messages", "psa_ticket_snapshot"}
MATCHING = (
    "SELECT count(*) FROM ai_sessions WHERE account_id = ? AND session_type = 'chat' "
    "AND status = 'resolved'"
)

_PROBLEMS = (
    "Outlook keeps prompting for the password on the front-desk PC since this morning",
    "Printer on the second floor shows offline for everyone after the switch update",
    "VPN drops every 20-30 minutes with error 809 on Windows 11 laptops at the branch",
    "New starter cannot sign in to Teams: account shows as disabled in Entra ID",
    "File server share mapped by GPO missing for the accounts team after reboot",
)
_REPLY = (
    "That pattern usually points at a cached credential or a policy that changed overnight. "
    "Let's confirm which account the prompt names and whether modern authentication is in "
    "use before touching the tenant: check the event log for the time of the first prompt, "
    "then compare with the change log of the last 24 hours."
)

# -- the sessions --------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def sessions(count: int, seed: int = 20260630) -> Iterator[Session]:
    """``count`` sessions spread over accounts, owners, types, statuses and a year."""
    rng = random.Random(seed)
    usage = TokenUsage(1850, 420, 1200, 0)
    for n in range(count):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        user = f"{account}-eng-{rng.randrange(USERS_PER_ACCOUNT)}"
        session_type = _pick(rng, TYPES)
        status = _pick(rng, STATUSES)
        last = NOW - timedelta(seconds=rng.uniform(0, YEAR))
        created = last - timedelta(seconds=rng.uniform(120, 3 * 24 * 3600))
        problem = f"{_PROBLEMS[n % len(_PROBLEMS)]} (case {n})"
        resolved = status is SessionStatus.RESOLVED
        messages = []
        if session_type is SessionType.CHAT:
            messages = [
                ConversationMessage(MessageRole.USER, problem, created),
                ConversationMessage(
                    MessageRole.ASSISTANT, _REPLY, created + timedelta(seconds=8), "m", usage
                ),
            ]
        yield Session(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            account_id=account,
            user_id=user,
            session_type=session_type,
            intake_type=IntakeType.FREE_TEXT,
            intake_content={"text": problem},
            created_at=created,
            updated_at=last,
            last_activity_at=last,
            status=status,
            title=problem[:80] if session_type is SessionType.CHAT else None,
            conversation_messages=_History(messages),
            problem_summary=problem if session_type is SessionType.GUIDED else None,
            resolution_summary="Cleared the cached credential" if resolved else None,
            resolved_at=last if resolved else None,
            escalated_at=last if status is SessionStatus.ESCALATED else None,
            abandoned_at=last if status is SessionStatus.ABANDONED else None,
            paused_at=last if status is SessionStatus.PAUSED else None,
            version=len(messages) + 2,
        )


def row_values(session: Session) -> dict[str, Any]:
    """The ``ai_sessions`` row of a session: the adapter's mapping plus the history."""
    values = session_values(session)
    values["conversation_messages"] = [message_to_json(m) for m in session.conversation_messages]
    return values


# -- bulk loading ----------------------------------------------------------------------------------


def sqlite_time(value: datetime) -> str:
    """A UTC datetime as the adapter stores it in SQLite (naive, microseconds always)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_param(name: str, value: Any) -> Any:
    """A value as the adapter binds it on SQLite."""
    if name in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return sqlite_time(value)
    return value


def postgres_param(name: str, value: Any) -> Any:
    """A value as asyncpg takes it (JSON as text, cast to jsonb by the statement)."""
    return json.dumps(value) if name in JSON_COLUMNS else value


def chunks(count: int, size: int = 5_000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for session in sessions(count):
        batch.append(row_values(session))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_sqlite(path: Path, count: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        names: list[str] | None = None
        conn.execute("BEGIN IMMEDIATE")
        for batch in chunks(count):
            if names is None:
                names = list(batch[0])
                statement = (
                    f"INSERT INTO ai_sessions ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})"
                )
            conn.executemany(statement, [[sqlite_param(n, row[n]) for n in names] for row in batch])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (matching,) = conn.execute(MATCHING, (ACCOUNTS[0],)).fetchone()
        note(f"sqlite: {matching:,} sessions match the list's filter")
    finally:
        conn.close()


async def load_postgres(url: str, count: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        names: list[str] | None = None
        async with conn.transaction():
            for batch in chunks(count):
                if names is None:
                    names = list(batch[0])
                    placeholders = [
                        f"${i}::jsonb" if n in JSON_COLUMNS else f"${i}"
                        for i, n in enumerate(names, 1)
                    ]
                    statement = (
                        f"INSERT INTO ai_sessions ({', '.join(names)}) "
                        f"VALUES ({', '.join(placeholders)})"
                    )
                await conn.executemany(
                    statement, [[postgres_param(n, row[n]) for n in names] for row in batch]
                )
        await conn.execute("ANALYZE ai_sessions")
        matching = await conn.fetchval(MATCHING.replace("?", "$1"), ACCOUNTS[0])
        note(f"postgresql: {matching:,} sessions match the list's filter")
    finally:
        await conn.close()


# -- measuring -------------------------------------------------------------------------------------


async def list_page(storage: SqlStorage, query: SessionQuery) -> SessionPage:
    async with storage.unit_of_work() as uow:
        return await uow.sessions.list(query)


async def deep_query(storage: SqlStorage) -> SessionQuery:
    """The query of the page after ``DEPTH`` rows, reached by following ``next_cursor``."""
    query, seen = QUERY, set[uuid.UUID]()
    for _ in range(DEPTH // PAGE):
        page = await list_page(storage, query)
        if page.next_cursor is None:
            raise SystemExit(
                f"only {len(seen) + len(page.items)} sessions match the filter, the deep page "
                f"needs {DEPTH + PAGE}: raise --sessions (about 15,000 at least)"
            )
        seen.update(item.id for item in page.items)
        query = dataclasses.replace(query, cursor=page.next_cursor)
    deep = await list_page(storage, query)
    if len(seen) != DEPTH or len(deep.items) != PAGE or seen & {i.id for i in deep.items}:
        raise AssertionError("keyset pagination returned overlapping or short pages")
    return query


class StatementCapture:
    """Records the SQL every SQLAlchemy engine sends (a class-level event, so it works
    whichever engine the adapter holds), to EXPLAIN the statement the library really ran."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __enter__(self) -> StatementCapture:
        sa.event.listen(sa.Engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(sa.Engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, params))


async def captured_deep_statement(
    storage: SqlStorage, query: SessionQuery
) -> tuple[str, Any] | None:
    with StatementCapture() as capture:
        await list_page(storage, query)
    return capture.statements[-1] if capture.statements else None


def print_plan(title: str, lines: list[str]) -> None:
    print(f"\n{title}")
    for line in lines:
        print(f"  {line}")


async def measure(
    name: str, storage: SqlStorage, runs: int, warmup: int
) -> tuple[list[object], tuple[str, Any] | None]:
    """First and deep page timings (interleaved) and the deep page's SQL as sent."""
    deep = await deep_query(storage)
    results = await time_interleaved(
        {"first": lambda: list_page(storage, QUERY), "deep": lambda: list_page(storage, deep)},
        runs=runs,
        warmup=warmup,
    )
    first, deep_stats = results["first"].wall, results["deep"].wall
    ratio = deep_stats.median / first.median
    row: list[object] = [
        name,
        first.median,
        first.p95,
        deep_stats.median,
        deep_stats.p95,
        f"{ratio:.2f}x",
        f"<= {GOAL}x",
        verdict(ratio, GOAL),
    ]
    return row, await captured_deep_statement(storage, deep)


async def loaded_and_measured(
    name: str, url: str, count: int, load: Callable[[], Awaitable[None]], runs: int, warmup: int
) -> tuple[list[object], tuple[str, Any] | None]:
    """Create the schema at ``url``, ``load`` ``count`` sessions into it, then `measure`."""
    await create_schema(url)
    note(f"{name}: loading {count:,} sessions ...")
    started = time.perf_counter()
    await load()
    note(f"{name}: loaded in {time.perf_counter() - started:.1f} s")
    storage = open_storage(url)
    try:
        return await measure(name, storage, runs, warmup)
    finally:
        await storage.dispose()


async def run_sqlite(count: int, runs: int, warmup: int) -> list[object]:
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        path = Path(tmp) / "history.db"
        url = f"sqlite:///{path}"

        async def load() -> None:
            load_sqlite(path, count)

        row, statement = await loaded_and_measured("sqlite", url, count, load, runs, warmup)
        if statement is not None:
            conn = sqlite3.connect(path)
            try:
                plan = conn.execute(f"EXPLAIN QUERY PLAN {statement[0]}", statement[1]).fetchall()
            finally:
                conn.close()
            print_plan(
                "SQLite: EXPLAIN QUERY PLAN of the deep page, as the library sent it:",
                [" ".join(statement[0].split()), f"params: {statement[1]!r}"]
                + [f"-> {detail}" for *_, detail in plan],
            )
        return row


async def run_postgres(count: int, runs: int, warmup: int) -> list[object] | None:
    async with postgres_database("rf_bench_history") as url:
        if url is None:
            return None
        row, statement = await loaded_and_measured(
            "postgresql", url, count, lambda: load_postgres(url, count), runs, warmup
        )
        if statement is not None:
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement[0]}", *statement[1])
            finally:
                await conn.close()
            print_plan(
                "PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) of the deep page, as the library sent it:",
                [" ".join(statement[0].split()), f"params: {statement[1]!r}"]
                + [record[0] for record in plan],
            )
        return row


async def main_async(args: argparse.Namespace) -> None:
    print(
        f"History list over {args.sessions:,} sessions: first page vs the page after "
        f"{DEPTH:,} rows ({PAGE} rows a page), {args.runs} timed calls each ({args.warmup} "
        "warm-up)"
    )
    print(machine_summary())
    rows = [await run_sqlite(args.sessions, args.runs, args.warmup)]
    postgres = await run_postgres(args.sessions, args.runs, args.warmup)
    if postgres is not None:
        rows.append(postgres)
    print()
    print_table(
        ["backend", "first ms", "first p95", "deep ms", "deep p95", "ratio", "goal", "verdict"],
        rows,
    )
    print(
        "\nms = median wall time of `uow.sessions.list(...)` in a fresh unit of work (account "
        "acct-0, type chat, status resolved); ratio = deep median / first median."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions to load")
    parser.add_argument("--runs", type=int, default=60, help="timed calls per page")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per page first")
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
