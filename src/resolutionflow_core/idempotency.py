"""Idempotency keys: a retried request returns the first response and changes nothing twice.

The entrypoint claims ``(scope, key)`` before doing the work. The first claim runs the
request and stores its response; a retry with the same request gets that response again;
a retry while the first is still running is told so; the same key on a different request
is refused. A failure that changed nothing releases the claim, so a retry runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class ClaimOutcome(StrEnum):
    NEW = "new"
    """Nobody used the key: do the work, then `complete` (or `release`)."""
    REPLAY = "replay"
    """The same request already ran: answer with its stored response."""
    IN_PROGRESS = "in_progress"
    """The same request is running now."""
    MISMATCH = "mismatch"
    """The key was used for another request."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any
    """JSON-safe."""


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    async def claim(self, scope: str, key: str, fingerprint: str, *, now: datetime) -> Claim: ...

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None: ...

    async def release(self, scope: str, key: str) -> None: ...
