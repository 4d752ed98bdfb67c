"""Each account's PSA connection: provider, settings, and credentials sealed (encrypted).

The downgrade drops the table with its contents (every account's connection is lost).

Revision ID: 0006_psa_connections
Revises: 0005_psa_deliveries
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_psa_connections"
down_revision: str | Sequence[str] | None = "0005_psa_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR_ID = sa.String(128)
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "psa_connections",
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("settings", JSON_DOCUMENT, nullable=False),
        sa.Column("sealed_credentials", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_psa_connections")),
    )


def downgrade() -> None:
    op.drop_table("psa_connections")
