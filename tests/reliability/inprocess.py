"""The API served by a real uvicorn server in a thread of the test process, on 127.0.0.1.

For tests that need real sockets (dropped connections) but steer the adapters (the offline
LLM's pace, failures): `serve(application)` yields the base URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from resolutionflow_api import create_app
from resolutionflow_api.server import NoDelayHTTPProtocol
from resolutionflow_app import Application
from tests.servers import free_port


@contextmanager
def serve(application: Application) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(application),
        host="127.0.0.1",
        port=port,
        http=NoDelayHTTPProtocol,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the in-process server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
