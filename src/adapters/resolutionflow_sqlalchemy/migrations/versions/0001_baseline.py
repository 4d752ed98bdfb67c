"""Baseline: the schema before unified sessions.

Guided (FlowPilot) sessions in ``ai_sessions`` with their ``ai_session_steps``, and the
free-form assistant's ``assistant_chats`` (messages inline as JSON), as they stood before the
plan added ``session_type`` and ``title`` (0002) and before ``version``, ``root_cause``,
``escalated_by``, the outbox and the keyset indexes (0003). Sessions were listed per owner,
hence the one index on ``ai_sessions``.

A revision never changes once shipped, so types, value lists and constraint names are
written out here rather than imported from ``tables``, which describes only the newest schema.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-03-23
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = sa.Uuid()
ACTOR_ID = sa.String(128)
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

STATUSES = ("active", "paused", "resolved", "escalated", "abandoned")
INTAKE_TYPES = ("free_text", "psa_ticket", "screenshot", "log_paste", "combined")
PROBLEM_DOMAINS = (
    "network",
    "email",
    "identity",
    "endpoint",
    "printing",
    "server",
    "security",
    "cloud",
    "other",
)
CONFIDENCE_TIERS = ("discovery", "exploring", "guided")
STEP_KINDS = ("question", "action", "resolution_suggestion", "fork")


def one_of(column: str, values: Iterable[str], name: str) -> sa.CheckConstraint:
    """A named CHECK that ``column`` holds one of ``values`` (or NULL)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(name))


def upgrade() -> None:
    op.create_table(
        "ai_sessions",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("user_id", ACTOR_ID, nullable=False),
        sa.Column("intake_type", sa.String(20), nullable=False),
        sa.Column("intake_content", JSON_DOCUMENT, nullable=False),
        sa.Column("conversation_messages", JSON_DOCUMENT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("problem_summary", sa.Text()),
        sa.Column("problem_domain", sa.String(20)),
        sa.Column("step_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("confidence_score", sa.Float()),
        sa.Column("confidence_tier", sa.String(16)),
        sa.Column("matched_flow_id", sa.String(128)),
        sa.Column("match_score", sa.Float()),
        sa.Column("system_prompt_snapshot", sa.Text()),
        sa.Column("resolution_summary", sa.Text()),
        sa.Column("escalation_reason", sa.Text()),
        sa.Column("psa_provider", sa.String(32)),
        sa.Column("psa_ticket_id", sa.String(64)),
        sa.Column("psa_ticket_snapshot", JSON_DOCUMENT),
        sa.Column("psa_linked_at", TIMESTAMP),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("last_activity_at", TIMESTAMP, nullable=False),
        sa.Column("paused_at", TIMESTAMP),
        sa.Column("resolved_at", TIMESTAMP),
        sa.Column("escalated_at", TIMESTAMP),
        sa.Column("abandoned_at", TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_sessions")),
        one_of("status", STATUSES, "ck_ai_sessions_status"),
        one_of("intake_type", INTAKE_TYPES, "ck_ai_sessions_intake_type"),
        one_of("problem_domain", PROBLEM_DOMAINS, "ck_ai_sessions_problem_domain"),
        one_of("confidence_tier", CONFIDENCE_TIERS, "ck_ai_sessions_confidence_tier"),
        sa.CheckConstraint("step_count >= 0", name=op.f("ck_ai_sessions_step_count_not_negative")),
        sa.CheckConstraint(
            "confidence_score IS NULL OR (confidence_score >= 0 AND confidence_score <= 1)",
            name=op.f("ck_ai_sessions_confidence_score_range"),
        ),
    )
    op.create_index(op.f("ix_ai_sessions_account_user"), "ai_sessions", ["account_id", "user_id"])

    op.create_table(
        "ai_session_steps",
        sa.Column("session_id", UUID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("options", JSON_DOCUMENT, nullable=False),
        sa.Column("reasoning", sa.Text()),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("response", sa.Text()),
        sa.Column("usage", JSON_DOCUMENT),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("responded_at", TIMESTAMP),
        sa.PrimaryKeyConstraint("session_id", "number", name=op.f("pk_ai_session_steps")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["ai_sessions.id"],
            name=op.f("fk_ai_session_steps_session_id_ai_sessions"),
            ondelete="CASCADE",
        ),
        one_of("kind", STEP_KINDS, "ck_ai_session_steps_kind"),
        sa.CheckConstraint("number >= 1", name=op.f("ck_ai_session_steps_number_positive")),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_ai_session_steps_confidence_range")
        ),
    )

    op.create_table(
        "assistant_chats",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("user_id", ACTOR_ID, nullable=False),
        sa.Column("title", sa.String(255)),
        sa.Column("messages", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_chats")),
    )
    op.create_index(
        op.f("ix_assistant_chats_account_user"), "assistant_chats", ["account_id", "user_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_assistant_chats_account_user"), table_name="assistant_chats")
    op.drop_table("assistant_chats")
    op.drop_table("ai_session_steps")
    op.drop_index(op.f("ix_ai_sessions_account_user"), table_name="ai_sessions")
    op.drop_table("ai_sessions")
