"""The PostgreSQL server the tests use: 127.0.0.1:5432 unless RESOLUTIONFLOW_TEST_POSTGRES.

Each test run creates its own database and drops it at the end. Without a server the
PostgreSQL tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

ADMIN_URL = os.environ.get(
    "RESOLUTIONFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class PostgresServer:
    admin_url: str
    database: str

    @property
    def database_url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.database}"


async def _admin(statement: str) -> None:
    import asyncpg

    dsn = ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def start_postgres() -> PostgresServer:
    """A fresh database on the server, or skip (fail under CI) if there is no server."""
    name = f"rf_test_{uuid.uuid4().hex[:12]}"
    try:
        _run_admin(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError, ConnectionError) as error:
        reason = f"no PostgreSQL server at {ADMIN_URL}: {error!r}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true, so a missing PostgreSQL is a failure: {reason}")
        pytest.skip(reason)
    return PostgresServer(ADMIN_URL, name)


def drop_postgres(server: PostgresServer) -> None:
    _run_admin(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')


def _run_admin(statement: str) -> None:
    """Run an admin statement on its own loop in a thread (callers may be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin(statement)).result()
