"""The real server on a PostgreSQL cluster of the test's own, under load, while the cluster
is stopped, frozen (SIGSTOP), and while the server itself is killed (``kill -9``).

What must hold: a 503 ``database_unavailable`` (with ``Retry-After``) while the database is
away, never a 500; an answer by the deadline when it hangs; recovery by itself; and every
acknowledged message stored exactly once, also across a crash (keys of requests in flight
are taken over after their lease, and complete exactly once).
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.cluster import Cluster, cluster, wait_until
from tests.reliability.load import ChatLoad, check_integrity
from tests.servers import KEY, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.process]

DATABASE_TIMEOUT = 1.5
REQUEST_TIMEOUT = 4.0
LEASE = 2.0
SETTINGS = {
    "RESOLUTIONFLOW_DATABASE_TIMEOUT": str(DATABASE_TIMEOUT),
    "RESOLUTIONFLOW_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
    "RESOLUTIONFLOW_IDEMPOTENCY_LEASE_SECONDS": str(LEASE),
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[Cluster]:
    # Not under pytest's temp dir: that one is private to the test's user, and the cluster
    # may run as another (postgres, when the tests run as root).
    directory = Path(tempfile.mkdtemp(prefix="rf-cluster-"))
    try:
        yield from cluster(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def served(
    postgres: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    server = ServerProcess(postgres.url, tmp_path_factory.mktemp("server")).start(**SETTINGS)
    try:
        server.wait_ready()
        keys = KEY.findall(server.stdout)
        assert len(keys) == 1, server.stdout
        yield server, {"Authorization": f"Bearer {keys[0]}"}
    finally:
        server.stop()


EXPECTED_REFUSALS = (
    "409 idempotency_key_in_use",
    "503 database_unavailable",
    "503 request_timeout",
)
"""What a careful client meets in these faults, and retries with the same key."""


def _unexpected(statuses: Iterable[str]) -> list[str]:
    """Statuses that are neither a success, a lost connection, nor an expected refusal (a
    500 above all, or a 409 that would have the client give up or retry forever)."""
    return [s for s in statuses if s[:1] in "45" and s not in EXPECTED_REFUSALS]


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_an_outage_is_503_then_the_server_recovers_and_nothing_acknowledged_is_lost(
    postgres: Cluster, served: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, owner = served
    load = ChatLoad(server.base_url, owner).start()
    try:
        assert wait_until(lambda: load.count("200") >= 20, 20), load.statuses
        postgres.stop()
        assert wait_until(lambda: load.count("503 database_unavailable") >= 10, 15), load.statuses
        during = httpx.get(f"{server.base_url}/api/v1/ai-sessions", headers=owner, timeout=10)
        waiting = load.in_flight()
        postgres.start()
        # Recovered by itself: every message the clients were retrying is acknowledged.
        assert wait_until(lambda: all(m.acknowledged for m in waiting), 30), load.statuses
    finally:
        load.stop()

    assert during.status_code == 503
    assert during.json()["code"] == "database_unavailable"
    assert int(during.headers["retry-after"]) >= 1
    assert _unexpected(load.statuses) == [], load.statuses
    assert check_integrity(server.base_url, owner, load) == []


def test_a_frozen_database_is_answered_by_the_deadline(
    postgres: Cluster, served: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, owner = served
    postgres.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        frozen = httpx.get(f"{server.base_url}/api/v1/ai-sessions", headers=owner, timeout=30)
        took = time.monotonic() - started
        health = httpx.get(f"{server.base_url}/health", timeout=30)
    finally:
        postgres.signal(signal.SIGCONT)

    assert frozen.status_code == 503, frozen.text
    assert frozen.json()["code"] in ("database_unavailable", "request_timeout")
    assert took <= REQUEST_TIMEOUT + 3.0, took  # not the 60-74 s hang; margin for a loaded CI
    assert health.status_code == 503
    assert wait_until(lambda: _healthy(server.base_url), 20)
    listed = httpx.get(f"{server.base_url}/api/v1/ai-sessions", headers=owner, timeout=10)
    assert listed.status_code == 200


def test_after_kill_9_under_load_every_acknowledged_message_is_there_once(
    postgres: Cluster, served: tuple[ServerProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, owner = served
    load = ChatLoad(server.base_url, owner).start()
    try:
        assert wait_until(lambda: load.count("200") >= 30, 20), load.statuses
        assert server.process is not None
        server.process.kill()  # SIGKILL: no clean-up, requests in flight cut off
        server.process.wait(10)
        cut_off = load.in_flight()
        restarted = ServerProcess(postgres.url, tmp_path, port=server.port).start(**SETTINGS)
        restarted.wait_ready()
        # Clients retry the keys that were in flight; after the lease each completes (once:
        # checked below). Waiting for exactly those, not for a number of other messages.
        assert wait_until(lambda: all(m.acknowledged for m in cut_off), 30), load.statuses
    finally:
        load.stop()
    try:
        assert _unexpected(load.statuses) == [], load.statuses
        assert check_integrity(restarted.base_url, owner, load) == []
    finally:
        restarted.stop()
