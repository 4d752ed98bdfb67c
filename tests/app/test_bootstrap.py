"""The composition root's `Application`: its stores made on first use, once, over its database."""

from __future__ import annotations

import typing
from pathlib import Path

from resolutionflow_app import Application, Settings, open_application
from resolutionflow_app.keycache import CachedKeyStore
from resolutionflow_memory.keys import InMemoryKeyStore
from resolutionflow_sqlalchemy.idempotency import SqlIdempotencyStore
from resolutionflow_sqlalchemy.users import SqlBrowserSessionStore, SqlUserStore


def test_the_application_annotations_resolve_at_run_time() -> None:
    """Litestar injects the `Application` and reads its annotations: a name imported only
    for type checkers would fail every request that asks for it."""
    hints = typing.get_type_hints(Application)
    assert {"settings", "storage", "llm", "psa", "sessions", "deliveries"} <= set(hints)


async def test_each_store_is_made_once_over_the_application_database(tmp_path: Path) -> None:
    app = open_application(Settings(database_url=f"sqlite:///{tmp_path / 'app.sqlite3'}"))
    try:
        stores = (app.keys, app.idempotency, app.users, app.browser_sessions)
        assert isinstance(app.keys, CachedKeyStore)
        assert [type(store) for store in stores[1:]] == [
            SqlIdempotencyStore,
            SqlUserStore,
            SqlBrowserSessionStore,
        ]
        again = (app.keys, app.idempotency, app.users, app.browser_sessions)
        assert all(first is second for first, second in zip(stores, again, strict=True))
    finally:
        await app.storage.dispose()


async def test_a_key_store_given_is_the_one_used(tmp_path: Path) -> None:
    given = InMemoryKeyStore()
    app = open_application(
        Settings(database_url=f"sqlite:///{tmp_path / 'app.sqlite3'}"), keys=given
    )
    try:
        assert app.keys is given
        assert app.key_management.keys is given
    finally:
        await app.storage.dispose()
