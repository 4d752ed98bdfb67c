"""The OpenAPI schema describes every route, request and response, problem details included."""

from __future__ import annotations

import re
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


async def test_the_interactive_docs_load_nothing_from_another_host(api: Api) -> None:
    page = await api.client.get("/schema")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)

    assert "/schema/assets/swagger-ui/swagger-ui-bundle.js" in assets
    assert not [url for url in assets if "//" in url]
    for asset in assets:
        served = await api.client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 10_000


# -- the schema states what the server enforces --------------------------------------------


def _body_schemas(schema: dict[str, Any]) -> set[str]:
    names = set()
    for _, _, operation in _operations(schema):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        body = content["schema"]
        for ref in [body, *body.get("oneOf", [])]:
            if "$ref" in ref:
                names.add(ref["$ref"].rsplit("/", 1)[1])
    return names


async def test_every_request_body_refuses_unknown_fields_in_the_schema_as_on_the_wire(
    api: Api, schema: dict[str, Any]
) -> None:
    bodies = _body_schemas(schema)

    assert len(bodies) >= 14, bodies
    for name in bodies:
        assert schema["components"]["schemas"][name]["additionalProperties"] is False, name
    refused = await api.client.post(
        BASE,
        json={"session_type": "chat", "message": "hi", "colour": "blue"},
        headers=await api.headers(),
    )
    assert refused.status_code == 422


@pytest.mark.parametrize(
    ("component", "field", "longest"),
    [
        ("CreateChatSession", "message", 32_000),
        ("ChatMessage", "content", 32_000),
        ("StepResponse", "response", 32_000),
        ("Resolve", "resolution_summary", 8_000),
        ("Escalate", "escalation_reason", 8_000),
        ("LegacySendMessage", "content", 32_000),
    ],
)
async def test_required_texts_are_non_blank_and_bounded_in_the_schema(
    schema: dict[str, Any], component: str, field: str, longest: int
) -> None:
    import re

    described = schema["components"]["schemas"][component]["properties"][field]

    assert described["minLength"] == 1
    assert described["maxLength"] == longest
    pattern = re.compile(described["pattern"])
    assert pattern.search("  ok ") is not None
    for blank in ["", " ", "\t\n", "\u3000", "\x1c", "a\x00b"]:
        assert pattern.search(blank) is None, repr(blank)


async def test_the_cursor_parameter_says_its_format(api: Api, schema: dict[str, Any]) -> None:
    import re

    (cursor,) = [p for p in schema["paths"][BASE]["get"]["parameters"] if p["name"] == "cursor"]
    (string,) = [v for v in cursor["schema"]["oneOf"] if v.get("type") == "string"]
    for n in range(3):
        await api.start_chat(f"problem {n}")
    page = await api.client.get(BASE, params={"limit": 1}, headers=await api.headers())
    next_cursor = page.json()["next_cursor"]

    assert re.fullmatch(string["pattern"], next_cursor)
    assert re.fullmatch(string["pattern"], "not a cursor!") is None
    assert "invalid_cursor" in cursor["description"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (BASE, "GET, OPTIONS, POST"),
        ("/api/v1/psa-connection", "DELETE, GET, OPTIONS, PUT"),
        ("/api/v1/keys", "GET, OPTIONS, POST"),
        (f"{BASE}/00000000-0000-0000-0000-000000000001", "GET, OPTIONS"),
        (f"{BASE}/00000000-0000-0000-0000-000000000001/chat", "OPTIONS, POST"),
    ],
)
async def test_options_allows_every_method_of_the_path(api: Api, path: str, allowed: str) -> None:
    response = await api.client.options(path)

    assert response.status_code == 204
    assert response.headers["allow"] == allowed


async def test_a_created_session_links_to_the_operations_on_it(schema: dict[str, Any]) -> None:
    links = schema["paths"][BASE]["post"]["responses"]["201"]["links"]

    assert {"getSession", "chat", "respond", "pause", "resolve"} <= links.keys()
    assert links["chat"]["parameters"] == {"session_id": "$response.body#/id"}


def _validator(schema: dict[str, Any], name: str) -> Any:
    """A JSON Schema (2020-12) validator of one of the document's component schemas."""
    import jsonschema_rs

    root = {"$ref": f"#/components/schemas/{name}", "components": schema["components"]}
    return jsonschema_rs.Draft202012Validator(root)


async def test_the_psa_connection_body_names_each_providers_fields(schema: dict[str, Any]) -> None:
    from resolutionflow_app.psa import PROVIDERS

    put = schema["components"]["schemas"]["PutConnection"]
    valid = _validator(schema, "PutConnection").is_valid
    connectwise = {
        "provider": "connectwise",
        "settings": {
            "site": "na.myconnectwise.net",
            "company": "acme",
            "public_key": "pub",
            "client_id": "cid",
            "statuses": {"resolved": ">Closed"},
        },
        "credentials": {"private_key": "priv"},
    }
    autotask = {
        "provider": "autotask",
        "settings": {
            "base_url": "https://webservices5.autotask.net/ATServicesRest",
            "username": "u",
        },
        "credentials": {"integration_code": "i", "secret": "s"},
    }

    assert put["properties"]["provider"]["enum"] == sorted(PROVIDERS)
    for branch in put["oneOf"]:
        spec = PROVIDERS[branch["properties"]["provider"]["const"]]
        settings, credentials = (branch["properties"][k] for k in ("settings", "credentials"))
        assert settings["required"] == list(spec.required)
        assert set(settings["properties"]) == {*spec.required, *spec.optional, "statuses"}
        assert credentials["required"] == list(spec.secret) == list(credentials["properties"])
        assert settings["additionalProperties"] is credentials["additionalProperties"] is False
    assert valid(connectwise) is True
    assert valid(autotask) is True
    assert valid(connectwise | {"provider": "jira"}) is False
    assert valid(connectwise | {"provider": "halopsa"}) is False  # not HaloPSA's fields
    for refused in [
        {"site": "10.0.0.1"},  # an IP literal: refused when the connection is built
        {"site": None, "base_url": None},  # neither site nor base_url
        {"company": "ac:me"},  # ConnectWise's basic auth cannot carry ':'
        {"company": "  "},
        {"extra": "x"},
    ]:
        settings = {k: v for k, v in (connectwise["settings"] | refused).items() if v is not None}
        assert valid(connectwise | {"settings": settings}) is False, refused
    for note_types in [{"note_type_detail": "3"}, {"note_type_detail": "0"}]:
        body = autotask | {"settings": autotask["settings"] | note_types}
        assert valid(body) is False, note_types  # all three or none, each a picklist value >= 1
    three = {f"note_type_{kind}": "3" for kind in ("detail", "internal", "resolution")}
    assert valid(autotask | {"settings": autotask["settings"] | three}) is True


async def test_dates_and_intakes_are_declared_as_the_server_takes_them(
    schema: dict[str, Any],
) -> None:
    parameters = schema["paths"][BASE]["get"]["parameters"]
    moments = [p["schema"]["oneOf"] for p in parameters if p["name"].startswith("created_")]
    valid = _validator(schema, "CreateGuidedSession").is_valid
    guided = {"session_type": "guided", "intake_type": "screenshot"}

    assert (
        moments
        == [
            [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
                {"type": "null"},
            ]
        ]
        * 2
    )
    assert valid(guided | {"intake_content": {"text": "Error 0x80070005", "file": "a.png"}}) is True
    assert valid(guided | {"intake_content": {"file": "a.png"}}) is False  # no text to work on
    assert valid(guided | {"intake_content": {"text": "x", "k\x00": "v"}}) is False
    assert valid(guided | {"intake_content": {"text": "x", "k": {"nested": "\x00"}}}) is False
    assert valid(guided | {"intake_content": {"text": "x" * 9_001}}) is False  # could pass 64 kB
    ticket = {"session_type": "guided", "intake_type": "psa_ticket"}
    assert valid(ticket | {"intake_content": {"ticket_id": "4711"}}) is True
    assert valid(ticket | {"intake_content": {"text": "printer"}}) is False


def _texts(described: dict[str, Any]) -> list[dict[str, Any]]:
    """The free-text string schemas in ``described`` (not an enum, a constant or a format),
    its variants too."""
    variants = [described, *described.get("anyOf", []), *described.get("oneOf", [])]
    return [
        v
        for v in variants
        if v.get("type") == "string" and not {"enum", "const", "format"} & v.keys()
    ]


async def test_no_text_of_a_request_body_admits_nul_in_the_schema(schema: dict[str, Any]) -> None:
    """The server refuses U+0000 in every text of a body (`requests.refuse_nul`): the schema
    says so for each, so a client generating valid requests from it never sends one."""
    import re

    admitting = [
        f"{name}.{field}"
        for name in _body_schemas(schema)
        for field, described in schema["components"]["schemas"][name]["properties"].items()
        for text in _texts(described)
        if text.get("pattern") is None or re.search(text["pattern"], "a\x00b") is not None
    ]
    assert admitting == [], admitting
