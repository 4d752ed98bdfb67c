"""The account's PSA connection as its owners and admins manage it: the one set of use
cases the API, the CLI and the web app's settings call, so the rule (`access.
ensure_can_manage`) and "no connection" (`ConnectionNotFound`) are stated once.

It lives in the composition root, not the core, because a connection's settings are
checked, sealed and tried by `ConfiguredPSAConnections`, which knows the providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from resolutionflow_app.psa import ConnectionTest, ConnectionView, Resealed
from resolutionflow_core.access import Actor, ensure_can_manage
from resolutionflow_core.connections import ConnectionNotFound
from resolutionflow_core.errors import NotSetUp
from resolutionflow_core.ports import Clock, PSAConnections

MANAGED = "the PSA connection"


@runtime_checkable
class ManagedConnections(PSAConnections, Protocol):
    """PSA connections that owners and admins configure (`ConfiguredPSAConnections`): the
    port the services use, plus what managing them takes."""

    async def connect(
        self,
        account_id: str,
        provider: str,
        settings: dict[str, Any],
        credentials: dict[str, str],
        *,
        now: datetime,
    ) -> ConnectionView: ...

    async def show(self, account_id: str) -> ConnectionView | None: ...

    async def test(self, account_id: str, ticket_id: str) -> ConnectionTest: ...

    async def disconnect(self, account_id: str) -> bool: ...

    async def reseal(self) -> Resealed: ...


class ConnectionsNotManaged(NotSetUp):
    """The application was built with PSA connections nobody can configure (a fixed set,
    as a test gives): there is no connection to manage."""

    code = "psa_connections_not_managed"

    def __init__(self) -> None:
        super().__init__("this service's PSA connections are fixed: they cannot be managed")


def managed(psa: PSAConnections) -> ManagedConnections:
    """``psa`` as connections that can be managed; `ConnectionsNotManaged` if they cannot."""
    if not isinstance(psa, ManagedConnections):
        raise ConnectionsNotManaged()
    return psa


@dataclass(frozen=True)
class ConnectionManagement:
    """Connect, show, test and remove the account's PSA connection."""

    psa: PSAConnections
    """The application's PSA connections; managed ones (`ManagedConnections`) unless it was
    given a fixed set, which each use case refuses after the permission check."""
    clock: Clock

    @property
    def connections(self) -> ManagedConnections:
        return managed(self.psa)

    @staticmethod
    def ensure_allowed(actor: Actor, operation: str) -> None:
        """Refuse ``actor`` before anything is asked or done (the CLI checks this before it
        prompts for credentials); every use case below checks it again."""
        ensure_can_manage(actor, operation, MANAGED)

    async def current(self, actor: Actor) -> ConnectionView | None:
        """The connection, or ``None`` when the account has none (a settings page)."""
        self.ensure_allowed(actor, "read the PSA connection")
        return await self.connections.show(actor.account_id)

    async def show(self, actor: Actor) -> ConnectionView:
        view = await self.current(actor)
        if view is None:
            raise ConnectionNotFound(actor.account_id)
        return view

    async def connect(
        self,
        actor: Actor,
        provider: str,
        settings: dict[str, Any],
        credentials: dict[str, str],
    ) -> ConnectionView:
        """Create or replace the connection; settings and credentials are checked (and
        the credentials sealed) by the connections."""
        self.ensure_allowed(actor, "configure the PSA connection")
        return await self.connections.connect(
            actor.account_id, provider, settings, credentials, now=self.clock.now()
        )

    async def test(self, actor: Actor, ticket_id: str) -> ConnectionTest:
        """Read ``ticket_id`` through the connection, and what was discovered in the PSA."""
        self.ensure_allowed(actor, "test the PSA connection")
        return await self.connections.test(actor.account_id, ticket_id.strip())

    async def disconnect(self, actor: Actor) -> ConnectionView:
        """Remove the connection and its sealed credentials; the connection as it was."""
        self.ensure_allowed(actor, "delete the PSA connection")
        view = await self.connections.show(actor.account_id)
        if view is None or not await self.connections.disconnect(actor.account_id):
            raise ConnectionNotFound(actor.account_id)
        return view
