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
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from resolutionflow_core.access import MANAGING_ROLES, Actor, Role
from resolutionflow_core.errors import PermissionDenied

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


def ensure_can_manage_keys(actor: Actor, operation: str, role: Role | None = None) -> None:
    """Owners and admins manage their account's keys; only owners create owner keys."""
    if actor.role not in MANAGING_ROLES:
        raise PermissionDenied(operation, "only owners and admins manage API keys")
    if role is Role.OWNER and actor.role is not Role.OWNER:
        raise PermissionDenied("create an owner key", "only owners create owner keys")


def new_secret() -> tuple[str, str]:
    """A fresh ``(prefix, secret)``; the secret is the whole bearer token."""
    prefix = secrets.token_hex(6)
    return prefix, f"rf_{prefix}_{secrets.token_urlsafe(32)}"


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
