"""Bearer API keys: every route but ``/health`` and the schema runs as the key's actor.

Secure by default: the middleware sits on the whole app, so a new route is protected unless
it opts out with ``opt={"exclude_from_auth": True}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp

from resolutionflow_api.problems import Problem
from resolutionflow_core.access import Actor
from resolutionflow_core.keys import KeyStore

EXCLUDE_FROM_AUTH = "exclude_from_auth"
"""Route ``opt`` key for the few routes served without a key (health, the schema)."""

SECURITY_SCHEME = "BearerAuth"


class NotAuthenticated(Problem):
    def __init__(self, detail: str, *, error: str | None = None) -> None:
        challenge = 'Bearer realm="resolutionflow"'
        if error is not None:
            challenge += f', error="{error}"'
        super().__init__(
            401,
            "unauthorized",
            "Not authenticated",
            detail,
            headers={"WWW-Authenticate": challenge},
        )


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Finds the actor of the ``Authorization: Bearer <key>`` header, or refuses with 401."""

    def __init__(self, app: ASGIApp, *, keys: KeyStore, exclude: Sequence[str] = ()) -> None:
        super().__init__(app, exclude=list(exclude), exclude_from_auth_key=EXCLUDE_FROM_AUTH)
        self._keys = keys

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            raise NotAuthenticated("send an API key: Authorization: Bearer <key>")
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthenticated(
                "the Authorization header must read: Bearer <key>", error="invalid_request"
            )
        actor = await self._keys.authenticate(secret.strip())
        if actor is None:
            raise NotAuthenticated("unknown or revoked API key", error="invalid_token")
        return AuthenticationResult(user=actor, auth=None)


def bearer_authentication(keys: KeyStore, exclude: Sequence[str]) -> DefineMiddleware:
    return DefineMiddleware(BearerAuthentication, keys=keys, exclude=exclude)


def provide_actor(request: Request[Actor, Any, Any]) -> Actor:
    """The actor the request runs as (set by `BearerAuthentication`)."""
    return request.user
