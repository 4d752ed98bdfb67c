"""The raw floor of a chat turn: the *minimal* work for the observable result of one turn.

The observable result: the two new messages appended to the session's history, the version
bumped once per message under a compare-and-set on the version the caller holds, one outbox
row per message, the messages in the search index (the database's triggers do it), and the
whole history read back and decoded (what the caller renders). Nothing else: no scalar column
rewritten by hand, no separate read transaction. The appended messages also go to
``last_append`` with the new version, as the storage writes them (migrations 0014 and 0016):
that is the least work for the index's triggers, which otherwise parse the whole history to
find what was added.

- SQLite (``sqlite3``): one transaction, ``BEGIN IMMEDIATE``; ``UPDATE … SET
  conversation_messages = json_insert(…), version = version + 2, … WHERE id AND account AND
  version RETURNING conversation_messages``; the outbox rows (executemany); ``COMMIT``. An
  async service must run it off the event loop: :func:`sqlite_floor` is the blocking body,
  run inline (the absolute floor) or in one ``asyncio.to_thread`` call.
- PostgreSQL (``asyncpg``): the same in one autocommit statement, the outbox ``INSERT`` in a
  CTE fed by the ``UPDATE … RETURNING``: one round trip.

That floor is one transaction, as issue 13 defines it. The product's rule (PRODUCT.md: "the
user's message is stored before the LLM is called, so an LLM failure loses nothing") makes
the least work for a turn's observable result *two* transactions: the engineer's message
committed first (its outbox row with it, the history not read back: the caller holds its
length), then the reply appended and the history read back and decoded.
:func:`sqlite_floor_store` / :func:`postgres_floor_store` are that first step; the second is
the one-message `sqlite_floor` / `postgres_floor`. `service_turn.py` reports both floors.

Not a benchmark itself; ``storage_chat_turn.py`` and ``service_turn.py`` use it.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

EVENT = "session.message_added"


@functools.cache
def sqlite_floor_update(count: int, *, read_back: bool = True) -> str:
    """The floor's ``UPDATE`` appending ``count`` messages (parameters ``?1``..``?count``,
    then the time, id, account and version), returning the history or, without
    ``read_back``, only the version (the compare-and-set still needs to see the row). Built
    once per shape."""
    appended = ", ".join(f"json(?{i})" for i in range(1, count + 1))
    inserts = ", ".join(f"'$[#]', json(?{i})" for i in range(1, count + 1))
    at, sid, account, version = (f"?{count + i}" for i in range(1, 5))
    returned = "conversation_messages" if read_back else "version"
    return (
        f"UPDATE ai_sessions SET conversation_messages = "
        f"json_insert(conversation_messages, {inserts}), "
        f"last_append = json_array(version + {count}, json_array({appended})), "
        f"version = version + {count}, step_count = step_count + {count}, "
        f"updated_at = {at}, last_activity_at = {at} "
        f"WHERE id = {sid} AND account_id = {account} AND version = {version} "
        f"RETURNING {returned}"
    )


SQLITE_FLOOR_OUTBOX = (
    "INSERT INTO session_outbox (session_id, account_id, version, event_name, payload, "
    "occurred_at) VALUES (?, ?, ?, ?, ?, ?)"
)


@functools.cache
def pg_floor_statement(count: int, *, read_back: bool = True) -> str:
    """The PostgreSQL floor's one statement appending ``count`` messages (``$1``, a JSON
    array), returning the history or, without ``read_back``, only the version. Built once
    per shape."""
    returned = "conversation_messages" if read_back else "version"
    return f"""
WITH u AS (
    UPDATE ai_sessions
    SET conversation_messages = conversation_messages || $1::jsonb,
        last_append = jsonb_build_array(version + {count}, $1::jsonb)::text,
        version = version + {count}, step_count = step_count + {count},
        updated_at = $2, last_activity_at = $2
    WHERE id = $3 AND account_id = $4 AND version = $5
    RETURNING id, account_id, version, conversation_messages
), o AS (
    INSERT INTO session_outbox (session_id, account_id, version, event_name, payload,
                                occurred_at)
    SELECT u.id, u.account_id, u.version - {count} + e.n::int, $6,
           jsonb_build_object('role', e.role,
                              'index',
                              jsonb_array_length(u.conversation_messages) - {count + 1} + e.n),
           e.at
    FROM u CROSS JOIN unnest($7::text[], $8::timestamptz[]) WITH ORDINALITY AS e(role, at, n)
)
SELECT {returned} FROM u
"""


def sqlite_time(value: datetime) -> str:
    """A UTC datetime as the adapter stores it in SQLite (naive, microseconds always)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_floor(
    conn: sqlite3.Connection,
    session_id: uuid.UUID,
    account_id: str,
    version: int,
    added: list[dict[str, Any]],
    times: list[datetime],
) -> list[dict[str, Any]]:
    """Append ``added`` (the turn's two messages; one, in the two-transaction floor) under a
    compare-and-set on ``version``, write their outbox rows, and return the whole history
    decoded. Blocking: one transaction."""
    history = _sqlite_append(conn, session_id, account_id, version, added, times, None)
    assert history is not None
    return history


def sqlite_floor_store(
    conn: sqlite3.Connection,
    session_id: uuid.UUID,
    account_id: str,
    version: int,
    added: list[dict[str, Any]],
    times: list[datetime],
    length: int,
) -> None:
    """Like `sqlite_floor`, but the history is not read back: ``length`` is its length
    before the append, as the caller holds it (for the outbox rows' index). The first
    transaction of the two-transaction floor (the engineer's message, committed before the
    assistant is asked)."""
    _sqlite_append(conn, session_id, account_id, version, added, times, length)


def _sqlite_append(
    conn: sqlite3.Connection,
    session_id: uuid.UUID,
    account_id: str,
    version: int,
    added: list[dict[str, Any]],
    times: list[datetime],
    length: int | None,
) -> list[dict[str, Any]] | None:
    """One transaction; the history decoded if it is read back (``length`` None)."""
    statement = sqlite_floor_update(len(added), read_back=length is None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            statement,
            (
                *(json.dumps(message) for message in added),
                sqlite_time(times[-1]),
                session_id.hex,
                account_id,
                version,
            ),
        ).fetchall()
        if len(rows) != 1:
            raise RuntimeError(f"stale session {session_id}")
        history: list[dict[str, Any]] | None = None
        if length is None:
            history = json.loads(rows[0][0])
            assert history is not None
            first = len(history) - len(added)
        else:
            first = length
        conn.executemany(
            SQLITE_FLOOR_OUTBOX,
            [
                (
                    session_id.hex,
                    account_id,
                    version + 1 + i,
                    EVENT,
                    json.dumps({"role": message["role"], "index": first + i}),
                    sqlite_time(when),
                )
                for i, (message, when) in enumerate(zip(added, times, strict=True))
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return history


async def postgres_floor(
    conn: asyncpg.Connection,
    session_id: uuid.UUID,
    account_id: str,
    version: int,
    added: list[dict[str, Any]],
    times: list[datetime],
) -> list[dict[str, Any]]:
    """The same on asyncpg: one autocommit statement, one round trip."""
    row = await _pg_append(conn, session_id, account_id, version, added, times, read_back=True)
    history: list[dict[str, Any]] = json.loads(row[0])
    return history


async def postgres_floor_store(
    conn: asyncpg.Connection,
    session_id: uuid.UUID,
    account_id: str,
    version: int,
    added: list[dict[str, Any]],
    times: list[datetime],
) -> None:
    """Like `postgres_floor`, the history not read back (the first statement of the
    two-transaction floor)."""
    await _pg_append(conn, session_id, account_id, version, added, times, read_back=False)


async def _pg_append(
    conn: asyncpg.Connection,
    session_id: uuid.UUID,
    account_id: str,
    version: int,
    added: list[dict[str, Any]],
    times: list[datetime],
    *,
    read_back: bool,
) -> Any:
    row = await conn.fetchrow(
        pg_floor_statement(len(added), read_back=read_back),
        json.dumps(added),
        times[-1],
        session_id,
        account_id,
        version,
        EVENT,
        [message["role"] for message in added],
        times,
    )
    if row is None:
        raise RuntimeError(f"stale session {session_id}")
    return row
