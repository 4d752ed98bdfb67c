"""PostgreSQL: a chat turn's new messages reach the search index from the append itself.

Until now every update that set a session's history made PostgreSQL detoast and compare the
old and the new history (the trigger's ``WHEN``), then expand the new one to find what was
added: about 1 ms a write at 1,000 messages. As SQLite has since 0014, the storage's append
now writes the messages it adds, with the new version, to ``ai_sessions.last_append``, and
the trigger ``ai_sessions_search_messages_append`` indexes them from that small value
(`search_schema.postgres_messages_triggers`, ``declared``). Any other update that sets the
history is indexed again from it, without comparing it with the old one. The index's
contents do not change. SQLite: nothing.

The downgrade brings back the trigger that compares the histories.

Revision ID: 0016_pg_last_append
Revises: 0015_fts_optimize
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from resolutionflow_sqlalchemy import search_schema

revision: str = "0016_pg_last_append"
down_revision: str | Sequence[str] | None = "0015_fts_optimize"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _triggers(design: search_schema.MessagesDesign) -> None:
    if op.get_context().dialect.name == "postgresql":
        for statement in search_schema.postgres_messages_triggers(design):
            op.execute(statement)


def upgrade() -> None:
    _triggers("declared")


def downgrade() -> None:
    _triggers("parsed")
