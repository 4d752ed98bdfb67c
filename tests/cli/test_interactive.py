"""``chat`` and ``guide`` driven as an engineer would, their input scripted, reading what
they show: the streamed reply, the slash commands, the steps, the resolution at the end."""

from __future__ import annotations

from tests.cli.conftest import Cli, Opening, llm_fails


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


# -- chat -------------------------------------------------------------------------------------


def test_chat_streams_replies_offers_the_actions_and_resolves_at_the_end(cli: Cli) -> None:
    session_id = cli.new_chat("Outlook keeps asking for the password")
    script = "\n".join(
        [
            "It is one mailbox, OWA works",
            "/help",
            "/update client quick",
            "/pause",
            "Are you still there?",
            "/resume",
            "It works now, fixed",
            "/resolve Re-created the Outlook profile",
        ]
    )
    result = cli.ok("chat", session_id, input=script + "\n")
    shown = result.stdout
    lines = _lines(shown)
    # The conversation so far, then the prompt with what was typed.
    assert "● Chat Outlook keeps asking for the password" in shown
    assert "you › It is one mailbox, OWA works" in lines
    # The reply, streamed, then its actions parsed out of the [ACTIONS] block.
    reply = lines.index("you › It is one mailbox, OWA works") + 1
    assert lines[reply] == "assistant"
    assert lines[reply + 1].startswith('[offline assistant] Thanks, noted: "It is one mailbox')
    assert "Suggested actions" in lines
    assert "1. Test the mailbox in Outlook on the web" in lines
    assert "$ outlook.exe /profiles" in lines
    assert "[ACTIONS]" not in shown
    assert '"title"' not in shown
    # The slash commands.
    assert any(line.startswith("/resolve SUMMARY") for line in lines)
    assert any(line.startswith("/update [AUDIENCE] [LENGTH]") for line in lines)
    assert "Status update · client · quick" in shown
    assert "Paused: the session is now paused." in lines
    assert "Resumed: the session is now active." in lines
    (refused,) = result.stderr.splitlines()  # the message sent while paused
    assert refused.startswith("resolutionflow: refused: cannot add a message")
    assert refused.endswith("in a session that is paused: only an active session allows that")
    assert 'Good news: "It works now, fixed" sounds fixed.' in shown
    # Resolved at the end, with the resolution note for the ticket.
    assert "Resolved: the session is now resolved." in lines
    assert "Re-created the Outlook profile" in shown
    assert "Resolution note" in shown
    session = cli.session(session_id)
    assert session["status"] == "resolved"
    assert session["resolution_summary"] == "Re-created the Outlook profile"
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 3


def test_chat_shows_the_reply_while_it_streams(cli: Cli, opening: Opening) -> None:
    session_id = cli.new_chat("Outlook keeps asking for the password")
    llm_fails(opening, after_deltas=3)  # the stream breaks after three pieces
    result = cli.ok("chat", session_id, input="One mailbox only\n/retry\n/quit\n")
    lines = _lines(result.stdout)
    at = lines.index("you › One mailbox only")
    # What streamed before the break was shown as it came: three pieces of four words.
    assert lines[at + 1] == "assistant"
    assert lines[at + 2] == (
        '[offline assistant] Thanks, noted: "One mailbox only". For this email / Outlook'
    )
    assert lines[at + 3] == "/retry asks the assistant again."
    assert result.stderr.splitlines() == [
        "resolutionflow: unavailable: offline assistant: injected failure; "
        f"your input is saved in session {session_id}"
    ]
    # /retry has the assistant answer the saved message.
    assert "Suggested actions" in lines[at + 4 :]
    messages = cli.session(session_id)["messages"]
    assert [(m["role"], m["content"][:16]) for m in messages[2:]] == [
        ("user", "One mailbox only"),
        ("assistant", "[offline assista"),
    ]


def test_chat_leaves_at_the_end_of_the_input_and_the_session_stays(cli: Cli) -> None:
    session_id = cli.new_chat()
    result = cli.ok("chat", session_id, input="")
    assert "Type a message and press Enter" in result.stdout
    assert cli.session(session_id)["status"] == "active"
    assert cli.ok("chat", session_id, "--history", "0", input="/quit\n").stdout.count("you ›") == 1


def test_chat_asks_for_what_a_slash_command_left_out(cli: Cli) -> None:
    session_id = cli.new_chat()
    result = cli.ok("chat", session_id, input="/bogus\n/link\n/escalate\nNeeds a tenant admin\n")
    assert result.stderr.splitlines() == [
        "resolutionflow: error: unknown command /bogus: /help lists them",
        "resolutionflow: error: cannot link a ticket: use /link TICKET",
    ]
    assert "Why does it need a senior engineer? › Needs a tenant admin" in result.stdout
    assert "Escalation package" in result.stdout
    assert cli.session(session_id)["escalation_reason"] == "Needs a tenant admin"


def test_chat_abandons_and_shows(cli: Cli) -> None:
    session_id = cli.new_chat()
    result = cli.ok("chat", session_id, input="/show\n/update nobody\n/abandon Replaced\n")
    assert f"ID          {session_id}" in result.stdout
    assert "Abandoned: the session is now abandoned." in result.stdout
    assert "cannot draft an update for 'nobody'" in result.stderr


# -- guide ------------------------------------------------------------------------------------


def test_guide_answers_each_step_until_resolved(cli: Cli) -> None:
    session_id = cli.new_guided("The office printer is offline")
    script = [
        "Everyone on the floor",  # step 1, a question: free text
        "Yes, a test page prints",  # step 2
        "1",  # step 3, an action: option 1, "Done, it worked"
        "y",  # a resolution suggestion: resolve now
        "Cleared the stuck job and restarted the spooler",
        "A stuck print job",
    ]
    result = cli.ok("guide", session_id, input="\n".join(script) + "\n")
    lines = _lines(result.stdout)
    assert "Step 1 · Question  ▰▰▱▱▱▱▱▱▱▱ 25% discovery" in lines
    assert "answer › Everyone on the floor" in lines
    assert "Step 2 · Question  ▰▰▰▰▱▱▱▱▱▱ 45% exploring" in lines
    assert "Step 3 · Action  ▰▰▰▰▰▰▱▱▱▱ 65% exploring" in lines
    assert "1. Done, it worked" in lines
    assert "2. Done, still failing" in lines
    assert "3. Could not do it — Say why in the answer" in lines
    assert "→ Done, it worked" in lines
    assert "Step 4 · Resolution suggestion  ▰▰▰▰▰▰▰▰▱▱ 85% guided" in lines
    assert "Resolve the session now? [y/N] › y" in lines
    assert "Resolved: the session is now resolved." in lines
    assert "Resolution note" in result.stdout
    assert result.stderr == ""
    session = cli.session(session_id)
    assert session["status"] == "resolved"
    assert session["resolution_summary"] == "Cleared the stuck job and restarted the spooler"
    assert session["root_cause"] == "A stuck print job"
    assert [step["response"] for step in session["steps"]] == [
        "Everyone on the floor",
        "Yes, a test page prints",
        "Done, it worked",
        None,
    ]


def test_guide_refuses_a_missing_option_and_goes_on_after_a_declined_offer(cli: Cli) -> None:
    session_id = cli.new_guided("The office printer is offline")
    script = ["everyone", "yes", "9", "1", "n", "No, still failing", "/escalate Needs the vendor"]
    result = cli.ok("guide", session_id, "--no-reasoning", input="\n".join(script) + "\n")
    assert result.stderr.splitlines() == [
        "resolutionflow: error: there is no option 9: pick 1 to 3 or type an answer"
    ]
    assert "Then answer the step to go on." in result.stdout
    assert "Why:" not in result.stdout
    assert "Step 5 · Fork" in result.stdout  # the fix did not hold: back to the fork
    assert "Escalated: the session is now escalated." in result.stdout
    session = cli.session(session_id)
    assert session["status"] == "escalated"
    assert session["steps"][3]["response"] == "No, still failing"


def test_guide_pauses_and_resumes(cli: Cli) -> None:
    session_id = cli.new_guided()
    script = ["/pause", "everyone", "/resume", "everyone", "/quit"]
    result = cli.ok("guide", session_id, input="\n".join(script) + "\n")
    assert "command › everyone" in result.stdout
    assert result.stderr.splitlines() == [
        "resolutionflow: refused: cannot answer: the session is paused: /resume first"
    ]
    assert result.stdout.count("Step 1 · Question") == 2  # shown again on resume
    assert "Step 2 · Question" in result.stdout
    assert cli.session(session_id)["status"] == "active"


def test_guide_asks_again_after_the_assistant_failed(cli: Cli, opening: Opening) -> None:
    session_id = cli.new_guided()
    llm_fails(opening)
    result = cli.ok("guide", session_id, input="everyone\nmore text\n/retry\n/quit\n")
    assert result.stderr.splitlines() == [
        "resolutionflow: unavailable: offline assistant: injected failure; "
        f"your input is saved in session {session_id}",
        "resolutionflow: refused: cannot answer: no step waits for an answer: "
        "/retry asks the assistant for one",
    ]
    assert "/retry asks the assistant for the next step." in result.stdout
    assert "Step 2 · Question" in result.stdout
    steps = cli.session(session_id)["steps"]
    assert [step["response"] for step in steps] == ["everyone", None]


# -- how both open ----------------------------------------------------------------------------


def test_chat_and_guide_open_with_the_title_what_came_so_far_and_how_to_go_on(cli: Cli) -> None:
    chat_id = cli.new_chat("Outlook keeps asking for the password")
    cli.ok("chat", chat_id, input="One mailbox only\n/quit\n")
    cli.ok("pause", chat_id)
    chat = cli.ok("chat", chat_id, "--history", "1", input="/quit\n").stdout
    guided_id = cli.new_guided("The office printer is offline")
    cli.ok("guide", guided_id, input="everyone\n/quit\n")
    cli.ok("pause", guided_id)
    guide = cli.ok("guide", guided_id, input="/quit\n").stdout

    # The kind and title, what came so far, the way back from a pause, then what to type.
    chat_lines = _lines(chat)
    assert chat_lines[1].startswith("● Chat Outlook keeps asking for the password ──")
    assert chat_lines[2] == "… 3 earlier messages"  # four messages, the last one shown
    assert chat_lines[3].startswith("assistant")
    assert chat_lines[-3:] == [
        "The session is paused: /resume to chat again.",
        "Type a message and press Enter. /help lists the commands, /quit leaves.",
        "you › /quit",
    ]
    guide_lines = _lines(guide)
    assert guide_lines[1].startswith("◆ Guided The office printer is offline ──")
    assert guide_lines[2:] == [
        "1 steps answered so far.",
        "The session is paused: /resume to go on.",
        "Answer with an option's number or your own words; /help lists the commands.",
        "command › /quit",
    ]
