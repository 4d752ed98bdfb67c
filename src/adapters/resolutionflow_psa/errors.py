"""The PSA adapters' typed errors. Each is a core `PSAError`, so callers above the port
catch one type, and of one core category (`Unavailable`, `Misconfigured`,
`ProviderRejected`, `UnusableAnswer`), which is all the entrypoints look at.

- `PSAUnavailable` (and its `PSARateLimited`): the PSA could not answer now (5xx, 429,
  timeout, connection refused). Retried by the adapter with backoff; raised when the
  retries run out, and then worth trying again later.
- `PSAAuthenticationFailed`: 401/403, or an OAuth token refused. Needs an operator.
- `PSARequestRejected`: any other 4xx (and redirects, which are never followed).
- `PSANotFound`: a 404 on something other than a ticket (a ticket's is the core's
  `TicketNotFound`).
- `PSAResponseInvalid`: a 2xx whose body the adapter cannot read.
- `StatusChangeIgnored` / `UnknownStatus`: a status change that did not take.
- `PSAConfigurationError` / `PSAHostRefused`: settings that cannot work, or a host the guard
  refuses to talk to.
"""

from __future__ import annotations

from resolutionflow_core.errors import (
    Misconfigured,
    ProviderRejected,
    PSAError,
    Unavailable,
    UnusableAnswer,
)


class PSAConfigurationError(PSAError, Misconfigured):
    """The connection's settings cannot work (a blank key, a malformed URL, an outcome or a
    note type the instance does not have...). Trying again cannot help until an owner fixes
    the connection: ``retryable`` is False."""

    code = "psa_configuration_error"
    retryable = False


class PSAHostRefused(PSAConfigurationError):
    """The guard refused the host: not https, or an address that is not public."""

    code = "psa_host_refused"


class PSAAuthenticationFailed(PSAError, Misconfigured):
    """The PSA refused the credentials (401), or what they may do (403)."""

    code = "psa_authentication_failed"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PSAUnavailable(PSAError, Unavailable):
    """The PSA did not answer usefully now (5xx, timeout, connection error); try later.

    ``maybe_written`` says whether the request may have reached the PSA and been acted on
    (a timeout while waiting for the answer, a 5xx): a write must not simply be repeated.
    """

    code = "psa_unavailable"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        maybe_written: bool = False,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status_code = status_code
        self.maybe_written = maybe_written


class PSARateLimited(PSAUnavailable):
    """The PSA answered 429; ``retry_after`` is its Retry-After in seconds, if it sent one."""

    code = "psa_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status_code=429, retry_after=retry_after)


class PSARequestRejected(PSAError, ProviderRejected):
    """The PSA refused the request itself (a 4xx other than 401/403/404/408/429, or a
    vendor's validation error however it is answered, such as Autotask's 500 with
    ``errors``). Sending the same request again gets the same answer: ``retryable`` is
    False, so the delivery relay fails the note at once with the PSA's message instead of
    trying it again for hours."""

    code = "psa_request_rejected"
    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PSANotFound(PSARequestRejected):
    """The PSA has no such record (a board, a status list...)."""

    code = "psa_not_found"


class PSAResponseInvalid(PSAError, UnusableAnswer):
    """The PSA answered with success, but with a body the adapter cannot read."""

    code = "psa_response_invalid"


class UnknownStatus(PSAError, Misconfigured):
    """The status asked for is not one the ticket can take (not on its board/list)."""

    code = "psa_unknown_status"

    def __init__(self, provider: str, ticket_id: str, status: str, known: list[str]) -> None:
        choices = ", ".join(known) if known else "none"
        super().__init__(
            f"{provider} ticket {ticket_id}: no status {status!r} (available: {choices})"
        )
        self.provider = provider
        self.ticket_id = ticket_id
        self.status = status


class StatusChangeIgnored(PSAError, ProviderRejected):
    """The PSA accepted a status change but the ticket, read back, does not have it."""

    code = "psa_status_change_ignored"

    def __init__(self, provider: str, ticket_id: str, wanted: str, actual: str | None) -> None:
        super().__init__(
            f"{provider} ticket {ticket_id}: status change was ignored "
            f"(asked for {wanted}, the ticket reads back as {actual or 'no status'})"
        )
        self.provider = provider
        self.ticket_id = ticket_id
        self.wanted = wanted
        self.actual = actual


class PSASettingInvalid(PSAConfigurationError):
    """A connection setting the adapter cannot work with; ``setting`` names it (None: the
    settings as a whole, e.g. one of two settings is needed)."""

    code = "psa_configuration_error"

    def __init__(self, setting: str | None, message: str) -> None:
        super().__init__(message)
        self.setting = setting
