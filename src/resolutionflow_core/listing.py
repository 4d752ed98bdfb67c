"""Listing sessions: the query, the rows it returns and keyset (cursor) pagination.

Order is newest activity first, ties broken by id, so a cursor is simply the
(last_activity_at, id) of the last row seen: deep pages cost what the first one does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from resolutionflow_core.errors import InvalidCursor, InvalidInput
from resolutionflow_core.guided import ConfidenceTier
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.session import ProblemDomain, Session, SessionType

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended."""

    last_activity_at: datetime
    session_id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.last_activity_at.isoformat(), str(self.session_id)])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            stamp, session_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            when = datetime.fromisoformat(stamp)
            if when.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(when, UUID(session_id))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor() from None

    def comes_before(self, last_activity_at: datetime, session_id: UUID) -> bool:
        """True if a row at (``last_activity_at``, ``session_id``) belongs after this cursor."""
        return (last_activity_at, session_id) < (self.last_activity_at, self.session_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionQuery:
    """Filters of the history list. ``None`` means "any"."""

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
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise InvalidInput("created_from", "must not be after created_to")

    def matches(self, row: SessionSummary) -> bool:
        """The filter as a predicate, for adapters that filter in Python (in-memory)."""
        return (
            row.account_id == self.account_id
            and (self.session_types is None or row.session_type in self.session_types)
            and (self.statuses is None or row.status in self.statuses)
            and (self.owner_id is None or row.user_id == self.owner_id)
            and (
                self.visible_to_user is None
                or row.user_id == self.visible_to_user
                or row.escalated_by == self.visible_to_user
                or row.status is SessionStatus.ESCALATED
            )
            and (self.created_from is None or row.created_at >= self.created_from)
            and (self.created_to is None or row.created_at <= self.created_to)
            and (self.cursor is None or self.cursor.comes_before(row.last_activity_at, row.id))
        )


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
        link = session.psa_link
        return cls(
            id=session.id,
            account_id=session.account_id,
            user_id=session.user_id,
            session_type=session.session_type,
            status=session.status,
            title=session.title,
            problem_summary=session.problem_summary,
            problem_domain=session.problem_domain,
            step_count=session.step_count,
            confidence_score=session.confidence_score,
            confidence_tier=session.confidence_tier,
            psa_provider=link.provider if link else None,
            psa_ticket_id=link.ticket_id if link else None,
            created_at=session.created_at,
            updated_at=session.updated_at,
            last_activity_at=session.last_activity_at,
            version=session.version,
            escalated_by=session.escalated_by,
        )


@dataclass(frozen=True, slots=True)
class SessionPage:
    items: list[SessionSummary]
    next_cursor: Cursor | None
    """Pass it back in the query for the next page; ``None`` on the last page."""


def page_of(rows: list[SessionSummary], limit: int) -> SessionPage:
    """A page from up to ``limit + 1`` ordered rows (the extra row says more exist)."""
    items = rows[:limit]
    more = len(rows) > limit
    cursor = Cursor(items[-1].last_activity_at, items[-1].id) if more and items else None
    return SessionPage(items, cursor)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What an engineer sees first: sessions open now, escalations to claim, recent ones."""

    active: list[SessionSummary]
    escalated: list[SessionSummary]
    recent: list[SessionSummary]
