"""The Session aggregate: one troubleshooting session, guided or chat, and its lifecycle.

Every change goes through `Session._record`, which bumps ``version`` by one, stamps the
time and appends a domain event: a change without an event cannot happen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from resolutionflow_core import documentation
from resolutionflow_core.chat import (
    MAX_REPLY_CHARS,
    ConversationMessage,
    MessageHistory,
    MessageRole,
    clean_message,
    make_title,
    without_nul,
)
from resolutionflow_core.errors import (
    ContentTooLarge,
    InvalidInput,
    InvalidTransition,
    NoPendingStep,
    NothingToAnswer,
    StepAlreadyPending,
    WrongSessionType,
    enum_value,
)
from resolutionflow_core.events import (
    DomainEvent,
    MessageAdded,
    SessionAbandoned,
    SessionClaimed,
    SessionDescribed,
    SessionEscalated,
    SessionPaused,
    SessionResolved,
    SessionResumed,
    SessionStarted,
    StatusUpdateShared,
    StepAdded,
    StepAnswered,
    TicketLinked,
)
from resolutionflow_core.guided import ConfidenceTier, GuidedStep, ProposedStep, tier_for
from resolutionflow_core.kinds import IntakeType as IntakeType
from resolutionflow_core.kinds import ProblemDomain as ProblemDomain
from resolutionflow_core.kinds import SessionType as SessionType
from resolutionflow_core.lifecycle import (
    TERMINAL_STATUSES,
    LifecycleAction,
    SessionStatus,
    next_status,
)
from resolutionflow_core.similar import SimilarSession
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.updates import StatusUpdateDraft
from resolutionflow_core.usage import TokenUsage

MAX_INTAKE_BYTES = 64_000
MAX_SUMMARY_CHARS = 8_000


_A = LifecycleAction
_S = SessionStatus

_STEP_CLOSING = frozenset({_S.RESOLVED, _S.ABANDONED, _S.ESCALATED})
"""Statuses in which no guided step waits for an answer."""


@dataclass(eq=False, kw_only=True)
class Session:
    """The aggregate. Build it with `start_chat` / `start_guided`; storage restores it by field."""

    id: UUID
    account_id: str
    user_id: str
    session_type: SessionType
    intake_type: IntakeType
    intake_content: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    status: SessionStatus = SessionStatus.ACTIVE
    title: str | None = None
    conversation_messages: MessageHistory = field(default_factory=MessageHistory)
    steps: list[GuidedStep] = field(default_factory=list)
    problem_summary: str | None = None
    problem_domain: ProblemDomain | None = None
    confidence_score: float | None = None
    matched_flow_id: str | None = None
    match_score: float | None = None
    system_prompt_snapshot: str | None = None
    resolution_summary: str | None = None
    root_cause: str | None = None
    escalation_reason: str | None = None
    escalated_by: str | None = None
    former_owner_ids: list[str] = field(default_factory=list)
    """Who owned the session before a claim, oldest first (they keep read access)."""
    abandon_reason: str | None = None
    """Why the session was abandoned, when the engineer said (optional)."""
    psa_link: PSALink | None = None
    paused_at: datetime | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    abandoned_at: datetime | None = None
    version: int = 0
    similar_sessions: tuple[SimilarSession, ...] = ()
    """The account's resolved sessions most like this one, found when it started."""
    events: list[DomainEvent] = field(default_factory=list, repr=False)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def start_chat(
        cls,
        *,
        session_id: UUID,
        account_id: str,
        user_id: str,
        first_message: str,
        now: datetime,
        system_prompt: str | None = None,
    ) -> Session:
        """A chat session whose history starts with the engineer's first message."""
        text = clean_message(first_message)
        session = cls(
            id=session_id,
            account_id=account_id,
            user_id=user_id,
            session_type=SessionType.CHAT,
            intake_type=IntakeType.FREE_TEXT,
            intake_content={"text": text},
            created_at=now,
            updated_at=now,
            last_activity_at=now,
            title=make_title(text),
            system_prompt_snapshot=system_prompt,
        )
        session._record(SessionStarted, now, by=user_id, session_type=SessionType.CHAT)
        session.add_message(MessageRole.USER, text, now=now, by=user_id)
        return session

    @classmethod
    def start_guided(
        cls,
        *,
        session_id: UUID,
        account_id: str,
        user_id: str,
        intake_type: IntakeType,
        intake_content: dict[str, Any],
        now: datetime,
        system_prompt: str | None = None,
    ) -> Session:
        """A guided session on an intake; the AI's first step comes with `add_step`."""
        intake_type = enum_value(IntakeType, intake_type, "intake_type")
        content = _checked_intake(intake_type, intake_content)
        session = cls(
            id=session_id,
            account_id=account_id,
            user_id=user_id,
            session_type=SessionType.GUIDED,
            intake_type=intake_type,
            intake_content=content,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
            system_prompt_snapshot=system_prompt,
        )
        session._record(SessionStarted, now, by=user_id, session_type=SessionType.GUIDED)
        return session

    # -- derived state --------------------------------------------------------------------

    @property
    def step_count(self) -> int:
        """Chat: the number of messages; guided: the number of steps."""
        if self.session_type is SessionType.CHAT:
            return len(self.conversation_messages)
        return len(self.steps)

    @property
    def confidence_tier(self) -> ConfidenceTier | None:
        return None if self.confidence_score is None else tier_for(self.confidence_score)

    @property
    def pending_step(self) -> GuidedStep | None:
        """The last step while it waits for the engineer's answer.

        Closing a session (resolve, abandon, escalate) closes its pending step: a closed or
        escalated session has none. A claim reopens it for the new owner to answer.
        """
        if self.status in _STEP_CLOSING:
            return None
        if self.steps and self.steps[-1].is_pending:
            return self.steps[-1]
        return None

    @property
    def unanswered_step(self) -> GuidedStep | None:
        """The last step if it never got an answer (pending, or closed with the session)."""
        if self.steps and self.steps[-1].is_pending:
            return self.steps[-1]
        return None

    @property
    def is_closed(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def intake_text(self) -> str:
        """The intake's text, whatever the intake type (empty if it has none)."""
        for key in ("text", "summary", "log", "description"):
            value = self.intake_content.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return ""

    @property
    def usage(self) -> TokenUsage:
        """Tokens the LLM used on this session's messages and steps, added up."""
        total = TokenUsage()
        for usage in [m.usage for m in self.conversation_messages] + [s.usage for s in self.steps]:
            if usage is not None:
                total = total + usage
        return total

    def pull_events(self) -> list[DomainEvent]:
        """The events recorded since the last pull (the unit of work drains them)."""
        events, self.events = self.events, []
        return events

    # -- chat -----------------------------------------------------------------------------

    def add_message(
        self,
        role: MessageRole,
        content: str,
        *,
        now: datetime,
        by: str | None,
        model: str | None = None,
        usage: TokenUsage | None = None,
    ) -> ConversationMessage:
        """Append a message to an active chat session's history."""
        operation = "add a message"
        self._require_type(SessionType.CHAT, operation)
        self._require_active(operation)
        if role is MessageRole.USER:
            text = clean_message(content)
        else:
            text = clean_message(without_nul(content), field="reply", limit=MAX_REPLY_CHARS)
        message = ConversationMessage(role, text, now, model=model, usage=usage)
        self.conversation_messages.append(message)
        self.last_activity_at = now
        index = len(self.conversation_messages) - 1
        self._record(MessageAdded, now, by=by, role=role, index=index)
        return message

    def check_awaits_reply(self) -> None:
        """Raise unless the chat's last message is the engineer's, still without a reply."""
        operation = "get a reply"
        self._require_type(SessionType.CHAT, operation)
        self._require_active(operation)
        if not self.conversation_messages or (
            self.conversation_messages[-1].role is not MessageRole.USER
        ):
            raise NothingToAnswer(self.id)

    # -- guided ---------------------------------------------------------------------------

    def add_step(
        self, proposed: ProposedStep, *, now: datetime, usage: TokenUsage | None = None
    ) -> GuidedStep:
        """Add the AI's next step; the previous one must have been answered."""
        self.check_can_add_step()
        step = GuidedStep(
            number=len(self.steps) + 1,
            kind=proposed.kind,
            content=proposed.content,
            options=proposed.options,
            reasoning=proposed.reasoning,
            confidence=proposed.confidence,
            created_at=now,
            usage=usage,
        )
        self.steps.append(step)
        self.confidence_score = proposed.confidence
        if proposed.matched_flow_id is not None:
            self.matched_flow_id = proposed.matched_flow_id
            self.match_score = proposed.match_score
        self.last_activity_at = now
        self._record(
            StepAdded, now, by=None, number=step.number, kind=step.kind, confidence=step.confidence
        )
        return step

    def check_can_add_step(self) -> None:
        """Raise unless the AI may propose a step now (asked before paying for an LLM call)."""
        operation = "add a step"
        self._require_type(SessionType.GUIDED, operation)
        self._require_active(operation)
        pending = self.pending_step
        if pending is not None:
            raise StepAlreadyPending(self.id, pending.number)

    def answer_step(self, response: str, *, now: datetime, by: str) -> GuidedStep:
        """Record the engineer's answer to the pending step."""
        operation = "answer a step"
        self._require_type(SessionType.GUIDED, operation)
        self._require_active(operation)
        pending = self.pending_step
        if pending is None:
            raise NoPendingStep(self.id)
        text = clean_message(response, field="response")
        answered = replace(pending, response=text, responded_at=now)
        self.steps[-1] = answered
        self.last_activity_at = now
        self._record(StepAnswered, now, by=by, number=answered.number)
        return answered

    # -- both kinds -----------------------------------------------------------------------

    def describe(self, summary: str, domain: ProblemDomain, *, now: datetime) -> None:
        """Set the AI-made problem summary and domain."""
        domain = enum_value(ProblemDomain, domain, "problem_domain")
        if self.is_closed:
            raise InvalidTransition(self.status, "describe", f"a {self.status} session is closed")
        text = clean_message(without_nul(summary), field="problem_summary", limit=MAX_SUMMARY_CHARS)
        self.problem_summary = text
        self.problem_domain = domain
        self._record(SessionDescribed, now, by=None, problem_summary=text, problem_domain=domain)

    def pause(self, *, now: datetime, by: str) -> None:
        self.status = next_status(self.status, _A.PAUSE)
        self.paused_at = now
        self.last_activity_at = now
        self._record(SessionPaused, now, by=by)

    def resume(self, *, now: datetime, by: str) -> None:
        self.status = next_status(self.status, _A.RESUME)
        self.paused_at = None
        self.last_activity_at = now
        self._record(SessionResumed, now, by=by)

    def resolve(
        self, summary: str, *, now: datetime, by: str, root_cause: str | None = None
    ) -> None:
        """Close the session as solved; the summary is required."""
        target = next_status(self.status, _A.RESOLVE)
        text = clean_message(summary, field="resolution_summary", limit=MAX_SUMMARY_CHARS)
        cause = _optional_text(root_cause, "root_cause")
        self.status = target
        self.resolution_summary = text
        self.root_cause = cause
        self.paused_at = None
        self.resolved_at = now
        self.last_activity_at = now
        note = documentation.resolution_note(self)
        self._record(
            SessionResolved,
            now,
            by=by,
            resolution_summary=text,
            resolution_note=note,
            **self._ticket_fields(),
        )

    def escalate(self, reason: str, *, now: datetime, by: str) -> None:
        """Hand the session to a senior engineer; the reason is required."""
        target = next_status(self.status, _A.ESCALATE)
        text = clean_message(reason, field="escalation_reason", limit=MAX_SUMMARY_CHARS)
        self.status = target
        self.escalation_reason = text
        self.escalated_by = by
        self.paused_at = None
        self.escalated_at = now
        self.last_activity_at = now
        package = documentation.escalation_package(self)
        self._record(
            SessionEscalated,
            now,
            by=by,
            reason=text,
            escalation_package=package,
            **self._ticket_fields(),
        )

    def claim(self, *, now: datetime, by: str) -> None:
        """Another engineer takes over an escalated session and becomes its owner."""
        target = next_status(self.status, _A.CLAIM)
        if by == self.escalated_by:
            raise InvalidTransition(
                self.status,
                _A.CLAIM,
                "it must be claimed by an engineer other than the one who escalated it",
            )
        previous = self.user_id
        self.status = target
        self.user_id = by
        if previous not in self.former_owner_ids:
            self.former_owner_ids.append(previous)
        self.escalated_at = None
        self.last_activity_at = now
        self._record(SessionClaimed, now, by=by, previous_owner=previous)

    def abandon(self, *, now: datetime, by: str, reason: str | None = None) -> None:
        """Close the session without a solution."""
        target = next_status(self.status, _A.ABANDON)
        why = _optional_text(reason, "reason")
        self.status = target
        self.abandon_reason = why
        self.paused_at = None
        self.abandoned_at = now
        self.last_activity_at = now
        self._record(SessionAbandoned, now, by=by, reason=why)

    def link_ticket(self, link: PSALink, *, by: str) -> None:
        """Link a PSA ticket (replacing any earlier link); allowed in every status."""
        if not link.ticket_id.strip():
            raise InvalidInput("ticket_id", "must not be empty")
        self.psa_link = link
        self._record(
            TicketLinked, link.linked_at, by=by, provider=link.provider, ticket_id=link.ticket_id
        )

    def share_status_update(self, draft: StatusUpdateDraft, *, now: datetime, by: str) -> None:
        """Record an update shared with an audience; changes no status, works when closed."""
        self._record(
            StatusUpdateShared,
            now,
            by=by,
            audience=draft.audience,
            length=draft.length,
            subject=draft.subject,
            body=draft.body,
            **self._ticket_fields(),
        )

    # -- internals ------------------------------------------------------------------------

    def _ticket_fields(self) -> dict[str, str | None]:
        """The linked ticket, for events whose documentation is due on it."""
        link = self.psa_link
        return {
            "ticket_provider": link.provider if link else None,
            "ticket_id": link.ticket_id if link else None,
        }

    def _require_type(self, expected: SessionType, operation: str) -> None:
        if self.session_type is not expected:
            raise WrongSessionType(operation, self.session_type, expected)

    def _require_active(self, operation: str) -> None:
        if self.status is not _S.ACTIVE:
            reason = "only an active session allows that"
            raise InvalidTransition(self.status, operation, reason)

    def _record(
        self, event_type: type[DomainEvent], now: datetime, *, by: str | None, **fields: Any
    ) -> None:
        self.version += 1
        self.updated_at = max(self.updated_at, now)
        self.events.append(
            event_type(
                session_id=self.id,
                account_id=self.account_id,
                version=self.version,
                occurred_at=now,
                by=by,
                **fields,
            )
        )


def _optional_text(value: str | None, field: str) -> str | None:
    """Blank means absent; anything else is checked like a summary."""
    if value is None or not value.strip():
        return None
    return clean_message(value, field=field, limit=MAX_SUMMARY_CHARS)


def _checked_intake(intake_type: IntakeType, content: dict[str, Any]) -> dict[str, Any]:
    """The intake if it is a JSON object with something to work on, else `InvalidInput`."""
    if not isinstance(content, dict) or not content:
        raise InvalidInput("intake_content", "must be a non-empty JSON object")
    try:
        encoded = json.dumps(content, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("intake_content", f"must be JSON: {exc}") from None
    if "\\u0000" in encoded:  # JSON writes NUL as an escape
        raise InvalidInput("intake_content", "must not contain NUL (U+0000) characters")
    size = len(encoded.encode())
    if size > MAX_INTAKE_BYTES:
        raise ContentTooLarge("intake_content", size, MAX_INTAKE_BYTES)
    required = {
        IntakeType.FREE_TEXT: "text",
        IntakeType.LOG_PASTE: "text",
        IntakeType.PSA_TICKET: "ticket_id",
    }.get(intake_type)
    if required is not None:
        value = content.get(required)
        if not isinstance(value, str | int) or not str(value).strip():
            raise InvalidInput(
                f"intake_content.{required}", f"is required for a {intake_type} intake"
            )
    elif not any(isinstance(v, str) and v.strip() for v in content.values()):
        raise InvalidInput("intake_content", "must carry at least one non-empty text field")
    return dict(content)
