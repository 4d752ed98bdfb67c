"""Reply streams run to their end in tasks of their own, whoever still listens.

`SessionService.stream_message` stores the reply when its stream ends; a listener that goes
away (a closed browser tab, a dropped HTTP client) must not cancel that. The HTTP API's
server-sent events and the web app's pending replies both start the stream here and read
its queue; on shutdown they let the streams still running finish (`DetachedReplies.wait`).

Imported by the entrypoints only: the rest of the core does not load asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TypeAlias

from resolutionflow_core.errors import DomainError
from resolutionflow_core.ports import TextDelta
from resolutionflow_core.services import ChatTurn

ReplyEvent: TypeAlias = TextDelta | ChatTurn | BaseException | None
"""What the producer task queues: the stream's events, then the error it raised (if any),
then ``None``, which ends the stream."""


class DetachedReplies:
    """The reply streams of one app: their tasks are kept, and awaited on shutdown."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self, events: AsyncIterator[TextDelta | ChatTurn]
    ) -> tuple[ReplyEvent, asyncio.Queue[ReplyEvent]]:
        """Run ``events`` in its own task: its first event and the queue of the rest. Raises
        what the stream raises before its first event (the message was refused, or the
        assistant failed and the message is stored)."""
        queue: asyncio.Queue[ReplyEvent] = asyncio.Queue()
        task = asyncio.create_task(self._drain(events, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        first = await queue.get()
        if isinstance(first, BaseException):
            raise first
        return first, queue

    async def wait(self, grace: float) -> None:
        """Let streams still running finish storing their replies (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)

    async def _drain(
        self, events: AsyncIterator[TextDelta | ChatTurn], queue: asyncio.Queue[ReplyEvent]
    ) -> None:
        """Run the service's stream to its end, whoever still listens."""
        try:
            async for event in events:
                queue.put_nowait(event)
        except Exception as error:  # handed to the listener, as an error event or response
            if not isinstance(error, DomainError):
                self._logger.error("reply stream failed", exc_info=error)
            queue.put_nowait(error)
        finally:
            queue.put_nowait(None)
