"""The search index in parts: a chat turn indexes its two messages, not the whole session again.

Migration 0009 indexed each session as one document, rebuilt by its triggers on every write,
so a chat turn re-read and re-tokenised the whole history (its cost grew with the chat).
This revision replaces that index with `resolutionflow_sqlalchemy.search_schema`'s: a session
is indexed in parts (the head: title, problem, outcome, intake, ticket; each chat message;
each guided step), each its own row, so a turn inserts two small rows. The new index is
filled from the existing sessions in this same transaction (in bulk: one FTS5 ``rebuild`` on
SQLite, one GIN build on PostgreSQL), then its triggers are created.

The downgrade drops it and brings back 0009's index (`search_schema_0009`), filled again
from the sessions.

Revision ID: 0012_search_parts
Revises: 0011_former_owners
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from resolutionflow_sqlalchemy import search_schema, search_schema_0009

revision: str = "0012_search_parts"
down_revision: str | Sequence[str] | None = "0011_former_owners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    "abandon_reason",
)


def _run(statements: list[str]) -> None:
    if context.is_offline_mode():
        for statement in statements:
            op.execute(statement)
        return
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def _columns() -> list[str]:
    if context.is_offline_mode():
        return list(COLUMNS_HERE)
    return [c["name"] for c in sa.inspect(op.get_bind()).get_columns("ai_sessions")]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(search_schema_0009.remove_statements(dialect))
    # 0012's trigger for the messages; 0013 replaces it.
    _run(search_schema.install_statements(dialect, _columns(), messages="parsed"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(search_schema.remove_statements(dialect))
    _run(search_schema_0009.install_statements(dialect, _columns()))
