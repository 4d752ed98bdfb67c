"""PSA adapters over HTTP: ConnectWise PSA, HaloPSA and Autotask (the ``[psa]`` extra).

Each implements the core's `PSAClient` port (``provider``, ``get_ticket``, ``post_note``,
``change_status``, ``find_note``) with `httpx`, and adds ``list_statuses`` and
``list_notes``. Build one from its settings; pass an `httpx.AsyncClient` to share one, and
close what you built with ``aclose()`` (or ``async with``). See ``docs/psa.md``.
"""

from resolutionflow_psa.autotask import AutotaskPSA, AutotaskSettings
from resolutionflow_psa.connectwise import ConnectWisePSA, ConnectWiseSettings
from resolutionflow_psa.errors import (
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSAHostRefused,
    PSANotFound,
    PSARateLimited,
    PSARequestRejected,
    PSAResponseInvalid,
    PSAUnavailable,
    StatusChangeIgnored,
    UnknownStatus,
)
from resolutionflow_psa.guard import GuardedTransport, HostGuard
from resolutionflow_psa.halopsa import HaloPSA, HaloPSASettings
from resolutionflow_psa.http import PSAHttpClient, RetryPolicy, TicketNote, TicketStatus
from resolutionflow_psa.marker import carries_marker, marker_token, with_marker

__all__ = [
    "AutotaskPSA",
    "AutotaskSettings",
    "ConnectWisePSA",
    "ConnectWiseSettings",
    "GuardedTransport",
    "HaloPSA",
    "HaloPSASettings",
    "HostGuard",
    "PSAAuthenticationFailed",
    "PSAConfigurationError",
    "PSAHostRefused",
    "PSAHttpClient",
    "PSANotFound",
    "PSARateLimited",
    "PSARequestRejected",
    "PSAResponseInvalid",
    "PSAUnavailable",
    "RetryPolicy",
    "StatusChangeIgnored",
    "TicketNote",
    "TicketStatus",
    "UnknownStatus",
    "carries_marker",
    "marker_token",
    "with_marker",
]
