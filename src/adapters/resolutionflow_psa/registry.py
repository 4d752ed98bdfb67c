"""The PSAs an account can connect to: each adapter's connection model, one line each.

Adding a provider is one adapter module (its client and its `PSAConnection`), one line
here, and its stub and tests; nothing else names its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from resolutionflow_psa.autotask import AutotaskConnection
from resolutionflow_psa.connection import ProviderSpec, providers
from resolutionflow_psa.connectwise import ConnectWiseConnection
from resolutionflow_psa.halopsa import HaloPSAConnection

PROVIDERS: Final[Mapping[str, ProviderSpec]] = providers(
    ConnectWiseConnection,
    HaloPSAConnection,
    AutotaskConnection,
)
