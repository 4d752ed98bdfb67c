"""The lifecycle of both kinds, the PSA ticket link and status updates.

A transition the lifecycle refuses is a 409 naming the session's status and the action.
"""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from resolutionflow_api.controllers.sessions import SessionId
from resolutionflow_api.problems import problems
from resolutionflow_api.requests import Abandon, Escalate, LinkTicket, Resolve, StatusUpdateRequest
from resolutionflow_api.responses import (
    SessionRead,
    StatusUpdateRead,
    session_read,
    status_update_read,
)
from resolutionflow_core.access import Actor
from resolutionflow_core.services import SessionService

_LIFECYCLE_ERRORS = problems(403, 404, 409, 413, 422)


class LifecycleController(Controller):
    path = "/ai-sessions/{session_id:uuid}"
    tags = ("Lifecycle",)

    @post("/resolve", status_code=200, summary="Resolve", responses=_LIFECYCLE_ERRORS)
    async def resolve(
        self,
        session_id: SessionId,
        data: JSONBody[Resolve],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> SessionRead:
        session = await sessions.resolve(
            actor, session_id, data.resolution_summary, data.root_cause
        )
        return session_read(session, actor)

    @post("/escalate", status_code=200, summary="Escalate", responses=_LIFECYCLE_ERRORS)
    async def escalate(
        self,
        session_id: SessionId,
        data: JSONBody[Escalate],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> SessionRead:
        return session_read(
            await sessions.escalate(actor, session_id, data.escalation_reason), actor
        )

    @post(
        "/claim",
        status_code=200,
        summary="Claim an escalated session",
        description="By an engineer other than the one who escalated it; the claimer becomes "
        "the owner and the session is active again.",
        responses=_LIFECYCLE_ERRORS,
    )
    async def claim(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> SessionRead:
        return session_read(await sessions.claim(actor, session_id), actor)

    @post("/pause", status_code=200, summary="Pause", responses=_LIFECYCLE_ERRORS)
    async def pause(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> SessionRead:
        return session_read(await sessions.pause(actor, session_id), actor)

    @post("/resume", status_code=200, summary="Resume", responses=_LIFECYCLE_ERRORS)
    async def resume(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> SessionRead:
        return session_read(await sessions.resume(actor, session_id), actor)

    @post(
        "/abandon",
        status_code=200,
        summary="Abandon (close without a fix)",
        responses=_LIFECYCLE_ERRORS,
    )
    async def abandon(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        data: JSONBody[Abandon | None] = None,
    ) -> SessionRead:
        reason = data.reason if data is not None else None
        return session_read(await sessions.abandon(actor, session_id, reason), actor)

    @post(
        "/status-update",
        status_code=200,
        summary="Draft and share a status update",
        description="The AI drafts an update for the audience at the length asked; no status "
        "changes, so it works on finished sessions too.",
        responses=problems(403, 404, 413, 422, 502, 503),
    )
    async def status_update(
        self,
        session_id: SessionId,
        data: JSONBody[StatusUpdateRequest],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> StatusUpdateRead:
        draft = await sessions.share_status_update(actor, session_id, data.audience, data.length)
        return status_update_read(draft)

    @post(
        "/ticket",
        status_code=200,
        summary="Link a PSA ticket",
        description="A ticket of the account's PSA connection; its state now is kept with the "
        "link. 409 when the account has no PSA connection, 422 when the PSA has no such ticket.",
        responses=problems(403, 404, 409, 413, 422, 502),
    )
    async def link_ticket(
        self,
        session_id: SessionId,
        data: JSONBody[LinkTicket],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> SessionRead:
        return session_read(await sessions.link_ticket(actor, session_id, data.ticket_id), actor)
