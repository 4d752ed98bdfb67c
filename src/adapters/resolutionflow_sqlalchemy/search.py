"""Search on SQLite (FTS5, ``bm25``, ``snippet``) and PostgreSQL (``websearch_to_tsquery``,
``ts_rank_cd``, ``ts_headline``), over the index `search_schema` keeps.

One statement finds a page: the matches, ranked (higher score first, ties by id), joined to
``ai_sessions`` for the history's filters and the keyset cursor. A second one makes the
snippets of that page only, so a query matching thousands of sessions highlights fifty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from resolutionflow_core.listing import SessionQuery
from resolutionflow_core.search import (
    HIGHLIGHT_START,
    HIGHLIGHT_STOP,
    SearchHit,
    SearchPage,
    SearchQuery,
    search_page_of,
)
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.mapping import SUMMARY_COLUMNS, summary_from_row
from resolutionflow_sqlalchemy.search_schema import (
    FTS_TABLE,
    LANGUAGE,
    SEARCH_TABLE,
    fields_sql,
    install,
)
from resolutionflow_sqlalchemy.tables import ID, ai_sessions, visible_to

SQLITE_WEIGHTS = (10.0, 4.0, 1.0)
"""bm25 weights of title, outcome and body (PostgreSQL weighs them A, B and D)."""
SNIPPET_TOKENS = 16
HEADLINE_OPTIONS = (
    f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, MaxWords=20, MinWords=8, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)

_C = ai_sessions.c
_SUMMARY = [_C[name] for name in SUMMARY_COLUMNS]
_EXTRA = [_C.resolution_summary, _C.root_cause, _C.resolved_at]
_search = sa.table(
    SEARCH_TABLE,
    sa.column("doc_id", sa.Integer),
    sa.column("session_id", ID),
    sa.column("title", sa.Text),
    sa.column("outcome", sa.Text),
    sa.column("body", sa.Text),
    sa.column("document"),
)
_fts = sa.table(FTS_TABLE, sa.column("rowid", sa.Integer))
_FTS: sa.ColumnClause[Any] = sa.literal_column(FTS_TABLE)


class SqlSessionSearch:
    """The `SessionSearch` port on the SQL storage's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self._database.read(lambda conn: search_page(conn, query))


def search_page(conn: sa.Connection, query: SearchQuery) -> SearchPage:
    """One page of ``query``, in the connection's transaction."""
    if conn.dialect.name == "sqlite":
        expression = query.terms.to_fts5()
        rows = conn.execute(_sqlite_statement(query), {"q": expression}).all()
        snippets = _sqlite_snippets(conn, expression, [r.doc_id for r in rows[: query.limit]])
        keys = [r.doc_id for r in rows]
    else:
        text = query.terms.to_websearch()
        rows = conn.execute(_postgres_statement(query), {"q": text}).all()
        snippets = _postgres_headlines(conn, text, [r.id for r in rows[: query.limit]])
        keys = [r.id for r in rows]
    hits = [
        SearchHit(
            summary=summary_from_row(row),
            score=float(row.score),
            match=_one_line(snippets.get(key)),
            resolution_summary=row.resolution_summary,
            root_cause=row.root_cause,
            resolved_at=row.resolved_at,
        )
        for row, key in zip(rows, keys, strict=True)
    ]
    return search_page_of(hits, query)


def _one_line(snippet: str | None) -> str | None:
    """A snippet spans messages and fields: show it on one line."""
    return None if snippet is None else " ".join(snippet.split())


def _filters(filters: SessionQuery) -> list[sa.ColumnElement[bool]]:
    """The history's filters (as `SessionQuery.matches` reads them), without its cursor."""
    where: list[sa.ColumnElement[bool]] = [_C.account_id == filters.account_id]
    if filters.session_types is not None:
        where.append(_C.session_type.in_(sorted(t.value for t in filters.session_types)))
    if filters.statuses is not None:
        where.append(_C.status.in_(sorted(s.value for s in filters.statuses)))
    if filters.owner_id is not None:
        where.append(_C.user_id == filters.owner_id)
    if filters.visible_to_user is not None:
        where.append(visible_to(filters.visible_to_user))
    if filters.created_from is not None:
        where.append(_C.created_at >= filters.created_from)
    if filters.created_to is not None:
        where.append(_C.created_at <= filters.created_to)
    return where


def _after_cursor(score: Any, query: SearchQuery) -> list[sa.ColumnElement[bool]]:
    cursor = query.cursor
    if cursor is None:
        return []
    last = sa.literal(cursor.score, sa.Float(53))
    return [
        sa.or_(
            score < last,
            sa.and_(score == last, _C.id < sa.literal(cursor.session_id, ID)),
        )
    ]


def _sqlite_statement(query: SearchQuery) -> sa.Select[Any]:
    # Materialised: bm25() may only run in the FTS query itself, never in an outer WHERE.
    matches = (
        sa.select(
            _fts.c.rowid.label("doc_id"),
            (-sa.func.bm25(_FTS, *SQLITE_WEIGHTS, type_=sa.Float)).label("score"),
        )
        .where(_FTS.op("MATCH")(sa.bindparam("q")))
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    return (
        sa.select(*_SUMMARY, *_EXTRA, matches.c.score, matches.c.doc_id)
        .select_from(
            matches.join(_search, _search.c.doc_id == matches.c.doc_id).join(
                ai_sessions, _C.id == _search.c.session_id
            )
        )
        .where(*_filters(query.filters), *_after_cursor(matches.c.score, query))
        .order_by(matches.c.score.desc(), _C.id.desc())
        .limit(query.limit + 1)
    )


def _sqlite_snippets(conn: sa.Connection, expression: str, doc_ids: list[int]) -> dict[Any, str]:
    if not doc_ids:
        return {}
    statement = sa.text(
        f"SELECT rowid, snippet({FTS_TABLE}, -1, :start, :stop, '…', {SNIPPET_TOKENS}) "
        f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q AND rowid IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    params = {"q": expression, "ids": doc_ids, "start": HIGHLIGHT_START, "stop": HIGHLIGHT_STOP}
    return {row[0]: row[1] for row in conn.execute(statement, params)}


def _tsquery() -> sa.CTE:
    """The parsed query as a one-row CTE joined in: parsed once per statement, not once per
    row (asyncpg's prepared statements get generic plans, which cannot fold the call)."""
    parsed = sa.func.websearch_to_tsquery(
        sa.literal_column(f"'{LANGUAGE}'::regconfig"), sa.bindparam("q")
    )
    return sa.select(parsed.label("q")).cte("search_query")


def _postgres_statement(query: SearchQuery) -> sa.Select[Any]:
    tsquery = _tsquery()
    score = sa.cast(sa.func.ts_rank_cd(_search.c.document, tsquery.c.q), sa.Float(53))
    return (
        sa.select(*_SUMMARY, *_EXTRA, score.label("score"))
        .select_from(
            _search.join(ai_sessions, _C.id == _search.c.session_id).join(tsquery, sa.true())
        )
        .where(
            _search.c.document.op("@@")(tsquery.c.q),
            *_filters(query.filters),
            *_after_cursor(score, query),
        )
        .order_by(score.desc(), _C.id.desc())
        .limit(query.limit + 1)
    )


def _postgres_headlines(conn: sa.Connection, text: str, ids: list[UUID]) -> dict[Any, str]:
    if not ids:
        return {}
    tsquery = _tsquery()
    document = sa.func.concat_ws("\n", _search.c.title, _search.c.outcome, _search.c.body)
    statement = (
        sa.select(
            _search.c.session_id,
            sa.func.ts_headline(
                sa.literal_column(f"'{LANGUAGE}'::regconfig"),
                document,
                tsquery.c.q,
                sa.literal(HEADLINE_OPTIONS),
            ),
        )
        .select_from(_search.join(tsquery, sa.true()))
        .where(_search.c.session_id.in_(ids))
    )
    return {row[0]: row[1] for row in conn.execute(statement, {"q": text})}


# -- repairs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexCheck:
    """How the index compares with a rebuild from the sessions."""

    sessions: int
    indexed: int
    stale: list[UUID]
    """Sessions whose indexed text differs from what their rows make now (or is missing)."""
    orphans: int
    """Index entries of sessions that no longer exist."""
    engine_consistent: bool
    """SQLite: FTS5's integrity check against its content table passed (always True on
    PostgreSQL, where the tsvector is a generated column)."""

    @property
    def clean(self) -> bool:
        return not self.stale and not self.orphans and self.engine_consistent


def _columns(conn: sa.Connection) -> list[str]:
    return [c["name"] for c in sa.inspect(conn).get_columns("ai_sessions")]


def check_index(conn: sa.Connection) -> IndexCheck:
    """Compare the index with a rebuild from the sessions, changing nothing."""
    dialect = conn.dialect.name
    title, outcome, body = fields_sql(dialect, _columns(conn))
    stale = conn.exec_driver_sql(
        f"SELECT s.id FROM ai_sessions AS s LEFT JOIN {SEARCH_TABLE} AS x "
        "ON x.session_id = s.id WHERE x.session_id IS NULL OR "
        + " OR ".join(
            f"x.{name} {'IS NOT' if dialect == 'sqlite' else 'IS DISTINCT FROM'} ({sql})"
            for name, sql in (("title", title), ("outcome", outcome), ("body", body))
        )
    ).all()
    sessions = conn.execute(sa.select(sa.func.count()).select_from(ai_sessions)).scalar_one()
    indexed = conn.exec_driver_sql(f"SELECT count(*) FROM {SEARCH_TABLE}").scalar_one()
    orphans = conn.exec_driver_sql(
        f"SELECT count(*) FROM {SEARCH_TABLE} AS x WHERE NOT EXISTS "
        "(SELECT 1 FROM ai_sessions AS s WHERE s.id = x.session_id)"
    ).scalar_one()
    consistent = True
    if dialect == "sqlite":
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(
                    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
                )
        except sa.exc.DatabaseError:
            consistent = False
    ids = [row[0] if isinstance(row[0], UUID) else UUID(str(row[0])) for row in stale]
    return IndexCheck(sessions, indexed, ids, orphans, consistent)


def reindex(conn: sa.Connection) -> IndexCheck:
    """Rebuild the index from the sessions (repairs; ``resolutionflow db reindex``)."""
    columns = _columns(conn)
    install(conn, columns)  # the triggers as this schema wants them, every session refreshed
    conn.exec_driver_sql(
        f"DELETE FROM {SEARCH_TABLE} WHERE NOT EXISTS "
        "(SELECT 1 FROM ai_sessions AS s WHERE s.id = session_id)"
    )
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")
    return check_index(conn)
