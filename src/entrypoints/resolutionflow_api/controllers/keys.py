"""``/keys``: owners and admins manage their account's API keys (the CLI can too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from resolutionflow_api.problems import problems
from resolutionflow_api.requests import Body
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.keys import ApiKey, KeyManagement


class CreateKey(Body):
    """A key for a user of the caller's account. Owners create keys for any user and role;
    admins only for themselves (``user_id`` = their own) and never with the owner role."""

    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    """The user the key acts as, in the caller's account."""
    role: Role
    """The role the key acts with: ``owner``, ``admin``, ``engineer`` or ``viewer``."""
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    """What the key is for, e.g. ``PSA webhook`` (optional)."""


class ApiKeyRead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A stored key, never its secret (the same shape as ``resolutionflow keys … --json``)."""

    id: UUID
    prefix: str
    """The key's public part (``rf_<prefix>_…``), to recognise it by; never the secret."""
    account_id: str
    user_id: str
    role: Role
    label: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool
    """False once revoked."""


class ApiKeyList(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    items: list[ApiKeyRead]
    """The account's keys, oldest first."""


class NewKeyRead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    key: ApiKeyRead
    secret: str
    """The bearer token. Shown this once: only its hash is stored."""


def _read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id,
        prefix=key.prefix,
        account_id=key.actor.account_id,
        user_id=key.actor.user_id,
        role=key.actor.role,
        label=key.label,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        active=key.is_active,
    )


class KeyController(Controller):
    path = "/keys"
    tags = ("API keys",)

    @get("/", summary="List the account's keys", responses=problems(403))
    async def list_keys(
        self, actor: NamedDependency[Actor], key_management: NamedDependency[KeyManagement]
    ) -> ApiKeyList:
        return ApiKeyList(items=[_read(key) for key in await key_management.list(actor)])

    @post(
        "/",
        status_code=201,
        summary="Create a key",
        description="For a user of the caller's account. Owners create keys for any user and "
        "role; admins only for themselves and never owner keys (403 otherwise).",
        responses=problems(403, 413, 422),
    )
    async def create_key(
        self,
        data: JSONBody[CreateKey],
        actor: NamedDependency[Actor],
        key_management: NamedDependency[KeyManagement],
    ) -> NewKeyRead:
        new = await key_management.create(actor, data.user_id, data.role, data.label)
        return NewKeyRead(key=_read(new.key), secret=new.secret)

    @delete(
        "/{key_id:uuid}",
        status_code=200,
        summary="Revoke a key",
        description="Owner keys only by owners, and never the account's last active owner "
        "key (403). Revoking a revoked key answers it unchanged.",
        responses=problems(403, 404),
    )
    async def revoke_key(
        self,
        key_id: FromPath[UUID],
        actor: NamedDependency[Actor],
        key_management: NamedDependency[KeyManagement],
    ) -> ApiKeyRead:
        return _read(await key_management.revoke(actor, key_id))
