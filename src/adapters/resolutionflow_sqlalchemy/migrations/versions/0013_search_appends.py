"""SQLite: a chat turn indexes its new messages from the appended text, not the whole history.

Migration 0012's trigger found a turn's new messages by parsing the old and the new history
(``json_array_length``, ``json_extract``, ``json_each`` over every message), so a turn's
index cost grew with the chat. This revision replaces it with two triggers
(`search_schema.sqlite_messages_triggers`): an appended history, told by comparing the old
and new texts' bytes, indexes only the appended text; any other change of the history is
handled as before. The index's contents do not change, so nothing is re-indexed.
PostgreSQL is unchanged (its trigger reads the new elements by position already).

The downgrade brings back 0012's trigger.

Revision ID: 0013_search_appends
Revises: 0012_search_parts
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from resolutionflow_sqlalchemy import search_schema

revision: str = "0013_search_appends"
down_revision: str | Sequence[str] | None = "0012_search_parts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run(design: search_schema.MessagesDesign) -> None:
    for statement in search_schema.update_trigger_statements(op.get_context().dialect.name, design):
        op.execute(statement)


def upgrade() -> None:
    _run("bytes")


def downgrade() -> None:
    _run("parsed")
