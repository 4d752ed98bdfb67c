"""Between rows and the domain: the only place that knows both."""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any, get_args, get_type_hints

from resolutionflow_core.chat import ConversationMessage, MessageHistory, MessageRole
from resolutionflow_core.events import DomainEvent
from resolutionflow_core.guided import GuidedStep, StepKind, StepOption
from resolutionflow_core.listing import SessionSummary
from resolutionflow_core.session import Session
from resolutionflow_core.similar import SimilarSession
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.usage import TokenUsage
from resolutionflow_sqlalchemy.tables import LAST_APPEND, ai_sessions

SUMMARY_COLUMNS = tuple(f.name for f in fields(SessionSummary))
"""The ``ai_sessions`` columns of a history row: `SessionSummary`'s fields, same names."""


def _from_column(hint: Any) -> Callable[[Any], Any] | None:
    """How a column's value becomes the field's (hint: its resolved type): an enumeration
    from its value; None (as stored) for everything else."""
    kinds = [kind for kind in get_args(hint) if kind is not type(None)] or [hint]
    if len(kinds) == 1 and isinstance(kinds[0], type) and issubclass(kinds[0], Enum):
        kind = kinds[0]
        return lambda value: None if value is None else kind(value)
    return None


def _readers(cls: type, names: Collection[str]) -> tuple[tuple[str, Any], ...]:
    hints = get_type_hints(cls)
    return tuple((name, _from_column(hints[name])) for name in names)


_SESSION_FIELDS = {f.name for f in fields(Session)}
_COMPOSITE_COLUMNS = frozenset(
    {
        "conversation_messages",  # the history: `history_from_json`, `message_to_json`
        "similar_sessions",  # `SimilarSession`s as JSON
        "psa_provider",  # the four psa_* columns are `Session.psa_link`
        "psa_ticket_id",
        "psa_ticket_snapshot",
        "psa_linked_at",
        LAST_APPEND,  # the storage's own (the search index's), not the session's
    }
)
_PLAIN_COLUMNS = tuple(
    column.name for column in ai_sessions.c if column.name not in _COMPOSITE_COLUMNS
)
"""Columns holding the session attribute of the same name (a field, or a property such as
``step_count`` that is stored for queries and not read back), enumerations by value."""
_plain_values = operator.attrgetter(*_PLAIN_COLUMNS)
"""The plain columns' attributes of a session, at C speed (a write and its diff read them)."""
_SESSION_READERS = _readers(Session, [n for n in _PLAIN_COLUMNS if n in _SESSION_FIELDS])
_SUMMARY_READERS = _readers(SessionSummary, SUMMARY_COLUMNS)


def usage_to_json(usage: TokenUsage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }


def usage_from_json(data: Any) -> TokenUsage | None:
    if not isinstance(data, dict):
        return None
    return TokenUsage(
        int(data.get("input_tokens", 0)),
        int(data.get("output_tokens", 0)),
        int(data.get("cache_read_tokens", 0)),
        int(data.get("cache_write_tokens", 0)),
    )


def message_to_json(message: ConversationMessage) -> dict[str, Any]:
    """One element of ``conversation_messages``: ``{role, content, created_at, …}``."""
    data: dict[str, Any] = {
        "role": message.role.value,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }
    if message.model is not None:
        data["model"] = message.model
    if message.usage is not None:
        data["usage"] = usage_to_json(message.usage)
    return data


_ROLES = {role.value: role for role in MessageRole}


def message_from_json(data: dict[str, Any], default_time: datetime) -> ConversationMessage:
    """Tolerates what other writers of the column store (e.g. no ``created_at``)."""
    stamp = data.get("created_at")
    usage = data.get("usage")
    return ConversationMessage(
        _ROLES.get(data["role"]) or MessageRole(data["role"]),
        data["content"],
        datetime.fromisoformat(stamp) if stamp else default_time,
        data.get("model"),
        None if usage is None else usage_from_json(usage),
    )


def history_from_json(
    stored: list[dict[str, Any]] | None, default_time: datetime
) -> MessageHistory:
    """The history as stored; each message is decoded when first read."""
    return MessageHistory.decoded_lazily(
        stored or [], lambda data: message_from_json(data, default_time)
    )


def stored_chars(stored: list[dict[str, Any]] | None) -> int:
    """The characters of the stored messages' text, read without decoding them."""
    return sum(
        len(content)
        for message in stored or ()
        if isinstance(message, dict) and isinstance(content := message.get("content"), str)
    )


def outbox_values(event: DomainEvent) -> dict[str, Any]:
    """The ``session_outbox`` row of a domain event."""
    return {
        "session_id": event.session_id,
        "account_id": event.account_id,
        "version": event.version,
        "event_name": event.name,
        "payload": event.payload(),
        "occurred_at": event.occurred_at,
    }


def session_values(session: Session) -> dict[str, Any]:
    """The ``ai_sessions`` columns of a session, but for ``conversation_messages``."""
    values = {
        name: _stored(value)
        for name, value in zip(_PLAIN_COLUMNS, _plain_values(session), strict=True)
    }
    link = session.psa_link
    values["psa_provider"] = link.provider if link else None
    values["psa_ticket_id"] = link.ticket_id if link else None
    values["psa_ticket_snapshot"] = link.snapshot if link else None
    values["psa_linked_at"] = link.linked_at if link else None
    values["similar_sessions"] = [s.to_json() for s in session.similar_sessions] or None
    return values


def _stored(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def step_values(session: Session, step: GuidedStep) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "number": step.number,
        "kind": step.kind.value,
        "content": step.content,
        "options": [
            {"label": o.label}
            if o.description is None
            else {"label": o.label, "description": o.description}
            for o in step.options
        ],
        "reasoning": step.reasoning,
        "confidence": step.confidence,
        "response": step.response,
        "usage": usage_to_json(step.usage),
        "created_at": step.created_at,
        "responded_at": step.responded_at,
    }


def _option_json(option: StepOption) -> dict[str, str]:
    if option.description is None:
        return {"label": option.label}
    return {"label": option.label, "description": option.description}


def step_from_row(row: Any) -> GuidedStep:
    return GuidedStep(
        number=row.number,
        kind=StepKind(row.kind),
        content=row.content,
        options=tuple(StepOption(o["label"], o.get("description")) for o in row.options),
        reasoning=row.reasoning,
        confidence=row.confidence,
        created_at=row.created_at,
        response=row.response,
        responded_at=row.responded_at,
        usage=usage_from_json(row.usage),
    )


def session_from_row(
    row: Any,
    steps: list[GuidedStep],
    former_owner_ids: list[str] | None = None,
    history: MessageHistory | None = None,
) -> Session:
    """The session of an ``ai_sessions`` row; its history decoded from the row's, or
    ``history`` (a copy of one already decoded at this version, `storage.HistoryCache`)."""
    link = None
    if row.psa_provider is not None and row.psa_ticket_id is not None:
        link = PSALink(
            row.psa_provider,
            row.psa_ticket_id,
            row.psa_ticket_snapshot or {},
            row.psa_linked_at or row.updated_at,
        )
    return Session(
        **_read(row, _SESSION_READERS),
        conversation_messages=history_from_json(row.conversation_messages, row.created_at)
        if history is None
        else history,
        steps=steps,
        former_owner_ids=former_owner_ids or [],
        psa_link=link,
        similar_sessions=tuple(SimilarSession.from_json(s) for s in row.similar_sessions or ()),
    )


def summary_from_row(row: Any) -> SessionSummary:
    return SessionSummary(**_read(row, _SUMMARY_READERS))


def _read(row: Any, readers: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {
        name: value if convert is None else convert(value)
        for name, convert in readers
        for value in (getattr(row, name),)
    }
