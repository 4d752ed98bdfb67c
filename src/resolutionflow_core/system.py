"""The ordinary clock and id source, for when nothing else is injected."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_session_id(self) -> uuid.UUID:
        return uuid.uuid4()
