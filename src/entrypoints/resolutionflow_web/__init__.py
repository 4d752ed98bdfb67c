"""The web app engineers work in: Litestar pages (Jinja2 templates, htmx, server-sent events).

`create_web_app(application)` builds it over the same `Application` and use cases as the
HTTP API;
``resolutionflow serve`` mounts it at ``/`` beside ``/api/v1``.
"""

from resolutionflow_web.app import create_web_app

__all__ = ["create_web_app"]
