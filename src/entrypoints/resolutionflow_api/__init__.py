"""The HTTP API: a Litestar app over the core services.

`create_app(application)` builds the app; `resolutionflow_api.server.run(settings)` serves it
(what ``resolutionflow serve`` runs).
"""

from resolutionflow_api.app import create_app

__all__ = ["create_app"]
