"""SQLite: a chat turn's new messages reach the search index from the append itself.

Migration 0013's trigger recognised an append by comparing the old and new histories' bytes,
which at 1,000 messages (200 KB of JSON) was most of what the index added to a turn. This
revision adds ``ai_sessions.last_append``: the SQLite storage's append writes there the new
version and the messages it adds, and the search index's trigger indexes them from that small
value (`search_schema.sqlite_messages_triggers`, ``declared``). Any other update that sets the
history is parsed, as before. The index's contents do not change, so nothing is re-indexed.
PostgreSQL gets the column (one schema for both) and leaves it NULL.

The downgrade brings back 0013's triggers and drops the column.

Revision ID: 0014_last_append
Revises: 0013_search_appends
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from resolutionflow_sqlalchemy import search_schema

revision: str = "0014_last_append"
down_revision: str | Sequence[str] | None = "0013_search_appends"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _triggers(design: search_schema.MessagesDesign) -> None:
    for statement in search_schema.update_trigger_statements(op.get_context().dialect.name, design):
        op.execute(statement)


def upgrade() -> None:
    op.add_column("ai_sessions", sa.Column(search_schema.LAST_APPEND, sa.Text(), nullable=True))
    _triggers("declared")


def downgrade() -> None:
    _triggers("bytes")
    op.drop_column("ai_sessions", search_schema.LAST_APPEND)
