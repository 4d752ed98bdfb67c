"""Integration tests run against real databases: a SQLite file and the PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.tables import metadata
from tests.databases import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database with the current schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database_url
    storage = SqlStorage.from_url(url)

    def reset(conn: sa.Connection) -> None:
        metadata.drop_all(conn)
        metadata.create_all(conn)

    await storage.database.write(reset)
    await storage.dispose()
    return url
