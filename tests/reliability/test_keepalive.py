"""Several workers cost no latency: keep-alive requests to 2 workers are as fast as to 1.

uvicorn's multi-worker socket left Nagle's algorithm on for accepted connections, and each
response waited for the client's delayed ACK (~40 ms); `NoDelayHTTPProtocol` turns it off.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_server_process import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.process]

REQUESTS = 60


def _keepalive_latency(server: ServerProcess) -> float:
    """The median seconds of sequential requests over one kept-alive connection."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for _ in range(5):  # warm up: the connection, the pool, the first queries
            client.get("/health").raise_for_status()
        samples = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            response = client.get("/health")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return statistics.median(samples)


def test_two_workers_answer_keepalive_requests_as_fast_as_one(tmp_path: Path) -> None:
    servers = {
        workers: ServerProcess(
            f"sqlite:///{tmp_path / f'keepalive-{workers}.sqlite3'}", tmp_path, workers=workers
        ).start()
        for workers in (1, 2)
    }  # started together: the start-up dominates this test's time
    try:
        latency = {workers: _keepalive_latency(s.wait_ready()) for workers, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    print(f"keep-alive median latency: {latency}")
    # Nagle against delayed ACK made each request >= 40 ms with 2 workers.
    assert latency[2] < 0.030, latency
    assert latency[2] <= 1.5 * max(latency[1], 0.002), latency
