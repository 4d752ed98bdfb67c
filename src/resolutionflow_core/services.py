"""The use cases. Each runs as an actor: load, call one aggregate method, commit, return.

Writes are retried on a fresh copy when someone else changed the session meanwhile
(`StaleSession`): the aggregate re-checks its rules against the fresh state, so a retry
never does what the fresh state forbids, and concurrent chat turns all land, none twice.

LLM calls happen between transactions, never inside one: the engineer's message or answer
is committed first, so an LLM failure loses nothing (the error says where it is saved).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, Unpack
from uuid import UUID

from resolutionflow_core import access, search
from resolutionflow_core.access import Actor
from resolutionflow_core.chat import ConversationMessage, MessageRole
from resolutionflow_core.errors import (
    DomainError,
    LLMError,
    LLMResponseInvalid,
    PSANotConfigured,
    StaleSession,
    enum_value,
)
from resolutionflow_core.idempotency import storing_input
from resolutionflow_core.lifecycle import OPEN_STATUSES, TERMINAL_STATUSES, SessionStatus
from resolutionflow_core.listing import (
    Dashboard,
    SessionFilters,
    SessionPage,
    SessionQuery,
    history_query,
)
from resolutionflow_core.markers import ParsedReply, parse_markers
from resolutionflow_core.ports import (
    LLM,
    AssistantReply,
    Clock,
    IdSource,
    PSAConnections,
    ReplyCompleted,
    SessionDescription,
    SessionSearch,
    TextDelta,
    UnitOfWorkFactory,
)
from resolutionflow_core.search import SearchPage
from resolutionflow_core.session import IntakeType, Session, SessionType
from resolutionflow_core.similar import SimilarSession
from resolutionflow_core.system import RandomIds, SystemClock
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength

T = TypeVar("T")

DEFAULT_WRITE_ATTEMPTS = 50
"""How often a write is retried on a fresh copy before `StaleSession` reaches the caller."""


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One exchange: the engineer's stored message and the assistant's stored reply."""

    session: Session
    message: ConversationMessage
    reply: ConversationMessage

    @property
    def parsed(self) -> ParsedReply:
        """The reply with its markers parsed into questions, actions and forks."""
        return parse_markers(self.reply.content)


class SessionService:
    """Every operation of docs/domain.md, over the ports it is given."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        llm: LLM,
        psa: PSAConnections | None = None,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        write_attempts: int = DEFAULT_WRITE_ATTEMPTS,
        search: SessionSearch | None = None,
    ) -> None:
        self._uow = uow
        self._llm = llm
        self._psa = psa
        self._clock = clock or SystemClock()
        self._ids = ids or RandomIds()
        self._write_attempts = max(1, write_attempts)
        self._search = search

    # -- start ----------------------------------------------------------------------------

    async def start_chat(self, actor: Actor, first_message: str) -> ChatTurn:
        """A chat session: the first message is stored, then answered and titled."""
        access.ensure_can_create(actor)
        session = Session.start_chat(
            session_id=self._ids.new_session_id(),
            account_id=actor.account_id,
            user_id=actor.user_id,
            first_message=first_message,
            now=self._clock.now(),
            system_prompt=self._llm.system_prompt(SessionType.CHAT),
        )
        session.similar_sessions = await self._recall(actor, first_message)
        await storing_input(session.id)
        await self._insert(session)
        reply = await self._llm_call(session.id, self._llm.chat_reply(session))
        return await self._store_reply(actor, session, session.conversation_messages[-1], reply)

    async def start_guided(
        self, actor: Actor, intake_type: IntakeType | str, intake_content: dict[str, Any]
    ) -> Session:
        """A guided session: the intake is stored, then the AI proposes the first step.

        ``intake_type`` is an `IntakeType` or its value (``"free_text"``); anything else is
        `InvalidInput`.
        """
        access.ensure_can_create(actor)
        intake_type = enum_value(IntakeType, intake_type, "intake_type")
        session = Session.start_guided(
            session_id=self._ids.new_session_id(),
            account_id=actor.account_id,
            user_id=actor.user_id,
            intake_type=intake_type,
            intake_content=intake_content,
            now=self._clock.now(),
            system_prompt=self._llm.system_prompt(SessionType.GUIDED),
        )
        session.similar_sessions = await self._recall(actor, session.intake_text)
        await storing_input(session.id)
        await self._insert(session)
        return await self._propose_step(actor, session)

    # -- chat -----------------------------------------------------------------------------

    async def send_message(self, actor: Actor, session_id: UUID, content: str) -> ChatTurn:
        """Store the engineer's message, then the assistant's reply to it."""
        await storing_input(session_id)
        session, message = await self._append_user_message(actor, session_id, content)
        reply = await self._llm_call(session.id, self._llm.chat_reply(session))
        return await self._store_reply(actor, session, message, reply)

    async def stream_message(
        self, actor: Actor, session_id: UUID, content: str
    ) -> AsyncGenerator[TextDelta | ChatTurn, None]:
        """Like `send_message`, the reply streamed as `TextDelta`s, the stored `ChatTurn` last.

        If the consumer goes away mid-stream, the reply is still completed and stored.
        """
        session, message = await self._append_user_message(actor, session_id, content)
        reply: AssistantReply | None = None
        consumer_gone = False
        try:
            async for event in self._llm.stream_chat_reply(session):
                if isinstance(event, ReplyCompleted):
                    reply = event.reply
                elif not consumer_gone:
                    try:
                        yield event
                    except GeneratorExit:
                        consumer_gone = True
        except LLMError as error:
            raise error.saved_in(session.id) from error
        if reply is None:
            raise LLMResponseInvalid("the reply stream ended before it completed").saved_in(
                session.id
            )
        turn = await self._store_reply(actor, session, message, reply)
        if not consumer_gone:
            yield turn

    async def answer_again(self, actor: Actor, session_id: UUID) -> ChatTurn:
        """Ask the assistant again to answer the last message (after an LLM failure)."""
        session = await self.get(actor, session_id)
        access.ensure_can_work(actor, session, "ask for a reply")
        session.check_awaits_reply()
        reply = await self._llm_call(session.id, self._llm.chat_reply(session))
        return await self._store_reply(actor, session, session.conversation_messages[-1], reply)

    # -- guided ---------------------------------------------------------------------------

    async def answer_step(self, actor: Actor, session_id: UUID, response: str) -> Session:
        """Store the engineer's answer to the pending step, then the AI's next step."""
        await storing_input(session_id)
        session, _ = await self._change(
            actor,
            session_id,
            "answer a step",
            lambda s, now: s.answer_step(response, now=now, by=actor.user_id),
        )
        return await self._propose_step(actor, session)

    async def request_next_step(self, actor: Actor, session_id: UUID) -> Session:
        """Ask the AI for a step when none is pending (after an LLM failure).

        `StepAlreadyPending` if a step still waits for its answer (answer it instead).
        """
        session = await self.get(actor, session_id)
        access.ensure_can_work(actor, session, "ask for the next step")
        session.check_can_add_step()
        return await self._propose_step(actor, session)

    # -- lifecycle ------------------------------------------------------------------------

    async def pause(self, actor: Actor, session_id: UUID) -> Session:
        return await self._lifecycle(
            actor, session_id, "pause", lambda s, now: s.pause(now=now, by=actor.user_id)
        )

    async def resume(self, actor: Actor, session_id: UUID) -> Session:
        return await self._lifecycle(
            actor, session_id, "resume", lambda s, now: s.resume(now=now, by=actor.user_id)
        )

    async def resolve(
        self, actor: Actor, session_id: UUID, summary: str, root_cause: str | None = None
    ) -> Session:
        return await self._lifecycle(
            actor,
            session_id,
            "resolve",
            lambda s, now: s.resolve(summary, now=now, by=actor.user_id, root_cause=root_cause),
        )

    async def escalate(self, actor: Actor, session_id: UUID, reason: str) -> Session:
        return await self._lifecycle(
            actor,
            session_id,
            "escalate",
            lambda s, now: s.escalate(reason, now=now, by=actor.user_id),
        )

    async def abandon(self, actor: Actor, session_id: UUID, reason: str | None = None) -> Session:
        return await self._lifecycle(
            actor,
            session_id,
            "abandon",
            lambda s, now: s.abandon(now=now, by=actor.user_id, reason=reason),
        )

    async def claim(self, actor: Actor, session_id: UUID) -> Session:
        session, _ = await self._change(
            actor,
            session_id,
            "claim",
            lambda s, now: s.claim(now=now, by=actor.user_id),
            authorize=lambda a, s, _operation: access.ensure_can_claim(a, s),
        )
        return session

    # -- PSA and updates ------------------------------------------------------------------

    async def link_ticket(self, actor: Actor, session_id: UUID, ticket_id: str) -> Session:
        """Link a PSA ticket of the account's connection, snapshotting it as it is now."""
        access.ensure_can_work(actor, await self.get(actor, session_id), "link a ticket")
        if self._psa is None:
            raise PSANotConfigured(actor.account_id)
        client = await self._psa.client_for(actor.account_id)
        ticket = await client.get_ticket(ticket_id.strip())
        session, _ = await self._change(
            actor,
            session_id,
            "link a ticket",
            lambda s, now: s.link_ticket(
                PSALink(client.provider, ticket.ticket_id, ticket.snapshot(), now),
                by=actor.user_id,
            ),
        )
        return session

    async def share_status_update(
        self,
        actor: Actor,
        session_id: UUID,
        audience: Audience | str,
        length: UpdateLength | str,
    ) -> StatusUpdateDraft:
        """Have the AI draft an update for ``audience``, and record that it was shared.

        ``audience`` and ``length`` are the enums or their values; anything else is
        `InvalidInput`.
        """
        audience = enum_value(Audience, audience, "audience")
        length = enum_value(UpdateLength, length, "length")
        session = await self.get(actor, session_id)
        access.ensure_can_work(actor, session, "share a status update")
        draft = await self._llm_call(None, self._llm.draft_status_update(session, audience, length))
        await self._change(
            actor,
            session_id,
            "share a status update",
            lambda s, now: s.share_status_update(draft, now=now, by=actor.user_id),
            known=session,
        )
        return draft

    # -- reading --------------------------------------------------------------------------

    async def get(self, actor: Actor, session_id: UUID) -> Session:
        """One session with its messages or steps."""
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, account_id=actor.account_id)
        access.ensure_visible(actor, session)
        return session

    async def list(self, actor: Actor, **filters: Unpack[SessionFilters]) -> SessionPage:
        """The history, newest activity first; pass ``next_cursor`` back for the next page.

        Types and statuses are the enums or their values; anything else is `InvalidInput`.
        """
        query = history_query(actor, **filters)
        async with self._uow() as uow:
            page = await uow.sessions.list(query)
        return page.of_query(query)

    async def search(
        self, actor: Actor, text: str, **filters: Unpack[SessionFilters]
    ) -> SearchPage:
        """Sessions matching ``text`` (web-search syntax) and the filters, best first."""
        query = search.search_query(actor, text, **filters)
        if self._search is None:
            raise search.SearchNotConfigured()
        return await self._search.search(query)

    async def dashboard(self, actor: Actor, *, limit: int = 10) -> Dashboard:
        """Open sessions, escalations waiting for a claim, and recently closed sessions
        (resolved or abandoned: `TERMINAL_STATUSES`; an escalated session is not closed, it
        waits for a claim, and shows there only).

        Engineers see their own; owners, admins and viewers see the whole account.
        """
        owner = None if actor.sees_whole_account else actor.user_id

        def query(statuses: frozenset[SessionStatus], owner_id: str | None) -> SessionQuery:
            return SessionQuery(
                account_id=actor.account_id, statuses=statuses, owner_id=owner_id, limit=limit
            )

        async with self._uow() as uow:
            active = await uow.sessions.list(query(OPEN_STATUSES, owner))
            escalated = await uow.sessions.list(query(frozenset({SessionStatus.ESCALATED}), None))
            recent = await uow.sessions.list(query(TERMINAL_STATUSES, owner))
        return Dashboard(active.items, escalated.items, recent.items)

    # -- internals ------------------------------------------------------------------------

    async def _recall(self, actor: Actor, problem: str) -> tuple[SimilarSession, ...]:
        """The account's resolved sessions most like ``problem`` that the actor may open."""
        query = search.recall_query(actor, problem)
        if self._search is None or query is None:
            return ()
        return search.similar_from(query, (await self._search.search(query)).items)

    async def _insert(self, session: Session) -> None:
        async with self._uow() as uow:
            await uow.sessions.add(session)
            await uow.commit()

    async def _append_user_message(
        self, actor: Actor, session_id: UUID, content: str
    ) -> tuple[Session, ConversationMessage]:
        return await self._change(
            actor,
            session_id,
            "send a message",
            lambda s, now: s.add_message(MessageRole.USER, content, now=now, by=actor.user_id),
        )

    async def _store_reply(
        self,
        actor: Actor,
        session: Session,
        message: ConversationMessage,
        reply: AssistantReply,
    ) -> ChatTurn:
        """Append the reply; the first time, also let the AI describe the problem."""
        description = await self._description_if_missing(session)

        def store(s: Session, now: datetime) -> ConversationMessage:
            stored = s.add_message(
                MessageRole.ASSISTANT,
                reply.text,
                now=now,
                by=None,
                model=reply.model,
                usage=reply.usage,
            )
            if description is not None and s.problem_summary is None:
                s.describe(description.summary, description.domain, now=now)
            return stored

        fresh, stored = await self._change(actor, session.id, "store a reply", store, known=session)
        return ChatTurn(fresh, message, stored)

    async def _propose_step(self, actor: Actor, session: Session) -> Session:
        proposal = await self._llm_call(session.id, self._llm.next_step(session))
        description = await self._description_if_missing(session)

        def store(s: Session, now: datetime) -> None:
            s.add_step(proposal.step, now=now, usage=proposal.usage)
            if description is not None and s.problem_summary is None:
                s.describe(description.summary, description.domain, now=now)

        fresh, _ = await self._change(actor, session.id, "add a step", store, known=session)
        return fresh

    async def _description_if_missing(self, session: Session) -> SessionDescription | None:
        """The AI's summary and domain, while the session has none yet."""
        if session.problem_summary is not None:
            return None
        try:
            return await self._llm.describe(session)
        except LLMError:
            return None  # a summary is a nicety: the next turn or step tries again

    async def _llm_call(self, session_id: UUID | None, call: Awaitable[T]) -> T:
        try:
            return await call
        except LLMError as error:
            if session_id is None:
                raise
            raise error.saved_in(session_id) from error

    async def _lifecycle(
        self,
        actor: Actor,
        session_id: UUID,
        operation: str,
        transition: Callable[[Session, datetime], None],
    ) -> Session:
        session, _ = await self._change(actor, session_id, operation, transition)
        return session

    async def _change(
        self,
        actor: Actor,
        session_id: UUID,
        operation: str,
        mutate: Callable[[Session, datetime], T],
        *,
        authorize: Callable[[Actor, Session, str], None] = access.ensure_can_work,
        known: Session | None = None,
    ) -> tuple[Session, T]:
        """Load, authorize, mutate, commit; on `StaleSession`, again on a fresh copy.

        ``known`` is a copy of the session this operation committed or read a moment ago:
        the change is tried on it first, without reading the session again (the
        compare-and-set on its version still refuses it if someone changed the session
        meanwhile, and then a fresh copy is loaded as usual).
        """
        if known is not None:
            done = await self._change_known(actor, known, operation, mutate, authorize)
            if done is not None:
                return done

        def apply(session: Session) -> T:
            authorize(actor, session, operation)
            return mutate(session, self._clock.now())

        for attempt in range(self._write_attempts):
            async with self._uow() as uow:
                try:
                    # Load, change and commit as one operation: on SQLite one thread hop
                    # and one transaction instead of a read and then a write.
                    return await uow.change(session_id, account_id=actor.account_id, apply=apply)
                except StaleSession:
                    if attempt + 1 == self._write_attempts:
                        raise
            await _backoff(attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _change_known(
        self,
        actor: Actor,
        known: Session,
        operation: str,
        mutate: Callable[[Session, datetime], T],
        authorize: Callable[[Actor, Session, str], None],
    ) -> tuple[Session, T] | None:
        """The change on ``known``; None if that copy was stale or refused it, so that a
        fresh copy decides (``known`` is then left half-changed, and dropped)."""
        async with self._uow() as uow:
            await uow.sessions.attach(known)
            try:
                authorize(actor, known, operation)
                result = mutate(known, self._clock.now())
                await uow.commit()
            except DomainError:
                return None
        return known, result


async def _backoff(attempt: int) -> None:
    """A short jittered pause, so racing writers stop colliding in lockstep."""
    # Imported here: only contended writes need them, and `import resolutionflow_core`
    # stays cheap for the services that embed it.
    import asyncio
    import random

    await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
