"""Search and the account's memory: the full-text index, and ``similar_sessions``.

- ``ai_sessions.similar_sessions`` (JSON, nullable): the resolved sessions found like this
  one when it started ("solved before"); existing sessions have none.
- The search index of `resolutionflow_sqlalchemy.search_schema_0009`, filled from the existing
  sessions in this same transaction: on SQLite the ``ai_sessions_search`` text table and the
  ``ai_sessions_fts`` FTS5 external-content table over it; on PostgreSQL the text table with a
  generated ``tsvector`` and its GIN index; on both, the triggers that keep it.

The index's SQL comes from `search_schema_0009`, frozen as this revision made it (its
triggers read the columns present now, so a column added before this runs, such as
``abandon_reason``, is indexed). ``0012_search_parts`` replaces this index with one row per
part of a session.

The downgrade drops the index and the column, with the recorded similar sessions.

Revision ID: 0009_search
Revises: 0008_idempotency_lease
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from resolutionflow_sqlalchemy import search_schema_0009 as search_schema

revision: str = "0009_search"
down_revision: str | Sequence[str] | None = "0008_idempotency_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


# ``ai_sessions`` at this revision, for offline mode (``--sql``), which cannot look.
COLUMNS_HERE = (
    "title",
    "problem_summary",
    "intake_content",
    "conversation_messages",
    "psa_ticket_snapshot",
    "resolution_summary",
    "root_cause",
    "escalation_reason",
)


def upgrade() -> None:
    op.add_column("ai_sessions", sa.Column("similar_sessions", JSON_DOCUMENT, nullable=True))
    bind = op.get_bind()
    if context.is_offline_mode():
        for statement in search_schema.install_statements(bind.dialect.name, COLUMNS_HERE):
            op.execute(statement)
        return
    columns = [c["name"] for c in sa.inspect(bind).get_columns("ai_sessions")]
    search_schema.install(bind, columns)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in search_schema.remove_statements(bind.dialect.name):
        if context.is_offline_mode():
            op.execute(statement)
        else:
            bind.exec_driver_sql(statement)
    with op.batch_alter_table("ai_sessions") as batch:
        batch.drop_column("similar_sessions")
