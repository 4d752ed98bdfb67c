"""The storage contract: the same tests run against every repository/unit-of-work adapter.

Each adapter provides a `StorageHarness`: a unit-of-work factory and a view of its outbox.
The SQL adapters join the `storage` fixture's parameters as they land.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from resolutionflow_core.ports import UnitOfWork
from resolutionflow_memory import InMemoryStorage


@dataclass
class StorageHarness:
    name: str
    uow: Callable[[], UnitOfWork]
    outbox: Callable[[], list[tuple[str, int, str]]]
    """Committed outbox rows as (session id, version, event name), in commit order."""


def memory_harness() -> StorageHarness:
    storage = InMemoryStorage()
    return StorageHarness(
        "memory",
        storage.unit_of_work,
        lambda: [(str(e.session_id), e.version, e.name) for e in storage.outbox],
    )


@pytest.fixture(params=["memory"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[StorageHarness]:
    if request.param == "memory":
        yield memory_harness()
