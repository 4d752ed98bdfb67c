"""API keys: each binds a bearer secret to an actor (account, user, role).

Only a hash of the secret is stored. Secrets carry 256 bits of randomness, so a fast hash
(SHA-256) is enough: nobody can guess one to test against the hash, unlike a password.
A key reads ``rf_<prefix>_<secret>``; the prefix finds the stored row, the hash proves it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from resolutionflow_core import access
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.errors import NotFound
from resolutionflow_core.ports import Clock

_SHAPE = re.compile(r"rf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    id: UUID
    prefix: str
    actor: Actor
    label: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key as created: the only time its secret exists outside the client's hands."""

    key: ApiKey
    secret: str


def new_secret() -> tuple[str, str]:
    """A fresh ``(prefix, secret)``; the secret is the whole bearer token."""
    prefix = secrets.token_hex(6)
    return prefix, f"rf_{prefix}_{secrets.token_urlsafe(32)}"


MAX_LABEL = 200
"""The longest label kept (a longer one is cut)."""


def issue_key(actor: Actor, label: str, *, now: datetime) -> tuple[NewKey, str]:
    """A new key for ``actor``: the key with its secret, and the secret's hash to store."""
    prefix, secret = new_secret()
    key = ApiKey(uuid.uuid4(), prefix, actor, label.strip()[:MAX_LABEL], now)
    return NewKey(key, secret), hash_secret(secret)


def prefix_of(secret: str) -> str | None:
    """The prefix of a well-formed key, else ``None`` (so malformed keys cost no lookup)."""
    match = _SHAPE.fullmatch(secret)
    return match.group(1) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


class KeyStore(Protocol):
    """Where API keys live. `authenticate` is on every request's path: keep it one lookup."""

    async def create(self, actor: Actor, label: str, *, now: datetime) -> NewKey: ...

    async def authenticate(self, secret: str) -> Actor | None:
        """The actor of an active key with this secret, else ``None``."""
        ...

    async def list(self, account_id: str | None = None) -> list[ApiKey]:
        """Every key (of one account, when given), oldest first."""
        ...

    async def revoke(
        self, key_id: UUID, *, now: datetime, account_id: str | None = None
    ) -> ApiKey | None:
        """Revoke the key (only within ``account_id``, when given); ``None`` if none such."""
        ...

    async def count_active(self) -> int: ...


class KeyNotFound(NotFound):
    """No API key with this id in the actor's account."""

    code = "key_not_found"

    def __init__(self, key_id: UUID) -> None:
        super().__init__(f"API key {key_id} not found")
        self.key_id = key_id


@dataclass(frozen=True)
class KeyManagement:
    """The key store as an account's owners and admins may use it (the API, the web
    app's settings and any embedding service call this, so the rules in `access` hold for
    all of them)."""

    keys: KeyStore
    clock: Clock

    async def list(self, actor: Actor) -> list[ApiKey]:
        access.ensure_can_manage(actor, "list API keys", access.API_KEYS)
        return await self.keys.list(actor.account_id)

    async def create(self, actor: Actor, user_id: str, role: Role, label: str) -> NewKey:
        holder = Actor(actor.account_id, user_id, role)
        access.ensure_can_create_key(actor, holder)
        return await self.keys.create(holder, label, now=self.clock.now())

    async def revoke(self, actor: Actor, key_id: UUID) -> ApiKey:
        access.ensure_can_manage(actor, "revoke API keys", access.API_KEYS)
        keys = await self.keys.list(actor.account_id)
        key = next((k for k in keys if k.id == key_id), None)
        if key is None:
            raise KeyNotFound(key_id)
        other_owner_keys = sum(
            1 for k in keys if k.is_active and k.actor.role is Role.OWNER and k.id != key_id
        )
        if key.is_active:
            access.ensure_can_revoke_key(actor, key.actor, other_active_owner_keys=other_owner_keys)
        revoked = await self.keys.revoke(key_id, now=self.clock.now(), account_id=actor.account_id)
        if revoked is None:
            raise KeyNotFound(key_id)
        return revoked
