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

Not a benchmark itself; ``storage_chat_turn.py`` and ``service_turn.py`` use it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

EVENT = "session.message_added"

SQLITE_FLOOR_UPDATE = (
    "UPDATE ai_sessions SET conversation_messages = "
    "json_insert(conversation_messages, '$[#]', json(?1), '$[#]', json(?2)), "
    "last_append = json_array(version + 2, json_array(json(?1), json(?2))), "
    "version = version + 2, step_count = step_count + 2, updated_at = ?3, last_activity_at = ?3 "
    "WHERE id = ?4 AND account_id = ?5 AND version = ?6 RETURNING conversation_messages"
)
SQLITE_FLOOR_OUTBOX = (
    "INSERT INTO session_outbox (session_id, account_id, version, event_name, payload, "
    "occurred_at) VALUES (?, ?, ?, ?, ?, ?)"
)

PG_FLOOR = """
WITH u AS (
    UPDATE ai_sessions
    SET conversation_messages = conversation_messages || $1::jsonb,
        last_append = jsonb_build_array(version + 2, $1::jsonb)::text,
        version = version + 2, step_count = step_count + 2,
        updated_at = $2, last_activity_at = $2
    WHERE id = $3 AND account_id = $4 AND version = $5
    RETURNING id, account_id, version, conversation_messages
), o AS (
    INSERT INTO session_outbox (session_id, account_id, version, event_name, payload,
                                occurred_at)
    SELECT u.id, u.account_id, u.version - 2 + e.n::int, $6,
           jsonb_build_object('role', e.role,
                              'index', jsonb_array_length(u.conversation_messages) - 3 + e.n),
           e.at
    FROM u CROSS JOIN unnest($7::text[], $8::timestamptz[]) WITH ORDINALITY AS e(role, at, n)
)
SELECT conversation_messages FROM u
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
    """Append ``added`` (two messages) under a compare-and-set on ``version``, write their
    outbox rows, and return the whole history decoded. Blocking: one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            SQLITE_FLOOR_UPDATE,
            (
                json.dumps(added[0]),
                json.dumps(added[1]),
                sqlite_time(times[-1]),
                session_id.hex,
                account_id,
                version,
            ),
        ).fetchall()
        if len(rows) != 1:
            raise RuntimeError(f"stale session {session_id}")
        history: list[dict[str, Any]] = json.loads(rows[0][0])
        first = len(history) - len(added)
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
    row = await conn.fetchrow(
        PG_FLOOR,
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
    history: list[dict[str, Any]] = json.loads(row[0])
    return history
