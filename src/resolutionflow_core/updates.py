"""Status updates the AI drafts for an audience, at a length."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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


class StatusUpdateDraft(BaseModel):
    """An update drafted by the LLM; ``subject`` is set for emails."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    audience: Audience
    length: UpdateLength
    body: str = Field(min_length=1)
    subject: str | None = None
