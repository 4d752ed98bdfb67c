"""The real server process (``python -m resolutionflow_api``) on 127.0.0.1, for the tests
that drive it over HTTP: started with the operator's environment minus any
``RESOLUTIONFLOW_*`` or Anthropic setting, its output kept in files, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

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
