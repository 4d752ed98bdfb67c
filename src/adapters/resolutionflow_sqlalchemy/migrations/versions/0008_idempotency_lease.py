"""Idempotency claims are leases: when the lease runs out, and where the input was saved.

``lease_until``: the request holding the claim renews it while it runs; a claim whose lease
ran out belongs to a request that died, and the next request with the key takes it over.
``saved_in``: the session the request's input was stored in, so the request taking over
completes that turn instead of storing the input twice. Both nullable: claims made before
this revision count from ``created_at``.

Revision ID: 0008_idempotency_lease
Revises: 0007_abandon_reason
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_idempotency_lease"
down_revision: str | Sequence[str] | None = "0007_abandon_reason"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as table:
        table.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("saved_in", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as table:
        table.drop_column("saved_in")
        table.drop_column("lease_until")
