"""Headers every response needs, set once for the whole app (``before_send`` hooks).

- ``X-Content-Type-Options: nosniff`` on every response, and ``Cache-Control: no-store`` on
  the API's, which are private to a key and may carry a secret (a new API key) that no cache
  may keep (a stream keeps its ``no-cache``).
- ``Allow`` on ``OPTIONS``: every method of the path. Litestar's automatic OPTIONS handler
  lists only the methods of the first controller that declared the path (``/ai-sessions``
  said ``OPTIONS, POST``, its GET missing), so the header is recomputed from the app's routes.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope


async def safety_headers(message: Message, scope: Scope) -> None:
    """``nosniff`` everywhere; ``no-store`` on the API's responses (private, maybe secret)."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["X-Content-Type-Options"] = "nosniff"
    if str(scope.get("path", "")).startswith("/api/") and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"  # a stream's own no-cache stays
    if scope.get("method") == "OPTIONS" and "Allow" in headers:
        methods = _methods(scope)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods | {"OPTIONS"}))


def _methods(scope: Scope) -> set[str]:
    """Every method the app serves at the request's path template."""
    template = scope.get("path_template")
    app = scope.get("app")
    if not template or app is None:
        return set()
    handlers = app.route_handler_method_map.get(template, {})
    return {str(method) for method in handlers}
