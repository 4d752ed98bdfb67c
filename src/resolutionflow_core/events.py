"""Domain events: what changed in a session, recorded by the aggregate with every change.

The unit of work drains them when it commits; storage adapters write them to an outbox
in the same transaction, so the ones that must reach the PSA are never lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to a session; ``version`` is the session's version after it."""

    name: ClassVar[str] = "event"

    session_id: UUID
    account_id: str
    version: int
    occurred_at: datetime
    by: str | None
    """The user who made the change; ``None`` when the AI made it."""

    def payload(self) -> dict[str, Any]:
        """The event's own fields as JSON-safe values (for an outbox row or a log)."""
        base = {"session_id", "account_id", "version", "occurred_at", "by"}
        return {
            f.name: _json_safe(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in base
        }

    def to_record(self) -> dict[str, Any]:
        """The whole event as a JSON-safe dict with its ``name``."""
        return {
            "name": self.name,
            "session_id": str(self.session_id),
            "account_id": self.account_id,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "by": self.by,
            "payload": self.payload(),
        }


def _json_safe(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(DomainEvent):
    name: ClassVar[str] = "session.started"
    session_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageAdded(DomainEvent):
    name: ClassVar[str] = "session.message_added"
    role: str
    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StepAdded(DomainEvent):
    name: ClassVar[str] = "session.step_added"
    number: int
    kind: str
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StepAnswered(DomainEvent):
    name: ClassVar[str] = "session.step_answered"
    number: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescribed(DomainEvent):
    name: ClassVar[str] = "session.described"
    problem_summary: str
    problem_domain: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPaused(DomainEvent):
    name: ClassVar[str] = "session.paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResumed(DomainEvent):
    name: ClassVar[str] = "session.resumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResolved(DomainEvent):
    """Carries the resolution note as built at resolve time: due on the linked ticket."""

    name: ClassVar[str] = "session.resolved"
    resolution_summary: str
    resolution_note: str
    ticket_provider: str | None = None
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEscalated(DomainEvent):
    """Carries the escalation package as built at escalate time: it is due on the ticket."""

    name: ClassVar[str] = "session.escalated"
    reason: str
    escalation_package: str
    ticket_provider: str | None = None
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClaimed(DomainEvent):
    name: ClassVar[str] = "session.claimed"
    previous_owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionAbandoned(DomainEvent):
    name: ClassVar[str] = "session.abandoned"
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketLinked(DomainEvent):
    name: ClassVar[str] = "session.ticket_linked"
    provider: str
    ticket_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdateShared(DomainEvent):
    name: ClassVar[str] = "session.status_update_shared"
    audience: str
    length: str
    subject: str | None
    body: str
    ticket_provider: str | None = None
    ticket_id: str | None = None
