"""Search over `InMemoryStorage`: the reference engine, in plain Python.

It reads the committed sessions, so it sees what a new unit of work would see; every call
scans them all (fine for tests, demos and small embedded uses, not for a large history).
Words are matched on a light stem (`resolutionflow_core.search.stem`); relevance adds, per
matched phrase, its occurrences in each field weighted like the SQL engines' fields
(title 10, outcome 4, body 1), dampened by the field's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from resolutionflow_core.listing import SessionSummary
from resolutionflow_core.search import (
    HIGHLIGHT_START,
    HIGHLIGHT_STOP,
    Alternative,
    Phrase,
    SearchDocument,
    SearchHit,
    SearchPage,
    SearchQuery,
    SearchTerms,
    search_page_of,
    stem,
    words,
)
from resolutionflow_memory.storage import InMemoryStorage

SNIPPET_WORDS = 16


class InMemorySessionSearch:
    """The `SessionSearch` port over an `InMemoryStorage`."""

    def __init__(self, storage: InMemoryStorage) -> None:
        self._storage = storage

    async def search(self, query: SearchQuery) -> SearchPage:
        hits: list[SearchHit] = []
        for session in list(self._storage._sessions.values()):  # committed state
            summary = SessionSummary.of(session)
            if not query.filters.matches(summary, former_owners=session.former_owner_ids):
                continue
            document = SearchDocument.of(session)
            score = relevance(query.terms, document)
            if score is None:
                continue
            if query.cursor is not None and not query.cursor.comes_before(score, session.id):
                continue
            hits.append(
                SearchHit(
                    summary=summary,
                    score=score,
                    match=snippet(query.terms, document),
                    resolution_summary=session.resolution_summary,
                    root_cause=session.root_cause,
                    resolved_at=session.resolved_at,
                )
            )
        hits.sort(key=lambda h: (h.score, h.summary.id), reverse=True)
        return search_page_of(hits[: query.limit + 1], query)


def relevance(terms: SearchTerms, document: SearchDocument) -> float | None:
    """The document's score for the best matching alternative, ``None`` if none matches."""
    fields = [([stem(w) for w in words(text)], weight) for text, weight in document.fields()]
    best: float | None = None
    for alternative in terms.alternatives:
        score = _alternative_score(alternative, fields)
        if score is not None and (best is None or score > best):
            best = score
    return best


def _alternative_score(
    alternative: Alternative, fields: list[tuple[list[str], float]]
) -> float | None:
    if any(_count(p, tokens) for p in alternative.exclude for tokens, _ in fields):
        return None
    total = 0.0
    for phrase in alternative.include:
        found = 0.0
        for tokens, weight in fields:
            count = _count(phrase, tokens)
            if count:
                found += weight * count / math.log2(2 + len(tokens))
        if not found:
            return None
        total += found
    return total


def _count(phrase: Phrase, tokens: Sequence[str]) -> int:
    """How often the phrase's (stemmed) words appear in a row in ``tokens``."""
    wanted = [stem(w) for w in phrase.words]
    n = len(wanted)
    if n == 1:
        return tokens.count(wanted[0]) if isinstance(tokens, list) else 0
    return sum(1 for i in range(len(tokens) - n + 1) if list(tokens[i : i + n]) == wanted)


def snippet(terms: SearchTerms, document: SearchDocument) -> str | None:
    """Up to `SNIPPET_WORDS` words around the first match, matched words marked."""
    wanted = {stem(w) for w in terms.positive_words}
    for text, _ in document.fields():
        pieces = text.split()
        marked = [any(stem(w) in wanted for w in words(p)) for p in pieces]
        if not any(marked):
            continue
        first = marked.index(True)
        start = max(0, first - SNIPPET_WORDS // 4)
        window = range(start, min(len(pieces), start + SNIPPET_WORDS))
        shown = " ".join(
            f"{HIGHLIGHT_START}{pieces[i]}{HIGHLIGHT_STOP}" if marked[i] else pieces[i]
            for i in window
        )
        return ("…" if start > 0 else "") + shown + ("…" if window.stop < len(pieces) else "")
    return None
