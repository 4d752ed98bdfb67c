"""One ASGI app serving the HTTP API's paths from one app and every other path from another.

``resolutionflow serve`` puts the web app at ``/`` beside the API (``/api/v1``, ``/schema``,
``/health``) in one process. The lifespan (start-up, shutdown) goes to both apps, the API's
first, so the API's shutdown (which may close the shared `Application`) runs last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from litestar.types import ASGIApp


def beside(api: ASGIApp, web: ASGIApp, api_prefixes: Sequence[str]) -> ASGIApp:
    """``api`` for paths under ``api_prefixes``, ``web`` for the rest."""
    prefixes = tuple(api_prefixes)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(web, api, scope, receive, send)
            return
        path: str = scope.get("path", "")
        target = api if path.startswith(prefixes) else web
        await target(scope, receive, send)

    return app


async def _lifespan(first: ASGIApp, last: ASGIApp, scope: Any, receive: Any, send: Any) -> None:
    """Run both apps' lifespans: start-up in order, shutdown in order (``last`` last)."""
    apps = (first, last)
    inboxes: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue(), asyncio.Queue()]
    outboxes: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue(), asyncio.Queue()]

    def receiver(index: int) -> Any:
        async def receive_one() -> dict[str, Any]:
            return await inboxes[index].get()

        return receive_one

    def sender(index: int) -> Any:
        async def send_one(message: dict[str, Any]) -> None:
            await outboxes[index].put(message)

        return send_one

    async def run(app: ASGIApp, index: int) -> None:
        await app(scope, receiver(index), sender(index))

    tasks = [asyncio.create_task(run(app, index)) for index, app in enumerate(apps)]
    while True:
        message = await receive()
        failed: dict[str, Any] | None = None
        for index in range(len(apps)):
            await inboxes[index].put(message)
            answer = await outboxes[index].get()
            if answer["type"].endswith(".failed"):
                failed = answer
        await send(failed or {"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown" or failed is not None:
            break
    await asyncio.gather(*tasks, return_exceptions=True)
