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
from resolutionflow_app.psa import PROVIDERS
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
    ("TestConnection", "ticket_id"): 64,
}
"""Texts the domain requires non-blank, with their longest length (a longer one is 413)."""

_OPTIONAL_TEXTS: dict[tuple[str, str], int] = {
    ("Resolve", "root_cause"): MAX_SUMMARY_CHARS,
    ("Abandon", "reason"): MAX_SUMMARY_CHARS,
    ("TicketStatuses", "resolved"): 200,
    ("TicketStatuses", "escalated"): 200,
    ("CreateKey", "label"): 200,
}

CURSOR_PATTERN = "^[A-Za-z0-9_-]{1,512}$"
CURSOR_DESCRIPTION = (
    "`next_cursor` of the previous page, as the server returned it: opaque (URL-safe "
    "base64), valid only for the same filters; any other value is a 422 `invalid_cursor`."
)

_SESSION_OPERATIONS_FROM_CREATE = "session_id"

_MOMENT_PARAMETERS = ("created_from", "created_to")
MOMENT_FORMATS = ("date", "date-time")
"""What `created_from` and `created_to` are declared as (RFC 3339); the server also takes
ISO 8601 without an offset (UTC). A reversed range is an empty page, not an error."""

_LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOST_PATTERN = f"^({_LABEL}\\.)+[a-z]{{2,24}}$"
"""A DNS name (not an IP literal, not a single label): what a PSA host setting may be.
Whether the name is public is checked when it resolves, so the schema cannot say it."""
HTTPS_URL_PATTERN = f"^https://({_LABEL}\\.)+[a-z]{{2,24}}(/[A-Za-z0-9._~-]+)*/?$"
_PSA_SETTING_PATTERNS = {
    "site": HOST_PATTERN,
    "base_url": HTTPS_URL_PATTERN,
    "auth_url": HTTPS_URL_PATTERN,
    "codebase": "^/?[A-Za-z0-9_.-]{1,64}/?$",
    "company": "^[^:\\x00]*[^\\s:\\x00][^:\\x00]*$",
    "public_key": "^[^:\\x00]*[^\\s:\\x00][^:\\x00]*$",
    "note_type_detail": "^[1-9][0-9]{0,8}$",
    "note_type_internal": "^[1-9][0-9]{0,8}$",
    "note_type_resolution": "^[1-9][0-9]{0,8}$",
}
"""Settings whose form the adapters check when the connection is built (a host, an https
URL, a codebase name, no ':' in ConnectWise's company and public key, picklist numbers)."""
_PSA_TOGETHER = {"note_type_detail", "note_type_internal", "note_type_resolution"}
"""Autotask's note types: all three or none."""
_PSA_ONE_OF = {"connectwise": ("site", "base_url")}
"""ConnectWise needs its site or a fixed REST root."""


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
    _constrain(schemas, "CreateKey", "user_id", pattern=NO_NUL, min_length=1, max_length=128)
    _require_intake_texts(schemas.get("CreateGuidedSession"))
    _psa_connection_shapes(schemas.get("PutConnection"))
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                if parameter.get("name") == "cursor":
                    _describe_cursor(parameter)
                elif parameter.get("name") in _MOMENT_PARAMETERS:
                    _declare_moment(parameter)
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


INTAKE_TEXT_CHARS = 9_000
"""The intake's text as the document declares it: 9,000 characters of the worst kind (a
control character is 6 bytes as JSON) and the extra fields stay under the server's 64,000
bytes (`MAX_INTAKE_BYTES`; more is a 413). The server takes longer texts of plain letters."""
INTAKE_EXTRA_FIELDS = 8
INTAKE_EXTRA_CHARS = 64


def _require_intake_texts(guided: dict[str, Any] | None) -> None:
    """The intake's shape: a few short text fields besides its text (no NUL anywhere, as
    the domain refuses), and its required text: ``ticket_id`` for a PSA ticket, else
    ``text`` (the domain accepts any non-blank text field for screenshots and combined
    intakes; the schema asks for ``text``, which is always accepted)."""
    if guided is None:
        return

    def text(pattern: str) -> dict[str, Any]:
        return {
            "type": "string",
            "minLength": 1 if pattern == NOT_BLANK else 0,
            "maxLength": INTAKE_TEXT_CHARS,
            "pattern": pattern,
        }

    def needing(field: str) -> dict[str, Any]:
        return {
            "properties": {
                "intake_content": {"required": [field], "properties": {field: text(NOT_BLANK)}},
            }
        }

    content = guided.get("properties", {}).get("intake_content")
    if content is not None:
        content["properties"] = {"text": text(NO_NUL), "ticket_id": text(NO_NUL)}
        content["maxProperties"] = INTAKE_EXTRA_FIELDS
        content["propertyNames"] = {"maxLength": INTAKE_EXTRA_CHARS, "pattern": NO_NUL}
        content["additionalProperties"] = {
            "type": "string",
            "maxLength": INTAKE_EXTRA_CHARS,
            "pattern": NO_NUL,
        }
    guided["if"] = {
        "properties": {"intake_type": {"const": "psa_ticket"}},
        "required": ["intake_type"],
    }
    guided["then"] = needing("ticket_id")
    guided["else"] = needing("text")


def _psa_connection_shapes(put: dict[str, Any] | None) -> None:
    """``provider`` is one of the registry's, and each provider's settings and credentials
    are the ones its connection model declares (required ones non-blank, nothing else)."""
    if put is None:
        return
    put.setdefault("properties", {})["provider"] = {"type": "string", "enum": sorted(PROVIDERS)}
    statuses = put["properties"].get("settings", {}).get("additionalProperties", {})
    statuses = next((v for v in statuses.get("oneOf", []) if "$ref" in v), {"type": "object"})
    shapes = []
    for name in sorted(PROVIDERS):
        spec = PROVIDERS[name]
        settings: dict[str, Any] = {
            "type": "object",
            "properties": {
                **{field: _psa_text(field) for field in (*spec.required, *spec.optional)},
                "statuses": statuses,
            },
            "required": list(spec.required),
            "additionalProperties": False,
        }
        together = sorted(_PSA_TOGETHER & set(spec.optional))
        if together:
            settings["dependentRequired"] = {
                field: [other for other in together if other != field] for field in together
            }
        if name in _PSA_ONE_OF:
            settings["anyOf"] = [{"required": [field]} for field in _PSA_ONE_OF[name]]
        shapes.append(
            {
                "properties": {
                    "provider": {"const": name},
                    "settings": settings,
                    "credentials": {
                        "type": "object",
                        "properties": {field: _psa_text(field) for field in spec.secret},
                        "required": list(spec.secret),
                        "additionalProperties": False,
                    },
                }
            }
        )
    put["oneOf"] = shapes


def _psa_text(field: str) -> dict[str, Any]:
    """A PSA setting or credential as the adapters take it (non-blank, or its own form)."""
    pattern = _PSA_SETTING_PATTERNS.get(field, NOT_BLANK)
    return {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": pattern}


def _declare_moment(parameter: dict[str, Any]) -> None:
    """A date or an RFC 3339 date-time (what the server parses), or nothing."""
    schema = parameter.get("schema", {})
    schema["oneOf"] = [{"type": "string", "format": form} for form in MOMENT_FORMATS] + [
        {"type": "null"}
    ]


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
