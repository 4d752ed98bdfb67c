"""The plan's migration: sessions get a type (guided or chat) and a title.

Exactly the plan's DDL, ``session_type VARCHAR(10) NOT NULL DEFAULT 'guided'`` (every
existing session was a guided one) and ``title VARCHAR(255)`` (chats need one for the
sidebar; guided sessions may leave it empty), plus the CHECK on the type's values.

The downgrade refuses while chat sessions exist: without ``session_type`` they would read as
guided sessions, which they are not. Move or delete them first.

Revision ID: 0002_session_type_and_title
Revises: 0001_baseline
Create Date: 2026-03-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from resolutionflow_sqlalchemy.migrations.errors import MigrationRefused

revision: str = "0002_session_type_and_title"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ai_sessions") as batch:
        batch.add_column(
            sa.Column("session_type", sa.String(10), nullable=False, server_default="guided")
        )
        batch.add_column(sa.Column("title", sa.String(255)))
        batch.create_check_constraint(
            op.f("ck_ai_sessions_session_type"), "session_type IN ('guided', 'chat')"
        )


def downgrade() -> None:
    if not context.is_offline_mode():
        refuse_if_chat_sessions()
    with op.batch_alter_table("ai_sessions") as batch:
        batch.drop_constraint(op.f("ck_ai_sessions_session_type"), type_="check")
        batch.drop_column("title")
        batch.drop_column("session_type")


def refuse_if_chat_sessions() -> None:
    chats = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM ai_sessions WHERE session_type <> 'guided'")
    )
    if chats:
        raise MigrationRefused(
            f"{chats} chat session(s) would read as guided ones without session_type: "
            "move or delete them before downgrading below 0002_session_type_and_title"
        )
