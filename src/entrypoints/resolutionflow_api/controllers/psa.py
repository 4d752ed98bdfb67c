"""``/psa-connection``: owners and admins manage the account's PSA connection; and the
delivery of a session's due notes (``/ai-sessions/{id}/deliveries``).

Credentials go in and never come out: a connection is shown with the names of the
credentials it holds (``credentials_set``), never their values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody

from resolutionflow_api.controllers.sessions import SessionId
from resolutionflow_api.problems import problems
from resolutionflow_api.requests import Body
from resolutionflow_api.responses import DeliveryRead, Struct, delivery_read
from resolutionflow_app.connections import ConnectionManagement
from resolutionflow_app.psa import PROVIDERS, ConnectionTest, ConnectionView
from resolutionflow_app.read_models import read
from resolutionflow_core.access import Actor
from resolutionflow_core.delivery import SessionDeliveries
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.services import SessionService

Provider = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Setting = Annotated[str, msgspec.Meta(max_length=2048)]


class TicketStatuses(Body):
    """The ticket status to set after the session's note is delivered (none: leave it)."""

    resolved: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    escalated: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class PutConnection(Body):
    provider: Provider
    """``connectwise``, ``halopsa`` or ``autotask``."""
    settings: dict[str, Setting | TicketStatuses]
    """The provider's public settings (site or base_url, company, client_id...), and
    optionally ``statuses``: ``{"resolved": …, "escalated": …}``."""
    credentials: dict[str, Setting]
    """The provider's secrets (private_key, client_secret, integration_code/secret):
    sealed at rest, never returned."""


class TestConnection(Body):
    ticket_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    """A ticket the connection should be able to read."""


class ConnectionRead(Struct):
    provider: str
    settings: dict[str, Any]
    """Public settings only."""
    credentials_set: list[str]
    """The names of the stored credentials (their values are never returned)."""
    created_at: datetime
    updated_at: datetime


class TicketSummaryRead(Struct):
    provider: str
    ticket_id: str
    summary: str
    company: str | None
    contact: str | None
    board: str | None
    status: str | None


class DiscoveredRead(Struct):
    facts: dict[str, str]
    """What the connection uses, as looked up in the PSA: e.g. ConnectWise's ``codebase``
    and ``cloud``, HaloPSA's ``auth_server`` and ``outcome.detail``, Autotask's
    ``note_type.internal`` and ``publish.detail``."""
    choices: dict[str, list[str]]
    """What the instance offers where the owner may choose: HaloPSA's ``outcomes``,
    Autotask's ``note_types`` and ``publish``."""


class ConnectionTestRead(Struct):
    ok: bool
    ticket: TicketSummaryRead
    discovered: DiscoveredRead


class DeliveriesRetriedRead(Struct):
    retried: int
    """How many failed deliveries were put back in the queue."""
    psa_deliveries: list[DeliveryRead]


def _settings(data: PutConnection) -> dict[str, Any]:
    """The request's settings as the connections take them (``statuses`` an object of the
    statuses given, every other setting a string)."""
    settings: dict[str, Any] = {}
    for name, value in data.settings.items():
        if isinstance(value, TicketStatuses) != (name == "statuses"):
            shape = "an object of statuses" if name == "statuses" else "a string"
            raise InvalidInput(f"settings.{name}", f"must be {shape}")
        settings[name] = msgspec.to_builtins(value)
    statuses = settings.get("statuses")
    if isinstance(statuses, dict):
        settings["statuses"] = {k: v for k, v in statuses.items() if v}
    return settings


def _tested(tested: ConnectionTest) -> ConnectionTestRead:
    return ConnectionTestRead(
        ok=True,
        ticket=read(TicketSummaryRead, tested.ticket),
        discovered=read(DiscoveredRead, tested.discovered),
    )


def _read(view: ConnectionView) -> ConnectionRead:
    return read(ConnectionRead, view, credentials_set=list(view.credentials_set))


_PROVIDERS = ", ".join(f"`{name}`" for name in PROVIDERS)


class PSAConnectionController(Controller):
    path = "/psa-connection"
    tags = ("PSA connection",)

    @get("/", summary="Show the PSA connection", responses=problems(403, 404, 409))
    async def get_psa_connection(
        self,
        actor: NamedDependency[Actor],
        connection_management: NamedDependency[ConnectionManagement],
    ) -> ConnectionRead:
        return _read(await connection_management.show(actor))

    @put(
        "/",
        summary="Create or replace the PSA connection",
        description=f"`provider` is one of {_PROVIDERS}. The settings and credentials are "
        "checked (required fields, a public https host). A HaloPSA connection is saved only "
        "once the instance has confirmed its outcomes: the `outcome_detail`, "
        "`outcome_internal` and `outcome_resolution` given, or those chosen among the "
        "instance's, which are stored in `settings` (422 naming the instance's outcomes if "
        "one does not exist; 503 if the instance cannot be reached). Other PSAs are not "
        "contacted: use the test. Without `RESOLUTIONFLOW_SECRET_KEY` on the server the "
        "credentials cannot be sealed: 409 `psa_credentials_locked`.",
        responses=problems(403, 409, 413, 422, 503),
    )
    async def put_psa_connection(
        self,
        data: JSONBody[PutConnection],
        actor: NamedDependency[Actor],
        connection_management: NamedDependency[ConnectionManagement],
    ) -> ConnectionRead:
        view = await connection_management.connect(
            actor, data.provider, _settings(data), dict(data.credentials)
        )
        return _read(view)

    @post(
        "/test",
        status_code=200,
        summary="Test the PSA connection",
        description="Reads `ticket_id` through the connection: proves the host, the "
        "credentials and their rights; `discovered` says what was looked up in the PSA and "
        "will be used (ConnectWise's codebase, HaloPSA's auth server and outcomes, "
        "Autotask's note types and publish values). A problem says why not: 422 "
        "`psa_authentication_failed` / `ticket_not_found` / `psa_host_refused`, 503 "
        "`psa_unavailable` (with `Retry-After` when the PSA gave one).",
        responses=problems(403, 409, 413, 422, 502, 503),
    )
    async def test_psa_connection(
        self,
        data: JSONBody[TestConnection],
        actor: NamedDependency[Actor],
        connection_management: NamedDependency[ConnectionManagement],
    ) -> ConnectionTestRead:
        return _tested(await connection_management.test(actor, data.ticket_id))

    @delete(
        "/",
        status_code=200,
        summary="Delete the PSA connection",
        description="Returns the connection as it was. Notes still due stay queued: they are "
        "delivered once the account connects again.",
        responses=problems(403, 404, 409),
    )
    async def delete_psa_connection(
        self,
        actor: NamedDependency[Actor],
        connection_management: NamedDependency[ConnectionManagement],
    ) -> ConnectionRead:
        return _read(await connection_management.disconnect(actor))


class DeliveryController(Controller):
    path = "/ai-sessions/{session_id:uuid}/deliveries"
    tags = ("PSA connection",)

    @post(
        "/retry",
        status_code=200,
        summary="Retry the session's failed PSA deliveries",
        description="Puts the session's failed notes back in the queue (owners and admins, "
        "e.g. after fixing the connection); the relay delivers them.",
        responses=problems(403, 404),
    )
    async def retry_deliveries(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        session_deliveries: NamedDependency[SessionDeliveries],
    ) -> DeliveriesRetriedRead:
        await sessions.get(actor, session_id)  # 404 outside the actor's sight
        retried = await session_deliveries.retry_failed(actor, session_id)
        deliveries = [delivery_read(d) for d in await session_deliveries.of(session_id)]
        return DeliveriesRetriedRead(retried=retried, psa_deliveries=deliveries)
