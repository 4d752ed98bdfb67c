"""An offline, deterministic LLM: scripted troubleshooting for demos and tests, no network.

`OfflineLLM` implements the `LLM` port on top of the scripted content of
`resolutionflow_memory.playbooks` (domain keywords, per-domain playbooks, the guided script);
this module reads the session and builds the texts: chat replies, guided steps, descriptions
and status updates. Everything it writes is labelled as offline (``[offline assistant]``,
``model="offline"``). The same session state always gives the same output: no randomness, no
clock, no I/O.

- The problem domain comes from keywords of the intake and the first messages.
- Guided sessions follow a short per-domain script (two questions, an action, a fork, a
  second action, a resolution suggestion) chosen by the number of answered steps; confidence
  rises with every step (0.25 → 0.45 → 0.6 → 0.75 → 0.85 → 0.92) and never passes 0.95.
  An answer saying it worked ("Done, it worked", "fixed", "yes, resolved") jumps to the
  resolution suggestion; after the script it keeps suggesting to resolve or escalate.
- Chat replies ask questions first, then suggest actions, then offer a fork, each as an
  assistant marker block (`render_markers`), so the marker parser finds them.

For tests of the services, `fail_next_calls` makes the next calls raise an `LLMError`,
optionally part-way through a stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from resolutionflow_core import documentation
from resolutionflow_core.chat import MessageRole, make_title
from resolutionflow_core.errors import LLMError, LLMUnavailable
from resolutionflow_core.guided import ProposedStep, StepKind, StepOption
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.markers import Action, ParsedReply, parse_markers, render_markers
from resolutionflow_core.ports import (
    AssistantReply,
    ReplyCompleted,
    ReplyEvent,
    SessionDescription,
    StepProposal,
    TextDelta,
)
from resolutionflow_core.session import ProblemDomain, Session, SessionType
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from resolutionflow_core.usage import TokenUsage
from resolutionflow_memory.playbooks import (
    PLAYBOOKS,
    detect_domain,
    domain_hits,
    says_it_worked,
    script_of,
    wrap_up,
)

MODEL: Final = "offline"
LABEL: Final = "[offline assistant]"
FOOTER: Final = "— Drafted by the offline assistant (scripted, no AI model was used)."

CONFIDENCE_SCHEDULE: Final = (0.25, 0.45, 0.6, 0.75, 0.85, 0.92)
"""Confidence of each scripted step, crossing the tier thresholds 0.4 and 0.8."""

MAX_CONFIDENCE: Final = 0.95
"""The offline assistant is never certain."""

SUMMARY_CHARS: Final = 200
WORDS_PER_DELTA: Final = 4

# -- the adapter ------------------------------------------------------------------------


@dataclass(slots=True)
class _Failures:
    remaining: int = 0
    error: LLMError | None = None
    after_deltas: int = 0


class OfflineLLM:
    """The `LLM` port without a model: scripted, deterministic, clearly labelled offline.

    ``chunk_delay`` (seconds) slows streamed deltas down for demos; by default a stream only
    yields control between deltas.
    """

    def __init__(self, *, chunk_delay: float = 0.0) -> None:
        self._chunk_delay = chunk_delay
        self._failures = _Failures()
        self._calls: list[str] = []

    @property
    def calls(self) -> tuple[str, ...]:
        """The port methods called so far, in order (``"chat_reply"``, ``"next_step"``...)."""
        return tuple(self._calls)

    def fail_next_calls(
        self, count: int, error: LLMError | None = None, *, after_deltas: int = 0
    ) -> None:
        """Make the next ``count`` calls raise ``error`` (`LLMUnavailable` by default).

        Every async port method counts as a call; a failing stream first yields
        ``after_deltas`` deltas (at most all of them, never the `ReplyCompleted`).
        """
        self._failures = _Failures(
            remaining=count,
            error=error or LLMUnavailable("offline assistant: injected failure"),
            after_deltas=after_deltas,
        )

    # -- the port -------------------------------------------------------------------------

    def system_prompt(self, session_type: SessionType) -> str:
        common = (
            "You are ResolutionFlow's OFFLINE assistant: scripted and deterministic, no AI "
            "model and no network (for demos and tests). You help MSP engineers troubleshoot "
            "their clients' IT problems."
        )
        if session_type is SessionType.GUIDED:
            return (
                f"{common} Guide the engineer one question or action at a time, with a "
                "confidence that rises as the cause narrows, and end with a resolution "
                "suggestion."
            )
        return (
            f"{common} Answer the chat; put questions in [QUESTIONS], suggested actions in "
            "[ACTIONS] and choices in [FORK] blocks of JSON."
        )

    async def chat_reply(self, session: Session) -> AssistantReply:
        self._begin("chat_reply")
        return self._reply(session)

    async def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        failure = self._take_failure("stream_chat_reply")
        fail_after = self._failures.after_deltas
        reply = self._reply(session)
        chunks = _chunks(reply.text)
        for index, chunk in enumerate(chunks):
            if failure is not None and index >= fail_after:
                raise failure
            if index:
                await asyncio.sleep(self._chunk_delay)
            yield TextDelta(chunk)
        if failure is not None:
            raise failure
        yield ReplyCompleted(reply)

    async def next_step(self, session: Session) -> StepProposal:
        self._begin("next_step")
        domain, hits = domain_hits(_problem_text(session))
        kind, content, options, reasoning, position = _next_in_script(session, domain)
        previous = session.steps[-1].confidence if session.steps else 0.0
        scheduled = CONFIDENCE_SCHEDULE[min(position, len(CONFIDENCE_SCHEDULE) - 1)]
        confidence = round(min(MAX_CONFIDENCE, max(scheduled, previous + 0.01)), 2)
        step = ProposedStep(
            kind=kind,
            content=f"{LABEL} {content}",
            options=options,
            reasoning=f"{LABEL} {PLAYBOOKS[domain].label} script: {reasoning}",
            confidence=confidence,
            matched_flow_id=None if domain is ProblemDomain.OTHER else f"offline-{domain}",
            match_score=None if domain is ProblemDomain.OTHER else min(1.0, 0.5 + 0.1 * hits),
        )
        return StepProposal(
            step, _usage(self.system_prompt(session.session_type), session, step.content)
        )

    async def describe(self, session: Session) -> SessionDescription:
        self._begin("describe")
        text = _problem_text(session, first_only=True) or "Problem not described yet."
        summary = " ".join(text.split())
        if len(summary) > SUMMARY_CHARS:
            summary = make_title(summary, SUMMARY_CHARS)
        return SessionDescription(
            summary=summary,
            domain=detect_domain(_problem_text(session)),
            title=session.title or make_title(summary),
        )

    async def draft_status_update(
        self, session: Session, audience: Audience, length: UpdateLength
    ) -> StatusUpdateDraft:
        self._begin("draft_status_update")
        detailed = length is UpdateLength.DETAILED
        if audience is Audience.TICKET_NOTE:
            return StatusUpdateDraft(
                audience=audience, length=length, body=_ticket_note(session, detailed)
            )
        body = _client_update(session, detailed)
        if audience is Audience.CLIENT:
            return StatusUpdateDraft(audience=audience, length=length, body=f"{body}\n\n{FOOTER}")
        return StatusUpdateDraft(
            audience=audience,
            length=length,
            subject=_email_subject(session),
            body=f"Hello,\n\n{body}\n\nKind regards,\nYour IT support team\n\n{FOOTER}",
        )

    # -- internals ------------------------------------------------------------------------

    def _begin(self, method: str) -> None:
        failure = self._take_failure(method)
        if failure is not None:
            raise failure

    def _take_failure(self, method: str) -> LLMError | None:
        self._calls.append(method)
        if self._failures.remaining <= 0 or self._failures.error is None:
            return None
        self._failures.remaining -= 1
        return self._failures.error.with_traceback(None)  # each raise: a fresh traceback

    def _reply(self, session: Session) -> AssistantReply:
        text = _solved_before(session) + _chat_text(session)
        usage = _usage(self.system_prompt(session.session_type), session, text)
        return AssistantReply(text=text, model=MODEL, usage=usage)


# -- guided -----------------------------------------------------------------------------


def _next_in_script(
    session: Session, domain: ProblemDomain
) -> tuple[StepKind, str, tuple[StepOption, ...], str, int]:
    """The next step's kind, content, options, reasoning, and its position in the schedule."""
    book = PLAYBOOKS[domain]
    script = script_of(book)
    answered = [step for step in session.steps if step.response is not None]
    last = answered[-1] if answered else None
    wrapped_up = any(step.kind is StepKind.RESOLUTION_SUGGESTION for step in answered)
    if not wrapped_up and last is not None and says_it_worked(last.response or ""):
        kind, content, options, _ = script[-1]
        return kind, content, options, "the last answer says it worked: confirm.", len(script)
    if not wrapped_up and len(answered) < len(script):
        kind, content, options, reasoning = script[len(answered)]
        return kind, content, options, reasoning, len(answered)
    last_answer = (last.response or "") if last is not None else ""
    return (*wrap_up(book, last_answer), len(script))


# -- chat -------------------------------------------------------------------------------


def _chat_text(session: Session) -> str:
    user_messages = [m.content for m in session.conversation_messages if m.role is MessageRole.USER]
    last = user_messages[-1] if user_messages else session.intake_text
    turn = max(len(user_messages), 1)
    book = PLAYBOOKS[detect_domain(_problem_text(session))]
    quote = _quote(last)
    if turn > 1 and says_it_worked(last):
        reply = ParsedReply(
            f'{LABEL} Good news: "{quote}" sounds fixed. Confirm with the user that it works, '
            "then resolve the session with a short summary so the resolution note reaches the "
            "ticket.",
            actions=(
                Action("Confirm with the user", "Have them retry what failed before.", None, "low"),
                Action("Resolve the session", "Summarise the cause and the fix.", None, "low"),
            ),
        )
    elif turn == 1:
        reply = ParsedReply(
            f'{LABEL} Problem area: {book.label}. You wrote: "{quote}". To narrow it down, '
            "answer these first:",
            questions=book.questions,
        )
    elif turn == 2:
        reply = ParsedReply(
            f'{LABEL} Thanks, noted: "{quote}". For this {book.label} problem, start with '
            "these checks, in order:",
            actions=book.actions[:2],
        )
    elif turn == 3:
        reply = ParsedReply(
            f'{LABEL} Noted: "{quote}". Which of these fits best? It decides where we go next:',
            forks=(book.fork,),
        )
    else:
        escalate = Action(
            "Escalate to a senior engineer",
            "If these do not fix it, escalate: the escalation package lists what was tried.",
            None,
            "low",
        )
        reply = ParsedReply(
            f'{LABEL} Noted: "{quote}". The remaining {book.label} checks, then escalate if '
            "it still fails:",
            actions=(*book.actions[2:], escalate),
        )
    return render_markers(reply)


def _solved_before(session: Session) -> str:
    """On the first reply, what the account's memory found (`Session.similar_sessions`)."""
    users = [m for m in session.conversation_messages if m.role is MessageRole.USER]
    if len(users) > 1 or not session.similar_sessions:
        return ""
    best = session.similar_sessions[0]
    cause = f" Root cause: {_quote(best.root_cause, 160)}." if best.root_cause else ""
    return (
        f"{LABEL} This was solved before by {_quote(best.user_id, 60)} "
        f'("{_quote(best.title, 80)}"): {_quote(best.resolution_summary, 200)}.{cause}\n\n'
    )


def _quote(message: str, limit: int = 120) -> str:
    """The message on one line, short, with no brackets that could read as a marker tag."""
    flat = " ".join(message.replace("[", "(").replace("]", ")").replace('"', "'").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _chunks(text: str) -> list[str]:
    """``text`` in pieces of a few words, whitespace kept, adding up to exactly ``text``."""
    words = re.findall(r"\s*\S+\s*", text) or [text]
    return ["".join(words[i : i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)]


# -- shared -----------------------------------------------------------------------------


def _problem_text(session: Session, *, first_only: bool = False) -> str:
    """What the problem was described as: the intake, the ticket, the first user messages."""
    parts = (
        [session.intake_text]
        if session.intake_text
        else [value for value in session.intake_content.values() if isinstance(value, str)][:3]
    )
    if first_only and any(p.strip() for p in parts):
        return " ".join(parts).strip()
    if session.psa_link is not None:
        summary = session.psa_link.snapshot.get("summary")
        if isinstance(summary, str):
            parts.append(summary)
    user_messages = [m.content for m in session.conversation_messages if m.role is MessageRole.USER]
    for message in user_messages[:3]:
        if message not in parts:  # a chat's first message is its intake too
            parts.append(message)
    return " ".join(p for p in parts if p.strip()).strip()


def _usage(system_prompt: str, session: Session, output: str) -> TokenUsage:
    """Plausible token counts (about four characters a token) from the text lengths."""
    context = len(system_prompt) + len(_problem_text(session))
    context += sum(len(m.content) for m in session.conversation_messages)
    context += sum(len(s.content) + len(s.response or "") for s in session.steps)
    return TokenUsage(input_tokens=max(1, context // 4), output_tokens=max(1, len(output) // 4))


# -- status updates ---------------------------------------------------------------------

_STATUS_TECHNICAL: Final = {
    SessionStatus.ACTIVE: "In progress",
    SessionStatus.PAUSED: "On hold",
    SessionStatus.RESOLVED: "Resolved",
    SessionStatus.ESCALATED: "Escalated to a senior engineer",
    SessionStatus.ABANDONED: "Closed without a fix",
}

_STATUS_PLAIN: Final = {
    SessionStatus.ACTIVE: "We are actively working on it.",
    SessionStatus.PAUSED: "Work on it is paused for the moment; we will pick it up again shortly.",
    SessionStatus.RESOLVED: "Good news: it is resolved.",
    SessionStatus.ESCALATED: "We have passed it to a senior engineer for a closer look.",
    SessionStatus.ABANDONED: (
        "We have closed this request for now; let us know if it still affects you."
    ),
}

_NEXT_PLAIN: Final = {
    SessionStatus.ACTIVE: "We will keep you posted as we narrow it down.",
    SessionStatus.PAUSED: "We will update you when work resumes.",
    SessionStatus.RESOLVED: "Please let us know if anything still does not work as expected.",
    SessionStatus.ESCALATED: "The senior engineer will contact you if they need anything.",
    SessionStatus.ABANDONED: "Reply to this message if you would like us to look again.",
}


def _domain_of(session: Session) -> ProblemDomain:
    return session.problem_domain or detect_domain(_problem_text(session))


def _next_technical(session: Session) -> str | None:
    pending = session.pending_step
    if pending is not None:
        return pending.content
    for message in reversed(session.conversation_messages):
        if message.role is MessageRole.ASSISTANT:
            return " ".join(parse_markers(message.content).text.split())[:300] or None
    return None


def _ticket_note(session: Session, detailed: bool) -> str:
    status = _STATUS_TECHNICAL[session.status]
    kind = "guided" if session.session_type is SessionType.GUIDED else "chat"
    unit = "steps" if kind == "guided" else "messages"
    head = f"Status: {status} ({kind} session, {session.step_count} {unit}"
    if session.confidence_score is not None:
        head += f", confidence {session.confidence_score:.0%}, {session.confidence_tier} tier"
    lines = [head + ")"]
    if detailed:
        lines.append(f"Domain: {_domain_of(session)}")
    problem = documentation.problem_statement(session)
    lines.append(f"Problem: {problem if detailed else _short(problem, 160)}")
    found = documentation.findings(session)
    if detailed:
        lines.append("Checked so far:")
        lines.extend(f"- {item}" for item in found or ["Nothing yet."])
    elif found:
        lines.append(f"Latest: {found[-1]}")
    if session.root_cause and detailed:
        lines.append(f"Root cause: {session.root_cause}")
    if session.resolution_summary:
        lines.append(f"Resolution: {session.resolution_summary}")
    if session.escalation_reason:
        lines.append(f"Escalation reason: {session.escalation_reason}")
    upcoming = _next_technical(session)
    if upcoming and not session.is_closed:
        lines.append(f"Next: {upcoming if detailed else _short(upcoming, 160)}")
    if detailed and session.psa_link is not None:
        lines.append(f"PSA: {session.psa_link.provider} ticket {session.psa_link.ticket_id}")
    return "\n".join([*lines, "", FOOTER])


def _client_update(session: Session, detailed: bool) -> str:
    book = PLAYBOOKS[_domain_of(session)]
    about = _short(session.title or documentation.problem_statement(session), 80)
    first = f'An update on the issue with {book.plain} ("{about}"). {_STATUS_PLAIN[session.status]}'
    paragraphs = [first]
    if session.status is SessionStatus.RESOLVED and session.resolution_summary:
        paragraphs.append(f"What fixed it: {_short(session.resolution_summary, 300)}")
    if detailed:
        checks = len(documentation.findings(session))
        done = (
            f"So far we have worked through {checks} troubleshooting "
            f"step{'s' if checks != 1 else ''}."
            if checks
            else "We have started looking into it."
        )
        paragraphs.append(done)
        paragraphs.append(_NEXT_PLAIN[session.status])
    return "\n\n".join(paragraphs)


def _email_subject(session: Session) -> str:
    about = _short(session.title or documentation.problem_statement(session), 80)
    subject = f"{_STATUS_TECHNICAL[session.status]}: {about}"
    if session.psa_link is not None:
        subject = f"[Ticket #{session.psa_link.ticket_id}] {subject}"
    return subject


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
