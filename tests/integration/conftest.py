"""Integration tests run against real databases: a SQLite file and the PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.databases import SQL_DATABASES, empty_storage, url_for


@pytest.fixture(params=SQL_DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database with the current schema."""
    url = url_for(request, tmp_path / "sessions.db")
    await (await empty_storage(url)).dispose()
    return url
