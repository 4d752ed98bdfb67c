"""Who owned a session before a claim (``ai_session_former_owners``): they keep read access.

One row per (session, former owner), in claim order (``position``). The upgrade fills it from
the ``session.claimed`` events of the outbox (their ``previous_owner``), so engineers whose
session was claimed before this revision see it again (not in offline mode, ``--sql``,
which cannot read the outbox: it prints only the DDL). The downgrade drops the table and
with it that read access (the outbox keeps the claims).

Revision ID: 0011_former_owners
Revises: 0010_users
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0011_former_owners"
down_revision: str | Sequence[str] | None = "0010_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR_ID = sa.String(128)


def upgrade() -> None:
    former = op.create_table(
        "ai_session_former_owners",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", ACTOR_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "position >= 0", name=op.f("ck_ai_session_former_owners_position_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["ai_sessions.id"],
            name=op.f("fk_ai_session_former_owners_session_id_ai_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "user_id", name=op.f("pk_ai_session_former_owners")),
    )
    if context.is_offline_mode():
        return
    rows = _former_owners_from_outbox(op.get_bind())
    if rows:
        op.bulk_insert(former, rows)


def downgrade() -> None:
    op.drop_table("ai_session_former_owners")


def _former_owners_from_outbox(conn: sa.Connection) -> list[dict[str, Any]]:
    """The ``previous_owner`` of each session's claims, oldest first, once per session."""
    outbox = sa.table(
        "session_outbox",
        sa.column("session_id", sa.Uuid()),
        sa.column("version", sa.Integer()),
        sa.column("event_name", sa.String()),
        sa.column("payload"),
    )
    sessions = sa.table("ai_sessions", sa.column("id", sa.Uuid()))
    claims = conn.execute(
        sa.select(outbox.c.session_id, outbox.c.payload)
        .where(
            outbox.c.event_name == "session.claimed",
            outbox.c.session_id.in_(sa.select(sessions.c.id)),
        )
        .order_by(outbox.c.session_id, outbox.c.version)
    )
    seen: dict[Any, list[str]] = {}
    for session_id, payload in claims:
        data = json.loads(payload) if isinstance(payload, str | bytes) else payload
        owner = data.get("previous_owner") if isinstance(data, dict) else None
        owners = seen.setdefault(session_id, [])
        if isinstance(owner, str) and owner and owner not in owners:
            owners.append(owner)
    return [
        {"session_id": session_id, "user_id": owner, "position": position}
        for session_id, owners in seen.items()
        for position, owner in enumerate(owners)
    ]
