"""The schema, as SQLAlchemy Core tables. Rows never leave the adapter (see `mapping`).

- ``ai_sessions``: one row per session, both kinds. ``conversation_messages`` (JSONB on
  PostgreSQL, JSON on SQLite) is the source of truth of a chat's history: other services
  read that column. ``step_count`` is kept equal to the number of messages or steps.
- ``ai_session_steps``: the steps of guided sessions.
- ``ai_session_former_owners``: who owned each session before a claim (read access).
- ``assistant_chats``: the legacy store of free-form chats, kept for the migration.
- ``session_outbox``: the domain events, written in the transaction that made them.
- ``api_keys``: hashed bearer keys, each bound to an account, a user and a role.
- ``idempotency_keys``: the first response of each request sent with an Idempotency-Key.
- ``psa_deliveries``: notes due on PSA tickets, written with the change that made them due,
  and how their delivery stands.
- ``psa_connections``: each account's PSA connection; credentials only sealed (encrypted).
- ``users``: people who sign in to the web app (an argon2id hash, never the password).
- ``browser_sessions``: signed-in browsers, by the SHA-256 of their cookie token.

Alembic migrations (``migrations/versions``) create exactly this; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from resolutionflow_core.access import Role
from resolutionflow_core.delivery import DeliveryState, TicketChange
from resolutionflow_core.guided import ConfidenceTier, StepKind
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.session import IntakeType, ProblemDomain, SessionType
from resolutionflow_core.tickets import NoteKind
from resolutionflow_sqlalchemy import search_schema

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them without a zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the domain only uses aware ones")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDocumentType(sa.TypeDecorator[Any]):
    """JSONB on PostgreSQL, JSON (text) on SQLite; Python ``None`` is SQL NULL, not JSON null.

    The PostgreSQL type is looked up when a PostgreSQL engine first uses the column, not at
    import: ``sqlalchemy.dialects.postgresql`` loads every PostgreSQL driver's dialect (about
    a tenth of SQLAlchemy's own import time), which a command on SQLite never needs."""

    impl = sa.JSON(none_as_null=True)
    cache_ok = True
    hashable = False  # as JSON: a dict or list is no row key

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(self.impl_instance)


JSONDocument = JSONDocumentType()
"""The type of every JSON column (`JSONDocumentType`)."""

ID = sa.Uuid(as_uuid=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""BIGINT on PostgreSQL; INTEGER on SQLite, where only that auto-increments (the rowid)."""
ACTOR_ID = sa.String(128)


def one_of(column: str, values: Any, name: str) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of the enumeration's values (or NULL)."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


LAST_APPEND = search_schema.LAST_APPEND


def _change_row_columns() -> tuple[sa.Column[Any], ...]:
    """The serial id and the session change a row stems from (an outbox event, a delivery):
    the first columns of ``session_outbox`` and ``psa_deliveries``."""
    return (
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def _acting_as() -> tuple[sa.Column[Any] | sa.CheckConstraint, ...]:
    """The account, user and role a row acts as (an API key, a signed-in browser), the role
    checked (`resolutionflow_sqlalchemy.rows.actor_columns` fills them)."""
    return (
        sa.Column("account_id", ACTOR_ID, nullable=False),
        sa.Column("user_id", ACTOR_ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        one_of("role", Role, "role"),
    )


ai_sessions = sa.Table(
    "ai_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ACTOR_ID, nullable=False),
    sa.Column("user_id", ACTOR_ID, nullable=False),
    sa.Column("session_type", sa.String(10), nullable=False, server_default="guided"),
    sa.Column("title", sa.String(255)),
    sa.Column("intake_type", sa.String(20), nullable=False),
    sa.Column("intake_content", JSONDocument, nullable=False),
    sa.Column("conversation_messages", JSONDocument, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("problem_summary", sa.Text),
    sa.Column("problem_domain", sa.String(20)),
    sa.Column("step_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("confidence_score", sa.Float),
    sa.Column("confidence_tier", sa.String(16)),
    sa.Column("matched_flow_id", sa.String(128)),
    sa.Column("match_score", sa.Float),
    sa.Column("system_prompt_snapshot", sa.Text),
    sa.Column("resolution_summary", sa.Text),
    sa.Column("root_cause", sa.Text),
    sa.Column("escalation_reason", sa.Text),
    sa.Column("escalated_by", ACTOR_ID),
    sa.Column("abandon_reason", sa.Text),
    sa.Column("psa_provider", sa.String(32)),
    sa.Column("psa_ticket_id", sa.String(64)),
    sa.Column("psa_ticket_snapshot", JSONDocument),
    sa.Column("psa_linked_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_activity_at", UTCDateTime, nullable=False),
    sa.Column("paused_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("escalated_at", UTCDateTime),
    sa.Column("abandoned_at", UTCDateTime),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("similar_sessions", JSONDocument),
    # The storage's own, not the session's: on SQLite each append of messages writes here
    # the new version and the messages it added (``[version, [message, …]]``), so the search
    # index's trigger indexes them from this small value instead of comparing the old and new
    # histories (`search_schema.sqlite_messages_triggers`). NULL on PostgreSQL.
    sa.Column(LAST_APPEND, sa.Text),
    one_of("session_type", SessionType, "session_type"),
    one_of("status", SessionStatus, "status"),
    one_of("intake_type", IntakeType, "intake_type"),
    one_of("problem_domain", ProblemDomain, "problem_domain"),
    one_of("confidence_tier", ConfidenceTier, "confidence_tier"),
    sa.CheckConstraint("step_count >= 0", name="step_count_not_negative"),
    sa.CheckConstraint(
        "confidence_score IS NULL OR (confidence_score >= 0 AND confidence_score <= 1)",
        name="confidence_score_range",
    ),
    sa.CheckConstraint("version >= 0", name="version_not_negative"),
)

# The history and dashboard read newest activity first within an account, optionally
# narrowed by owner, status or type: each index ends with the keyset (last_activity_at, id).
sa.Index(
    "ix_ai_sessions_account_activity",
    ai_sessions.c.account_id,
    ai_sessions.c.last_activity_at,
    ai_sessions.c.id,
)
sa.Index(
    "ix_ai_sessions_account_owner_activity",
    ai_sessions.c.account_id,
    ai_sessions.c.user_id,
    ai_sessions.c.last_activity_at,
    ai_sessions.c.id,
)
sa.Index(
    "ix_ai_sessions_account_status_activity",
    ai_sessions.c.account_id,
    ai_sessions.c.status,
    ai_sessions.c.last_activity_at,
    ai_sessions.c.id,
)
sa.Index(
    "ix_ai_sessions_account_type_status_activity",
    ai_sessions.c.account_id,
    ai_sessions.c.session_type,
    ai_sessions.c.status,
    ai_sessions.c.last_activity_at,
    ai_sessions.c.id,
)

ai_session_steps = sa.Table(
    "ai_session_steps",
    metadata,
    sa.Column(
        "session_id",
        ID,
        sa.ForeignKey("ai_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("options", JSONDocument, nullable=False),
    sa.Column("reasoning", sa.Text),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("response", sa.Text),
    sa.Column("usage", JSONDocument),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("responded_at", UTCDateTime),
    one_of("kind", StepKind, "kind"),
    sa.CheckConstraint("number >= 1", name="number_positive"),
    sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
)

# Who owned a session before a claim, in order; they keep read access. The primary key
# (session_id, user_id) serves the history's "visible to" EXISTS probe.
ai_session_former_owners = sa.Table(
    "ai_session_former_owners",
    metadata,
    sa.Column(
        "session_id",
        ID,
        sa.ForeignKey("ai_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user_id", ACTOR_ID, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.CheckConstraint("position >= 0", name="position_not_negative"),
)


def visible_to(user_id: str) -> sa.ColumnElement[bool]:
    """Sessions an engineer sees: owned, escalated by them, formerly owned, or escalated."""
    sessions = ai_sessions.c
    former = ai_session_former_owners.c
    return sa.or_(
        sessions.user_id == user_id,
        sessions.escalated_by == user_id,
        sessions.status == SessionStatus.ESCALATED.value,
        sa.exists().where(former.session_id == sessions.id, former.user_id == user_id),
    )


# The search index lives beside these two tables, kept by triggers (see `search_schema`):
# made with them by `create_all` (steps come second), dropped before them by `drop_all`.
sa.event.listen(
    ai_session_steps,
    "after_create",
    lambda _table, conn, **_: search_schema.install(conn, ai_sessions.c.keys()),
)
sa.event.listen(
    ai_session_steps, "before_drop", lambda _table, conn, **_: search_schema.remove(conn)
)

assistant_chats = sa.Table(
    "assistant_chats",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ACTOR_ID, nullable=False),
    sa.Column("user_id", ACTOR_ID, nullable=False),
    sa.Column("title", sa.String(255)),
    sa.Column("messages", JSONDocument, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
sa.Index("ix_assistant_chats_account_user", assistant_chats.c.account_id, assistant_chats.c.user_id)

session_outbox = sa.Table(
    "session_outbox",
    metadata,
    *_change_row_columns(),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("payload", JSONDocument, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("session_id", "version", name="uq_session_outbox_session_version"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("prefix", sa.String(12), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    *_acting_as(),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)
sa.Index("ix_api_keys_account", api_keys.c.account_id)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_body", JSONDocument),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The claim's lease (renewed by the request holding it) and the session its input was
    # stored in: a claim of a request that died is taken over, its turn completed once.
    sa.Column("lease_until", UTCDateTime),
    sa.Column("saved_in", sa.String(36)),
)
sa.Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)

psa_deliveries = sa.Table(
    "psa_deliveries",
    metadata,
    *_change_row_columns(),
    sa.Column("ticket_provider", sa.String(32), nullable=False),
    sa.Column("ticket_id", sa.String(64), nullable=False),
    sa.Column("note_kind", sa.String(16), nullable=False),
    sa.Column("note_text", sa.Text, nullable=False),
    sa.Column("marker", sa.String(100), nullable=False, unique=True),
    sa.Column("ticket_change", sa.String(16)),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("leased_until", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("psa_note_id", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    one_of("note_kind", NoteKind, "note_kind"),
    one_of("ticket_change", TicketChange, "ticket_change"),
    one_of("state", DeliveryState, "state"),
)
sa.Index("ix_psa_deliveries_due", psa_deliveries.c.state, psa_deliveries.c.next_attempt_at)
sa.Index("ix_psa_deliveries_session", psa_deliveries.c.session_id)

psa_connections = sa.Table(
    "psa_connections",
    metadata,
    sa.Column("account_id", ACTOR_ID, primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("settings", JSONDocument, nullable=False),
    sa.Column("sealed_credentials", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("account_id", ACTOR_ID, nullable=False),
    sa.Column("email", ACTOR_ID, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "email", name="uq_users_account_email"),
    one_of("role", Role, "role"),
)

browser_sessions = sa.Table(
    "browser_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    *_acting_as(),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
)
