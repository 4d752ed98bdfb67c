"""Errors are problem details with the right status: 401, 409, 413, 422, 502, 503; never a 500
for bad input."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import msgspec.inspect
import pytest

from resolutionflow_api.problems import RequestBody, _field_error, problem_for
from resolutionflow_api.requests import Body, CreateSession
from resolutionflow_core.access import Role
from resolutionflow_core.errors import (
    ContentTooLarge,
    DomainError,
    InvalidCursor,
    InvalidInput,
    InvalidTransition,
    LLMError,
    LLMResponseInvalid,
    LLMUnavailable,
    NoPendingStep,
    NothingToAnswer,
    PermissionDenied,
    PSAError,
    PSANotConfigured,
    SessionNotFound,
    StaleSession,
    StepAlreadyPending,
    StorageUnavailable,
    TicketNotFound,
    WrongSessionType,
)
from tests.api.conftest import ACCOUNT, MAX_REQUEST_BYTES, Api, problem

BASE = "/api/v1/ai-sessions"
SOME_ID = uuid.UUID(int=7)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("summary", "must not be empty"), 422),
        (InvalidCursor(), 422),
        (ContentTooLarge("content", 40_000, 32_000), 413),
        (SessionNotFound(SOME_ID), 404),
        (PermissionDenied("resolve", "viewers can only read"), 403),
        (InvalidTransition("resolved", "pause"), 409),
        (WrongSessionType("add a message", "guided", "chat"), 409),
        (NoPendingStep(SOME_ID), 409),
        (StepAlreadyPending(SOME_ID, 3), 409),
        (NothingToAnswer(SOME_ID), 409),
        (StaleSession(SOME_ID, 4), 409),
        (LLMUnavailable("overloaded", retry_after=2.2, session_id=SOME_ID), 503),
        (LLMResponseInvalid("no JSON", session_id=SOME_ID), 502),
        (LLMError("odd"), 502),
        (TicketNotFound("memory", "T-1"), 422),
        (PSANotConfigured(ACCOUNT), 409),
        (PSAError("ConnectWise is down"), 502),
        (StorageUnavailable("down"), 503),
        (DomainError("something else"), 400),
    ],
)
def test_every_domain_error_has_one_status(error: DomainError, status: int) -> None:
    mapped = problem_for(error)
    body = mapped.body("/here")

    assert mapped.status_code == status
    assert body["status"] == status
    assert body["code"] == error.code
    assert body["type"] == f"urn:resolutionflow:problem:{error.code}"
    assert body["instance"] == "/here"
    assert body["detail"].startswith(error.message)


def test_an_llm_outage_says_where_the_input_is_and_when_to_retry() -> None:
    mapped = problem_for(LLMUnavailable("overloaded", retry_after=2.2, session_id=SOME_ID))

    assert mapped.headers == {"Retry-After": "3"}
    assert mapped.body("/x")["session_id"] == str(SOME_ID)
    assert mapped.body("/x")["retry_after"] == 3


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer nonsense",
        "Bearer rf_0123456789ab_" + "x" * 43,
    ],
)
async def test_a_missing_or_unknown_key_is_401_with_a_bearer_challenge(
    api: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await api.client.get(BASE, headers=headers)

    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_key_is_refused(api: Api) -> None:
    headers = await api.headers()
    (key,) = await api.application.keys.list(ACCOUNT)
    await api.application.keys.revoke(key.id, now=api.application.clock.now())

    problem(await api.client.get(BASE, headers=headers), 401)


async def test_unknown_routes_and_methods_are_problems_too(api: Api) -> None:
    headers = await api.headers()

    problem(await api.client.get("/api/v1/nothing-here", headers=headers), 404, "not_found")
    problem(await api.client.delete(BASE, headers=headers), 405, "method_not_allowed")


# -- lifecycle conflicts (409) --------------------------------------------------------------


async def _post(
    api: Api, path: str, body: dict[str, Any] | None = None, user: str = "alice"
) -> Any:
    return await api.client.post(path, json=body, headers=await api.headers(user))


async def test_every_refused_transition_is_409_naming_status_and_action(api: Api) -> None:
    chat = (await api.start_chat())["id"]
    path = f"{BASE}/{chat}"

    body = problem(await _post(api, f"{path}/resume"), 409, "invalid_transition")
    assert (body["status_of_session"], body["action"]) == ("active", "resume")
    admin = await api.headers("ada", Role.ADMIN)
    problem(await api.client.post(f"{path}/claim", headers=admin), 409, "invalid_transition")
    await _post(api, f"{path}/pause")
    problem(await _post(api, f"{path}/pause"), 409, "invalid_transition")
    problem(await _post(api, f"{path}/chat", {"content": "hello?"}), 409, "invalid_transition")
    await _post(api, f"{path}/resolve", {"resolution_summary": "Done"})
    for action, body_ in [
        ("resolve", {"resolution_summary": "Again"}),
        ("escalate", {"escalation_reason": "Why"}),
        ("abandon", None),
        ("pause", None),
        ("resume", None),
    ]:
        refused = problem(await _post(api, f"{path}/{action}", body_), 409, "invalid_transition")
        assert "closed" in refused["detail"]
    assert (await api.session(chat))["status"] == "resolved"


async def test_the_escalating_engineer_cannot_claim_their_own_escalation(api: Api) -> None:
    session = (await api.start_guided())["id"]
    await _post(api, f"{BASE}/{session}/escalate", {"escalation_reason": "Stuck"})

    problem(await _post(api, f"{BASE}/{session}/claim"), 409, "invalid_transition")


async def test_each_kinds_operations_are_refused_on_the_other_kind(api: Api) -> None:
    chat = (await api.start_chat())["id"]
    guided = (await api.start_guided())["id"]

    for path, body in [
        (f"{BASE}/{chat}/respond", {"response": "yes"}),
        (f"{BASE}/{chat}/next-step", None),
        (f"{BASE}/{guided}/chat", {"content": "hi"}),
        (f"{BASE}/{guided}/chat/stream", {"content": "hi"}),
        (f"{BASE}/{guided}/chat/retry", None),
    ]:
        problem(await _post(api, path, body), 409, "wrong_session_type")


async def test_answering_without_a_pending_step_is_409(api: Api) -> None:
    api.llm.fail_next_calls(1)
    await _post(api, BASE, {"session_type": "guided", "intake_content": {"text": "No VPN"}})
    guided = (await api.client.get(BASE, headers=await api.headers())).json()["items"][0]["id"]

    problem(await _post(api, f"{BASE}/{guided}/respond", {"response": "x"}), 409, "no_pending_step")


async def test_asking_again_when_the_last_message_has_its_reply_is_409(api: Api) -> None:
    chat = (await api.start_chat())["id"]

    problem(await _post(api, f"{BASE}/{chat}/chat/retry"), 409, "nothing_to_answer")


async def test_linking_without_a_psa_connection_or_with_an_unknown_ticket_is_422(api: Api) -> None:
    session = (await api.start_chat())["id"]

    unknown = problem(
        await _post(api, f"{BASE}/{session}/ticket", {"ticket_id": "T-404"}),
        422,
        "ticket_not_found",
    )
    api.connections.disconnect(ACCOUNT)
    not_configured = await _post(api, f"{BASE}/{session}/ticket", {"ticket_id": "T-100"})

    assert unknown["errors"][0]["field"] == "ticket_id"
    problem(not_configured, 409, "psa_not_configured")


# -- invalid input (422), sizes (413) -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_type": "chat"}, "message"),
        ({"session_type": "chat", "message": 42}, "message"),
        ({"session_type": "chat", "message": "   "}, "message"),
        ({"session_type": "phone", "message": "hi"}, "session_type"),
        ({"message": "hi"}, "session_type"),
        ({"session_type": "chat", "message": "hi", "titel": "x"}, "titel"),
        ({"session_type": "guided", "intake_content": {}}, "intake_content"),
        ({"session_type": "guided", "intake_content": {"other": "x"}}, "intake_content.text"),
        ({"session_type": "guided", "intake_content": "text"}, "intake_content"),
        (
            {"session_type": "guided", "intake_type": "fax", "intake_content": {"a": "b"}},
            "intake_type",
        ),
        (
            {"session_type": "guided", "intake_type": "psa_ticket", "intake_content": {"a": "b"}},
            "intake_content.ticket_id",
        ),
    ],
)
async def test_invalid_create_bodies_are_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await _post(api, BASE, body)

    errors = problem(response, 422)["errors"]
    assert field in [error["field"] for error in errors], errors


async def test_invalid_texts_of_every_command_are_422_naming_the_field(api: Api) -> None:
    chat = (await api.start_chat())["id"]
    guided = (await api.start_guided())["id"]
    cases = [
        (f"{BASE}/{chat}/chat", {"content": ""}, "content"),
        (f"{BASE}/{chat}/chat", {"content": None}, "content"),
        (f"{BASE}/{guided}/respond", {"response": " "}, "response"),
        (f"{BASE}/{chat}/resolve", {"resolution_summary": ""}, "resolution_summary"),
        (f"{BASE}/{chat}/resolve", {}, "resolution_summary"),
        (f"{BASE}/{chat}/escalate", {"escalation_reason": "\n"}, "escalation_reason"),
        (f"{BASE}/{chat}/status-update", {"audience": "boss"}, "audience"),
        (f"{BASE}/{chat}/status-update", {"audience": "client", "length": "epic"}, "length"),
        (f"{BASE}/{chat}/ticket", {"ticket_id": "  "}, "ticket_id"),
        (f"{BASE}/{chat}/ticket", {"ticket_id": "x" * 101}, "ticket_id"),
    ]
    for path, body, field in cases:
        errors = problem(await _post(api, path, body), 422)["errors"]
        assert field in [error["field"] for error in errors], (path, body, errors)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "10" * 30}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"session_type": "voice"}, "session_type"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
        ({"cursor": "x" * 600}, "cursor"),
        ({"owner": "o" * 129}, "owner"),
    ],
)
async def test_bad_list_parameters_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    response = await api.client.get(BASE, params=params, headers=await api.headers())

    errors = problem(response, 422)["errors"]
    assert field in [error["field"] for error in errors], errors


async def test_a_reversed_date_range_is_an_empty_page_not_an_error(api: Api) -> None:
    """No session is created after February and before January: 200 with no items (a
    schema cannot say "from before to", so a request it calls valid is not refused)."""
    chat = (await api.start_chat())["id"]
    headers = await api.headers()
    around = {"created_from": "2000-01-01", "created_to": "2999-12-31"}
    reversed_range = {"created_from": "2999-12-31", "created_to": "2000-01-01"}

    found = await api.client.get(BASE, params=around, headers=headers)
    empty = await api.client.get(BASE, params=reversed_range, headers=headers)
    searched = await api.client.get(BASE, params=reversed_range | {"q": "x"}, headers=headers)

    assert found.status_code == 200, found.text
    assert [item["id"] for item in found.json()["items"]] == [chat]
    assert (empty.status_code, empty.json()) == (200, {"items": [], "next_cursor": None})
    assert (searched.status_code, searched.json()["items"]) == (200, [])


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "0001-01-01"]
)
async def test_moments_at_the_ends_of_the_calendar_are_answered(api: Api, moment: str) -> None:
    """An offset that takes a moment past year 1 or 9999 in UTC is the first or last moment,
    not a 500 (the document calls every RFC 3339 date-time valid)."""
    chat = (await api.start_chat())["id"]
    headers = await api.headers()
    since = await api.client.get(BASE, params={"created_from": moment}, headers=headers)
    until = await api.client.get(BASE, params={"created_to": moment}, headers=headers)

    assert since.status_code == until.status_code == 200, (since.text, until.text)
    expected_since = [chat] if moment.startswith("0001") else []
    assert [item["id"] for item in since.json()["items"]] == expected_since
    assert [item["id"] for item in until.json()["items"]] == ([chat] if not expected_since else [])


async def test_a_body_over_the_limit_is_413(api: Api) -> None:
    response = await api.client.post(
        BASE,
        json={"session_type": "chat", "message": "x" * (MAX_REQUEST_BYTES + 10)},
        headers=await api.headers(),
    )

    problem(response, 413, "request_too_large")


async def test_a_message_over_the_domain_limit_is_413_naming_the_field(api: Api) -> None:
    chat = (await api.start_chat())["id"]
    long = "y" * 32_001

    created = await _post(api, BASE, {"session_type": "chat", "message": long})
    sent = await _post(api, f"{BASE}/{chat}/chat", {"content": long})

    assert problem(created, 413, "content_too_large")["errors"][0]["field"] == "message"
    assert problem(sent, 413, "content_too_large")["errors"][0]["field"] == "content"
    assert (await api.session(chat))["step_count"] == 2


# -- never a 500 for bad input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", BASE, b"{not json"),
        ("POST", BASE, b""),
        ("POST", BASE, b"[]"),
        ("POST", BASE, b"null"),
        ("POST", BASE, b'"chat"'),
        ("POST", BASE, b'{"session_type": "chat", "message": "\\ud800"}'),
        ("POST", BASE, b'{"session_type": "chat", "message": "nul \\u0000 byte"}'),
        ("POST", BASE, b'{"session_type": "guided", "intake_content": {"text": "a", "n": 1e999}}'),
        (
            "POST",
            BASE,
            b'{"session_type": "guided", "intake_content": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        ),
        ("POST", BASE, b"\xff\xfe"),
        ("GET", f"{BASE}/not-a-uuid", None),
        ("GET", f"{BASE}/{uuid.uuid4()}", None),
        ("POST", f"{BASE}/12345/chat", b'{"content": "hi"}'),
        ("POST", f"{BASE}/{uuid.uuid4()}/chat", b'{"content": "hi"}'),
        ("POST", f"{BASE}/{uuid.uuid4()}/abandon", b"{broken"),
        ("GET", f"{BASE}/{uuid.uuid4()}/documentation?kind=poem", None),
        ("GET", "/api/v1/dashboard?limit=-5", None),
        ("GET", "/api/v1/assistant/chats/zzz", None),
        ("POST", "/api/v1/assistant/chats", b'{"message": ["a"]}'),
    ],
)
async def test_bad_input_is_never_a_server_error(
    api: Api, method: str, path: str, content: bytes | None
) -> None:
    headers = await api.headers() | {"Content-Type": "application/json"}

    response = await api.client.request(method, path, content=content, headers=headers)

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_idempotency_key_that_is_not_printable_ascii_is_422(api: Api) -> None:
    headers = await api.headers() | {"Idempotency-Key": "has spaces in it"}

    response = await api.client.post(
        BASE, json={"session_type": "chat", "message": "hi"}, headers=headers
    )

    assert [e["field"] for e in problem(response, 422)["errors"]] == ["Idempotency-Key"]


# -- the LLM fails: 503 / 502, and nothing the engineer sent is lost -------------------------


async def test_an_llm_outage_is_503_with_retry_after_and_the_message_is_kept(api: Api) -> None:
    chat = (await api.start_chat())["id"]
    api.llm.fail_next_calls(1, LLMUnavailable("overloaded", retry_after=7))

    response = await _post(api, f"{BASE}/{chat}/chat", {"content": "Still failing"})

    body = problem(response, 503, "llm_unavailable")
    assert response.headers["retry-after"] == "7"
    assert body["retry_after"] == 7
    assert body["session_id"] == chat
    assert "saved" in body["detail"]
    stored = await api.session(chat)
    assert stored["messages"][-1]["content"] == "Still failing"
    retried = await _post(api, f"{BASE}/{chat}/chat/retry")
    assert retried.status_code == 200
    assert retried.json()["message"]["content"] == "Still failing"


async def test_an_outage_while_starting_keeps_the_new_session(api: Api) -> None:
    api.llm.fail_next_calls(1)

    chat = await _post(api, BASE, {"session_type": "chat", "message": "Laptop will not boot"})
    api.llm.fail_next_calls(1)
    guided = await _post(api, BASE, {"session_type": "guided", "intake_content": {"text": "DNS"}})

    chat_id = problem(chat, 503)["session_id"]
    guided_id = problem(guided, 503)["session_id"]
    assert chat.headers["retry-after"] == "5"
    assert [m["role"] for m in (await api.session(chat_id))["messages"]] == ["user"]
    assert (await api.session(guided_id))["steps"] == []
    next_step = await _post(api, f"{BASE}/{guided_id}/next-step")
    assert next_step.status_code == 200
    assert next_step.json()["next_step"]["number"] == 1


async def test_an_unusable_llm_answer_is_502(api: Api) -> None:
    guided = (await api.start_guided())["id"]
    api.llm.fail_next_calls(1, LLMResponseInvalid("the step had no content"))

    response = await _post(api, f"{BASE}/{guided}/respond", {"response": "It is on"})

    assert problem(response, 502, "llm_response_invalid")["session_id"] == guided
    assert (await api.session(guided))["steps"][0]["response"] == "It is on"


async def test_a_status_update_the_llm_cannot_draft_is_503_without_a_session_id(api: Api) -> None:
    chat = (await api.start_chat())["id"]
    api.llm.fail_next_calls(1)

    response = await _post(api, f"{BASE}/{chat}/status-update", {"audience": "client"})

    assert "session_id" not in problem(response, 503)


async def test_viewers_cannot_start_sessions(api: Api) -> None:
    response = await api.client.post(
        BASE,
        json={"session_type": "chat", "message": "hi"},
        headers=await api.headers("vera", Role.VIEWER),
    )

    problem(response, 403, "permission_denied")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (BASE, {"session_type": "chat", "message": "a\x00b"}, "message"),
        (
            BASE,
            {"session_type": "guided", "intake_content": {"text": "ok", "x": ["\x00"]}},
            "intake_content.x[0]",
        ),
        (
            BASE,
            {"session_type": "guided", "intake_content": {"text": "ok", "k\x00": 1}},
            "intake_content.k\\u0000",
        ),
        ("/api/v1/keys", {"user_id": "eve\x00", "role": "viewer"}, "user_id"),
    ],
)
async def test_nul_characters_are_refused_anywhere_in_a_body(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    headers = await api.headers("olga", Role.OWNER)

    response = await api.client.post(path, json=body, headers=headers)

    assert [e["field"] for e in problem(response, 422)["errors"]] == [field]


async def test_a_nul_character_in_a_filter_is_422(api: Api) -> None:
    response = await api.client.get(BASE, params={"owner": "a\x00"}, headers=await api.headers())

    problem(response, 422)


# -- bodies that are not UTF-8 ----------------------------------------------------------------

_NOT_UTF8 = {
    "stray byte": b"\xff",
    "encoded surrogate": b"\xed\xa0\x80",
    "beyond U+10FFFF": b"\xf4\x90\x80\x80",
    "overlong slash": b"\xc0\xaf",
    "overlong NUL": b"\xe0\x80\x80",
}


async def _body_routes(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document that takes a JSON body, ids filled in."""
    document = (await api.client.get("/schema/openapi.json")).json()
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                filled = path.replace("{session_id}", str(uuid.uuid4()))
                filled = filled.replace("{key_id}", str(uuid.uuid4()))
                filled = filled.replace("{chat_id}", str(uuid.uuid4()))
                routes.append((method.upper(), filled))
    return routes


async def test_every_route_with_a_body_answers_400_to_a_body_that_is_not_utf8(api: Api) -> None:
    routes = await _body_routes(api)
    assert len(routes) >= 14, routes  # the routes issue 12 counted
    headers = await api.headers("olga", Role.OWNER) | {"Content-Type": "application/json"}

    for method, path in routes:
        for name, raw in _NOT_UTF8.items():
            body = b'{"content": "a' + raw + b'", "message": "b' + raw + b'"}'
            response = await api.client.request(method, path, content=body, headers=headers)
            assert response.status_code == 400, (method, path, name, response.text)
            assert problem(response, 400, "bad_request")["instance"] == path.split("?")[0]


# -- headers ----------------------------------------------------------------------------------


async def test_every_response_says_nosniff_and_api_responses_are_not_stored(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)
    created = await api.client.post(
        "/api/v1/keys", json={"user_id": "eve", "role": "viewer"}, headers=owner
    )
    health = await api.client.get("/health")
    refused = await api.client.get(BASE)

    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"  # it carries the new key's secret
    assert refused.headers["cache-control"] == "no-store"
    for response in (created, health, refused):
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in health.headers


# -- the database is down or busy -------------------------------------------------------------


async def test_a_database_that_is_down_is_503_database_unavailable_with_retry_after(
    api: Api,
) -> None:
    headers = await api.headers()
    chat = await api.start_chat()
    database = api.application.storage.database
    engine = database.engine  # type: ignore[attr-defined]
    path = engine.url.database
    import os

    os.rename(path, path + ".gone")
    os.makedirs(path)  # a directory where the file was: sqlite cannot open it
    engine.dispose()
    try:
        response = await api.client.get(f"{BASE}/{chat['id']}", headers=headers)
        body = problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == str(body["retry_after"])
        assert int(body["retry_after"]) >= 1
        health = await api.client.get("/health")
        assert (health.status_code, health.json()["database"]) == (503, "unreachable")
    finally:
        os.rmdir(path)
        os.rename(path + ".gone", path)
    engine.dispose()
    # It recovers by itself.
    assert (await api.client.get(f"{BASE}/{chat['id']}", headers=headers)).status_code == 200


class _Intake(Body):
    text: str


class _Report(Body):
    summary: str
    intake_content: _Intake
    notes: dict[str, _Intake] = msgspec.field(default_factory=dict)
    parts: list[_Intake] = msgspec.field(default_factory=list)


def _report(value: Any) -> RequestBody:
    """A body decoded for a handler whose ``data`` is a `_Report`."""
    return RequestBody(value, msgspec.inspect.type_info(_Report))


_WHOLE = {"summary": "s", "intake_content": {"text": "t"}}


@pytest.mark.parametrize(
    ("item", "body", "field", "message"),
    [
        (
            {"message": "Object missing required field `summary`", "key": "data"},
            _report({"intake_content": {"text": "t"}}),
            "summary",
            "Object missing required field `summary`",
        ),
        (
            {
                "message": "Object missing required field `text`",
                "key": "intake_content",
                "source": "body",
            },
            _report({"summary": "s", "intake_content": {}}),
            "intake_content.text",
            "Object missing required field `text`",
        ),
        (
            {"message": "Object contains unknown field `colour`", "key": "data"},
            _report({**_WHOLE, "colour": "red"}),
            "colour",
            "Object contains unknown field `colour`",
        ),
        (
            {"message": "Expected `int`, got `str`", "key": "limit", "source": "query"},
            None,
            "limit",
            "Expected `int`, got `str`",
        ),
        (
            {"message": "Field `intake_content.text` must not contain NUL characters (\\u0000)"},
            RequestBody(
                {"session_type": "guided", "intake_content": {"text": "a\x00"}},
                msgspec.inspect.type_info(CreateSession),
            ),
            "intake_content.text",
            None,
        ),
        (
            {"message": "Expected `object`, got `array`", "key": "data"},
            _report([]),
            "body",
            None,
        ),
        ({"message": "'data'", "key": "data"}, None, "body", "a JSON body is required"),
        ({"message": "Expected `str`", "key": "idempotency_key"}, None, "Idempotency-Key", None),
    ],
)
def test_a_validation_item_names_the_request_field(
    item: dict[str, Any], body: RequestBody | None, field: str, message: str | None
) -> None:
    error = _field_error(item, body)

    assert error.field == field
    assert error.message == (message or item["message"])


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        # Deeper than the top: a dict's values (msgspec's "[...]") and a list's items.
        ("notes[...]", {**_WHOLE, "notes": {"a": {"text": "t"}, "b": {}}}, "text"),
        ("notes[...]", {**_WHOLE, "notes": {"a": {"text": "t", "size": 3}}}, "size"),
        ("parts[1]", {**_WHOLE, "parts": [{"text": "t"}, {"txt": "t"}]}, "txt"),
        ("parts[1]", {**_WHOLE, "parts": [{"text": "t"}, {"text": "t\x00"}]}, "text"),
        # An unknown field is found before a missing one (msgspec stops at the first).
        ("", {"intake_content": {"text": "t"}, "extra": 1}, "extra"),
        # Nothing to name: the error is about a value, not about the object.
        ("intake_content", _WHOLE, None),
        ("intake_content.text", {"summary": "s", "intake_content": {"text": 4}}, None),
        ("parts[5]", _WHOLE, None),
    ],
)
def test_the_field_is_named_from_the_object_the_error_points_at(
    path: str, value: Any, field: str | None
) -> None:
    assert _report(value).named_field(path) == field


async def test_a_missing_or_unknown_field_of_a_body_is_named(api: Api) -> None:
    chat = (await api.start_chat())["id"]

    missing = await _post(api, f"{BASE}/{chat}/resolve", {"root_cause": "dust"})
    unknown = await _post(api, f"{BASE}/{chat}/resolve", {"resolution_summary": "x", "why": 1})
    missing_tag = await _post(api, BASE, {"message": "hi"})

    assert problem(missing, 422)["errors"] == [
        {
            "field": "resolution_summary",
            "message": "Object missing required field `resolution_summary`",
            "source": "body",
        }
    ]
    assert problem(unknown, 422)["detail"] == "invalid or missing: why"
    assert problem(missing_tag, 422)["errors"][0]["field"] == "session_type"
