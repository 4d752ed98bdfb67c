"""End to end: the real server process (``python -m resolutionflow_api``) on 127.0.0.1, on
SQLite and PostgreSQL, driven over HTTP with httpx.

One server per database for the module: it starts on an empty database (migrating it and
printing the first key), the tests drive it, and the last test stops it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.system import SystemClock
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from tests.api.conftest import parse_sse
from tests.databases import PostgresServer, drop_postgres, start_postgres
from tests.servers import KEY, STARTUP_SECONDS, ServerProcess

pytestmark = pytest.mark.process  # starts processes: `pytest -m "not process"` skips it


@dataclass
class Running:
    server: ServerProcess
    owner_key: str
    client: httpx.Client

    def as_(self, account: str, user: str, role: Role) -> dict[str, str]:
        """A key made through the KeyStore, as an operator's script would."""

        async def create() -> str:
            storage = SqlStorage.from_url(self.server.database_url)
            try:
                keys = SqlKeyStore(storage.database)
                new = await keys.create(Actor(account, user, role), "e2e", now=SystemClock().now())
                return new.secret
            finally:
                await storage.dispose()

        return {"Authorization": f"Bearer {asyncio.run(create())}"}

    @property
    def owner(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owner_key}"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp(f"serve-{request.param}")
    database: PostgresServer | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'resolutionflow.sqlite3'}"
    else:
        request.getfixturevalue("postgres_server")  # skips, or fails under CI, without a server
        database = start_postgres()
        url = database.database_url
    server = ServerProcess(url, directory).start()
    try:
        server.wait_ready()
        keys = KEY.findall(server.stdout)
        assert len(keys) == 1, server.stdout
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            yield Running(server, keys[0], client)
    finally:
        server.stop()
        if database is not None:
            drop_postgres(database)


def test_the_first_start_printed_one_owner_key_and_nothing_is_served_without_it(
    running: Running,
) -> None:
    client = running.client

    anonymous = client.get("/api/v1/ai-sessions")
    wrong = client.get("/api/v1/ai-sessions", headers={"Authorization": "Bearer nope"})
    allowed = client.get("/api/v1/ai-sessions", headers=running.owner)

    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert allowed.status_code == 200
    assert "Authorization: Bearer" in running.server.stdout
    assert client.get("/health").json()["database"] == "reachable"
    assert client.get("/schema/openapi.json").status_code == 200


def test_a_chat_session_over_the_wire(running: Running) -> None:
    client, owner = running.client, running.owner

    created = client.post(
        "/api/v1/ai-sessions",
        json={"session_type": "chat", "message": "Outlook asks for the password"},
        headers=owner | {"Idempotency-Key": f"e2e-{running.server.port}"},
    )
    session_id = created.json()["id"]
    replayed = client.post(
        "/api/v1/ai-sessions",
        json={"session_type": "chat", "message": "Outlook asks for the password"},
        headers=owner | {"Idempotency-Key": f"e2e-{running.server.port}"},
    )
    turn = client.post(
        f"/api/v1/ai-sessions/{session_id}/chat", json={"content": "One user"}, headers=owner
    )
    with client.stream(
        "POST",
        f"/api/v1/ai-sessions/{session_id}/chat/stream",
        json={"content": "OWA works"},
        headers=owner,
    ) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(streamed.read().decode())
    resolved = client.post(
        f"/api/v1/ai-sessions/{session_id}/resolve",
        json={"resolution_summary": "Rebuilt the Outlook profile"},
        headers=owner,
    )
    note = client.get(f"/api/v1/ai-sessions/{session_id}/documentation", headers=owner)
    again = client.post(f"/api/v1/ai-sessions/{session_id}/pause", headers=owner)

    assert created.status_code == replayed.status_code == 201
    assert replayed.json() == created.json()
    assert [action["title"] for action in turn.json()["reply"]["actions"]] == [
        "Test the mailbox in Outlook on the web",  # the offline LLM's, for one mailbox
        "Create a new Outlook profile",
    ]
    assert events[-1][0] == "message"
    assert "".join(d["text"] for _, d in events[:-1]) == events[-1][1]["reply"]["content"]
    assert resolved.json()["status"] == "resolved"
    assert note.json()["final"] is True
    assert "Rebuilt the Outlook profile" in note.json()["text"]
    assert again.status_code == 409
    stored = client.get(f"/api/v1/ai-sessions/{session_id}", headers=owner).json()
    assert stored["step_count"] == 6
    assert stored["messages"][5]["forks"], "the third reply's fork is parsed"


def test_a_guided_session_over_the_wire(running: Running) -> None:
    client, owner = running.client, running.owner
    engineer = running.as_("default", "erin", Role.ENGINEER)

    created = client.post(
        "/api/v1/ai-sessions",
        json={"session_type": "guided", "intake_content": {"text": "Printer offline"}},
        headers=owner,
    ).json()
    path = f"/api/v1/ai-sessions/{created['id']}"
    answered = client.post(f"{path}/respond", json={"response": "All users"}, headers=owner)
    escalated = client.post(
        f"{path}/escalate", json={"escalation_reason": "Needs a technician"}, headers=owner
    )
    claimed = client.post(f"{path}/claim", headers=engineer)
    board = client.get("/api/v1/dashboard", headers=engineer).json()

    assert created["steps"][0]["pending"] is True
    assert answered.json()["next_step"]["number"] == 2
    assert escalated.json()["status"] == "escalated"
    assert (claimed.json()["status"], claimed.json()["owner_id"]) == ("active", "erin")
    assert created["id"] in [row["id"] for row in board["active"]]


def test_another_account_sees_nothing(running: Running) -> None:
    client, owner = running.client, running.owner
    outsider = running.as_("globex", "mallory", Role.OWNER)
    session = client.post(
        "/api/v1/ai-sessions", json={"session_type": "chat", "message": "VPN"}, headers=owner
    ).json()
    path = f"/api/v1/ai-sessions/{session['id']}"

    responses = [
        client.get(path, headers=outsider),
        client.post(f"{path}/chat", json={"content": "hi"}, headers=outsider),
        client.post(f"{path}/resolve", json={"resolution_summary": "x"}, headers=outsider),
        client.get(f"/api/v1/assistant/chats/{session['id']}", headers=outsider),
    ]

    assert [r.status_code for r in responses] == [404] * 4
    assert client.get("/api/v1/ai-sessions", headers=outsider).json()["items"] == []
    assert client.get(path, headers=owner).json()["version"] == session["version"]


def test_the_legacy_endpoints_over_the_wire(running: Running) -> None:
    client, owner = running.client, running.owner

    created = client.post("/api/v1/assistant/chats", json={"message": "Laptop slow"}, headers=owner)
    listed = client.get("/api/v1/assistant/chats", headers=owner)

    assert created.status_code == 201
    assert created.headers["deprecation"].startswith("@")
    assert created.headers["sunset"].endswith("GMT")
    assert created.headers["link"] == '</api/v1/ai-sessions>; rel="successor-version"'
    assert created.json()["id"] in [chat["id"] for chat in listed.json()]


@pytest.mark.parametrize(
    "content",
    [
        b"{broken",
        b'{"session_type": "chat", "message": "nul \\u0000 byte"}',
        b'{"session_type": "chat", "message": "lone \\ud800 surrogate"}',
        b'{"session_type": "guided", "intake_content": {"text": "nul \\u0000", "k\\u0000": 1}}',
        json.dumps({"session_type": "chat", "message": "x" * 2_000_000}).encode(),
    ],
    ids=["malformed", "nul", "surrogate", "nul-in-intake", "too-large"],
)
def test_bad_input_over_the_wire_is_never_a_server_error(running: Running, content: bytes) -> None:
    response = running.client.post(
        "/api/v1/ai-sessions",
        content=content,
        headers=running.owner | {"Content-Type": "application/json"},
    )

    assert response.status_code < 500, response.text


def test_sigterm_stops_the_server_cleanly_and_a_restart_prints_no_key(running: Running) -> None:
    server, client = running.server, running.client
    body = {"session_type": "chat", "message": "Teams drops calls after a minute"}
    assert client.post("/api/v1/ai-sessions", json=body, headers=running.owner).status_code == 201
    stored = client.get("/api/v1/ai-sessions", headers=running.owner).json()["items"]

    assert server.terminate() == 0
    assert "Application shutdown complete" in server.stderr
    restarted = ServerProcess(server.database_url, server.directory).start().wait_ready()
    try:
        assert KEY.findall(restarted.stdout) == []
        ok = httpx.get(f"{restarted.base_url}/api/v1/ai-sessions", headers=running.owner)
        assert ok.status_code == 200
        assert ok.json()["items"] == stored
    finally:
        assert restarted.terminate() == 0


def test_several_workers_serve_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.sqlite3'}"
    server = ServerProcess(url, tmp_path, workers=2).start()
    try:
        server.wait_ready()
        (key,) = KEY.findall(server.stdout)
        headers = {"Authorization": f"Bearer {key}"}
        created = [
            httpx.post(
                f"{server.base_url}/api/v1/ai-sessions",
                json={"session_type": "chat", "message": f"Problem {n}"},
                headers=headers,
                timeout=30,
            ).status_code
            for n in range(4)
        ]
        listed = httpx.get(f"{server.base_url}/api/v1/ai-sessions", headers=headers, timeout=30)
    finally:
        status = server.terminate()

    assert created == [201] * 4
    assert len(listed.json()["items"]) == 4
    assert status == 0


def test_a_startup_error_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    server.start(RESOLUTIONFLOW_LLM="anthropic")
    assert server.process is not None

    status = server.process.wait(timeout=STARTUP_SECONDS)

    assert status != 0
    assert "ANTHROPIC_API_KEY" in server.stderr
    assert "Traceback" not in server.stderr
    assert not (tmp_path / "x.sqlite3").exists()
