"""A stub of Anthropic's Messages API on 127.0.0.1, for driving the real SDK in tests.

A real HTTP server (uvicorn, in a thread with its own event loop) running a tiny ASGI app
that speaks the wire format of ``POST /v1/messages``: JSON messages, the server-sent events
of a stream, error bodies with their status codes and headers. Tests script the replies in
order (`AnthropicStub.script`) and read back every request the SDK sent
(`AnthropicStub.requests`), so they assert both what the adapter sends and what it makes of
each answer. An unscripted request gets a 400, which nothing retries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.servers import Received, request_body, serving_in_thread, start_response

MODEL = "claude-sonnet-5-5"
"""The model id the stub answers with (the adapter's default)."""

_ids = itertools.count(1)


# -- what the stub answers --------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: a JSON body, or a stream of server-sent events."""

    status: int = 200
    body: Mapping[str, Any] | None = None
    events: Sequence[tuple[str, Mapping[str, Any]]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    event_delay: float = 0.0
    """Seconds between two events of a stream."""
    cut_after: int | None = None
    """Drop the connection (no complete chunked body) after this many events."""


def usage(
    input_tokens: int = 120,
    output_tokens: int = 40,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }


def message(
    content: Sequence[Mapping[str, Any]],
    *,
    stop_reason: str = "end_turn",
    tokens: Mapping[str, Any] | None = None,
    model: str = MODEL,
) -> Reply:
    """A complete (non-streamed) message."""
    return Reply(
        body={
            "id": f"msg_stub_{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": list(content),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": dict(tokens or usage()),
        },
        headers={"request-id": f"req_stub_{next(_ids)}"},
    )


def text(value: str, **kwargs: Any) -> Reply:
    """A message of one text block."""
    return message([{"type": "text", "text": value}], **kwargs)


def json_output(value: object, *, thinking: str | None = None, **kwargs: Any) -> Reply:
    """A structured-output answer: the JSON in a text block (after a thinking block, if any)."""
    blocks: list[dict[str, Any]] = []
    if thinking is not None:
        blocks.append({"type": "thinking", "thinking": thinking, "signature": "c2ln"})
    blocks.append({"type": "text", "text": json.dumps(value)})
    return message(blocks, **kwargs)


def tool_use(name: str, tool_input: object, **kwargs: Any) -> Reply:
    """A forced tool call's answer: one tool_use block."""
    block = {
        "type": "tool_use",
        "id": f"toolu_stub_{next(_ids)}",
        "name": name,
        "input": tool_input,
    }
    return message([block], stop_reason="tool_use", **kwargs)


def error(
    status: int, error_type: str, text_: str = "", headers: Mapping[str, str] | None = None
) -> Reply:
    """An error answer, shaped like the API's (``{"type": "error", "error": {...}}``)."""
    return Reply(
        status=status,
        body={
            "type": "error",
            "error": {"type": error_type, "message": text_ or error_type},
            "request_id": f"req_stub_{next(_ids)}",
        },
        headers={"request-id": f"req_stub_{next(_ids)}", **(headers or {})},
    )


def rate_limited(retry_after: str | None = None, retry_after_ms: str | None = None) -> Reply:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return error(
        429, "rate_limit_error", "Number of request tokens has exceeded your limit", headers
    )


def overloaded(retry_after_ms: str | None = "5") -> Reply:
    headers = {} if retry_after_ms is None else {"retry-after-ms": retry_after_ms}
    return error(529, "overloaded_error", "Overloaded", {"x-should-retry": "true", **headers})


# -- streams ----------------------------------------------------------------------------


def stream_events(
    pieces: Sequence[str],
    *,
    stop_reason: str | None = "end_turn",
    tokens: Mapping[str, Any] | None = None,
    thinking: str | None = None,
    error_type: str | None = None,
    model: str = MODEL,
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a streamed text reply, as the API sends them.

    ``error_type`` ends the stream after the text deltas with an ``error`` event (HTTP 200
    already sent); ``stop_reason=None`` ends it without ``message_delta``/``message_stop``.
    """
    counts = dict(tokens or usage())
    start_usage = {**counts, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_stub_{next(_ids)}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        )
    ]
    index = 0
    if thinking is not None:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": thinking},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": "c2ln"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        index = 1
    events.append(
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    events.append(("ping", {"type": "ping"}))
    for piece in pieces:
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    if error_type is not None:
        body = {"type": "error", "error": {"type": error_type, "message": error_type}}
        events.append(("error", body))
        return events
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if stop_reason is None:
        return events
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "type": "message_delta",
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": counts["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def stream(pieces: Sequence[str], **kwargs: Any) -> Reply:
    """A streamed text reply; see `stream_events` for the options."""
    cut_after = kwargs.pop("cut_after", None)
    event_delay = kwargs.pop("event_delay", 0.0)
    return Reply(
        events=stream_events(pieces, **kwargs),
        headers={"request-id": f"req_stub_{next(_ids)}"},
        cut_after=cut_after,
        event_delay=event_delay,
    )


# -- what the stub received -------------------------------------------------------------

_PROMPT_VERSION = re.compile(r"Prompt version: (\S+) v\d+")


@dataclass(frozen=True)
class RecordedRequest(Received):
    """A request to the Messages API, its body the decoded JSON (``{}`` when empty)."""

    @property
    def system(self) -> list[dict[str, Any]]:
        system = self.body.get("system", [])
        return [{"type": "text", "text": system}] if isinstance(system, str) else list(system)

    @property
    def prompt(self) -> str | None:
        """The adapter's system prompt (``chat``, ``guided``...), from its version line."""
        for block in self.system:
            match = _PROMPT_VERSION.match(block.get("text", ""))
            if match:
                return match.group(1)
        return None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def texts(self, index: int) -> list[str]:
        """The text blocks of message ``index``."""
        content = self.messages[index]["content"]
        if isinstance(content, str):
            return [content]
        return [block["text"] for block in content if block.get("type") == "text"]


# -- the server -------------------------------------------------------------------------


class _Cut(Exception):
    """Raised inside the app to drop a stream's connection part-way."""


class AnthropicStub:
    """The Messages API on 127.0.0.1; start it with `running()`."""

    def __init__(self) -> None:
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.url = ""

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def unused(self) -> int:
        """How many scripted replies no request has taken yet."""
        with self._lock:
            return len(self._script)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests (what the client waited between attempts)."""
        times = [r.received_at for r in self.requests]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    @contextmanager
    def running(self) -> Iterator[AnthropicStub]:
        with serving_in_thread(
            self._app, "anthropic-stub", interface="asgi3", lifespan="off"
        ) as port:
            self.url = f"http://127.0.0.1:{port}"
            yield self

    # -- the ASGI app -------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await request_body(receive)
        request = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            headers={k.decode(): v.decode() for k, v in scope["headers"]},
            body=json.loads(raw) if raw else {},
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
            reply = self._script.popleft() if self._script else None
        if request.path != "/v1/messages" or request.method != "POST":
            reply = error(404, "not_found_error", f"stub: no route {request.method} {request.path}")
        elif reply is None:
            reply = error(400, "invalid_request_error", "stub: no reply scripted for this request")
        if reply.events is not None:
            await self._stream(reply, send)
        else:
            await self._json(reply, send)

    async def _json(self, reply: Reply, send: Any) -> None:
        payload = json.dumps(reply.body).encode()
        headers = {"content-type": "application/json", **reply.headers}
        await start_response(send, reply.status, headers)
        await send({"type": "http.response.body", "body": payload})

    async def _stream(self, reply: Reply, send: Any) -> None:
        headers = {
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            **reply.headers,
        }
        await start_response(send, reply.status, headers)
        assert reply.events is not None
        for number, (name, data) in enumerate(reply.events):
            if reply.cut_after is not None and number >= reply.cut_after:
                raise _Cut("stub: dropping the connection mid-stream")
            if number and reply.event_delay:
                await asyncio.sleep(reply.event_delay)
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
