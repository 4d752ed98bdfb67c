"""The CLI's ``--json`` and the HTTP API print the same documents: one read model each.

Sessions are made through the API (a chat linked to a ticket and resolved, so a note is
due; a guided session with an answered step, abandoned with a reason), then read both ways
from the same database, as the same actor.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.api.conftest import ACCOUNT, Api
from tests.cli.conftest import CLEARED_ENV, Cli, Opening

BASE = "/api/v1/ai-sessions"
ALICE = f"{ACCOUNT}:alice:engineer"


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command line on the API's database."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    url = api.application.settings.database_url
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", url)
    monkeypatch.setenv("RESOLUTIONFLOW_LLM", "offline")
    return Cli(url, Opening())


async def _cli_json(cli: Cli, *args: str) -> Any:
    # The CLI runs its own event loop: off this one.
    return await asyncio.to_thread(cli.json, *args, "--as", ALICE)


async def _post(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(path, json=body, headers=await api.headers())
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _sessions(api: Api) -> tuple[str, str]:
    """A resolved chat with a linked ticket, and an abandoned guided session with steps."""
    chat = await api.start_chat("Outlook asks for the password on every start")
    await _post(api, f"{BASE}/{chat['id']}/ticket", {"ticket_id": "T-100"})
    await _post(
        api,
        f"{BASE}/{chat['id']}/resolve",
        {"resolution_summary": "Reset the Outlook profile", "root_cause": "Stale token"},
    )
    guided = await api.start_guided("Outlook asks for the password again")
    await _post(api, f"{BASE}/{guided['id']}/respond", {"response": "Only one mailbox"})
    await _post(api, f"{BASE}/{guided['id']}/abandon", {"reason": "The user left the company"})
    return chat["id"], guided["id"]


async def test_sessions_show_json_is_the_document_of_get_session(api: Api, cli: Cli) -> None:
    chat_id, guided_id = await _sessions(api)

    chat = await api.session(chat_id)
    assert await _cli_json(cli, "sessions", "show", chat_id) == chat
    # The document is the whole session, not an empty shell that happens to match.
    assert chat["status"] == "resolved"
    assert chat["owner_id"] == "alice"
    assert chat["ticket"]["provider"] == "memory"
    assert chat["ticket"]["ticket_id"] == "T-100"
    assert chat["resolution_summary"] == "Reset the Outlook profile"
    assert chat["root_cause"] == "Stale token"
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
    assert chat["messages"][1]["questions"][0]["text"] == "Does it affect one mailbox or several?"
    assert [d["note_kind"] for d in chat["psa_deliveries"]] == ["resolution"]
    assert chat["steps"] is None

    guided = await api.session(guided_id)
    assert await _cli_json(cli, "sessions", "show", guided_id) == guided
    assert guided["status"] == "abandoned"
    assert guided["abandon_reason"] == "The user left the company"
    assert guided["steps"][0]["response"] == "Only one mailbox"
    assert len(guided["steps"]) == 2
    assert guided["messages"] is None
    # Solved before: the resolved chat, the same way in both.
    assert [s["id"] for s in guided["similar_sessions"]] == [chat_id]


async def test_list_and_search_items_are_the_documents_of_the_api(api: Api, cli: Cli) -> None:
    chat_id, guided_id = await _sessions(api)
    headers = await api.headers()

    listed = (await api.client.get(f"{BASE}?limit=1", headers=headers)).json()
    assert await _cli_json(cli, "sessions", "list", "--limit", "1") == listed
    assert [item["id"] for item in listed["items"]] == [guided_id]
    params = {"limit": 1, "cursor": listed["next_cursor"]}
    rest = (await api.client.get(BASE, params=params, headers=headers)).json()
    assert [item["id"] for item in rest["items"]] == [chat_id]
    assert rest["next_cursor"] is None

    found = (await api.client.get(f"{BASE}", params={"q": "outlook"}, headers=headers)).json()
    assert await _cli_json(cli, "sessions", "search", "outlook") == found
    assert {item["id"] for item in found["items"]} == {chat_id, guided_id}
    assert all("«" in item["match"] for item in found["items"]), json.dumps(found)
