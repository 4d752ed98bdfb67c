"""Per-account PSA connections, as stored: provider, settings, and sealed credentials.

The store keeps credentials only as an opaque sealed blob (the composition root encrypts
them before they reach it); nothing that reads a connection back for display ever sees
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from resolutionflow_core.errors import NotFound


@dataclass(frozen=True, slots=True)
class PSAConnectionRecord:
    account_id: str
    provider: str
    settings: dict[str, Any]
    """Non-secret settings: site or base URL, ids, the ticket statuses to set."""
    sealed_credentials: str = field(repr=False)
    created_at: datetime
    updated_at: datetime


class PSAConnectionStore(Protocol):
    async def save(self, record: PSAConnectionRecord) -> None:
        """Create or replace the account's connection."""
        ...

    async def get(self, account_id: str) -> PSAConnectionRecord | None: ...

    async def delete(self, account_id: str) -> bool:
        """Remove the account's connection; False if it had none."""
        ...

    async def reseal(self, reseal: Callable[[PSAConnectionRecord], str | None]) -> list[str]:
        """Replace each connection's sealed credentials with ``reseal(record)`` (None leaves
        it as it is), all in one transaction; the accounts whose credentials were replaced.
        A connection saved meanwhile is not overwritten with credentials sealed before."""
        ...


class ConnectionNotFound(NotFound):
    """The account has no PSA connection to show or remove."""

    code = "psa_connection_not_found"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id} has no PSA connection")
        self.account_id = account_id
