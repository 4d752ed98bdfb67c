"""Errors as RFC 9457 problem details, mapped once for the whole app.

Every error response, whatever raised it (a domain error, Litestar's validation, an unknown
route, a bug), is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail``, ``instance`` and a machine-readable ``code``, plus extras where they help:
``errors`` (the offending fields) for 413/422, ``session_id`` and ``retry_after`` when the LLM
failed after the engineer's input was saved.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
from litestar import Request
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.response import Response
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from resolutionflow_api.requests import nul_paths
from resolutionflow_app import http_status
from resolutionflow_core.errors import (
    Conflict,
    ContentTooLarge,
    DomainError,
    InvalidInput,
    InvalidTransition,
    LLMError,
    Misconfigured,
    NoPendingStep,
    NotAllowed,
    NotFound,
    NothingToAnswer,
    NotSetUp,
    PermissionDenied,
    ProviderRejected,
    PSAError,
    PSANotConfigured,
    SessionNotFound,
    StaleSession,
    StepAlreadyPending,
    StorageUnavailable,
    TicketNotFound,
    Unavailable,
    UnusableAnswer,
    WrongSessionType,
    category_of,
)
from resolutionflow_core.keys import KeyNotFound

logger = logging.getLogger("resolutionflow_api")

MEDIA_TYPE = "application/problem+json"
DEFAULT_RETRY_AFTER = 5
"""Seconds a client is told to wait when the LLM did not say how long."""


class FieldError(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One offending input."""

    field: str
    """The request field (``intake_content.text``), query parameter or header."""
    message: str
    source: str | None = None
    """``body``, ``query``, ``path`` or ``header``, when known."""


class ProblemDetails(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str
    """A URI naming the kind of problem: ``urn:resolutionflow:problem:<code>``."""
    title: str
    """A short summary of the kind of problem, the same for every occurrence."""
    status: int
    """The HTTP status code."""
    detail: str
    """What went wrong this time, for a human."""
    instance: str = ""
    """The request path."""
    code: str
    """The kind of problem, for programs (``invalid_transition``, ``validation_error``...)."""
    errors: list[FieldError] | None = None
    """The offending fields (422, 413)."""
    session_id: str | None = None
    """The session the engineer's input was saved in (502, 503), or the session concerned."""
    retry_after: int | None = None
    """Seconds to wait before retrying (503; also in the ``Retry-After`` header)."""
    status_of_session: str | None = None
    """The session's status when a lifecycle action was refused (409)."""
    action: str | None = None
    """The refused action (409) or operation (403)."""


class Problem(ProblemDetailsException):
    """A problem details exception that knows its code and fills ``instance`` in."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(
            detail=detail,
            status_code=status,
            headers=headers,
            type_=f"urn:resolutionflow:problem:{code}",
            title=title,
        )
        self.code = code
        self.fields = {name: value for name, value in extra.items() if value is not None}

    def details(self, instance: str) -> ProblemDetails:
        return ProblemDetails(
            type=self.type_ or "about:blank",
            title=self.title or "",
            status=self.status_code,
            detail=self.detail,
            instance=instance,
            code=self.code,
            **self.fields,
        )

    def body(self, instance: str) -> dict[str, Any]:
        """The JSON body, as sent (also what an idempotency key stores)."""
        body: dict[str, Any] = msgspec.to_builtins(self.details(instance))
        return body

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        return Response(
            self.body(request.url.path),
            headers=self.headers,
            media_type=MEDIA_TYPE,
            status_code=self.status_code,
        )


# -- domain errors --------------------------------------------------------------------------

STATUS_OF_CATEGORY: dict[type[DomainError] | None, int] = {
    **http_status.STATUS_OF_CATEGORY,
    None: 400,
}
"""The HTTP status of each error category (`resolutionflow_core.errors`), as the web pages
answer too (`resolutionflow_app.http_status`), and of an error outside them. Two refinements,
by what the error carries: a `ContentTooLarge` is 413, and a `NotFound` naming a field of the
request's body (a ticket to link) is 422 with that field."""

_TITLES: dict[type[DomainError] | None, str] = {
    InvalidInput: "Invalid input",
    NotFound: "Not found",
    NotAllowed: "Not allowed",
    Conflict: "Conflict",
    NotSetUp: "Not set up",
    Misconfigured: "Misconfigured",
    ProviderRejected: "Request rejected",
    UnusableAnswer: "Answer unusable",
    Unavailable: "Unavailable",
    None: "Request refused",
}
_FAMILY_TITLES: dict[type[DomainError], str] = {LLMError: "Assistant", PSAError: "PSA"}
_OWN_TITLES: dict[type[DomainError], str] = {
    ContentTooLarge: "Content too large",
    SessionNotFound: "Session not found",
    KeyNotFound: "Key not found",
    TicketNotFound: "Ticket not found",
    InvalidTransition: "Invalid transition",
    WrongSessionType: "Wrong session type",
    NoPendingStep: "No pending step",
    StepAlreadyPending: "Step already pending",
    NothingToAnswer: "Nothing to answer",
    StaleSession: "Session changed meanwhile",
    PSANotConfigured: "No PSA connection",
}
"""A title is the same for every occurrence of a kind of problem: a particular error's own,
else its category's, said of the assistant or the PSA for their errors ("PSA unavailable")."""


def _title(error: DomainError) -> str:
    for kind in type(error).__mro__:
        if kind in _OWN_TITLES:
            return _OWN_TITLES[kind]
    title = _TITLES[category_of(error)]
    family = next((name for kind, name in _FAMILY_TITLES.items() if isinstance(error, kind)), None)
    return title if family is None else f"{family} {title.lower()}"


def problem_for(error: DomainError) -> Problem:
    """The HTTP face of a domain error: the status by its category, the extras by what it
    carries (the fields, the refused action, the wait, where the input is saved)."""
    if isinstance(error, StorageUnavailable):
        return database_problem(error)
    category = category_of(error)
    status = STATUS_OF_CATEGORY[category]
    extra: dict[str, Any] = {}
    headers: dict[str, str] | None = None
    if isinstance(error, InvalidInput):
        status = 413 if isinstance(error, ContentTooLarge) else status
        extra["errors"] = [FieldError(field=error.field, message=error.reason)]
    if isinstance(error, NotFound) and error.field is not None:
        status = 422
        extra["errors"] = [FieldError(field=error.field, message=error.message, source="body")]
    if isinstance(error, PermissionDenied):
        extra["action"] = error.operation
    if isinstance(error, InvalidTransition):
        extra["status_of_session"] = str(error.status)
        extra["action"] = str(error.action)
    if status == 503 and isinstance(error, Unavailable):
        wait = max(1, math.ceil(error.retry_after or DEFAULT_RETRY_AFTER))
        headers = {"Retry-After": str(wait)}
        extra["retry_after"] = wait
    detail = error.message
    if isinstance(error, LLMError) and error.session_id is not None:
        extra["session_id"] = str(error.session_id)
        detail = _saved(error, category)
    return Problem(status, error.code, _title(error), detail, headers=headers, **extra)


def database_problem(error: StorageUnavailable, session_id: str | None = None) -> Problem:
    """503 ``database_unavailable``: down, frozen or busy past the deadline; retry later."""
    wait = max(1, math.ceil(error.retry_after))
    detail = error.message
    if session_id is not None:
        detail += (
            f"; what you sent is saved in session {session_id}: retry with the same "
            "Idempotency-Key to complete it"
        )
    return Problem(
        503,
        error.code,
        "Database busy" if error.busy else "Database unavailable",
        detail,
        headers={"Retry-After": str(wait)},
        session_id=session_id,
        retry_after=wait,
    )


def _saved(error: LLMError, category: type[DomainError] | None) -> str:
    if category is ProviderRejected:
        return (
            f"{error.message}. Nothing you sent is lost: once an operator has fixed the "
            "cause, retry with the same Idempotency-Key, or ask for the reply again."
        )
    return (
        f"{error.message}. Nothing you sent is lost: retry with the same Idempotency-Key, "
        "or ask for the reply again."
    )


def with_field(error: InvalidInput, field: str) -> InvalidInput:
    """The same refusal, naming the request's field rather than the domain's."""
    if isinstance(error, ContentTooLarge):
        return ContentTooLarge(field, error.length, error.limit)
    return InvalidInput(field, error.reason)


# -- errors raised by Litestar or by the API itself -----------------------------------------


class IdempotencyKeyReused(Problem):
    def __init__(self) -> None:
        super().__init__(
            422,
            "idempotency_key_reused",
            "Idempotency key reused",
            "this Idempotency-Key was already used for a different request",
            errors=[
                FieldError(
                    field="Idempotency-Key",
                    message="already used for a different request",
                    source="header",
                )
            ],
        )


class IdempotencyKeyInUse(Problem):
    def __init__(self, lease_seconds: float | None = None) -> None:
        detail = "a request with this Idempotency-Key is still being processed; retry shortly"
        if lease_seconds:
            detail += (
                f" with the same key (if that request died, its claim is taken over after "
                f"{lease_seconds:g} s)"
            )
        super().__init__(
            409,
            "idempotency_key_in_use",
            "Request in progress",
            detail,
            headers={"Retry-After": "1"},
        )


_PARAMETER_NAMES = {"idempotency_key": "Idempotency-Key"}
"""Handler parameters whose name on the wire differs (Litestar reports the Python name)."""


def _field_error(item: Mapping[str, Any], body: RequestBody | None = None) -> FieldError:
    """One item of Litestar's `ValidationException.extra` (``key``, ``message``,
    ``source``) as the field it concerns, in the request's own names. An item about the
    body's object as a whole (a missing or unknown field, a NUL in a text) names the
    field from the ``body`` itself (`RequestBody.named_field`)."""
    message = str(item.get("message", "invalid"))
    key = str(item.get("key") or "data")
    source = item.get("source")
    if key == "data" and message == "'data'":
        return FieldError(field="body", message="a JSON body is required", source="body")
    if body is not None and (key == "data" or source == "body"):
        named = body.named_field("" if key == "data" else key)
        if named is not None:  # "Object missing required field `summary`" at `$` or `$.key`
            key = named if key == "data" else f"{key}.{named}"
    field = "body" if key == "data" else _PARAMETER_NAMES.get(key, key)
    source = getattr(source, "value", source)  # Litestar's ParamType enum
    return FieldError(field=field, message=message, source=str(source) if source else None)


@dataclass(frozen=True, slots=True)
class RequestBody:
    """A request's JSON body as decoded, and the type its handler decodes it as.

    msgspec's ``ValidationError`` says which field is missing or unknown only in its text
    (no attribute, as of msgspec 0.22); its path (Litestar's ``key``) is the object that
    lacks it. So the field is found where the error points: the object there, compared
    with the struct it must be."""

    value: Any
    type: mi.Type

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> RequestBody | None:
        """The body of ``request`` as its handler's ``data`` parameter received it, if it
        has one and it was decoded."""
        handler = request.scope.get("route_handler")
        signature = getattr(handler, "parsed_fn_signature", None)
        data = signature.parameters.get("data") if signature is not None else None
        decoded = ScopeState.from_scope(request.scope).json
        if data is None or decoded is Empty:
            return None
        try:
            return cls(decoded, mi.type_info(data.annotation))
        except TypeError:  # a type msgspec does not describe: no struct to compare with
            return None

    def named_field(self, path: str) -> str | None:
        """The field an error about the object at ``path`` (``a.b``, ``a[0]``, msgspec's
        ``a[...]`` for a dict's values) concerns, as msgspec finds it: the first field the
        struct does not know, else the first required one absent, else the first text
        holding NUL (`requests.refuse_nul`); ``None`` when the object has none."""
        for value, kind in _at(self.value, self.type, _STEP.findall(path)):
            struct = _struct_of(kind, value)
            if struct is None:
                continue
            tag = struct.tag_field
            if tag is not None and tag not in value and _members(kind) is not None:
                return tag  # which of the union's structs it is: not said
            known = {f.encode_name: f for f in struct.fields}
            if struct.forbid_unknown_fields:
                unknown = [k for k in value if k not in known and k != struct.tag_field]
                if unknown:
                    return str(unknown[0])
            for name, field in known.items():
                if field.required and name not in value:
                    return name
            for name in known:
                found = next(nul_paths(name, value[name]), None) if name in value else None
                if found is not None:
                    return found
        return None


_STEP = re.compile(r"[^.\[\]]+|\[[^\]]*\]")
"""The steps of a path: names, ``[0]`` indexes and msgspec's ``[...]`` (any dict value)."""


def _at(value: Any, kind: mi.Type, steps: list[str]) -> Iterator[tuple[Any, mi.Type]]:
    """The values at ``steps`` below ``value`` (several where a step is ``[...]``), each
    with the type it is decoded as."""
    if not steps:
        yield value, kind
        return
    kind = _unwrapped(kind, value)
    step, rest = steps[0], steps[1:]
    if isinstance(value, dict) and isinstance(kind, mi.DictType):
        items = value.values() if step == "[...]" else [value[step]] if step in value else []
        for item in items:
            yield from _at(item, kind.value_type, rest)
    elif isinstance(value, dict) and (struct := _struct_of(kind, value)) is not None:
        field = next((f for f in struct.fields if f.encode_name == step), None)
        if field is not None and step in value:
            yield from _at(value[step], field.type, rest)
    elif isinstance(value, list) and isinstance(kind, mi.ListType) and step[1:-1].isdigit():
        index = int(step[1:-1])
        if index < len(value):
            yield from _at(value[index], kind.item_type, rest)


def _bare(kind: mi.Type) -> mi.Type:
    """``kind`` without its metadata (constraints, descriptions)."""
    while isinstance(kind, mi.Metadata):
        kind = kind.type
    return kind


def _members(kind: mi.Type) -> tuple[mi.Type, ...] | None:
    """The types of a union (``None``: not a union), metadata set aside."""
    kind = _bare(kind)
    return kind.types if isinstance(kind, mi.UnionType) else None


def _unwrapped(kind: mi.Type, value: Any) -> mi.Type:
    """``kind`` without its metadata, and of a union the member a JSON ``value`` of its
    kind decodes as (a struct or a dict for an object, a list for an array)."""
    kind = _bare(kind)
    if isinstance(kind, mi.UnionType):
        wanted = (mi.StructType, mi.DictType) if isinstance(value, dict) else (mi.ListType,)
        members = [_unwrapped(t, value) for t in kind.types]
        matching = [t for t in members if isinstance(t, wanted)]
        if isinstance(value, dict):
            tagged = [t for t in matching if isinstance(t, mi.StructType) and t.tag_field]
            if tagged:  # a tagged union: the struct its tag names, else the first
                tag = value.get(tagged[0].tag_field)
                return next((t for t in tagged if t.tag == tag), tagged[0])
        return matching[0] if matching else kind
    return kind


def _struct_of(kind: mi.Type, value: Any) -> mi.StructType | None:
    kind = _unwrapped(kind, value)
    return kind if isinstance(value, dict) and isinstance(kind, mi.StructType) else None


def _validation_problem(error: ValidationException) -> Problem:
    items = error.extra if isinstance(error.extra, list) else []
    return _InvalidRequest([item for item in items if isinstance(item, Mapping)])


class _InvalidRequest(Problem):
    """422 ``validation_error``; its fields are named when the response is made, with the
    request (and so its body) at hand."""

    def __init__(self, items: list[Mapping[str, Any]], body: RequestBody | None = None) -> None:
        self.items = items
        errors = [_field_error(item, body) for item in items]
        names = ", ".join(e.field for e in errors) or "the request"
        super().__init__(
            422,
            "validation_error",
            "Invalid input",
            f"invalid or missing: {names}",
            errors=errors or None,
        )

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        return Problem.to_response(_InvalidRequest(self.items, RequestBody.of(request)), request)


_HTTP_CODES = {
    400: ("bad_request", "Malformed request"),
    401: ("unauthorized", "Not authenticated"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("request_too_large", "Request too large"),
}


def _http_problem(error: HTTPException) -> Problem:
    if isinstance(error, Problem):
        return error
    code, title = _HTTP_CODES.get(error.status_code, ("http_error", "Request failed"))
    detail = error.detail
    if error.status_code == 413:
        detail = "the request body is larger than this server accepts"
    return Problem(error.status_code, code, title, detail, headers=error.headers)


def _encoding_problem(_error: UnicodeDecodeError) -> Problem:
    # A body that is not UTF-8 (stray bytes, encoded surrogates, code points past U+10FFFF,
    # overlong forms) is the client's mistake, whichever decoder noticed it.
    return Problem(
        400, "bad_request", "Malformed request", "the request body is not valid UTF-8 JSON"
    )


class RequestTimeout(Problem):
    def __init__(self, seconds: float) -> None:
        within = f" within {seconds:g} s" if seconds else " in time"
        super().__init__(
            503,
            "request_timeout",
            "Request timed out",
            f"the request did not complete{within}; try again later (with the "
            "same Idempotency-Key, nothing is done twice)",
            headers={"Retry-After": str(DEFAULT_RETRY_AFTER)},
            retry_after=DEFAULT_RETRY_AFTER,
        )


def _nesting_problem(_error: RecursionError) -> Problem:
    # msgspec refuses JSON nested deeper than it can decode: the request's fault, not ours.
    return Problem(400, "bad_request", "Malformed request", "the JSON is nested too deeply")


def interrupted_turn(error: BaseException, session_id: str) -> Problem:
    """The problem for a request that failed after the engineer's input was stored (not by
    the LLM): what failed, plus where the input is, so a retry completes the turn."""
    if isinstance(error, StorageUnavailable):
        return database_problem(error, session_id)
    if isinstance(error, DomainError):
        problem = problem_for(error)
        problem.fields["session_id"] = session_id
        return problem
    if isinstance(error, TimeoutError):
        timeout = RequestTimeout(0)
        timeout.fields["session_id"] = session_id
        return timeout
    logger.error("unhandled error after the input was stored", exc_info=error)
    return Problem(
        500,
        "internal_error",
        "Internal error",
        f"the server failed; it was logged. What you sent is saved in session {session_id}: "
        "retry with the same Idempotency-Key to complete it",
        session_id=session_id,
    )


def _internal_problem(error: Exception) -> Problem:
    logger.error("unhandled error", exc_info=error)
    return Problem(500, "internal_error", "Internal error", "the server failed; it was logged")


def problem_details_plugin() -> ProblemDetailsPlugin:
    """Litestar's problem details plugin, with every error the app can meet mapped once."""
    mapping: dict[type[Exception], Callable[[Any], ProblemDetailsException]] = {
        DomainError: problem_for,
        ValidationException: _validation_problem,
        HTTPException: _http_problem,
        RecursionError: _nesting_problem,
        UnicodeDecodeError: _encoding_problem,
        Exception: _internal_problem,
    }
    return ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=mapping))


# -- OpenAPI --------------------------------------------------------------------------------

_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not JSON)",
    401: "Missing or unknown API key (`WWW-Authenticate: Bearer`)",
    403: "The key's role may not do this (viewers only read)",
    404: "No such session (or key, or PSA connection) in the key's account",
    409: "Refused by the session's lifecycle or state, the request is still in progress, or "
    "what it needs is not set up (no PSA connection, PSA credentials that cannot be opened, "
    "no search)",
    413: "The body or a message is too large",
    422: "Invalid input (`errors` names the offending fields), or a configuration an operator "
    "must change (PSA settings, host or credentials that cannot work)",
    502: "The assistant (or the PSA) refused the request itself, or answered with something "
    "unusable",
    503: "The assistant (what you sent is saved, `session_id`), the database "
    "(`database_unavailable`), or the PSA is unavailable, or the request ran out of time "
    "(`request_timeout`); see `Retry-After`",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for these error statuses (plus 400, 401 and 503, which every route
    has: a malformed request, a missing key, a database or deadline problem)."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            description=_DESCRIPTIONS[status],
            media_type=MEDIA_TYPE,
            generate_examples=False,
        )
        for status in sorted({400, 401, 503, *statuses})
    }


__all__ = [
    "MEDIA_TYPE",
    "FieldError",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "Problem",
    "ProblemDetails",
    "RequestTimeout",
    "database_problem",
    "interrupted_turn",
    "problem_details_plugin",
    "problem_for",
    "problems",
    "with_field",
]
