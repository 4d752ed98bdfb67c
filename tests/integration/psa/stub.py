"""A real HTTP server on 127.0.0.1 for the PSA adapters' tests, and the plumbing the three
PSA stubs share.

`StubServer` runs uvicorn in a thread of its own (with its own event loop) serving whichever
`PSAStub` a test installed, so one server serves the whole session and each test starts from
fresh stub state. A `PSAStub` records every request (method, path, query, headers, decoded
body), checks credentials, lets a test inject faults (`fail`) and routes the rest to the
PSA's wire format, implemented by the subclasses in `tests.integration.psa.stubs`.

A fault is a status with headers (a 429 with Retry-After, a 503), a delay that outlasts
the client's timeout, or, with ``after_handling``, a fault that strikes after the PSA did
the work: the note exists, the answer is lost.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.servers import Received, request_body, serving_in_thread, start_response


@dataclass(frozen=True)
class Recorded(Received):
    """One request as the stub received it, its body decoded JSON, a dict for a form, else the
    raw bytes (None when empty)."""

    query: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    """What the next matching request gets instead of (or after) its real answer."""

    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's timeout: a timeout)."""
    after_handling: bool = False
    """Do the request's work first (the write happens), then answer with the fault."""


CLIENT_TIMEOUT = 1.0
"""Seconds the tests' adapters wait for an answer. Far above what the stub needs on a loaded
2-core CI machine (an answer there once took 0.65 s, and a 0.25 s timeout turned one PATCH
into two), so that only the faults below ever time out."""

LATE = CLIENT_TIMEOUT * 1.5
"""When a `timeout` fault answers: well after the client gave up."""


def rate_limited(retry_after: str | None = None) -> Fault:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return Fault(429, {"message": "Too many requests"}, headers)


def unavailable(status: int = 503) -> Fault:
    return Fault(status, {"message": "Service unavailable"})


def timeout(*, status: int = 200, after_handling: bool = False) -> Fault:
    """No answer in time: the stub answers only after the tests' clients gave up."""
    return Fault(status, {"message": "Gateway timeout"}, delay=LATE, after_handling=after_handling)


class PSAStub:
    """The shared half of a PSA stub: recording, faults, JSON answers."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: list[tuple[str, re.Pattern[str], deque[Fault]]] = []
        self._lock = threading.Lock()

    # -- what tests use ------------------------------------------------------------------

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        """The next ``len(faults)`` requests matching ``method`` and the ``path`` regex
        (searched in the request path) get these faults, in order."""
        with self._lock:
            self._faults.append((method.upper(), re.compile(path), deque(faults)))

    def sent(self, method: str, path: str = "") -> list[Recorded]:
        """The requests received with ``method`` whose path matches the ``path`` regex."""
        pattern = re.compile(path)
        with self._lock:
            return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    # -- what subclasses provide -------------------------------------------------------------

    def authenticate(self, request: Recorded) -> Answer | None:
        """None if the request's credentials are good, else the PSA's refusal."""
        return None

    def handle(self, request: Recorded) -> Answer:
        raise NotImplementedError

    # -- the ASGI app ---------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await request_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode())),
            headers=headers,
            body=_decode(raw, headers.get("content-type", "")),
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
            fault = self._take_fault(request)
        if fault is not None and not fault.after_handling:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status != 200 or fault.body is not None:
                await _send(send, Answer(fault.status, fault.body, fault.headers))
                return
        answer = self.authenticate(request)
        if answer is None:
            try:
                answer = self.handle(request)
            except _Refused as refused:
                answer = refused.answer
        if fault is not None and fault.after_handling:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status != 200 or fault.body is not None:
                answer = Answer(fault.status, fault.body, fault.headers)
        await _send(send, answer)

    def _take_fault(self, request: Recorded) -> Fault | None:
        for method, pattern, faults in self._faults:
            if method == request.method and pattern.search(request.path) and faults:
                return faults.popleft()
        return None


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def refuse(status: int, body: Any) -> _Refused:
    """Raise this from `handle` to answer with an error."""
    return _Refused(Answer(status, body))


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type:
        return json.loads(raw)
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode()))
    return raw


async def _send(send: Any, answer: Answer) -> None:
    payload = b"" if answer.body is None else json.dumps(answer.body).encode()
    headers = {"content-type": "application/json; charset=utf-8", **answer.headers}
    await start_response(send, answer.status, headers)
    await send({"type": "http.response.body", "body": payload})


class StubServer:
    """uvicorn on 127.0.0.1 (a free port), serving `stub`, whichever it is at the moment."""

    def __init__(self) -> None:
        self.stub: PSAStub = PSAStub()
        self.url = ""
        self.port = 0

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.stub(scope, receive, send)

    @contextmanager
    def running(self) -> Iterator[StubServer]:
        with serving_in_thread(
            self._app,
            "psa-stub",
            interface="asgi3",
            lifespan="off",
            timeout_graceful_shutdown=1,
        ) as port:
            self.port = port
            self.url = f"http://127.0.0.1:{port}"
            yield self
