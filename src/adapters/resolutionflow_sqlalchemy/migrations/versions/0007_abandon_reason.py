"""The reason a session was abandoned, kept on the session (``ai_sessions.abandon_reason``).

Sessions abandoned before this revision have no stored reason (it was only in the outbox
event): the column is NULL for them. The downgrade drops the column and the reasons in it.

Revision ID: 0007_abandon_reason
Revises: 0006_psa_connections
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_abandon_reason"
down_revision: str | Sequence[str] | None = "0006_psa_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ai_sessions") as batch:
        batch.add_column(sa.Column("abandon_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ai_sessions") as batch:
        batch.drop_column("abandon_reason")
