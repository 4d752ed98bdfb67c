"""Shared test set-up: hypothesis profiles, a clock and ids that tests control."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.databases import PostgresServer, drop_postgres, start_postgres

# The tests never reach a real Anthropic host or an operator's database: settings that an
# operator's shell may carry are dropped before anything (or any subprocess) reads them.
for _name in list(os.environ):
    if _name.startswith("ANTHROPIC_") or (
        _name.startswith("RESOLUTIONFLOW_") and _name != "RESOLUTIONFLOW_TEST_POSTGRES"
    ):
        del os.environ[_name]

settings.register_profile(
    "ci",
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=60, stateful_step_count=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


class StepClock:
    """A clock that moves one second forward every time it is read."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(seconds=1)):
        self.current = start or datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
        self.step = step

    def now(self) -> datetime:
        self.current += self.step
        return self.current


class SequentialIds:
    """Session ids 00000000-...-000000000001, ...002, in order."""

    def __init__(self) -> None:
        self.count = 0

    def new_session_id(self) -> uuid.UUID:
        self.count += 1
        return uuid.UUID(int=self.count)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A database of this test run on the PostgreSQL server, dropped at the end."""
    server = start_postgres()
    try:
        yield server
    finally:
        drop_postgres(server)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest revision, migrated once per run; tests copy it."""
    from resolutionflow_sqlalchemy import migrations

    path = tmp_path_factory.mktemp("migrated") / "template.sqlite3"
    asyncio.run(migrations.upgrade(f"sqlite:///{path}"))
    return path


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds()
