"""The chat strategy's values: messages and the title made from the first one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, overload

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


class MessageHistory(Sequence[ConversationMessage]):
    """A chat's history: append-only, so a message once stored never changes or moves.

    Storage adapters may hand over the stored form and a decoder: a message is decoded
    the first time it is read, so a chat turn that only appends never decodes (or
    re-validates) the whole history.
    """

    __slots__ = ("_decode", "_items", "_missing", "_stored")

    def __init__(self, messages: Iterable[ConversationMessage] = ()) -> None:
        self._items: list[ConversationMessage | None] = list(messages)
        self._stored: Sequence[Any] = ()
        self._decode: Callable[[Any], ConversationMessage] | None = None
        self._missing = 0
        """How many stored messages are not decoded yet (0: ``_items`` is complete)."""

    @classmethod
    def decoded_lazily(
        cls, stored: Sequence[Any], decode: Callable[[Any], ConversationMessage]
    ) -> MessageHistory:
        """A history of ``stored`` messages, each decoded with ``decode`` when first read."""
        history = cls()
        history._items = [None] * len(stored)
        history._stored = stored
        history._decode = decode
        history._missing = len(stored)
        return history

    def append(self, message: ConversationMessage) -> None:
        self._items.append(message)

    def copy(self) -> MessageHistory:
        """An independent history sharing the (immutable) messages decoded so far."""
        history = MessageHistory()
        history._items = list(self._items)
        history._stored = self._stored
        history._decode = self._decode
        history._missing = self._missing
        return history

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> ConversationMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[ConversationMessage]: ...

    def __getitem__(self, index: int | slice) -> ConversationMessage | list[ConversationMessage]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self._items)))]
        if index < 0:
            index += len(self._items)
        if not 0 <= index < len(self._items):
            raise IndexError("message index out of range")
        return self._at(index)

    def __iter__(self) -> Iterator[ConversationMessage]:
        return iter(self._decoded())

    def __reversed__(self) -> Iterator[ConversationMessage]:
        return reversed(self._decoded())

    def _decoded(self) -> list[ConversationMessage]:
        """Every message, decoded in one pass the first time the whole history is read
        (a reader that walks it once walks it again: the offline LLM, the caller)."""
        if self._missing:
            decode, stored, items = self._decode, self._stored, self._items
            assert decode is not None  # only stored messages are missing
            for index, item in enumerate(items):
                if item is None:
                    items[index] = decode(stored[index])
            self._missing = 0
        return self._items  # type: ignore[return-value]  # complete: no None left

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MessageHistory({len(self)} messages)"

    def _at(self, index: int) -> ConversationMessage:
        item = self._items[index]
        if item is None:
            assert self._decode is not None  # only stored messages are missing
            item = self._items[index] = self._decode(self._stored[index])
            self._missing -= 1
        return item


def without_nul(text: str) -> str:
    """Text without NUL characters, which no database column should get (PostgreSQL refuses
    them): for what the LLM writes, where refusing would lose a reply."""
    return text.replace("\x00", "")


def clean_message(content: str, *, field: str = "content", limit: int = MAX_MESSAGE_CHARS) -> str:
    """The message without surrounding blank space; refuses empty and oversized ones, and
    NUL characters (a person never means to send one)."""
    text = content.strip()
    if "\x00" in text:
        raise InvalidInput(field, "must not contain NUL (U+0000) characters")
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
