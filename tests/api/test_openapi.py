"""The OpenAPI schema describes every route, request and response, problem details included."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from resolutionflow_api.controllers.health import HealthRead
from resolutionflow_api.controllers.keys import ApiKeyList, NewKeyRead
from resolutionflow_api.controllers.legacy import LegacyChat, LegacyChatSummary, LegacyExchange
from resolutionflow_api.problems import ProblemDetails
from resolutionflow_api.responses import (
    ChatTurnRead,
    DashboardRead,
    DocumentationRead,
    GuidedTurnRead,
    SessionPageRead,
    SessionRead,
    StatusUpdateRead,
)
from resolutionflow_core.access import Role
from tests.api.conftest import Api

PROBLEM = "application/problem+json"
BASE = "/api/v1/ai-sessions"
LEGACY = "/api/v1/assistant/chats"


@pytest.fixture
async def schema(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


async def test_every_route_of_the_app_is_in_the_schema(api: Api, schema: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in _operations(schema)}
    served = {
        (method, route.path_format)
        for route in api.app.routes
        if not route.path.startswith("/schema")
        for method in getattr(route, "methods", ())
        if method not in {"OPTIONS", "HEAD"}
    }

    assert served == documented
    assert len(documented) == 31  # 26, and the PSA connection (4) and delivery retry (1)


async def test_every_error_response_is_described_as_problem_details(schema: dict[str, Any]) -> None:
    for method, path, operation in _operations(schema):
        if path == "/health":
            continue
        errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
        assert {"400", "401"} <= errors.keys(), (method, path)
        for code, response in errors.items():
            content = response["content"][PROBLEM]["schema"]
            assert content == {"$ref": "#/components/schemas/ProblemDetails"}, (method, path, code)


async def test_every_operation_has_a_named_success_schema(schema: dict[str, Any]) -> None:
    for method, path, operation in _operations(schema):
        success = [r for code, r in operation["responses"].items() if code < "300"]
        assert len(success) == 1, (method, path)
        assert success[0].get("content"), (method, path)
        assert operation["operationId"][0].islower(), operation["operationId"]


async def test_problem_details_and_request_bodies_are_described(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    problem = components["ProblemDetails"]
    create = schema["paths"]["/api/v1/ai-sessions"]["post"]

    assert {"type", "title", "status", "detail", "instance", "code", "errors"} <= set(
        problem["properties"]
    )
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    assert create["requestBody"]["content"]["application/json"]["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/CreateChatSession"},
        {"$ref": "#/components/schemas/CreateGuidedSession"},
    ]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    stream = schema["paths"]["/api/v1/ai-sessions/{session_id}/chat/stream"]["post"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]


async def test_the_schema_declares_bearer_keys_and_health_is_open(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    assert schema["security"] == [{"BearerAuth": []}]
    assert schema["paths"]["/health"]["get"]["security"] == [{}]


async def test_legacy_operations_are_marked_deprecated(schema: dict[str, Any]) -> None:
    legacy = [op for _, path, op in _operations(schema) if "/assistant/" in path]

    assert len(legacy) == 4
    assert all(op["deprecated"] for op in legacy)


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger", "/schema/openapi.json"])
async def test_the_interactive_docs_are_served_without_a_key(api: Api, path: str) -> None:
    response = await api.client.get(path)

    assert response.status_code == 200


async def test_every_response_is_exactly_its_documented_shape(api: Api) -> None:
    """Each body decodes as the type its operation declares, which forbids unknown fields."""
    headers = await api.headers()
    owner = await api.headers("olga", Role.OWNER)
    chat = await api.client.post(
        BASE, json={"session_type": "chat", "message": "Outlook"}, headers=headers
    )
    guided = await api.client.post(
        BASE, json={"session_type": "guided", "intake_content": {"text": "VPN"}}, headers=headers
    )
    chat_id, guided_id = chat.json()["id"], guided.json()["id"]
    legacy = await api.client.post(LEGACY, json={"message": "Mapped drive"}, headers=headers)
    cases: list[tuple[Any, type]] = [
        (chat, SessionRead),
        (guided, SessionRead),
        (await api.client.get(BASE, headers=headers), SessionPageRead),
        (await api.client.get(f"{BASE}/{chat_id}", headers=headers), SessionRead),
        (
            await api.client.post(f"{BASE}/{chat_id}/chat", json={"content": "x"}, headers=headers),
            ChatTurnRead,
        ),
        (
            await api.client.post(
                f"{BASE}/{guided_id}/respond", json={"response": "y"}, headers=headers
            ),
            GuidedTurnRead,
        ),
        (
            await api.client.post(
                f"{BASE}/{guided_id}/ticket", json={"ticket_id": "T-100"}, headers=headers
            ),
            SessionRead,
        ),
        (
            await api.client.post(
                f"{BASE}/{chat_id}/status-update", json={"audience": "email"}, headers=headers
            ),
            StatusUpdateRead,
        ),
        (await api.client.post(f"{BASE}/{chat_id}/pause", headers=headers), SessionRead),
        (
            await api.client.get(f"{BASE}/{chat_id}/documentation", headers=headers),
            DocumentationRead,
        ),
        (await api.client.get("/api/v1/dashboard", headers=headers), DashboardRead),
        (legacy, LegacyChat),
        (await api.client.get(f"{LEGACY}/{legacy.json()['id']}", headers=headers), LegacyChat),
        (
            await api.client.post(
                f"{LEGACY}/{legacy.json()['id']}/messages", json={"content": "z"}, headers=headers
            ),
            LegacyExchange,
        ),
        (await api.client.get(LEGACY, headers=headers), list[LegacyChatSummary]),
        (await api.client.get("/api/v1/keys", headers=owner), ApiKeyList),
        (
            await api.client.post(
                "/api/v1/keys", json={"user_id": "eve", "role": "viewer"}, headers=owner
            ),
            NewKeyRead,
        ),
        (await api.client.get("/health"), HealthRead),
        (await api.client.post(f"{BASE}/{chat_id}/pause", headers=headers), ProblemDetails),
        (await api.client.post(BASE, json={}, headers=headers), ProblemDetails),
        (await api.client.get(BASE), ProblemDetails),
    ]

    for response, kind in cases:
        assert response.status_code < 500, response.text
        msgspec.json.decode(response.content, type=kind)
