"""What an owner enters to connect an account to a PSA, as each adapter declares it.

Each adapter module exports a `PSAConnection` model (its settings, the credentials typed
`SecretStr`, the rules between them) whose ``client()`` builds the adapter, and whose
``settle()`` contacts the instance when saving needs it (HaloPSA's outcomes). The registry
(`resolutionflow_psa.registry`) only lists them; `ProviderSpec` reads the model's fields
(required, optional, secret), so no one restates a provider's field names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from resolutionflow_psa.http import Injected, PSAHttpClient, RetryPolicy

if TYPE_CHECKING:
    from typing_extensions import Unpack


class Tuning(Injected, total=False):
    """What the operator or a test may set for every adapter besides the connection: the
    request timeout and the retry policy, and what `Injected` hands the adapter."""

    timeout: float
    retry: RetryPolicy


class PSAConnection(BaseModel, ABC):
    """A provider's connection: settings (``str``) and credentials (``SecretStr``).

    Built from what an owner entered: values are stripped, blank optional ones are unset,
    numbers are taken as text, anything not declared is refused. Rules between settings
    raise `PSASettingInvalid` naming the setting."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, coerce_numbers_to_str=True
    )

    PROVIDER: ClassVar[str]

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @abstractmethod
    def client(self, **tuning: Unpack[Tuning]) -> PSAHttpClient:
        """The adapter for this connection (``PSAConfigurationError`` if it cannot work)."""

    async def settle(self, client: PSAHttpClient) -> dict[str, str]:
        """Contacted when the connection is saved: check the instance and return settings
        to store with the connection. Most PSAs need nothing: ``{}``."""
        return {}

    @staticmethod
    def options(tuning: Tuning) -> tuple[dict[str, Any], Injected]:
        """``tuning`` split into the adapter settings' part (timeout, retry) and the rest."""
        settings: dict[str, Any] = {}
        injected: Injected = {}
        for name, value in tuning.items():
            if name in ("timeout", "retry"):
                settings[name] = value
            else:
                injected[name] = value  # type: ignore[literal-required]
        return settings, injected


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider as the registry lists it: its connection model and, read from the model,
    the settings it requires and accepts and the credentials it keeps secret."""

    connection: type[PSAConnection]
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    secret: tuple[str, ...]

    @classmethod
    def of(cls, connection: type[PSAConnection]) -> ProviderSpec:
        fields = connection.model_fields
        secret = tuple(name for name, f in fields.items() if _is_secret(f.annotation))
        public = [name for name in fields if name not in secret]
        return cls(
            connection=connection,
            name=connection.PROVIDER,
            required=tuple(name for name in public if fields[name].is_required()),
            optional=tuple(name for name in public if not fields[name].is_required()),
            secret=secret,
        )


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or annotation == SecretStr | None


def providers(*connections: type[PSAConnection]) -> dict[str, ProviderSpec]:
    """The registry's mapping: each connection model's spec under its provider name."""
    specs = [ProviderSpec.of(connection) for connection in connections]
    return {spec.name: spec for spec in specs}
