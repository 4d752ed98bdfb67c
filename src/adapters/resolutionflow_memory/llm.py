"""An offline, deterministic LLM: scripted troubleshooting for demos and tests, no network.

`OfflineLLM` implements the `LLM` port on top of the playbooks of
`resolutionflow_memory.playbooks` and the reasoning of `resolutionflow_memory.troubleshooting`
(where a conversation stands, what to offer next); this module reads the session into that
reasoning and words its moves: guided steps, chat replies, descriptions and status updates.
Everything it writes is labelled as offline (``[offline assistant]``, ``model="offline"``).
The same session state always gives the same output: no randomness, no clock, no I/O.

- The problem domain comes from keywords of the intake, the ticket and the first messages.
- It asks only what the intake or an earlier answer has not settled, then tries the first
  check, offers the fork, follows the option chosen (each has its own branch), moves to
  another branch when a fix fails, and suggests escalation, with the reason, after
  repeated failures. An answer saying it worked leads to a resolution suggestion.
- Guided confidence starts at 0.25 (higher when the intake already settles questions),
  rises with every answer that narrows the cause, falls after every reported failure, and
  reaches the guided tier (0.85) once a fix worked; it never passes 0.95.
- No reply repeats within a session: nothing is offered twice, and the closing move counts
  the answers.
- Chat replies carry their questions, actions and forks as assistant marker blocks
  (`render_markers`), so the marker parser finds them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from typing import Final

from resolutionflow_core import documentation
from resolutionflow_core.chat import MessageRole, make_title
from resolutionflow_core.guided import GuidedStep, ProposedStep, StepKind, StepOption
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
from resolutionflow_memory.playbooks import PLAYBOOKS, Outcome, Playbook, detect_domain, domain_hits
from resolutionflow_memory.troubleshooting import (
    CHAT_PACE,
    GUIDED_PACE,
    Move,
    MoveKind,
    Offer,
    next_move,
)

MODEL: Final = "offline"
LABEL: Final = "[offline assistant]"
FOOTER: Final = "— Drafted by the offline assistant (scripted, no AI model was used)."

FIRST_CONFIDENCE: Final = 0.25
"""Confidence of the first step when the intake settles none of the questions."""
SETTLED_BONUS: Final = 0.1
"""Added to the first step's confidence for each question the intake already settles."""
NARROWED: Final = 0.2
"""Added after an answer to a question or a fork: the cause is narrower."""
PROGRESSED: Final = 0.1
"""Added after any other answer that is not a failure."""
FAILED_PENALTY: Final = 0.1
"""Taken off after a reported failure."""
BLOCKED_PENALTY: Final = 0.05
"""Taken off after a step that could not be done."""
FIXED_CONFIDENCE: Final = 0.85
"""At least this once a fix worked: the guided tier."""
MIN_CONFIDENCE: Final = 0.05
MAX_CONFIDENCE: Final = 0.95
"""The offline assistant is never certain."""

SUMMARY_CHARS: Final = 200
WORDS_PER_DELTA: Final = 4

# -- the adapter ------------------------------------------------------------------------


class OfflineLLM:
    """The `LLM` port without a model: scripted, deterministic, clearly labelled offline.

    ``chunk_delay`` (seconds) slows streamed deltas down for demos; by default a stream only
    yields control between deltas.
    """

    def __init__(self, *, chunk_delay: float = 0.0) -> None:
        self._chunk_delay = chunk_delay

    def system_prompt(self, session_type: SessionType) -> str:
        common = (
            "You are ResolutionFlow's OFFLINE assistant: scripted and deterministic, no AI "
            "model and no network (for demos and tests). You help MSP engineers troubleshoot "
            "their clients' IT problems."
        )
        if session_type is SessionType.GUIDED:
            return (
                f"{common} Guide the engineer one question or action at a time, with a "
                "confidence that rises as the cause narrows and falls when a fix fails, and "
                "end with a resolution or escalation suggestion."
            )
        return (
            f"{common} Answer the chat; put questions in [QUESTIONS], suggested actions in "
            "[ACTIONS] and choices in [FORK] blocks of JSON."
        )

    async def chat_reply(self, session: Session) -> AssistantReply:
        return self._reply(session)

    async def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        reply = self._reply(session)
        for index, chunk in enumerate(_chunks(reply.text)):
            if index:
                await asyncio.sleep(self._chunk_delay)
            yield TextDelta(chunk)
        yield ReplyCompleted(reply)

    async def next_step(self, session: Session) -> StepProposal:
        problem = _problem_text(session)
        domain, hits = domain_hits(problem)
        book = PLAYBOOKS[domain]
        move = next_move(book, problem, _guided_offers(session, book), GUIDED_PACE)
        kind, content, options, reasoning = _guided_step(move, book)
        if any(step.content == f"{LABEL} {content}" for step in session.steps):
            kind, content, options, reasoning = _guided_step(_closing(move), book)
        step = ProposedStep(
            kind=kind,
            content=f"{LABEL} {content}",
            options=options,
            reasoning=f"{LABEL} {book.label} playbook: {reasoning}",
            confidence=_confidence(session, move),
            matched_flow_id=None if domain is ProblemDomain.OTHER else f"offline-{domain}",
            match_score=None if domain is ProblemDomain.OTHER else min(1.0, 0.5 + 0.1 * hits),
        )
        return StepProposal(
            step, _usage(self.system_prompt(session.session_type), session, step.content)
        )

    async def describe(self, session: Session) -> SessionDescription:
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

    def _reply(self, session: Session) -> AssistantReply:
        text = _solved_before(session) + _chat_text(session)
        usage = _usage(self.system_prompt(session.session_type), session, text)
        return AssistantReply(text=text, model=MODEL, usage=usage)


# -- guided -----------------------------------------------------------------------------

_DONE_OPTIONS: Final = (
    StepOption(label="Done, it worked"),
    StepOption(label="Done, still failing"),
    StepOption(label="Could not do it", description="Say why in the answer"),
)
_RESOLVED_OPTIONS: Final = (
    StepOption(label="Yes, resolved"),
    StepOption(label="No, still failing"),
)
_ESCALATION_OPTIONS: Final = (
    StepOption(label="Escalate to a senior engineer"),
    StepOption(label="Keep troubleshooting", description="Try the remaining checks"),
    StepOption(label="Resolve the session", description="It was fixed another way"),
)
_WRAP_UP_OPTIONS: Final = (
    StepOption(label="Resolve the session"),
    StepOption(label="Escalate to a senior engineer"),
)
_WRAP_UP: Final = "Confirmed fixed."
_ESCALATE_NOW: Final = "Escalate the session now"

GuidedText = tuple[StepKind, str, tuple[StepOption, ...], str]
"""A guided step's kind, content (without the label), options and reasoning."""


def _guided_offers(session: Session, book: Playbook) -> list[Offer]:
    """The session's steps, read as what the assistant offered and what was answered."""
    titles = {_action_text(action): action.title for action in _all_actions(book)}
    return [_guided_offer(step, titles) for step in session.steps]


def _guided_offer(step: GuidedStep, titles: dict[str, str]) -> Offer:
    content = step.content.removeprefix(LABEL).strip()
    if step.kind is StepKind.QUESTION:
        return Offer(MoveKind.QUESTIONS, questions=(content,), answer=step.response)
    if step.kind is StepKind.ACTION:
        title = next((t for text, t in titles.items() if content.endswith(text)), content)
        return Offer(MoveKind.ACTIONS, actions=(title,), answer=step.response)
    if step.kind is StepKind.FORK:
        labels = tuple(option.label for option in step.options)
        return Offer(MoveKind.FORK, fork_options=labels, answer=step.response)
    if step.options == _RESOLVED_OPTIONS:
        kind = MoveKind.CONFIRM
    elif step.options == _ESCALATION_OPTIONS:
        kind = MoveKind.ESCALATION
    elif content.startswith(_WRAP_UP):
        kind = MoveKind.WRAP_UP
    elif content.startswith(_ESCALATE_NOW):
        kind = MoveKind.ESCALATE_NOW
    else:
        kind = MoveKind.CLOSING
    return Offer(kind, answer=step.response)


def _guided_step(move: Move, book: Playbook) -> GuidedText:
    """The step that words ``move``."""
    if move.kind is MoveKind.QUESTIONS:
        question = move.questions[0]
        why = question.why or "It narrows down where it fails."
        if move.settled:
            skipped = "; ".join(f'"{q.text}"' for q in move.settled)
            why += f" Not asked, already answered: {skipped}."
        return StepKind.QUESTION, question.text, (), why
    if move.kind is MoveKind.ACTIONS:
        action = move.actions[0]
        return StepKind.ACTION, _reaction(move) + _action_text(action), _DONE_OPTIONS, _why(move)
    if move.kind is MoveKind.FORK and move.fork is not None:
        options = tuple(StepOption(o.label, o.description) for o in move.fork.options)
        lead = "That did not fix it. " if move.after_failed_fix else ""
        why = "The result decides which branch to follow."
        return StepKind.FORK, lead + move.fork.question, options, why
    if move.kind is MoveKind.CONFIRM:
        return (
            StepKind.RESOLUTION_SUGGESTION,
            _confirmation(move, book),
            _RESOLVED_OPTIONS,
            ("the last answer says it worked: confirm the fix."),
        )
    if move.kind is MoveKind.WRAP_UP:
        content = (
            f"{_WRAP_UP} Resolve the session with a short summary of the cause and the fix, "
            "so the resolution note goes into the ticket."
        )
        return StepKind.RESOLUTION_SUGGESTION, content, _WRAP_UP_OPTIONS, "it is fixed."
    if move.kind is MoveKind.ESCALATION:
        content = (
            f"{_what_failed(move, book)} Escalate to a senior engineer (the escalation package "
            f'lists every step and answer), with the reason "{_escalation_reason(move, book)}"; '
            "or keep troubleshooting with the remaining checks."
        )
        why = "repeated failures: a senior engineer should take over."
        return StepKind.RESOLUTION_SUGGESTION, content, _ESCALATION_OPTIONS, why
    if move.kind is MoveKind.ESCALATE_NOW:
        content = (
            f'{_ESCALATE_NOW} with the reason "{_escalation_reason(move, book)}". The next '
            "engineer sees every step and answer in the escalation package."
        )
        return StepKind.RESOLUTION_SUGGESTION, content, _WRAP_UP_OPTIONS, "escalation chosen."
    content = (
        f"Nothing more to try offline after {move.answers} answers: resolve the session if it "
        "is fixed, or escalate it with what was tried."
    )
    return StepKind.RESOLUTION_SUGGESTION, content, _WRAP_UP_OPTIONS, "nothing left to try."


def _closing(move: Move) -> Move:
    return Move(MoveKind.CLOSING, move.outcome, move.answers, failed=move.failed)


def _reaction(move: Move) -> str:
    """How an action step begins, reacting to the last answer."""
    branch = move.branch
    if move.assumed_branch and branch is not None:
        return f'That matches none of the options, so start with "{branch.label}": '
    if move.after_failed_fix and move.another_branch and branch is not None:
        return f'That did not fix it, so try another branch, "{branch.label}": '
    if move.after_failed_fix:
        return "That did not fix it. Next: "
    if move.outcome is Outcome.BLOCKED:
        return "Then try this instead: "
    if branch is not None and move.outcome is Outcome.CHOICE:
        return f'"{branch.label}" points at {_lower_first(branch.description or "")}: '
    return ""


def _why(move: Move) -> str:
    if move.branch is None:
        return (
            "The cheapest check first."
            if move.outcome is not Outcome.FAILED
            else ("The playbook's remaining checks.")
        )
    about = f" ({move.branch.description})" if move.branch.description else ""
    if move.another_branch:
        return f'The chosen branch did not fix it: trying "{move.branch.label}"{about}.'
    return f'The branch of "{move.branch.label}"{about}.'


def _confidence(session: Session, move: Move) -> float:
    """The next step's confidence: up when the cause narrows, down after a failure."""
    if not session.steps:
        first = FIRST_CONFIDENCE + SETTLED_BONUS * len(move.settled)
        return round(min(first, MAX_CONFIDENCE), 2)
    previous = session.steps[-1].confidence
    outcome = move.outcome
    if outcome is Outcome.FAILED:
        return min(previous, round(max(MIN_CONFIDENCE, previous - FAILED_PENALTY), 2))
    if outcome is Outcome.BLOCKED:
        return min(previous, round(max(MIN_CONFIDENCE, previous - BLOCKED_PENALTY), 2))
    if outcome is Outcome.ESCALATE:
        return previous
    if move.kind in (MoveKind.CONFIRM, MoveKind.WRAP_UP):
        raised = max(previous + PROGRESSED, FIXED_CONFIDENCE)
    elif session.steps[-1].kind in (StepKind.QUESTION, StepKind.FORK):
        raised = previous + NARROWED
    else:
        raised = previous + PROGRESSED
    return max(previous, round(min(MAX_CONFIDENCE, raised), 2))


# -- chat -------------------------------------------------------------------------------

_CONFIRM_ACTIONS: Final = (
    Action("Confirm with the user", "Have them retry what failed before.", None, "low"),
    Action("Resolve the session", "Summarise the cause and the fix.", None, "low"),
)
_WRAP_UP_ACTION: Final = Action(
    "Write the resolution summary",
    "The cause, the fix, and how the user confirmed it.",
    None,
    "low",
)
_ESCALATE_ACTION: Final = Action(
    "Escalate to a senior engineer",
    "The escalation package lists everything tried so far.",
    None,
    "low",
)
_KEEP_GOING_ACTION: Final = Action(
    "Or keep troubleshooting", "Say so, and the remaining checks follow.", None, "low"
)
_ESCALATE_NOW_ACTION: Final = "Escalate the session now"
_CLOSING_ACTION: Final = Action(
    "Resolve or escalate the session",
    "Resolve it if it is fixed; otherwise escalate it with what was tried.",
    None,
    "low",
)
_KIND_BY_ACTION: Final = {
    _CONFIRM_ACTIONS[0].title: MoveKind.CONFIRM,
    _WRAP_UP_ACTION.title: MoveKind.WRAP_UP,
    _ESCALATE_ACTION.title: MoveKind.ESCALATION,
    _ESCALATE_NOW_ACTION: MoveKind.ESCALATE_NOW,
    _CLOSING_ACTION.title: MoveKind.CLOSING,
}


def _chat_text(session: Session) -> str:
    user_messages = [m.content for m in session.conversation_messages if m.role is MessageRole.USER]
    last = user_messages[-1] if user_messages else session.intake_text
    problem = _problem_text(session)
    book = PLAYBOOKS[session.problem_domain or detect_domain(problem)]
    offers = _chat_offers(session)
    move = next_move(book, _chat_problem(session), offers, CHAT_PACE)
    text = render_markers(_chat_reply(move, book, _quote(last)))
    said = {m.content for m in session.conversation_messages if m.role is MessageRole.ASSISTANT}
    if text in said:
        text = render_markers(_chat_reply(_closing(move), book, _quote(last)))
    return text


def _chat_problem(session: Session) -> str:
    """What the chat's problem was described as before the assistant answered."""
    parts = [session.intake_text or ""]
    for message in session.conversation_messages:
        if message.role is not MessageRole.USER:
            break
        parts.append(message.content)
    if session.psa_link is not None:
        summary = session.psa_link.snapshot.get("summary")
        if isinstance(summary, str):
            parts.append(summary)
    return " ".join(part for part in parts if part.strip())


def _chat_offers(session: Session) -> list[Offer]:
    """The assistant's replies so far, each with the engineer's next message as its answer.

    One pass over the history, from the end (the answer to a reply is the nearest engineer's
    message after it); each reply's markers are read once per distinct text (`_offered`).
    """
    offers: list[Offer] = []
    answer: str | None = None
    for message in reversed(session.conversation_messages):
        if message.role is MessageRole.USER:
            answer = message.content
        elif message.role is MessageRole.ASSISTANT:
            offers.append(_offer(message.content, answer))
    offers.reverse()
    return offers


@lru_cache(maxsize=8192)
def _offer(reply: str, answer: str | None) -> Offer:
    """The offer of ``reply`` answered by ``answer`` (an `Offer` is immutable: cached, as a
    turn rebuilds the offers of every earlier reply)."""
    kind, questions, titles, labels = _offered(reply)
    return Offer(kind, questions, titles, labels, answer)


@lru_cache(maxsize=4096)
def _offered(
    reply: str,
) -> tuple[MoveKind, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What a reply offered: its kind, questions, action titles and fork labels. Cached: every
    turn reads all the replies before it, and a reply never changes."""
    parsed = parse_markers(reply)
    titles = tuple(action.title for action in parsed.actions)
    labels = tuple(o.label for o in parsed.forks[0].options) if parsed.forks else ()
    kind = next((_KIND_BY_ACTION[t] for t in titles if t in _KIND_BY_ACTION), None)
    if kind is None:
        kind = (
            MoveKind.FORK
            if labels
            else MoveKind.QUESTIONS
            if parsed.questions
            else MoveKind.ACTIONS
        )
    return kind, tuple(q.text for q in parsed.questions), titles, labels


def _chat_reply(move: Move, book: Playbook, quote: str) -> ParsedReply:
    """The chat reply that words ``move`` (``quote``: the engineer's last message)."""
    said = f'{LABEL} Noted: "{quote}".'
    if move.kind is MoveKind.QUESTIONS:
        lead = f'{LABEL} Problem area: {book.label}. You wrote: "{quote}".'
        if move.settled:
            lead += f" That already answers {_count(len(move.settled), 'usual question')}."
        return ParsedReply(
            f"{lead} To narrow it down, answer these first:", questions=move.questions
        )
    if move.kind is MoveKind.ACTIONS and move.branch is None and not move.answers:
        return ParsedReply(
            f'{LABEL} Problem area: {book.label}. You wrote: "{quote}", which already answers '
            "the usual questions. Start with these checks, in order:",
            actions=move.actions,
        )
    if move.kind is MoveKind.ACTIONS:
        return ParsedReply(_chat_action_lead(move, book, quote), actions=move.actions)
    if move.kind is MoveKind.FORK and move.fork is not None:
        failed = " The first checks did not fix it." if move.after_failed_fix else ""
        return ParsedReply(
            f"{said}{failed} Which of these fits best? It decides where we go next:",
            forks=(move.fork,),
        )
    if move.kind is MoveKind.CONFIRM:
        cause = f" Most likely cause: {_lower_first(move.cause)}." if move.cause else ""
        return ParsedReply(
            f'{LABEL} Good news: "{quote}" sounds fixed.{cause} Confirm with the user that it '
            "works, then resolve the session with a short summary so the resolution note "
            "reaches the ticket.",
            actions=_CONFIRM_ACTIONS,
        )
    if move.kind is MoveKind.WRAP_UP:
        return ParsedReply(
            f'{LABEL} Glad it is confirmed: "{quote}". Resolve the session now, with the cause '
            "and the fix in the summary, so the resolution note reaches the ticket.",
            actions=(_WRAP_UP_ACTION,),
        )
    reason = _escalation_reason(move, book)
    if move.kind is MoveKind.ESCALATION:
        return ParsedReply(
            f"{said} {_what_failed(move, book)} Time to escalate to a senior engineer, with "
            f'the reason "{reason}".',
            actions=(_ESCALATE_ACTION, _KEEP_GOING_ACTION),
        )
    if move.kind is MoveKind.ESCALATE_NOW:
        return ParsedReply(
            f"{said} Escalate the session with this reason; the next engineer sees the whole "
            "conversation in the escalation package.",
            actions=(Action(_ESCALATE_NOW_ACTION, f'Reason: "{reason}"', None, "low"),),
        )
    return ParsedReply(
        f"{said} Nothing more to try offline after {_count(move.answers, 'message')}: resolve "
        "the session if it is fixed, or escalate it with what was tried.",
        actions=(_CLOSING_ACTION,),
    )


def _chat_action_lead(move: Move, book: Playbook, quote: str) -> str:
    branch = move.branch
    said = f'{LABEL} Noted: "{quote}".'
    if branch is None and any(a.title == book.actions[0].title for a in move.actions):
        return (
            f'{LABEL} Thanks, noted: "{quote}". For this {book.label} problem, start with these '
            "checks, in order:"
        )
    if branch is None:
        failed = " That did not fix it either." if move.after_failed_fix else ""
        return f"{said}{failed} More {book.label} checks to try:"
    about = _lower_first(branch.description or branch.label)
    if move.assumed_branch:
        return f'{said} That matches none of the options, so start with "{branch.label}" ({about}):'
    if move.after_failed_fix and move.another_branch:
        return f'{said} That did not fix it, so try another branch, "{branch.label}" ({about}):'
    if move.after_failed_fix:
        return f"{said} That did not fix it. Next, in order:"
    if move.outcome is Outcome.BLOCKED:
        return f"{said} Then try these instead:"
    if move.outcome is Outcome.CHOICE:
        return f'{LABEL} "{branch.label}": that points at {about}. Try these, in order:'
    if move.another_branch:
        return f'{said} Another branch to try, "{branch.label}" ({about}):'
    return f"{said} Next, in order:"


# -- wording shared by guided and chat ---------------------------------------------------


def _all_actions(book: Playbook) -> Iterator[Action]:
    yield from book.actions
    for branch in book.branches:
        yield from branch


def _action_text(action: Action) -> str:
    parts = [action.title + "."]
    if action.detail:
        parts.append(action.detail)
    if action.command:
        parts.append(f"Run: {action.command}")
    return " ".join(parts)


def _confirmation(move: Move, book: Playbook) -> str:
    lead = f'"{move.fixed_by}" worked.' if move.fixed_by else "Good: it works again."
    cause = f" Most likely cause: {_lower_first(move.cause)}." if move.cause else ""
    return (
        f"{lead}{cause} Check with the user that {book.plain} works as before, and note it if "
        "it comes back. Did that resolve it?"
    )


def _what_failed(move: Move, book: Playbook) -> str:
    if not move.failed:
        return f"The {book.label} playbook has nothing left to try."
    tried = "; ".join(f'"{title}"' for title in move.failed)
    return f"{_count(len(move.failed), 'fix', 'fixes')} did not solve it ({tried})."


def _escalation_reason(move: Move, book: Playbook) -> str:
    if not move.failed:
        return f"{book.label}: needs a senior engineer after {_count(move.answers, 'step')}"
    return f"{book.label}: still failing after {', '.join(move.failed)}"


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _lower_first(text: str) -> str:
    """``text`` with a lowercase first letter, unless it starts an acronym ("DNS ...")."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _solved_before(session: Session) -> str:
    """On the first reply, what the account's memory found (`Session.similar_sessions`)."""
    users = [m for m in session.conversation_messages if m.role is MessageRole.USER]
    if len(users) > 1 or not session.similar_sessions:
        return ""
    best = session.similar_sessions[0]
    cause = f" Root cause: {_sentence(best.root_cause, 160)}" if best.root_cause else ""
    return (
        f"{LABEL} This was solved before by {_quote(best.user_id, 60)} "
        f'("{_quote(best.title, 80)}"): {_sentence(best.resolution_summary, 200)}{cause}\n\n'
    )


def _sentence(text: str, limit: int) -> str:
    """`_quote` of ``text``, ending with one full stop (a summary often brings its own)."""
    quoted = _quote(text, limit)
    return quoted if quoted.endswith((".", "!", "?", "…")) else quoted + "."


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
    head = f"Status: {status} ({kind} session, {documentation.steps_worked_phrase(session)}"
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
        done = (
            f"So far we have worked through {documentation.steps_worked_phrase(session)}."
            if documentation.steps_worked(session)
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
