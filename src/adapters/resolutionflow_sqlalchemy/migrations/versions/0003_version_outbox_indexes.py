"""What the storage adapter added after the plan: concurrency, documentation, outbox, indexes.

- ``version`` (NOT NULL DEFAULT 0, never negative): the optimistic-concurrency counter that
  every change bumps; existing sessions start at 0.
- ``root_cause`` (the resolution note's "Root cause") and ``escalated_by`` (whoever
  escalated may not claim). Existing escalated sessions keep NULL: who escalated them was
  never recorded, and guessing would wrongly stop someone from claiming.
- ``session_outbox``: domain events, written in the transaction that made them, for the
  PSA posting to pick up; one row per (session, version).
- The history and dashboard indexes, each ending with the keyset ``(last_activity_at, id)``;
  ``ix_ai_sessions_account_owner_activity`` starts with the baseline's
  ``(account_id, user_id)``, which it replaces.

The downgrade drops the three columns and the outbox with their contents.

Revision ID: 0003_version_outbox_indexes
Revises: 0002_session_type_and_title
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_version_outbox_indexes"
down_revision: str | Sequence[str] | None = "0002_session_type_and_title"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.Uuid()
ACTOR_ID = sa.String(128)
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# INTEGER on SQLite, where only an INTEGER primary key is the auto-incrementing rowid.
OUTBOX_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

KEYSET = ["last_activity_at", "id"]
HISTORY_INDEXES = {
    "ix_ai_sessions_account_activity": ["account_id", *KEYSET],
    "ix_ai_sessions_account_owner_activity": ["account_id", "user_id", *KEYSET],
    "ix_ai_sessions_account_status_activity": ["account_id", "status", *KEYSET],
    "ix_ai_sessions_account_type_status_activity": [
        "account_id",
        "session_type",
        "status",
        *KEYSET,
    ],
}


def upgrade() -> None:
    with op.batch_alter_table("ai_sessions") as batch:
        batch.add_column(sa.Column("root_cause", sa.Text()))
        batch.add_column(sa.Column("escalated_by", ACTOR_ID))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint(op.f("ck_ai_sessions_version_not_negative"), "version >= 0")
    op.drop_index(op.f("ix_ai_sessions_account_user"), table_name="ai_sessions")
    for name, columns in HISTORY_INDEXES.items():
        op.create_index(op.f(name), "ai_sessions", columns)

    op.create_table(
        "session_outbox",
        sa.Column("id", OUTBOX_ID, autoincrement=True, nullable=False),
        sa.Column("session_id", UUID, nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_outbox")),
        sa.UniqueConstraint(
            "session_id", "version", name=op.f("uq_session_outbox_session_version")
        ),
    )


def downgrade() -> None:
    op.drop_table("session_outbox")
    for name in reversed(HISTORY_INDEXES):
        op.drop_index(op.f(name), table_name="ai_sessions")
    op.create_index(op.f("ix_ai_sessions_account_user"), "ai_sessions", ["account_id", "user_id"])
    with op.batch_alter_table("ai_sessions") as batch:
        batch.drop_constraint(op.f("ck_ai_sessions_version_not_negative"), type_="check")
        batch.drop_column("version")
        batch.drop_column("escalated_by")
        batch.drop_column("root_cause")
