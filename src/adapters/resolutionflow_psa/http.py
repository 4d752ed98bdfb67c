"""What the three PSA adapters share: one HTTP exchange with typed errors, retries with
backoff, the host guard, and the outline of posting a note and changing a status.

The adapters take an injected `httpx.AsyncClient` the way httpx's own clients take a
transport; without one they build a client on `GuardedTransport`, and close it in `aclose`.
Whatever the client, the guard checks every request's host first.

Retries: 429, 408, 5xx, timeouts and connection errors are retried up to
``RetryPolicy.attempts`` tries in all, waiting the answer's Retry-After when it gives one
(up to ``max_retry_after``; a longer one fails at once with `PSARateLimited` carrying it),
else an exponential backoff with jitter. Other 4xx answers are never retried. A write
that may have reached the PSA (a timeout waiting for its answer, a 5xx) is not repeated
blindly: posting a note first looks for the note's marker on the ticket, and only posts
again if it is not there.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, TypedDict, TypeVar

import httpx

from resolutionflow_core.errors import PSAError, TicketNotFound
from resolutionflow_core.tickets import NoteKind, PSANote, Ticket
from resolutionflow_psa.errors import (
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSANotFound,
    PSARateLimited,
    PSARequestRejected,
    PSAResponseInvalid,
    PSAUnavailable,
    StatusChangeIgnored,
    UnknownStatus,
)
from resolutionflow_psa.guard import HostGuard
from resolutionflow_psa.marker import carries_marker, marker_token, with_marker

if TYPE_CHECKING:
    from typing_extensions import Unpack

T = TypeVar("T")

DEFAULT_TIMEOUT: Final = 30.0
"""Seconds one request may take (connect, send, each read)."""

_DETAIL_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is tried again."""

    attempts: int = 4
    """Tries in all, the first included (1: never retry)."""
    base_delay: float = 0.5
    """Seconds of backoff before the first retry; doubled for each later one."""
    max_delay: float = 8.0
    """The longest backoff wait."""
    max_retry_after: float = 60.0
    """The longest Retry-After waited for; a longer one fails at once (with ``retry_after``)."""
    jitter: float = 0.5
    """The share of each backoff wait that is random (0: none, 1: "full jitter")."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise PSAConfigurationError("retry attempts must be at least 1")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise PSAConfigurationError(f"retry {name} must be a number of seconds >= 0")
        if not 0 <= self.jitter <= 1:
            raise PSAConfigurationError("retry jitter must be between 0 and 1")

    def wait(self, retry: int, retry_after: float | None, chance: float) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based), or None to give up now.

        ``chance`` is a random number in [0, 1).
        """
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        return ceiling * (1 - self.jitter) + ceiling * self.jitter * chance


@dataclass(frozen=True, slots=True)
class TicketNote:
    """A note as it stands on a ticket in the PSA."""

    note_id: str
    text: str
    kind: NoteKind | None = None
    """The kind it was posted as, when the PSA's flags tell it."""


@dataclass(frozen=True, slots=True)
class TicketStatus:
    """A status a ticket can take (on its board, for ConnectWise)."""

    status_id: str
    name: str
    closed: bool | None = None
    inactive: bool = False


@dataclass(frozen=True, slots=True)
class Discovery:
    """What an adapter found out about the PSA instance behind a connection: shown when the
    connection is tested, so an owner sees it is right before the first note is due."""

    provider: str
    facts: dict[str, str]
    """What was looked up and is used, e.g. ``codebase``, ``auth_server``,
    ``outcome.detail``, ``note_type.internal``."""
    choices: dict[str, list[str]]
    """What the instance offers where the owner may choose, e.g. ``outcomes``,
    ``note_types``."""


class Injected(TypedDict, total=False):
    """What an embedder or a test may hand an adapter besides its settings (all optional)."""

    client: httpx.AsyncClient | None
    guard: HostGuard | None
    sleep: Callable[[float], Awaitable[None]] | None
    chance: Callable[[], float] | None
    clock: Callable[[], float] | None


class CallOptions(TypedDict, total=False):
    """The options of one request (`PSAHttpClient._call`), passed on by `_request`."""

    json: Any
    params: Mapping[str, str | int] | None
    data: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    not_found: Callable[[], PSAError] | None
    authenticated: bool


class PSAHttpClient(ABC):
    """The base of the HTTP PSA adapters: `provider`, `post_note`, `find_note` and
    `change_status` are written once here on top of the abstract provider-specific
    methods (`get_ticket`, `list_notes`, `_create_note`, `_status_target`, `_set_status`,
    `_current_status`), which every adapter supplies."""

    PROVIDER: ClassVar[str] = "psa"
    VALIDATION_ERRORS_AS_500: ClassVar[bool] = False
    """The PSA answers a request it will never accept with a 500 carrying ``errors``
    (Autotask): such an answer is `PSARequestRejected`, not `PSAUnavailable`."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        guard: HostGuard | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        chance: Callable[[], float] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._guard = guard or HostGuard()
        checked = self._guard.check_url(base_url)
        self._base_url = checked.copy_with(path=checked.path.rstrip("/"), query=None)
        self._client = client if client is not None else self._guard.client(timeout=timeout)
        self._owns_client = client is None
        self._retry = retry if retry is not None else RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._chance = chance if chance is not None else random.random
        self._clock = clock if clock is not None else time.monotonic

    @property
    def provider(self) -> str:
        return self.PROVIDER

    @property
    def base_url(self) -> str:
        return str(self._base_url)

    async def aclose(self) -> None:
        """Close the HTTP client if the adapter made it (an injected one is the caller's)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the port, written once ----------------------------------------------------------

    @abstractmethod
    async def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket, as the core's `Ticket` (`TicketNotFound` if there is none)."""

    async def post_note(self, ticket_id: str, note: PSANote) -> str:
        """Post ``note`` with its marker line; returns the PSA's id for the note.

        If an attempt may have created the note without the answer arriving, the next
        attempt looks for the marker first and returns that note's id instead of posting.
        """
        number = self.ticket_number(ticket_id)
        text = self._note_text(note)
        # What the post depends on is read first, with its own retries, so that a PSA that
        # is down is not asked (retries × retries) times.
        await self._prepare_note(note.kind)

        async def attempt() -> str:
            note_id = await self._create_note(number, note.kind, text)
            if note_id is None:  # created, but the answer did not say which id it got
                note_id = await self.find_note(ticket_id, note.marker)
            if note_id is None:
                raise PSAResponseInvalid(
                    f"{self.provider} ticket {ticket_id}: the note was accepted without an id "
                    "and no note with its marker can be found"
                )
            return note_id

        async def recover() -> str | None:
            return await self.find_note(ticket_id, note.marker)

        return await self._retrying(attempt, idempotent=False, recover=recover)

    async def find_note(self, ticket_id: str, marker: str) -> str | None:
        """The id of the ticket's note that carries ``marker`` (see `marker`), if any."""
        marker_token(marker)
        for existing in await self.list_notes(ticket_id):
            if carries_marker(existing.text, marker):
                return existing.note_id
        return None

    @abstractmethod
    async def list_notes(self, ticket_id: str) -> list[TicketNote]:
        """The ticket's notes, every page."""

    async def discover(self) -> Discovery:
        """Look up what the connection depends on in this PSA instance (codebase, auth
        server, outcomes, note types...) and say what was found; see `Discovery`."""
        return Discovery(self.provider, {"api": self.base_url}, {})

    async def change_status(self, ticket_id: str, status: str) -> None:
        """Set the ticket's status (a name, or an id) and read the ticket back to verify it.

        A PSA that accepts the change but leaves the status as it was raises
        `StatusChangeIgnored`; a status the ticket cannot take raises `UnknownStatus`.
        """
        number = self.ticket_number(ticket_id)
        wanted = status.strip() if isinstance(status, str) else ""
        if not wanted:
            raise UnknownStatus(self.provider, ticket_id, repr(status), [])
        current, target = await self._status_target(number, wanted)
        if current == target.status_id:
            return
        await self._set_status(number, target)
        actual_id, actual_name = await self._current_status(number)
        if actual_id != target.status_id:
            raise StatusChangeIgnored(
                self.provider,
                ticket_id,
                f"{target.name} (id {target.status_id})",
                f"{actual_name} (id {actual_id})" if actual_id is not None else actual_name,
            )

    # -- what each provider supplies -------------------------------------------------------

    async def _prepare_note(self, kind: NoteKind) -> None:  # noqa: B027 (optional hook)
        """Read what posting a note of ``kind`` needs from the PSA (outcomes, note types);
        nothing by default."""

    def _note_text(self, note: PSANote) -> str:
        """The text posted for ``note``: its text with the marker line (fitted to the PSA's
        limits by adapters that have them)."""
        return with_marker(note.text, note.marker)

    @abstractmethod
    async def _create_note(self, number: int, kind: NoteKind, text: str) -> str | None:
        """One request creating the note (no retries); the new note's id if the answer has it."""

    @abstractmethod
    async def _status_target(self, number: int, wanted: str) -> tuple[str | None, TicketStatus]:
        """The ticket's current status id and the status ``wanted`` names."""

    def _status_named(
        self, number: int, wanted: str, statuses: Sequence[TicketStatus]
    ) -> TicketStatus:
        """The status among ``statuses`` (those ticket ``number`` can take) that ``wanted``
        names (`pick_status`); `UnknownStatus` listing the active ones if none does."""
        target = pick_status(statuses, wanted)
        if target is None:
            raise UnknownStatus(self.provider, str(number), wanted, status_names(statuses))
        return target

    @abstractmethod
    async def _set_status(self, number: int, target: TicketStatus) -> None:
        """One request setting the ticket's status to ``target``."""

    @abstractmethod
    async def _current_status(self, number: int) -> tuple[str | None, str | None]:
        """The ticket's status now, read back: (id, name)."""

    async def _auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request."""
        return {}

    async def _renew_credentials(self) -> bool:
        """After a 401: get fresh credentials and say whether repeating the request may help."""
        return False

    # -- HTTP ---------------------------------------------------------------------------------

    def ticket_number(self, ticket_id: str) -> int:
        """The PSA's numeric ticket id; `TicketNotFound` for anything that cannot be one."""
        text = ticket_id.strip() if isinstance(ticket_id, str) else ""
        if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) == 0:
            raise TicketNotFound(self.provider, str(ticket_id))
        return int(text)

    def url(self, path: str) -> httpx.URL:
        """``path`` (starting with ``/``) under the base URL."""
        return self._base_url.copy_with(path=self._base_url.path + path)

    async def _request(
        self, method: str, target: str | httpx.URL, **options: Unpack[CallOptions]
    ) -> Any:
        """A request that is safe to repeat, with retries; the answer's JSON (None if empty)."""

        async def attempt() -> Any:
            return await self._call(method, target, **options)

        return await self._retrying(attempt)

    async def _call(
        self,
        method: str,
        target: str | httpx.URL,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        not_found: Callable[[], PSAError] | None = None,
        authenticated: bool = True,
    ) -> Any:
        """One exchange (plus one repeat after renewed credentials); typed errors."""
        url = self.url(target) if isinstance(target, str) else target
        what = f"{self.provider} {method} {url.path}"
        await self._guard.check_request(url)
        renewed = False
        while True:
            sent = dict(await self._auth_headers()) if authenticated else {}
            sent.update(headers or {})
            try:
                response = await self._client.request(
                    method,
                    url,
                    json=json,
                    params=dict(params) if params else None,
                    data=dict(data) if data else None,
                    headers=sent,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                raise PSAUnavailable(f"{what}: could not connect ({_why(error)})") from None
            except httpx.TimeoutException:
                raise PSAUnavailable(
                    f"{what}: no answer within {self._timeout:g} s", maybe_written=True
                ) from None
            except httpx.TransportError as error:
                raise PSAUnavailable(
                    f"{what}: the connection failed ({_why(error)})", maybe_written=True
                ) from None
            if (
                response.status_code == 401
                and authenticated
                and not renewed
                and await self._renew_credentials()
            ):
                renewed = True
                continue
            return _read(response, what, not_found, self.VALIDATION_ERRORS_AS_500)

    async def _retrying(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = True,
        recover: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        """``attempt()`` until it succeeds, fails for good, or the tries run out.

        A non-idempotent attempt that may have written is repeated only with ``recover``,
        which runs first and ends the retries with its result if it finds one.
        """
        tries = 1
        while True:
            try:
                return await attempt()
            except PSAUnavailable as error:
                ambiguous = error.maybe_written and not idempotent
                if tries >= self._retry.attempts or (ambiguous and recover is None):
                    raise
                wait = self._retry.wait(tries - 1, error.retry_after, self._chance())
                if wait is None:
                    raise
                if ambiguous:
                    # The PSA may still be saving what it got: give it as long as the request
                    # was given before looking for the marker, so a late save is found.
                    wait = max(wait, self._timeout)
                await self._sleep(wait)
                tries += 1
                if ambiguous and recover is not None:
                    found = await recover()
                    if found is not None:
                        return found


def _read(
    response: httpx.Response,
    what: str,
    not_found: Callable[[], PSAError] | None,
    validation_500: bool = False,
) -> Any:
    """The answer's JSON body, or the typed error its status stands for."""
    status = response.status_code
    if 200 <= status < 300:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise PSAResponseInvalid(
                f"{what}: answered {status} with a body that is not JSON"
            ) from None
    if 300 <= status < 400:
        location = response.headers.get("location", "elsewhere")
        raise PSARequestRejected(
            f"{what}: redirected ({status}) to {location}; redirects are not followed, "
            "check the connection's URL",
            status_code=status,
        )
    detail = _detail(response)
    shown = f"{what}: {status}{f' {detail}' if detail else ''}"
    if status == 401:
        raise PSAAuthenticationFailed(
            f"{shown} (the PSA refused the credentials)", status_code=status
        )
    if status == 403:
        raise PSAAuthenticationFailed(
            f"{shown} (the credentials may not do this)", status_code=status
        )
    if status == 404:
        raise not_found() if not_found is not None else PSANotFound(shown, status_code=status)
    if status == 429:
        raise PSARateLimited(shown, retry_after=retry_after(response))
    if status == 408:
        raise PSAUnavailable(shown, status_code=status, retry_after=retry_after(response))
    if status == 500 and validation_500 and _carries_errors(response):
        raise PSARequestRejected(
            f"{shown} (the PSA refused the request; sending it again will not help)",
            status_code=status,
        )
    if status >= 500:
        raise PSAUnavailable(
            shown, status_code=status, retry_after=retry_after(response), maybe_written=True
        )
    raise PSARequestRejected(shown, status_code=status)


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delay-seconds or an HTTP date), if usable."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _detail(response: httpx.Response) -> str:
    """The PSA's own words about an error, short, from the usual JSON fields or the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "Message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors[:3]:
                if isinstance(item, str):
                    parts.append(item)
                elif isinstance(item, dict) and isinstance(item.get("message"), str):
                    parts.append(item["message"])
    elif isinstance(body, str):
        parts.append(body)
    elif body is None and response.text.strip() and len(response.text) < 1000:
        parts.append(response.text.strip())
    detail = " ".join(" ".join(parts).split())
    return detail if len(detail) <= _DETAIL_LIMIT else detail[: _DETAIL_LIMIT - 1] + "…"


def _carries_errors(response: httpx.Response) -> bool:
    """Whether the answer is a JSON object with a non-empty ``errors`` list (Autotask's
    validation errors, which it answers with HTTP 500)."""
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        (isinstance(item, str) and item.strip())
        or (isinstance(item, dict) and isinstance(item.get("message"), str))
        for item in errors
    )


def _why(error: Exception) -> str:
    return str(error) or type(error).__name__


# -- reading the PSAs' JSON -----------------------------------------------------------------


def json_object(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object; else `PSAResponseInvalid`."""
    if not isinstance(value, dict):
        raise PSAResponseInvalid(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def json_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise PSAResponseInvalid(f"{what}: expected a JSON array, got {type(value).__name__}")
    return value


def text_of(value: Any) -> str | None:
    """A non-blank string, stripped, or None."""
    return (value.strip() or None) if isinstance(value, str) else None


def id_of(value: Any) -> str | None:
    """A record id (a JSON number or a numeric string) as a string, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return str(int(value))
    return None


def name_of(value: Any, key: str = "name") -> str | None:
    """``value[key]`` of a reference object (``{"id": 1, "name": "..."}``), if there is one."""
    return text_of(value.get(key)) if isinstance(value, dict) else None


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without its None entries."""
    return {key: value for key, value in values.items() if value is not None}


def pick_status(statuses: Iterable[TicketStatus], wanted: str) -> TicketStatus | None:
    """The status named ``wanted`` (case-insensitive; an active one first), else the one
    whose id it is."""
    known = list(statuses)
    key = wanted.strip().casefold()
    named = [status for status in known if status.name.strip().casefold() == key]
    if named:
        return sorted(named, key=lambda status: status.inactive)[0]
    by_id = id_of(wanted)
    return next((status for status in known if status.status_id == by_id), None)


def status_names(statuses: Sequence[TicketStatus]) -> list[str]:
    return [status.name for status in statuses if not status.inactive]


def require(value: object, what: str) -> str:
    """``value`` stripped, if it is a non-blank string; else `PSAConfigurationError`."""
    if not isinstance(value, str) or not value.strip():
        raise PSAConfigurationError(f"{what} must not be blank")
    return value.strip()
