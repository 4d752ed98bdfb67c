"""The schema's history, as Alembic migrations shipped inside the package.

Run them from code, no ``alembic.ini`` needed::

    from resolutionflow_sqlalchemy import migrations

    await migrations.upgrade("sqlite:///sessions.db")           # to the newest revision
    await migrations.current("sqlite:///sessions.db")           # "0003_…", None when empty
    await migrations.downgrade("sqlite:///sessions.db", "0002_session_type_and_title")

or point the ``alembic`` CLI at them (``script_location = resolutionflow_sqlalchemy:migrations``
and ``sqlalchemy.url``, or ``-x url=…``). Each run is one transaction (see `connection`):
it applies every revision it was asked for, or none.

The functions are coroutines because the adapter is async: call them from the application's
event loop (``asyncio.run(migrations.upgrade(url))`` in a script).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from resolutionflow_sqlalchemy.migrations.connection import migration_connection, open_engine
from resolutionflow_sqlalchemy.migrations.errors import MigrationRefused

__all__ = [
    "MIGRATIONS_DIR",
    "MigrationRefused",
    "alembic_config",
    "current",
    "downgrade",
    "heads",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent
"""Where ``env.py``, ``script.py.mako`` and ``versions/`` are, inside the installed package."""


def alembic_config() -> Config:
    """Alembic's configuration, built in code: the shipped scripts, no ini file."""
    config = Config()
    # Config values go through configparser interpolation: a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    # New revisions are named by their id alone, e.g. `--rev-id 0004_short_name`.
    config.set_main_option("file_template", "%%(rev)s")
    return config


def heads() -> tuple[str, ...]:
    """The newest revision(s) the shipped scripts know (one, while the history is linear)."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (the newest by default)."""
    await _run(command.upgrade, url, revision)


async def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` (``"base"``: drop every table)."""
    await _run(command.downgrade, url, revision)


async def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None if it was never migrated."""
    engine = open_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()


def _current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_in_use = threading.Lock()


@asynccontextmanager
async def _one_run_at_a_time() -> AsyncIterator[None]:
    """Alembic's ``op`` and ``context`` are module globals: two runs interleaving on one event
    loop would issue each other's operations. Runs on a loop queue up; a run in another
    thread at the same moment is refused rather than corrupted."""
    async with _turns.setdefault(asyncio.get_running_loop(), asyncio.Lock()):
        if not _in_use.acquire(blocking=False):
            raise RuntimeError("migrations are already running in another thread of this process")
        try:
            yield
        finally:
            _in_use.release()


async def _run(action: Callable[[Config, str], None], url: str, revision: str) -> None:
    """Run an Alembic command on our connection: `env.py` finds it in the config."""
    config = alembic_config()
    async with _one_run_at_a_time(), migration_connection(url) as connection:

        def run(sync_connection: sa.Connection) -> None:
            config.attributes["connection"] = sync_connection
            action(config, revision)

        await connection.run_sync(run)
