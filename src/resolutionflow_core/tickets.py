"""PSA tickets as the domain sees them, and the notes it posts to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class NoteKind(StrEnum):
    DETAIL = "detail"
    """A discussion note (ConnectWise ``detailDescriptionFlag``)."""
    INTERNAL = "internal"
    """Internal analysis, hidden from the client (``internalAnalysisFlag``)."""
    RESOLUTION = "resolution"
    """The customer-visible resolution (``resolutionFlag``)."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A PSA ticket as read at one moment."""

    provider: str
    ticket_id: str
    summary: str
    company: str | None = None
    contact: str | None = None
    board: str | None = None
    status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """The ticket as a JSON-safe dict, kept on the session at link time."""
        return {
            "summary": self.summary,
            "company": self.company,
            "contact": self.contact,
            "board": self.board,
            "status": self.status,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True, slots=True)
class PSALink:
    """The PSA ticket a session is linked to, with the ticket as it was when linked."""

    provider: str
    ticket_id: str
    snapshot: dict[str, Any]
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class PSANote:
    """A note to post on a ticket. ``marker`` is unique per note, so a re-post can be detected."""

    kind: NoteKind
    text: str
    marker: str
