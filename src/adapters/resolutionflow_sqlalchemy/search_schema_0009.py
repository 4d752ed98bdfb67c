"""Migration 0009's search index (one row per session), frozen as 0009 made it.

Migration ``0009_search`` creates this index and ``0012_search_parts`` replaces it with the
index of `resolutionflow_sqlalchemy.search_schema` (a row per part: a chat turn no longer
re-indexes the whole session); 0012's downgrade brings this one back. Nothing else uses it:
do not change it, a later change of the index is a new revision.

What follows is the description of 0009's index.

The storage's write path knows nothing of it: triggers on ``ai_sessions`` and
``ai_session_steps`` rebuild a session's indexed text whenever something it is made of
changes, so a chat turn, a step, a resolution or a ticket link is searchable the moment it
commits, and a rolled-back write leaves the index as it was.

- **SQLite**: ``ai_sessions_search`` holds each session's text in three fields (title,
  outcome, body), keyed by an ``INTEGER PRIMARY KEY`` (which ``VACUUM`` keeps, unlike an
  implicit rowid), and ``ai_sessions_fts`` is an FTS5 *external-content* table over it
  (Porter stemming, ``bm25``, ``snippet``), synchronised by the usual FTS5 triggers.
- **PostgreSQL**: ``ai_sessions_search`` holds the same text and a ``document`` tsvector
  *generated* from it (weights A/B/D), with a GIN index; plpgsql triggers keep the text.

`install` creates it all (the migration and ``metadata.create_all`` both call it), `remove`
drops it. Both take the set of ``ai_sessions`` columns, so a column added later (such as
``abandon_reason``) is indexed once `install` runs again after it exists.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from resolutionflow_core.search import MARKER_NOISE, MAX_BODY_CHARS

SEARCH_TABLE = "ai_sessions_search"
FTS_TABLE = "ai_sessions_fts"
LANGUAGE = "english"

OUTCOME_COLUMNS = ("resolution_summary", "root_cause", "escalation_reason", "abandon_reason")
"""What the outcome field is made of, where the column exists."""
WATCHED_COLUMNS = (
    "title",
    "problem_summary",
    "intake_content",
    "conversation_messages",
    "psa_ticket_snapshot",
    *OUTCOME_COLUMNS,
)
"""An update of ``ai_sessions`` that changes none of these leaves the index alone."""


def install(conn: sa.Connection, columns: Collection[str]) -> None:
    """Create (or re-create) the index's tables, triggers and functions, then fill it."""
    for statement in install_statements(conn.dialect.name, columns):
        conn.exec_driver_sql(statement)


def remove(conn: sa.Connection) -> None:
    """Drop everything `install` made."""
    for statement in remove_statements(conn.dialect.name):
        conn.exec_driver_sql(statement)


def install_statements(dialect: str, columns: Collection[str]) -> list[str]:
    """`install` as SQL statements (also for ``alembic upgrade --sql``)."""
    return [
        *_drop_triggers(dialect),
        *_statements(dialect, columns),
        refresh_statement(dialect, columns, "true"),
    ]


def remove_statements(dialect: str) -> list[str]:
    statements = _drop_triggers(dialect)
    if dialect == "sqlite":
        return [
            *statements,
            f"DROP TABLE IF EXISTS {FTS_TABLE}",
            f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
        ]
    return [
        *statements,
        f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
        "DROP FUNCTION IF EXISTS rf_search_session_changed()",
        "DROP FUNCTION IF EXISTS rf_search_step_changed()",
        "DROP FUNCTION IF EXISTS rf_search_refresh(uuid)",
    ]


_SQLITE_TRIGGERS = (
    ("ai_sessions", "search_index_insert"),
    ("ai_sessions", "search_index_update"),
    ("ai_sessions", "search_index_delete"),
    ("ai_session_steps", "search_index_insert"),
    ("ai_session_steps", "search_index_update"),
    ("ai_session_steps", "search_index_delete"),
    (SEARCH_TABLE, "fts_insert"),
    (SEARCH_TABLE, "fts_update"),
    (SEARCH_TABLE, "fts_delete"),
)
_PG_TRIGGERS = (
    ("ai_sessions", "ai_sessions_search_insert"),
    ("ai_sessions", "ai_sessions_search_update"),
    ("ai_session_steps", "ai_session_steps_search"),
)


def _drop_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_{name}" for table, name in _SQLITE_TRIGGERS]
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, name in _PG_TRIGGERS]


# -- the indexed text, as SQL over a session row ``s`` ---------------------------------------


def _sqlite_fields(columns: Collection[str]) -> tuple[str, str, str]:
    title = "trim(coalesce(s.title, '') || ' ' || coalesce(s.problem_summary, ''))"
    outcome = " || char(10) || ".join(
        f"coalesce(s.{c}, '')" for c in OUTCOME_COLUMNS if c in columns
    )
    messages = (
        "coalesce((SELECT group_concat(json_extract(m.value, '$.content'), char(10)) "
        "FROM json_each(s.conversation_messages) AS m), '')"
    )
    for noise in MARKER_NOISE:
        messages = f"replace({messages}, {_literal(noise)}, ' ')"
    body = " || char(10) || ".join(
        [
            "coalesce((SELECT group_concat(j.value, char(10)) FROM json_tree(s.intake_content) "
            "AS j WHERE j.type = 'text'), '')",
            messages,
            "coalesce((SELECT group_concat(coalesce(st.content, '') || char(10) || "
            "coalesce(st.response, ''), char(10)) FROM ai_session_steps AS st "
            "WHERE st.session_id = s.id), '')",
            "coalesce(json_extract(s.psa_ticket_snapshot, '$.summary'), '')",
        ]
    )
    return title, outcome, f"substr({body}, 1, {MAX_BODY_CHARS})"


def _postgres_fields(columns: Collection[str]) -> tuple[str, str, str]:
    title = "btrim(coalesce(s.title, '') || ' ' || coalesce(s.problem_summary, ''))"
    outcome = (
        "concat_ws(E'\\n', "
        + ", ".join(f"coalesce(s.{c}, '')" for c in OUTCOME_COLUMNS if c in columns)
        + ")"
    )
    tags = "|".join(n.strip('[]/"') for n in MARKER_NOISE if n.startswith("[") and "/" not in n)
    keys = "|".join(n.strip('":') for n in MARKER_NOISE if n.startswith('"'))
    noise = _literal(f'\\[/?({tags})\\]|"({keys})":')
    body = (
        "left(concat_ws(E'\\n', "
        "coalesce((SELECT string_agg(v #>> '{}', E'\\n') FROM jsonb_path_query("
        "s.intake_content, 'strict $.** ? (@.type() == \"string\")') AS v), ''), "
        "regexp_replace(coalesce((SELECT string_agg(e.m ->> 'content', E'\\n' ORDER BY e.o) "
        "FROM jsonb_array_elements(s.conversation_messages) WITH ORDINALITY AS e(m, o)), ''), "
        f"{noise}, ' ', 'g'), "
        "coalesce((SELECT string_agg(concat_ws(E'\\n', st.content, st.response), E'\\n' "
        "ORDER BY st.number) FROM ai_session_steps AS st WHERE st.session_id = s.id), ''), "
        f"coalesce(s.psa_ticket_snapshot ->> 'summary', '')), {MAX_BODY_CHARS})"
    )
    return title, outcome, body


def fields_sql(dialect: str, columns: Collection[str]) -> tuple[str, str, str]:
    """The SQL of the title, outcome and body of a session row aliased ``s``."""
    if dialect == "sqlite":
        return _sqlite_fields(columns)
    return _postgres_fields(columns)


def refresh_statement(dialect: str, columns: Collection[str], where: str) -> str:
    """Upsert the indexed text of the sessions ``s`` for which ``where`` holds."""
    title, outcome, body = fields_sql(dialect, columns)
    changed = " OR ".join(
        f"{SEARCH_TABLE}.{f} IS {'NOT' if dialect == 'sqlite' else 'DISTINCT FROM'} excluded.{f}"
        for f in ("title", "outcome", "body")
    )
    return (
        f"INSERT INTO {SEARCH_TABLE} (session_id, title, outcome, body) "
        f"SELECT s.id, {title}, {outcome}, {body} FROM ai_sessions AS s WHERE {where} "
        "ON CONFLICT (session_id) DO UPDATE SET title = excluded.title, "
        f"outcome = excluded.outcome, body = excluded.body WHERE {changed}"
    )


def _changed_condition(dialect: str, columns: Collection[str]) -> str:
    op = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    prefix = ("old", "new") if dialect == "sqlite" else ("OLD", "NEW")
    return " OR ".join(
        f"{prefix[0]}.{c} {op} {prefix[1]}.{c}" for c in WATCHED_COLUMNS if c in columns
    )


def _statements(dialect: str, columns: Collection[str]) -> list[str]:
    if dialect == "sqlite":
        return _sqlite_statements(columns)
    return _postgres_statements(columns)


def _sqlite_statements(columns: Collection[str]) -> list[str]:
    fields = "title, outcome, body"
    fts_insert = (
        f"INSERT INTO {FTS_TABLE} (rowid, {fields}) "
        "VALUES (new.doc_id, new.title, new.outcome, new.body);"
    )
    fts_delete = (
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {fields}) "
        "VALUES ('delete', old.doc_id, old.title, old.outcome, old.body);"
    )
    session_refresh = refresh_statement("sqlite", columns, "s.id = new.id") + ";"

    def step_refresh(row: str) -> str:
        return refresh_statement("sqlite", columns, f"s.id = {row}.session_id") + ";"

    return [
        f"CREATE TABLE IF NOT EXISTS {SEARCH_TABLE} (doc_id INTEGER PRIMARY KEY, "
        "session_id CHAR(32) NOT NULL UNIQUE, title TEXT NOT NULL, outcome TEXT NOT NULL, "
        "body TEXT NOT NULL)",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5({fields}, "
        f"content='{SEARCH_TABLE}', content_rowid='doc_id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {SEARCH_TABLE}_fts_insert AFTER INSERT ON {SEARCH_TABLE} "
        f"BEGIN {fts_insert} END",
        f"CREATE TRIGGER {SEARCH_TABLE}_fts_delete AFTER DELETE ON {SEARCH_TABLE} "
        f"BEGIN {fts_delete} END",
        f"CREATE TRIGGER {SEARCH_TABLE}_fts_update AFTER UPDATE ON {SEARCH_TABLE} "
        f"BEGIN {fts_delete} {fts_insert} END",
        f"CREATE TRIGGER ai_sessions_search_index_insert AFTER INSERT ON ai_sessions "
        f"BEGIN {session_refresh} END",
        f"CREATE TRIGGER ai_sessions_search_index_update AFTER UPDATE ON ai_sessions "
        f"WHEN {_changed_condition('sqlite', columns)} BEGIN {session_refresh} END",
        f"CREATE TRIGGER ai_sessions_search_index_delete AFTER DELETE ON ai_sessions "
        f"BEGIN DELETE FROM {SEARCH_TABLE} WHERE session_id = old.id; END",
        f"CREATE TRIGGER ai_session_steps_search_index_insert AFTER INSERT ON ai_session_steps "
        f"BEGIN {step_refresh('new')} END",
        f"CREATE TRIGGER ai_session_steps_search_index_update AFTER UPDATE ON ai_session_steps "
        f"BEGIN {step_refresh('new')} END",
        f"CREATE TRIGGER ai_session_steps_search_index_delete AFTER DELETE ON ai_session_steps "
        f"BEGIN {step_refresh('old')} END",
    ]


def _postgres_statements(columns: Collection[str]) -> list[str]:
    document = (
        f"setweight(to_tsvector('{LANGUAGE}', title), 'A') || "
        f"setweight(to_tsvector('{LANGUAGE}', outcome), 'B') || "
        f"setweight(to_tsvector('{LANGUAGE}', body), 'D')"
    )
    refresh = refresh_statement("postgresql", columns, "s.id = target")
    return [
        f"CREATE TABLE IF NOT EXISTS {SEARCH_TABLE} (session_id UUID NOT NULL, "
        "title TEXT NOT NULL, outcome TEXT NOT NULL, body TEXT NOT NULL, "
        f"document TSVECTOR GENERATED ALWAYS AS ({document}) STORED, "
        f"CONSTRAINT pk_{SEARCH_TABLE} PRIMARY KEY (session_id), "
        f"CONSTRAINT fk_{SEARCH_TABLE}_session_id_ai_sessions FOREIGN KEY (session_id) "
        "REFERENCES ai_sessions (id) ON DELETE CASCADE)",
        f"CREATE INDEX IF NOT EXISTS ix_{SEARCH_TABLE}_document ON {SEARCH_TABLE} "
        "USING gin (document)",
        # plpgsql, not sql: its statement's plan is cached per connection, where an SQL
        # function would be planned again on every trigger call.
        "CREATE OR REPLACE FUNCTION rf_search_refresh(target uuid) RETURNS void "
        f"LANGUAGE plpgsql AS $body$ BEGIN {refresh}; END $body$",
        "CREATE OR REPLACE FUNCTION rf_search_session_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $body$ BEGIN PERFORM rf_search_refresh(NEW.id); RETURN NULL; "
        "END $body$",
        "CREATE OR REPLACE FUNCTION rf_search_step_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $body$ BEGIN IF TG_OP = 'DELETE' THEN "
        "PERFORM rf_search_refresh(OLD.session_id); ELSE "
        "PERFORM rf_search_refresh(NEW.session_id); END IF; RETURN NULL; END $body$",
        "CREATE TRIGGER ai_sessions_search_insert AFTER INSERT ON ai_sessions "
        "FOR EACH ROW EXECUTE FUNCTION rf_search_session_changed()",
        "CREATE TRIGGER ai_sessions_search_update AFTER UPDATE ON ai_sessions FOR EACH ROW "
        f"WHEN ({_changed_condition('postgresql', columns)}) "
        "EXECUTE FUNCTION rf_search_session_changed()",
        "CREATE TRIGGER ai_session_steps_search AFTER INSERT OR UPDATE OR DELETE "
        "ON ai_session_steps FOR EACH ROW EXECUTE FUNCTION rf_search_step_changed()",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
