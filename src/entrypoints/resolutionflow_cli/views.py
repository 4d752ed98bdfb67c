"""The JSON that ``--json`` prints: plain dicts of the domain's values, snake_case names.

Times are ISO 8601 with their offset, ids are strings. No view holds a secret except
`new_key_view`, used once, by ``keys create``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from resolutionflow_core.chat import ConversationMessage, MessageRole
from resolutionflow_core.delivery import Delivery
from resolutionflow_core.guided import GuidedStep, tier_for
from resolutionflow_core.keys import ApiKey, NewKey
from resolutionflow_core.listing import SessionPage, SessionSummary
from resolutionflow_core.markers import ParsedReply, parse_markers
from resolutionflow_core.session import Session, SessionType
from resolutionflow_core.updates import StatusUpdateDraft
from resolutionflow_core.usage import TokenUsage

if TYPE_CHECKING:
    from resolutionflow_sqlalchemy import MigrationReport

Json = dict[str, Any]


def when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def summary_view(row: SessionSummary) -> Json:
    return {
        "id": str(row.id),
        "account_id": row.account_id,
        "user_id": row.user_id,
        "session_type": row.session_type.value,
        "status": row.status.value,
        "title": row.title,
        "display_title": row.display_title,
        "problem_summary": row.problem_summary,
        "problem_domain": row.problem_domain,
        "step_count": row.step_count,
        "confidence_score": row.confidence_score,
        "confidence_tier": row.confidence_tier,
        "psa_provider": row.psa_provider,
        "psa_ticket_id": row.psa_ticket_id,
        "created_at": when(row.created_at),
        "updated_at": when(row.updated_at),
        "last_activity_at": when(row.last_activity_at),
        "version": row.version,
    }


def page_view(page: SessionPage) -> Json:
    return {
        "items": [summary_view(row) for row in page.items],
        "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
    }


def session_view(session: Session) -> Json:
    """The whole session: its messages (markers parsed) or its steps."""
    link = session.psa_link
    view: Json = {
        "id": str(session.id),
        "account_id": session.account_id,
        "user_id": session.user_id,
        "session_type": session.session_type.value,
        "status": session.status.value,
        "title": session.title,
        "intake_type": session.intake_type.value,
        "intake_content": session.intake_content,
        "problem_summary": session.problem_summary,
        "problem_domain": session.problem_domain,
        "step_count": session.step_count,
        "confidence_score": session.confidence_score,
        "confidence_tier": session.confidence_tier,
        "matched_flow_id": session.matched_flow_id,
        "match_score": session.match_score,
        "resolution_summary": session.resolution_summary,
        "root_cause": session.root_cause,
        "escalation_reason": session.escalation_reason,
        "escalated_by": session.escalated_by,
        "abandon_reason": session.abandon_reason,
        "psa_link": None
        if link is None
        else {
            "provider": link.provider,
            "ticket_id": link.ticket_id,
            "snapshot": link.snapshot,
            "linked_at": when(link.linked_at),
        },
        "created_at": when(session.created_at),
        "updated_at": when(session.updated_at),
        "last_activity_at": when(session.last_activity_at),
        "paused_at": when(session.paused_at),
        "resolved_at": when(session.resolved_at),
        "escalated_at": when(session.escalated_at),
        "abandoned_at": when(session.abandoned_at),
        "version": session.version,
        "usage": usage_view(session.usage),
        "system_prompt_snapshot": session.system_prompt_snapshot,
    }
    if session.session_type is SessionType.CHAT:
        view["messages"] = [message_view(m) for m in session.conversation_messages]
    else:
        view["steps"] = [step_view(s) for s in session.steps]
    return view


def message_view(message: ConversationMessage) -> Json:
    """A message; an assistant's also as shown, with its markers parsed."""
    view: Json = {
        "role": message.role.value,
        "content": message.content,
        "created_at": when(message.created_at),
        "model": message.model,
    }
    if message.role is MessageRole.ASSISTANT:
        view["parsed"] = parsed_view(parse_markers(message.content))
    return view


def parsed_view(reply: ParsedReply) -> Json:
    return {
        "text": reply.text,
        "questions": [{"text": q.text, "why": q.why} for q in reply.questions],
        "actions": [
            {"title": a.title, "detail": a.detail, "command": a.command, "risk": a.risk}
            for a in reply.actions
        ],
        "forks": [
            {
                "question": f.question,
                "options": [{"label": o.label, "description": o.description} for o in f.options],
            }
            for f in reply.forks
        ],
    }


def step_view(step: GuidedStep) -> Json:
    return {
        "number": step.number,
        "kind": step.kind.value,
        "content": step.content,
        "options": [{"label": o.label, "description": o.description} for o in step.options],
        "reasoning": step.reasoning,
        "confidence": step.confidence,
        "confidence_tier": tier_for(step.confidence).value,
        "response": step.response,
        "created_at": when(step.created_at),
        "responded_at": when(step.responded_at),
    }


def usage_view(usage: TokenUsage) -> Json:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }


def delivery_view(delivery: Delivery) -> Json:
    """A note due on the linked ticket, and how its delivery stands."""
    due = delivery.due
    return {
        "note_kind": due.note.kind.value,
        "ticket_provider": due.ticket_provider,
        "ticket_id": due.ticket_id,
        "session_version": due.version,
        "ticket_change": due.change.value if due.change else None,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "next_attempt_at": when(delivery.next_attempt_at),
        "delivered_at": when(delivery.delivered_at),
        "psa_note_id": delivery.psa_note_id,
        "last_error": delivery.last_error,
    }


def draft_view(draft: StatusUpdateDraft) -> Json:
    return {
        "audience": draft.audience.value,
        "length": draft.length.value,
        "subject": draft.subject,
        "body": draft.body,
    }


def key_view(key: ApiKey) -> Json:
    """A stored key: never its secret (only a hash of it is stored anyway)."""
    return {
        "id": str(key.id),
        "prefix": key.prefix,
        "account_id": key.actor.account_id,
        "user_id": key.actor.user_id,
        "role": key.actor.role.value,
        "label": key.label,
        "created_at": when(key.created_at),
        "revoked_at": when(key.revoked_at),
        "active": key.is_active,
    }


def new_key_view(created: NewKey) -> Json:
    """A key just created, with its secret: printed this once, never again."""
    return {"key": key_view(created.key), "secret": created.secret}


def report_view(report: MigrationReport) -> Json:
    return {
        "total": report.total,
        "done": report.done,
        "migrated": report.migrated,
        "already_migrated": report.already_migrated,
        "not_migrated": [
            {"chat_id": str(chat.chat_id), "reason": chat.reason} for chat in report.not_migrated
        ],
        "refused_messages": [
            {"chat_id": str(m.chat_id), "index": m.index, "reason": m.reason}
            for m in report.refused_messages
        ],
    }
