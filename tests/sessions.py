"""Sessions as tests start them: a chat or a guided session whose id, account and owner the
test may name, the rest as a new session from free text has them."""

from __future__ import annotations

import uuid
from datetime import datetime

from resolutionflow_core.session import IntakeType, Session


def chat_session(
    first_message: str, *, now: datetime, n: int = 1, account: str = "acme", user: str = "alice"
) -> Session:
    """A chat started by ``user`` of ``account`` at ``now``, its id ``UUID(int=n)``."""
    return Session.start_chat(
        session_id=uuid.UUID(int=n),
        account_id=account,
        user_id=user,
        first_message=first_message,
        now=now,
    )


def guided_session(
    intake: str,
    *,
    now: datetime,
    n: int = 2,
    account: str = "acme",
    user: str = "alice",
    intake_type: IntakeType = IntakeType.FREE_TEXT,
) -> Session:
    """A guided session started by ``user`` of ``account`` at ``now``, its id
    ``UUID(int=n)``; ``intake`` is the free text, or the ticket id of a ``PSA_TICKET`` intake."""
    key = "ticket_id" if intake_type is IntakeType.PSA_TICKET else "text"
    return Session.start_guided(
        session_id=uuid.UUID(int=n),
        account_id=account,
        user_id=user,
        intake_type=intake_type,
        intake_content={key: intake},
        now=now,
    )
