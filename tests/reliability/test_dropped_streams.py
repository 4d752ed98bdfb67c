"""A client leaving a streamed reply is normal: no WARNING, the reply still stored."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import struct
import time
from pathlib import Path

import httpx

from resolutionflow_core.access import Actor, Role
from resolutionflow_memory import OfflineLLM
from tests.api.conftest import MemoryConnections, build_application
from tests.reliability.inprocess import serve

STREAMS = 20


def _drop_after_first_bytes(base_url: str, path: str, authorization: str) -> None:
    """Send the request, read the first bytes of the stream, then reset the connection."""
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps({"content": "and then?"}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + body)
        assert connection.recv(64).startswith(b"HTTP/1.1 200")
        # Linger 0: close with a reset, as a client killed mid-stream does.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_dropped_streams_log_no_warning_and_keep_every_reply(
    migrated_database: Path, tmp_path: Path
) -> None:
    path = tmp_path / "streams.sqlite3"
    shutil.copyfile(migrated_database, path)
    application = build_application(f"sqlite:///{path}", OfflineLLM(), MemoryConnections({}))
    actor = Actor("acme", "alice", Role.ENGINEER)
    key = asyncio.run(application.keys.create(actor, "t", now=application.clock.now())).secret
    authorization = f"Bearer {key}"

    with serve(application) as base_url:
        created = httpx.post(
            f"{base_url}/api/v1/ai-sessions",
            json={"session_type": "chat", "message": "VPN drops every hour"},
            headers={"Authorization": authorization},
        )
        chat = created.json()["id"]
        # Attached once the server runs: Litestar's logging set-up replaces the root's handlers.
        collected = Collected()
        root = logging.getLogger()
        level = root.level
        root.addHandler(collected)
        root.setLevel(logging.DEBUG)
        try:
            for _ in range(STREAMS):
                _drop_after_first_bytes(
                    base_url, f"/api/v1/ai-sessions/{chat}/chat/stream", authorization
                )
                # The next message is refused (409) until the dropped reply is stored.
                for _ in range(100):
                    session = httpx.get(
                        f"{base_url}/api/v1/ai-sessions/{chat}",
                        headers={"Authorization": authorization},
                    ).json()
                    if session["messages"][-1]["role"] == "assistant":
                        break
                    time.sleep(0.02)
        finally:
            root.removeHandler(collected)
            root.setLevel(level)
    records = [
        r
        for r in collected.records
        if not r.name.startswith(("httpx", "httpcore", "uvicorn.access"))
    ]

    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert warnings == [], [r.getMessage() for r in warnings]
    assert len(records) <= STREAMS, [r.getMessage() for r in records]
    # Every dropped stream's reply was still stored: 1 + 20 messages, each answered.
    assert session["step_count"] == 2 * (1 + STREAMS)
