"""Every request has a deadline.

`RequestDeadline` bounds the time until a response starts (the database's own timeouts bound
each query; this bounds the whole, the assistant's answer included): past it the handler is
cancelled, which an idempotency key survives, and the client gets a 503 ``request_timeout``
with ``Retry-After``. A response that has started (a stream) is not cut.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from resolutionflow_api.problems import MEDIA_TYPE, RequestTimeout


class RequestDeadline(ASGIMiddleware):
    """A 503 ``request_timeout`` for a request whose response has not started in time."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if self.seconds <= 0:
            await next_app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.reschedule(None)  # a started response (a stream) is not cut
            await send(message)

        try:
            async with asyncio.timeout(self.seconds) as deadline:
                await next_app(scope, receive, sending)
        except TimeoutError:
            if started or not deadline.expired():
                raise
            await _send_timeout(scope, send, self.seconds)


async def _send_timeout(scope: Scope, send: Send, seconds: float) -> None:
    problem = RequestTimeout(seconds)
    body: Any = problem.body(scope.get("path", ""))
    content = msgspec.json.encode(body)
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(content)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (problem.headers or {}).items()),
    ]
    start: Any = {"type": "http.response.start", "status": 503, "headers": headers}
    await send(start)
    end: Any = {"type": "http.response.body", "body": content, "more_body": False}
    await send(end)
