"""PSA adapters over HTTP: ConnectWise PSA, HaloPSA and Autotask (the ``[psa]`` extra).

Each implements the core's `PSAClient` port (``provider``, ``get_ticket``, ``post_note``,
``change_status``, ``find_note``) with `httpx`, and adds ``list_statuses`` and
``list_notes``. Build one from its settings; pass an `httpx.AsyncClient` to share one, and
close what you built with ``aclose()`` (or ``async with``). Each adapter module also
exports its connection model (``ConnectWiseConnection``...: the settings an owner enters,
credentials as ``SecretStr``, and ``client()``); `resolutionflow_psa.registry.PROVIDERS`
lists them. See ``docs/psa.md``.
"""

from resolutionflow_psa.autotask import AutotaskConnection, AutotaskPSA, AutotaskSettings
from resolutionflow_psa.connection import ProviderSpec, PSAConnection, Tuning
from resolutionflow_psa.connectwise import (
    ConnectWiseConnection,
    ConnectWisePSA,
    ConnectWiseSettings,
)
from resolutionflow_psa.errors import (
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSAHostRefused,
    PSANotFound,
    PSARateLimited,
    PSARequestRejected,
    PSAResponseInvalid,
    PSASettingInvalid,
    PSAUnavailable,
    StatusChangeIgnored,
    UnknownStatus,
)
from resolutionflow_psa.guard import GuardedTransport, HostGuard
from resolutionflow_psa.halopsa import HaloPSA, HaloPSAConnection, HaloPSASettings
from resolutionflow_psa.http import PSAHttpClient, RetryPolicy, TicketNote, TicketStatus
from resolutionflow_psa.marker import carries_marker, marker_token, with_marker

__all__ = [
    "AutotaskConnection",
    "AutotaskPSA",
    "AutotaskSettings",
    "ConnectWiseConnection",
    "ConnectWisePSA",
    "ConnectWiseSettings",
    "GuardedTransport",
    "HaloPSA",
    "HaloPSAConnection",
    "HaloPSASettings",
    "HostGuard",
    "PSAAuthenticationFailed",
    "PSAConfigurationError",
    "PSAConnection",
    "PSAHostRefused",
    "PSAHttpClient",
    "PSANotFound",
    "PSARateLimited",
    "PSARequestRejected",
    "PSAResponseInvalid",
    "PSASettingInvalid",
    "PSAUnavailable",
    "ProviderSpec",
    "RetryPolicy",
    "StatusChangeIgnored",
    "TicketNote",
    "TicketStatus",
    "Tuning",
    "UnknownStatus",
    "carries_marker",
    "marker_token",
    "with_marker",
]
