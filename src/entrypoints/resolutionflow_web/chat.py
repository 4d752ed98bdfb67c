"""Sending a chat message: stored at once, the reply streamed into the thread (SSE).

With htmx, the POST stores the message and starts the reply in a task of its own (it is
completed and stored even if the browser goes away); it answers with the engineer's message
and a placeholder that connects to ``/sessions/{id}/replies/{token}``, which streams the
reply's text (``delta`` events) and then the stored message, drawn by the same partial as a
page load (``done``). If the assistant is unavailable, the message stays in the thread with
a Retry button (`SessionService.answer_again`). Without JavaScript the form posts, the reply
is awaited, and the page is drawn again.

The token lives in this process: with several workers a stream may land on another one and
says so (the reply is stored all the same; reloading shows it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from jinja2 import Environment
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage
from markupsafe import escape

from resolutionflow_app.read_models import chat_turn_read, message_read
from resolutionflow_core.chat import ConversationMessage, MessageRole
from resolutionflow_core.detached import DetachedReplies, ReplyEvent
from resolutionflow_core.errors import DomainError, LLMError
from resolutionflow_core.ports import TextDelta
from resolutionflow_core.services import ChatTurn, SessionService
from resolutionflow_web.auth import SignedIn
from resolutionflow_web.forms import Form
from resolutionflow_web.templating import is_partial, page

logger = logging.getLogger("resolutionflow_web")

PENDING_SECONDS = 300.0
"""How long a started reply waits for its browser to connect."""
MARKER_TAGS = ("[QUESTIONS]", "[ACTIONS]", "[FORK]")


class VisibleText:
    """What of a streaming reply to show: its text up to the first marker block. The blocks
    (JSON) are never shown raw: the stored reply is drawn from its parsed fields when done."""

    def __init__(self) -> None:
        self._text = ""
        self._shown = 0
        self._stopped = False

    def add(self, delta: str) -> str:
        """The new text to show after ``delta`` arrived (may be empty)."""
        if self._stopped:
            return ""
        self._text += delta
        starts = [at for tag in MARKER_TAGS if (at := self._text.find(tag)) >= 0]
        if starts:
            self._stopped = True
            visible = self._text[: min(starts)]
        else:
            visible = self._text
            bracket = self._text.rfind("[")
            tail = self._text[bracket:] if bracket >= 0 else ""
            if tail and any(tag.startswith(tail) for tag in MARKER_TAGS):
                visible = self._text[:bracket]  # it may become a tag: wait for more
        new = visible[self._shown :]
        self._shown = max(self._shown, len(visible))
        return new


@dataclass
class _Pending:
    user_id: str
    session_id: UUID
    first: ReplyEvent
    queue: asyncio.Queue[ReplyEvent]
    started: float = field(default_factory=time.monotonic)


class PendingReplies:
    """Replies started by a POST, waiting for (or streaming to) their browser."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._runs = DetachedReplies(logger)

    async def start(
        self, user_id: str, session_id: UUID, events: AsyncIterator[TextDelta | ChatTurn]
    ) -> str:
        """Run the stream in its own task; raises what the stream raises before its first
        event (the message was refused, or the assistant failed and the message is stored)."""
        self._forget_stale()
        first, queue = await self._runs.start(events)
        token = secrets.token_urlsafe(24)
        self._pending[token] = _Pending(user_id, session_id, first, queue)
        return token

    def take(self, token: str, user_id: str, session_id: UUID) -> _Pending | None:
        found = self._pending.get(token)
        if found is None or found.user_id != user_id or found.session_id != session_id:
            return None
        return self._pending.pop(token)

    async def wait(self, grace: float) -> None:
        await self._runs.wait(grace)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for token in [t for t, p in self._pending.items() if now - p.started > PENDING_SECONDS]:
            del self._pending[token]


@post("/sessions/{session_id:uuid}/messages", name="send_message")
async def send_message(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    replies: NamedDependency[PendingReplies],
    session_id: FromPath[UUID],
) -> Template | Redirect:
    form = await Form.of(request)
    content = form.required("content")
    if not is_partial(request):
        await sessions.send_message(user.actor, session_id, content)
        return Redirect(f"/sessions/{session_id}", status_code=303)
    # The engineer's message as sent, drawn as the stored one will be (its place in the
    # history is not known until the turn is stored; the page does not show it).
    message = message_read(ConversationMessage(MessageRole.USER, content, datetime.now(UTC)), -1)
    try:
        events = sessions.stream_message(user.actor, session_id, content)
        token = await replies.start(user.actor.user_id, session_id, events)
    except LLMError as error:  # the message is stored: show it with Retry
        return page(
            "_sent.html", user, message=message, session_id=session_id, token=None,
            error=error.message,
        )  # fmt: skip
    response = page(
        "_sent.html", user, message=message, session_id=session_id, token=token, error=None
    )
    response.headers["HX-Trigger"] = "message-sent"
    return response


@get("/sessions/{session_id:uuid}/replies/{token:str}", name="reply_stream")
async def reply_stream(
    user: NamedDependency[SignedIn],
    replies: NamedDependency[PendingReplies],
    templates: NamedDependency[Environment],
    session_id: FromPath[UUID],
    token: FromPath[str],
) -> ServerSentEvent:
    pending = replies.take(token, user.actor.user_id, session_id)
    return ServerSentEvent(_events(pending, templates, user, session_id))


async def _events(
    pending: _Pending | None, templates: Environment, user: SignedIn, session_id: UUID
) -> AsyncGenerator[ServerSentEventMessage, None]:
    if pending is None:
        html = templates.get_template("_reply_failed.html").render(
            user=user,
            session_id=session_id,
            error="This reply is not streaming here any more; reload the page to see it.",
            retry=False,
        )
        yield ServerSentEventMessage(event="failed", data=html)
        return
    event = pending.first
    visible = VisibleText()
    while event is not None:
        if isinstance(event, TextDelta):
            shown = visible.add(event.text)
            if shown:
                yield ServerSentEventMessage(event="delta", data=str(escape(shown)))
        elif isinstance(event, ChatTurn):
            html = templates.get_template("_message.html").render(
                user=user, message=chat_turn_read(event).reply, session_id=session_id, can_work=True
            )
            yield ServerSentEventMessage(event="done", data=html)
        else:
            error = event.message if isinstance(event, DomainError) else "the server failed"
            html = templates.get_template("_reply_failed.html").render(
                user=user, session_id=session_id, error=error, retry=True
            )
            yield ServerSentEventMessage(event="failed", data=html)
        event = await pending.queue.get()


@post("/sessions/{session_id:uuid}/answer-again", name="answer_again")
async def answer_again(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    sessions: NamedDependency[SessionService],
    session_id: FromPath[UUID],
) -> Template | Redirect:
    turn = await sessions.answer_again(user.actor, session_id)
    if not is_partial(request):
        return Redirect(f"/sessions/{session_id}", status_code=303)
    reply = chat_turn_read(turn).reply
    return page("_message.html", user, message=reply, session_id=session_id, can_work=True)
