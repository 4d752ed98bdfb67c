"""Servers on 127.0.0.1 for the tests that talk to one over real sockets.

`ServerProcess`: the real server process (``python -m resolutionflow_api``), started with the
operator's environment minus any ``RESOLUTIONFLOW_*`` or Anthropic setting, its output kept
in files, stopped with SIGTERM. `serving_in_thread`: an ASGI app (a stub of a provider's
API, or the API itself with a test's adapters) under uvicorn in a thread of the test process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

KEY = re.compile(r"^\s+(rf_[0-9a-f]{12}_\S+)$", re.MULTILINE)
"""The first owner key, as the first start on an empty database prints it."""
STARTUP_SECONDS = 120
"""A bound, not a wait: on a loaded 2-core machine a start (imports, migrations) took 60 s."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    database_url: str
    directory: Path
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return (self.directory / f"stdout-{self.port}.txt").read_text()

    @property
    def stderr(self) -> str:
        return (self.directory / f"stderr-{self.port}.txt").read_text()

    def start(self, **env: str) -> ServerProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONFLOW_")}
        environment.pop("ANTHROPIC_API_KEY", None)
        environment |= {
            "RESOLUTIONFLOW_DATABASE_URL": self.database_url,
            "RESOLUTIONFLOW_HOST": "127.0.0.1",
            "RESOLUTIONFLOW_PORT": str(self.port),
            "RESOLUTIONFLOW_WORKERS": str(self.workers),
            "RESOLUTIONFLOW_LLM": "offline",
            **env,
        }
        with (
            (self.directory / f"stdout-{self.port}.txt").open("wb") as stdout,
            (self.directory / f"stderr-{self.port}.txt").open("wb") as stderr,
        ):
            self.process = subprocess.Popen(
                [sys.executable, "-m", "resolutionflow_api"],
                cwd=self.directory,
                env=environment,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its own process group: workers are killed with it
            )
        return self

    def wait_ready(self) -> ServerProcess:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.stderr}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.stderr}")

    def terminate(self) -> int:
        """SIGTERM, and the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Not left behind (a server still starting its workers ignores SIGTERM for a
            # while): the whole group, workers included, then the failure.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise

    def stop(self) -> None:
        """Clean-up after a test: SIGTERM, then SIGKILL if it has not exited within a minute
        (a loaded CI machine can take long to shut two workers down; that is not what the
        test was about — the tests of a graceful exit assert `terminate()`'s status)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the workers too, not only the parent
            self.process.wait(timeout=30)


@contextmanager
def serving_in_thread(app: Any, name: str, **options: Any) -> Iterator[int]:
    """uvicorn serving the ASGI ``app`` on 127.0.0.1, a free port, which it yields.

    In a thread of its own, with its own loop: the client under test may block or cancel the
    test's loop without taking the server down, and uvicorn installs no signal handlers off
    the main thread. ``options``: more of uvicorn's `Config`."""
    config = uvicorn.Config(
        app,
        **{
            "host": "127.0.0.1",
            "port": 0,
            "log_config": None,
            "log_level": "critical",
            "access_log": False,
            **options,
        },
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.005)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Received:
    """One request as a stub on `serving_in_thread` received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: Any
    """As the stub decoded it."""
    received_at: float
    """`time.monotonic()` when the request arrived."""


async def request_body(receive: Any) -> bytes:
    """The whole body of an ASGI HTTP request, however many messages it came in."""
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)


async def start_response(send: Any, status: int, headers: dict[str, str]) -> None:
    """Send an ASGI HTTP response's status and headers (its body follows)."""
    encoded = [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": encoded})
