"""The account's memory: a resolved session like the one starting ("solved before").

Kept on the new session (`Session.similar_sessions`) from the moment it starts, so every
LLM adapter finds the context in the session it already receives, and every entrypoint can
show "Solved before" links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

CONTEXT_CHARS = 600
"""How much of a resolution summary or root cause the LLM is given (each)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimilarSession:
    """A resolved session of the same account, found when another one started."""

    id: UUID
    session_type: str
    """``guided`` or ``chat`` (a plain string: this module sits below `session`)."""
    title: str
    """Its title, or for guided sessions its problem summary."""
    resolution_summary: str
    root_cause: str | None
    resolved_at: datetime | None
    user_id: str
    """The engineer who owned it when it was resolved."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "session_type": self.session_type,
            "title": self.title,
            "resolution_summary": self.resolution_summary,
            "root_cause": self.root_cause,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "user_id": self.user_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimilarSession:
        stamp = data.get("resolved_at")
        return cls(
            id=UUID(str(data["id"])),
            session_type=str(data["session_type"]),
            title=str(data.get("title") or ""),
            resolution_summary=str(data.get("resolution_summary") or ""),
            root_cause=data.get("root_cause"),
            resolved_at=datetime.fromisoformat(stamp) if stamp else None,
            user_id=str(data.get("user_id") or ""),
        )


def clipped(text: str | None, limit: int = CONTEXT_CHARS) -> str | None:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def context_lines(similar: tuple[SimilarSession, ...]) -> list[str]:
    """The solved-before sessions as the LLM sees them: resolution and root cause only,
    each bounded."""
    lines: list[str] = []
    for number, item in enumerate(similar, start=1):
        lines.append(f"{number}. Resolution: {clipped(item.resolution_summary)}")
        if item.root_cause:
            lines.append(f"   Root cause: {clipped(item.root_cause)}")
    return lines
