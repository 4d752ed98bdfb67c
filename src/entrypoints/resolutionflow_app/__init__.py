"""The composition root shared by the HTTP API and the CLI: settings, adapters, services."""

from resolutionflow_app.bootstrap import (
    Application,
    StartupError,
    build_llm,
    open_application,
    prepare_database,
)
from resolutionflow_app.settings import Settings

__all__ = [
    "Application",
    "Settings",
    "StartupError",
    "build_llm",
    "open_application",
    "prepare_database",
]
