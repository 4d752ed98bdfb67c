"""The composition root: settings → adapters → services. Nothing is built at import time.

Entrypoints (the HTTP API, the CLI) call `open_application` and get every service they
need; `Application.close` releases the database and the LLM client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from resolutionflow_app.psa import ConfiguredPSAConnections, Sealer
from resolutionflow_app.settings import Settings
from resolutionflow_core.delivery import DeliveryRelay, SessionDeliveries
from resolutionflow_core.ports import LLM, Clock, PSAConnections
from resolutionflow_core.services import SessionService
from resolutionflow_core.system import SystemClock
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from resolutionflow_sqlalchemy.delivery import SqlDeliveryQueue
from resolutionflow_sqlalchemy.search import SqlSessionSearch

if TYPE_CHECKING:
    from resolutionflow_app.connections import ConnectionManagement, ManagedConnections
    from resolutionflow_core.idempotency import IdempotencyStore
    from resolutionflow_core.keys import KeyManagement, KeyStore
    from resolutionflow_core.ports import (
        AssistantReply,
        ReplyEvent,
        SessionDescription,
        SessionSearch,
        StepProposal,
    )
    from resolutionflow_core.session import Session, SessionType
    from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
    from resolutionflow_core.users import BrowserSessionStore, UserStore

T = TypeVar("T")

# The stores a use case needs only now and then (API keys, users and their browser sessions,
# idempotency keys) and the PSA connections' management are imported and built the first
# time they are asked for: `resolutionflow sessions list` loads none of them.


class StartupError(Exception):
    """The service cannot start as configured; the message says what to change."""


@dataclass
class Application:
    """Everything an entrypoint needs, built from one `Settings` (`open_application`).

    Each object is held once: the services are built over these ports, and the use cases
    below are views over them. The stores only some use cases need (`keys`, `idempotency`,
    `users`, `browser_sessions`) are made on first use, over the same database."""

    settings: Settings
    storage: SqlStorage
    llm: LLM
    psa: PSAConnections
    """The accounts' PSA connections: the stored, configurable ones (`ManagedConnections`)
    unless a test gave a fixed set."""
    sessions: SessionService
    deliveries: SqlDeliveryQueue
    clock: Clock = field(default_factory=SystemClock)
    made: dict[str, object] = field(default_factory=dict, repr=False)
    """The stores made so far (or given to `open_application`), by name. Its type names
    no store: Litestar reads these annotations, and they would load every store's module."""

    @property
    def keys(self) -> KeyStore:
        """The API keys, remembered for ``key_cache_seconds`` once checked."""
        return self._once("keys", _key_store)

    @property
    def idempotency(self) -> IdempotencyStore:
        return self._once("idempotency", _idempotency_store)

    @property
    def users(self) -> UserStore:
        return self._once("users", _user_store)

    @property
    def browser_sessions(self) -> BrowserSessionStore:
        return self._once("browser_sessions", _browser_session_store)

    def _once(self, name: str, make: Callable[[Application], T]) -> T:
        """The store ``name``, made (its module imported) the first time it is asked for."""
        made = self.made.get(name)
        if made is None:
            made = self.made[name] = make(self)
        return made  # type: ignore[return-value]

    @property
    def key_management(self) -> KeyManagement:
        """The account's API keys as its owners and admins may manage them."""
        from resolutionflow_core.keys import KeyManagement

        return KeyManagement(self.keys, self.clock)

    @property
    def connections(self) -> ManagedConnections:
        """The PSA connections as configured and sealed (`ConnectionsNotManaged` when the
        application was given a fixed set)."""
        from resolutionflow_app.connections import managed

        return managed(self.psa)

    @property
    def connection_management(self) -> ConnectionManagement:
        """The account's PSA connection as its owners and admins may manage it."""
        from resolutionflow_app.connections import ConnectionManagement

        return ConnectionManagement(self.psa, self.clock)

    @property
    def session_deliveries(self) -> SessionDeliveries:
        """A session's note deliveries, and their retry."""
        return SessionDeliveries(self.deliveries, self.clock)

    def relay(self) -> DeliveryRelay:
        """A relay delivering this application's due PSA notes."""
        return DeliveryRelay(self.deliveries, self.psa, self.clock)

    async def close(self) -> None:
        for adapter in (self.llm, self.psa):
            close = getattr(adapter, "aclose", None)
            if close is not None:
                await close()
        await self.storage.dispose()


def _key_store(app: Application) -> KeyStore:
    from resolutionflow_app.keycache import CachedKeyStore
    from resolutionflow_sqlalchemy.keys import SqlKeyStore

    return CachedKeyStore(SqlKeyStore(app.storage.database), ttl=app.settings.key_cache_seconds)


def _idempotency_store(app: Application) -> IdempotencyStore:
    from resolutionflow_sqlalchemy.idempotency import SqlIdempotencyStore

    return SqlIdempotencyStore(app.storage.database)


def _user_store(app: Application) -> UserStore:
    from resolutionflow_sqlalchemy.users import SqlUserStore

    return SqlUserStore(app.storage.database)


def _browser_session_store(app: Application) -> BrowserSessionStore:
    from resolutionflow_sqlalchemy.users import SqlBrowserSessionStore

    return SqlBrowserSessionStore(app.storage.database)


class OfflineOnFirstUse:
    """The offline LLM (`resolutionflow_memory.OfflineLLM`), made the first time it is asked
    for something: a command that never asks (`sessions list`, `keys`, `db`) does not import
    the offline assistant and its playbooks."""

    def __init__(self) -> None:
        self._made: LLM | None = None

    @property
    def llm(self) -> LLM:
        if self._made is None:
            from resolutionflow_memory import OfflineLLM

            self._made = OfflineLLM()
        return self._made

    def system_prompt(self, session_type: SessionType) -> str:
        return self.llm.system_prompt(session_type)

    async def chat_reply(self, session: Session) -> AssistantReply:
        return await self.llm.chat_reply(session)

    def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        return self.llm.stream_chat_reply(session)

    async def next_step(self, session: Session) -> StepProposal:
        return await self.llm.next_step(session)

    async def describe(self, session: Session) -> SessionDescription:
        return await self.llm.describe(session)

    async def draft_status_update(
        self, session: Session, audience: Audience, length: UpdateLength
    ) -> StatusUpdateDraft:
        return await self.llm.draft_status_update(session, audience, length)


def build_llm(settings: Settings) -> LLM:
    """The Anthropic adapter when chosen (a missing key is a `StartupError`), else offline
    (made on first use)."""
    if settings.chosen_llm() == "offline":
        return OfflineOnFirstUse()
    from resolutionflow_anthropic import AnthropicLLM
    from resolutionflow_anthropic.settings import AnthropicConfigurationError, AnthropicSettings

    try:
        return AnthropicLLM.from_settings(AnthropicSettings.from_env())
    except AnthropicConfigurationError as error:
        raise StartupError(f"RESOLUTIONFLOW_LLM=anthropic, but {error}") from error


async def prepare_database(settings: Settings) -> None:
    """Bring the schema to the newest revision (safe to run from several workers at once)."""
    # Imported here: Alembic costs about half a second, and only `serve` and `db` need it.
    from resolutionflow_sqlalchemy import migrations

    await migrations.upgrade(settings.database_url)


def open_storage(settings: Settings) -> SqlStorage:
    """The storage on the configured database (nothing connects until it is used)."""
    return SqlStorage.from_url(settings.database_url, timeout=settings.database_timeout)


def open_application(
    settings: Settings | None = None,
    *,
    storage: SqlStorage | None = None,
    llm: LLM | None = None,
    psa: PSAConnections | None = None,
    clock: Clock | None = None,
    keys: KeyStore | None = None,
    search: SessionSearch | None = None,
) -> Application:
    """Build the adapters and services for ``settings`` (or the environment's).

    Each adapter given is used instead of the one the settings would build (a test's
    scripted LLM, an in-memory PSA, a fixed clock), and everything that needs it is built
    over it: the sessions service, the delivery relay, the use cases."""
    settings = settings or Settings()
    storage = storage or open_storage(settings)
    llm = llm or build_llm(settings)
    clock = clock or SystemClock()
    psa = psa or ConfiguredPSAConnections(
        SqlPSAConnectionStore(storage.database), Sealer(settings.secret_key)
    )
    return Application(
        settings=settings,
        storage=storage,
        llm=llm,
        psa=psa,
        sessions=SessionService(
            uow=storage.unit_of_work,
            llm=llm,
            psa=psa,
            clock=clock,
            search=search or SqlSessionSearch(storage.database),
        ),
        deliveries=SqlDeliveryQueue(storage.database),
        clock=clock,
        made={} if keys is None else {"keys": keys},
    )
