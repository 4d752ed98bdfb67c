"""The web app engineers work in: Litestar pages (Jinja2 templates, htmx, server-sent events).

`create_web_app(application, session_deliveries=...)` builds it over the same `Application`
as the HTTP API (and the API's own retry of failed PSA deliveries);
``resolutionflow serve`` mounts it at ``/`` beside ``/api/v1``.
"""

from resolutionflow_web.app import create_web_app

__all__ = ["create_web_app"]
