"""Users who sign in to the web app, and their signed-in browsers.

The downgrade drops both tables with their contents (every user and browser session).

Revision ID: 0010_users
Revises: 0009_search
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_users"
down_revision: str | Sequence[str] | None = "0009_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR_ID = sa.String(128)
TIMESTAMP = sa.DateTime(timezone=True)
ROLES = ("owner", "admin", "engineer", "viewer")
ROLE_CHECK = "role IN (" + ", ".join(f"'{role}'" for role in ROLES) + ")"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("email", ACTOR_ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(ROLE_CHECK, name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("account_id", "email", name="uq_users_account_email"),
    )
    op.create_table(
        "browser_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("user_id", ACTOR_ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(ROLE_CHECK, name=op.f("ck_browser_sessions_role")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_browser_sessions")),
    )


def downgrade() -> None:
    op.drop_table("browser_sessions")
    op.drop_table("users")
