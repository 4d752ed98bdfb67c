"""SQLite: merge the search index into one FTS5 segment.

The fill of migration 0012 and of ``resolutionflow db reindex`` (an FTS5 ``rebuild``) left
the index in many segments (0013 and 0014 change triggers only), and FTS5's automerge merges
them a little on every later write, so chat turns paid for that backlog long after.
``install`` now ends with an ``optimize`` (`search_schema.SQLITE_OPTIMIZE`); this revision
runs it once on databases filled before. Nothing about the index's contents changes.
PostgreSQL's GIN index has no such backlog: the revision does nothing there, and its
downgrade does nothing on either.

Revision ID: 0015_fts_optimize
Revises: 0014_last_append
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from resolutionflow_sqlalchemy import search_schema

revision: str = "0015_fts_optimize"
down_revision: str | Sequence[str] | None = "0014_last_append"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute(search_schema.SQLITE_OPTIMIZE)


def downgrade() -> None:
    """Nothing to undo: the merged index holds what the segments held."""
