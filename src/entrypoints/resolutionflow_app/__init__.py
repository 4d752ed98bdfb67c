"""The composition root shared by the HTTP API and the CLI: settings, adapters, services.

The names are imported on first use: `Settings` alone does not load the adapters (and
SQLAlchemy with them), so a command that only reads the settings does not wait for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resolutionflow_app.bootstrap import (
        Application,
        StartupError,
        build_llm,
        open_application,
        open_storage,
        prepare_database,
    )
    from resolutionflow_app.settings import Settings

_HOMES = {
    "Application": "bootstrap",
    "StartupError": "bootstrap",
    "build_llm": "bootstrap",
    "open_application": "bootstrap",
    "open_storage": "bootstrap",
    "prepare_database": "bootstrap",
    "Settings": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"resolutionflow_app.{home}"), name)
    globals()[name] = value  # found directly from now on
    return value


__all__ = [
    "Application",
    "Settings",
    "StartupError",
    "build_llm",
    "open_application",
    "open_storage",
    "prepare_database",
]
