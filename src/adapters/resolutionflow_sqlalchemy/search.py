"""Search on SQLite (FTS5, ``bm25``, ``snippet``) and PostgreSQL (``websearch_to_tsquery``,
``ts_rank_cd``, ``ts_headline``), over the index `search_schema` keeps.

The index holds a session in parts (its head, each message, each step), so a session matches
a query when its parts together do: each phrase of the query is looked up once in the full-
text index (one CTE per phrase, the session's score for it the sum of its parts' ranks), and
an alternative holds for the sessions that have all its phrases and none of its exclusions.
A session's score is the sum over the alternatives it matches. A phrase matches within one
part (one message, say), never across two.

One statement finds a page: those matches, with the history's filters and the keyset
cursor (higher score first, ties by id). The filters apply inside each phrase's lookup, so
only the parts of sessions the page may show are ranked (PostgreSQL: joined to
``ai_sessions`` there; SQLite: the allowed sessions' keys found first, on the history's
indexes, and each matching part's key checked against them before ``bm25``). On SQLite the
page is cut on keys and scores, and only its sessions' rows are read. A second statement
makes the snippets of that page only, from each hit's best-matching part.
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
    STOP_WORDS,
    Alternative,
    Phrase,
    SearchHit,
    SearchPage,
    SearchQuery,
    SearchTerms,
    search_page_of,
)
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.mapping import SUMMARY_COLUMNS, summary_from_row
from resolutionflow_sqlalchemy.search_schema import (
    FTS_TABLE,
    LANGUAGE,
    PART_BITS,
    PARTS_TABLE,
    SESSIONS_TABLE,
    expected_parts_sql,
    install,
    stored_parts_sql,
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
_sessions = sa.table(SESSIONS_TABLE, sa.column("doc_id", sa.Integer), sa.column("session_id", ID))
_parts = sa.table(
    PARTS_TABLE,
    sa.column("session_id", ID),
    sa.column("part", sa.Integer),
    sa.column("document"),
)
_fts = sa.table(FTS_TABLE, sa.column("rowid", sa.Integer))
_FTS: sa.ColumnClause[Any] = sa.literal_column(FTS_TABLE)
_DOC_OF_PART = sa.literal_column(f"{FTS_TABLE}.rowid >> {PART_BITS}", sa.Integer)
_REGCONFIG: sa.ColumnClause[Any] = sa.literal_column(f"'{LANGUAGE}'::regconfig")


class SqlSessionSearch:
    """The `SessionSearch` port on the SQL storage's database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self._database.read(lambda conn: search_page(conn, query))


def search_page(conn: sa.Connection, query: SearchQuery) -> SearchPage:
    """One page of ``query``, in the connection's transaction."""
    if conn.dialect.name == "sqlite":
        alternatives = query.terms.alternatives
        matches = _sqlite_matches(alternatives, _sqlite_allowed(query.filters))
        rows = conn.execute(_page_statement(query, matches)).all()
        keys = [r.doc for r in rows]
        snippets = _sqlite_snippets(conn, alternatives, keys[: query.limit])
    else:
        alternatives = postgres_alternatives(query.terms)
        if not alternatives:
            return search_page_of([], query)
        matches = _postgres_matches(alternatives, _filters(query.filters))
        rows = conn.execute(_page_statement(query, matches)).all()
        keys = [r.id for r in rows]
        snippets = _postgres_headlines(conn, alternatives, keys[: query.limit])
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
    """A snippet spans fields: show it on one line."""
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


def _after_cursor(score: Any, session_id: Any, query: SearchQuery) -> list[Any]:
    cursor = query.cursor
    if cursor is None:
        return []
    last = sa.literal(cursor.score, sa.Float(53))
    return [
        sa.or_(
            score < last,
            sa.and_(score == last, session_id < sa.literal(cursor.session_id, ID)),
        )
    ]


def _page_statement(query: SearchQuery, matches: sa.CTE) -> sa.Select[Any]:
    if "doc_id" not in matches.c:  # PostgreSQL: filtered in the matches and again here
        return (
            sa.select(*_SUMMARY, *_EXTRA, matches.c.score)
            .select_from(matches.join(ai_sessions, _C.id == matches.c.session_id))
            .where(*_filters(query.filters), *_after_cursor(matches.c.score, _C.id, query))
            .order_by(matches.c.score.desc(), _C.id.desc())
            .limit(query.limit + 1)
        )
    # SQLite: the page's sessions ranked and cut first, on keys and scores only (the
    # history's filters are applied in the matches already), then the rows of those only:
    # a session's row is read for the page, not for every match.
    page = (
        sa.select(_sessions.c.session_id, matches.c.doc_id, matches.c.score)
        .select_from(matches.join(_sessions, _sessions.c.doc_id == matches.c.doc_id))
        .where(*_after_cursor(matches.c.score, _sessions.c.session_id, query))
        .order_by(matches.c.score.desc(), _sessions.c.session_id.desc())
        .limit(query.limit + 1)
        .subquery("page")
    )
    return (
        sa.select(*_SUMMARY, *_EXTRA, page.c.score, page.c.doc_id.label("doc"))
        .select_from(page.join(ai_sessions, _C.id == page.c.session_id))
        .order_by(page.c.score.desc(), _C.id.desc())
    )


def _combine(
    alternatives: tuple[Alternative, ...],
    key: str,
    include: Any,
    exclude: Any,
    *,
    by_count: bool,
) -> sa.CTE:
    """The matching sessions (``key``, ``score``) of the alternatives, from one CTE per
    distinct phrase: ``include(phrase, n)`` with the sessions' scores, ``exclude`` without.

    The sessions with every phrase of an alternative are those in all the phrases' CTEs
    (one row each per session): joined on SQLite (materialised CTEs, joined through an
    automatic index), counted with ``by_count`` (PostgreSQL), where a join of aggregates is
    planned blind: a generic plan (asyncpg prepares its statements) estimates each at a few
    rows and nests the loops, quadratic in the matches (3.5 s instead of 0.13 s at 2,000
    sessions). A union and one aggregate cannot be planned so."""
    included: dict[Phrase, sa.CTE] = {}
    excluded: dict[Phrase, sa.CTE] = {}
    selects = []
    for alternative in alternatives:
        for p in alternative.include:
            if p not in included:
                included[p] = include(p, len(included))
        for p in alternative.exclude:
            if p not in excluded:
                excluded[p] = exclude(p, len(excluded))
        found = [included[p] for p in dict.fromkeys(alternative.include)]  # "vpn vpn": once
        gone = [excluded[p] for p in dict.fromkeys(alternative.exclude)]
        if not by_count or len(found) == 1:
            first = found[0]
            source: Any = first
            for other in found[1:]:
                source = source.join(other, other.c[key] == first.c[key])
            score = sum((c.c.score for c in found[1:]), first.c.score)
            selects.append(
                sa.select(first.c[key].label(key), score.label("score"))
                .select_from(source)
                .where(*(first.c[key].not_in(sa.select(x.c[key])) for x in gone))
            )
            continue
        each = sa.union_all(*(sa.select(c.c[key], c.c.score) for c in found)).subquery(
            f"a{len(selects)}"
        )
        selects.append(
            sa.select(each.c[key].label(key), sa.func.sum(each.c.score).label("score"))
            .where(*(each.c[key].not_in(sa.select(x.c[key])) for x in gone))
            .group_by(each.c[key])
            .having(sa.func.count() == len(found))
        )
    if len(selects) == 1:
        return selects[0].cte("matches")
    union = sa.union_all(*selects).subquery("alternatives")
    return (
        sa.select(union.c[key], sa.func.sum(union.c.score).label("score"))
        .group_by(union.c[key])
        .cte("matches")
    )


# -- SQLite ----------------------------------------------------------------------------------


def _fts5_phrase(phrase: Phrase) -> str:
    return '"' + " ".join(phrase.words) + '"'


def _sqlite_allowed(filters: SessionQuery) -> sa.CTE:
    """The keys of the sessions the history's filters let the page show, found once (on the
    history's indexes), so only their parts are ranked: ``bm25`` is most of a search's time."""
    return (
        sa.select(_sessions.c.doc_id)
        .select_from(ai_sessions.join(_sessions, _sessions.c.session_id == _C.id))
        .where(*_filters(filters))
        .cte("allowed")
        .prefix_with("MATERIALIZED")
    )


def _sqlite_matches(alternatives: tuple[Alternative, ...], allowed: sa.CTE) -> sa.CTE:
    # Materialised: bm25() may only run in the FTS query itself, never in an aggregate.
    def include(phrase: Phrase, n: int) -> sa.CTE:
        parts = (
            sa.select(
                _DOC_OF_PART.label("doc_id"),
                (-sa.func.bm25(_FTS, *SQLITE_WEIGHTS, type_=sa.Float)).label("score"),
            )
            .select_from(_fts)
            .where(
                _FTS.op("MATCH")(sa.bindparam(f"p{n}", _fts5_phrase(phrase))),
                _DOC_OF_PART.in_(sa.select(allowed.c.doc_id)),
            )
            .cte(f"p{n}")
            .prefix_with("MATERIALIZED")
        )
        return (
            sa.select(parts.c.doc_id, sa.func.sum(parts.c.score).label("score"))
            .group_by(parts.c.doc_id)
            .cte(f"i{n}")
            .prefix_with("MATERIALIZED")
        )

    def exclude(phrase: Phrase, n: int) -> sa.CTE:
        return (
            sa.select(_DOC_OF_PART.label("doc_id"))
            .select_from(_fts)
            .where(_FTS.op("MATCH")(sa.bindparam(f"x{n}", _fts5_phrase(phrase))))
            .cte(f"x{n}")
            .prefix_with("MATERIALIZED")
        )

    return _combine(alternatives, "doc_id", include, exclude, by_count=False)


def _any_phrase(alternatives: tuple[Alternative, ...]) -> list[Phrase]:
    return list(dict.fromkeys(p for a in alternatives for p in a.include))


def _sqlite_snippets(
    conn: sa.Connection, alternatives: tuple[Alternative, ...], doc_ids: list[int]
) -> dict[Any, str]:
    """Each session's snippet, from its best part (by bm25) matching any wanted phrase.

    The parts are found by scanning the matches and keeping the page's sessions (``+rowid``:
    a lookup per part would make FTS5 evaluate the query again for each), and only the best
    part of each session gets a snippet.
    """
    if not doc_ids:
        return {}
    match = f"{FTS_TABLE} MATCH :q"
    statement = sa.text(
        f"WITH hits AS MATERIALIZED (SELECT rowid AS part_id, "
        f"bm25({FTS_TABLE}, {', '.join(map(str, SQLITE_WEIGHTS))}) AS rank FROM {FTS_TABLE} "
        f"WHERE {match} AND (+rowid >> {PART_BITS}) IN (SELECT value FROM json_each(:docs))), "
        f"best AS (SELECT min(rank), part_id FROM hits GROUP BY part_id >> {PART_BITS}) "
        f"SELECT rowid >> {PART_BITS}, snippet({FTS_TABLE}, -1, :start, :stop, '…', "
        f"{SNIPPET_TOKENS}) FROM {FTS_TABLE} WHERE {match} AND "
        "+rowid IN (SELECT part_id FROM best)"
    )
    params = {
        "q": " OR ".join(_fts5_phrase(p) for p in _any_phrase(alternatives)),
        "docs": "[" + ", ".join(str(int(d)) for d in doc_ids) + "]",
        "start": HIGHLIGHT_START,
        "stop": HIGHLIGHT_STOP,
    }
    return {row[0]: row[1] for row in conn.execute(statement, params)}


# -- PostgreSQL ------------------------------------------------------------------------------


def postgres_alternatives(terms: SearchTerms) -> tuple[Alternative, ...]:
    """The alternatives without phrases made only of stop words, which PostgreSQL ignores
    (``websearch_to_tsquery`` would drop them from the query); an alternative left with
    nothing to look for matches nothing."""

    def kept(phrases: tuple[Phrase, ...]) -> tuple[Phrase, ...]:
        return tuple(p for p in phrases if not all(w in STOP_WORDS for w in p.words))

    return tuple(
        Alternative(kept(a.include), kept(a.exclude)) for a in terms.alternatives if kept(a.include)
    )


def _websearch(phrase: Phrase) -> str:
    return SearchTerms((Alternative((phrase,)),)).to_websearch()


def _tsquery(name: str, text: str) -> sa.CTE:
    """A parsed phrase as a one-row CTE joined in: parsed once per statement, not once per
    row (asyncpg's prepared statements get generic plans, which cannot fold the call)."""
    parsed = sa.func.websearch_to_tsquery(_REGCONFIG, sa.bindparam(name, text))
    return sa.select(parsed.label("q")).cte(f"{name}_query")


def _postgres_matches(
    alternatives: tuple[Alternative, ...], filters: list[sa.ColumnElement[bool]]
) -> sa.CTE:
    """The history's filters apply in each phrase's CTE already, so only the parts of the
    sessions the page may show are ranked (``ts_rank_cd`` is most of a search's time)."""

    # The sum of float4 ranks in float8 is exact, so it does not depend on the order in
    # which (possibly parallel) aggregation adds them: the cursor's score is stable.
    def include(phrase: Phrase, n: int) -> sa.CTE:
        tsquery = _tsquery(f"p{n}", _websearch(phrase))
        rank = sa.cast(sa.func.ts_rank_cd(_parts.c.document, tsquery.c.q), sa.Float(53))
        return (
            sa.select(_parts.c.session_id, sa.func.sum(rank).label("score"))
            .select_from(
                _parts.join(tsquery, sa.true()).join(ai_sessions, _C.id == _parts.c.session_id)
            )
            .where(_parts.c.document.op("@@")(tsquery.c.q), *filters)
            .group_by(_parts.c.session_id)
            .cte(f"i{n}")
        )

    def exclude(phrase: Phrase, n: int) -> sa.CTE:
        tsquery = _tsquery(f"x{n}", _websearch(phrase))
        return (
            sa.select(_parts.c.session_id)
            .select_from(_parts.join(tsquery, sa.true()))
            .where(_parts.c.document.op("@@")(tsquery.c.q))
            .cte(f"x{n}")
        )

    return _combine(alternatives, "session_id", include, exclude, by_count=True)


def _postgres_headlines(
    conn: sa.Connection, alternatives: tuple[Alternative, ...], ids: list[UUID]
) -> dict[Any, str]:
    """Each session's headline, from its best part matching any wanted phrase."""
    if not ids:
        return {}
    statement = sa.text(
        "WITH q AS (SELECT websearch_to_tsquery(CAST(:language AS regconfig), :q) AS q), "
        "best AS (SELECT DISTINCT ON (p.session_id) p.session_id, p.title, p.outcome, p.body "
        f"FROM {PARTS_TABLE} AS p, q WHERE p.session_id IN :ids AND p.document @@ q.q "
        "ORDER BY p.session_id, ts_rank_cd(p.document, q.q) DESC, p.part) "
        "SELECT best.session_id, ts_headline(CAST(:language AS regconfig), "
        "concat_ws(E'\\n', best.title, best.outcome, best.body), q.q, :options) FROM best, q"
    ).bindparams(sa.bindparam("ids", expanding=True, type_=ID))
    params = {
        "language": LANGUAGE,
        "q": " or ".join(_websearch(p) for p in _any_phrase(alternatives)),
        "ids": ids,
        "options": HEADLINE_OPTIONS,
    }
    return {row[0]: row[1] for row in conn.execute(statement, params)}


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
    expected = expected_parts_sql(dialect, _columns(conn))
    stored = stored_parts_sql(dialect)
    stale = conn.exec_driver_sql(
        f"SELECT DISTINCT d.session_id FROM (SELECT * FROM ({expected}) AS e EXCEPT "
        f"SELECT * FROM ({stored}) AS t UNION SELECT * FROM (SELECT * FROM ({stored}) AS t "
        f"EXCEPT SELECT * FROM ({expected}) AS e) AS f) AS d "
        "WHERE EXISTS (SELECT 1 FROM ai_sessions AS s WHERE s.id = d.session_id) "
        "ORDER BY d.session_id"
    ).all()
    sessions = conn.execute(sa.select(sa.func.count()).select_from(ai_sessions)).scalar_one()
    if dialect == "sqlite":
        indexed = conn.exec_driver_sql(
            f"SELECT count(*) FROM {SESSIONS_TABLE} AS x WHERE EXISTS "
            f"(SELECT 1 FROM {PARTS_TABLE} AS p WHERE p.part_id = x.doc_id << {PART_BITS})"
        ).scalar_one()
        orphans = conn.exec_driver_sql(
            f"SELECT count(*) FROM {PARTS_TABLE} AS p WHERE NOT EXISTS (SELECT 1 FROM "
            f"{SESSIONS_TABLE} AS x JOIN ai_sessions AS s ON s.id = x.session_id "
            f"WHERE x.doc_id = p.part_id >> {PART_BITS})"
        ).scalar_one()
    else:
        indexed = conn.exec_driver_sql(
            f"SELECT count(*) FROM {PARTS_TABLE} WHERE part = 0"
        ).scalar_one()
        orphans = conn.exec_driver_sql(
            f"SELECT count(*) FROM {PARTS_TABLE} AS p WHERE NOT EXISTS "
            "(SELECT 1 FROM ai_sessions AS s WHERE s.id = p.session_id)"
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
    """Rebuild the index from the sessions (repairs; ``resolutionflow db reindex``): the
    triggers as this schema wants them, every part made again, orphans gone."""
    install(conn, _columns(conn))
    return check_index(conn)
