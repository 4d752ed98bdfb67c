"""``Idempotency-Key``: a retried request returns the first response and adds nothing twice.

The key is claimed in the `IdempotencyStore`, scoped by account, user and route; the
fingerprint is the request's path and body, so the same key on another request is refused
(422), and a retry while the first is still running is told so (409).

A failure that changed nothing releases the key (the retry runs afresh). A failure once the
engineer's message (or answer, or intake) is saved is different, whatever failed (the LLM,
the database, the deadline, a bug): the 5xx is stored with the ``session_id``, and a retry
with the same key does not send the input again: it completes the turn (asks the assistant
again) and stores that response instead. A refusal stored then (a 4xx) is replayed as it is.

The claim is a lease, renewed while the request runs: if the process dies holding it, the
key is not "in use" for a day; once the lease runs out the next request with the key takes
it over, and completes the turn if the input was saved, or runs the request if it was not.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from litestar.params import HeaderParameter
from litestar.response import Response

from resolutionflow_api.problems import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    Problem,
    interrupted_turn,
    problem_for,
)
from resolutionflow_core.access import Actor
from resolutionflow_core.errors import LLMError
from resolutionflow_core.idempotency import (
    DEFAULT_LEASE,
    INPUT_STORING,
    ClaimOutcome,
    IdempotencyStore,
    StoredResponse,
)
from resolutionflow_core.ports import Clock

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is best). A retry with the same key and body "
        "returns the first response and adds nothing twice; kept for 24 hours.",
        required=False,
    ),
]

REPLAYED_HEADER = "Idempotent-Replayed"

T = TypeVar("T")

logger = logging.getLogger("resolutionflow_api")


@dataclass
class IdempotentRequest:
    """What one idempotent handler does, first time and after an LLM failure."""

    route: str
    """The route's template, e.g. ``POST /ai-sessions/{session_id}/chat``."""
    path: str
    body: msgspec.Struct | None
    status_code: int
    run: Callable[[], Awaitable[msgspec.Struct]]
    finish: Callable[[UUID], Awaitable[msgspec.Struct]]
    """Complete the turn whose input was saved in this session (the LLM failed the first time)."""


@dataclass
class IdempotencyGate:
    store: IdempotencyStore
    clock: Clock
    lease: timedelta = DEFAULT_LEASE
    """How long a claim lasts unrenewed; the request holding it renews it every third."""
    _finishing: set[tuple[str, str]] = field(default_factory=set)

    async def respond(
        self, actor: Actor, key: str | None, request: IdempotentRequest
    ) -> Response[Any]:
        if key is None:
            return _fresh(await request.run(), request.status_code)
        scope = _scope(actor, request.route)
        claim = await self.store.claim(
            scope, key, _fingerprint(request), now=self.clock.now(), lease=self.lease
        )
        if claim.outcome is ClaimOutcome.MISMATCH:
            raise IdempotencyKeyReused()
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            raise IdempotencyKeyInUse(self.lease.total_seconds())
        if claim.outcome is ClaimOutcome.REPLAY:
            assert claim.response is not None
            session_id = unfinished_turn(claim.response)
            if session_id is None:
                return _replay(claim.response)
            return await self._finish(scope, key, request, session_id)
        if claim.outcome is ClaimOutcome.TAKEN_OVER and claim.saved_in is not None:
            # The request that died had stored the input: complete its turn, once.
            return await self._finish(scope, key, request, claim.saved_in)
        return await self._first(scope, key, request)

    async def _first(self, scope: str, key: str, request: IdempotentRequest) -> Response[Any]:
        async def on_input_storing(session_id: UUID) -> None:
            await self.store.mark_saved(scope, key, session_id)

        hook = INPUT_STORING.set(on_input_storing)
        try:
            async with self._holding(scope, key):
                result = await request.run()
        except LLMError as error:
            if error.session_id is None:
                await _shielded(self.store.release(scope, key))
            else:
                await self._remember_failure(scope, key, request, problem_for(error))
            raise
        except BaseException as error:
            await self._failed(scope, key, request, error)
            raise
        finally:
            INPUT_STORING.reset(hook)
        return await self._remember(scope, key, request, result)

    async def _failed(
        self, scope: str, key: str, request: IdempotentRequest, error: BaseException
    ) -> None:
        """After a failure that is not the LLM's: was the input stored? If not, free the key;
        if so, keep it bound to the input and raise the problem saying where it is; if the
        database cannot say, leave the claim: its lease runs out and a retry resumes."""
        try:
            saved_in = await _shielded(self.store.saved_in(scope, key))
        except Exception as unknown:
            logger.warning("idempotency claim left to its lease: %s", unknown)
            return
        if saved_in is None:
            await _shielded(self.store.release(scope, key))
            return
        problem = interrupted_turn(error, str(saved_in))
        await self._remember_failure(scope, key, request, problem)
        if isinstance(error, Exception):  # a cancellation goes on as it is
            raise problem from error

    async def _finish(
        self, scope: str, key: str, request: IdempotentRequest, session_id: UUID
    ) -> Response[Any]:
        # Two retries of one key racing in this worker: one finishes the turn, one waits.
        if (scope, key) in self._finishing:
            raise IdempotencyKeyInUse(self.lease.total_seconds())
        self._finishing.add((scope, key))
        try:
            result = await request.finish(session_id)
        except LLMError as error:
            if error.session_id is None:
                error = error.saved_in(session_id)
            await self._remember_failure(scope, key, request, problem_for(error))
            raise error from None
        except Exception as error:
            problem = interrupted_turn(error, str(session_id))
            await self._remember_failure(scope, key, request, problem)
            raise problem from error
        finally:
            self._finishing.discard((scope, key))
        return await self._remember(scope, key, request, result)

    @asynccontextmanager
    async def _holding(self, scope: str, key: str) -> AsyncIterator[None]:
        """Renew the claim's lease while the request runs, so nobody takes it over."""

        async def renew() -> None:
            period = self.lease.total_seconds() / 3
            while True:
                await asyncio.sleep(period)
                try:
                    await self.store.renew(scope, key, until=self.clock.now() + self.lease)
                except Exception as error:  # the next renewal may work; the work goes on
                    logger.warning("could not renew the idempotency claim: %s", error)

        renewing = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()

    async def _remember(
        self, scope: str, key: str, request: IdempotentRequest, result: msgspec.Struct
    ) -> Response[Any]:
        body = msgspec.to_builtins(result)
        await _shielded(self.store.complete(scope, key, StoredResponse(request.status_code, body)))
        return Response(body, status_code=request.status_code)

    async def _remember_failure(
        self, scope: str, key: str, request: IdempotentRequest, problem: Problem
    ) -> None:
        stored = StoredResponse(problem.status_code, problem.body(request.path))
        try:
            await _shielded(self.store.complete(scope, key, stored))
        except Exception as error:  # the claim's lease runs out, and the next request resumes
            logger.warning("could not store the idempotent response: %s", error)


def _fresh(result: msgspec.Struct, status_code: int) -> Response[Any]:
    return Response(result, status_code=status_code)


def _replay(stored: StoredResponse) -> Response[Any]:
    media_type = "application/problem+json" if stored.status_code >= 400 else "application/json"
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type=media_type,
        headers={REPLAYED_HEADER: "true"},
    )


def unfinished_turn(stored: StoredResponse) -> UUID | None:
    """The session of a stored failure that a retry completes, else None.

    A failure is stored only once the input is saved (before that the key is released). A
    retry completes the turn when the failure was the server's or a provider's: a 5xx,
    which `problem_for` gives exactly the categories `Unavailable`, `UnusableAnswer` and
    `ProviderRejected` (and the API gives a deadline or a bug); a refusal (4xx) is final
    and replayed as it is."""
    body = stored.body
    if stored.status_code < 500 or not isinstance(body, dict) or not body.get("session_id"):
        return None
    try:
        return UUID(str(body["session_id"]))
    except ValueError:
        return None


def _scope(actor: Actor, route: str) -> str:
    # Account and user ids may be long; their digest keeps the scope within its column.
    who = hashlib.sha256(f"{actor.account_id}\n{actor.user_id}".encode()).hexdigest()
    return f"{route} {who}"


def _fingerprint(request: IdempotentRequest) -> str:
    body = None if request.body is None else msgspec.to_builtins(request.body)
    canonical = msgspec.json.encode({"path": request.path, "body": body}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


async def _shielded(work: Awaitable[T]) -> T:
    """Finish the bookkeeping even if the request is cancelled meanwhile."""
    return await asyncio.shield(work)
