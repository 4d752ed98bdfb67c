"""``/assistant/chats``: the old assistant-chat endpoints, served from unified chat sessions.

Deprecated (plan, phase 6): every response, errors included, carries ``Deprecation``
(RFC 9745), ``Sunset`` (RFC 8594) and a ``Link`` to the endpoint that replaces it. The
shapes are the old ones (messages inline, ``timestamp`` per message); a legacy chat is a
unified ``chat`` session with the same id, and guided sessions do not exist here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import MutableScopeHeaders, ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.types import Message, Scope

from resolutionflow_api.controllers.sessions import start_chat
from resolutionflow_api.problems import problems
from resolutionflow_api.requests import LegacyCreateChat, LegacySendMessage
from resolutionflow_core.access import Actor
from resolutionflow_core.chat import ConversationMessage, MessageRole
from resolutionflow_core.errors import SessionNotFound
from resolutionflow_core.listing import MAX_PAGE_SIZE
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import Session, SessionType

DEPRECATED_ON = datetime(2026, 3, 23, tzinfo=UTC)
"""When the unified sessions replaced the assistant chats (the plan's date)."""
SUNSET_ON = datetime(2027, 3, 31, tzinfo=UTC)
"""When the legacy endpoints stop answering."""

DEPRECATION = f"@{int(DEPRECATED_ON.timestamp())}"
SUNSET = format_datetime(SUNSET_ON, usegmt=True)

_CHAT_PATH = re.compile(r"/assistant/chats/([^/]+)(/messages)?/?$")


def successor_of(path: str, prefix: str) -> str:
    """The unified endpoint that replaces a legacy one, percent-encoded (``path`` is the
    decoded request path: whatever a client put in it must not break the ``Link`` header)."""
    match = _CHAT_PATH.search(path)
    if match is None:
        return quote(f"{prefix}/ai-sessions", safe="/")
    chat_id, messages = match.groups()
    return quote(f"{prefix}/ai-sessions/{chat_id}" + ("/chat" if messages else ""), safe="/")


async def deprecation_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: the deprecation headers on every legacy response, refusals by
    the authentication included (which no controller middleware would see)."""
    path: str = scope.get("path", "")
    if message["type"] != "http.response.start" or "/assistant/chats" not in path:
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["Deprecation"] = DEPRECATION
    headers["Sunset"] = SUNSET
    prefix = path.split("/assistant/", 1)[0]
    headers.add("Link", f'<{successor_of(path, prefix)}>; rel="successor-version"')


_HEADERS = (
    ResponseHeader(
        name="Deprecation",
        documentation_only=True,
        description=f"`{DEPRECATION}`: deprecated since {DEPRECATED_ON:%Y-%m-%d} (RFC 9745).",
    ),
    ResponseHeader(
        name="Sunset",
        documentation_only=True,
        description=f"`{SUNSET}`: when these endpoints stop answering (RFC 8594).",
    ),
    ResponseHeader(
        name="Link",
        documentation_only=True,
        description='The replacing endpoint, `rel="successor-version"`.',
    ),
)


class LegacyMessage(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: MessageRole
    content: str
    """As stored, assistant markers included."""
    timestamp: datetime


class LegacyChat(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: UUID
    title: str | None
    messages: list[LegacyMessage]
    created_at: datetime
    updated_at: datetime


class LegacyChatSummary(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: UUID
    title: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime


class LegacyExchange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    chat_id: FromPath[UUID]
    user_message: LegacyMessage
    assistant_message: LegacyMessage


def _replaced(summary: str, successor: str, more: str = "") -> dict[str, Any]:
    """How every legacy operation reads in the OpenAPI document: marked deprecated, its
    summary saying so, its description naming the endpoint that replaces it."""
    description = f"Use {successor} instead." + (f" {more}" if more else "")
    return {"summary": f"{summary} (deprecated)", "description": description, "deprecated": True}


class LegacyAssistantController(Controller):
    path = "/assistant/chats"
    tags = ("Legacy assistant (deprecated)",)
    response_headers = _HEADERS

    @get(
        "/",
        responses=problems(422),
        **_replaced("List my chats", "`GET /ai-sessions?session_type=chat`"),
    )
    async def list_chats(
        self,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = 50,
    ) -> list[LegacyChatSummary]:
        page = await sessions.list(
            actor, session_types=frozenset({SessionType.CHAT}), owner_id=actor.user_id, limit=limit
        )
        return [
            LegacyChatSummary(
                id=row.id,
                title=row.title,
                message_count=row.step_count,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in page.items
        ]

    @post(
        "/",
        status_code=201,
        responses=problems(403, 413, 422, 502, 503),
        **_replaced(
            "Start a chat",
            "`POST /ai-sessions` with `session_type: chat`",
            "A chat starts with the engineer's first message, which is answered at once.",
        ),
    )
    async def create_chat(
        self,
        data: JSONBody[LegacyCreateChat],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> LegacyChat:
        return _chat((await start_chat(sessions, actor, data.message)).session)

    @get(
        "/{chat_id:uuid}",
        responses=problems(404),
        **_replaced("Get a chat", "`GET /ai-sessions/{id}`"),
    )
    async def get_chat(
        self,
        chat_id: FromPath[UUID],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> LegacyChat:
        return _chat(_only_chat(await sessions.get(actor, chat_id)))

    @post(
        "/{chat_id:uuid}/messages",
        status_code=200,
        responses=problems(403, 404, 409, 413, 422, 502, 503),
        **_replaced("Send a message", "`POST /ai-sessions/{id}/chat`"),
    )
    async def send_message(
        self,
        chat_id: FromPath[UUID],
        data: JSONBody[LegacySendMessage],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> LegacyExchange:
        _only_chat(await sessions.get(actor, chat_id))
        turn = await sessions.send_message(actor, chat_id, data.content)
        return LegacyExchange(
            chat_id=chat_id,
            user_message=_message(turn.message),
            assistant_message=_message(turn.reply),
        )


def _only_chat(session: Session) -> Session:
    """Guided sessions never were assistant chats: here they do not exist."""
    if session.session_type is not SessionType.CHAT:
        raise SessionNotFound(session.id)
    return session


def _message(message: ConversationMessage) -> LegacyMessage:
    return LegacyMessage(role=message.role, content=message.content, timestamp=message.created_at)


def _chat(session: Session) -> LegacyChat:
    return LegacyChat(
        id=session.id,
        title=session.title,
        messages=[_message(m) for m in session.conversation_messages],
        created_at=session.created_at,
        updated_at=session.updated_at,
    )


__all__ = ["LegacyAssistantController", "deprecation_headers", "successor_of"]
