"""Idempotency keys: a retried request returns the first response and changes nothing twice.

The entrypoint claims ``(scope, key)`` before doing the work. The first claim runs the
request and stores its response; a retry with the same request gets that response again;
a retry while the first is still running is told so; the same key on a different request
is refused. A failure that changed nothing releases the claim, so a retry runs again.

A claim is a **lease**: the request holding it renews it while it runs. A claim whose lease
ran out belongs to a request that died (a crash, ``kill -9``): the next request with the key
takes it over (`ClaimOutcome.TAKEN_OVER`). The claim records in which session the engineer's
input is stored, in the same transaction as the input itself (`mark_saved`), so the one
taking over completes that turn rather than storing the input a second time, whenever the
process died.

Services say that the next write stores the input through `storing_input`, which calls the
hook the entrypoint set for this request (`INPUT_STORING`), if any.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

DEFAULT_LEASE = timedelta(seconds=15)
"""How long a claim lasts without being renewed."""


class ClaimOutcome(StrEnum):
    NEW = "new"
    """Nobody used the key: do the work, then `complete` (or `release`)."""
    REPLAY = "replay"
    """The same request already ran: answer with its stored response."""
    IN_PROGRESS = "in_progress"
    """The same request is running now."""
    MISMATCH = "mismatch"
    """The key was used for another request."""
    TAKEN_OVER = "taken_over"
    """The same request was running, but its holder stopped renewing the claim (it died):
    the claim is now this request's. ``saved_in`` says whether the input was stored."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any
    """JSON-safe."""


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None
    saved_in: UUID | None = None
    """`TAKEN_OVER`: the session the dead request's input was stored in, if it was."""


class IdempotencyStore(Protocol):
    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim: ...

    async def renew(self, scope: str, key: str, *, until: datetime) -> None:
        """The claim's holder is alive: its lease lasts until ``until``."""
        ...

    async def mark_saved(self, scope: str, key: str, session_id: UUID) -> None:
        """The request's next write stores its input in ``session_id``: record that with it,
        in the same transaction (if the write fails, so does the mark)."""
        ...

    async def saved_in(self, scope: str, key: str) -> UUID | None:
        """Where the claim's input was stored, if it was."""
        ...

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None: ...

    async def release(self, scope: str, key: str) -> None: ...


def lease_expired(lease_until: datetime | None, created_at: datetime, *, now: datetime) -> bool:
    """Whether an unfinished claim's holder stopped renewing it (claims of a version without
    leases count from their creation, with the default lease)."""
    return (lease_until or created_at + DEFAULT_LEASE) < now


@dataclass(frozen=True, slots=True)
class HeldClaim:
    """A key some request already claimed, as a store holds it."""

    fingerprint: str
    created_at: datetime
    lease_until: datetime | None
    response: StoredResponse | None = None
    saved_in: UUID | None = None

    def answer(self, fingerprint: str, *, now: datetime) -> Claim | None:
        """What claiming the key again answers: another request's key, a finished request
        (its response), a holder still renewing it; None when the holder died and the new
        request may take the claim over (`ClaimOutcome.TAKEN_OVER`, if the store lets it)."""
        if self.fingerprint != fingerprint:
            return Claim(ClaimOutcome.MISMATCH)
        if self.response is not None:
            return Claim(ClaimOutcome.REPLAY, self.response)
        if not lease_expired(self.lease_until, self.created_at, now=now):
            return Claim(ClaimOutcome.IN_PROGRESS)
        return None


InputStoringHook = Callable[[UUID], Awaitable[None]]

INPUT_STORING: ContextVar[InputStoringHook | None] = ContextVar("input_storing", default=None)
"""Set by an entrypoint around one request; read by `storing_input`."""


async def storing_input(session_id: UUID) -> None:
    """The current request's next write stores the engineer's input in ``session_id``."""
    hook = INPUT_STORING.get()
    if hook is not None:
        await hook(session_id)
