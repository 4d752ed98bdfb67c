"""The deprecated ``/assistant/chats`` endpoints, served from unified chat sessions."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from resolutionflow_api.controllers.legacy import DEPRECATED_ON, SUNSET_ON
from tests.api.conftest import Api, problem

LEGACY = "/api/v1/assistant/chats"


def assert_deprecated(response: Any, successor: str) -> None:
    assert response.headers["deprecation"] == f"@{int(DEPRECATED_ON.timestamp())}"
    assert parsedate_to_datetime(response.headers["sunset"]) == SUNSET_ON
    assert response.headers["link"] == f'<{successor}>; rel="successor-version"'


async def test_a_legacy_chat_is_a_unified_chat_session(api: Api) -> None:
    headers = await api.headers()

    created = await api.client.post(
        LEGACY, json={"message": "Mapped drive missing"}, headers=headers
    )
    chat = created.json()
    sent = await api.client.post(
        f"{LEGACY}/{chat['id']}/messages", json={"content": "Only drive S:"}, headers=headers
    )
    fetched = await api.client.get(f"{LEGACY}/{chat['id']}", headers=headers)
    listed = await api.client.get(LEGACY, headers=headers)

    assert created.status_code == 201, created.text
    assert chat["title"] == "Mapped drive missing"
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
    assert set(chat["messages"][0]) == {"role", "content", "timestamp"}
    assert sent.json()["user_message"]["content"] == "Only drive S:"
    assert sent.json()["assistant_message"]["role"] == "assistant"
    assert len(fetched.json()["messages"]) == 4
    assert listed.json() == [
        {
            "id": chat["id"],
            "title": "Mapped drive missing",
            "message_count": 4,
            "created_at": chat["created_at"],
            "updated_at": fetched.json()["updated_at"],
        }
    ]
    unified = await api.session(chat["id"])
    assert unified["session_type"] == "chat"
    assert unified["step_count"] == 4


async def test_every_legacy_response_says_it_is_deprecated_and_what_replaces_it(api: Api) -> None:
    headers = await api.headers()
    created = await api.client.post(LEGACY, json={"message": "Printer"}, headers=headers)
    chat_id = created.json()["id"]

    assert_deprecated(created, "/api/v1/ai-sessions")
    assert_deprecated(await api.client.get(LEGACY, headers=headers), "/api/v1/ai-sessions")
    assert_deprecated(
        await api.client.get(f"{LEGACY}/{chat_id}", headers=headers),
        f"/api/v1/ai-sessions/{chat_id}",
    )
    assert_deprecated(
        await api.client.post(
            f"{LEGACY}/{chat_id}/messages", json={"content": "hi"}, headers=headers
        ),
        f"/api/v1/ai-sessions/{chat_id}/chat",
    )
    refused = await api.client.post(f"{LEGACY}/{chat_id}/messages", json={}, headers=headers)
    problem(refused, 422)
    assert_deprecated(refused, f"/api/v1/ai-sessions/{chat_id}/chat")
    assert_deprecated(await api.client.get(LEGACY), "/api/v1/ai-sessions")  # 401 too


async def test_guided_sessions_do_not_exist_for_the_legacy_api(api: Api) -> None:
    guided = await api.start_guided()
    headers = await api.headers()

    fetched = await api.client.get(f"{LEGACY}/{guided['id']}", headers=headers)
    sent = await api.client.post(
        f"{LEGACY}/{guided['id']}/messages", json={"content": "hi"}, headers=headers
    )
    listed = await api.client.get(LEGACY, headers=headers)

    problem(fetched, 404, "session_not_found")
    problem(sent, 404, "session_not_found")
    assert listed.json() == []


async def test_legacy_lists_show_only_the_callers_chats(api: Api) -> None:
    mine = await api.start_chat()
    await api.start_chat("Other problem", user="bob")

    listed = await api.client.get(LEGACY, headers=await api.headers())

    assert [chat["id"] for chat in listed.json()] == [mine["id"]]


async def test_a_blank_first_message_names_the_legacy_field(api: Api) -> None:
    response = await api.client.post(LEGACY, json={"message": " "}, headers=await api.headers())

    assert problem(response, 422)["errors"][0]["field"] == "message"


async def test_a_path_no_header_can_carry_is_a_404_with_an_encoded_link(api: Api) -> None:
    """Found by schemathesis: the decoded path went into ``Link`` as is, and a character
    outside latin-1 made the response itself fail."""
    headers = await api.headers()

    read = await api.client.get("/api/v1/assistant/chats/%C4%80", headers=headers)
    sent = await api.client.post(
        "/api/v1/assistant/chats/%C4%80%0D%0A/messages", json={"content": "hi"}, headers=headers
    )

    problem(read, 404)
    problem(sent, 404)
    assert read.headers["link"] == '</api/v1/ai-sessions/%C4%80>; rel="successor-version"'
    assert (
        sent.headers["link"] == '</api/v1/ai-sessions/%C4%80%0D%0A/chat>; rel="successor-version"'
    )
