"""API keys, idempotency keys and PSA connection records in memory (their stores' ports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from resolutionflow_core.access import Actor
from resolutionflow_core.connections import PSAConnectionRecord
from resolutionflow_core.idempotency import (
    DEFAULT_LEASE,
    Claim,
    ClaimOutcome,
    HeldClaim,
    StoredResponse,
)
from resolutionflow_core.keys import (
    ApiKey,
    NewKey,
    issue_key,
    prefix_of,
    secret_matches,
)


class InMemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, tuple[ApiKey, str]] = {}

    async def create(self, actor: Actor, label: str, *, now: datetime) -> NewKey:
        new, hashed = issue_key(actor, label, now=now)
        self._keys[new.key.prefix] = (new.key, hashed)
        return new

    async def authenticate(self, secret: str) -> Actor | None:
        prefix = prefix_of(secret)
        found = self._keys.get(prefix) if prefix else None
        if found is None or not found[0].is_active or not secret_matches(secret, found[1]):
            return None
        return found[0].actor

    async def list(self, account_id: str | None = None) -> list[ApiKey]:
        keys = [key for key, _ in self._keys.values()]
        if account_id is not None:
            keys = [key for key in keys if key.actor.account_id == account_id]
        return sorted(keys, key=lambda key: (key.created_at, key.id))

    async def revoke(
        self, key_id: UUID, *, now: datetime, account_id: str | None = None
    ) -> ApiKey | None:
        for prefix, (key, hashed) in self._keys.items():
            if key.id == key_id and account_id in (None, key.actor.account_id):
                if key.revoked_at is None:
                    key = replace(key, revoked_at=now)
                    self._keys[prefix] = (key, hashed)
                return key
        return None

    async def count_active(self) -> int:
        return sum(1 for key, _ in self._keys.values() if key.is_active)


class InMemoryIdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], HeldClaim] = {}

    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim:
        entry = self._entries.get((scope, key))
        if entry is None:
            self._entries[(scope, key)] = HeldClaim(fingerprint, now, lease_until=now + lease)
            return Claim(ClaimOutcome.NEW)
        answer = entry.answer(fingerprint, now=now)
        if answer is not None:
            return answer
        self._entries[(scope, key)] = replace(entry, lease_until=now + lease)
        return Claim(ClaimOutcome.TAKEN_OVER, saved_in=entry.saved_in)

    async def renew(self, scope: str, key: str, *, until: datetime) -> None:
        entry = self._entries.get((scope, key))
        if entry is not None and entry.response is None:
            self._entries[(scope, key)] = replace(entry, lease_until=until)

    async def mark_saved(self, scope: str, key: str, session_id: UUID) -> None:
        # In memory nothing survives the process, and a write cannot half-fail.
        entry = self._entries.get((scope, key))
        if entry is not None:
            self._entries[(scope, key)] = replace(entry, saved_in=session_id)

    async def saved_in(self, scope: str, key: str) -> UUID | None:
        entry = self._entries.get((scope, key))
        return None if entry is None else entry.saved_in

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        entry = self._entries.get((scope, key))
        if entry is not None:
            self._entries[(scope, key)] = replace(entry, response=response)

    async def release(self, scope: str, key: str) -> None:
        self._entries.pop((scope, key), None)


class InMemoryPSAConnectionStore:
    """PSA connection records in memory: the `PSAConnectionStore` port."""

    def __init__(self) -> None:
        self._records: dict[str, PSAConnectionRecord] = {}

    async def save(self, record: PSAConnectionRecord) -> None:
        existing = self._records.get(record.account_id)
        if existing is not None:
            record = replace(record, created_at=existing.created_at)
        self._records[record.account_id] = record

    async def get(self, account_id: str) -> PSAConnectionRecord | None:
        return self._records.get(account_id)

    async def delete(self, account_id: str) -> bool:
        return self._records.pop(account_id, None) is not None

    async def reseal(self, reseal: Callable[[PSAConnectionRecord], str | None]) -> list[str]:
        resealed: dict[str, PSAConnectionRecord] = {}
        for account_id, record in sorted(self._records.items()):
            sealed = reseal(record)
            if sealed is not None:
                resealed[account_id] = replace(record, sealed_credentials=sealed)
        self._records.update(resealed)  # all or nothing: reseal may raise half-way
        return list(resealed)
