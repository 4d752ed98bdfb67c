"""Domain errors mapped once to pages: status code and the error's own words.

A partial (htmx) request gets the message alone, retargeted to the page's alert area; a
whole-page request gets the error page. Another account's session is a 404 page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from resolutionflow_app import http_status
from resolutionflow_core.errors import (
    DomainError,
    InvalidInput,
    SessionNotFound,
    category_of,
)
from resolutionflow_web.auth import CsrfRefused, SignInRequired, sign_in_url
from resolutionflow_web.templating import is_partial, page

NOT_FOUND = "There is no such page, or it is not yours to see."


STATUS_OF_CATEGORY: dict[type[DomainError] | None, int] = {
    **http_status.STATUS_OF_CATEGORY,
    InvalidInput: 400,  # a form to correct, not an API schema
    None: 409,
}
"""The page's status for each error category (`resolutionflow_core.errors`), decided once:
the API's (`resolutionflow_app.http_status`) but for invalid input."""


def status_of(error: DomainError) -> int:
    return STATUS_OF_CATEGORY[category_of(error)]


def domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    status = status_of(error)
    if isinstance(error, SessionNotFound):
        return _respond(request, status, "Not found", NOT_FOUND)
    titles = {
        400: "Check the form",
        403: "Not allowed",
        422: "Needs setting up",
        503: "Unavailable, try again shortly",
    }
    return _respond(request, status, titles.get(status, "That did not work"), error.message)


def _respond(
    request: Request[Any, Any, Any], status: int, title: str, detail: str
) -> Response[Any]:
    if is_partial(request):
        response = page("_alert.html", None, status_code=status, detail=detail)
        response.headers.update({"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"})
        return response
    return page("error.html", None, status_code=status, title=title, detail=detail)


def sign_in_required(request: Request[Any, Any, Any], _: SignInRequired) -> Response[Any]:
    target = sign_in_url(request.url.path)
    if request.headers.get("hx-request") == "true":
        return Response(content=b"", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def csrf_refused(request: Request[Any, Any, Any], _: CsrfRefused) -> Response[Any]:
    detail = "The form's security token is missing or stale. Reload the page and try again."
    return _respond(request, 403, "Refused", detail)


def http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if isinstance(error, NotFoundException):
        return _respond(request, 404, "Not found", NOT_FOUND)
    if isinstance(error, ValidationException):
        return _respond(request, 400, "Check the request", str(error.detail))
    return _respond(request, error.status_code, "That did not work", str(error.detail))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error,
    SignInRequired: sign_in_required,
    CsrfRefused: csrf_refused,
    HTTPException: http_error,
}
