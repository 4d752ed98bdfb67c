"""Per-account PSA connections: configured by owners and admins, credentials sealed at rest.

`ConfiguredPSAConnections` is the `PSAConnections` port the services and the delivery relay
use: it reads the account's connection record, opens its sealed credentials with the
operator's keys (Fernet, ``RESOLUTIONFLOW_SECRET_KEY``: the newest first, see `Sealer`) and
builds the provider's adapter through the adapter's own connection model (`PROVIDERS`, the
registry of `resolutionflow_psa`), guarded to the public https host the operator
configured. Nothing here names a provider's settings: each adapter declares them.

Saving a HaloPSA connection contacts the instance: its outcomes are per instance, so the
ones the notes will use are checked (or chosen) and stored with the connection. Testing a
connection reads a ticket and reports what the adapter discovered (codebase, auth server,
outcomes, note types), so an owner sees the connection is right before a note is due.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from resolutionflow_core.connections import PSAConnectionRecord, PSAConnectionStore
from resolutionflow_core.errors import (
    InvalidInput,
    NotSetUp,
    PSAError,
    PSANotConfigured,
)
from resolutionflow_core.ports import PSAClient
from resolutionflow_core.tickets import Ticket

if TYPE_CHECKING:
    from resolutionflow_psa import ProviderSpec, PSAConnection, Tuning

SECRET_KEY_HELP = (
    "set RESOLUTIONFLOW_SECRET_KEY to a key made with `resolutionflow secret-key` "
    "(keep it: stored PSA credentials can only be opened with a key they were sealed with)"
)


class CredentialsLocked(PSAError, NotSetUp):
    """Stored credentials cannot be opened (no key configured, or none of the keys fits)."""

    code = "psa_credentials_locked"


def secret_keys(configured: str | None) -> list[str]:
    """The keys in ``RESOLUTIONFLOW_SECRET_KEY``: one, or several separated by commas (or
    whitespace), the newest first."""
    return [key for key in (configured or "").replace(",", " ").split() if key]


class Sealer:
    """Seals credentials with the first of its Fernet keys and opens them with any of them
    (`MultiFernet`), so a key can be rotated: put the new key first, keep the old ones
    until `Sealer.reseal` has run over every stored credential (``resolutionflow secret-key
    rotate``), then drop them."""

    def __init__(self, key: str | None) -> None:
        self._keys = secret_keys(key)

    @staticmethod
    def new_key() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    def check(self) -> None:
        """Raise `CredentialsLocked` unless there is a key and every key is a Fernet key."""
        self._fernet()

    def seal(self, credentials: dict[str, str]) -> str:
        token: bytes = self._fernet().encrypt(json.dumps(credentials).encode())
        return token.decode()

    def open(self, sealed: str) -> dict[str, str]:
        from cryptography.fernet import InvalidToken

        try:
            opened: dict[str, str] = json.loads(self._fernet().decrypt(sealed.encode()))
        except InvalidToken:
            raise CredentialsLocked(_ANOTHER_KEY) from None
        return opened

    def reseal(self, sealed: str) -> str:
        """``sealed`` opened with any key and sealed again with the newest (the first)."""
        from cryptography.fernet import InvalidToken

        try:
            token: bytes = self._fernet().rotate(sealed.encode())
        except InvalidToken:
            raise CredentialsLocked(_ANOTHER_KEY) from None
        return token.decode()

    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet, MultiFernet

        if not self._keys:
            raise CredentialsLocked(f"PSA credentials need a secret key: {SECRET_KEY_HELP}")
        fernets = []
        for place, key in enumerate(self._keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                which = f"key {place} of {len(self._keys)}" if len(self._keys) > 1 else "it"
                raise CredentialsLocked(
                    f"RESOLUTIONFLOW_SECRET_KEY is not a valid key ({which}): {SECRET_KEY_HELP}"
                ) from None
        return MultiFernet(fernets)


_ANOTHER_KEY = (
    "the stored PSA credentials were sealed with another key: add the "
    "RESOLUTIONFLOW_SECRET_KEY they were saved with (after the newest, comma-separated), "
    "or connect again"
)


@dataclass(frozen=True, slots=True)
class Resealed:
    """What re-sealing the stored credentials did: the accounts whose credentials are now
    sealed with the newest key, and those none of the keys could open (left as they were)."""

    resealed: list[str]
    locked: list[str]


async def reseal_credentials(store: PSAConnectionStore, sealer: Sealer) -> Resealed:
    """Seal every stored connection's credentials again with the newest key, in one
    transaction; credentials no key opens are left as they are and named."""
    sealer.check()  # no key, or a malformed one: say so once, before any record is read
    locked: list[str] = []

    def reseal(record: PSAConnectionRecord) -> str | None:
        try:
            return sealer.reseal(record.sealed_credentials)
        except CredentialsLocked:
            locked.append(record.account_id)
            return None

    resealed = await store.reseal(reseal)
    return Resealed(resealed=resealed, locked=locked)


@dataclass(frozen=True, slots=True)
class Discovered:
    """What testing a connection found out about the PSA instance (see the adapters'
    ``discover``): facts used (codebase, auth server, outcomes, note types) and choices."""

    facts: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    """A connection tested: the ticket read through it, and what was discovered."""

    ticket: Ticket
    discovered: Discovered


class _Providers(Mapping[str, "ProviderSpec"]):
    """The adapters' registry (`resolutionflow_psa.registry.PROVIDERS`), read on first use:
    the PSA adapters (and httpx) are imported only by what connects to a PSA."""

    def _specs(self) -> Mapping[str, ProviderSpec]:
        from resolutionflow_psa.registry import PROVIDERS as specs

        return specs

    def __getitem__(self, name: str) -> ProviderSpec:
        return self._specs()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())


PROVIDERS: Mapping[str, ProviderSpec] = _Providers()
"""Each provider's spec, by name: its connection model and the settings it requires and
accepts, and the credentials it keeps secret (read from the model, never restated)."""

TICKET_CHANGES = ("resolved", "escalated")


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """A connection as shown to people: never its credentials."""

    account_id: str
    provider: str
    settings: dict[str, Any]
    credentials_set: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


class ConfiguredPSAConnections:
    """The `PSAConnections` port over stored, sealed connections; plus their management."""

    def __init__(
        self,
        store: PSAConnectionStore,
        sealer: Sealer,
        *,
        allow_loopback: bool = False,
        tuning: Tuning | None = None,
    ) -> None:
        """``tuning``: the adapters' timeout, retry policy and injected parts (sleep,
        chance...), for every connection; a test's short waits, say."""
        self._store = store
        self._sealer = sealer
        self._allow_loopback = allow_loopback
        self._tuning: Tuning = tuning or {}
        self._clients: dict[str, tuple[datetime, PSAClient]] = {}

    # -- the port ---------------------------------------------------------------------------

    async def client_for(self, account_id: str) -> PSAClient:
        record = await self._store.get(account_id)
        if record is None:
            raise PSANotConfigured(account_id)
        cached = self._clients.get(account_id)
        if cached is not None and cached[0] == record.updated_at:
            return cached[1]
        client = self._build(
            record.provider, record.settings, self._sealer.open(record.sealed_credentials)
        )
        if cached is not None:
            await _close(cached[1])
        self._clients[account_id] = (record.updated_at, client)
        return client

    async def status_after(self, account_id: str, change: str) -> str | None:
        record = await self._store.get(account_id)
        if record is None:
            return None
        status = record.settings.get("statuses", {}).get(change)
        return status if isinstance(status, str) and status.strip() else None

    # -- management -------------------------------------------------------------------------

    async def connect(
        self,
        account_id: str,
        provider: str,
        settings: dict[str, Any],
        credentials: dict[str, str],
        *,
        now: datetime,
    ) -> ConnectionView:
        """Create or replace the account's connection: checked, and for a provider whose
        instance decides what the notes need (HaloPSA's outcomes), contacted to settle it."""
        spec = PROVIDERS.get(provider)
        if spec is None:
            raise InvalidInput("provider", f"must be one of {sorted(PROVIDERS)}")
        public = _checked_settings(spec, settings)
        secret = _checked_credentials(spec, credentials)
        connection = _connection(spec, public, secret)  # refuses bad values and hosts now
        client = self._client(connection)
        sealed = self._sealer.seal(secret)  # no key, no contact: fail before the PSA is asked
        try:
            public = {**public, **await _settled(connection, client)}
        finally:
            await _close(client)
        record = PSAConnectionRecord(account_id, provider, public, sealed, now, now)
        await self._store.save(record)
        saved = await self._store.get(account_id)
        assert saved is not None
        return _view(saved, spec)

    async def show(self, account_id: str) -> ConnectionView | None:
        record = await self._store.get(account_id)
        return None if record is None else _view(record, PROVIDERS.get(record.provider))

    async def test(self, account_id: str, ticket_id: str) -> ConnectionTest:
        """Read a ticket through the connection (proves the host, the credentials, the
        rights) and report what the adapter discovered about the instance."""
        from resolutionflow_psa import PSAConfigurationError

        client = await self.client_for(account_id)
        ticket = await client.get_ticket(ticket_id)
        discover = getattr(client, "discover", None)
        if discover is None:  # an adapter with nothing to discover (the in-memory PSA)
            return ConnectionTest(ticket, Discovered())
        try:
            found = await discover()
        except PSAConfigurationError as error:
            raise InvalidInput(client.provider, str(error)) from error
        return ConnectionTest(ticket, Discovered(dict(found.facts), dict(found.choices)))

    async def reseal(self) -> Resealed:
        """Seal every stored connection's credentials again with the newest key."""
        return await reseal_credentials(self._store, self._sealer)

    async def disconnect(self, account_id: str) -> bool:
        cached = self._clients.pop(account_id, None)
        if cached is not None:
            await _close(cached[1])
        return await self._store.delete(account_id)

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await _close(client)
        self._clients.clear()

    def _build(
        self, provider: str, settings: dict[str, Any], credentials: dict[str, str]
    ) -> PSAClient:
        return self._client(_connection(PROVIDERS[provider], settings, credentials))

    def _client(self, connection: PSAConnection) -> PSAClient:
        from resolutionflow_psa import HostGuard, PSAConfigurationError

        tuning: Tuning = {"guard": HostGuard(allow_loopback=self._allow_loopback), **self._tuning}
        try:
            return connection.client(**tuning)
        except PSAConfigurationError as error:
            raise InvalidInput(connection.PROVIDER, str(error)) from error


def _connection(
    spec: ProviderSpec, settings: dict[str, Any], credentials: dict[str, str]
) -> PSAConnection:
    """The provider's connection model from stored or entered values; `InvalidInput`
    naming the setting when it cannot work."""
    from pydantic import ValidationError

    from resolutionflow_psa import PSAConfigurationError, PSASettingInvalid

    values = {k: v for k, v in {**settings, **credentials}.items() if k != "statuses"}
    try:
        return spec.connection.model_validate(values)
    except PSASettingInvalid as error:
        where = "settings" if error.setting is None else f"settings.{error.setting}"
        raise InvalidInput(where, str(error)) from error
    except PSAConfigurationError as error:
        raise InvalidInput(spec.name, str(error)) from error
    except ValidationError as error:
        problem = error.errors()[0]
        name = str(problem["loc"][0]) if problem["loc"] else ""
        part = "credentials" if name in spec.secret else "settings"
        raise InvalidInput(f"{part}.{name}" if name else part, problem["msg"]) from None


async def _settled(connection: PSAConnection, client: PSAClient) -> dict[str, str]:
    """What the instance decides for the connection (HaloPSA's outcomes), checked."""
    from resolutionflow_psa import PSAConfigurationError, PSAHttpClient

    if not isinstance(client, PSAHttpClient):
        return {}
    try:
        return await connection.settle(client)
    except PSAConfigurationError as error:
        raise InvalidInput(connection.PROVIDER, str(error)) from error


def _checked_settings(spec: ProviderSpec, settings: dict[str, Any]) -> dict[str, Any]:
    allowed = {*spec.required, *spec.optional, "statuses"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise InvalidInput("settings", f"unknown for {spec.name}: {', '.join(unknown)}")
    missing = [name for name in spec.required if not str(settings.get(name) or "").strip()]
    if missing:
        raise InvalidInput("settings", f"{spec.name} needs {', '.join(missing)}")
    statuses = settings.get("statuses") or {}
    if not isinstance(statuses, dict) or set(statuses) - set(TICKET_CHANGES):
        raise InvalidInput("settings.statuses", f"may name a status for {list(TICKET_CHANGES)}")
    return {**{k: v for k, v in settings.items() if k != "statuses"}, "statuses": dict(statuses)}


def _checked_credentials(spec: ProviderSpec, credentials: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(credentials) - set(spec.secret))
    if unknown:
        raise InvalidInput("credentials", f"unknown for {spec.name}: {', '.join(unknown)}")
    missing = [name for name in spec.secret if not str(credentials.get(name) or "").strip()]
    if missing:
        raise InvalidInput("credentials", f"{spec.name} needs {', '.join(missing)}")
    return {name: str(credentials[name]) for name in spec.secret}


def _view(record: PSAConnectionRecord, spec: ProviderSpec | None) -> ConnectionView:
    return ConnectionView(
        account_id=record.account_id,
        provider=record.provider,
        settings=record.settings,
        credentials_set=spec.secret if spec else (),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


async def _close(client: PSAClient) -> None:
    close = getattr(client, "aclose", None)
    if close is not None:
        await close()
