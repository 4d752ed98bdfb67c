"""Tenancy and roles on every route: another account's session does not exist (404, and
nothing changes); viewers read but never change anything (403)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from resolutionflow_core.access import Role
from tests.api.conftest import OTHER_ACCOUNT, Api, problem


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """With ``{id}`` for the session's id."""
    kind: str
    """The kind of session the route works on: ``chat`` or ``guided``."""
    body: dict[str, Any] | None = None
    changes: bool = True

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.kind})"


SESSION_ROUTES = [
    Route("GET", "/api/v1/ai-sessions/{id}", "chat", changes=False),
    Route("GET", "/api/v1/ai-sessions/{id}", "guided", changes=False),
    Route("GET", "/api/v1/ai-sessions/{id}/documentation", "guided", changes=False),
    Route("POST", "/api/v1/ai-sessions/{id}/chat", "chat", {"content": "Any news?"}),
    Route("POST", "/api/v1/ai-sessions/{id}/chat/stream", "chat", {"content": "Any news?"}),
    Route("POST", "/api/v1/ai-sessions/{id}/chat/retry", "chat"),
    Route("POST", "/api/v1/ai-sessions/{id}/respond", "guided", {"response": "Yes"}),
    Route("POST", "/api/v1/ai-sessions/{id}/next-step", "guided"),
    Route("POST", "/api/v1/ai-sessions/{id}/resolve", "chat", {"resolution_summary": "Fixed"}),
    Route("POST", "/api/v1/ai-sessions/{id}/escalate", "guided", {"escalation_reason": "Stuck"}),
    Route("POST", "/api/v1/ai-sessions/{id}/claim", "chat"),
    Route("POST", "/api/v1/ai-sessions/{id}/pause", "guided"),
    Route("POST", "/api/v1/ai-sessions/{id}/resume", "chat"),
    Route("POST", "/api/v1/ai-sessions/{id}/abandon", "guided", {"reason": "Gone"}),
    Route("POST", "/api/v1/ai-sessions/{id}/status-update", "chat", {"audience": "client"}),
    Route("POST", "/api/v1/ai-sessions/{id}/ticket", "guided", {"ticket_id": "T-100"}),
    Route("GET", "/api/v1/assistant/chats/{id}", "chat", changes=False),
    Route("POST", "/api/v1/assistant/chats/{id}/messages", "chat", {"content": "Any news?"}),
]

CREATE_ROUTES = [
    Route("POST", "/api/v1/ai-sessions", "chat", {"session_type": "chat", "message": "Hi"}),
    Route(
        "POST",
        "/api/v1/ai-sessions",
        "guided",
        {"session_type": "guided", "intake_content": {"text": "Hi"}},
    ),
    Route("POST", "/api/v1/assistant/chats", "chat", {"message": "Hi"}),
]


async def _request(api: Api, route: Route, session_id: str, headers: dict[str, str]) -> Any:
    return await api.client.request(
        route.method, route.path.format(id=session_id), json=route.body, headers=headers
    )


async def _session_of(api: Api, kind: str) -> dict[str, Any]:
    return await (api.start_chat() if kind == "chat" else api.start_guided())


@pytest.mark.parametrize("route", SESSION_ROUTES, ids=str)
async def test_another_accounts_session_is_not_found_on_every_route(api: Api, route: Route) -> None:
    session = await _session_of(api, route.kind)
    outsider = await api.headers("mallory", Role.OWNER, account=OTHER_ACCOUNT)

    response = await _request(api, route, session["id"], outsider)

    problem(response, 404)
    after = await api.session(session["id"])
    assert after["version"] == session["version"], "nothing changed"


@pytest.mark.parametrize("route", [r for r in SESSION_ROUTES if r.changes], ids=str)
async def test_viewers_cannot_change_a_session_on_any_route(api: Api, route: Route) -> None:
    session = await _session_of(api, route.kind)
    viewer = await api.headers("vera", Role.VIEWER)

    response = await _request(api, route, session["id"], viewer)

    problem(response, 403, "permission_denied")
    assert (await api.session(session["id"]))["version"] == session["version"]


@pytest.mark.parametrize("route", CREATE_ROUTES, ids=str)
async def test_viewers_cannot_start_sessions_on_any_route(api: Api, route: Route) -> None:
    viewer = await api.headers("vera", Role.VIEWER)

    response = await _request(api, route, "", viewer)

    problem(response, 403, "permission_denied")
    listed = await api.client.get("/api/v1/ai-sessions", headers=viewer)
    assert listed.json()["items"] == []


@pytest.mark.parametrize("route", [r for r in SESSION_ROUTES if not r.changes], ids=str)
async def test_viewers_read_every_session_of_their_account(api: Api, route: Route) -> None:
    session = await _session_of(api, route.kind)

    response = await _request(api, route, session["id"], await api.headers("vera", Role.VIEWER))

    assert response.status_code == 200, response.text


async def test_every_api_route_needs_a_key(api: Api) -> None:
    session = await api.start_chat()
    routes = [*SESSION_ROUTES, *CREATE_ROUTES]
    routes += [
        Route("GET", "/api/v1/ai-sessions", "chat"),
        Route("GET", "/api/v1/dashboard", "chat"),
    ]
    routes += [
        Route("GET", "/api/v1/assistant/chats", "chat"),
        Route("GET", "/api/v1/keys", "chat"),
    ]

    for route in routes:
        response = await _request(api, route, session["id"], {})
        problem(response, 401)


async def test_admins_work_on_their_engineers_sessions(api: Api) -> None:
    session = await api.start_chat()
    admin = await api.headers("ada", Role.ADMIN)

    response = await api.client.post(
        f"/api/v1/ai-sessions/{session['id']}/chat", json={"content": "Admin here"}, headers=admin
    )

    assert response.status_code == 200, response.text


async def test_an_engineer_cannot_work_on_a_colleagues_escalation_before_claiming(api: Api) -> None:
    session = await api.start_chat(user="bob")
    await api.client.post(
        f"/api/v1/ai-sessions/{session['id']}/escalate",
        json={"escalation_reason": "Need help"},
        headers=await api.headers("bob"),
    )

    seen = await api.client.get(f"/api/v1/ai-sessions/{session['id']}", headers=await api.headers())
    resolved = await api.client.post(
        f"/api/v1/ai-sessions/{session['id']}/resolve",
        json={"resolution_summary": "Mine now?"},
        headers=await api.headers(),
    )

    assert seen.status_code == 200, "escalations are visible to the whole account"
    problem(resolved, 403, "permission_denied")
