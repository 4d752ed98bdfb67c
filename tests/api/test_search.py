"""``GET /ai-sessions?q=…`` and the "solved before" sessions a new session comes with."""

from __future__ import annotations

from typing import Any

from resolutionflow_core.access import Role
from tests.api.conftest import OTHER_ACCOUNT, Api, problem

SESSIONS = "/api/v1/ai-sessions"


async def resolve(api: Api, session_id: str, summary: str, root_cause: str, **who: Any) -> None:
    response = await api.client.post(
        f"{SESSIONS}/{session_id}/resolve",
        json={"resolution_summary": summary, "root_cause": root_cause},
        headers=await api.headers(**who),
    )
    assert response.status_code == 200, response.text


async def test_q_searches_with_the_filters_and_pages_with_a_cursor(api: Api) -> None:
    vpn = await api.start_chat("The VPN tunnel to the branch drops hourly")
    await api.start_chat("The VPN client shows error 809")
    await api.start_guided("Branch printer offline")
    await api.start_chat("VPN tunnel down at the branch", account=OTHER_ACCOUNT, user="zed")
    headers = await api.headers()

    response = await api.client.get(SESSIONS, params={"q": "vpn branch"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == [vpn["id"]]
    assert "«" in body["items"][0]["match"]
    assert body["next_cursor"] is None

    guided = await api.client.get(
        SESSIONS, params={"q": "branch", "session_type": "guided"}, headers=headers
    )
    assert [i["session_type"] for i in guided.json()["items"]] == ["guided"]

    first = (
        await api.client.get(SESSIONS, params={"q": "vpn", "limit": 1}, headers=headers)
    ).json()
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = await api.client.get(
        SESSIONS, params={"q": "vpn", "limit": 1, "cursor": first["next_cursor"]}, headers=headers
    )
    ids = [first["items"][0]["id"], second.json()["items"][0]["id"]]
    assert len(set(ids)) == 2
    assert second.json()["next_cursor"] is None

    other_query = await api.client.get(
        SESSIONS, params={"q": "branch", "cursor": first["next_cursor"]}, headers=headers
    )
    assert problem(other_query, 422, "invalid_cursor")["errors"][0]["field"] == "cursor"


async def test_a_query_with_nothing_to_look_for_is_a_422_that_says_why(api: Api) -> None:
    headers = await api.headers()
    for q in ("the", "-vpn", '""'):
        response = await api.client.get(SESSIONS, params={"q": q}, headers=headers)
        body = problem(response, 422, "invalid_input")
        assert body["errors"][0]["field"] == "q", body


async def test_a_new_session_comes_with_the_accounts_solved_before_sessions(api: Api) -> None:
    old = await api.start_chat("Outlook keeps asking for the password after the migration")
    await resolve(
        api,
        old["id"],
        "Removed stale Outlook credentials and rebuilt the profile",
        "old tenant token",
    )
    unrelated = await api.start_chat("Printer jams on tray two")
    await resolve(api, unrelated["id"], "Replaced the pickup roller", "worn roller")

    new = await api.start_chat("Outlook asks for the password again and again")

    [similar] = new["similar_sessions"]
    assert similar["id"] == old["id"]
    assert (
        similar["resolution_summary"] == "Removed stale Outlook credentials and rebuilt the profile"
    )
    assert similar["root_cause"] == "old tenant token"
    assert similar["resolved_by"] == "alice"
    assert (await api.session(new["id"]))["similar_sessions"] == new["similar_sessions"]
    # Another engineer of the account may not open alice's session: it is not shown to them.
    stranger = await api.start_chat("Outlook asks for the password", user="bob")
    assert stranger["similar_sessions"] == []
    owner_view = await api.session(new["id"], user="carol", role=Role.OWNER)
    assert [s["id"] for s in owner_view["similar_sessions"]] == [old["id"]]
    elsewhere = await api.start_chat("Outlook asks for the password", account=OTHER_ACCOUNT)
    assert elsewhere["similar_sessions"] == []
