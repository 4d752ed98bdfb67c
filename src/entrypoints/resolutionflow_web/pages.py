"""Pages that read: the dashboard, the history, a session (chat or guided), its documents."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from resolutionflow_app import Application
from resolutionflow_app.read_models import (
    SessionPageRead,
    dashboard_read,
    page_read,
    search_page_read,
    session_read,
)
from resolutionflow_core import documentation
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import SessionFilters
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import Session, SessionType
from resolutionflow_core.updates import Audience, UpdateLength
from resolutionflow_web.auth import SignedIn
from resolutionflow_web.templating import is_partial, page

HISTORY_PAGE = 25
SIDEBAR_CHATS = 30


@get("/", name="dashboard")
async def dashboard(
    user: NamedDependency[SignedIn], sessions: NamedDependency[SessionService]
) -> Template:
    board = dashboard_read(await sessions.dashboard(user.actor, limit=10))
    active = sorted(board.active, key=lambda row: row.owner_id != user.actor.user_id)  # mine first
    # An escalation waiting for a claim is shown in its own section, not again in Recent.
    recent = [row for row in board.recent if row.status is not SessionStatus.ESCALATED]
    return page("dashboard.html", user, board=board, active=active, recent=recent)


@get("/sessions", name="history")
async def history(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    type: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    owner: FromQuery[str | None] = None,
    from_date: FromQuery[str | None] = None,
    to_date: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
) -> Template:
    filters = {
        "q": (q or "").strip(),
        "type": _choice(type, SessionType, "type"),
        "status": _choice(status, SessionStatus, "status"),
        "owner": (owner or "").strip() if user.manages else "",
        "from_date": from_date or "",
        "to_date": to_date or "",
    }
    chosen: SessionFilters = {
        "session_types": frozenset({SessionType(filters["type"])}) if filters["type"] else None,
        "statuses": frozenset({SessionStatus(filters["status"])}) if filters["status"] else None,
        "owner_id": filters["owner"] or None,
        "created_from": _day(filters["from_date"], "from_date", time.min),
        "created_to": _day(filters["to_date"], "to_date", time.max),
        "limit": HISTORY_PAGE,
        "cursor": cursor or None,
    }
    rows: SessionPageRead
    if filters["q"]:
        # The same filters and paging, best match first, each row with where it matched.
        rows = search_page_read(await sessions.search(user.actor, filters["q"], **chosen))
    else:
        rows = page_read(await sessions.list(user.actor, **chosen))
    query = {key: value for key, value in filters.items() if value}
    context: dict[str, Any] = {"page_rows": rows, "filters": filters, "query": query}
    if is_partial(request) and cursor:
        return page("_history_rows.html", user, **context)
    return page("history.html", user, statuses=list(SessionStatus), **context)


@get("/new/{kind:str}", name="new_session")
async def new_session(user: NamedDependency[SignedIn], kind: FromPath[str]) -> Template:
    chosen = SessionType(_choice(kind, SessionType, "kind"))
    return page("new.html", user, kind=chosen)


@get("/sessions/{session_id:uuid}", name="session")
async def session_page(
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    application: NamedDependency[Application],
    session_id: FromPath[UUID],
) -> Template:
    session = await sessions.get(user.actor, session_id)  # visible to this user, or 404
    deliveries = await application.deliveries.for_session(session.id) if session.psa_link else []
    return await session_view(user, sessions, session, deliveries=deliveries)


def shown(user: SignedIn, session: Session, **given: Any) -> dict[str, Any]:
    """What a session's page draws: its read model as this user sees it (the same
    document as ``GET /api/v1/ai-sessions/{id}``), under ``session``, plus what only the
    page needs. ``given`` may carry ``deliveries`` (the linked ticket's notes)."""
    deliveries = given.pop("deliveries", None)
    view = session_read(session, user.actor, deliveries=deliveries)
    return {"session": view, "intake_text": session.intake_text, **given}


async def session_view(
    user: SignedIn,
    sessions: SessionService,
    session: Session,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Template:
    """The chat or guided page of ``session``, with the actions this user may take."""
    context: dict[str, Any] = {
        "retried": None,
        "can_work": _can_work(user, session),
        "audiences": list(Audience),
        "lengths": list(UpdateLength),
        **shown(user, session, **extra),
    }
    if session.session_type is SessionType.CHAT:
        chats = await sessions.list(
            user.actor,
            session_types=frozenset({SessionType.CHAT}),
            owner_id=user.actor.user_id,
            limit=SIDEBAR_CHATS,
        )
        return page(
            "chat.html", user, status_code=status_code, chats=page_read(chats).items, **context
        )
    return page("guided.html", user, status_code=status_code, **context)


@get("/sessions/{session_id:uuid}/documentation", name="documentation")
async def documentation_page(
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
) -> Template:
    session = await sessions.get(user.actor, session_id)
    documents = []
    if session.status is SessionStatus.RESOLVED:
        documents.append(("Resolution note", documentation.resolution_note(session)))
    if session.escalation_reason is not None:
        documents.append(("Escalation package", documentation.escalation_package(session)))
    return page("documentation.html", user, documents=documents, **shown(user, session))


def _can_work(user: SignedIn, session: Session) -> bool:
    """Whether the composer / step card is offered (the service decides on posting)."""
    if not user.can_change or session.status is not SessionStatus.ACTIVE:
        return False
    return session.user_id == user.actor.user_id or user.manages


def _choice(value: str | None, choices: Any, field: str) -> str:
    if not value:
        return ""
    allowed = [choice.value for choice in choices]
    if value not in allowed:
        raise InvalidInput(field, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _day(value: str, field: str, at: time) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(field, f"must be a date like 2026-12-01, got {value!r}") from None
    return datetime.combine(day, at, tzinfo=UTC)
