"""Notes due on PSA tickets: the delivery queue of the outbox relay.

One row per due note (a resolution note, an escalation package, a ticket-note update),
written in the transaction of the change that made it due; ``marker`` is unique, so a note
can never be queued twice. The relay claims rows by ``(state, next_attempt_at)``.

The downgrade drops the queue with its contents (pending notes are lost).

Revision ID: 0005_psa_deliveries
Revises: 0004_api_keys_idempotency
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_psa_deliveries"
down_revision: str | Sequence[str] | None = "0004_api_keys_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.Uuid()
ACTOR_ID = sa.String(128)
TIMESTAMP = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_psa_deliveries_{column}"))


def upgrade() -> None:
    op.create_table(
        "psa_deliveries",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("session_id", UUID, nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ticket_provider", sa.String(32), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("note_kind", sa.String(16), nullable=False),
        sa.Column("note_text", sa.Text(), nullable=False),
        sa.Column("marker", sa.String(100), nullable=False),
        sa.Column("ticket_change", sa.String(16)),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("leased_until", TIMESTAMP),
        sa.Column("last_error", sa.Text()),
        sa.Column("psa_note_id", sa.String(64)),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP),
        _one_of("note_kind", ("detail", "internal", "resolution")),
        _one_of("ticket_change", ("resolved", "escalated")),
        _one_of("state", ("pending", "delivered", "failed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psa_deliveries")),
        sa.UniqueConstraint("marker", name=op.f("uq_psa_deliveries_marker")),
    )
    op.create_index(op.f("ix_psa_deliveries_due"), "psa_deliveries", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_psa_deliveries_session"), "psa_deliveries", ["session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_psa_deliveries_session"), table_name="psa_deliveries")
    op.drop_index(op.f("ix_psa_deliveries_due"), table_name="psa_deliveries")
    op.drop_table("psa_deliveries")
