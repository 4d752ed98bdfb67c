"""Full-text search over an account's sessions, and the recall of similar resolved ones.

The query language is the web-search one PostgreSQL's ``websearch_to_tsquery`` reads:
words (all must match), ``"quoted phrases"``, ``-excluded`` words or phrases, and ``or``
between alternatives. The core parses it once into `SearchTerms`; each storage adapter
renders that for its engine (PostgreSQL websearch text, an SQLite FTS5 expression, or a
Python predicate in memory), so a query means the same on every engine. Single stop words
("the", "of"...) are dropped everywhere, as PostgreSQL's English configuration does.

A search page is ordered by relevance (higher ``score`` first, ties by id); its cursor is
the (score, id) of the last hit and belongs to its query: handed to another query it is
refused (`InvalidCursor`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack
from uuid import UUID

from resolutionflow_core.access import Actor
from resolutionflow_core.errors import InvalidCursor, InvalidInput, NotSetUp
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import (
    SessionFilters,
    SessionQuery,
    SessionSummary,
    history_query,
)
from resolutionflow_core.similar import SimilarSession

if TYPE_CHECKING:  # a session is only read here (its document, its similar sessions)
    from resolutionflow_core.session import Session

MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_BODY_CHARS = 100_000
"""The longest body text indexed per session (the rest of a very long chat is not)."""

HIGHLIGHT_START = "«"
HIGHLIGHT_STOP = "»"

STOP_WORDS = frozenset(
    """a an and are as at be been but by can did do does for from had has have he her his how
    i if in into is it its me my no not of on or our she so than that the their them then
    there these they this to was we were what when where which who why will with would you
    your""".split()  # noqa: SIM905 - a list literal of 65 words reads worse
)

MARKER_NOISE = (
    "[QUESTIONS]",
    "[/QUESTIONS]",
    "[ACTIONS]",
    "[/ACTIONS]",
    "[FORK]",
    "[/FORK]",
    '"question":',
    '"text":',
    '"why":',
    '"reason":',
    '"title":',
    '"action":',
    '"label":',
    '"detail":',
    '"description":',
    '"command":',
    '"risk":',
    '"options":',
)
"""Marker tags and their JSON keys: dropped from the indexed text of chat messages, so a
reply's questions and actions are found by what they say, not by their wrapping."""

_WORD = re.compile(r"[^\W_]+")
_QUERY_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (letters and digits; everything else separates)."""
    return [w.lower() for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A light English stem for the in-memory engine and the recall of similar sessions
    (the SQL engines use Porter/Snowball): "drops", "dropped" and "dropping" are all
    "drop" (a consonant doubled before -ed/-ing is undoubled, as Porter does, except l, s
    and z: "installing" is "install")."""
    for suffix, keep in (("ing", 5), ("ed", 4), ("es", 5), ("s", 4)):
        if (
            word.endswith(suffix)
            and len(word) >= keep + len(suffix) - 1
            and not word.endswith("ss")
        ):
            root = word[: -len(suffix)]
            if suffix in ("ing", "ed") and _DOUBLED.search(root):
                return root[:-1]
            return root
    return word


_DOUBLED = re.compile(r"([b-df-hj-km-np-rtv-y])\1$")
"""A doubled consonant at the end, other than l, s and z."""


# -- the query --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phrase:
    """One word, or several that must follow each other."""

    words: tuple[str, ...]
    raw: str
    """As the engineer typed it (quotes and a leading ``-`` removed), for PostgreSQL."""


@dataclass(frozen=True, slots=True)
class Alternative:
    """Every ``include`` phrase, and none of the ``exclude`` ones."""

    include: tuple[Phrase, ...]
    exclude: tuple[Phrase, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """A parsed query: any one of the alternatives matches."""

    alternatives: tuple[Alternative, ...]

    @classmethod
    def parse(cls, text: str) -> SearchTerms:
        """Read web-search syntax; `InvalidInput` (field ``q``) says what is wrong."""
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidInput(
                "q", f"is {len(text)} characters long, the limit is {MAX_QUERY_CHARS}"
            )
        if "\x00" in text:
            raise InvalidInput("q", "must not contain NUL (U+0000) characters")
        alternatives: list[Alternative] = []
        include: list[Phrase] = []
        exclude: list[Phrase] = []
        count = 0
        for match in _QUERY_TOKEN.finditer(text):
            negated, quoted, bare = match.group(1), match.group(2), match.group(3)
            if bare is not None and bare.lower() == "or":
                if include or exclude:
                    alternatives.append(_alternative(include, exclude))
                include, exclude = [], []
                continue
            if quoted is not None:
                phrase_words = tuple(words(quoted))
                raw = quoted
            else:
                negated = "-" if bare.startswith("-") and len(bare) > 1 else ""
                raw = bare[1:] if negated else bare
                phrase_words = tuple(words(raw))
                if len(phrase_words) == 1 and phrase_words[0] in STOP_WORDS:
                    continue
            if not phrase_words:
                continue
            count += len(phrase_words)
            phrase = Phrase(phrase_words, " ".join(raw.replace('"', " ").split()))
            (exclude if negated else include).append(phrase)
        if include or exclude:
            alternatives.append(_alternative(include, exclude))
        if not alternatives:
            raise InvalidInput(
                "q", "has no word to look for (single stop words such as 'the' are ignored)"
            )
        if count > MAX_QUERY_TERMS:
            raise InvalidInput("q", f"has {count} words, the limit is {MAX_QUERY_TERMS}")
        return cls(tuple(alternatives))

    @classmethod
    def any_of(cls, terms: Iterable[str]) -> SearchTerms:
        """Sessions with any of these words (the recall of similar sessions)."""
        return cls(tuple(Alternative((Phrase((w,), w),)) for w in terms))

    def to_websearch(self) -> str:
        """The query again in web-search syntax, from sanitised words (for PostgreSQL)."""

        def phrase(p: Phrase, negated: bool) -> str:
            sign = "-" if negated else ""
            if len(p.words) > 1 or p.raw.lower() == "or" or not p.raw:
                return f'{sign}"{p.raw or " ".join(p.words)}"'
            return f"{sign}{p.raw}"

        return " or ".join(
            " ".join([phrase(p, False) for p in a.include] + [phrase(p, True) for p in a.exclude])
            for a in self.alternatives
        )

    def to_fts5(self) -> str:
        """The query as an SQLite FTS5 expression (every word quoted: no operator injection)."""

        def phrase(p: Phrase) -> str:
            return '"' + " ".join(p.words) + '"'

        parts = []
        for a in self.alternatives:
            expression = "(" + " AND ".join(phrase(p) for p in a.include) + ")"
            for p in a.exclude:
                expression += " NOT " + phrase(p)
            parts.append("(" + expression + ")")
        return " OR ".join(parts)

    @property
    def positive_words(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for a in self.alternatives:
            for p in a.include:
                for w in p.words:
                    seen.setdefault(w, None)
        return tuple(seen)


def _alternative(include: list[Phrase], exclude: list[Phrase]) -> Alternative:
    if not include:
        raise InvalidInput(
            "q", "each alternative needs a word to look for, not only excluded (-) ones"
        )
    return Alternative(tuple(include), tuple(exclude))


# -- queries, cursors and pages ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchCursor:
    """Where the previous page of a search ended: its last (score, id)."""

    score: float
    session_id: UUID
    fingerprint: str

    def encode(self) -> str:
        raw = json.dumps([repr(self.score), str(self.session_id), self.fingerprint])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, fingerprint: str) -> SearchCursor:
        """The cursor, if it was issued for a query with this ``fingerprint``."""
        try:
            padded = token + "=" * (-len(token) % 4)
            score, session_id, issued_for = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor = cls(float(score), UUID(session_id), str(issued_for))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor() from None
        if cursor.fingerprint != fingerprint or cursor.score != cursor.score:  # NaN
            raise InvalidCursor()
        return cursor

    def comes_before(self, score: float, session_id: UUID) -> bool:
        """True if a hit at (``score``, ``session_id``) belongs after this cursor."""
        return (score, session_id) < (self.score, self.session_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchQuery:
    """Terms, the history's filters (`SessionQuery`, without its cursor) and a cursor."""

    terms: SearchTerms
    filters: SessionQuery
    cursor: SearchCursor | None = None

    def __post_init__(self) -> None:
        if self.filters.cursor is not None:
            raise InvalidInput("cursor", "a search pages with its own cursor")

    @property
    def limit(self) -> int:
        return self.filters.limit

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.terms, self.filters)


def fingerprint_of(terms: SearchTerms, filters: SessionQuery) -> str:
    """What a search cursor is bound to: the terms and every filter but the page size."""
    f = filters
    key = json.dumps(
        [
            terms.to_fts5(),
            f.account_id,
            sorted(t.value for t in f.session_types) if f.session_types else None,
            sorted(s.value for s in f.statuses) if f.statuses else None,
            f.owner_id,
            f.visible_to_user,
            f.created_from.isoformat() if f.created_from else None,
            f.created_to.isoformat() if f.created_to else None,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    """One session that matched, how well (higher is better) and where (``match``)."""

    summary: SessionSummary
    score: float
    match: str | None
    """A snippet of the matching text, the matched words between « and »."""
    resolution_summary: str | None = None
    root_cause: str | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[SearchHit]
    next_cursor: SearchCursor | None


def search_page_of(hits: list[SearchHit], query: SearchQuery) -> SearchPage:
    """A page from up to ``limit + 1`` ranked hits (the extra one says more exist)."""
    items = hits[: query.limit]
    more = len(hits) > query.limit
    cursor = (
        SearchCursor(items[-1].score, items[-1].summary.id, query.fingerprint)
        if more and items
        else None
    )
    return SearchPage(items, cursor)


def search_query(actor: Actor, text: str, **filters: Unpack[SessionFilters]) -> SearchQuery:
    """The search the actor may run: their account, and only what they may open."""
    terms = SearchTerms.parse(text)
    cursor = filters.pop("cursor", None)  # a search's own cursor, not the history's
    query = history_query(actor, **filters)
    decoded = SearchCursor.decode(cursor, fingerprint_of(terms, query)) if cursor else None
    return SearchQuery(terms=terms, filters=query, cursor=decoded)


# -- the account's memory ---------------------------------------------------------------

RECALL_TERMS = 16
"""The most words of a new problem used to look for similar ones."""
RECALL_CANDIDATES = 10
RECALL_LIMIT = 3
RECALL_MIN_OVERLAP = 0.35
"""Share of the new problem's words a resolved session's title, summary, resolution and
root cause must contain: weaker matches are left out."""
RECALL_MIN_SHARED = 2


def recall_query(actor: Actor, problem: str) -> SearchQuery | None:
    """The resolved sessions to consider for a new problem, or ``None`` if it has no words."""
    # Numbers and two-letter words (host names' "pc", "10" of an address) say little.
    terms = list(
        dict.fromkeys(
            w for w in words(problem) if w not in STOP_WORDS and len(w) > 2 and not w.isdigit()
        )
    )
    if not terms:
        return None
    filters = SessionQuery(
        account_id=actor.account_id,
        statuses=frozenset({SessionStatus.RESOLVED}),
        visible_to_user=None if actor.sees_whole_account else actor.user_id,
        limit=RECALL_CANDIDATES,
    )
    return SearchQuery(terms=SearchTerms.any_of(terms[:RECALL_TERMS]), filters=filters)


def similar_from(query: SearchQuery, hits: list[SearchHit]) -> tuple[SimilarSession, ...]:
    """The best ``RECALL_LIMIT`` hits that share enough of the problem's words."""
    wanted = {stem(w) for w in query.terms.positive_words}
    needed = max(min(RECALL_MIN_SHARED, len(wanted)), math.ceil(RECALL_MIN_OVERLAP * len(wanted)))
    similar: list[SimilarSession] = []
    for hit in hits:
        row = hit.summary
        if row.account_id != query.filters.account_id or hit.resolution_summary is None:
            continue
        described = " ".join(
            t or ""
            for t in (row.title, row.problem_summary, hit.resolution_summary, hit.root_cause)
        )
        if len(wanted & {stem(w) for w in words(described)}) < needed:
            continue
        similar.append(
            SimilarSession(
                id=row.id,
                session_type=row.session_type.value,
                title=row.display_title,
                resolution_summary=hit.resolution_summary,
                root_cause=hit.root_cause,
                resolved_at=hit.resolved_at,
                user_id=row.user_id,
            )
        )
        if len(similar) == RECALL_LIMIT:
            break
    return tuple(similar)


# -- what is indexed --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """A session's indexed text, in three fields of falling weight."""

    title: str
    """Title and problem summary."""
    outcome: str
    """Resolution summary, root cause, escalation and abandon reasons."""
    body: str
    """Intake, chat messages (marker wrapping removed), guided steps and answers, and the
    linked ticket's summary; at most `MAX_BODY_CHARS`."""

    @classmethod
    def of(cls, session: Session) -> SearchDocument:
        title = " ".join(t for t in (session.title, session.problem_summary) if t)
        abandon_reason = getattr(session, "abandon_reason", None)
        outcome = "\n".join(
            t or ""
            for t in (
                session.resolution_summary,
                session.root_cause,
                session.escalation_reason,
                abandon_reason if isinstance(abandon_reason, str) else None,
            )
        )
        messages = "\n".join(m.content for m in session.conversation_messages)
        for noise in MARKER_NOISE:
            messages = messages.replace(noise, " ")
        steps = "\n".join(f"{s.content}\n{s.response or ''}" for s in session.steps)
        ticket = session.psa_link.snapshot.get("summary") if session.psa_link else None
        body = "\n".join(
            [
                "\n".join(_strings(session.intake_content)),
                messages,
                steps,
                ticket if isinstance(ticket, str) else "",
            ]
        )
        return cls(title, outcome, body[:MAX_BODY_CHARS])

    def fields(self) -> tuple[tuple[str, float], ...]:
        return ((self.title, 10.0), (self.outcome, 4.0), (self.body, 1.0))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class SearchNotConfigured(NotSetUp):
    """The service was built without a `SessionSearch`."""

    code = "search_not_configured"

    def __init__(self) -> None:
        super().__init__("search is not configured: pass search= to SessionService")


def similar_for(actor: Actor, session: Session) -> tuple[SimilarSession, ...]:
    """The session's solved-before sessions that ``actor`` may open (a claimer may not open
    everything the starting engineer could)."""
    if session.account_id != actor.account_id:
        return ()
    return tuple(
        s
        for s in session.similar_sessions
        if actor.sees_whole_account or s.user_id == actor.user_id
    )
