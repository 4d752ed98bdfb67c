"""How the SDK's failures become the port's typed errors, and the limit on retry-after waits.

- 429 rate limit, 529 overloaded, 408, 409, 5xx, connection errors and timeouts (after the
  SDK's retries): `LLMUnavailable`, with ``retry_after`` from the last answer's header.
- A ``retry-after`` longer than ``max_retry_wait``: `LLMUnavailable` at once, not waited for.
- An ``error`` event inside a stream (HTTP 200 already sent): by its type, as its status
  (``overloaded_error`` → 529 → `LLMUnavailable`). A stream cut off, or ended without
  ``message_stop``: `LLMUnavailable`.
- 400, 401, 402, 403, 404, 413, 422 (never retried): `LLMRequestRejected`.
- An answer the SDK cannot read: `LLMResponseInvalid`.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

import anthropic
import httpx2

from resolutionflow_core.errors import LLMError, LLMRejected, LLMResponseInvalid, LLMUnavailable


class LLMRequestRejected(LLMRejected):
    """Anthropic refused the request itself (key, permission, model, size): retrying the same
    request cannot help until an operator changes the settings or the input changes."""

    code = "llm_request_rejected"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        session_id: UUID | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id)
        self.status_code = status_code
        self.error_type = error_type


class RetryWaitTooLong(Exception):
    """The API asked to wait longer than the adapter's limit before retrying."""

    def __init__(self, status_code: int, retry_after: float, error_type: str | None) -> None:
        super().__init__(f"HTTP {status_code}: retry after {retry_after:g} s")
        self.status_code = status_code
        self.retry_after = retry_after
        self.error_type = error_type


class StreamInterrupted(Exception):
    """A stream ended before ``message_stop``."""


# The statuses of the API's error types, for error events inside a stream (sent with 200).
_STATUS_OF_TYPE: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_WHAT_FAILED: Final = {
    401: "Anthropic refused the API key; check ANTHROPIC_API_KEY",
    402: "the Anthropic account cannot be billed; check its plan and credit",
    403: "the API key may not use this model or feature",
    404: "Anthropic does not know this model; check RESOLUTIONFLOW_ANTHROPIC_MODEL",
    413: "the conversation is too large for one request",
    429: "Anthropic's rate limit is reached",
    529: "Claude is overloaded",
}


def is_retryable_status(status: int) -> bool:
    """The SDK's retry policy: request timeout, conflict, rate limit and server errors."""
    return status in (408, 409, 429) or status >= 500


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``retry-after`` (seconds or an
    HTTP date); None if it asks for none."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class RetryWaitLimit(anthropic.Middleware):
    """Fails at once, rather than sleeping, when the API asks to wait more than ``max_wait``.

    An engineer waits for every answer: a long silent wait (the SDK honours any
    ``retry-after``) is worse than "unavailable, your message is saved, try again in N s".
    Runs inside the SDK's retry loop, once per attempt.
    """

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    async def handle_async(
        self, request: anthropic.APIRequest, call_next: anthropic.AsyncCallNext
    ) -> anthropic.AsyncAPIResponse[Any]:
        response = await call_next(request)
        if not is_retryable_status(response.status_code):
            return response
        wait = retry_after_seconds(response.headers)
        if wait is None or wait <= self.max_wait:
            return response
        http_response = response.http_response
        try:
            await http_response.aread()
            error_type = _error_type(http_response.content)
        finally:
            await http_response.aclose()
        # Not an SDK error type, so the SDK's retry loop lets it through as it is.
        raise RetryWaitTooLong(response.status_code, wait, error_type)


def port_error(failure: BaseException) -> LLMError:
    """The port's error for a failure of the SDK or of the connection under it."""
    if isinstance(failure, RetryWaitTooLong):
        what = _WHAT_FAILED.get(failure.status_code, "the Anthropic API is unavailable")
        return LLMUnavailable(
            f"{what} (HTTP {failure.status_code}); it asks to retry in {failure.retry_after:.0f} s",
            retry_after=failure.retry_after,
        )
    if isinstance(failure, anthropic.APIStatusError):
        return _status_error(failure)
    if isinstance(failure, anthropic.APITimeoutError):
        return LLMUnavailable("the Anthropic API did not answer in time")
    if isinstance(failure, anthropic.APIConnectionError):
        return LLMUnavailable(f"could not reach the Anthropic API: {failure.message}")
    if isinstance(failure, httpx2.TransportError):
        return LLMUnavailable(f"the connection to the Anthropic API broke: {failure}")
    if isinstance(failure, StreamInterrupted):
        return LLMUnavailable("the reply stream ended before it was complete")
    if isinstance(failure, anthropic.APIResponseValidationError):
        return LLMResponseInvalid(
            f"the Anthropic API sent an answer that cannot be read: {failure}"
        )
    return LLMRequestRejected(f"the Anthropic client failed: {failure}")


def _status_error(failure: anthropic.APIStatusError) -> LLMError:
    error_type = failure.type
    in_stream = failure.status_code < 400
    status = _STATUS_OF_TYPE.get(error_type or "", 500) if in_stream else failure.status_code
    detail = ", ".join(
        part
        for part in (
            f"HTTP {failure.status_code}" if not in_stream else "inside the reply stream",
            error_type,
            f"request {failure.request_id}" if failure.request_id else None,
        )
        if part
    )
    if is_retryable_status(status):
        what = _WHAT_FAILED.get(status, "the Anthropic API failed")
        retry_after = None if in_stream else retry_after_seconds(failure.response.headers)
        return LLMUnavailable(f"{what} ({detail})", retry_after=retry_after)
    what = _WHAT_FAILED.get(status, "Anthropic refused the request")
    reason = _short(failure.api_message)
    return LLMRequestRejected(
        f"{what} ({detail}){': ' + reason if reason else ''}",
        status_code=status,
        error_type=error_type,
    )


def _error_type(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _short(text: str | None, limit: int = 300) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
