"""The OpenAPI document states what the server enforces, beyond what Litestar derives.

Litestar describes the request bodies' shapes; it does not say that unknown fields are
refused, that the domain refuses blank texts and texts over its limits, nor what a list
cursor looks like. Those rules live in the domain and in `resolutionflow_api.requests`; this
module writes them into the generated document once, when the app is built, so a client (or
a schema-driven tester) never sends a request the schema calls valid and the server refuses.

It also adds the document's links: a session created by ``createSession`` is the
``session_id`` of every operation on one session (for clients and stateful testing).
"""

from __future__ import annotations

from typing import Any

from resolutionflow_api import requests
from resolutionflow_core.chat import MAX_MESSAGE_CHARS
from resolutionflow_core.session import MAX_SUMMARY_CHARS

NOT_BLANK = "^[^\\x00]*[^\\s\\x00\\x1c-\\x1f\\x85][^\\x00]*$"
"""At least one character that is not blank, and no NUL (what the domain refuses)."""
NO_NUL = "^[^\\x00]*$"

_REQUIRED_TEXTS: dict[tuple[str, str], int] = {
    ("CreateChatSession", "message"): MAX_MESSAGE_CHARS,
    ("ChatMessage", "content"): MAX_MESSAGE_CHARS,
    ("StepResponse", "response"): MAX_MESSAGE_CHARS,
    ("LegacyCreateChat", "message"): MAX_MESSAGE_CHARS,
    ("LegacySendMessage", "content"): MAX_MESSAGE_CHARS,
    ("Resolve", "resolution_summary"): MAX_SUMMARY_CHARS,
    ("Escalate", "escalation_reason"): MAX_SUMMARY_CHARS,
    ("LinkTicket", "ticket_id"): 100,
}
"""Texts the domain requires non-blank, with their longest length (a longer one is 413)."""

_OPTIONAL_TEXTS: dict[tuple[str, str], int] = {
    ("Resolve", "root_cause"): MAX_SUMMARY_CHARS,
    ("Abandon", "reason"): MAX_SUMMARY_CHARS,
}

CURSOR_PATTERN = "^[A-Za-z0-9_-]{1,512}$"
CURSOR_DESCRIPTION = (
    "`next_cursor` of the previous page, as the server returned it: opaque (URL-safe "
    "base64), valid only for the same filters; any other value is a 422 `invalid_cursor`."
)

_SESSION_OPERATIONS_FROM_CREATE = "session_id"


def refine(document: dict[str, Any]) -> None:
    """Write the server's own rules into the generated OpenAPI ``document`` (in place)."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    for name in _closed_bodies():
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    for (name, field), longest in _REQUIRED_TEXTS.items():
        _constrain(schemas, name, field, pattern=NOT_BLANK, min_length=1, max_length=longest)
    for (name, field), longest in _OPTIONAL_TEXTS.items():
        _constrain(schemas, name, field, pattern=NO_NUL, min_length=0, max_length=longest)
    _require_intake_texts(schemas.get("CreateGuidedSession"))
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "cursor" and parameter.get("in") == "query":
                    _describe_cursor(parameter)
    _link_created_sessions(document)


def _closed_bodies() -> list[str]:
    """The request bodies that refuse unknown fields: every subclass of ``Body``, wherever
    it is declared (the controllers declare some)."""
    found, todo = [], list(requests.Body.__subclasses__())
    while todo:
        kind = todo.pop()
        todo.extend(kind.__subclasses__())
        if kind.__struct_config__.forbid_unknown_fields:
            found.append(kind.__name__)
    return found


def _constrain(
    schemas: dict[str, Any],
    name: str,
    field: str,
    *,
    pattern: str,
    min_length: int,
    max_length: int,
) -> None:
    prop = schemas.get(name, {}).get("properties", {}).get(field)
    if prop is None:
        return
    for variant in [prop, *prop.get("oneOf", [])]:  # an optional text is string-or-null
        if variant.get("type") == "string":
            variant["pattern"] = pattern
            variant["maxLength"] = max_length
            if min_length:
                variant["minLength"] = min_length


def _require_intake_texts(guided: dict[str, Any] | None) -> None:
    """The intake's required text: ``ticket_id`` for a PSA ticket, else ``text`` (the domain
    accepts any non-blank text field for screenshots and combined intakes; the schema asks
    for ``text``, which is always accepted)."""
    if guided is None:
        return

    def needing(field: str) -> dict[str, Any]:
        text = {"type": "string", "minLength": 1, "maxLength": 16_000, "pattern": NOT_BLANK}
        return {
            "properties": {
                "intake_content": {"required": [field], "properties": {field: text}},
            }
        }

    guided["if"] = {
        "properties": {"intake_type": {"const": "psa_ticket"}},
        "required": ["intake_type"],
    }
    guided["then"] = needing("ticket_id")
    guided["else"] = needing("text")


def _describe_cursor(parameter: dict[str, Any]) -> None:
    parameter["description"] = CURSOR_DESCRIPTION
    schema = parameter.get("schema", {})
    schema.pop("maxLength", None)
    schema["description"] = CURSOR_DESCRIPTION
    for variant in schema.get("oneOf", []):
        if variant.get("type") == "string":
            variant["pattern"] = CURSOR_PATTERN


def _link_created_sessions(document: dict[str, Any]) -> None:
    """``createSession`` → every operation on ``/ai-sessions/{session_id}…`` (its ``id``)."""
    paths = document.get("paths", {})
    create = paths.get("/api/v1/ai-sessions", {}).get("post")
    if create is None or "201" not in create.get("responses", {}):
        return
    links = {}
    for path, path_item in paths.items():
        if "{session_id}" not in path:
            continue
        for operation in path_item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {"session_id": "$response.body#/id"},
                }
    create["responses"]["201"]["links"] = links
