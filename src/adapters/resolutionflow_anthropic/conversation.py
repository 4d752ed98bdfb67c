"""A session as Messages API messages: the chat history, the guided steps, a transcript.

The API wants turns that alternate and start with the user, and (on current models) end
with the user. A chat history may hold two user messages in a row (the engineer wrote
again after a failed reply): consecutive turns of one role are merged into one message,
each original message kept as its own text block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final, Literal

from anthropic.types import (
    AssistantMessageParam,
    MessageParam,
    TextBlockParam,
    UserMessageParam,
)

from resolutionflow_anthropic.solved_before import solved_before_context
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.guided import GuidedStep
from resolutionflow_core.session import Session, SessionType

Role = Literal["user", "assistant"]

EXCERPT_CHARS: Final = 2_000
"""How much of one message or answer a transcript quotes."""

STARTS_WITH_ASSISTANT: Final = "(The conversation so far starts with the assistant's message.)"
NEXT_STEP: Final = "Propose the next step."


def chat_messages(session: Session) -> list[MessageParam]:
    """The chat history, merged, the PSA ticket (if linked) before the first message."""
    turns: list[tuple[Role, str]] = [
        ("user" if m.role is MessageRole.USER else "assistant", m.content)
        for m in session.conversation_messages
    ]
    context = ticket_context(session)
    if context is not None:
        turns.insert(0, ("user", context))
    memory = solved_before_context(session)
    if memory is not None:
        turns.insert(0, ("user", memory))
    return merged(turns, cache_last=True)


def guided_messages(session: Session) -> list[MessageParam]:
    """The intake, then each step (as the JSON the model answered) and its answer."""
    turns: list[tuple[Role, str]] = [("user", intake_text(session))]
    memory = solved_before_context(session)
    if memory is not None:
        turns.insert(0, ("user", memory))
    for step in session.steps:
        turns.append(("assistant", step_json(step)))
        if step.response is not None:
            turns.append(("user", f"Answer to step {step.number}: {step.response}"))
    turns.append(("user", NEXT_STEP))
    return merged(turns, cache_last=True)


def merged(turns: Iterable[tuple[Role, str]], *, cache_last: bool = False) -> list[MessageParam]:
    """Alternating messages starting with the user; same-role neighbours become one message.

    ``cache_last`` puts ``cache_control`` on the last block, so the next request reads the
    conversation up to here from the prompt cache.
    """
    grouped: list[tuple[Role, list[TextBlockParam]]] = []
    for role, text in turns:
        if not text.strip():
            continue
        block: TextBlockParam = {"type": "text", "text": text}
        if grouped and grouped[-1][0] == role:
            grouped[-1][1].append(block)
        else:
            grouped.append((role, [block]))
    if grouped and grouped[0][0] == "assistant":
        grouped.insert(0, ("user", [{"type": "text", "text": STARTS_WITH_ASSISTANT}]))
    if cache_last and grouped:
        grouped[-1][1][-1]["cache_control"] = {"type": "ephemeral"}
    return [_message(role, blocks) for role, blocks in grouped]


def user_message(text: str) -> MessageParam:
    return _message("user", [{"type": "text", "text": text}])


def _message(role: Role, blocks: list[TextBlockParam]) -> MessageParam:
    if role == "user":
        return UserMessageParam(role="user", content=blocks)
    return AssistantMessageParam(role="assistant", content=blocks)


def transcript(session: Session, *, first: int | None = None, recent: int | None = None) -> str:
    """The session as text: what is known, the intake or ticket, then messages or steps.

    ``first`` keeps only the first messages or steps; ``recent`` keeps the last ones (and
    the first two), saying how many it left out.
    """
    lines = [f"Session type: {session.session_type}", f"Status: {session.status}"]
    known = (
        ("Title", session.title),
        ("Problem summary", session.problem_summary),
        ("Domain", session.problem_domain),
        (
            "Confidence",
            None
            if session.confidence_score is None
            else f"{session.confidence_score:.0%} ({session.confidence_tier})",
        ),
        ("Resolution summary", session.resolution_summary),
        ("Root cause", session.root_cause),
        ("Escalation reason", session.escalation_reason),
    )
    lines += [f"{label}: {value}" for label, value in known if value]
    context = ticket_context(session)
    if context is not None:
        lines.append(context)
    entries: list[str] = []
    if session.session_type is SessionType.GUIDED:
        entries.append(intake_text(session))
        for step in session.steps:
            entry = f"Step {step.number} ({step.kind}): {_excerpt(step.content)}"
            if step.response is not None:
                entry += f"\nEngineer's answer: {_excerpt(step.response)}"
            entries.append(entry)
    else:
        for message in session.conversation_messages:
            who = "Engineer" if message.role is MessageRole.USER else "Assistant"
            entries.append(f"{who}: {_excerpt(message.content)}")
    if first is not None:
        entries = entries[:first]
    elif recent is not None and len(entries) > recent + 2:
        left_out = len(entries) - recent - 2
        entries = [*entries[:2], f"(… {left_out} more …)", *entries[-recent:]]
    return "\n\n".join(["\n".join(lines), *entries])


def ticket_context(session: Session) -> str | None:
    """The linked PSA ticket as it was when linked, or None."""
    link = session.psa_link
    if link is None:
        return None
    snapshot = link.snapshot
    details = [
        f"{label}: {snapshot[key]}"
        for key, label in (
            ("company", "company"),
            ("contact", "contact"),
            ("board", "board"),
            ("status", "ticket status"),
        )
        if snapshot.get(key)
    ]
    head = f"PSA ticket {link.provider} #{link.ticket_id}: {snapshot.get('summary') or ''}".strip()
    return head + (f" ({'; '.join(details)})" if details else "")


def intake_text(session: Session) -> str:
    """The intake as the engineer gave it, whatever its type."""
    lines = [f"Intake ({session.intake_type}):"]
    for key, value in session.intake_content.items():
        if isinstance(value, str):
            lines.append(f"{key}: {value}")
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    return "\n".join(lines)


def step_json(step: GuidedStep) -> str:
    """A step as the structured answer that proposed it."""
    data: dict[str, object] = {
        "kind": step.kind.value,
        "content": step.content,
        "options": [
            {"label": o.label, **({"description": o.description} if o.description else {})}
            for o in step.options
        ],
        "reasoning": step.reasoning or "",
        "confidence": step.confidence,
    }
    return json.dumps(data, ensure_ascii=False)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"
