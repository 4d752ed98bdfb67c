"""SQLAlchemy storage for resolutionflow_core: SQLite (the embedded default) or PostgreSQL.

`SqlStorage.from_url(url)` gives the unit of work the services need; the schema is
managed by the Alembic migrations shipped in this package.
"""

from resolutionflow_sqlalchemy.engine import async_url, create_engine, open_database
from resolutionflow_sqlalchemy.legacy import (
    MigrationInterrupted,
    MigrationProgress,
    MigrationReport,
    migrate_assistant_chats,
)
from resolutionflow_sqlalchemy.storage import SqlSessionRepository, SqlStorage, SqlUnitOfWork

__all__ = [
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
