"""The search index's schema: kept by the database itself, in the transaction of every write.

The storage's write path knows nothing of it: triggers on ``ai_sessions`` and
``ai_session_steps`` keep the index in step, so a chat turn, a step, a resolution or a
ticket link is searchable the moment it commits, and a rolled-back write leaves the index as
it was.

A session is indexed in **parts**, each its own row: the *head* (part 0: title and problem
summary, outcome, the intake's text and the linked ticket's summary), one part per chat
message (part ``1 + index``) and one per guided step (part ``STEP_PART_BASE + number``). A
chat turn therefore inserts two small rows, whatever the length of the history: nothing
already indexed is read or tokenised again. The search engine aggregates a session's rank
over its parts (see `resolutionflow_sqlalchemy.search`).

- **SQLite**: ``ai_sessions_search`` gives each session an integer ``doc_id`` (an
  ``INTEGER PRIMARY KEY``, which ``VACUUM`` keeps); ``ai_sessions_search_parts`` holds the
  parts' text (title, outcome, body), keyed by ``part_id = doc_id << PART_BITS | part``, so a
  part's session is its key shifted, with no join; ``ai_sessions_fts`` is an FTS5
  *external-content* table over the parts (Porter stemming, ``bm25``, ``snippet``), kept by
  the usual FTS5 triggers.
- **PostgreSQL**: ``ai_sessions_search_parts`` holds the same text keyed by
  ``(session_id, part)``, and a ``document`` tsvector *generated* from it (weights A/B/D) with
  a GIN index; plpgsql triggers keep the text.

`install` creates it all and fills it from the sessions (migration 0012 and
``metadata.create_all`` call it, ``db reindex`` too), `remove` drops it. (Migration 0009's
session-level index, which 0012 replaces, is frozen in `search_schema_0009`.) Both take the
set of ``ai_sessions`` columns, so a column added later (such as ``abandon_reason``) is
indexed once `install` runs again after it exists.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import sqlalchemy as sa

from resolutionflow_core.search import MARKER_NOISE, MAX_BODY_CHARS

SESSIONS_TABLE = "ai_sessions_search"
"""SQLite only: a session's integer key in the index (``doc_id``)."""
PARTS_TABLE = "ai_sessions_search_parts"
FTS_TABLE = "ai_sessions_fts"
SEARCH_TABLE = SESSIONS_TABLE
"""The prefix every object of the index is named with."""
LANGUAGE = "english"
LAST_APPEND = "last_append"
"""The ``ai_sessions`` column the storage's appends write (``[version, [message, …]]``, as
text) and the ``declared`` triggers index (`sqlite_messages_triggers`,
`postgres_messages_triggers`)."""
MessagesDesign = Literal["parsed", "bytes", "declared"]
"""The triggers for the messages: SQLite's of migrations 0012, 0013 and 0014 on; on
PostgreSQL ``declared`` is 0016's (`postgres_messages_triggers`), the others what came before."""

SQLITE_OPTIMIZE = f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('optimize')"
"""Merge the FTS5 index into one segment. A ``rebuild`` leaves many, and FTS5's automerge
then merges them a little on every later write: a chat turn after a fill paid ~0.05 ms more
for its two rows (41,000 parts) until the backlog was merged. One segment also answers a
query with one b-tree instead of several."""

PART_BITS = 20
"""SQLite: ``part_id = doc_id << PART_BITS | part``."""
PART_MASK = (1 << PART_BITS) - 1
HEAD_PART = 0
STEP_PART_BASE = 1 << (PART_BITS - 1)
"""Step ``n`` is part ``STEP_PART_BASE + n``; messages are parts 1 to ``STEP_PART_BASE - 1``
(a chat's messages beyond the 524,286th are not indexed)."""

OUTCOME_COLUMNS = ("resolution_summary", "root_cause", "escalation_reason", "abandon_reason")
"""What the outcome field is made of, where the column exists."""
HEAD_COLUMNS = (
    "title",
    "problem_summary",
    "intake_content",
    "psa_ticket_snapshot",
    *OUTCOME_COLUMNS,
)
"""An update of ``ai_sessions`` that changes none of these leaves the head part alone."""
WATCHED_COLUMNS = (*HEAD_COLUMNS, "conversation_messages")
ABANDON = "abandon_reason"


def search_table_names(dialect: str) -> frozenset[str]:
    """Tables the index adds (FTS5's shadow tables included), outside ``tables.metadata``."""
    if dialect == "sqlite":
        shadows = ("data", "idx", "docsize", "config")
        return frozenset(
            {SESSIONS_TABLE, PARTS_TABLE, FTS_TABLE, *(f"{FTS_TABLE}_{s}" for s in shadows)}
        )
    return frozenset({PARTS_TABLE})


def is_search_object(name: str | None) -> bool:
    """For Alembic's ``include_object``: the index is not part of ``tables.metadata``."""
    return name is not None and name.startswith((SEARCH_TABLE, FTS_TABLE))


def include_object(
    _object: object, name: str | None, _type: str, _reflected: bool, _compare_to: object
) -> bool:
    """Alembic's ``include_object`` hook: autogenerate leaves the index alone."""
    return not is_search_object(name)


def install(conn: sa.Connection, columns: Collection[str]) -> None:
    """Create (or re-create) the index's tables, triggers and functions, and fill it anew."""
    for statement in install_statements(conn.dialect.name, columns):
        conn.exec_driver_sql(statement)


def remove(conn: sa.Connection) -> None:
    """Drop everything `install` made."""
    for statement in remove_statements(conn.dialect.name):
        conn.exec_driver_sql(statement)


def install_statements(
    dialect: str, columns: Collection[str], *, messages: MessagesDesign = "declared"
) -> list[str]:
    """`install` as SQL statements (also for ``alembic upgrade --sql``); ``messages`` picks
    the SQLite triggers for the messages of an older revision (`sqlite_messages_triggers`).

    The triggers are dropped first and created last, so the index is filled in bulk (one
    FTS5 ``rebuild``, one GIN build), in the caller's transaction: on SQLite it holds the
    write lock, on PostgreSQL ``DROP TRIGGER`` locks the tables, so no write slips past.
    """
    if dialect == "sqlite":
        return [
            *_drop_triggers(dialect),
            *_sqlite_tables(),
            *_sqlite_fill(columns),
            *_sqlite_triggers(columns, messages=messages),
        ]
    return [
        *_drop_triggers(dialect),
        *_postgres_tables(),
        *_postgres_fill(columns),
        *_postgres_triggers(columns, messages=messages),
    ]


def remove_statements(dialect: str) -> list[str]:
    statements = _drop_triggers(dialect)
    if dialect == "sqlite":
        return [
            *statements,
            f"DROP TABLE IF EXISTS {FTS_TABLE}",
            f"DROP TABLE IF EXISTS {PARTS_TABLE}",
            f"DROP TABLE IF EXISTS {SESSIONS_TABLE}",
        ]
    return [
        *statements,
        f"DROP TABLE IF EXISTS {PARTS_TABLE}",
        *(f"DROP FUNCTION IF EXISTS {f}" for f in _PG_FUNCTIONS),
    ]


_SQLITE_TRIGGERS = (
    ("ai_sessions", "search_index_insert"),
    ("ai_sessions", "search_head_update"),
    ("ai_sessions", "search_messages_update"),
    ("ai_sessions", "search_messages_append"),
    ("ai_sessions", "search_index_delete"),
    ("ai_session_steps", "search_index_insert"),
    ("ai_session_steps", "search_index_update"),
    ("ai_session_steps", "search_index_delete"),
    (PARTS_TABLE, "fts_insert"),
    (PARTS_TABLE, "fts_update"),
    (PARTS_TABLE, "fts_delete"),
)
_PG_TRIGGERS = (
    ("ai_sessions", "ai_sessions_search_insert"),
    ("ai_sessions", "ai_sessions_search_head"),
    ("ai_sessions", "ai_sessions_search_messages"),
    ("ai_sessions", "ai_sessions_search_messages_append"),
    ("ai_session_steps", "ai_session_steps_search"),
)
_PG_FUNCTIONS = (
    "rf_search_session_inserted()",
    "rf_search_head_changed()",
    "rf_search_messages_changed()",
    "rf_search_messages_appended()",
    "rf_search_step_changed()",
    "rf_search_head(uuid)",
    "rf_search_messages(uuid, integer)",
)


def _drop_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_{name}" for table, name in _SQLITE_TRIGGERS]
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, name in _PG_TRIGGERS]


# -- the indexed text, as SQL over a session row ``s`` ---------------------------------------


def _sqlite_head(columns: Collection[str], row: str = "s") -> tuple[str, str, str]:
    title = f"trim(coalesce({row}.title, '') || ' ' || coalesce({row}.problem_summary, ''))"
    outcome = " || char(10) || ".join(
        f"coalesce({row}.{c}, '')" for c in OUTCOME_COLUMNS if c in columns
    )
    body = (
        f"coalesce((SELECT group_concat(j.value, char(10)) FROM json_tree({row}.intake_content) "
        "AS j WHERE j.type = 'text'), '') || char(10) || "
        f"coalesce(json_extract({row}.psa_ticket_snapshot, '$.summary'), '')"
    )
    return title, outcome, f"substr({body}, 1, {MAX_BODY_CHARS})"


def _sqlite_message(value: str) -> str:
    """A message's indexed text, from its JSON ``value``."""
    text = f"coalesce(json_extract({value}, '$.content'), '')"
    for noise in MARKER_NOISE:
        text = f"replace({text}, {_literal(noise)}, ' ')"
    return f"substr({text}, 1, {MAX_BODY_CHARS})"


def _postgres_head(columns: Collection[str]) -> tuple[str, str, str]:
    title = "btrim(coalesce(s.title, '') || ' ' || coalesce(s.problem_summary, ''))"
    outcome = (
        "concat_ws(E'\\n', "
        + ", ".join(f"coalesce(s.{c}, '')" for c in OUTCOME_COLUMNS if c in columns)
        + ")"
    )
    body = (
        "left(concat_ws(E'\\n', "
        "coalesce((SELECT string_agg(v #>> '{}', E'\\n') FROM jsonb_path_query("
        "s.intake_content, 'strict $.** ? (@.type() == \"string\")') AS v), ''), "
        f"coalesce(s.psa_ticket_snapshot ->> 'summary', '')), {MAX_BODY_CHARS})"
    )
    return title, outcome, body


def _postgres_message(value: str) -> str:
    tags = "|".join(n.strip('[]/"') for n in MARKER_NOISE if n.startswith("[") and "/" not in n)
    keys = "|".join(n.strip('":') for n in MARKER_NOISE if n.startswith('"'))
    noise = _literal(f'\\[/?({tags})\\]|"({keys})":')
    return (
        f"left(regexp_replace(coalesce({value} ->> 'content', ''), {noise}, ' ', 'g'), "
        f"{MAX_BODY_CHARS})"
    )


def _step_text(dialect: str, row: str) -> str:
    if dialect == "sqlite":
        return (
            f"substr(coalesce({row}.content, '') || char(10) || coalesce({row}.response, ''), "
            f"1, {MAX_BODY_CHARS})"
        )
    return f"left(concat_ws(E'\\n', {row}.content, {row}.response), {MAX_BODY_CHARS})"


def expected_parts_sql(dialect: str, columns: Collection[str]) -> str:
    """Every part a rebuild would make: ``(session_id, part, title, outcome, body)`` rows."""
    if dialect == "sqlite":
        title, outcome, body = _sqlite_head(columns)
        message = _sqlite_message("m.value")
        messages = (
            f"SELECT s.id, 1 + m.key, '', '', {message} FROM ai_sessions AS s, "
            f"json_each(s.conversation_messages) AS m WHERE m.key < {STEP_PART_BASE - 1}"
        )
    else:
        title, outcome, body = _postgres_head(columns)
        message = _postgres_message("e.m")
        messages = (
            f"SELECT s.id, e.o::integer, '', '', {message} FROM ai_sessions AS s, "
            "jsonb_array_elements(s.conversation_messages) WITH ORDINALITY AS e(m, o) "
            f"WHERE e.o < {STEP_PART_BASE}"
        )
    return (
        f"SELECT s.id AS session_id, {HEAD_PART} AS part, {title} AS title, "
        f"{outcome} AS outcome, {body} AS body FROM ai_sessions AS s "
        f"UNION ALL {messages} "
        f"UNION ALL SELECT st.session_id, {STEP_PART_BASE} + st.number, '', '', "
        f"{_step_text(dialect, 'st')} FROM ai_session_steps AS st"
    )


def stored_parts_sql(dialect: str) -> str:
    """The parts in the index, in the shape of `expected_parts_sql`."""
    if dialect == "sqlite":
        return (
            f"SELECT x.session_id, p.part_id & {PART_MASK}, p.title, p.outcome, p.body "
            f"FROM {PARTS_TABLE} AS p JOIN {SESSIONS_TABLE} AS x "
            f"ON x.doc_id = p.part_id >> {PART_BITS}"
        )
    return f"SELECT session_id, part, title, outcome, body FROM {PARTS_TABLE}"


# -- SQLite ----------------------------------------------------------------------------------

_SQLITE_KEY = f"(x.doc_id << {PART_BITS})"


def _sqlite_tables() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {SESSIONS_TABLE} (doc_id INTEGER PRIMARY KEY, "
        "session_id CHAR(32) NOT NULL UNIQUE)",
        f"CREATE TABLE IF NOT EXISTS {PARTS_TABLE} (part_id INTEGER PRIMARY KEY, "
        "title TEXT NOT NULL, outcome TEXT NOT NULL, body TEXT NOT NULL)",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, outcome, body, "
        f"content='{PARTS_TABLE}', content_rowid='part_id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
    ]


_FIELDS = ("title", "outcome", "body")


def _sqlite_upsert(select: str) -> str:
    return (
        f"INSERT INTO {PARTS_TABLE} (part_id, title, outcome, body) {select} "
        "ON CONFLICT (part_id) DO UPDATE SET title = excluded.title, "
        "outcome = excluded.outcome, body = excluded.body WHERE "
        + " OR ".join(
            f"{PARTS_TABLE}.{f} IS NOT excluded.{f}" for f in ("title", "outcome", "body")
        )
    )


def _sqlite_head_upsert(columns: Collection[str], where: str) -> str:
    title, outcome, body = _sqlite_head(columns)
    return _sqlite_upsert(
        f"SELECT {_SQLITE_KEY} | {HEAD_PART}, {title}, {outcome}, {body} FROM ai_sessions AS s "
        f"JOIN {SESSIONS_TABLE} AS x ON x.session_id = s.id WHERE {where}"
    )


def _sqlite_messages_upsert(where: str, start: str) -> str:
    return _sqlite_upsert(
        f"SELECT {_SQLITE_KEY} | (1 + m.key), '', '', {_sqlite_message('m.value')} "
        f"FROM ai_sessions AS s JOIN {SESSIONS_TABLE} AS x ON x.session_id = s.id, "
        f"json_each(s.conversation_messages) AS m WHERE {where} AND m.key >= {start} "
        f"AND m.key < {STEP_PART_BASE - 1}"
    )


def _sqlite_step_upsert(where: str) -> str:
    return _sqlite_upsert(
        f"SELECT {_SQLITE_KEY} | ({STEP_PART_BASE} + st.number), '', '', "
        f"{_step_text('sqlite', 'st')} FROM ai_session_steps AS st "
        f"JOIN {SESSIONS_TABLE} AS x ON x.session_id = st.session_id WHERE {where}"
    )


def _sqlite_fill(columns: Collection[str]) -> list[str]:
    return [
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('delete-all')",
        f"DELETE FROM {PARTS_TABLE}",
        f"DELETE FROM {SESSIONS_TABLE} WHERE NOT EXISTS "
        f"(SELECT 1 FROM ai_sessions AS s WHERE s.id = {SESSIONS_TABLE}.session_id)",
        f"INSERT INTO {SESSIONS_TABLE} (session_id) SELECT s.id FROM ai_sessions AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {SESSIONS_TABLE} AS x WHERE x.session_id = s.id) "
        "ORDER BY s.id",
        _sqlite_head_upsert(columns, "true"),
        _sqlite_messages_upsert("true", "0"),
        _sqlite_step_upsert("true"),
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')",
        SQLITE_OPTIMIZE,
    ]


_SAME_STEP = "st.session_id = new.session_id AND st.number = new.number"


def _sqlite_triggers(columns: Collection[str], *, messages: MessagesDesign) -> list[str]:
    fields = "title, outcome, body"
    fts_insert = (
        f"INSERT INTO {FTS_TABLE} (rowid, {fields}) "
        "VALUES (new.part_id, new.title, new.outcome, new.body);"
    )
    fts_delete = (
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {fields}) "
        "VALUES ('delete', old.part_id, old.title, old.outcome, old.body);"
    )
    session_parts = (
        f"part_id BETWEEN (SELECT doc_id << {PART_BITS} FROM {SESSIONS_TABLE} "
        "WHERE session_id = {row}.id) AND "
        f"(SELECT doc_id << {PART_BITS} | {PART_MASK} FROM {SESSIONS_TABLE} "
        "WHERE session_id = {row}.id)"
    )

    def step_part(row: str) -> str:
        return (
            f"part_id = (SELECT doc_id << {PART_BITS} | ({STEP_PART_BASE} + {row}.number) "
            f"FROM {SESSIONS_TABLE} WHERE session_id = {row}.session_id)"
        )

    return [
        f"CREATE TRIGGER {PARTS_TABLE}_fts_insert AFTER INSERT ON {PARTS_TABLE} "
        f"BEGIN {fts_insert} END",
        f"CREATE TRIGGER {PARTS_TABLE}_fts_delete AFTER DELETE ON {PARTS_TABLE} "
        f"BEGIN {fts_delete} END",
        f"CREATE TRIGGER {PARTS_TABLE}_fts_update AFTER UPDATE ON {PARTS_TABLE} "
        f"BEGIN {fts_delete} {fts_insert} END",
        "CREATE TRIGGER ai_sessions_search_index_insert AFTER INSERT ON ai_sessions BEGIN "
        f"INSERT INTO {SESSIONS_TABLE} (session_id) VALUES (new.id) "
        "ON CONFLICT (session_id) DO NOTHING; "
        f"{_sqlite_head_upsert(columns, 's.id = new.id')}; "
        f"{_sqlite_messages_upsert('s.id = new.id', '0')}; END",
        *sqlite_update_triggers(messages, columns),
        "CREATE TRIGGER ai_sessions_search_index_delete AFTER DELETE ON ai_sessions BEGIN "
        f"DELETE FROM {PARTS_TABLE} WHERE {session_parts.format(row='old')}; "
        f"DELETE FROM {SESSIONS_TABLE} WHERE session_id = old.id; END",
        "CREATE TRIGGER ai_session_steps_search_index_insert AFTER INSERT ON ai_session_steps "
        f"BEGIN {_sqlite_step_upsert(_SAME_STEP)}; END",
        "CREATE TRIGGER ai_session_steps_search_index_update AFTER UPDATE ON ai_session_steps "
        f"BEGIN DELETE FROM {PARTS_TABLE} WHERE {step_part('old')} AND "
        "(old.session_id IS NOT new.session_id OR old.number IS NOT new.number); "
        f"{_sqlite_step_upsert(_SAME_STEP)}; END",
        "CREATE TRIGGER ai_session_steps_search_index_delete AFTER DELETE ON ai_session_steps "
        f"BEGIN DELETE FROM {PARTS_TABLE} WHERE {step_part('old')}; END",
    ]


_OLD_MESSAGES = "CAST(old.conversation_messages AS BLOB)"
_NEW_MESSAGES = "CAST(new.conversation_messages AS BLOB)"
_OLD_BYTES = f"length({_OLD_MESSAGES})"
APPENDED = (
    f"coalesce({_OLD_BYTES} > 2 AND substr({_OLD_MESSAGES}, {_OLD_BYTES}, 1) = X'5D' "
    f"AND substr({_OLD_MESSAGES}, {_OLD_BYTES} - 1, 1) NOT IN (X'5B', X'20', X'09', X'0A', X'0D') "
    f"AND substr({_NEW_MESSAGES}, {_OLD_BYTES}, 1) = X'2C' "
    f"AND substr({_NEW_MESSAGES}, 1, {_OLD_BYTES} - 1) = "
    f"substr({_OLD_MESSAGES}, 1, {_OLD_BYTES} - 1), 0)"
)
"""SQLite: the new history's text is the old one's with elements appended (``[a,b]`` →
``[a,b,c]``), told by comparing bytes, without parsing either. The storage appends with
``json_insert``, whose output keeps the old elements' text as it is once the history is
minified JSON (after its first append), so a chat turn takes this path.

Why the comparison suffices: ``old`` is a JSON array (it ends with ``]``) that is not empty
and whose last element ends right before that ``]`` (not ``[`` or white space), so
``old[:-1]`` ends after a whole element; ``new`` begins with ``old[:-1]`` and then
``,``, so ``new``'s elements are ``old``'s followed by those of ``'[' || new[len(old):]``."""
_ADDED = f"'[' || CAST(substr({_NEW_MESSAGES}, {_OLD_BYTES} + 1) AS TEXT)"
"""The appended elements, as a JSON array (when `APPENDED`)."""


def sqlite_update_triggers(
    design: MessagesDesign, columns: Collection[str] = WATCHED_COLUMNS
) -> list[str]:
    """The triggers that index a session's head and messages when its row is updated.

    SQLite copies every column of the old row out for an ``UPDATE``'s triggers as soon as
    one of them names an old column past the 32nd (``old.abandon_reason``, say), the history
    too: 200 KB at 1,000 messages. With ``declared`` no trigger names such a column or the
    old history: the head part is made from the new row and written when it differs (the
    upsert's own comparison), and the messages as `sqlite_messages_triggers` says.
    """
    if design == "declared":
        title, outcome, body = _sqlite_head(columns, row="new")
        head = _sqlite_upsert(
            f"SELECT {_SQLITE_KEY} | {HEAD_PART}, {title}, {outcome}, {body} "
            f"FROM {SESSIONS_TABLE} AS x WHERE x.session_id = new.id"
        )
        # abandon_reason is the 34th column of a migrated table: not compared with its old
        # value. It is set only with the status (abandoning), and a set one makes the head
        # be made again on every update (the upsert writes only what differs).
        changed = " OR ".join(
            [
                *(f"old.{c} IS NOT new.{c}" for c in HEAD_COLUMNS if c in columns and c != ABANDON),
                "old.status IS NOT new.status",
                f"new.{ABANDON} IS NOT NULL",
            ]
        )
        return [
            "CREATE TRIGGER ai_sessions_search_head_update AFTER UPDATE ON ai_sessions "
            f"WHEN {changed} BEGIN {head}; END",
            *sqlite_messages_triggers(design),
        ]
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in HEAD_COLUMNS if c in columns)
    return [
        "CREATE TRIGGER ai_sessions_search_head_update AFTER UPDATE ON ai_sessions "
        f"WHEN {changed} BEGIN {_sqlite_head_upsert(columns, 's.id = new.id')}; END",
        *sqlite_messages_triggers(design),
    ]


def sqlite_messages_triggers(design: MessagesDesign) -> list[str]:
    """The triggers that index a session's messages when its history changes.

    - ``declared`` (migration 0014 on): the storage's append writes the messages it adds,
      with the new version, to ``last_append`` as well (`tables.LAST_APPEND`); a change of
      that column indexes them from there, so a turn reads neither history and its cost does
      not grow with the chat. Any other update that sets the history (``UPDATE OF``) parses
      it, as ``parsed`` does.
    - ``bytes`` (migration 0013): an appended history (`APPENDED`) is indexed from the
      appended text, told by comparing the old and new texts' bytes.
    - ``parsed`` (migration 0012): the old and new histories are parsed: the messages after
      the old ones are indexed when the old last one is unchanged, otherwise every message
      is checked again.
    """
    # Scalar subqueries of the trigger's rows only: evaluated once per statement, not once
    # per message (each evaluation parses the whole history's JSON).
    old_count = "coalesce(json_array_length(old.conversation_messages), 0)"
    start = (
        f"(SELECT CASE WHEN {old_count} > 0 AND {old_count} <= "
        "coalesce(json_array_length(new.conversation_messages), 0) AND "
        "json_extract(old.conversation_messages, '$[#-1]') IS "
        f"json_extract(new.conversation_messages, '$[' || ({old_count} - 1) || ']') "
        f"THEN {old_count} ELSE 0 END)"
    )
    doc = f"(SELECT doc_id << {PART_BITS} FROM {SESSIONS_TABLE} WHERE session_id = new.id)"
    last_message = f"{doc} | {STEP_PART_BASE - 1}"
    messages_after = (
        f"DELETE FROM {PARTS_TABLE} WHERE part_id BETWEEN "
        f"{doc} | (1 + coalesce(json_array_length(new.conversation_messages), 0)) "
        f"AND {last_message};"
    )
    parse = f"{_sqlite_messages_upsert('s.id = new.id', start)}; {messages_after}"
    changed = "old.conversation_messages IS NOT new.conversation_messages"
    if design == "parsed":
        return [
            "CREATE TRIGGER ai_sessions_search_messages_update AFTER UPDATE ON ai_sessions "
            f"WHEN {changed} BEGIN {parse} END"
        ]
    # How many messages the old history has, read from the index (its last message part):
    # the triggers keep the index equal to a rebuild, so that is json_array_length(old)
    # (capped as the index is), without parsing the old history. Not flattened (LIMIT), so
    # looked up once, not once per appended message.
    indexed = (
        f"(SELECT coalesce(max(p.part_id) & {PART_MASK}, 0) AS n FROM {PARTS_TABLE} AS p, "
        f"{SESSIONS_TABLE} AS d WHERE d.session_id = new.id AND p.part_id BETWEEN "
        f"(d.doc_id << {PART_BITS} | 1) AND (d.doc_id << {PART_BITS} | {STEP_PART_BASE - 1}) "
        "LIMIT 1) AS c"
    )

    def added(source: str) -> str:
        return _sqlite_upsert(
            f"SELECT x.k | (1 + c.n + m.key), '', '', {_sqlite_message('m.value')} "
            f"FROM (SELECT doc_id << {PART_BITS} AS k FROM {SESSIONS_TABLE} "
            f"WHERE session_id = new.id) AS x, {indexed}, {source} AS m "
            f"WHERE c.n + m.key < {STEP_PART_BASE - 1}"
        )

    if design == "bytes":
        return [
            "CREATE TRIGGER ai_sessions_search_messages_append AFTER UPDATE ON ai_sessions "
            f"WHEN {APPENDED} BEGIN {added(f'json_each({_ADDED})')}; END",
            "CREATE TRIGGER ai_sessions_search_messages_update AFTER UPDATE ON ai_sessions "
            f"WHEN {changed} AND NOT {APPENDED} BEGIN {parse} END",
        ]
    # No old column is named (see `sqlite_update_triggers`): an update declares its append by
    # setting last_append (UPDATE OF) to the new version and the messages it adds; any
    # other update that sets the history is indexed again from the new history. (A writer
    # that changes the history must bump the version, as the storage's compare-and-set
    # needs anyway; `resolutionflow db reindex` repairs after one that did not.)
    declared = f"json_extract(new.{LAST_APPEND}, '$[0]') IS new.version"
    appended = added(f"json_each(new.{LAST_APPEND}, '$[1]')")
    every = f"{_sqlite_messages_upsert('s.id = new.id', '0')}; {messages_after}"
    return [
        f"CREATE TRIGGER ai_sessions_search_messages_append AFTER UPDATE OF {LAST_APPEND} "
        f"ON ai_sessions WHEN {declared} BEGIN {appended}; END",
        "CREATE TRIGGER ai_sessions_search_messages_update AFTER UPDATE OF "
        f"conversation_messages ON ai_sessions WHEN NOT ({declared}) BEGIN {every} END",
    ]


def update_trigger_statements(dialect: str, design: MessagesDesign) -> list[str]:
    """Replace the SQLite triggers of an update of a session (migrations 0013, 0014 and their
    downgrades); nothing on PostgreSQL, whose messages triggers 0016 replaces
    (`postgres_messages_triggers`)."""
    if dialect != "sqlite":
        return []
    return [
        "DROP TRIGGER IF EXISTS ai_sessions_search_head_update",
        "DROP TRIGGER IF EXISTS ai_sessions_search_messages_update",
        "DROP TRIGGER IF EXISTS ai_sessions_search_messages_append",
        *sqlite_update_triggers(design),
    ]


# -- PostgreSQL ------------------------------------------------------------------------------


def _postgres_tables() -> list[str]:
    document = (
        f"setweight(to_tsvector('{LANGUAGE}', title), 'A') || "
        f"setweight(to_tsvector('{LANGUAGE}', outcome), 'B') || "
        f"setweight(to_tsvector('{LANGUAGE}', body), 'D')"
    )
    return [
        f"CREATE TABLE IF NOT EXISTS {PARTS_TABLE} (session_id UUID NOT NULL, "
        "part INTEGER NOT NULL, title TEXT NOT NULL, outcome TEXT NOT NULL, "
        "body TEXT NOT NULL, "
        f"document TSVECTOR GENERATED ALWAYS AS ({document}) STORED, "
        f"CONSTRAINT pk_{PARTS_TABLE} PRIMARY KEY (session_id, part), "
        f"CONSTRAINT fk_{PARTS_TABLE}_session_id_ai_sessions FOREIGN KEY (session_id) "
        "REFERENCES ai_sessions (id) ON DELETE CASCADE)",
    ]


def _postgres_upsert(select: str) -> str:
    return (
        f"INSERT INTO {PARTS_TABLE} (session_id, part, title, outcome, body) {select} "
        "ON CONFLICT (session_id, part) DO UPDATE SET title = excluded.title, "
        "outcome = excluded.outcome, body = excluded.body WHERE "
        + " OR ".join(f"{PARTS_TABLE}.{f} IS DISTINCT FROM excluded.{f}" for f in _FIELDS)
    )


def _postgres_head_upsert(columns: Collection[str], where: str) -> str:
    title, outcome, body = _postgres_head(columns)
    return _postgres_upsert(
        f"SELECT s.id, {HEAD_PART}, {title}, {outcome}, {body} FROM ai_sessions AS s WHERE {where}"
    )


def _postgres_messages_upsert(where: str, start: str) -> str:
    return _postgres_upsert(
        f"SELECT s.id, e.o::integer, '', '', {_postgres_message('e.m')} FROM ai_sessions AS s, "
        "jsonb_array_elements(s.conversation_messages) WITH ORDINALITY AS e(m, o) "
        f"WHERE {where} AND e.o > {start} AND e.o < {STEP_PART_BASE}"
    )


def _postgres_step_upsert(where: str) -> str:
    return _postgres_upsert(
        f"SELECT st.session_id, {STEP_PART_BASE} + st.number, '', '', "
        f"{_step_text('postgresql', 'st')} FROM ai_session_steps AS st WHERE {where}"
    )


def _postgres_fill(columns: Collection[str]) -> list[str]:
    # The GIN index is built once, after the bulk insert, not row by row.
    return [
        f"DROP INDEX IF EXISTS ix_{PARTS_TABLE}_document",
        f"TRUNCATE {PARTS_TABLE}",
        _postgres_head_upsert(columns, "true"),
        _postgres_messages_upsert("true", "0"),
        _postgres_step_upsert("true"),
        f"CREATE INDEX ix_{PARTS_TABLE}_document ON {PARTS_TABLE} USING gin (document)",
    ]


def postgres_messages_triggers(design: MessagesDesign) -> list[str]:
    """PostgreSQL's triggers for a session's messages, dropped and made again.

    - ``declared`` (migration 0016 on): as on SQLite, the storage's append writes the
      messages it adds, with the new version, to ``last_append``, and
      ``ai_sessions_search_messages_append`` indexes them from that small value, numbered after
      the index's last message part, reading neither history. Any other update that sets the
      history is indexed again from the new one (`rf_search_messages_changed`, which looks at
      the old history's last message only, to tell an append from a rewrite). Before 0016
      every update that set the history detoasted and compared both whole (the trigger's
      ``WHEN``), then expanded the new one (~1 ms a write at 1,000 messages, 200 KB).
    - ``parsed``, ``bytes`` (0012–0015): the ``WHEN`` compares the old and new histories, and
      the function indexes the messages after the old ones.
    """
    statements = [
        "DROP TRIGGER IF EXISTS ai_sessions_search_messages ON ai_sessions",
        "DROP TRIGGER IF EXISTS ai_sessions_search_messages_append ON ai_sessions",
        "DROP FUNCTION IF EXISTS rf_search_messages_appended()",
    ]
    if design != "declared":
        return [
            *statements,
            "CREATE TRIGGER ai_sessions_search_messages AFTER UPDATE ON ai_sessions FOR EACH ROW "
            "WHEN (OLD.conversation_messages IS DISTINCT FROM NEW.conversation_messages) "
            "EXECUTE FUNCTION rf_search_messages_changed()",
        ]
    declared = f"(NEW.{LAST_APPEND}::jsonb ->> 0)::bigint IS NOT DISTINCT FROM NEW.version"
    last_message_part = (
        f"(SELECT coalesce(max(p.part), 0) FROM {PARTS_TABLE} AS p "
        f"WHERE p.session_id = NEW.id AND p.part < {STEP_PART_BASE})"
    )
    appended = _postgres_upsert(
        f"SELECT NEW.id, start + e.o::integer, '', '', {_postgres_message('e.m')} "
        f"FROM jsonb_array_elements(NEW.{LAST_APPEND}::jsonb -> 1) WITH ORDINALITY AS e(m, o) "
        f"WHERE start + e.o < {STEP_PART_BASE}"
    )
    return [
        *statements,
        "CREATE OR REPLACE FUNCTION rf_search_messages_appended() RETURNS trigger "
        f"LANGUAGE plpgsql AS $body$ DECLARE start integer := {last_message_part}; "
        f"BEGIN {appended}; RETURN NULL; END $body$",
        "CREATE TRIGGER ai_sessions_search_messages AFTER UPDATE OF conversation_messages "
        f"ON ai_sessions FOR EACH ROW WHEN (NOT ({declared})) "
        "EXECUTE FUNCTION rf_search_messages_changed()",
        f"CREATE TRIGGER ai_sessions_search_messages_append AFTER UPDATE OF {LAST_APPEND} "
        f"ON ai_sessions FOR EACH ROW WHEN ({declared}) "
        "EXECUTE FUNCTION rf_search_messages_appended()",
    ]


def _postgres_triggers(columns: Collection[str], *, messages: MessagesDesign) -> list[str]:
    # plpgsql, not sql: a statement's plan is cached per connection, where an SQL function
    # would be planned again on every trigger call.
    head_changed = " OR ".join(
        f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in HEAD_COLUMNS if c in columns
    )
    messages_after = (
        f"DELETE FROM {PARTS_TABLE} WHERE session_id = target AND part > "
        "(SELECT coalesce(jsonb_array_length(s.conversation_messages), 0) FROM ai_sessions AS s "
        f"WHERE s.id = target) AND part < {STEP_PART_BASE}"
    )
    return [
        "CREATE OR REPLACE FUNCTION rf_search_head(target uuid) RETURNS void "
        "LANGUAGE plpgsql AS $body$ BEGIN "
        f"{_postgres_head_upsert(columns, 's.id = target')}; END $body$",
        "CREATE OR REPLACE FUNCTION rf_search_messages(target uuid, start integer) "
        "RETURNS void LANGUAGE plpgsql AS $body$ BEGIN "
        f"{_postgres_messages_upsert('s.id = target', 'start')}; "
        f"IF start = 0 THEN {messages_after}; END IF; END $body$",
        "CREATE OR REPLACE FUNCTION rf_search_session_inserted() RETURNS trigger "
        "LANGUAGE plpgsql AS $body$ BEGIN PERFORM rf_search_head(NEW.id); "
        "PERFORM rf_search_messages(NEW.id, 0); RETURN NULL; END $body$",
        "CREATE OR REPLACE FUNCTION rf_search_head_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $body$ BEGIN PERFORM rf_search_head(NEW.id); RETURN NULL; "
        "END $body$",
        # The domain only appends messages: a turn indexes the messages after the old ones.
        # Any other change (fewer messages, or the last old one differs) re-checks them all.
        "CREATE OR REPLACE FUNCTION rf_search_messages_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $body$ DECLARE old_count integer := "
        "coalesce(jsonb_array_length(OLD.conversation_messages), 0); "
        "new_count integer := coalesce(jsonb_array_length(NEW.conversation_messages), 0); "
        "BEGIN IF old_count = 0 OR old_count > new_count OR "
        "(OLD.conversation_messages -> (old_count - 1)) IS DISTINCT FROM "
        "(NEW.conversation_messages -> (old_count - 1)) THEN old_count := 0; END IF; "
        "PERFORM rf_search_messages(NEW.id, old_count); RETURN NULL; END $body$",
        "CREATE OR REPLACE FUNCTION rf_search_step_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $body$ BEGIN "
        "IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR OLD.session_id IS DISTINCT FROM "
        "NEW.session_id OR OLD.number IS DISTINCT FROM NEW.number) THEN "
        f"DELETE FROM {PARTS_TABLE} WHERE session_id = OLD.session_id "
        f"AND part = {STEP_PART_BASE} + OLD.number; END IF; "
        "IF TG_OP <> 'DELETE' THEN "
        f"{_postgres_step_upsert('st.session_id = NEW.session_id AND st.number = NEW.number')};"
        " END IF; RETURN NULL; END $body$",
        "CREATE TRIGGER ai_sessions_search_insert AFTER INSERT ON ai_sessions "
        "FOR EACH ROW EXECUTE FUNCTION rf_search_session_inserted()",
        "CREATE TRIGGER ai_sessions_search_head AFTER UPDATE ON ai_sessions FOR EACH ROW "
        f"WHEN ({head_changed}) EXECUTE FUNCTION rf_search_head_changed()",
        "CREATE TRIGGER ai_session_steps_search AFTER INSERT OR UPDATE OR DELETE "
        "ON ai_session_steps FOR EACH ROW EXECUTE FUNCTION rf_search_step_changed()",
        *postgres_messages_triggers(messages),
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
