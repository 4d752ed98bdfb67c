"""Search: the library's search against the raw FTS query on the same index, and what the
index adds to a chat turn.

Seeds one database per engine with realistic sessions (``--sessions``, 100,000 by default,
~20 messages each on average: the issue's ~2,000,000 messages), fast: the rows go in by
bulk INSERTs on the raw driver (sqlite3 / asyncpg) with the index's triggers not yet there,
then the index is built once (`search_schema.install`: one FTS5 ``rebuild``, one GIN build),
as migration 0012 does on an existing database. Copies are taken before that: one without
any index, one with migration 0009's session-level index (`search_schema_0009`, the index
before this one). Then:

1. **Search**: a two-word query (``user reboot``) with the history's filters (one account,
   chat, resolved), 50 hits per page, through ``SessionService.search`` (parse, adapter,
   snippets), for the first page and for the page 1,000 hits deep (its cursor reached by
   following ``next_cursor``), against the same two statements written by hand on the raw
   driver (per-phrase match + sum of the parts' ranks + filters + keyset + limit, then the
   page's snippets). Goal: library <= 1.5x raw, p50 and p95.
2. **Chat turn**: load a chat of 10, 200 or 1,000 messages, append the engineer's message
   and the reply, commit, through the unit of work, on the indexed database, on the copy
   with 0009's index and on the copy without an index; each repetition uses another session,
   the variants interleaved. Then the same for **a whole chat turn through the service**
   (``SessionService.send_message`` with the offline LLM: the engineer's message committed,
   the reply asked for and committed: two writes), each variant on sessions of its own (the
   offline assistant's caches would favour the second variant on a shared one). Each is
   measured on chats whose timed turn is their first since the index was built (the worst
   case: see `CHAT_STATES`) and on chats in use (an untimed turn moments before). Goal:
   indexed <= 1.25x the turn without an index. On SQLite a third copy, in the same rounds,
   times the **floor** (`sqlite_floor_statements`): the least an FTS5 index with external
   content, kept in the transaction of every write, does on a turn. Its ratio to the turn
   without an index says how much of the goal any such index has left; ``index/floor``
   says how far ours is from it.

    uv run python bench/search.py [--sessions 100000] [--runs 30] [--quick]
        [--engines sqlite,postgresql] [--no-before]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from _common import (
    _admin,
    _dsn,
    asyncpg_dsn,
    create_schema,
    machine_summary,
    note,
    postgres_database,
    print_table,
    time_interleaved,
    verdict,
)
from history_list import JSON_COLUMNS, postgres_param, row_values, sqlite_param

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import ConversationMessage, MessageHistory, MessageRole
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.search import SearchCursor, search_query
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType, Session, SessionType
from resolutionflow_memory import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage, search_schema, search_schema_0009
from resolutionflow_sqlalchemy.search import (
    HEADLINE_OPTIONS,
    SNIPPET_TOKENS,
    SQLITE_WEIGHTS,
    SqlSessionSearch,
)
from resolutionflow_sqlalchemy.tables import ai_sessions

SEARCH_GOAL = 1.5
TURN_GOAL = 1.25
PAGE = 50
DEPTH = 1_000
QUERY = "user reboot"
ACCOUNTS = ("acct-0", "acct-1")
ACTOR = Actor(ACCOUNTS[0], "acct-0-lead", Role.OWNER)
FILTERS: dict[str, Any] = {
    "session_types": frozenset({SessionType.CHAT}),
    "statuses": frozenset({SessionStatus.RESOLVED}),
}
NOW = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)

# -- realistic text ------------------------------------------------------------------------------

DOMAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "network": (
        (
            "VPN tunnel to {site} drops every {n} minutes",
            "DNS lookups for {host} fail from the {site} office",
            "Wifi in the {site} meeting rooms disconnects laptops",
        ),
        (
            "The firewall log shows IKE phase 2 renegotiating at {n} minute intervals",
            "Ping to {ip} times out while the gateway answers",
            "nslookup {host} returns SERVFAIL from the branch resolver",
            "Switch port {n} on the {site} stack flaps according to the syslog",
        ),
        ("Raised the SA lifetime to match the peer", "Replaced the failing access point"),
    ),
    "email": (
        (
            "Outlook keeps asking for the password on {host}",
            "Shared mailbox for {team} stopped syncing",
            "Mail to {site} partner bounces with 550 5.7.1",
        ),
        (
            "The credential manager holds two entries for the old tenant",
            "Message trace shows the connector rejecting the sender",
            "The OST file on {host} is {n} GB and the sync log has errors",
            "Modern authentication is enabled but the registry key forces basic auth",
        ),
        ("Cleared cached credentials and rebuilt the Outlook profile", "Fixed the SPF record"),
    ),
    "printing": (
        (
            "Printer on floor {n} shows offline for {team}",
            "Print jobs stuck in the spooler on {host}",
            "Scanner to email stopped after the relay change",
        ),
        (
            "The spooler service restarts and the queue fills again",
            "The printer has a new DHCP lease, the port still points at {ip}",
            "Driver package on the print server is version {n}",
        ),
        ("Set a DHCP reservation and updated the port", "Cleared the spool folder"),
    ),
    "identity": (
        (
            "New starter in {team} cannot sign in to Teams",
            "MFA prompts loop for {team} users",
            "Account lockouts every morning for the {team} lead",
        ),
        (
            "Entra sign-in logs show error {code} for the account",
            "A mapped drive on {host} uses the old password and locks the account",
            "Conditional access blocks the location of the {site} office",
        ),
        ("Removed the stale mapped drive credentials", "Excluded the site from the policy"),
    ),
    "endpoint": (
        (
            "Laptop {host} is slow after the update",
            "BitLocker recovery screen on {host} at every boot",
            "Windows update fails with {code} on {host}",
        ),
        (
            "Disk usage sits at 100 percent with the search indexer",
            "The TPM was cleared by the firmware update",
            "The update log shows {code} while installing the cumulative update",
        ),
        ("Suspended BitLocker and updated the firmware", "Reset the update components"),
    ),
}
GENERIC = (
    "Asked the user to reboot the machine and try again",
    "The user confirms the problem started this morning",
    "Checked the event log around the time of the failure",
    "Will check with the user after lunch",
    "Remote session opened with the user's permission",
    "No other users report the same problem",
    "Rebooted the server during the maintenance window",
)
SITES = ("Leeds", "Bristol", "Dublin", "Lyon", "Graz", "Porto")
TEAMS = ("finance", "sales", "reception", "warehouse", "legal", "payroll")
CODES = ("0x80070005", "0x800f081f", "AADSTS50126", "0x8024402c", "AADSTS53003")


def fill(template: str, rng: random.Random) -> str:
    return template.format(
        site=rng.choice(SITES),
        team=rng.choice(TEAMS),
        host=f"pc-{rng.randrange(900):03d}",
        ip=f"10.{rng.randrange(255)}.{rng.randrange(255)}.{rng.randrange(255)}",
        n=rng.randrange(2, 60),
        code=rng.choice(CODES),
    )


def sessions(count: int, seed: int = 20261202) -> Iterator[Session]:
    rng = random.Random(seed)
    names = list(DOMAINS)
    for n in range(count):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        problems, facts, fixes = DOMAINS[names[rng.randrange(len(names))]]
        last = NOW - timedelta(seconds=rng.uniform(0, 365 * 24 * 3600))
        created = last - timedelta(hours=rng.uniform(0.1, 48))
        problem = fill(rng.choice(problems), rng)
        chat = rng.random() < 0.6
        status = rng.choices(list(SessionStatus), [0.12, 0.08, 0.55, 0.10, 0.15])[
            0
        ]  # active, paused, resolved, escalated, abandoned
        messages = []
        if chat:
            messages.append(ConversationMessage(MessageRole.USER, problem, created))
            for i in range(rng.randrange(16, 51) - 1):
                pool = GENERIC if rng.random() < 0.3 else facts
                text = " ".join(
                    fill(rng.choice(pool), rng) + "." for _ in range(rng.randrange(1, 4))
                )
                role = MessageRole.ASSISTANT if i % 2 == 0 else MessageRole.USER
                messages.append(ConversationMessage(role, text, created + timedelta(seconds=i)))
        resolved = status is SessionStatus.RESOLVED
        yield Session(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            account_id=account,
            user_id=f"{account}-eng-{rng.randrange(6)}",
            session_type=SessionType.CHAT if chat else SessionType.GUIDED,
            intake_type=IntakeType.FREE_TEXT,
            intake_content={"text": problem},
            created_at=created,
            updated_at=last,
            last_activity_at=last,
            status=status,
            title=problem[:80] if chat else None,
            conversation_messages=MessageHistory(messages),
            problem_summary=None if chat else problem,
            resolution_summary=rng.choice(fixes) if resolved else None,
            root_cause=fill(rng.choice(facts), rng) if resolved else None,
            escalation_reason="needs a senior engineer"
            if status is SessionStatus.ESCALATED
            else None,
            resolved_at=last if resolved else None,
            escalated_at=last if status is SessionStatus.ESCALATED else None,
            abandoned_at=last if status is SessionStatus.ABANDONED else None,
            paused_at=last if status is SessionStatus.PAUSED else None,
            version=len(messages) + 2,
        )


TURN_SIZES = (10, 200, 1_000)
"""History lengths of the chats a turn is measured on."""
TURN_KINDS = {"uow": "unit of work", "service": "service"}
"""The turns measured: two messages appended in one unit of work (`chat_turn`), and a whole
turn through ``SessionService.send_message`` (`service_turn`)."""
CHAT_STATES = {"first": "first since fill", "in use": "in use"}
"""Which turn of a chat is timed: its first since the index was built, or one on a chat in
use (each had an untimed turn of the same kind moments before, as a chat an engineer is
working has).

The first is the worst case, and it is the state every chat of a database indexed by a fill
(migration 0012, ``db reindex``) is in until its next turn: the fill writes the parts table
and FTS5's ``docsize`` in rowid order, which leaves their b-tree leaves full, so the first
new part of a chat splits a leaf of each (measured: ~12 pages more into the WAL per commit
than without the index, against ~7 on a chat in use)."""


def turn_chats(sizes: tuple[int, ...], per_size: int) -> dict[int, list[Session]]:
    """Active chats of ``ACCOUNTS[0]`` with exactly ``size`` messages, ``per_size`` of each."""
    rng = random.Random(7)
    _problems, facts, _fixes = DOMAINS["network"]
    chats: dict[int, list[Session]] = {}
    for size in sizes:
        chats[size] = []
        for _ in range(per_size):
            created = NOW - timedelta(days=rng.uniform(1, 30))
            problem = fill(rng.choice(DOMAINS["email"][0]), rng)
            messages = [ConversationMessage(MessageRole.USER, problem, created)]
            for i in range(size - 1):
                pool = GENERIC if rng.random() < 0.3 else facts
                text = " ".join(fill(rng.choice(pool), rng) + "." for _ in range(2))
                role = MessageRole.ASSISTANT if i % 2 == 0 else MessageRole.USER
                messages.append(ConversationMessage(role, text, created + timedelta(seconds=i)))
            last = created + timedelta(seconds=size)
            chats[size].append(
                Session(
                    id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    account_id=ACCOUNTS[0],
                    user_id=ACTOR.user_id,
                    session_type=SessionType.CHAT,
                    intake_type=IntakeType.FREE_TEXT,
                    intake_content={"text": problem},
                    created_at=created,
                    updated_at=last,
                    last_activity_at=last,
                    status=SessionStatus.ACTIVE,
                    title=problem[:80],
                    conversation_messages=MessageHistory(messages),
                    version=size + 1,
                )
            )
    return chats


def batches(count: int, extra: list[Session], size: int = 2_000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for session in [*sessions(count), *extra]:
        batch.append(row_values(session))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- loading -------------------------------------------------------------------------------------


def _columns() -> list[str]:
    return list(ai_sessions.c.keys())


def _sqlite_value(name: str, value: Any) -> Any:
    """As `sqlite_param`, but a history as the storage's appends leave it: minified JSON
    (``json_insert`` re-renders the array so), which is what a chat that reached its length
    through turns holds, and what the index's append path recognises (`search_schema`)."""
    if name == "conversation_messages":
        return json.dumps(value, separators=(",", ":"))
    return sqlite_param(name, value)


def load_sqlite(path: Path, count: int, extra: list[Session]) -> tuple[int, float]:
    """Bulk-insert the sessions with the index's triggers removed (the index is built once,
    afterwards, by `index_sqlite`)."""
    conn = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    messages = 0
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in search_schema.remove_statements("sqlite"):
            conn.execute(statement)
        names: list[str] | None = None
        conn.execute("BEGIN IMMEDIATE")
        for batch in batches(count, extra):
            if names is None:
                names = list(batch[0])
                statement = (
                    f"INSERT INTO ai_sessions ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})"
                )
            messages += sum(len(row["conversation_messages"]) for row in batch)
            conn.executemany(
                statement, [[_sqlite_value(n, row[n]) for n in names] for row in batch]
            )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return messages, time.perf_counter() - started


def index_sqlite(path: Path, statements: list[str]) -> float:
    """Run an index's install statements in one transaction; seconds taken."""
    conn = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in statements:
            conn.execute(statement)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


FLOOR_TRIGGER = "ai_sessions_search_messages_append"
FLOOR_DROPPED = (
    f"{search_schema.PARTS_TABLE}_fts_insert",
    "ai_sessions_search_head_update",
    "ai_sessions_search_messages_update",
)


def sqlite_floor_statements() -> list[str]:
    """Turn an indexed SQLite copy into the **floor** of the turn-cost goal: the least work an
    index of the kind the issue asks for (FTS5 with external content, kept in the
    transaction of every write) can do on a chat turn.

    One trigger, on the column the storage's append sets (``last_append``), inserts each
    appended message's text, as it is, into FTS5 and into the content table (so that
    ``snippet`` has it): two plain ``INSERT``s, each row keyed from the new version (a real
    design needs the message's index, which the storage knows). Nothing else runs: no
    ``ON CONFLICT``, no lookup of how many messages the index holds, no markers removed, no
    head trigger or other ``WHEN`` to evaluate, no nested trigger (the content table's own
    FTS5 trigger is dropped). Not a usable index (a head or step change is not indexed): a
    floor only, timed beside the real one in the same rounds."""
    key = (
        f"(SELECT doc_id << {search_schema.PART_BITS} FROM {search_schema.SESSIONS_TABLE} "
        "WHERE session_id = new.id) | (262144 + 4 * new.version + m.key)"
    )
    appended = "json_each(new.last_append, '$[1]') AS m"
    return [
        f"DROP TRIGGER {FLOOR_TRIGGER}",
        *(f"DROP TRIGGER {name}" for name in FLOOR_DROPPED),
        f"CREATE TRIGGER {FLOOR_TRIGGER} AFTER UPDATE OF last_append ON ai_sessions "
        "WHEN json_extract(new.last_append, '$[0]') IS new.version BEGIN "
        f"INSERT INTO {search_schema.FTS_TABLE} (rowid, title, outcome, body) "
        f"SELECT {key}, '', '', json_extract(m.value, '$.content') FROM {appended}; "
        f"INSERT INTO {search_schema.PARTS_TABLE} (part_id, title, outcome, body) "
        f"SELECT {key}, '', '', json_extract(m.value, '$.content') FROM {appended}; END",
    ]


async def load_postgres(url: str, count: int, extra: list[Session]) -> tuple[int, float]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    started = time.perf_counter()
    messages = 0
    try:
        for statement in search_schema.remove_statements("postgresql"):
            await conn.execute(statement)
        names: list[str] | None = None
        async with conn.transaction():
            for batch in batches(count, extra):
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
                messages += sum(len(row["conversation_messages"]) for row in batch)
                await conn.executemany(
                    statement, [[postgres_param(n, row[n]) for n in names] for row in batch]
                )
    finally:
        await conn.close()
    return messages, time.perf_counter() - started


async def index_postgres(url: str, statements: list[str]) -> float:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    started = time.perf_counter()
    try:
        await conn.execute("SET maintenance_work_mem = '256MB'")
        async with conn.transaction():
            for statement in statements:
                await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


# -- the raw queries (what a hand-written search on the same index sends) -----------------------

WEIGHTS = ", ".join(map(str, SQLITE_WEIGHTS))
SQLITE_RAW = f"""
WITH allowed AS MATERIALIZED (
  SELECT x.doc_id FROM ai_sessions AS s JOIN ai_sessions_search AS x ON x.session_id = s.id
  WHERE s.account_id = ? AND s.session_type = 'chat' AND s.status = 'resolved'),
p0 AS MATERIALIZED (
  SELECT rowid >> 20 AS doc, -bm25(ai_sessions_fts, {WEIGHTS}) AS score
  FROM ai_sessions_fts WHERE ai_sessions_fts MATCH ?
  AND rowid >> 20 IN (SELECT doc_id FROM allowed)),
i0 AS MATERIALIZED (SELECT doc, sum(score) AS score FROM p0 GROUP BY doc),
p1 AS MATERIALIZED (
  SELECT rowid >> 20 AS doc, -bm25(ai_sessions_fts, {WEIGHTS}) AS score
  FROM ai_sessions_fts WHERE ai_sessions_fts MATCH ?
  AND rowid >> 20 IN (SELECT doc_id FROM allowed)),
i1 AS MATERIALIZED (SELECT doc, sum(score) AS score FROM p1 GROUP BY doc),
m AS (SELECT i0.doc, i0.score + i1.score AS score FROM i0 JOIN i1 ON i1.doc = i0.doc),
page AS (SELECT x.session_id, m.doc, m.score FROM m JOIN ai_sessions_search AS x
  ON x.doc_id = m.doc WHERE true {{keyset}}
  ORDER BY m.score DESC, x.session_id DESC LIMIT {PAGE + 1})
SELECT s.id, s.title, s.status, s.last_activity_at, page.score, page.doc
FROM page JOIN ai_sessions AS s ON s.id = page.session_id
ORDER BY page.score DESC, s.id DESC"""
SQLITE_SNIPPETS = (
    "WITH hits AS MATERIALIZED (SELECT rowid AS part_id, "
    f"bm25(ai_sessions_fts, {WEIGHTS}) AS rank FROM ai_sessions_fts "
    "WHERE ai_sessions_fts MATCH ?1 AND (+rowid >> 20) IN (SELECT value FROM json_each(?2))), "
    "best AS (SELECT min(rank), part_id FROM hits GROUP BY part_id >> 20) "
    f"SELECT rowid >> 20, snippet(ai_sessions_fts, -1, '«', '»', '…', {SNIPPET_TOKENS}) "
    "FROM ai_sessions_fts WHERE ai_sessions_fts MATCH ?1 AND +rowid IN (SELECT part_id FROM best)"
)
PG_FILTERS = "s.account_id = $3 AND s.session_type = 'chat' AND s.status = 'resolved'"
PG_RAW = f"""
WITH q0 AS (SELECT websearch_to_tsquery('english', $1) AS q),
q1 AS (SELECT websearch_to_tsquery('english', $2) AS q),
i0 AS (SELECT p.session_id, sum(ts_rank_cd(p.document, q0.q)::float8) AS score
  FROM ai_sessions_search_parts AS p JOIN ai_sessions AS s ON s.id = p.session_id, q0
  WHERE p.document @@ q0.q AND {PG_FILTERS} GROUP BY p.session_id),
i1 AS (SELECT p.session_id, sum(ts_rank_cd(p.document, q1.q)::float8) AS score
  FROM ai_sessions_search_parts AS p JOIN ai_sessions AS s ON s.id = p.session_id, q1
  WHERE p.document @@ q1.q AND {PG_FILTERS} GROUP BY p.session_id),
m AS (SELECT a.session_id, sum(a.score) AS score FROM
  (SELECT session_id, score FROM i0 UNION ALL SELECT session_id, score FROM i1) AS a
  GROUP BY a.session_id HAVING count(*) = 2)
SELECT s.id, s.title, s.status, s.last_activity_at, m.score
FROM m JOIN ai_sessions AS s ON s.id = m.session_id
WHERE {PG_FILTERS} {{keyset}}
ORDER BY m.score DESC, s.id DESC LIMIT {PAGE + 1}"""
PG_HEADLINES = (
    "WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q), "
    "best AS (SELECT DISTINCT ON (p.session_id) p.session_id, p.title, p.outcome, p.body "
    "FROM ai_sessions_search_parts AS p, q WHERE p.session_id = ANY($2::uuid[]) "
    "AND p.document @@ q.q ORDER BY p.session_id, ts_rank_cd(p.document, q.q) DESC, p.part) "
    "SELECT best.session_id, ts_headline('english', concat_ws(E'\\n', best.title, "
    f"best.outcome, best.body), q.q, '{HEADLINE_OPTIONS}') FROM best, q"
)
WORDS = QUERY.split()


def raw_sqlite(conn: sqlite3.Connection, cursor: tuple[float, str] | None) -> list[Any]:
    phrases = [f'"{w}"' for w in WORDS]
    params: list[Any] = [ACCOUNTS[0], *phrases]
    keyset = ""
    if cursor is not None:
        keyset = "AND (m.score < ? OR (m.score = ? AND x.session_id < ?))"
        params += [cursor[0], cursor[0], cursor[1]]
    conn.execute("BEGIN")
    rows = conn.execute(SQLITE_RAW.format(keyset=keyset), params).fetchall()[:PAGE]
    docs = "[" + ", ".join(str(r[5]) for r in rows) + "]"
    snippets = dict(conn.execute(SQLITE_SNIPPETS, [" OR ".join(phrases), docs]).fetchall())
    conn.execute("COMMIT")
    return [rows, snippets]


async def raw_postgres(conn: Any, cursor: tuple[float, uuid.UUID] | None) -> list[Any]:
    params: list[Any] = [*WORDS, ACCOUNTS[0]]
    keyset = ""
    if cursor is not None:
        keyset = "AND (m.score < $4 OR (m.score = $4 AND s.id < $5))"
        params += [cursor[0], cursor[1]]
    async with conn.transaction():
        rows = (await conn.fetch(PG_RAW.format(keyset=keyset), *params))[:PAGE]
        headlines = await conn.fetch(PG_HEADLINES, " or ".join(WORDS), [r["id"] for r in rows])
    return [rows, headlines]


# -- measuring -------------------------------------------------------------------------------------


async def deep_cursor(service: SessionService) -> tuple[str | None, int]:
    """The cursor after ``DEPTH`` hits (or as deep as the matches go), and that depth."""
    cursor: str | None = None
    depth = 0
    while depth < DEPTH:
        page = await service.search(ACTOR, QUERY, limit=PAGE, cursor=cursor, **FILTERS)
        if page.next_cursor is None:
            break
        depth += len(page.items)
        cursor = page.next_cursor.encode()
    return cursor, depth


async def chat_turn(storage: SqlStorage, session_id: uuid.UUID, n: int) -> None:
    async with storage.unit_of_work() as uow:
        session = await uow.sessions.get(session_id, account_id=ACCOUNTS[0])
        when = session.last_activity_at + timedelta(seconds=1)
        session.add_message(
            MessageRole.USER, f"Tried the fix on pc-{n:03d}, still failing", now=when, by="x"
        )
        session.add_message(
            MessageRole.ASSISTANT,
            "Check the event log for error 7031 and reboot the user's PC.",
            now=when,
            by=None,
        )
        await uow.commit()


async def service_turn(service: SessionService, session_id: uuid.UUID, n: int) -> None:
    await service.send_message(ACTOR, session_id, f"Tried the fix on pc-{n:03d}, still failing")


async def measure_search(name: str, url: str, runs: int, warmup: int) -> list[list[object]]:
    storage = SqlStorage.from_url(url, timeout=120)  # a busy machine: no statement timeout
    service = SessionService(
        uow=storage.unit_of_work, llm=OfflineLLM(), search=SqlSessionSearch(storage.database)
    )
    cursor_token, depth = await deep_cursor(service)
    first_page = await service.search(ACTOR, QUERY, limit=PAGE, **FILTERS)
    deep_page = (
        await service.search(ACTOR, QUERY, limit=PAGE, cursor=cursor_token, **FILTERS)
        if cursor_token
        else first_page
    )
    raw_cursor: Any = None
    if cursor_token:
        fingerprint = search_query(ACTOR, QUERY, limit=PAGE, **FILTERS).fingerprint
        decoded = SearchCursor.decode(cursor_token, fingerprint)
        raw_cursor = (
            decoded.score,
            decoded.session_id.hex if name == "sqlite" else decoded.session_id,
        )

    async def lib_first() -> object:
        return await service.search(ACTOR, QUERY, limit=PAGE, **FILTERS)

    async def lib_deep() -> object:
        return await service.search(ACTOR, QUERY, limit=PAGE, cursor=cursor_token, **FILTERS)

    if name == "sqlite":
        conn = sqlite3.connect(
            url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
        )

        async def raw_first() -> object:
            return await asyncio.to_thread(raw_sqlite, conn, None)

        async def raw_deep() -> object:
            return await asyncio.to_thread(raw_sqlite, conn, raw_cursor)
    else:
        conn = await asyncpg.connect(asyncpg_dsn(url))

        async def raw_first() -> object:
            return await raw_postgres(conn, None)

        async def raw_deep() -> object:
            return await raw_postgres(conn, raw_cursor)

    for raw_page, lib_page in ((await raw_first(), first_page), (await raw_deep(), deep_page)):
        raw_ids = [str(r[0]).replace("-", "") for r in raw_page[0]]  # type: ignore[index]
        if raw_ids != [h.summary.id.hex for h in lib_page.items]:
            raise AssertionError("the raw query and the library return different pages")
        if len(raw_page[1]) != len(lib_page.items):  # type: ignore[index]
            raise AssertionError("the raw query does not make a snippet per hit")
    results = await time_interleaved(
        {
            "lib first": lib_first,
            "raw first": raw_first,
            "lib deep": lib_deep,
            "raw deep": raw_deep,
        },
        runs=runs,
        warmup=warmup,
    )
    if name == "sqlite":
        conn.close()
    else:
        await conn.close()
    await storage.dispose()
    rows: list[list[object]] = []
    for page in ("first", f"deep ({depth})"):
        key = page.split()[0]
        lib, rawt = results[f"lib {key}"].wall, results[f"raw {key}"].wall
        ratio50, ratio95 = lib.median / rawt.median, lib.p95 / rawt.p95
        rows.append(
            [
                name,
                page,
                lib.median,
                lib.p95,
                rawt.median,
                rawt.p95,
                f"{ratio50:.2f}x",
                f"{ratio95:.2f}x",
                results[f"lib {key}"].cpu.median,
                results[f"raw {key}"].cpu.median,
                verdict(max(ratio50, ratio95), SEARCH_GOAL),
            ]
        )
    return rows


async def measure_turns(
    name: str, urls: dict[str, str], chats: dict[int, list[Session]], runs: int, warmup: int
) -> list[list[object]]:
    """Chat turns on each database variant (``parts``, ``0009``, ``none``), per history size."""
    storages = {variant: SqlStorage.from_url(url) for variant, url in urls.items()}
    services = {
        variant: SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
        for variant, storage in storages.items()
    }
    counter = iter(range(10**6))
    rows: list[list[object]] = []
    try:
        for (size, chats_of_size), state, kind in itertools.product(
            chats.items(), CHAT_STATES, TURN_KINDS
        ):
            # Half of a size's chats for each state (`CHAT_STATES`). Of those, the unit of
            # work's turns: the first ``per`` chats, the same ones on every variant. The
            # service's: chats of each variant's own, since the offline assistant caches
            # what it read of a text (module-level): had two variants turned the same chat,
            # the second would have found the first one's work cached.
            half = len(chats_of_size) // len(CHAT_STATES)
            targets = chats_of_size[half * list(CHAT_STATES).index(state) :][:half]
            per = len(targets) // (1 + len(storages))
            queues = {
                variant: [
                    c.id
                    for c in (targets[:per] if kind == "uow" else targets[per * (1 + n) :][:per])
                ]
                for n, variant in enumerate(storages)
            }

            async def one_turn(variant: str, session_id: uuid.UUID, kind: str = kind) -> None:
                if kind == "uow":
                    await chat_turn(storages[variant], session_id, next(counter))
                else:
                    await service_turn(services[variant], session_id, next(counter))

            if state == "in use":
                for variant, queue in queues.items():
                    for session_id in queue:
                        await one_turn(variant, session_id)

            def turn(variant: str, queue: list[uuid.UUID]) -> Any:
                async def run() -> None:
                    await one_turn(variant, queue.pop())

                return run

            variants = {variant: turn(variant, queues[variant]) for variant in storages}
            turns = await time_interleaved(variants, runs=runs, warmup=warmup)
            parts, none = turns["parts"], turns["none"]
            ratio = parts.wall.median / none.wall.median
            before = turns.get("0009")
            floor = turns.get("floor")
            rows.append(
                [
                    name,
                    TURN_KINDS[kind],
                    CHAT_STATES[state],
                    size,
                    parts.wall.median,
                    parts.wall.p95,
                    none.wall.median,
                    none.wall.p95,
                    f"{ratio:.2f}x",
                    f"{parts.cpu.median / none.cpu.median:.2f}x",
                    "-" if before is None else before.wall.median,
                    "-" if before is None else f"{before.wall.median / none.wall.median:.2f}x",
                    "-" if floor is None else floor.wall.median,
                    "-" if floor is None else f"{floor.wall.median / none.wall.median:.2f}x",
                    "-" if floor is None else f"{floor.cpu.median / none.cpu.median:.2f}x",
                    "-" if floor is None else f"{parts.wall.median / floor.wall.median:.2f}x",
                    verdict(ratio, TURN_GOAL),
                ]
            )
    finally:
        for storage in storages.values():
            await storage.dispose()
    return rows


async def run_sqlite(
    count: int, chats: dict[int, list[Session]], runs: int, warmup: int, before: bool
) -> tuple[list[list[object]], list[list[object]]]:
    extra = [c for group in chats.values() for c in group]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "search.db"
        await create_schema(f"sqlite:///{path}")
        messages, seconds = load_sqlite(path, count, extra)
        note(f"sqlite: inserted {count:,} sessions, {messages:,} messages in {seconds:.0f} s")
        urls = {"parts": f"sqlite:///{path}"}
        plain = Path(directory) / "plain.db"
        shutil.copyfile(path, plain)
        urls["none"] = f"sqlite:///{plain}"
        if before:
            old = Path(directory) / "index_0009.db"
            shutil.copyfile(path, old)
            took = index_sqlite(old, search_schema_0009.install_statements("sqlite", _columns()))
            note(f"sqlite: 0009's session-level index built in {took:.0f} s")
            urls["0009"] = f"sqlite:///{old}"
        took = index_sqlite(path, search_schema.install_statements("sqlite", _columns()))
        note(f"sqlite: the index (parts) built in {took:.0f} s")
        floor = Path(directory) / "floor.db"
        shutil.copyfile(path, floor)
        index_sqlite(floor, sqlite_floor_statements())
        urls["floor"] = f"sqlite:///{floor}"
        search_rows = await measure_search("sqlite", urls["parts"], runs, warmup)
        turn_rows = await measure_turns("sqlite", urls, chats, runs, warmup)
    return search_rows, turn_rows


async def _is_indexed(url: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = await conn.fetchval("SELECT to_regclass('ai_sessions_search_parts') IS NOT NULL")
        return bool(found)
    finally:
        await conn.close()


async def _seed_postgres(url: str, count: int, extra: list[Session], before: bool) -> None:
    await create_schema(url)
    messages, seconds = await load_postgres(url, count, extra)
    note(f"postgresql: inserted {count:,} sessions, {messages:,} messages in {seconds:.0f} s")
    if before:
        source = url.rpartition("/")[2]
        await _admin(f'CREATE DATABASE "{source}_0009" TEMPLATE "{source}"')
        took = await index_postgres(
            _dsn(f"{source}_0009"), search_schema_0009.install_statements("postgresql", _columns())
        )
        note(f"postgresql: 0009's session-level index built in {took:.0f} s")
    took = await index_postgres(url, search_schema.install_statements("postgresql", _columns()))
    note(f"postgresql: the index (parts) built in {took:.0f} s")


async def _measure_postgres(
    url: str, chats: dict[int, list[Session]], runs: int, warmup: int, before: bool
) -> tuple[list[list[object]], list[list[object]]]:
    """On a seeded, indexed database: a copy without the index, then the measurements."""
    source = url.rpartition("/")[2]
    urls = {"parts": url, "none": _dsn(f"{source}_plain")}
    if before:
        urls["0009"] = _dsn(f"{source}_0009")
    try:
        started = time.perf_counter()
        await _admin(f'CREATE DATABASE "{source}_plain" TEMPLATE "{source}"')
        await index_postgres(urls["none"], search_schema.remove_statements("postgresql"))
        note(f"postgresql: copied without the index in {time.perf_counter() - started:.0f} s")
        search_rows = await measure_search("postgresql", url, runs, warmup)
        turn_rows = await measure_turns("postgresql", urls, chats, runs, warmup)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{source}_plain" WITH (FORCE)')
    return search_rows, turn_rows


async def run_postgres(
    count: int,
    chats: dict[int, list[Session]],
    runs: int,
    warmup: int,
    before: bool,
    keep: str | None = None,
) -> tuple[list[list[object]], list[list[object]]]:
    """Seed a database (or, with ``keep``, use the one of that name seeded by an earlier run
    with the same ``--sessions`` and ``--runs``, and keep it), then measure."""
    extra = [c for group in chats.values() for c in group]
    if keep is not None:
        url = _dsn(keep)
        try:
            await _admin(f'CREATE DATABASE "{keep}"')
            await _seed_postgres(url, count, extra, before)
        except asyncpg.DuplicateDatabaseError:
            if not await _is_indexed(url):
                raise SystemExit(f"{keep} exists but holds no index: drop it first") from None
            note(f"postgresql: reusing {keep} (each earlier run made its chats 2 messages longer)")
        return await _measure_postgres(url, chats, runs, warmup, before)
    async with postgres_database("rf_bench_search") as url:
        if url is None:
            return [], []
        try:
            await _seed_postgres(url, count, extra, before)
            return await _measure_postgres(url, chats, runs, warmup, before)
        finally:
            source = url.rpartition("/")[2]
            await _admin(f'DROP DATABASE IF EXISTS "{source}_0009" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2,000 sessions, 10 runs")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--no-before", action="store_true", help="leave out the copy with 0009's index"
    )
    parser.add_argument(
        "--keep-postgres",
        metavar="NAME",
        help="seed into this database and keep it; reuse it if it exists (same --sessions)",
    )
    args = parser.parse_args()
    count, runs, warmup = (2_000, 10, 2) if args.quick else (args.sessions, args.runs, 3)
    engines = args.engines.split(",")
    # runs + warmup chats per size and chat state for the unit of work, as many per variant
    # for the service (variants: the index, none, SQLite's floor, and 0009's index)
    chats = turn_chats(
        TURN_SIZES, (runs + warmup) * (5 if not args.no_before else 4) * len(CHAT_STATES)
    )
    print(f"Search benchmark: {count:,} sessions; {machine_summary()}")
    search_rows: list[list[object]] = []
    turn_rows: list[list[object]] = []
    before = not args.no_before
    if "sqlite" in engines:
        found, turned = await run_sqlite(count, chats, runs, warmup, before)
        search_rows += found
        turn_rows += turned
    if "postgresql" in engines:
        found, turned = await run_postgres(count, chats, runs, warmup, before, args.keep_postgres)
        search_rows += found
        turn_rows += turned
    print(f'\nSearch "{QUERY}" (account, chat, resolved), {PAGE} per page, ms')
    print_table(
        [
            "engine",
            "page",
            "lib p50",
            "lib p95",
            "raw p50",
            "raw p95",
            "p50 ratio",
            "p95 ratio",
            "lib cpu p50",
            "raw cpu p50",
            f"<= {SEARCH_GOAL}x",
        ],
        search_rows,
    )
    print(
        "\nChat turn: the unit of work (load, append two messages, commit) and the service "
        "(send_message: two commits), ms"
    )
    print_table(
        [
            "engine",
            "turn",
            "chat",
            "messages",
            "index p50",
            "index p95",
            "none p50",
            "none p95",
            "ratio",
            "cpu ratio",
            "0009 p50",
            "0009 ratio",
            "floor p50",
            "floor ratio",
            "floor cpu",
            "index/floor",
            f"<= {TURN_GOAL}x",
        ],
        turn_rows,
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
