"""The HTTP API in process: the app over SQL storage on a SQLite file, driven by AsyncTestClient.

Every test gets its own database file, copied from one migrated once per run, and its own
app; `Api` holds the client, the adapters the test may steer (the offline LLM, the PSA) and
makes keys for any account, user and role.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from resolutionflow_api import create_app
from resolutionflow_app import Application, Settings, open_application
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.tickets import Ticket
from resolutionflow_memory import InMemoryPSA, InMemoryPSAConnections, OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from tests.llm_faults import FaultyLLM

MAX_REQUEST_BYTES = 100_000
"""Small enough to test 413 cheaply, large enough for a 32,000-character message."""

ACCOUNT = "acme"
OTHER_ACCOUNT = "globex"
TICKET = Ticket("memory", "T-100", "Outlook asks for the password", company="Acme Ltd")


@dataclass
class Api:
    client: AsyncTestClient[Any]
    """Litestar's test client. It runs the app on its own loop in another thread and blocks
    this loop during a request: for requests that must overlap, use `concurrent_client`."""
    app: Litestar
    application: Application
    llm: FaultyLLM
    psa: InMemoryPSA
    connections: MemoryConnections
    _keys: dict[tuple[str, str, Role], dict[str, str]] = field(default_factory=dict)

    def concurrent_client(self) -> httpx.AsyncClient:
        """A client running the app on this loop, so requests can overlap (no lifespan)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://api")

    async def headers(
        self, user: str = "alice", role: Role = Role.ENGINEER, account: str = ACCOUNT
    ) -> dict[str, str]:
        """``Authorization`` for a key of this actor (made once per test)."""
        if (account, user, role) not in self._keys:
            new = await self.application.keys.create(
                Actor(account, user, role), "test", now=self.application.clock.now()
            )
            self._keys[(account, user, role)] = {"Authorization": f"Bearer {new.secret}"}
        return self._keys[(account, user, role)]

    async def start_chat(
        self, message: str = "Outlook keeps asking for the password", **who: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/ai-sessions",
            json={"session_type": "chat", "message": message},
            headers=await self.headers(**who),
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def start_guided(
        self, text: str = "The office printer is offline", **who: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/ai-sessions",
            json={"session_type": "guided", "intake_content": {"text": text}},
            headers=await self.headers(**who),
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def session(self, session_id: str, **who: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/ai-sessions/{session_id}", headers=await self.headers(**who)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


class MemoryConnections(InMemoryPSAConnections):
    """The in-memory PSA connections, closable like the configured ones."""

    async def aclose(self) -> None:
        return None


def build_application(
    url: str, llm: FaultyLLM, connections: MemoryConnections, *, relay: bool = False
) -> Application:
    """The composition root's `Application`, with adapters the tests steer (and keys read
    afresh every time, so a revoked key is refused at once)."""
    storage = SqlStorage.from_url(url)
    settings = Settings(
        database_url=url,
        llm="offline",
        max_request_bytes=MAX_REQUEST_BYTES,
        relay_in_process=relay,
    )
    return open_application(
        settings, storage=storage, llm=llm, psa=connections, keys=SqlKeyStore(storage.database)
    )


@pytest.fixture
def llm() -> FaultyLLM:
    return FaultyLLM(OfflineLLM())


@pytest.fixture
async def api(migrated_database: Path, tmp_path: Path, llm: FaultyLLM) -> AsyncIterator[Api]:
    path = tmp_path / "api.sqlite3"
    shutil.copyfile(migrated_database, path)
    psa = InMemoryPSA([TICKET])
    connections = MemoryConnections({ACCOUNT: psa})
    application = build_application(f"sqlite:///{path}", llm, connections)
    app = create_app(application, close_application=True)
    async with AsyncTestClient(app) as client:
        yield Api(client, app, application, llm, psa, connections)


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response's problem details, checked for the RFC 9457 shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "code"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    return body


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of a server-sent events body, ``data`` decoded from JSON."""
    import json

    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].removeprefix(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events
