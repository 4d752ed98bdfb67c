"""The JSON that ``--json`` prints for keys and chat migrations: plain dicts, snake_case.

Sessions, their pages, deliveries and status updates are not here: ``--json`` prints their
read models (`resolutionflow_app.read_models`), the documents the HTTP API answers with.
Times are ISO 8601 with their offset, ids are strings. No view holds a secret except
`new_key_view`, used once, by ``keys create``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from resolutionflow_core.keys import ApiKey, NewKey

if TYPE_CHECKING:
    from resolutionflow_sqlalchemy import MigrationReport

Json = dict[str, Any]


def when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def key_view(key: ApiKey) -> Json:
    """A stored key: never its secret (only a hash of it is stored anyway)."""
    return {
        "id": str(key.id),
        "prefix": key.prefix,
        "account_id": key.actor.account_id,
        "user_id": key.actor.user_id,
        "role": key.actor.role.value,
        "label": key.label,
        "created_at": when(key.created_at),
        "revoked_at": when(key.revoked_at),
        "active": key.is_active,
    }


def new_key_view(created: NewKey) -> Json:
    """A key just created, with its secret: printed this once, never again."""
    return {"key": key_view(created.key), "secret": created.secret}


def report_view(report: MigrationReport) -> Json:
    return {
        "total": report.total,
        "done": report.done,
        "migrated": report.migrated,
        "already_migrated": report.already_migrated,
        "not_migrated": [
            {"chat_id": str(chat.chat_id), "reason": chat.reason} for chat in report.not_migrated
        ],
        "refused_messages": [
            {"chat_id": str(m.chat_id), "index": m.index, "reason": m.reason}
            for m in report.refused_messages
        ],
    }
