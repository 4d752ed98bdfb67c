"""Chat-turn storage cost: the SQLAlchemy adapter against the same SQL on the raw driver.

One turn = load the session with its history, append the engineer's message and the
assistant's reply, commit. Measured at 10, 100 and 500 messages of history on SQLite (a
file in WAL mode, as the adapter configures it) and PostgreSQL (127.0.0.1:5432, skipped if
unreachable). Two kinds of baseline on the raw driver:

- *floor* (``_floor.py``): the minimal work for the same observable result, +2 messages,
  +1 version per message under a compare-and-set, the outbox rows, the history read back and
  decoded. SQLite: one transaction (``UPDATE … json_insert … RETURNING``, outbox INSERTs),
  inline (blocking the loop, the absolute floor) or in *one* ``asyncio.to_thread`` call (what
  an async service must do at least); PostgreSQL: one statement, the outbox INSERT in a CTE.
  The goals apply to the floor.
- *lib-shaped*: the statements the adapter issues, written by hand (kept, labelled, to show
  how much of the gap is the statement shape rather than SQLAlchemy):

- SQLite, ``sqlite3``: read transaction (BEGIN; SELECT the row by id and account; COMMIT),
  then one write transaction (BEGIN IMMEDIATE; UPDATE every scalar column plus
  ``conversation_messages = json_insert(col,'$[#]',json(?),'$[#]',json(?))`` WHERE id AND
  version; INSERT the two events into ``session_outbox``; COMMIT). Run two ways: *inline*
  and *to_thread* (the read and the write each in one ``asyncio.to_thread`` call).
- PostgreSQL, ``asyncpg`` (the driver the adapter uses): the same two transactions, with
  ``conversation_messages || $n::jsonb``.

The library is opened as the product opens it, ``SqlStorage.from_url(url)`` (SQLite: sqlite3
in worker threads; PostgreSQL: asyncpg); on SQLite it is also measured on an aiosqlite engine,
``SqlStorage(create_engine(url))``. The baselines decode the JSON columns they load
(``json.loads``) and serialise what they write, as the library must. Every
timed turn starts from the same history: the row and its outbox are reset (untimed) before
each repetition (on SQLite the WAL is checkpointed *before* the reset's writes, so no timed
commit pays a checkpoint's disk sync), and the variants are interleaved so a busy machine
slows them alike.

    uv run python bench/storage_chat_turn.py [--quick] [--runs N]
    uv run python bench/storage_chat_turn.py --profile sqlite:500   # cProfile the library
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import io
import json
import pstats
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from _common import (
    Stats,
    Timing,
    asyncpg_dsn,
    create_schema,
    machine_summary,
    note,
    open_storage,
    postgres_database,
    print_table,
    time_interleaved,
    turns_parser,
    verdict,
)
from _floor import postgres_floor, sqlite_floor, sqlite_time

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.session import Session
from resolutionflow_core.usage import TokenUsage
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.engine import sqlite_pragmas

SIZES = (10, 100, 500)

FLOOR_SQLITE = "floor sqlite3 to_thread"
FLOOR_SQLITE_INLINE = "floor sqlite3 inline"
SHAPED_SQLITE = "lib-shaped sqlite3 to_thread"
SHAPED_SQLITE_INLINE = "lib-shaped sqlite3 inline"
FLOOR_PG = "floor asyncpg"
SHAPED_PG = "lib-shaped asyncpg"
GOALS = {10: 2.0, 500: 1.5}
"""Library time over raw time allowed at a history size (issue 3, "Benchmarks")."""

ACCOUNT = "acct-bench"
USER = "eng-bench"
MODEL = "claude-sonnet-4-5"
USAGE = TokenUsage(1850, 420, 1200, 0)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# -- realistic messages ----------------------------------------------------------------------

_PROBLEMS = (
    "Outlook on the front-desk PC at {n} Harbour St keeps prompting for the password every "
    "few minutes since this morning; MFA is enabled and OWA works fine in the browser. Other "
    "users at the site are not affected.",
    "The Brother MFC on the second floor shows offline for everyone on VLAN {n} after the "
    "switch firmware update last night. It still answers ping from the server and the web "
    "page loads, but spooling fails.",
    "Users at branch {n} report the VPN drops every 20-30 minutes with error 809 on Windows "
    "11 laptops only. The firewall was replaced on Friday and the pre-shared key is the same "
    "as before, according to the notes.",
)

_REPLY = (
    "Thanks, that narrows it down. A password prompt that keeps coming back while the browser "
    "works usually means the desktop client is holding a stale token or is falling back to "
    "basic authentication for one mailbox (turn {n}). Before changing anything on the tenant, "
    "let's confirm which account the prompt is for and whether modern authentication is "
    "actually in use on this machine. If the prompt names a shared mailbox or a delegate "
    "calendar, the fix is usually to remove and re-add that mailbox rather than rebuild the "
    "whole profile.\n\n"
    "[ACTIONS]\n"
    '[{{"title": "Check the credential prompt", "detail": "Note the exact account shown in '
    'the prompt", "risk": "low"}}, {{"title": "Clear cached credentials", "command": '
    '"cmdkey /list | findstr MicrosoftOffice", "risk": "low"}}, {{"title": "Re-add the '
    'shared mailbox", "risk": "medium"}}]\n'
    "[/ACTIONS]"
)


def user_message(n: int) -> str:
    """An engineer's message of about 200 characters."""
    return _PROBLEMS[n % len(_PROBLEMS)].format(n=n)


def assistant_reply(n: int) -> str:
    """An assistant reply of about 800 characters carrying an ``[ACTIONS]`` marker block."""
    return _REPLY.format(n=n)


# -- the SQL, written by hand ----------------------------------------------------------------

# ai_sessions in table order, with the PostgreSQL type the adapter's statements cast to.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "UUID"),
    ("account_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("session_type", "VARCHAR"),
    ("title", "VARCHAR"),
    ("intake_type", "VARCHAR"),
    ("intake_content", "JSONB"),
    ("conversation_messages", "JSONB"),
    ("status", "VARCHAR"),
    ("problem_summary", "VARCHAR"),
    ("problem_domain", "VARCHAR"),
    ("step_count", "INTEGER"),
    ("confidence_score", "FLOAT"),
    ("confidence_tier", "VARCHAR"),
    ("matched_flow_id", "VARCHAR"),
    ("match_score", "FLOAT"),
    ("system_prompt_snapshot", "VARCHAR"),
    ("resolution_summary", "VARCHAR"),
    ("root_cause", "VARCHAR"),
    ("escalation_reason", "VARCHAR"),
    ("escalated_by", "VARCHAR"),
    ("psa_provider", "VARCHAR"),
    ("psa_ticket_id", "VARCHAR"),
    ("psa_ticket_snapshot", "JSONB"),
    ("psa_linked_at", "TIMESTAMP WITH TIME ZONE"),
    ("created_at", "TIMESTAMP WITH TIME ZONE"),
    ("updated_at", "TIMESTAMP WITH TIME ZONE"),
    ("last_activity_at", "TIMESTAMP WITH TIME ZONE"),
    ("paused_at", "TIMESTAMP WITH TIME ZONE"),
    ("resolved_at", "TIMESTAMP WITH TIME ZONE"),
    ("escalated_at", "TIMESTAMP WITH TIME ZONE"),
    ("abandoned_at", "TIMESTAMP WITH TIME ZONE"),
    ("version", "INTEGER"),
)
NAMES = tuple(name for name, _ in COLUMNS)
JSON_COLUMNS = ("intake_content", "conversation_messages", "psa_ticket_snapshot")
SCALARS = tuple(c for c in COLUMNS if c[0] not in ("id", "conversation_messages"))
"""What the UPDATE sets besides the history (the adapter writes every one of them)."""

_SELECT_LIST = ", ".join(f"ai_sessions.{name}" for name in NAMES)


def _sqlite_update() -> str:
    sets = []
    for name, _ in COLUMNS[1:]:
        if name == "conversation_messages":
            sets.append(
                "conversation_messages=json_insert(ai_sessions.conversation_messages, "
                "'$[#]', json(?), '$[#]', json(?))"
            )
        else:
            sets.append(f"{name}=?")
    sets.append("last_append=json_array(?, json_array(json(?), json(?)))")  # as the adapter
    return (
        f"UPDATE ai_sessions SET {', '.join(sets)} "
        "WHERE ai_sessions.id = ? AND ai_sessions.version = ?"
    )


def _postgres_update() -> str:
    sets, n = [], 0
    for name, cast in COLUMNS[1:]:
        n += 1
        if name == "conversation_messages":
            sets.append(f"conversation_messages=(ai_sessions.conversation_messages || ${n}::JSONB)")
        else:
            sets.append(f"{name}=${n}::{cast}")
    sets.append(f"last_append=jsonb_build_array(${n + 1}::INTEGER, ${n + 2}::JSONB)::TEXT")
    return (
        f"UPDATE ai_sessions SET {', '.join(sets)} "
        f"WHERE ai_sessions.id = ${n + 3}::UUID AND ai_sessions.version = ${n + 4}::INTEGER"
    )


SQLITE_SELECT = (
    f"SELECT {_SELECT_LIST} FROM ai_sessions "
    "WHERE ai_sessions.id = ? AND ai_sessions.account_id = ?"
)
SQLITE_UPDATE = _sqlite_update()
SQLITE_OUTBOX = (
    "INSERT INTO session_outbox (session_id, account_id, version, event_name, payload, "
    "occurred_at) VALUES (?, ?, ?, ?, ?, ?)"
)
PG_SELECT = (
    f"SELECT {_SELECT_LIST} FROM ai_sessions "
    "WHERE ai_sessions.id = $1::UUID AND ai_sessions.account_id = $2::VARCHAR"
)
PG_UPDATE = _postgres_update()
PG_OUTBOX = (
    "INSERT INTO session_outbox (session_id, account_id, version, event_name, payload, "
    "occurred_at) VALUES ($1::UUID, $2::VARCHAR, $3::INTEGER, $4::VARCHAR, $5::JSONB, "
    "$6::TIMESTAMP WITH TIME ZONE)"
)

# -- one turn, three ways ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """What a turn appends: the same texts and times for every variant."""

    user_text: str
    reply_text: str
    asked_at: datetime
    answered_at: datetime


def add_turn(session: Session, turn: Turn) -> None:
    """The turn's two ``add_message`` calls: the engineer's message, the assistant's reply."""
    session.add_message(MessageRole.USER, turn.user_text, now=turn.asked_at, by=USER)
    session.add_message(
        MessageRole.ASSISTANT,
        turn.reply_text,
        now=turn.answered_at,
        by=None,
        model=MODEL,
        usage=USAGE,
    )


async def library_turn(storage: SqlStorage, session_id: uuid.UUID, turn: Turn) -> None:
    """The turn through the public API, as a chat service does it."""
    async with storage.unit_of_work() as uow:
        session = await uow.sessions.get(session_id, account_id=ACCOUNT)
        add_turn(session, turn)
        await uow.commit()


@dataclass(slots=True)
class RawWrite:
    """What the hand-written turn writes: the row with its scalar columns updated, the two
    new messages and the outbox rows, for the driver at hand to serialise and bind."""

    record: dict[str, Any]
    added: list[dict[str, Any]]
    events: list[tuple[int, str, datetime]]
    """(version, payload JSON, occurred_at) of each event."""


def decode(record: dict[str, Any]) -> dict[str, Any]:
    """The loaded row with its JSON columns parsed (the library must parse them too)."""
    for name in JSON_COLUMNS:
        value = record[name]
        record[name] = None if value is None else json.loads(value)
    return record


def raw_append(record: dict[str, Any], turn: Turn) -> RawWrite:
    """The hand-written equivalent of two ``add_message`` calls: append the two messages,
    bump the version once per change, stamp the times, and make one event per message."""
    history: list[dict[str, Any]] = record["conversation_messages"]
    added, times = floor_messages(turn)
    events = []
    for message, when in zip(added, times, strict=True):
        history.append(message)
        record["version"] += 1
        payload = json.dumps({"role": message["role"], "index": len(history) - 1})
        events.append((record["version"], payload, when))
    record["step_count"] = len(history)
    record["updated_at"] = turn.answered_at
    record["last_activity_at"] = turn.answered_at
    return RawWrite(record, added, events)


def floor_messages(turn: Turn) -> tuple[list[dict[str, Any]], list[datetime]]:
    """The turn's two messages as the floor appends them, and their times."""
    usage: dict[str, int] = {
        "input_tokens": USAGE.input_tokens,
        "output_tokens": USAGE.output_tokens,
        "cache_read_tokens": USAGE.cache_read_tokens,
        "cache_write_tokens": USAGE.cache_write_tokens,
    }
    added: list[dict[str, Any]] = [
        {"role": "user", "content": turn.user_text, "created_at": turn.asked_at.isoformat()},
        {
            "role": "assistant",
            "content": turn.reply_text,
            "created_at": turn.answered_at.isoformat(),
            "model": MODEL,
            "usage": usage,
        },
    ]
    return added, [turn.asked_at, turn.answered_at]


def open_sqlite(path: Path, *, any_thread: bool = False) -> sqlite3.Connection:
    """A sqlite3 connection set up as the adapter sets up its own (`sqlite_pragmas`)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=not any_thread)
    for pragma in sqlite_pragmas():
        conn.execute(pragma)
    return conn


def sqlite_load(conn: sqlite3.Connection, session_id: uuid.UUID) -> dict[str, Any]:
    """The read transaction: the row by id and account, decoded."""
    conn.execute("BEGIN")
    try:
        row = conn.execute(SQLITE_SELECT, (session_id.hex, ACCOUNT)).fetchone()
    finally:
        conn.execute("COMMIT")
    if row is None:
        raise LookupError(session_id)
    return decode(dict(zip(NAMES, row, strict=True)))


def sqlite_write(conn: sqlite3.Connection, session_id: uuid.UUID, write: RawWrite) -> None:
    """The write transaction: compare-and-set UPDATE with the JSON append, outbox INSERTs."""
    record, loaded_version = write.record, write.record["version"] - len(write.events)
    params: list[Any] = []
    for name, _ in COLUMNS[1:]:
        if name == "conversation_messages":
            params += [json.dumps(message) for message in write.added]
            continue
        value = record[name]
        if name in JSON_COLUMNS:
            value = json.dumps(value)
        elif isinstance(value, datetime):
            value = sqlite_time(value)
        params.append(value)
    params += [record["version"], *(json.dumps(message) for message in write.added)]
    params += [session_id.hex, loaded_version]
    outbox = [
        (session_id.hex, ACCOUNT, version, "session.message_added", payload, sqlite_time(when))
        for version, payload, when in write.events
    ]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute(SQLITE_UPDATE, params).rowcount != 1:
            raise RuntimeError(f"stale session {session_id}")
        conn.executemany(SQLITE_OUTBOX, outbox)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def sqlite_inline_turn(conn: sqlite3.Connection, session_id: uuid.UUID, turn: Turn) -> None:
    """The raw turn blocking the event loop: the floor, not what a service may do."""
    record = sqlite_load(conn, session_id)
    sqlite_write(conn, session_id, raw_append(record, turn))


async def sqlite_thread_turn(conn: sqlite3.Connection, session_id: uuid.UUID, turn: Turn) -> None:
    """The raw turn as an async service must run it: load and write each in a worker thread."""
    record = await asyncio.to_thread(sqlite_load, conn, session_id)
    write = raw_append(record, turn)
    await asyncio.to_thread(sqlite_write, conn, session_id, write)


async def postgres_turn(conn: asyncpg.Connection, session_id: uuid.UUID, turn: Turn) -> None:
    """The raw turn on asyncpg: read transaction, then the write transaction."""
    async with conn.transaction():
        row = await conn.fetchrow(PG_SELECT, session_id, ACCOUNT)
    if row is None:
        raise LookupError(session_id)
    write = raw_append(decode(dict(row)), turn)
    record, loaded_version = write.record, write.record["version"] - len(write.events)
    params: list[Any] = []
    for name, _ in COLUMNS[1:]:
        if name == "conversation_messages":
            params.append(json.dumps(write.added))
        elif name in JSON_COLUMNS:
            params.append(json.dumps(record[name]))
        else:
            params.append(record[name])
    params += [record["version"], json.dumps(write.added)]
    params += [session_id, loaded_version]
    outbox = [
        (session_id, ACCOUNT, version, "session.message_added", payload, when)
        for version, payload, when in write.events
    ]
    async with conn.transaction():
        if await conn.execute(PG_UPDATE, *params) != "UPDATE 1":
            raise RuntimeError(f"stale session {session_id}")
        await conn.executemany(PG_OUTBOX, outbox)


# -- fixtures: seeding, resetting, checking ----------------------------------------------------


def history_session(size: int) -> Session:
    """A chat session with ``size`` messages, alternating engineer and assistant."""
    session = Session.start_chat(
        session_id=uuid.uuid4(),
        account_id=ACCOUNT,
        user_id=USER,
        first_message=user_message(0),
        now=START,
    )
    for n in range(1, size):
        when = START + timedelta(seconds=30 * n)
        if n % 2:
            session.add_message(
                MessageRole.ASSISTANT,
                assistant_reply(n),
                now=when,
                by=None,
                model=MODEL,
                usage=USAGE,
            )
        else:
            session.add_message(MessageRole.USER, user_message(n), now=when, by=USER)
    return session


def next_turn(size: int) -> Turn:
    """The turn that follows a history of ``size`` messages (the same for every repetition)."""
    asked = START + timedelta(seconds=30 * size)
    return Turn(user_message(size), assistant_reply(size + 1), asked, asked + timedelta(seconds=9))


async def seed(storage: SqlStorage) -> dict[int, uuid.UUID]:
    """One session per history size, written through the library."""
    ids = {}
    for size in SIZES:
        session = history_session(size)
        async with storage.unit_of_work() as uow:
            await uow.sessions.add(session)
            await uow.commit()
        ids[size] = session.id
    return ids


_STATE = "conversation_messages, version, step_count, updated_at, last_activity_at"

TurnRunner = Callable[[uuid.UUID, Turn], Awaitable[None]]


@dataclass
class Backend:
    """One database under test: the library's variants, the baselines, and how to reset a
    session to its seeded state."""

    name: str
    libraries: dict[str, SqlStorage]
    baselines: dict[str, TurnRunner]
    reset: Callable[[uuid.UUID], Awaitable[None]]
    check: Callable[[uuid.UUID], Awaitable[tuple[int, int, int]]]
    """(messages in the row, version, outbox rows) of a session."""
    close: Callable[[], Awaitable[None]]
    """Closes the benchmark's own connections and disposes of the storages."""


def sqlite_backend(path: Path, libraries: dict[str, SqlStorage], ids: list[uuid.UUID]) -> Backend:
    admin = open_sqlite(path)
    inline = open_sqlite(path)
    threaded = open_sqlite(path, any_thread=True)
    saved = {
        sid: admin.execute(f"SELECT {_STATE} FROM ai_sessions WHERE id = ?", (sid.hex,)).fetchone()
        for sid in ids
    }

    async def reset(session_id: uuid.UUID) -> None:
        state = saved[session_id]
        # Checkpoint *before* the reset's writes: the WAL left by the previous turn goes into
        # the database now, untimed, and the timed commit appends to a WAL that already has
        # the reset's frames. A checkpoint after the reset would make the next timed commit
        # restart the WAL and pay a disk sync, inflating every variant alike (it measured
        # 7.6 ms of wall time against 0.5 ms of CPU for the raw turn).
        admin.execute("PRAGMA wal_checkpoint(PASSIVE)")
        admin.execute("BEGIN IMMEDIATE")
        admin.execute(
            "UPDATE ai_sessions SET conversation_messages = ?, version = ?, step_count = ?, "
            "updated_at = ?, last_activity_at = ? WHERE id = ?",
            (*state, session_id.hex),
        )
        admin.execute(
            "DELETE FROM session_outbox WHERE session_id = ? AND version > ?",
            (session_id.hex, state[1]),
        )
        admin.execute("COMMIT")

    async def check(session_id: uuid.UUID) -> tuple[int, int, int]:
        messages, version = admin.execute(
            "SELECT json_array_length(conversation_messages), version FROM ai_sessions "
            "WHERE id = ?",
            (session_id.hex,),
        ).fetchone()
        (events,) = admin.execute(
            "SELECT count(*) FROM session_outbox WHERE session_id = ?", (session_id.hex,)
        ).fetchone()
        return messages, version, events

    async def inline_turn(sid: uuid.UUID, turn: Turn) -> None:
        await sqlite_inline_turn(inline, sid, turn)

    async def thread_turn(sid: uuid.UUID, turn: Turn) -> None:
        await sqlite_thread_turn(threaded, sid, turn)

    async def floor_inline(sid: uuid.UUID, turn: Turn) -> None:
        added, times = floor_messages(turn)
        sqlite_floor(inline, sid, ACCOUNT, saved[sid][1], added, times)

    async def floor_thread(sid: uuid.UUID, turn: Turn) -> None:
        added, times = floor_messages(turn)
        await asyncio.to_thread(sqlite_floor, threaded, sid, ACCOUNT, saved[sid][1], added, times)

    async def close() -> None:
        for conn in (admin, inline, threaded):
            conn.close()
        for storage in libraries.values():
            await storage.dispose()

    return Backend(
        "sqlite",
        libraries,
        {
            FLOOR_SQLITE: floor_thread,
            FLOOR_SQLITE_INLINE: floor_inline,
            SHAPED_SQLITE: thread_turn,
            SHAPED_SQLITE_INLINE: inline_turn,
        },
        reset,
        check,
        close,
    )


async def postgres_backend(
    url: str, libraries: dict[str, SqlStorage], ids: list[uuid.UUID]
) -> Backend:
    admin = await asyncpg.connect(asyncpg_dsn(url))
    raw = await asyncpg.connect(asyncpg_dsn(url))
    saved = {
        sid: await admin.fetchrow(f"SELECT {_STATE} FROM ai_sessions WHERE id = $1", sid)
        for sid in ids
    }

    async def reset(session_id: uuid.UUID) -> None:
        state = saved[session_id]
        async with admin.transaction():
            await admin.execute(
                "UPDATE ai_sessions SET conversation_messages = $1, version = $2, "
                "step_count = $3, updated_at = $4, last_activity_at = $5 WHERE id = $6",
                *state,
                session_id,
            )
            await admin.execute(
                "DELETE FROM session_outbox WHERE session_id = $1 AND version > $2",
                session_id,
                state[1],
            )

    async def check(session_id: uuid.UUID) -> tuple[int, int, int]:
        row = await admin.fetchrow(
            "SELECT jsonb_array_length(conversation_messages), version, "
            "(SELECT count(*) FROM session_outbox WHERE session_id = $1) "
            "FROM ai_sessions WHERE id = $1",
            session_id,
        )
        return row[0], row[1], row[2]

    async def asyncpg_turn(sid: uuid.UUID, turn: Turn) -> None:
        await postgres_turn(raw, sid, turn)

    async def floor_turn(sid: uuid.UUID, turn: Turn) -> None:
        added, times = floor_messages(turn)
        await postgres_floor(raw, sid, ACCOUNT, saved[sid]["version"], added, times)

    async def close() -> None:
        await admin.close()
        await raw.close()
        for storage in libraries.values():
            await storage.dispose()

    return Backend(
        "postgresql",
        libraries,
        {FLOOR_PG: floor_turn, SHAPED_PG: asyncpg_turn},
        reset,
        check,
        close,
    )


def sqlite_libraries(url: str) -> dict[str, SqlStorage]:
    """The library as the product opens it and, if that differs, on an aiosqlite engine."""
    libraries = {"library": open_storage(url)}
    if hasattr(SqlStorage, "from_url"):
        libraries["library (aiosqlite engine)"] = open_storage(url, via_engine=True)
    return libraries


# -- measuring ---------------------------------------------------------------------------------


def library_runner(storage: SqlStorage) -> TurnRunner:
    async def run(session_id: uuid.UUID, turn: Turn) -> None:
        await library_turn(storage, session_id, turn)

    return run


async def measure_size(
    backend: Backend, session_id: uuid.UUID, size: int, runs: int, warmup: int
) -> dict[str, Timing]:
    """Median and p95 of every variant at one history size, variants interleaved."""
    turn = next_turn(size)
    variants = {name: library_runner(s) for name, s in backend.libraries.items()}
    variants.update(backend.baselines)
    await backend.reset(session_id)
    before = await backend.check(session_id)
    expected = (before[0] + 2, before[1] + 2, before[2] + 2)
    for name, run in variants.items():  # each variant must write what the library writes
        await backend.reset(session_id)
        await run(session_id, turn)
        after = await backend.check(session_id)
        if after != expected:
            raise AssertionError(f"{backend.name} {name}: wrote {after}, expected {expected}")

    async def prepare() -> None:
        await backend.reset(session_id)
        gc.collect()

    results = await time_interleaved(
        {name: functools.partial(run, session_id, turn) for name, run in variants.items()},
        runs=runs,
        warmup=warmup,
        prepare=prepare,
    )
    await backend.reset(session_id)
    return results


def rows_for(backend: Backend, size: int, results: dict[str, Timing]) -> list[list[object]]:
    """Table rows: every library variant against every baseline, with the ratio and goal."""
    goal = GOALS.get(size)
    rows: list[list[object]] = []
    for library_name in backend.libraries:
        library = results[library_name]
        for name in backend.baselines:
            raw = results[name]
            ratio = library.wall.median / raw.wall.median
            rows.append(
                [
                    backend.name,
                    size,
                    library_name,
                    library.wall.median,
                    library.wall.p95,
                    name,
                    raw.wall.median,
                    raw.wall.p95,
                    f"{ratio:.2f}x",
                    f"<= {goal}x" if goal else "-",
                    verdict(ratio, goal) if goal else "-",
                    f"{library.cpu.median:.2f} / {raw.cpu.median:.2f}",
                    f"{library.cpu.median / raw.cpu.median:.2f}x",
                ]
            )
    return rows


async def run_backend(
    backend: Backend, ids: dict[int, uuid.UUID], runs: int, warmup: int
) -> list[list[object]]:
    rows: list[list[object]] = []
    for size in SIZES:
        note(f"  {backend.name}: {size} messages ...")
        results = await measure_size(backend, ids[size], size, runs, warmup)
        rows += rows_for(backend, size, results)
    return rows


# -- profiling ---------------------------------------------------------------------------------


class ProfilingExecutor(ThreadPoolExecutor):
    """The loop's default executor, profiling what it runs (``asyncio.to_thread`` work)
    with one cProfile per worker thread: cProfile sees only the thread it is enabled in."""

    def __init__(self) -> None:
        super().__init__(max_workers=4, thread_name_prefix="profiled")
        self.profiles: dict[int, cProfile.Profile] = {}
        """This round's profiler of each worker thread, by thread id (`restart` clears it)."""
        self.active = False
        self._lock = threading.Lock()

    def restart(self) -> None:
        """Start a new round: new profilers, the previous round's left alone."""
        with self._lock:
            self.profiles = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def run() -> Any:
            if not self.active:
                return fn(*args, **kwargs)
            with self._lock:
                profiler = self.profiles.setdefault(threading.get_ident(), cProfile.Profile())
            profiler.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                profiler.disable()

        return super().submit(run)


# Where a function's own time goes, by the path of its file (first match wins).
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting (event loop idle in epoll)", ("select.epoll",)),
    # Before SQLAlchemy's entries: "resolutionflow_sqlalchemy/engine.py" contains theirs.
    ("adapter: resolutionflow_sqlalchemy", ("resolutionflow_sqlalchemy/",)),
    ("domain: resolutionflow_core", ("resolutionflow_core/",)),
    ("benchmark code", ("/bench/",)),
    ("driver: sqlite3 C calls", ("sqlite3.",)),
    ("driver: asyncpg", ("asyncpg/", "asyncpg.protocol")),
    ("sockets: driver I/O, loop wake-ups", ("_socket.socket",)),
    ("json encode/decode", ("/json/", "_json.")),
    ("SQLAlchemy engine: execution, transactions, results", ("sqlalchemy/engine/",)),
    ("SQLAlchemy sql: statement cache, bind/result types", ("sqlalchemy/sql/",)),
    ("SQLAlchemy dialect: type processors, DBAPI adapter", ("sqlalchemy/dialects/",)),
    ("SQLAlchemy events: dispatch (SQLite: the BEGIN hook)", ("sqlalchemy/event/",)),
    ("SQLAlchemy pool: checkout, reset on return", ("sqlalchemy/pool/",)),
    ("SQLAlchemy asyncio bridge, greenlet", ("sqlalchemy/ext/asyncio/", "concurrency", "greenlet")),
    ("SQLAlchemy other", ("sqlalchemy/",)),
    ("asyncio, threads, futures", ("asyncio/", "concurrent/", "threading", "selectors", "queue")),
)


def area_of(function: tuple[str, int, str]) -> str:
    path, _, name = function
    text = f"{path} {name}"
    for area, needles in AREAS:
        if any(needle in text for needle in needles):
            return area
    return "other (builtins)"


def merged(profiles: list[cProfile.Profile]) -> pstats.Stats:
    stats = pstats.Stats(profiles[0], stream=io.StringIO())
    for more in profiles[1:]:
        stats.add(more)
    return stats


def own_time_by_area(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of own time per area (see `AREAS`)."""
    by_area: dict[str, float] = {}
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for function, (_, _, own, *_rest) in table.items():
        area = area_of(function)
        by_area[area] = by_area.get(area, 0.0) + own
    return by_area


async def profiled_turns(
    run: TurnRunner,
    backend: Backend,
    session_id: uuid.UUID,
    turn: Turn,
    runs: int,
    executor: ProfilingExecutor,
) -> pstats.Stats:
    """cProfile ``runs`` turns (resets excluded) on the loop's thread and the workers'."""
    executor.restart()
    main_thread = cProfile.Profile()
    for _ in range(runs):
        await backend.reset(session_id)
        executor.active = True
        main_thread.enable()
        await run(session_id, turn)
        main_thread.disable()
        executor.active = False
    return merged([main_thread, *executor.profiles.values()])


async def library_phases(
    storage: SqlStorage, backend: Backend, session_id: uuid.UUID, turn: Turn, runs: int
) -> dict[str, Stats]:
    """Wall time of the library's three steps: get, the two add_message calls, commit."""
    phases: dict[str, list[float]] = {"get": [], "add_message x2": [], "commit": []}
    for _ in range(runs):
        await backend.reset(session_id)
        gc.collect()
        async with storage.unit_of_work() as uow:
            t0 = time.perf_counter()
            session = await uow.sessions.get(session_id, account_id=ACCOUNT)
            t1 = time.perf_counter()
            add_turn(session, turn)
            t2 = time.perf_counter()
            await uow.commit()
            t3 = time.perf_counter()
        for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            phases[name].append(seconds * 1000)
    return {name: Stats.of(values) for name, values in phases.items()}


async def profile(backend: Backend, session_id: uuid.UUID, size: int, runs: int) -> None:
    """Time the library's steps, then cProfile the library's turns and the baselines' (every
    thread, resets excluded) and print own time by area side by side, and the library's
    costliest functions."""
    storage = backend.libraries["library"]
    turn = next_turn(size)
    executor = ProfilingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    variants: dict[str, TurnRunner] = {"library": library_runner(storage), **backend.baselines}
    for run in variants.values():  # warm caches and prepared statements
        for _ in range(5):
            await backend.reset(session_id)
            await run(session_id, turn)
    phases = await library_phases(storage, backend, session_id, turn, runs)
    print(f"Library steps on {backend.name}, {size} messages ({runs} turns):")
    print_table(["step", "median ms", "p95 ms"], [[n, s.median, s.p95] for n, s in phases.items()])
    stats = {
        name: await profiled_turns(run, backend, session_id, turn, runs, executor)
        for name, run in variants.items()
    }
    areas = {name: own_time_by_area(s) for name, s in stats.items()}
    names = sorted(
        {area for by_area in areas.values() for area in by_area},
        key=lambda area: -areas["library"].get(area, 0.0),
    )
    print(
        f"\nOwn time by area, ms per turn over {runs} turns, all threads (cProfile: wall clock "
        "per thread, with its own overhead; waiting is wall time the loop spent idle):"
    )
    rows: list[list[object]] = [
        [area, *(areas[v].get(area, 0.0) * 1000 / runs for v in variants)] for area in names
    ]
    rows.append(["total", *(sum(areas[v].values()) * 1000 / runs for v in variants)])
    print_table(["area", *variants], rows)
    out = io.StringIO()
    library = stats["library"]
    library.stream = out  # type: ignore[attr-defined]
    library.sort_stats("tottime").print_stats(30)
    listing = out.getvalue()
    print(f"\nLibrary: top 30 functions by own time ({runs} turns, all threads)")
    print(listing[listing.index("ncalls") :].rstrip() if "ncalls" in listing else listing)


# -- main --------------------------------------------------------------------------------------


async def rows_or_profile(
    args: argparse.Namespace, backend: Backend, ids: dict[int, uuid.UUID], runs: int, warmup: int
) -> list[list[object]]:
    """The backend's table rows, or with ``--profile`` its profile and no rows; then closes it."""
    try:
        if args.profile_size is not None:
            await profile(backend, ids[args.profile_size], args.profile_size, runs)
            return []
        return await run_backend(backend, ids, runs, warmup)
    finally:
        await backend.close()


async def sqlite_run(args: argparse.Namespace, runs: int, warmup: int) -> list[list[object]]:
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        path = Path(tmp) / "chat.db"
        url = f"sqlite:///{path}"
        await create_schema(url)
        libraries = sqlite_libraries(url)
        ids = await seed(libraries["library"])
        backend = sqlite_backend(path, libraries, list(ids.values()))
        return await rows_or_profile(args, backend, ids, runs, warmup)


async def postgres_run(args: argparse.Namespace, runs: int, warmup: int) -> list[list[object]]:
    async with postgres_database("rf_bench_chat") as url:
        if url is None:
            return []
        await create_schema(url)
        libraries = {"library": open_storage(url)}
        ids = await seed(libraries["library"])
        backend = await postgres_backend(url, libraries, list(ids.values()))
        return await rows_or_profile(args, backend, ids, runs, warmup)


async def main_async(args: argparse.Namespace) -> None:
    runs = args.runs or (12 if args.quick else 40)
    warmup = 3 if args.quick else 5
    only: str | None = None
    args.profile_size = None
    if args.profile:
        only, _, size_text = args.profile.partition(":")
        args.profile_size = int(size_text or 500)
        if args.profile_size not in SIZES:
            raise SystemExit(f"--profile size must be one of {SIZES}")
        if only not in ("sqlite", "postgresql"):
            raise SystemExit("--profile backend must be sqlite or postgresql")
    print(f"Chat-turn storage cost, {runs} timed turns per variant and size ({warmup} warm-up)")
    print(machine_summary())
    print()
    rows: list[list[object]] = []
    if only in (None, "sqlite"):
        rows += await sqlite_run(args, runs, warmup)
    if only in (None, "postgresql"):
        rows += await postgres_run(args, runs, warmup)
    if not rows:
        return
    headers = ["backend", "history", "library", "lib ms", "lib p95", "baseline", "raw ms"]
    headers += ["raw p95", "ratio", "goal", "verdict", "cpu ms lib / raw", "cpu ratio"]
    print_table(headers, rows)
    print(
        "\nms = median wall time of one turn (load + 2 messages + commit), p95 = 95th "
        "percentile; ratio = library median / raw median (the goal applies to it).\n"
        "cpu = median CPU time of this process per turn, all threads (not the PostgreSQL "
        "server's): less sensitive to a busy machine than wall time.\n"
        "library = SqlStorage.from_url(url) (SQLite: sqlite3 in worker threads; PostgreSQL: "
        "asyncpg); library (aiosqlite engine) = SqlStorage(create_engine(url)).\n"
        "floor = the minimal raw work for the same result (one transaction; see _floor.py), "
        "inline = blocking the event loop, to_thread = in one asyncio.to_thread call.\n"
        "lib-shaped = the adapter's own statements by hand (a read transaction, then the "
        "write transaction; to_thread: each in one asyncio.to_thread call)."
    )


def main() -> None:
    parser = turns_parser(__doc__, quick=12, full=40)
    parser.add_argument(
        "--profile",
        metavar="BACKEND[:SIZE]",
        help="time the library's phases and cProfile it instead (e.g. sqlite:500)",
    )
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
