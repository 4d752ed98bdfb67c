"""The PSA delivery relay runs inside the API process while it serves."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from litestar.testing import AsyncTestClient

from resolutionflow_api import create_app
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.tickets import NoteKind
from resolutionflow_memory import InMemoryPSA, OfflineLLM
from tests.api.conftest import ACCOUNT, TICKET, MemoryConnections, build_application


async def test_resolving_a_linked_session_posts_the_resolution_note(
    migrated_database: Path, tmp_path: Path
) -> None:
    path = tmp_path / "relay.sqlite3"
    shutil.copyfile(migrated_database, path)
    psa = InMemoryPSA([TICKET])
    application = build_application(
        f"sqlite:///{path}", OfflineLLM(), MemoryConnections({ACCOUNT: psa}), relay=True
    )
    key = await application.keys.create(
        Actor(ACCOUNT, "alice", Role.ENGINEER), "test", now=application.clock.now()
    )
    headers = {"Authorization": f"Bearer {key.secret}"}

    async with AsyncTestClient(create_app(application, close_application=True)) as client:
        created = await client.post(
            "/api/v1/ai-sessions",
            json={"session_type": "chat", "message": "Outlook asks for the password"},
            headers=headers,
        )
        path_ = f"/api/v1/ai-sessions/{created.json()['id']}"
        await client.post(f"{path_}/ticket", json={"ticket_id": TICKET.ticket_id}, headers=headers)
        await client.post(
            f"{path_}/resolve", json={"resolution_summary": "New profile"}, headers=headers
        )
        for _ in range(100):
            if psa.notes:
                break
            await asyncio.sleep(0.1)

    (posted,) = psa.notes
    assert posted.ticket_id == TICKET.ticket_id
    assert posted.note.kind is NoteKind.RESOLUTION
    assert "New profile" in posted.note.text
