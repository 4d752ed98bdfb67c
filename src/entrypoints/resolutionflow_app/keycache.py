"""A short-lived cache of key → actor, so a busy API does not read the key on every request.

Only successful look-ups are cached, keyed by the secret's hash, for ``ttl`` seconds: a key
revoked through this process stops working at once; revoked elsewhere (another worker, the
CLI), within ``ttl`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from resolutionflow_core.access import Actor
from resolutionflow_core.keys import ApiKey, KeyStore, NewKey, hash_secret

MAX_ENTRIES = 10_000


class CachedKeyStore:
    """A `KeyStore` that remembers successful authentications for a few seconds."""

    def __init__(
        self, store: KeyStore, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._actors: dict[str, tuple[float, Actor]] = {}

    async def create(self, actor: Actor, label: str, *, now: datetime) -> NewKey:
        return await self._store.create(actor, label, now=now)

    async def authenticate(self, secret: str) -> Actor | None:
        if self._ttl <= 0:
            return await self._store.authenticate(secret)
        digest = hash_secret(secret)
        cached = self._actors.get(digest)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        actor = await self._store.authenticate(secret)
        if actor is None:
            self._actors.pop(digest, None)
            return None
        if len(self._actors) >= MAX_ENTRIES:
            self._actors.clear()
        self._actors[digest] = (now + self._ttl, actor)
        return actor

    async def list(self, account_id: str | None = None) -> list[ApiKey]:
        return await self._store.list(account_id)

    async def revoke(
        self, key_id: UUID, *, now: datetime, account_id: str | None = None
    ) -> ApiKey | None:
        revoked = await self._store.revoke(key_id, now=now, account_id=account_id)
        if revoked is not None:
            self._actors.clear()  # the secret is not known here: forget every cached actor
        return revoked

    async def count_active(self) -> int:
        return await self._store.count_active()
