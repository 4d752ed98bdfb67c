"""Chat replies as server-sent events, decoupled from the client's connection.

The service's stream runs in its own task and feeds a queue; the response reads the queue.
When the client goes away, Litestar cancels the response, not the task: the reply is still
completed and stored, and the response's generator stops. The first event is awaited before
the response starts, so a refusal (404, 409, 413, 503...) is an ordinary problem response
with its status code; a failure once the stream has started is an ``error`` event.

Events: ``delta`` (``{"text": ...}``, in order), then either ``message`` (the stored turn,
a `ChatTurnRead`) or ``error`` (problem details). Then the stream ends. A client leaving
is normal: it logs nothing above DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from resolutionflow_api.problems import Problem, problem_for
from resolutionflow_api.responses import chat_turn_read
from resolutionflow_core.detached import DetachedReplies, ReplyEvent
from resolutionflow_core.errors import DomainError
from resolutionflow_core.ports import TextDelta
from resolutionflow_core.services import ChatTurn

logger = logging.getLogger("resolutionflow_api")


class ReplyStreams:
    """The reply streams of one app: their tasks are kept, and awaited on shutdown."""

    def __init__(self) -> None:
        self._runs = DetachedReplies(logger)

    async def open(
        self, events: AsyncIterator[TextDelta | ChatTurn], *, instance: str
    ) -> ServerSentEvent:
        first, queue = await self._runs.start(events)
        return ServerSentEvent(_messages(first, queue, instance))

    async def wait(self, grace: float) -> None:
        """Let streams still running finish storing their replies (on shutdown)."""
        await self._runs.wait(grace)


async def _messages(
    first: ReplyEvent, queue: asyncio.Queue[ReplyEvent], instance: str
) -> AsyncGenerator[ServerSentEventMessage, None]:
    event = first
    while event is not None:
        yield _message(event, instance)
        # Let the loop run between writes: when the client has gone, the transport's
        # connection-lost callback then runs before the next write, and the server stops
        # writing. Without it, deltas already queued were written in one burst into a
        # closed socket, and asyncio logged a WARNING for every write past the fifth.
        await asyncio.sleep(0)
        event = await queue.get()


def _message(event: TextDelta | ChatTurn | BaseException, instance: str) -> ServerSentEventMessage:
    if isinstance(event, TextDelta):
        return ServerSentEventMessage(event="delta", data=_json({"text": event.text}))
    if isinstance(event, ChatTurn):
        return ServerSentEventMessage(event="message", data=_json(chat_turn_read(event)))
    if isinstance(event, DomainError):
        problem = problem_for(event)
    else:
        problem = Problem(
            500, "internal_error", "Internal error", "the server failed; it was logged"
        )
    return ServerSentEventMessage(event="error", data=_json(problem.body(instance)))


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
