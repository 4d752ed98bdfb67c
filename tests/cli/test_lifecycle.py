"""The lifecycle commands, status updates, PSA tickets, and who acts (``--as``)."""

from __future__ import annotations

from datetime import datetime

import pytest

from resolutionflow_memory import InMemoryPSA
from tests.cli.conftest import Cli

BOB = ("--as", "default:bob:engineer")
CAROL = ("--as", "default:carol:engineer")


def _time(shown: str) -> datetime:
    return datetime.fromisoformat(shown)


@pytest.mark.parametrize("kind", ["chat", "guided"])
def test_pause_resume_and_resolve_both_kinds(cli: Cli, kind: str) -> None:
    session_id = cli.new_chat() if kind == "chat" else cli.new_guided()
    assert "now paused" in cli.ok("pause", session_id).stdout
    paused = cli.session(session_id)
    assert paused["paused_at"] == paused["updated_at"]  # the time it paused
    assert _time(paused["paused_at"]) > _time(paused["created_at"])
    assert "now active" in cli.ok("resume", session_id).stdout
    resolved = cli.ok(
        "resolve", session_id, "--summary", "Cleared the queue", "--root-cause", "A stuck job"
    ).stdout
    assert f"session {session_id}: now resolved" in resolved
    assert "Resolution note" in resolved
    note = [line.strip("│ ") for line in resolved.splitlines()]
    assert note[note.index("Root cause:") + 1] == "A stuck job"
    assert note[note.index("Resolution:") + 1] == "Cleared the queue"
    session = cli.session(session_id)
    assert session["status"] == "resolved"
    assert session["resolution_summary"] == "Cleared the queue"
    assert session["root_cause"] == "A stuck job"


def test_lifecycle_commands_print_the_session_as_json(cli: Cli) -> None:
    session_id = cli.new_chat()
    started = cli.session(session_id)["version"]
    paused = cli.json("pause", session_id)
    assert paused["status"] == "paused"
    assert paused["version"] == started + 1
    abandoned = cli.json("abandon", session_id, "--reason", "Client replaced the laptop")
    assert abandoned["status"] == "abandoned"
    assert abandoned["version"] == started + 2
    assert abandoned["abandoned_at"] == abandoned["updated_at"]
    assert _time(abandoned["abandoned_at"]) > _time(paused["updated_at"])


def test_escalate_then_another_engineer_claims_it(cli: Cli) -> None:
    session_id = cli.new_chat("Mail flow broken", *BOB)
    shown = cli.ok("escalate", session_id, "--reason", "Needs a tenant admin", *BOB).stdout
    assert "now escalated" in shown
    assert "Escalation package" in shown
    assert "Needs a tenant admin" in shown
    line = cli.refused(1, "claim", session_id, *BOB)
    assert "cannot claim a session that is escalated" in line
    assert "other than the one who escalated it" in line
    claimed = cli.ok("claim", session_id, *CAROL).stdout
    assert "now active" in claimed
    assert "It is yours now, carol." in claimed
    session = cli.session(session_id)
    assert session["owner_id"] == "carol"
    assert session["status"] == "active"


def test_abandon_closes_without_a_fix_for_good(cli: Cli) -> None:
    session_id = cli.new_guided()
    assert "now abandoned" in cli.ok("abandon", session_id).stdout
    line = cli.refused(1, "resume", session_id)
    assert line.startswith("resolutionflow: refused: cannot resume a session that is abandoned: ")
    assert line.endswith("session is closed and never changes again")


@pytest.mark.parametrize(
    ("audience", "length", "expected"),
    [
        ("ticket_note", "quick", "Status: In progress (chat session"),
        ("client", "detailed", "An update on the issue with your email"),
        ("email", "quick", "Subject: In progress: Outlook keeps asking for the password"),
    ],
)
def test_status_update_drafts_for_each_audience(
    cli: Cli, audience: str, length: str, expected: str
) -> None:
    session_id = cli.new_chat()
    shown = cli.ok("status-update", session_id, "--audience", audience, "--length", length).stdout
    assert f"Status update · {audience} · {length}" in shown
    assert expected in shown
    assert cli.session(session_id)["status"] == "active"


def test_status_update_works_on_a_resolved_session_and_as_json(cli: Cli) -> None:
    session_id = cli.new_guided()
    cli.ok("resolve", session_id, "--summary", "Replaced the toner")
    draft = cli.json("status-update", session_id, "--audience", "email", "--length", "detailed")
    assert draft["audience"] == "email"
    assert draft["length"] == "detailed"
    assert draft["subject"].startswith("Resolved: ")
    assert "Replaced the toner" in draft["body"]


def test_ticket_link_snapshots_the_ticket(cli: Cli, psa: InMemoryPSA) -> None:
    session_id = cli.new_chat()
    shown = cli.ok("ticket", "link", session_id, "T-100").stdout
    assert f"Linked session {session_id} to memory ticket #T-100: Printer on floor 2 offline." in (
        shown
    )
    link = cli.json("ticket", "link", session_id, "T-100")["ticket"]
    assert link["provider"] == "memory"
    assert link["ticket_id"] == "T-100"
    assert link["snapshot"]["company"] == "Acme Ltd"
    assert cli.json("sessions", "list")["items"][0]["psa_ticket_id"] == "T-100"


def test_ticket_link_refuses_an_unknown_ticket_or_no_psa(cli: Cli, psa: InMemoryPSA) -> None:
    session_id = cli.new_chat()
    line = cli.refused(3, "ticket", "link", session_id, "T-999")
    assert line == "resolutionflow: not found: memory ticket T-999 not found"
    other = cli.new_chat("Printer", "--as", "globex:gina:owner")
    line = cli.refused(2, "ticket", "link", other, "T-100", "--as", "globex:gina:owner")
    assert line == "resolutionflow: error: account globex has no PSA connection"


def test_the_identity_comes_from_the_environment_too(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESOLUTIONFLOW_ACTOR", "acme:alice:engineer")
    session = cli.json("sessions", "new", "Wi-Fi drops in the warehouse")
    assert session["owner_id"] == "alice"
    assert [row["id"] for row in cli.json("sessions", "list")["items"]] == [session["id"]]
    assert cli.json("sessions", "list", "--as", "default:owner:owner")["items"] == []


def test_other_accounts_sessions_do_not_exist_and_viewers_only_read(cli: Cli) -> None:
    session_id = cli.new_chat()
    line = cli.refused(3, "sessions", "show", session_id, "--as", "globex:mallory:owner")
    assert line == f"resolutionflow: not found: session {session_id} not found"
    cli.refused(3, "resolve", session_id, "-s", "x", "--as", "globex:mallory:owner")
    viewer = ("--as", "default:victor:viewer")
    assert cli.session(session_id, *viewer)["id"] == session_id
    line = cli.refused(1, "pause", session_id, *viewer)
    assert line == "resolutionflow: refused: not allowed to pause: viewers can only read"
    line = cli.refused(1, "sessions", "new", "Printer", *viewer)
    assert line == "resolutionflow: refused: not allowed to start a session: viewers can only read"
    line = cli.refused(3, "resolve", session_id, "-s", "x", *BOB)  # engineers see their own
    assert line == f"resolutionflow: not found: session {session_id} not found"
    bobs = cli.new_chat("Mail flow broken", *BOB)
    cli.ok("escalate", bobs, "--reason", "Needs a tenant admin", *BOB)
    line = cli.refused(1, "pause", bobs, *CAROL)  # escalated: visible to all, bob's to work
    assert line == (
        f"resolutionflow: refused: not allowed to pause: session {bobs} belongs to another engineer"
    )


def test_the_abandon_reason_is_shown_by_sessions_show_and_its_json(cli: Cli) -> None:
    session_id = cli.new_chat()
    abandoned = cli.json("abandon", session_id, "--reason", "Client replaced the laptop")

    shown = cli.ok("sessions", "show", session_id).stdout

    assert abandoned["abandon_reason"] == "Client replaced the laptop"
    assert cli.session(session_id)["abandon_reason"] == "Client replaced the laptop"
    assert any(
        line.split() == ["Abandon", "reason", "Client", "replaced", "the", "laptop"]
        for line in shown.splitlines()
    )


def test_sessions_show_lists_only_the_actions_open_to_who_asks(cli: Cli) -> None:
    session_id = cli.new_chat()
    cli.ok("escalate", session_id, "--reason", "Needs a senior")

    mine = cli.json("sessions", "show", session_id)["allowed_actions"]
    bobs = cli.json("sessions", "show", session_id, *BOB)["allowed_actions"]
    shown = cli.ok("sessions", "show", session_id, *BOB).stdout

    assert mine == []  # the engineer who escalated may not claim it
    assert bobs == ["claim"]
    assert "You may now: resolutionflow claim" in shown
