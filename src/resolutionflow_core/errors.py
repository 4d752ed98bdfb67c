"""Domain errors: each says what was tried and why it was refused.

Every error belongs to one *category* (a base class below), which says what the caller can
do about it. Entrypoints map categories once, at the edge, by ``isinstance`` along the class
hierarchy (`category_of`): HTTP problem details, CLI exit codes, the idempotency layer's
keep-or-resume rule, the web app's pages. An adapter's error subclasses a category too, so
the edges never need to know the adapter's types or read ``code`` strings.

============================  =================================================================
category                      meaning
============================  =================================================================
`InvalidInput`                a value the domain refuses; fix the input
`NotFound`                    the thing named does not exist for this actor
`NotAllowed`                  a rule about who may do what refuses it
`Conflict`                    the thing's current state refuses it (lifecycle, a stale copy...)
`Misconfigured`               the settings cannot work; an operator must change them
`NotSetUp`                    (a `Misconfigured`) what the request needs is not set up (no PSA
                              connection, no secret key, no search): the request itself is
                              right, the service's state must change first
`ProviderRejected`            an outside service (LLM, PSA) refused the request as such;
                              sending it again gets the same answer until something changes
`Unavailable`                 the database or a provider cannot answer now; try again later
                              (``retry_after`` seconds, when known)
`UnusableAnswer`              a provider answered with something unusable; asking again may work
============================  =================================================================
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar
from uuid import UUID

E = TypeVar("E", bound=Enum)


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- categories -----------------------------------------------------------------------------


class InvalidInput(DomainError, ValueError):
    """A command carries a value the domain refuses (empty summary, unknown option...)."""

    code = "invalid_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(DomainError):
    """The thing named does not exist (for this actor: another account's is never visible)."""

    field: str | None = None
    """The input field that named the missing thing, when it came in a request's body rather
    than in its address (a ticket id to link, say)."""


class NotAllowed(DomainError):
    """A rule about who may do what refuses the operation to this actor."""


class Conflict(DomainError):
    """The current state of the thing refuses the operation (its lifecycle, a step still
    pending, a copy changed meanwhile, a name already taken)."""


class Misconfigured(DomainError):
    """The settings cannot work (a connection not set up, a host refused, credentials the
    provider refuses or that cannot be opened): an operator must change them; trying again
    as it is cannot help."""


class NotSetUp(Misconfigured):
    """What the request needs is not set up for the account or the service (no PSA
    connection, credentials no configured key opens, no search index): nothing in the request
    is wrong — sent again once an operator has set it up, it works. The API answers 409 (the
    service's state refuses it), not 422 (the request would be at fault)."""


class ProviderRejected(DomainError):
    """An outside service (the LLM, the PSA) refused the request itself: the same request
    gets the same answer until an operator or the input changes it."""


class Unavailable(DomainError):
    """The database or a provider cannot answer now (down, overloaded, rate limited, too
    slow): nothing was done, and trying again later may work."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds to wait before trying again, when the service said (or the default)."""


class UnusableAnswer(Unavailable):
    """A provider answered, but with something that cannot be used (a malformed step, an
    unreadable body): asking again may get a usable answer."""


CATEGORIES: tuple[type[DomainError], ...] = (
    InvalidInput,
    NotFound,
    NotAllowed,
    Conflict,
    NotSetUp,
    Misconfigured,
    ProviderRejected,
    UnusableAnswer,
    Unavailable,
)
"""Every category, the most specific first (`UnusableAnswer` is a kind of `Unavailable`,
`NotSetUp` of `Misconfigured`)."""


# -- the domain's errors ----------------------------------------------------------------------


def enum_value(enum_type: type[E], value: object, field: str) -> E:
    """``value`` as a member of ``enum_type``: the member itself or its value, else
    `InvalidInput` naming the field and the values allowed (the same on every adapter)."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except (ValueError, TypeError):
        allowed = ", ".join(str(member.value) for member in enum_type)
        raise InvalidInput(field, f"must be one of {allowed}, got {value!r}") from None


class ContentTooLarge(InvalidInput):
    """A message or text is longer than the domain accepts."""

    code = "content_too_large"

    def __init__(self, field: str, length: int, limit: int) -> None:
        super().__init__(field, f"is {length} characters long, the limit is {limit}")
        self.length = length
        self.limit = limit


class InvalidTransition(Conflict):
    """The lifecycle table has no transition for this action from this status."""

    code = "invalid_transition"

    def __init__(self, status: str, action: str, reason: str | None = None) -> None:
        why = reason or f"the lifecycle has no '{action}' transition from '{status}'"
        super().__init__(f"cannot {action} {_object_of(action)} that is {status}: {why}")
        self.status = status
        self.action = action


SESSION_VERBS = frozenset(
    {"pause", "resume", "resolve", "escalate", "claim", "abandon", "describe"}
)
"""Operations whose object is the session itself ("pause a session"); every other operation
names its own object ("answer a step") and happens *in* a session."""


def _object_of(action: str) -> str:
    return "a session" if action in SESSION_VERBS else "in a session"


class WrongSessionType(Conflict):
    """An operation of one kind of session was tried on the other kind."""

    code = "wrong_session_type"

    def __init__(self, operation: str, session_type: str, expected: str) -> None:
        super().__init__(
            f"cannot {operation} on a {session_type} session: only {expected} sessions allow it"
        )
        self.operation = operation
        self.session_type = session_type
        self.expected = expected


class NoPendingStep(Conflict):
    """A guided step was answered while no step waits for an answer."""

    code = "no_pending_step"

    def __init__(self, session_id: UUID) -> None:
        super().__init__(f"session {session_id} has no step waiting for an answer")
        self.session_id = session_id


class StepAlreadyPending(Conflict):
    """A new guided step was proposed while the previous one is still unanswered."""

    code = "step_already_pending"

    def __init__(self, session_id: UUID, number: int) -> None:
        super().__init__(f"session {session_id} still waits for an answer to step {number}")
        self.session_id = session_id
        self.number = number


class SessionNotFound(NotFound):
    """No session with this id exists for the actor (another account's is never visible)."""

    code = "session_not_found"

    def __init__(self, session_id: UUID | str) -> None:
        super().__init__(f"session {session_id} not found")
        self.session_id = session_id


class StaleSession(Conflict):
    """Somebody else changed the session since it was loaded: the write is refused."""

    code = "stale_session"

    def __init__(self, session_id: UUID, expected_version: int) -> None:
        super().__init__(
            f"session {session_id} was changed by someone else "
            f"(expected version {expected_version}); reload and try again"
        )
        self.session_id = session_id
        self.expected_version = expected_version


class PermissionDenied(NotAllowed):
    """The actor's role or relation to the session does not allow the operation."""

    code = "permission_denied"

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"not allowed to {operation}: {reason}")
        self.operation = operation
        self.reason = reason


class InvalidCursor(InvalidInput):
    """A pagination cursor that this library did not issue."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("cursor", "is not a cursor returned by a previous page")


class CursorMismatch(InvalidCursor):
    """A cursor used with other filters than the query that issued it."""

    code = "cursor_mismatch"

    def __init__(self) -> None:
        InvalidInput.__init__(
            self,
            "cursor",
            "belongs to a query with other filters; repeat the filters of the page it came "
            "from, or leave the cursor out to start from the first page",
        )


class StorageUnavailable(Unavailable):
    """The database cannot be used now (down, unreachable, too slow, or busy with another
    writer past the deadline): the operation did not complete, and trying later may work."""

    code = "database_unavailable"

    retry_after: float

    def __init__(self, message: str, *, busy: bool = False, retry_after: float = 5.0) -> None:
        super().__init__(message, retry_after=retry_after)
        self.busy = busy
        """True when the database answers but another writer holds it past the deadline."""


class LLMError(DomainError):
    """The LLM port failed (a family: each error raised is also of a category).

    When a service raises it, whatever the engineer sent is already stored, in the session
    ``session_id`` names.
    """

    code = "llm_error"

    def __init__(self, message: str, *, session_id: UUID | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id

    def saved_in(self, session_id: UUID) -> LLMError:
        """The same error, saying the engineer's input is stored in ``session_id``."""
        # A new instance with the same attributes, whatever the subclass's constructor takes.
        error = type(self).__new__(type(self))
        error.__dict__.update(self.__dict__)
        error.session_id = session_id
        error.message = f"{self.message}; your input is saved in session {session_id}"
        error.args = (error.message,)
        return error


class LLMUnavailable(LLMError, Unavailable):
    """The LLM could not answer now (overload, rate limit, network); trying later may work."""

    code = "llm_unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        session_id: UUID | None = None,
    ) -> None:
        LLMError.__init__(self, message, session_id=session_id)
        self.retry_after = retry_after


class LLMRejected(LLMError, ProviderRejected):
    """The LLM service refused the request itself (bad key, unknown model, bad request):
    retrying will not help until the operator fixes the configuration."""

    code = "llm_rejected"


class LLMResponseInvalid(LLMError, UnusableAnswer):
    """The LLM answered with something the domain cannot use (e.g. a malformed step)."""

    code = "llm_response_invalid"


class PSAError(DomainError):
    """The PSA port failed (a family: each error raised is also of a category)."""

    code = "psa_error"


class NothingToAnswer(Conflict):
    """A reply was asked for while the chat's last message already has one."""

    code = "nothing_to_answer"

    def __init__(self, session_id: UUID) -> None:
        super().__init__(f"the last message of session {session_id} already has a reply")
        self.session_id = session_id


class PSANotConfigured(PSAError, NotSetUp):
    """The account has no PSA connection."""

    code = "psa_not_configured"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id} has no PSA connection")
        self.account_id = account_id


class TicketNotFound(PSAError, NotFound):
    """The PSA has no such ticket (or the credentials cannot see it)."""

    code = "ticket_not_found"
    field = "ticket_id"

    def __init__(self, provider: str, ticket_id: str) -> None:
        super().__init__(f"{provider} ticket {ticket_id} not found")
        self.provider = provider
        self.ticket_id = ticket_id


class TicketOnOtherProvider(PSAError, Conflict):
    """A ticket linked on one PSA, while the account's connection is now to another."""

    code = "psa_provider_changed"

    def __init__(self, linked_on: str, connected_to: str) -> None:
        super().__init__(
            f"the ticket was linked on {linked_on}, "
            f"but the account's PSA connection is now {connected_to}"
        )
        self.linked_on = linked_on
        self.connected_to = connected_to


FAMILIES: tuple[type[DomainError], ...] = (LLMError, PSAError)
"""Bases that group a port's errors but are no category: an error raised as the family
itself (a provider failing in a way nobody classified) counts as an `UnusableAnswer`."""


def category_of(error: DomainError | type[DomainError]) -> type[DomainError] | None:
    """The category of ``error`` (an instance or a class): the first category along its
    class hierarchy; `UnusableAnswer` for a bare member of a family; ``None`` for a plain
    `DomainError`."""
    kind = error if isinstance(error, type) else type(error)
    for base in kind.__mro__:
        if base in CATEGORIES:
            return base
    return UnusableAnswer if issubclass(kind, FAMILIES) else None
