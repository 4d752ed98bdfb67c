"""The ASGI entry for uvicorn worker processes: ``resolutionflow_api.asgi:app_factory``.

``uvicorn --factory resolutionflow_api.asgi:app_factory`` builds the app from the
``RESOLUTIONFLOW_*`` environment. It neither migrates nor creates keys: `server.run` did.
"""

from __future__ import annotations

from litestar.types import ASGIApp

from resolutionflow_api.server import served_app
from resolutionflow_app import Settings, open_application


def app_factory() -> ASGIApp:
    return served_app(open_application(Settings()))
