"""Pages that change things: start a session, answer a step, the lifecycle, share, link.

Each handler is one service call; the result is the session's page again (303 to it), so a
reload never posts twice. What may be done is the service's decision: a refusal is an
error page (403 for viewers, 409 for a transition the lifecycle lacks...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any
from uuid import UUID

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from resolutionflow_app import Application
from resolutionflow_core.access import Actor
from resolutionflow_core.delivery import SessionDeliveries
from resolutionflow_core.lifecycle import LifecycleAction
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType
from resolutionflow_core.updates import Audience, UpdateLength
from resolutionflow_web.auth import SignedIn
from resolutionflow_web.forms import Form
from resolutionflow_web.pages import session_view
from resolutionflow_web.templating import is_partial, page


def _to(session_id: UUID) -> Redirect:
    return Redirect(f"/sessions/{session_id}", status_code=303)


@post("/sessions/chat", name="start_chat")
async def start_chat(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
) -> Redirect:
    form = await Form.of(request)
    turn = await sessions.start_chat(user.actor, form.required("message"))
    return _to(turn.session.id)


@post("/sessions/guided", name="start_guided")
async def start_guided(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
) -> Redirect:
    form = await Form.of(request)
    text = form.required("problem")
    session = await sessions.start_guided(user.actor, IntakeType.FREE_TEXT, {"text": text})
    return _to(session.id)


@post("/sessions/{session_id:uuid}/steps", name="answer_step")
async def answer_step(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
) -> Redirect:
    form = await Form.of(request)
    await sessions.answer_step(user.actor, session_id, form.required("response"))
    return _to(session_id)


@post("/sessions/{session_id:uuid}/next-step", name="next_step")
async def next_step(
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
) -> Redirect:
    await sessions.request_next_step(user.actor, session_id)
    return _to(session_id)


_Perform = Callable[[SessionService, Actor, UUID, Form], Awaitable[object]]

LIFECYCLE: Mapping[LifecycleAction, _Perform] = MappingProxyType(
    {
        LifecycleAction.PAUSE: lambda sessions, actor, id, _: sessions.pause(actor, id),
        LifecycleAction.RESUME: lambda sessions, actor, id, _: sessions.resume(actor, id),
        LifecycleAction.CLAIM: lambda sessions, actor, id, _: sessions.claim(actor, id),
        LifecycleAction.RESOLVE: lambda sessions, actor, id, form: sessions.resolve(
            actor, id, form.required("summary"), form.optional("root_cause")
        ),
        LifecycleAction.ESCALATE: lambda sessions, actor, id, form: sessions.escalate(
            actor, id, form.required("reason")
        ),
        LifecycleAction.ABANDON: lambda sessions, actor, id, form: sessions.abandon(
            actor, id, form.optional("reason")
        ),
    }
)
"""Each lifecycle action's form (the header's buttons and dialogs, ``_actions.html``) and
the service call it makes: a new action is a line here and its button there."""


@post("/sessions/{session_id:uuid}/{action:str}", name="lifecycle")
async def lifecycle(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
    action: FromPath[str],
) -> Redirect:
    """``POST /sessions/{id}/pause`` (resume, claim, resolve, escalate, abandon). The other
    posts under a session (steps, messages, share, ticket…) are routes of their own, which
    the router prefers to this one."""
    try:
        perform = LIFECYCLE[LifecycleAction(action)]
    except (ValueError, KeyError):  # not an action, or none the web offers
        raise NotFoundException(f"no action {action!r}") from None
    await perform(sessions, user.actor, session_id, await Form.of(request))
    return _to(session_id)


@post("/sessions/{session_id:uuid}/ticket", name="link_ticket")
async def link_ticket(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
) -> Redirect:
    form = await Form.of(request)
    await sessions.link_ticket(user.actor, session_id, form.required("ticket_id"))
    return _to(session_id)


@post("/sessions/{session_id:uuid}/share", name="share_update")
async def share_update(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
) -> Template:
    form = await Form.of(request)
    audience = Audience(_one_of(form.required("audience"), Audience, "audience"))
    length = UpdateLength(_one_of(form.required("length"), UpdateLength, "length"))
    draft = await sessions.share_status_update(user.actor, session_id, audience, length)
    if is_partial(request):
        return page("_share_draft.html", user, draft=draft)
    session = await sessions.get(user.actor, session_id)
    return await session_view(user, sessions, session, draft=draft)


@post("/sessions/{session_id:uuid}/deliveries/retry", name="retry_deliveries")
async def retry_deliveries(
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    application: NamedDependency[Application],
    session_deliveries: NamedDependency[SessionDeliveries],
    session_id: FromPath[UUID],
) -> Template:
    """Retry the session's failed notes; the page again, saying how many went back.

    Not a redirect: the count is only known here. Posting again is harmless (nothing is
    failed any more, so nothing is retried)."""
    await sessions.get(user.actor, session_id)  # 404 outside the user's sight
    retried = await session_deliveries.retry_failed(user.actor, session_id)
    session = await sessions.get(user.actor, session_id)
    deliveries = await application.deliveries.for_session(session_id)
    return await session_view(user, sessions, session, deliveries=deliveries, retried=retried)


def _one_of(value: str, choices: Any, field: str) -> str:
    from resolutionflow_core.errors import InvalidInput

    allowed = [choice.value for choice in choices]
    if value not in allowed:
        raise InvalidInput(field, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value
