"""``/ai-sessions``: start, list and read sessions of both kinds, and their documentation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from litestar.response import Response

from resolutionflow_api.idempotency import IdempotencyGate, IdempotencyKey, IdempotentRequest
from resolutionflow_api.problems import problems, with_field
from resolutionflow_api.requests import CreateChatSession, CreateSession
from resolutionflow_api.responses import (
    DocumentationRead,
    DocumentKind,
    SessionPageRead,
    SessionRead,
    delivery_read,
    page_read,
    search_page_read,
    session_read,
)
from resolutionflow_core import documentation
from resolutionflow_core.access import Actor
from resolutionflow_core.delivery import SessionDeliveries
from resolutionflow_core.errors import InvalidInput, StepAlreadyPending
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    SessionFilters,
    parse_moment,
)
from resolutionflow_core.search import MAX_QUERY_CHARS, similar_for
from resolutionflow_core.services import ChatTurn, SessionService
from resolutionflow_core.session import Session, SessionType

SessionId = Annotated[UUID, PathParameter(description="The session's id (a UUID).")]


class SessionController(Controller):
    path = "/ai-sessions"
    tags = ("Sessions",)

    @post(
        "/",
        status_code=201,
        summary="Start a session",
        description="`session_type` decides: `chat` stores the first message and answers it "
        "(the session is titled from it); `guided` stores the intake and proposes the first "
        "step. Send an `Idempotency-Key` to retry safely.",
        responses=problems(403, 409, 413, 422, 502, 503),
    )
    async def create_session(
        self,
        request: Request[Actor, None, Any],
        data: JSONBody[CreateSession],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        idempotency: NamedDependency[IdempotencyGate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[SessionRead]:
        return await idempotency.respond(
            actor,
            idempotency_key,
            IdempotentRequest(
                route="POST /ai-sessions",
                path=request.url.path,
                body=data,
                status_code=201,
                run=lambda: _start(sessions, actor, data),
                finish=lambda session_id: _finish_start(sessions, actor, data, session_id),
            ),
        )

    @get(
        "/",
        summary="List or search sessions",
        description="Newest activity first. Engineers see their own sessions and the "
        "account's escalated ones; owners, admins and viewers see the whole account. With "
        "`q`, a full-text search of both kinds (title, summary, intake, messages, steps and "
        "answers, resolution, root cause, escalation and abandon reasons, linked ticket): "
        "best match first, each item with a `match` snippet. `q` reads like a web search: "
        'words (all must match), `"a phrase"`, `-word` to exclude, `or` between '
        "alternatives. The filters and cursor paging combine with it.",
        responses=problems(409, 422),
    )
    async def list_sessions(
        self,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        q: Annotated[
            str | None,
            QueryParameter(
                max_length=MAX_QUERY_CHARS,
                description='Search text: words, "phrases", -excluded, `or` alternatives.',
            ),
        ] = None,
        session_type: Annotated[
            list[SessionType] | None, QueryParameter(description="Repeat for several.")
        ] = None,
        status: Annotated[
            list[SessionStatus] | None, QueryParameter(description="Repeat for several.")
        ] = None,
        owner: Annotated[
            str | None,
            QueryParameter(
                max_length=128, pattern=r"^[^\x00]*$", description="The owning engineer's user id."
            ),
        ] = None,
        created_from: Annotated[
            str | None,
            QueryParameter(
                max_length=64,
                description="Created on or after: an ISO 8601 date-time (without an offset, "
                "UTC) or a date (`2026-12-01`: the start of that day, UTC).",
            ),
        ] = None,
        created_to: Annotated[
            str | None,
            QueryParameter(
                max_length=64,
                description="Created on or before: an ISO 8601 date-time (without an offset, "
                "UTC) or a date (`2026-12-01`: up to the end of that day, UTC).",
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            QueryParameter(max_length=512, description="`next_cursor` of the previous page."),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ) -> SessionPageRead:
        filters: SessionFilters = {  # the same for the history and for a search
            "session_types": frozenset(session_type) if session_type else None,
            "statuses": frozenset(status) if status else None,
            "owner_id": owner,
            "created_from": _moment(created_from, "created_from"),
            "created_to": _moment(created_to, "created_to", end_of_day=True),
            "limit": limit,
            "cursor": cursor,
        }
        if q is not None:
            return search_page_read(await sessions.search(actor, q, **filters))
        return page_read(await sessions.list(actor, **filters))

    @get(
        "/{session_id:uuid}",
        summary="Get a session",
        description="With its messages (chat; assistant markers parsed into questions, "
        "actions and forks beside the raw text) or its steps (guided), and how the notes "
        "due on its linked ticket are being delivered (`psa_deliveries`).",
        responses=problems(404),
    )
    async def get_session(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        session_deliveries: NamedDependency[SessionDeliveries],
    ) -> SessionRead:
        session = await sessions.get(actor, session_id)
        read = session_read(session, actor, similar=similar_for(actor, session))
        # Only a change of a session linked to a ticket makes a note due (`note_due`), and
        # a link is never removed: a session without one has no deliveries to read.
        deliveries = await session_deliveries.of(session.id) if session.psa_link else []
        read.psa_deliveries = [delivery_read(d) for d in deliveries]
        return read

    @get(
        "/{session_id:uuid}/documentation",
        summary="Resolution note or escalation package",
        description="Built from the session as it is now. By default the escalation package "
        "for an escalated session, else the resolution note; `final` is false for a draft "
        "(the session is not resolved, or not escalated, yet).",
        responses=problems(404, 422),
    )
    async def get_documentation(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        kind: FromQuery[DocumentKind | None] = None,
    ) -> DocumentationRead:
        session = await sessions.get(actor, session_id)
        if kind is None:
            escalated = session.status is SessionStatus.ESCALATED
            kind = DocumentKind.ESCALATION_PACKAGE if escalated else DocumentKind.RESOLUTION_NOTE
        if kind is DocumentKind.ESCALATION_PACKAGE:
            text = documentation.escalation_package(session)
            final = session.status is SessionStatus.ESCALATED
        else:
            text = documentation.resolution_note(session)
            final = session.status is SessionStatus.RESOLVED
        return DocumentationRead(
            session_id=session.id, status=session.status, kind=kind, final=final, text=text
        )


async def start_chat(sessions: SessionService, actor: Actor, message: str) -> ChatTurn:
    """A chat started with ``message``, whose refusal names the request's field ``message``
    (the core's ``content``)."""
    try:
        return await sessions.start_chat(actor, message)
    except InvalidInput as error:
        if error.field != "content":
            raise
        raise with_field(error, "message") from error


async def _start(
    sessions: SessionService,
    actor: Actor,
    data: CreateSession,
) -> SessionRead:
    if isinstance(data, CreateChatSession):
        turn = await start_chat(sessions, actor, data.message)
        return _with_similar(actor, turn.session)
    started = await sessions.start_guided(actor, data.intake_type, data.intake_content)
    return _with_similar(actor, started)


def _with_similar(actor: Actor, session: Session) -> SessionRead:
    return session_read(session, actor, similar=similar_for(actor, session))


async def _finish_start(
    sessions: SessionService,
    actor: Actor,
    data: CreateSession,
    session_id: UUID,
) -> SessionRead:
    """The session was stored but the LLM failed: ask again, without starting another."""
    if isinstance(data, CreateChatSession):
        return _with_similar(actor, (await sessions.answer_again(actor, session_id)).session)
    return _with_similar(actor, await next_or_pending_step(sessions, actor, session_id))


def _moment(value: str | None, field: str, *, end_of_day: bool = False) -> datetime | None:
    """A date or date-time query parameter; anything else is a 422 naming it."""
    return None if value is None else parse_moment(value, field, end_of_day=end_of_day)


async def next_or_pending_step(sessions: SessionService, actor: Actor, session_id: UUID) -> Session:
    """Finishing a replayed request: the missing step, or the one already pending (a retry
    that raced another finishing the same turn gets its result, not a 409)."""
    try:
        return await sessions.request_next_step(actor, session_id)
    except StepAlreadyPending:
        return await sessions.get(actor, session_id)
