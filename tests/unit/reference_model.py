"""A plain reference model of sessions, written from docs/domain.md, for the lifecycle machine.

It knows nothing of the core's tables or checks: it predicts, for every call, whether the
service must succeed or which domain error it must raise, and what the session looks like
afterwards (status, owner, counts, version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from resolutionflow_core.errors import (
    DomainError,
    InvalidInput,
    InvalidTransition,
    NoPendingStep,
    NothingToAnswer,
    PermissionDenied,
    PSANotConfigured,
    SessionNotFound,
    StepAlreadyPending,
    TicketNotFound,
    WrongSessionType,
)

ACTIVE, PAUSED, RESOLVED, ESCALATED, ABANDONED = (
    "active",
    "paused",
    "resolved",
    "escalated",
    "abandoned",
)
TERMINAL = frozenset({RESOLVED, ABANDONED})
OPEN = frozenset({ACTIVE, PAUSED})
CHAT, GUIDED = "chat", "guided"

# The lifecycle table of docs/domain.md, written out by hand.
LIFECYCLE: dict[tuple[str, str], str] = {
    (ACTIVE, "pause"): PAUSED,
    (PAUSED, "resume"): ACTIVE,
    (ACTIVE, "resolve"): RESOLVED,
    (PAUSED, "resolve"): RESOLVED,
    (ACTIVE, "abandon"): ABANDONED,
    (PAUSED, "abandon"): ABANDONED,
    (ACTIVE, "escalate"): ESCALATED,
    (PAUSED, "escalate"): ESCALATED,
    (ESCALATED, "claim"): ACTIVE,
}

Outcome = type[DomainError] | None
"""``None``: the call must succeed; otherwise the domain error class it must raise."""


@dataclass(frozen=True)
class Person:
    """Who runs a call: account, user and role (``owner``, ``admin``, ``engineer``, ``viewer``)."""

    account: str
    user: str
    role: str

    @property
    def sees_whole_account(self) -> bool:
        return self.role in {"owner", "admin", "viewer"}

    @property
    def manages(self) -> bool:
        return self.role in {"owner", "admin"}


@dataclass
class ModelSession:
    id: UUID
    kind: str
    account: str
    owner: str
    status: str = ACTIVE
    escalated_by: str | None = None
    former_owners: list[str] = field(default_factory=list)
    """Who owned it before each claim, oldest first, each once."""
    messages: int = 0
    steps: int = 0
    pending: bool = False
    described: bool = False
    linked_ticket: str | None = None
    version: int = 0

    @property
    def open_step(self) -> bool:
        """A step waits for an answer: closing (resolve, abandon, escalate) closes it."""
        return self.pending and self.status not in {RESOLVED, ABANDONED, ESCALATED}


def blank(text: str) -> bool:
    """Text the domain refuses where text is required: blank, or with a NUL character."""
    return not text.strip() or "\x00" in text


def refused_optional(text: str | None) -> bool:
    """Optional text the domain refuses: present (not blank) but with a NUL character."""
    return text is not None and bool(text.strip()) and "\x00" in text


class ReferenceModel:
    """Sessions as plain records, and the rules of "Lifecycle" and "Who may do what"."""

    def __init__(self, tickets: dict[str, frozenset[str]]) -> None:
        self.sessions: dict[UUID, ModelSession] = {}
        self.tickets = tickets
        """Ticket ids each account's PSA holds; an account without an entry has no PSA."""

    # -- who sees and changes what ----------------------------------------------------------

    def can_see(self, person: Person, s: ModelSession) -> bool:
        return s.account == person.account and (
            person.sees_whole_account
            or s.owner == person.user
            or s.escalated_by == person.user  # they follow up on their escalation
            or person.user in s.former_owners  # and on the session they owned before a claim
            or s.status == ESCALATED
        )

    def visible_ids(self, person: Person) -> set[UUID]:
        return {sid for sid, s in self.sessions.items() if self.can_see(person, s)}

    def read(self, person: Person, sid: UUID) -> Outcome:
        s = self.sessions.get(sid)
        return None if s is not None and self.can_see(person, s) else SessionNotFound

    def work(self, person: Person, sid: UUID) -> Outcome:
        """Changing a session: its owner, or an owner/admin of the account; viewers never."""
        if (refused := self.read(person, sid)) is not None:
            return refused
        if person.role == "viewer":
            return PermissionDenied
        if self.sessions[sid].owner != person.user and not person.manages:
            return PermissionDenied
        return None

    # -- predictions ------------------------------------------------------------------------

    def refused_working_on(self, person: Person, sid: UUID, kind: str) -> Outcome:
        """Why ``person`` may not work on ``sid`` as an active session of ``kind``, if so."""
        if (refused := self.work(person, sid)) is not None:
            return refused
        s = self.sessions[sid]
        if s.kind != kind:
            return WrongSessionType
        if s.status != ACTIVE:
            return InvalidTransition
        return None

    @staticmethod
    def start(person: Person, text_ok: bool) -> Outcome:
        if person.role == "viewer":
            return PermissionDenied
        return None if text_ok else InvalidInput

    def send_message(self, person: Person, sid: UUID, text: str) -> Outcome:
        if (refused := self.refused_working_on(person, sid, CHAT)) is not None:
            return refused
        return InvalidInput if blank(text) else None

    def answer_step(self, person: Person, sid: UUID, text: str) -> Outcome:
        if (refused := self.refused_working_on(person, sid, GUIDED)) is not None:
            return refused
        if not self.sessions[sid].pending:
            return NoPendingStep
        return InvalidInput if blank(text) else None

    def request_next_step(self, person: Person, sid: UUID) -> Outcome:
        if (refused := self.refused_working_on(person, sid, GUIDED)) is not None:
            return refused
        return StepAlreadyPending if self.sessions[sid].pending else None

    def answer_again(self, person: Person, sid: UUID) -> Outcome:
        if (refused := self.refused_working_on(person, sid, CHAT)) is not None:
            return refused
        # Every stored user message got its reply (the offline LLM never fails): there is
        # never anything left to answer again.
        return NothingToAnswer

    def lifecycle(
        self,
        person: Person,
        sid: UUID,
        action: str,
        text: str | None,
        optional: str | None = None,
    ) -> Outcome:
        if (refused := self.work(person, sid)) is not None:
            return refused
        if (self.sessions[sid].status, action) not in LIFECYCLE:
            return InvalidTransition
        if action in {"resolve", "escalate"} and (text is None or blank(text)):
            return InvalidInput
        if refused_optional(optional):  # a root cause or an abandon reason
            return InvalidInput
        return None

    def claim(self, person: Person, sid: UUID) -> Outcome:
        if (refused := self.read(person, sid)) is not None:
            return refused
        if person.role == "viewer":
            return PermissionDenied
        s = self.sessions[sid]
        if (s.status, "claim") not in LIFECYCLE or s.escalated_by == person.user:
            return InvalidTransition
        return None

    def link_ticket(self, person: Person, sid: UUID, ticket_id: str) -> Outcome:
        if (refused := self.work(person, sid)) is not None:
            return refused
        if person.account not in self.tickets:
            return PSANotConfigured
        return None if ticket_id.strip() in self.tickets[person.account] else TicketNotFound

    def share(self, person: Person, sid: UUID) -> Outcome:
        return self.work(person, sid)

    # -- effects of successful calls --------------------------------------------------------

    def started_chat(self, sid: UUID, person: Person) -> None:
        # started + first message, then the reply and (first time) the description.
        self.sessions[sid] = ModelSession(
            sid, CHAT, person.account, person.user, messages=2, described=True, version=4
        )

    def started_guided(self, sid: UUID, person: Person) -> None:
        # started, then the first step and the description.
        self.sessions[sid] = ModelSession(
            sid,
            GUIDED,
            person.account,
            person.user,
            steps=1,
            pending=True,
            described=True,
            version=3,
        )

    def message_sent(self, sid: UUID) -> None:
        s = self.sessions[sid]
        s.messages += 2
        s.version += 2 + (not s.described)
        s.described = True

    def step_answered(self, sid: UUID) -> None:
        s = self.sessions[sid]
        s.steps += 1
        s.pending = True
        s.version += 2 + (not s.described)
        s.described = True

    def transitioned(self, sid: UUID, action: str, person: Person) -> None:
        s = self.sessions[sid]
        s.status = LIFECYCLE[(s.status, action)]
        if action == "escalate":
            s.escalated_by = person.user
        if action == "claim":
            if s.owner not in s.former_owners:
                s.former_owners.append(s.owner)
            s.owner = person.user
        s.version += 1

    def linked(self, sid: UUID, ticket_id: str) -> None:
        s = self.sessions[sid]
        s.linked_ticket = ticket_id.strip()
        s.version += 1

    def shared(self, sid: UUID) -> None:
        self.sessions[sid].version += 1
