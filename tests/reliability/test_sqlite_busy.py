"""SQLite with its write lock held by another process: writes are a 503 by the deadline,
reads are not held up, and ``/health`` says "busy", not "down"."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from resolutionflow_app import Application, Settings, open_application
from resolutionflow_core.access import Actor, Role
from resolutionflow_memory import InMemoryPSAConnections
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from tests.reliability.inprocess import serve

TIMEOUT = 5.0
"""The writer's deadline. /health says "busy" once a write waited 1 s, so the read below
runs while the write still has seconds to wait: a read queued behind it would take them."""
READ_BOUND = 2.0


def _application(url: str) -> Application:
    storage = SqlStorage.from_url(url, timeout=TIMEOUT)
    return open_application(
        Settings(database_url=url, llm="offline", relay_in_process=False),
        storage=storage,
        psa=InMemoryPSAConnections({}),
        keys=SqlKeyStore(storage.database),
    )


def test_a_write_lock_held_elsewhere_is_503_busy_by_the_deadline_and_reads_go_on(
    migrated_database: Path, tmp_path: Path
) -> None:
    path = tmp_path / "busy.sqlite3"
    shutil.copyfile(migrated_database, path)
    application = _application(f"sqlite:///{path}")
    actor = Actor("acme", "alice", Role.ENGINEER)
    key = asyncio.run(application.keys.create(actor, "t", now=application.clock.now())).secret
    headers = {"Authorization": f"Bearer {key}"}

    with serve(application) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        chat = client.post(
            "/api/v1/ai-sessions", json={"session_type": "chat", "message": "hi"}, headers=headers
        ).json()["id"]
        other_process = sqlite3.connect(path, isolation_level=None)  # another writer
        other_process.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with httpx.Client(base_url=base_url, timeout=30) as writer:
                written: list[httpx.Response] = []
                answered: list[float] = []

                def write() -> None:
                    written.append(
                        writer.post(
                            f"/api/v1/ai-sessions/{chat}/chat",
                            json={"content": "blocked"},
                            headers=headers,
                        )
                    )
                    answered.append(time.monotonic())

                thread = threading.Thread(target=write)
                thread.start()
                # Polled, not slept: "busy" as soon as the write has waited its second.
                health = client.get("/health")
                while health.json()["database"] != "busy" and thread.is_alive():
                    time.sleep(0.05)
                    health = client.get("/health")
                read_started = time.monotonic()
                read = client.get(f"/api/v1/ai-sessions/{chat}", headers=headers)
                read_done = time.monotonic()
                thread.join(30)
            took = time.monotonic() - started
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        after = client.post(
            f"/api/v1/ai-sessions/{chat}/chat", json={"content": "free again"}, headers=headers
        )

    refused = written[0]
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "database_unavailable"
    assert refused.json()["title"] == "Database busy"
    assert refused.headers["retry-after"] == "1"
    assert took < TIMEOUT + 3.0, took
    assert (health.status_code, health.json()["database"]) == (200, "busy")
    assert read.status_code == 200
    # Reads do not queue behind the waiting write: answered in well under the seconds the
    # write still waited, and before the write's own answer.
    assert read_done - read_started < READ_BOUND, read_done - read_started
    assert read_done < answered[0], (read_done, answered)
    assert after.status_code == 200, after.text
