"""Every endpoint of /api/v1, both kinds of session, the happy paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from resolutionflow_core.access import Role
from tests.api.conftest import OTHER_ACCOUNT, TICKET, Api, problem

BASE = "/api/v1/ai-sessions"


async def test_health_answers_without_a_key_and_reports_the_database(api: Api) -> None:
    response = await api.client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "reachable", "llm": "offline"}


async def test_starting_a_chat_answers_the_first_message_and_titles_the_session(api: Api) -> None:
    session = await api.start_chat("Outlook keeps asking for the password on one laptop")

    assert session["session_type"] == "chat"
    assert session["status"] == "active"
    assert session["title"] == "Outlook keeps asking for the password on one laptop"
    assert session["owner_id"] == "alice"
    assert session["intake_content"] == {
        "text": "Outlook keeps asking for the password on one laptop"
    }
    assert session["steps"] is None
    user, reply = session["messages"]
    assert (user["role"], user["index"], reply["role"], reply["index"]) == (
        "user",
        0,
        "assistant",
        1,
    )
    assert session["step_count"] == 2
    assert session["problem_domain"] == "email"


async def test_assistant_markers_are_parsed_beside_the_raw_text(api: Api) -> None:
    session = await api.start_chat()
    reply = session["messages"][1]

    assert "[QUESTIONS]" in reply["content"]
    assert "[QUESTIONS]" not in reply["text"]
    assert [q["text"] for q in reply["questions"]] == [  # the offline LLM's, for email
        "Does it affect one mailbox or several?",
        "Does the same mailbox work in Outlook on the web (OWA)?",
        "Is there an error text or code (e.g. 0x800CCC0E, an NDR 5.7.x)?",
    ]
    assert reply["actions"] == []
    assert reply["forks"] == []


async def test_chat_turns_return_the_stored_message_and_reply(api: Api) -> None:
    session = await api.start_chat()
    headers = await api.headers()

    second = await api.client.post(
        f"{BASE}/{session['id']}/chat", json={"content": "Only one mailbox"}, headers=headers
    )
    third = await api.client.post(
        f"{BASE}/{session['id']}/chat", json={"content": "Checked, still asks"}, headers=headers
    )

    assert second.status_code == 200, second.text
    turn = second.json()
    assert turn["message"] == turn["message"] | {"role": "user", "index": 2}
    assert turn["message"]["content"] == "Only one mailbox"
    assert turn["reply"]["role"] == "assistant"
    assert turn["reply"]["index"] == 3
    assert turn["reply"]["actions"], "the second offline reply suggests actions"
    assert third.json()["reply"]["forks"], "the third offline reply offers a fork"
    stored = await api.session(session["id"])
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 3
    assert stored["step_count"] == 6


async def test_starting_a_guided_session_proposes_the_first_step(api: Api) -> None:
    session = await api.start_guided()

    assert session["session_type"] == "guided"
    assert session["messages"] is None
    (step,) = session["steps"]
    assert step["number"] == 1
    assert step["pending"] is True
    assert step["response"] is None
    assert session["confidence_score"] == step["confidence"]
    assert session["confidence_tier"] == "discovery"
    assert session["problem_domain"] == "printing"
    assert session["intake_type"] == "free_text"


async def test_answering_a_step_returns_the_answered_step_and_the_next(api: Api) -> None:
    session = await api.start_guided()

    response = await api.client.post(
        f"{BASE}/{session['id']}/respond",
        json={"response": "Only the second floor printer"},
        headers=await api.headers(),
    )

    assert response.status_code == 200, response.text
    turn = response.json()
    assert turn["answered_step"]["number"] == 1
    assert turn["answered_step"]["response"] == "Only the second floor printer"
    assert turn["next_step"]["number"] == 2
    assert turn["next_step"]["pending"] is True
    assert turn["session"]["step_count"] == 2
    assert turn["next_step"]["confidence"] > turn["answered_step"]["confidence"]


async def test_a_guided_intake_may_be_a_psa_ticket(api: Api) -> None:
    response = await api.client.post(
        BASE,
        json={
            "session_type": "guided",
            "intake_type": "psa_ticket",
            "intake_content": {"ticket_id": "T-100", "summary": "VPN drops"},
        },
        headers=await api.headers(),
    )

    assert response.status_code == 201, response.text
    assert response.json()["intake_type"] == "psa_ticket"


async def test_the_lifecycle_of_both_kinds(api: Api) -> None:
    headers = await api.headers()
    for session in (await api.start_chat(), await api.start_guided()):
        path = f"{BASE}/{session['id']}"

        paused = await api.client.post(f"{path}/pause", headers=headers)
        resumed = await api.client.post(f"{path}/resume", headers=headers)
        resolved = await api.client.post(
            f"{path}/resolve",
            json={"resolution_summary": "Reset the profile", "root_cause": "Stale token"},
            headers=headers,
        )

        assert paused.json()["status"] == "paused"
        assert paused.json()["paused_at"] == paused.json()["updated_at"]
        assert resumed.json()["status"] == "active"
        body = resolved.json()
        assert (body["status"], body["resolution_summary"], body["root_cause"]) == (
            "resolved",
            "Reset the profile",
            "Stale token",
        )
        assert body["resolved_at"] == body["updated_at"]
        assert body["allowed_actions"] == []


async def test_escalate_then_another_engineer_claims_and_owns_it(api: Api) -> None:
    escalated, path = await escalated_chat(api)
    as_bob = await api.session(escalated["id"], user="bob")
    as_viewer = await api.session(escalated["id"], user="vera", role=Role.VIEWER)
    claimed = await api.client.post(f"{path}/claim", headers=await api.headers("bob"))

    assert escalated["status"] == "escalated"
    assert escalated["escalated_by"] == "alice"
    # Computed for who asks: the escalator may not claim, a colleague may, a viewer nothing.
    assert escalated["allowed_actions"] == []
    assert as_bob["allowed_actions"] == ["claim"]
    assert as_viewer["allowed_actions"] == []
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["status"], claimed.json()["owner_id"]) == ("active", "bob")
    assert claimed.json()["allowed_actions"] == ["pause", "resolve", "abandon", "escalate"]


async def escalated_chat(api: Api) -> tuple[dict[str, Any], str]:
    """A chat its owner (the default engineer) escalated: the escalation's answer (the
    session as escalated), and its path."""
    session = await api.start_chat()
    path = f"{BASE}/{session['id']}"
    escalated = await api.client.post(
        f"{path}/escalate",
        json={"escalation_reason": "Needs tenant admin rights"},
        headers=await api.headers(),
    )
    assert escalated.status_code == 200, escalated.text
    return escalated.json(), path


async def test_the_escalator_cannot_claim_and_is_not_offered_the_claim(api: Api) -> None:
    session, path = await escalated_chat(api)

    offered = (await api.session(session["id"]))["allowed_actions"]
    claim = await api.client.post(f"{path}/claim", headers=await api.headers())

    assert "claim" not in offered
    problem(claim, 409, "invalid_transition")


async def test_the_engineer_who_escalated_keeps_reading_after_a_colleague_claims(
    api: Api,
) -> None:
    session, path = await escalated_chat(api)
    await api.client.post(f"{path}/claim", headers=await api.headers("bob"))

    followed = await api.client.get(path, headers=await api.headers())
    listed = await api.client.get(BASE, headers=await api.headers())
    work = await api.client.post(f"{path}/pause", headers=await api.headers())
    stranger = await api.client.get(path, headers=await api.headers("carol"))

    assert followed.status_code == 200, followed.text
    assert (followed.json()["owner_id"], followed.json()["allowed_actions"]) == ("bob", [])
    assert session["id"] in [row["id"] for row in listed.json()["items"]]
    problem(work, 403, "permission_denied")  # reading, not working: it is bob's now
    problem(stranger, 404, "session_not_found")


async def test_abandon_with_or_without_a_reason(api: Api) -> None:
    headers = await api.headers()
    first, second = await api.start_chat(), await api.start_guided()

    with_reason = await api.client.post(
        f"{BASE}/{first['id']}/abandon", json={"reason": "User left"}, headers=headers
    )
    without = await api.client.post(f"{BASE}/{second['id']}/abandon", headers=headers)

    assert with_reason.json()["status"] == "abandoned"
    assert without.status_code == 200
    assert without.json()["abandoned_at"] == without.json()["updated_at"]
    assert (with_reason.json()["abandon_reason"], without.json()["abandon_reason"]) == (
        "User left",
        None,
    )


async def test_status_updates_for_each_audience(api: Api) -> None:
    session = await api.start_chat()
    headers = await api.headers()

    email = await api.client.post(
        f"{BASE}/{session['id']}/status-update",
        json={"audience": "email", "length": "detailed"},
        headers=headers,
    )
    note = await api.client.post(
        f"{BASE}/{session['id']}/status-update", json={"audience": "ticket_note"}, headers=headers
    )

    assert email.status_code == 200, email.text
    assert email.json()["subject"] == "In progress: Outlook keeps asking for the password"
    assert email.json()["length"] == "detailed"
    assert note.json()["audience"] == "ticket_note"
    assert note.json()["length"] == "quick"
    assert note.json()["subject"] is None


async def test_linking_a_ticket_snapshots_it(api: Api) -> None:
    session = await api.start_guided()

    response = await api.client.post(
        f"{BASE}/{session['id']}/ticket", json={"ticket_id": "T-100"}, headers=await api.headers()
    )

    assert response.status_code == 200, response.text
    ticket = response.json()["ticket"]
    assert (ticket["provider"], ticket["ticket_id"]) == ("memory", "T-100")
    assert ticket["snapshot"]["summary"] == TICKET.summary
    assert response.json()["psa_ticket_id"] == "T-100"


async def test_documentation_is_a_draft_until_resolved_or_escalated(api: Api) -> None:
    headers = await api.headers()
    session = await api.start_chat()
    path = f"{BASE}/{session['id']}"

    draft = (await api.client.get(f"{path}/documentation", headers=headers)).json()
    await api.client.post(
        f"{path}/resolve", json={"resolution_summary": "Reset the profile"}, headers=headers
    )
    note = (await api.client.get(f"{path}/documentation", headers=headers)).json()
    package = await api.client.get(
        f"{path}/documentation", params={"kind": "escalation_package"}, headers=headers
    )

    assert (draft["kind"], draft["final"]) == ("resolution_note", False)
    assert (note["kind"], note["final"], note["status"]) == ("resolution_note", True, "resolved")
    assert "Resolution:\nReset the profile" in note["text"]
    assert package.json()["kind"] == "escalation_package"
    assert not package.json()["final"]


async def test_an_escalated_session_documents_its_escalation_package(api: Api) -> None:
    headers = await api.headers()
    session = await api.start_guided()
    path = f"{BASE}/{session['id']}"
    await api.client.post(
        f"{path}/escalate", json={"escalation_reason": "Needs on-site visit"}, headers=headers
    )

    document = (await api.client.get(f"{path}/documentation", headers=headers)).json()

    assert (document["kind"], document["final"]) == ("escalation_package", True)
    assert "Needs on-site visit" in document["text"]


async def test_list_filters_by_type_status_owner_and_dates(api: Api) -> None:
    chat = await api.start_chat()
    guided = await api.start_guided()
    bobs = await api.start_chat("VPN drops", user="bob")
    admin = await api.headers("ada", Role.ADMIN)
    await api.client.post(f"{BASE}/{guided['id']}/pause", headers=await api.headers())

    async def ids(**params: object) -> list[str]:
        response = await api.client.get(BASE, params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["items"]]

    assert await ids() == [guided["id"], bobs["id"], chat["id"]]
    assert await ids(session_type="chat") == [bobs["id"], chat["id"]]
    assert await ids(status="paused") == [guided["id"]]
    assert set(await ids(status=["paused", "active"])) == {guided["id"], bobs["id"], chat["id"]}
    assert await ids(owner="bob") == [bobs["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert await ids(created_from=future) == []
    assert len(await ids(created_from=past, created_to=future)) == 3
    assert len(await ids(created_from=past.removesuffix("+00:00"))) == 3  # naive is UTC
    today = datetime.now(UTC).date()
    assert len(await ids(created_from=today.isoformat())) == 3  # a date: start of day, UTC
    assert len(await ids(created_to=today.isoformat())) == 3  # a date: to the end of it
    assert await ids(created_from=(today + timedelta(days=1)).isoformat()) == []
    refused = await api.client.get(BASE, params={"created_from": "2026-13-01"}, headers=admin)
    assert problem(refused, 422)["errors"][0]["field"] == "created_from"


async def test_a_cursor_belongs_to_its_query(api: Api) -> None:
    for n in range(3):
        await api.start_guided(f"Printer {n} offline")
    await api.start_chat()
    headers = await api.headers("ada", Role.ADMIN)
    first = await api.client.get(
        BASE, params={"session_type": "guided", "limit": 2}, headers=headers
    )
    cursor = first.json()["next_cursor"]

    same = await api.client.get(
        BASE, params={"session_type": "guided", "limit": 2, "cursor": cursor}, headers=headers
    )
    other = await api.client.get(BASE, params={"limit": 2, "cursor": cursor}, headers=headers)

    assert [row["session_type"] for row in same.json()["items"]] == ["guided"]
    body = problem(other, 422, "cursor_mismatch")
    assert body["errors"][0]["field"] == "cursor"
    assert "other filters" in body["detail"]


async def test_engineers_list_their_own_sessions(api: Api) -> None:
    mine = await api.start_chat()
    await api.start_chat("VPN drops", user="bob")

    response = await api.client.get(BASE, headers=await api.headers())

    assert [row["id"] for row in response.json()["items"]] == [mine["id"]]


async def test_list_pages_with_a_cursor(api: Api) -> None:
    created = [(await api.start_chat(f"Problem number {n}"))["id"] for n in range(5)]
    headers = await api.headers()

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get(BASE, params=params, headers=headers)).json()
        seen += [row["id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == created[::-1]


async def test_the_dashboard_shows_both_kinds(api: Api) -> None:
    chat = await api.start_chat()
    guided = await api.start_guided()
    closed = await api.start_chat("Printer jam")
    headers = await api.headers()
    await api.client.post(
        f"{BASE}/{closed['id']}/resolve", json={"resolution_summary": "Cleared"}, headers=headers
    )
    escalated = await api.start_guided("VPN drops", user="bob")
    await api.client.post(
        f"{BASE}/{escalated['id']}/escalate",
        json={"escalation_reason": "Firewall"},
        headers=await api.headers("bob"),
    )

    board = (await api.client.get("/api/v1/dashboard", headers=headers)).json()

    assert {row["id"] for row in board["active"]} == {chat["id"], guided["id"]}
    assert {row["session_type"] for row in board["active"]} == {"chat", "guided"}
    assert [row["id"] for row in board["escalated"]] == [escalated["id"]]
    assert [row["id"] for row in board["recent"]] == [closed["id"]]


async def test_another_account_sees_nothing_in_lists_and_dashboard(api: Api) -> None:
    await api.start_chat()
    await api.start_guided()
    outsider = await api.headers("mallory", Role.OWNER, account=OTHER_ACCOUNT)

    listed = (await api.client.get(BASE, headers=outsider)).json()
    board = (await api.client.get("/api/v1/dashboard", headers=outsider)).json()

    assert listed == {"items": [], "next_cursor": None}
    assert board == {"active": [], "escalated": [], "recent": []}


async def test_viewers_read_the_whole_account(api: Api) -> None:
    session = await api.start_chat()
    viewer = await api.headers("vera", Role.VIEWER)

    listed = (await api.client.get(BASE, headers=viewer)).json()
    one = await api.client.get(f"{BASE}/{session['id']}", headers=viewer)

    assert [row["id"] for row in listed["items"]] == [session["id"]]
    assert one.status_code == 200


async def test_a_colleagues_open_session_is_not_found_for_an_engineer(api: Api) -> None:
    session = await api.start_chat(user="bob")

    response = await api.client.get(f"{BASE}/{session['id']}", headers=await api.headers())

    problem(response, 404, "session_not_found")


async def test_next_step_while_a_step_is_pending_is_409_step_already_pending(api: Api) -> None:
    session = await api.start_guided()

    response = await api.client.post(
        f"{BASE}/{session['id']}/next-step", headers=await api.headers()
    )

    body = problem(response, 409, "step_already_pending")
    assert "step 1" in body["detail"]
    assert len((await api.session(session["id"]))["steps"]) == 1


async def test_the_abandon_reason_is_shown_on_the_session(api: Api) -> None:
    headers = await api.headers()
    first, second = await api.start_chat(), await api.start_guided()

    answered = await api.client.post(
        f"{BASE}/{first['id']}/abandon", json={"reason": "User left the company"}, headers=headers
    )
    await api.client.post(f"{BASE}/{second['id']}/abandon", headers=headers)
    shown = await api.session(first["id"])
    documentation = await api.client.get(f"{BASE}/{first['id']}/documentation", headers=headers)

    assert answered.json()["abandon_reason"] == "User left the company"
    assert shown["abandon_reason"] == "User left the company"
    assert (await api.session(second["id"]))["abandon_reason"] is None
    text = documentation.json()["text"]
    assert "Reason: User left the company" in text
    assert "Resolution: Not recorded" not in text.replace("\n", " ")


async def test_resolving_a_guided_session_closes_its_pending_step(api: Api) -> None:
    session = await api.start_guided()
    assert session["steps"][-1]["pending"] is True

    resolved = await api.client.post(
        f"{BASE}/{session['id']}/resolve",
        json={"resolution_summary": "Power-cycled the printer"},
        headers=await api.headers(),
    )
    package = await api.client.get(
        f"{BASE}/{session['id']}/documentation",
        params={"kind": "escalation_package"},
        headers=await api.headers(),
    )

    assert resolved.status_code == 200, resolved.text
    assert [step["pending"] for step in resolved.json()["steps"]] == [False]
    assert resolved.json()["steps"][0]["response"] is None
    assert "Open step" not in package.json()["text"]
