"""The chat strategy's values: messages and the title made from the first one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from resolutionflow_core.errors import ContentTooLarge, InvalidInput
from resolutionflow_core.usage import TokenUsage

MAX_MESSAGE_CHARS = 32_000
"""The longest message an engineer may send (about 8,000 tokens)."""

MAX_REPLY_CHARS = 200_000
"""The longest assistant reply the domain stores."""

TITLE_MAX_CHARS = 80
"""Titles fit a sidebar line; the column holds 255."""


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    """One message of a chat session's history (``conversation_messages``)."""

    role: MessageRole
    content: str
    created_at: datetime
    model: str | None = None
    usage: TokenUsage | None = None


def clean_message(content: str, *, field: str = "content", limit: int = MAX_MESSAGE_CHARS) -> str:
    """The message without surrounding blank space; refuses empty and oversized ones."""
    text = content.strip()
    if not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > limit:
        raise ContentTooLarge(field, len(text), limit)
    return text


def make_title(first_message: str, limit: int = TITLE_MAX_CHARS) -> str:
    """A title from the first message: one line, cut at a word boundary, ``…`` if cut."""
    words = first_message.split()
    line = " ".join(words)
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    boundary = cut.rfind(" ")
    if boundary > limit // 3:
        cut = cut[:boundary]
    return cut.rstrip(" .,;:-") + "…"
