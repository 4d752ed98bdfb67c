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

TIMEOUT = 1.0


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
                thread = threading.Thread(
                    target=lambda: written.append(
                        writer.post(
                            f"/api/v1/ai-sessions/{chat}/chat",
                            json={"content": "blocked"},
                            headers=headers,
                        )
                    )
                )
                thread.start()
                time.sleep(0.3)
                read_started = time.monotonic()
                read = client.get(f"/api/v1/ai-sessions/{chat}", headers=headers)
                read_took = time.monotonic() - read_started
                time.sleep(max(0.0, 0.7 - (time.monotonic() - started)))
                health = client.get("/health")
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
    assert took < TIMEOUT + 2.0, took
    assert read.status_code == 200
    assert read_took < 0.5, read_took  # reads do not queue behind the waiting write
    assert (health.status_code, health.json()["database"]) == (200, "busy")
    assert after.status_code == 200, after.text
