"""The API served by a real uvicorn server in a thread of the test process, on 127.0.0.1.

For tests that need real sockets (dropped connections) but steer the adapters (the offline
LLM's pace, failures): `serve(application)` yields the base URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from resolutionflow_api import create_app
from resolutionflow_api.server import NoDelayHTTPProtocol
from resolutionflow_app import Application
from tests.servers import serving_in_thread


@contextmanager
def serve(application: Application) -> Iterator[str]:
    app = create_app(application)
    with serving_in_thread(app, "in-process API", http=NoDelayHTTPProtocol, lifespan="on") as port:
        yield f"http://127.0.0.1:{port}"
