"""Status updates the AI drafts for an audience, at a length."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from resolutionflow_core.errors import InvalidInput


class Audience(StrEnum):
    TICKET_NOTE = "ticket_note"
    """Technical, for the ticket."""
    CLIENT = "client"
    """Plain language, for the client's contact."""
    EMAIL = "email"
    """An email: subject line, body and sign-off."""


class UpdateLength(StrEnum):
    QUICK = "quick"
    DETAILED = "detailed"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdateDraft:
    """An update drafted by the LLM; ``subject`` is set for emails."""

    audience: Audience
    length: UpdateLength
    body: str
    subject: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "audience", Audience(self.audience))
        object.__setattr__(self, "length", UpdateLength(self.length))
        if not isinstance(self.body, str) or not self.body.strip():
            raise InvalidInput("body", "must not be blank")
        # Drafted by the LLM: NUL characters are dropped (no database stores them).
        object.__setattr__(self, "body", self.body.replace("\x00", ""))
        if self.subject is not None:
            object.__setattr__(self, "subject", self.subject.replace("\x00", ""))
