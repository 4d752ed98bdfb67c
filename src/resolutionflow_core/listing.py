"""Listing sessions: the query, the rows it returns and keyset (cursor) pagination.

Order is newest activity first, ties broken by id, so a cursor is simply the
(last_activity_at, id) of the last row seen: deep pages cost what the first one does.
A cursor also remembers the filters of the query it belongs to: used with other filters it
is refused (`CursorMismatch`), so a next page never silently drops a filter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, TypedDict, Unpack
from uuid import UUID

from resolutionflow_core.access import Actor
from resolutionflow_core.errors import CursorMismatch, E, InvalidCursor, InvalidInput, enum_value
from resolutionflow_core.guided import ConfidenceTier
from resolutionflow_core.kinds import ProblemDomain, SessionType
from resolutionflow_core.lifecycle import SessionStatus

if TYPE_CHECKING:  # a summary is made from a session; listing needs not load the aggregate
    from resolutionflow_core.session import Session

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


def parse_moment(value: str, field: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware moment: without an offset it is UTC, and a
    date alone is the start of that day (or its last moment, for an inclusive end)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            field, f"expected a date (2026-11-01) or a date-time (2026-11-01T09:30), got {value!r}"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # near year 1 or 9999, an offset takes it off the calendar in UTC
        return datetime.min.replace(tzinfo=UTC) if moment.year == 1 else _LAST_MOMENT


_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended, and the fingerprint of the query it belongs to."""

    last_activity_at: datetime
    session_id: UUID
    query: str | None = None
    """`SessionQuery.fingerprint` of the query that issued it (``None``: any query)."""

    def encode(self) -> str:
        parts = [self.last_activity_at.isoformat(), str(self.session_id)]
        if self.query is not None:
            parts.append(self.query)
        raw = json.dumps(parts)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(parts, list) or len(parts) not in (2, 3):
                raise ValueError("not a cursor")
            stamp, session_id, *query = parts
            when = datetime.fromisoformat(stamp)
            if when.tzinfo is None:
                raise ValueError("naive timestamp")
            fingerprint = query[0] if query else None
            if fingerprint is not None and not isinstance(fingerprint, str):
                raise ValueError("not a fingerprint")
            return cls(when, UUID(session_id), fingerprint)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor() from None

    def comes_before(self, last_activity_at: datetime, session_id: UUID) -> bool:
        """True if a row at (``last_activity_at``, ``session_id``) belongs after this cursor."""
        return (last_activity_at, session_id) < (self.last_activity_at, self.session_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionQuery:
    """Filters of the history list. ``None`` means "any". A reversed creation range
    (``created_from`` after ``created_to``) matches nothing: an empty page, not an error."""

    account_id: str
    session_types: frozenset[SessionType] | None = None
    statuses: frozenset[SessionStatus] | None = None
    owner_id: str | None = None
    visible_to_user: str | None = None
    """Only the sessions this user owns or escalated, plus the account's escalated ones
    (engineers)."""
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
        if self.cursor is not None and self.cursor.query not in (None, self.fingerprint):
            raise CursorMismatch()

    @property
    def fingerprint(self) -> str:
        """The filters, hashed: what a cursor of this query remembers (not the page size)."""

        def names(values: Iterable[str] | None) -> list[str] | None:
            return None if values is None else sorted(str(v) for v in values)

        def moment(value: datetime | None) -> str | None:
            return None if value is None else value.astimezone(UTC).isoformat()

        filters = [
            self.account_id,
            names(self.session_types),
            names(self.statuses),
            self.owner_id,
            self.visible_to_user,
            moment(self.created_from),
            moment(self.created_to),
        ]
        digest = hashlib.sha256(json.dumps(filters).encode()).hexdigest()
        return digest[:16]

    def matches(self, row: SessionSummary, *, former_owners: Collection[str] = ()) -> bool:
        """The filter as a predicate, for adapters that filter in Python (in-memory).

        ``former_owners`` are the session's ``former_owner_ids`` (kept off the summary).
        """
        return (
            row.account_id == self.account_id
            and (self.session_types is None or row.session_type in self.session_types)
            and (self.statuses is None or row.status in self.statuses)
            and (self.owner_id is None or row.user_id == self.owner_id)
            and (
                self.visible_to_user is None
                or row.user_id == self.visible_to_user
                or row.escalated_by == self.visible_to_user
                or self.visible_to_user in former_owners
                or row.status is SessionStatus.ESCALATED
            )
            and (self.created_from is None or row.created_at >= self.created_from)
            and (self.created_to is None or row.created_at <= self.created_to)
            and (self.cursor is None or self.cursor.comes_before(row.last_activity_at, row.id))
        )


class SessionFilters(TypedDict, total=False):
    """The filters and page of the history and of the search, declared once: the keywords
    `SessionService.list` and `.search` take (and `history_query`, `search_query`), the
    value the API, the CLI and the web app build from their parameters. Types and
    statuses are the enums or their values; left out, a filter is not applied."""

    session_types: Iterable[SessionType | str] | None
    statuses: Iterable[SessionStatus | str] | None
    owner_id: str | None
    created_from: datetime | None
    created_to: datetime | None
    limit: int
    """Rows per page; `DEFAULT_PAGE_SIZE` when left out."""
    cursor: str | None
    """The ``next_cursor`` of the previous page, encoded."""


def history_query(actor: Actor, **filters: Unpack[SessionFilters]) -> SessionQuery:
    """The history ``actor`` may read with these filters: their account, only what they may
    open. Types and statuses are the enums or their values; anything else is `InvalidInput`.
    The one place the list and the search turn filters into a query."""
    if unknown := filters.keys() - SessionFilters.__optional_keys__:  # as a signature would
        raise TypeError(f"history_query() got unexpected filters: {', '.join(sorted(unknown))}")
    cursor = filters.get("cursor")
    return SessionQuery(
        account_id=actor.account_id,
        session_types=_enum_set(SessionType, filters.get("session_types"), "session_type"),
        statuses=_enum_set(SessionStatus, filters.get("statuses"), "status"),
        owner_id=filters.get("owner_id"),
        visible_to_user=None if actor.sees_whole_account else actor.user_id,
        created_from=filters.get("created_from"),
        created_to=filters.get("created_to"),
        limit=filters.get("limit", DEFAULT_PAGE_SIZE),
        cursor=Cursor.decode(cursor) if cursor else None,
    )


def _enum_set(
    enum_type: type[E], values: Iterable[object] | None, field: str
) -> frozenset[E] | None:
    if values is None:
        return None
    if isinstance(values, str):  # one value, not its characters
        values = [values]
    return frozenset(enum_value(enum_type, value, field) for value in values)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSummary:
    """One row of the history: everything but the messages and steps."""

    id: UUID
    account_id: str
    user_id: str
    session_type: SessionType
    status: SessionStatus
    title: str | None
    problem_summary: str | None
    problem_domain: ProblemDomain | None
    step_count: int
    confidence_score: float | None
    confidence_tier: ConfidenceTier | None
    psa_provider: str | None
    psa_ticket_id: str | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    version: int
    escalated_by: str | None = None
    """Who escalated the session last (they keep read access after a claim)."""

    @property
    def display_title(self) -> str:
        """The title, or for guided sessions the problem summary."""
        return self.title or self.problem_summary or "Untitled session"

    @classmethod
    def of(cls, session: Session) -> SessionSummary:
        """The session's row: its attributes of the same names (the fields are listed once,
        above), and the linked ticket's provider and id."""
        link = session.psa_link
        return cls(
            **{name: getattr(session, name) for name in _SESSION_FIELDS},
            psa_provider=link.provider if link else None,
            psa_ticket_id=link.ticket_id if link else None,
        )


_SESSION_FIELDS = tuple(
    f.name for f in fields(SessionSummary) if f.name not in ("psa_provider", "psa_ticket_id")
)
"""The summary's fields read off the session as they are (the ticket's are its link's)."""


@dataclass(frozen=True, slots=True)
class SessionPage:
    items: list[SessionSummary]
    next_cursor: Cursor | None
    """Pass it back in the query for the next page; ``None`` on the last page."""

    def of_query(self, query: SessionQuery) -> SessionPage:
        """The page with its cursor bound to ``query``'s filters."""
        if self.next_cursor is None:
            return self
        return SessionPage(self.items, replace(self.next_cursor, query=query.fingerprint))


def page_of(rows: list[SessionSummary], limit: int) -> SessionPage:
    """A page from up to ``limit + 1`` ordered rows (the extra row says more exist)."""
    items = rows[:limit]
    more = len(rows) > limit
    cursor = Cursor(items[-1].last_activity_at, items[-1].id) if more and items else None
    return SessionPage(items, cursor)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What an engineer sees first: sessions open now, escalations to claim, and recently
    closed ones (resolved or abandoned; an escalated session is under ``escalated`` only)."""

    active: list[SessionSummary]
    escalated: list[SessionSummary]
    recent: list[SessionSummary]
