"""SQLAlchemy storage for resolutionflow_core: SQLite (the embedded default) or PostgreSQL.

`SqlStorage.from_url(url)` gives the unit of work the services need; the schema is
managed by the Alembic migrations shipped in this package.
"""

from typing import TYPE_CHECKING, Any

from resolutionflow_sqlalchemy.engine import async_url, create_engine, open_database
from resolutionflow_sqlalchemy.storage import (
    HistoryCache,
    SqlSessionRepository,
    SqlStorage,
    SqlUnitOfWork,
)

if TYPE_CHECKING:
    from resolutionflow_sqlalchemy.legacy import (
        MigrationInterrupted,
        MigrationProgress,
        MigrationReport,
        migrate_assistant_chats,
    )

_LEGACY = frozenset(
    {"MigrationInterrupted", "MigrationProgress", "MigrationReport", "migrate_assistant_chats"}
)


def __getattr__(name: str) -> Any:
    """The legacy-chat migration's names, imported on first use: only ``migrate`` needs
    them, and the module costs a command that does not its import time."""
    if name in _LEGACY:
        from resolutionflow_sqlalchemy import legacy

        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HistoryCache",
    "MigrationInterrupted",
    "MigrationProgress",
    "MigrationReport",
    "SqlSessionRepository",
    "SqlStorage",
    "SqlUnitOfWork",
    "async_url",
    "create_engine",
    "migrate_assistant_chats",
    "open_database",
]
