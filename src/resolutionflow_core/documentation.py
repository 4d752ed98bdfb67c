"""Documentation built from a session: the resolution note and the escalation package.

Plain text that reads well in any PSA ticket (ConnectWise, HaloPSA and Autotask all take
plain text notes). Built deterministically from the session, without the LLM, so a note is
always available the moment the session is resolved or escalated.

Assistant replies are read through the marker parser: their questions, actions and forks
appear as readable lists, never as the raw ``[ACTIONS]`` JSON the model wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolutionflow_core.chat import ConversationMessage, MessageRole
from resolutionflow_core.kinds import SessionType
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.markers import ParsedReply, parse_markers

if TYPE_CHECKING:  # the aggregate imports this module to build its notes
    from resolutionflow_core.session import Session

EXCERPT_CHARS = 300
"""How much of one message or answer a note quotes."""

MAX_LISTED = 12
"""How many findings a note lists before it says how many it left out."""


def resolution_note(session: Session) -> str:
    """Problem / What we confirmed / Root cause / Resolution.

    For an abandoned session, a closing note: it says the session was closed without a fix,
    and why when the engineer said.
    """
    if session.status == SessionStatus.ABANDONED:
        why = session.abandon_reason or "No reason was given."
        sections = [
            ("Problem", problem_statement(session)),
            ("What was tried", _bullets(findings(session)) or "Nothing recorded."),
            ("Closed without a fix", f"The session was abandoned. Reason: {why}"),
        ]
        return _document("Closing note", session, sections)
    sections = [
        ("Problem", problem_statement(session)),
        ("What we confirmed", _bullets(findings(session)) or "Nothing recorded."),
        ("Root cause", session.root_cause or "Not determined."),
        ("Resolution", session.resolution_summary or "Not recorded."),
    ]
    return _document("Resolution note", session, sections)


def escalation_package(session: Session) -> str:
    """Everything the next engineer needs to pick the session up without asking."""
    sections = [
        ("Problem", problem_statement(session)),
        ("Why it is escalated", session.escalation_reason or "Not given."),
        ("What was tried", _bullets(findings(session)) or "Nothing recorded yet."),
        ("Where it stands", _standing(session)),
    ]
    if session.psa_link is not None:
        snapshot = session.psa_link.snapshot
        ticket = f"{session.psa_link.provider} ticket {session.psa_link.ticket_id}"
        details = [ticket] + [
            f"{label}: {snapshot[key]}"
            for key, label in (("company", "Company"), ("contact", "Contact"), ("board", "Board"))
            if snapshot.get(key)
        ]
        sections.append(("Ticket", "\n".join(details)))
    return _document("Escalation package", session, sections)


def problem_statement(session: Session) -> str:
    """The best one-paragraph statement of the problem the session has."""
    text = session.problem_summary or session.title or session.intake_text
    return _excerpt(text, 1_000) if text else "Not described."


def steps_worked(session: Session) -> int:
    """How many troubleshooting steps the session has worked through: answered steps
    (guided) or the engineer's messages (chat). The one count every document and status
    update quotes, so the ticket note and the client's update never disagree."""
    if session.steps:
        return sum(1 for step in session.steps if step.response is not None)
    return sum(1 for message in session.conversation_messages if message.role == MessageRole.USER)


def steps_worked_phrase(session: Session) -> str:
    """`steps_worked` in words: "1 troubleshooting step", "3 troubleshooting steps"."""
    count = steps_worked(session)
    return f"{count} troubleshooting step{'' if count == 1 else 's'}"


def findings(session: Session) -> list[str]:
    """What the session established: answered steps (guided); in a chat, what the assistant
    suggested or asked (read from its markers) and what the engineer reported, in order."""
    if session.steps:
        items = [
            f"{step.content} → {step.response}"
            for step in session.steps
            if step.response is not None
        ]
    else:
        items = [item for m in session.conversation_messages for item in _chat_findings(m)]
    items = [_excerpt(item, EXCERPT_CHARS) for item in items]
    if len(items) > MAX_LISTED:
        left_out = len(items) - MAX_LISTED
        items = [*items[: MAX_LISTED // 2], f"(… {left_out} more …)", *items[-MAX_LISTED // 2 :]]
    return items


def _chat_findings(message: ConversationMessage) -> list[str]:
    if message.role == MessageRole.USER:
        return [f"Engineer: {message.content}"]
    return _structure(parse_markers(message.content))


def _structure(reply: ParsedReply) -> list[str]:
    """A reply's questions, actions and forks as readable one-line items."""
    items = [f"Assistant asked: {q.text}" for q in reply.questions]
    for action in reply.actions:
        item = f"Assistant suggested: {action.title}"
        if action.command:
            item += f" (command: {action.command})"
        items.append(item)
    for fork in reply.forks:
        options = " / ".join(option.label for option in fork.options)
        question = f"{fork.question} " if fork.question else ""
        items.append(f"Assistant offered a choice: {question}Options: {options}")
    return items


def _standing(session: Session) -> str:
    lines = []
    if session.problem_domain is not None:
        lines.append(f"Domain: {session.problem_domain}")
    if session.confidence_score is not None:
        lines.append(f"Confidence: {session.confidence_score:.0%} ({session.confidence_tier})")
    pending = session.pending_step
    unanswered = session.unanswered_step
    if pending is not None:
        content = _excerpt(pending.content, 500)
        lines.append(f"Open step {pending.number} ({pending.kind}): {content}")
    elif unanswered is not None:
        content = _excerpt(unanswered.content, 500)
        lines.append(
            f"Last step {unanswered.number} ({unanswered.kind}), left unanswered when the "
            f"session was {session.status}: {content}"
        )
    elif session.conversation_messages:
        last = session.conversation_messages[-1]
        lines.append(_last_message(last))
    lines.append(f"{steps_worked_phrase(session).capitalize()} worked through so far.")
    return "\n".join(lines)


def _last_message(message: ConversationMessage) -> str:
    if message.role == MessageRole.USER:
        return f"Last engineer message: {_excerpt(message.content, 500)}"
    reply = parse_markers(message.content)
    lines = [f"Last assistant message: {_excerpt(reply.text, 500) or '(lists only)'}"]
    lines += [f"- {_excerpt(item, EXCERPT_CHARS)}" for item in _structure(reply)]
    return "\n".join(lines)


def _document(heading: str, session: Session, sections: list[tuple[str, str]]) -> str:
    kind = "Guided session" if session.session_type == SessionType.GUIDED else "Chat session"
    lines = [f"{heading} — {kind} {session.id}", ""]
    for title, body in sections:
        lines += [f"{title}:", body, ""]
    return "\n".join(lines).rstrip() + "\n"


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
