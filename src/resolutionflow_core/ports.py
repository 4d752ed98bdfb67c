"""The ports: what the core needs from the outside world, as `typing.Protocol`s.

Adapters implement them with domain types in and out; no ORM row, SDK object or HTTP
response ever crosses a port. Errors cross as the domain's own (`StaleSession`,
`SessionNotFound`, `LLMUnavailable`, `PSAError`...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeVar
from uuid import UUID

from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.kinds import ProblemDomain

if TYPE_CHECKING:  # what crosses the ports, named for type checkers: none is needed to run
    from resolutionflow_core.guided import ProposedStep
    from resolutionflow_core.kinds import SessionType
    from resolutionflow_core.listing import SessionPage, SessionQuery
    from resolutionflow_core.search import SearchPage, SearchQuery
    from resolutionflow_core.session import Session
    from resolutionflow_core.tickets import PSANote, Ticket
    from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
    from resolutionflow_core.usage import TokenUsage

# -- storage ----------------------------------------------------------------------------

T = TypeVar("T")


class SessionRepository(Protocol):
    """Sessions of the unit of work's transaction. Loaded sessions are tracked for commit."""

    async def add(self, session: Session) -> None:
        """Track a new session; it is inserted on commit."""

    async def get(self, session_id: UUID, *, account_id: str) -> Session:
        """The session with its messages or steps; `SessionNotFound` if not in this account."""

    async def attach(self, session: Session) -> None:
        """Track a session this process committed earlier (in another unit of work), as it
        is now, without reading it again: the next commit compares-and-sets on its current
        version, so a copy someone else changed meanwhile is refused with `StaleSession`.
        The session must carry no uncommitted change."""

    async def list(self, query: SessionQuery) -> SessionPage:
        """One page of summaries, newest activity first."""


class SessionSearch(Protocol):
    """Full-text search over the committed sessions (see `resolutionflow_core.search`)."""

    async def search(self, query: SearchQuery) -> SearchPage:
        """One page of hits of ``query.filters.account_id`` only, best first."""
        ...


class UnitOfWork(Protocol):
    """One transaction. ``async with uow:`` opens it; leaving without `commit` rolls back.

    `commit` writes every tracked session whose state changed, refusing with
    `StaleSession` (and writing nothing) if any was changed by someone else since it was
    loaded, and hands the sessions' recorded events to the outbox in the same transaction.
    """

    @property
    def sessions(self) -> SessionRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    async def change(
        self, session_id: UUID, *, account_id: str, apply: Callable[[Session], T]
    ) -> tuple[Session, T]:
        """Load the session, ``apply`` a change to it, and commit: `sessions.get`, the call,
        then `commit`, as one operation, so that a storage can run it as one transaction
        (the SQL adapter: one thread hop on SQLite instead of a read and a write).

        ``apply`` is plain code without I/O (authorize, mutate); it may run in a worker
        thread. If it raises, nothing is written and its exception propagates. Anything
        else this unit of work tracks is committed with it. `SessionNotFound` and
        `StaleSession` as for `get` and `commit`.
        """
        ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work per operation (and per retry)."""

    def __call__(self) -> UnitOfWork: ...


# -- LLM --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssistantReply:
    """A complete chat reply, raw text with any assistant markers in it."""

    text: str
    model: str | None = None
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of a streamed reply, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ReplyCompleted:
    """The last event of a stream: the whole reply (whose text the deltas add up to)."""

    reply: AssistantReply


ReplyEvent = TextDelta | ReplyCompleted


@dataclass(frozen=True, slots=True)
class StepProposal:
    """The next guided step, with what it cost."""

    step: ProposedStep
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    """The AI's short description of a session's problem."""

    summary: str
    domain: ProblemDomain
    title: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", ProblemDomain(self.domain))
        if not isinstance(self.summary, str) or not self.summary.strip():
            raise InvalidInput("summary", "must not be blank")


class LLM(Protocol):
    """The language model. Failures raise `LLMUnavailable` (retryable) or `LLMResponseInvalid`.

    A stream that fails part-way raises after the deltas it yielded; the service then stores
    nothing of that reply.
    """

    def system_prompt(self, session_type: SessionType) -> str:
        """The system prompt used for this kind of session (snapshotted on the session)."""
        ...

    async def chat_reply(self, session: Session) -> AssistantReply:
        """The assistant's reply to the chat history (which ends with the user's message)."""
        ...

    def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        """The same reply as `TextDelta`s, then one `ReplyCompleted`."""
        ...

    async def next_step(self, session: Session) -> StepProposal:
        """The next guided step, from the intake and the answered steps."""
        ...

    async def describe(self, session: Session) -> SessionDescription:
        """Summary, domain and title from the first messages or steps."""
        ...

    async def draft_status_update(
        self, session: Session, audience: Audience, length: UpdateLength
    ) -> StatusUpdateDraft:
        """An update on the session for ``audience`` at ``length``."""
        ...


# -- PSA --------------------------------------------------------------------------------


class PSAClient(Protocol):
    """One PSA connection (ConnectWise, HaloPSA, Autotask...). Failures raise `PSAError`s."""

    @property
    def provider(self) -> str: ...

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket now; `TicketNotFound` if the PSA has none."""
        ...

    async def post_note(self, ticket_id: str, note: PSANote) -> str:
        """Post a note of ``note.kind``; returns the PSA's id for it."""
        ...

    async def change_status(self, ticket_id: str, status: str) -> None:
        """Set the ticket's status, verified by reading it back."""
        ...

    async def find_note(self, ticket_id: str, marker: str) -> str | None:
        """The id of the ticket's note carrying ``marker``, if there is one."""
        ...


class PSAConnections(Protocol):
    """The PSA connection of each account."""

    async def client_for(self, account_id: str) -> PSAClient:
        """The account's PSA client; `PSANotConfigured` if it has none."""
        ...

    async def status_after(self, account_id: str, change: str) -> str | None:
        """The ticket status the account wants after a session is ``change``d ("resolved",
        "escalated"), if any."""
        ...


# -- time and ids -----------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdSource(Protocol):
    def new_session_id(self) -> UUID: ...
