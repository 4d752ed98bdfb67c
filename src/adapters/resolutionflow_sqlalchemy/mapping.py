"""Between rows and the domain: the only place that knows both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from resolutionflow_core.chat import ConversationMessage, MessageHistory, MessageRole
from resolutionflow_core.events import DomainEvent
from resolutionflow_core.guided import ConfidenceTier, GuidedStep, StepKind, StepOption
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import SessionSummary
from resolutionflow_core.session import IntakeType, ProblemDomain, Session, SessionType
from resolutionflow_core.similar import SimilarSession
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.usage import TokenUsage

SUMMARY_COLUMNS = (
    "id",
    "account_id",
    "user_id",
    "session_type",
    "status",
    "title",
    "problem_summary",
    "problem_domain",
    "step_count",
    "confidence_score",
    "confidence_tier",
    "psa_provider",
    "psa_ticket_id",
    "created_at",
    "updated_at",
    "last_activity_at",
    "version",
    "escalated_by",
)


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
    link = session.psa_link
    return {
        "id": session.id,
        "account_id": session.account_id,
        "user_id": session.user_id,
        "session_type": session.session_type.value,
        "title": session.title,
        "intake_type": session.intake_type.value,
        "intake_content": session.intake_content,
        "status": session.status.value,
        "problem_summary": session.problem_summary,
        "problem_domain": session.problem_domain.value if session.problem_domain else None,
        "step_count": session.step_count,
        "confidence_score": session.confidence_score,
        "confidence_tier": session.confidence_tier.value if session.confidence_tier else None,
        "matched_flow_id": session.matched_flow_id,
        "match_score": session.match_score,
        "system_prompt_snapshot": session.system_prompt_snapshot,
        "resolution_summary": session.resolution_summary,
        "root_cause": session.root_cause,
        "escalation_reason": session.escalation_reason,
        "escalated_by": session.escalated_by,
        "abandon_reason": session.abandon_reason,
        "psa_provider": link.provider if link else None,
        "psa_ticket_id": link.ticket_id if link else None,
        "psa_ticket_snapshot": link.snapshot if link else None,
        "psa_linked_at": link.linked_at if link else None,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "last_activity_at": session.last_activity_at,
        "paused_at": session.paused_at,
        "resolved_at": session.resolved_at,
        "escalated_at": session.escalated_at,
        "abandoned_at": session.abandoned_at,
        "version": session.version,
        "similar_sessions": [s.to_json() for s in session.similar_sessions] or None,
    }


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
    row: Any, steps: list[GuidedStep], former_owner_ids: list[str] | None = None
) -> Session:
    link = None
    if row.psa_provider is not None and row.psa_ticket_id is not None:
        link = PSALink(
            row.psa_provider,
            row.psa_ticket_id,
            row.psa_ticket_snapshot or {},
            row.psa_linked_at or row.updated_at,
        )
    created_at = row.created_at
    return Session(
        id=row.id,
        account_id=row.account_id,
        user_id=row.user_id,
        session_type=SessionType(row.session_type),
        intake_type=IntakeType(row.intake_type),
        intake_content=row.intake_content,
        created_at=created_at,
        updated_at=row.updated_at,
        last_activity_at=row.last_activity_at,
        status=SessionStatus(row.status),
        title=row.title,
        conversation_messages=history_from_json(row.conversation_messages, created_at),
        steps=steps,
        problem_summary=row.problem_summary,
        problem_domain=ProblemDomain(row.problem_domain) if row.problem_domain else None,
        confidence_score=row.confidence_score,
        matched_flow_id=row.matched_flow_id,
        match_score=row.match_score,
        system_prompt_snapshot=row.system_prompt_snapshot,
        resolution_summary=row.resolution_summary,
        root_cause=row.root_cause,
        escalation_reason=row.escalation_reason,
        escalated_by=row.escalated_by,
        former_owner_ids=former_owner_ids or [],
        abandon_reason=row.abandon_reason,
        psa_link=link,
        paused_at=row.paused_at,
        resolved_at=row.resolved_at,
        escalated_at=row.escalated_at,
        abandoned_at=row.abandoned_at,
        version=row.version,
        similar_sessions=tuple(SimilarSession.from_json(s) for s in row.similar_sessions or ()),
    )


def summary_from_row(row: Any) -> SessionSummary:
    return SessionSummary(
        id=row.id,
        account_id=row.account_id,
        user_id=row.user_id,
        session_type=SessionType(row.session_type),
        status=SessionStatus(row.status),
        title=row.title,
        problem_summary=row.problem_summary,
        problem_domain=ProblemDomain(row.problem_domain) if row.problem_domain else None,
        step_count=row.step_count,
        confidence_score=row.confidence_score,
        confidence_tier=ConfidenceTier(row.confidence_tier) if row.confidence_tier else None,
        psa_provider=row.psa_provider,
        psa_ticket_id=row.psa_ticket_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_activity_at=row.last_activity_at,
        version=row.version,
        escalated_by=row.escalated_by,
    )
