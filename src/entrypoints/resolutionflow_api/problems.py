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
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.response import Response

from resolutionflow_core.errors import (
    ContentTooLarge,
    DomainError,
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

_CONFLICTS: dict[type[DomainError], str] = {
    InvalidTransition: "Invalid transition",
    WrongSessionType: "Wrong session type",
    NoPendingStep: "No pending step",
    StepAlreadyPending: "Step already pending",
    NothingToAnswer: "Nothing to answer",
    StaleSession: "Session changed meanwhile",
}


def problem_for(error: DomainError) -> Problem:
    """The HTTP face of a domain error."""
    if isinstance(error, ContentTooLarge):
        return Problem(
            413,
            error.code,
            "Content too large",
            error.message,
            errors=[FieldError(field=error.field, message=error.reason)],
        )
    if isinstance(error, InvalidInput):
        return Problem(
            422,
            error.code,
            "Invalid input",
            error.message,
            errors=[FieldError(field=error.field, message=error.reason)],
        )
    if isinstance(error, SessionNotFound):
        return Problem(404, error.code, "Session not found", error.message)
    if isinstance(error, KeyNotFound):
        return Problem(404, error.code, "Key not found", error.message)
    if isinstance(error, PermissionDenied):
        return Problem(403, error.code, "Not allowed", error.message, action=error.operation)
    if isinstance(error, InvalidTransition):
        return Problem(
            409,
            error.code,
            _CONFLICTS[InvalidTransition],
            error.message,
            status_of_session=str(error.status),
            action=str(error.action),
        )
    for kind, title in _CONFLICTS.items():
        if isinstance(error, kind):
            return Problem(409, error.code, title, error.message)
    if isinstance(error, StorageUnavailable):
        return database_problem(error)
    if isinstance(error, LLMUnavailable):
        wait = max(1, math.ceil(error.retry_after or DEFAULT_RETRY_AFTER))
        return Problem(
            503,
            error.code,
            "Assistant unavailable",
            _saved(error),
            headers={"Retry-After": str(wait)},
            session_id=_session(error),
            retry_after=wait,
        )
    if isinstance(error, LLMResponseInvalid | LLMError):
        return Problem(
            502, error.code, "Assistant answer unusable", _saved(error), session_id=_session(error)
        )
    if isinstance(error, TicketNotFound):
        return Problem(
            422,
            error.code,
            "Ticket not found",
            error.message,
            errors=[FieldError(field="ticket_id", message=error.message, source="body")],
        )
    if isinstance(error, PSANotConfigured):
        return Problem(409, error.code, "No PSA connection", error.message)
    if isinstance(error, PSAError):
        return _psa_problem(error)
    return Problem(400, error.code, "Request refused", error.message)


_PSA_PROBLEMS: dict[str, tuple[int, str]] = {
    # The connection is configured wrong: someone has to change it (4xx, not retried).
    "psa_credentials_locked": (409, "PSA credentials locked"),
    "psa_configuration_error": (422, "PSA connection misconfigured"),
    "psa_host_refused": (422, "PSA host refused"),
    "psa_authentication_failed": (422, "PSA refused the credentials"),
    # The PSA cannot answer now: try again later (503, Retry-After when it said).
    "psa_unavailable": (503, "PSA unavailable"),
    "psa_rate_limited": (503, "PSA rate limited"),
}
"""PSA errors by their ``code`` (the adapters' types stay out of the API); any other PSA
error (a request the PSA refused, an answer it made unreadable, an ignored status change) is
502."""


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


def _psa_problem(error: PSAError) -> Problem:
    status, title = _PSA_PROBLEMS.get(error.code, (502, "PSA failed"))
    pause = getattr(error, "retry_after", None)
    wait = max(1, math.ceil(pause)) if _seconds(pause) else None
    headers = None if wait is None else {"Retry-After": str(wait)}
    return Problem(status, error.code, title, error.message, headers=headers, retry_after=wait)


def _seconds(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _session(error: LLMError) -> str | None:
    return None if error.session_id is None else str(error.session_id)


def _saved(error: LLMError) -> str:
    if error.session_id is None:
        return error.message
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


_BACKTICKED = re.compile(r"`([^`]+)`")
_PARAMETER_NAMES = {"idempotency_key": "Idempotency-Key"}
"""Handler parameters whose name on the wire differs (Litestar reports the Python name)."""


def _field_error(item: Mapping[str, Any]) -> FieldError:
    """Litestar's validation message, naming the field where msgspec names it in the text."""
    message = str(item.get("message", "invalid"))
    field = str(item.get("key") or "body")
    source = item.get("source")
    named = _BACKTICKED.search(message)
    if field == "data" and named and "field" in message.lower():
        field = named.group(1)  # "Object missing required field `summary`"
    elif field == "data" and message == "'data'":
        field, message = "body", "a JSON body is required"
    elif field == "data":
        field = "body"
    field = _PARAMETER_NAMES.get(field, field)
    source = getattr(source, "value", source)  # Litestar's ParamType enum
    return FieldError(field=field, message=message, source=str(source) if source else None)


def _validation_problem(error: ValidationException) -> Problem:
    items = error.extra if isinstance(error.extra, list) else []
    errors = [_field_error(item) for item in items if isinstance(item, Mapping)]
    names = ", ".join(e.field for e in errors) or "the request"
    return Problem(
        422,
        "validation_error",
        "Invalid input",
        f"invalid or missing: {names}",
        errors=errors or None,
    )


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
    409: "Refused by the session's lifecycle or state, or the request is still in progress",
    413: "The body or a message is too large",
    422: "Invalid input; `errors` names the offending fields",
    502: "The assistant (or the PSA) answered with something unusable",
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
