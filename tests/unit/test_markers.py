"""Assistant markers: blocks of questions, actions and forks inside a chat reply."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolutionflow_core.markers import (
    Action,
    Fork,
    ForkOption,
    ParsedReply,
    Question,
    parse_markers,
    render_markers,
)
from tests.marker_tags import TAGS

OPENING = re.compile(r"(?:^|\n)[^\S\n]*\[(QUESTIONS|ACTIONS|FORK)\]")


def block(tag: str, body: str) -> str:
    return f"[{tag}]\n{body}\n[/{tag}]"


# --- Plain text ----------------------------------------------------------------------------


def test_a_reply_without_markers_is_shown_as_it_is_only_trimmed() -> None:
    reply = parse_markers("  \nCheck the DNS settings.\n\n\n\nThen reboot.\n ")

    assert reply == ParsedReply("Check the DNS settings.\n\n\n\nThen reboot.")
    assert not reply.has_structure


def test_an_empty_reply_parses_to_empty_text() -> None:
    assert parse_markers("") == ParsedReply("")


# --- Questions -----------------------------------------------------------------------------


def test_questions_given_as_strings_are_parsed_and_taken_out_of_the_text() -> None:
    text = "Let me narrow it down.\n" + block("QUESTIONS", '["Which OS?", "Since when?"]')

    reply = parse_markers(text)

    assert reply.text == "Let me narrow it down."
    assert reply.questions == (Question("Which OS?"), Question("Since when?"))
    assert reply.has_structure is True


def test_questions_given_as_objects_keep_why_they_are_asked() -> None:
    body = json.dumps(
        [
            {"text": "Which OS?", "why": "Fixes differ"},
            {"question": "Any recent updates?", "reason": "KB5034441 broke this"},
            {"text": "Domain joined?"},
        ]
    )

    reply = parse_markers(block("QUESTIONS", body))

    assert reply.questions == (
        Question("Which OS?", "Fixes differ"),
        Question("Any recent updates?", "KB5034441 broke this"),
        Question("Domain joined?"),
    )
    assert reply.text == ""


def test_questions_wrapped_in_an_object_are_accepted() -> None:
    reply = parse_markers(block("QUESTIONS", '{"questions": ["Which OS?", {"text": "VPN?"}]}'))

    assert reply.questions == (Question("Which OS?"), Question("VPN?"))


def test_blank_questions_are_dropped_and_text_is_trimmed() -> None:
    body = '["  Which OS?  ", "", "   ", {"text": " "}, {"text": "VPN?", "why": "  "}]'

    reply = parse_markers(block("QUESTIONS", body))

    assert reply.questions == (Question("Which OS?"), Question("VPN?"))


def test_an_empty_block_is_taken_out_and_adds_nothing() -> None:
    reply = parse_markers("Nothing to ask.\n" + block("QUESTIONS", "[]"))

    assert reply == ParsedReply("Nothing to ask.")


# --- Actions -------------------------------------------------------------------------------


def test_actions_given_as_strings_are_parsed() -> None:
    reply = parse_markers(block("ACTIONS", '["Flush DNS", "Restart the spooler"]'))

    assert reply.actions == (Action("Flush DNS"), Action("Restart the spooler"))


def test_actions_given_as_objects_keep_detail_command_and_risk_as_given() -> None:
    body = json.dumps(
        [
            {
                "title": "Flush DNS",
                "detail": "Clears stale records",
                "command": "ipconfig /flushdns",
                "risk": "low",
            },
            {"action": "Reset Winsock", "description": "Needs a reboot", "risk": "Medium"},
            {"label": "Rebuild the profile", "risk": "high"},
        ]
    )

    reply = parse_markers(block("ACTIONS", body))

    assert reply.actions == (
        Action("Flush DNS", "Clears stale records", "ipconfig /flushdns", "low"),
        Action("Reset Winsock", "Needs a reboot", None, "Medium"),
        Action("Rebuild the profile", risk="high"),
    )


def test_actions_wrapped_in_an_object_are_accepted() -> None:
    reply = parse_markers(block("ACTIONS", '{"actions": [{"title": "Flush DNS"}, "Reboot"]}'))

    assert reply.actions == (Action("Flush DNS"), Action("Reboot"))


def test_blank_actions_are_dropped() -> None:
    reply = parse_markers(block("ACTIONS", '["", {"title": "  "}, {"title": "Reboot"}]'))

    assert reply.actions == (Action("Reboot"),)


# --- Forks ---------------------------------------------------------------------------------


def test_a_fork_object_gives_its_question_and_options() -> None:
    body = json.dumps(
        {
            "question": "Is the issue on one machine or all?",
            "options": ["One machine", {"label": "All", "description": "Check the server"}],
        }
    )

    reply = parse_markers(block("FORK", body))

    assert reply.forks == (
        Fork(
            "Is the issue on one machine or all?",
            (ForkOption("One machine"), ForkOption("All", "Check the server")),
        ),
    )


def test_a_bare_list_of_options_is_a_fork_without_a_question() -> None:
    reply = parse_markers(block("FORK", '["Wired", {"label": "Wi-Fi"}]'))

    assert reply.forks == (Fork("", (ForkOption("Wired"), ForkOption("Wi-Fi"))),)


def test_a_list_of_fork_objects_gives_every_fork_in_order() -> None:
    body = json.dumps(
        [
            {"question": "Which site?", "options": ["HQ", "Branch"]},
            {"question": "Which user?", "options": ["Admin"]},
        ]
    )

    reply = parse_markers(block("FORK", body))

    assert [fork.question for fork in reply.forks] == ["Which site?", "Which user?"]
    assert reply.forks[1].options == (ForkOption("Admin"),)


def test_forks_wrapped_in_an_object_are_accepted() -> None:
    reply = parse_markers(block("FORK", '{"forks": [{"question": "Site?", "options": ["HQ"]}]}'))

    assert reply.forks == (Fork("Site?", (ForkOption("HQ"),)),)


def test_a_fork_whose_options_are_all_blank_is_dropped() -> None:
    body = '[{"question": "Site?", "options": ["", " "]}, {"question": "User?", "options": ["A"]}]'

    reply = parse_markers(block("FORK", body))

    assert reply.forks == (Fork("User?", (ForkOption("A"),)),)


# --- How blocks are written ----------------------------------------------------------------


def test_json_in_a_fence_is_read() -> None:
    text = 'Try these:\n[ACTIONS]\n```json\n["Flush DNS"]\n```\n[/ACTIONS]'

    reply = parse_markers(text)

    assert reply == ParsedReply("Try these:", actions=(Action("Flush DNS"),))


def test_json_in_a_fence_without_a_language_is_read() -> None:
    reply = parse_markers('[ACTIONS]\n```\n["Flush DNS"]\n```\n[/ACTIONS]')

    assert reply.actions == (Action("Flush DNS"),)


def test_whitespace_around_the_json_and_json_on_the_tag_line_are_accepted() -> None:
    reply = parse_markers('Hi\n  [QUESTIONS]   ["Which OS?"]  \t\n\n  [/QUESTIONS]  \nBye')

    assert reply == ParsedReply("Hi\nBye", questions=(Question("Which OS?"),))


def test_windows_line_endings_are_accepted() -> None:
    reply = parse_markers('Hi\r\n[QUESTIONS]\r\n["Which OS?"]\r\n[/QUESTIONS]\r\nBye')

    assert reply == ParsedReply("Hi\nBye", questions=(Question("Which OS?"),))


def test_several_blocks_of_one_kind_accumulate_in_order() -> None:
    text = "\n".join(
        [
            block("QUESTIONS", '["First?"]'),
            "Some text.",
            block("QUESTIONS", '["Second?", "Third?"]'),
        ]
    )

    reply = parse_markers(text)

    assert [q.text for q in reply.questions] == ["First?", "Second?", "Third?"]
    assert reply.text == "Some text."


def test_adjacent_blocks_of_every_kind_are_all_taken_out() -> None:
    text = (
        "Here is the plan.\n"
        + block("QUESTIONS", '["Which OS?"]')
        + block("ACTIONS", '["Reboot"]')
        + "\n"
        + block("FORK", '["A", "B"]')
        + "\nGood luck."
    )

    reply = parse_markers(text)

    assert reply == ParsedReply(
        "Here is the plan.\nGood luck.",
        questions=(Question("Which OS?"),),
        actions=(Action("Reboot"),),
        forks=(Fork("", (ForkOption("A"), ForkOption("B"))),),
    )


# --- Blocks that stay as text --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '[ACTIONS]\n```json\n["Flush DNS"]\n[/ACTIONS]',
        'I will ask [QUESTIONS]\n["Which OS?"]\n[/QUESTIONS]',
        '[questions]\n["Which OS?"]\n[/questions]',
        'Before\n[QUESTIONS]\n["Which OS?",\n[/QUESTIONS]\nAfter',
        block("QUESTIONS", '["Which OS?", {"text": ["not", "text"]}]'),
        'Intro\n[ACTIONS]\n["Reboot"]',
        '["Reboot"]\n[/ACTIONS]\nDone',
        '[ACTIONS]\n["Reboot"]\n[/QUESTIONS]',
        block("QUESTIONS", "[" * 50_000 + "]" * 50_000),
        block("QUESTIONS", "[" + "9" * 10_000 + "]"),
    ],
    ids=[
        "a fence never closed",
        "a tag in the middle of a line",
        "tags are case-sensitive",
        "json that does not parse",
        "one unusable item",
        "opening tag without closing tag",
        "closing tag without opening tag",
        "closing tag of another kind",
        "json nested too deep",
        "an integer too long to read",
    ],
)
def test_text_without_a_usable_closed_block_stays_verbatim(text: str) -> None:
    assert parse_markers(text) == ParsedReply(text)


@pytest.mark.parametrize(
    ("tag", "body"),
    [
        ("QUESTIONS", "[1, 2]"),
        ("QUESTIONS", '[{"why": "no text"}]'),
        ("QUESTIONS", '[{"text": "OS?", "why": 3}]'),
        ("QUESTIONS", '{"question": "a single object is not a list"}'),
        ("QUESTIONS", '"just a string"'),
        ("ACTIONS", '[{"detail": "no title"}]'),
        ("ACTIONS", '[{"title": "Reboot", "risk": 5}]'),
        ("ACTIONS", '["Reboot", null]'),
        ("FORK", '{"question": "No options"}'),
        ("FORK", '{"question": 1, "options": ["A"]}'),
        ("FORK", '[["nested"]]'),
        ("FORK", "42"),
    ],
)
def test_a_block_with_an_unusable_shape_stays_verbatim(tag: str, body: str) -> None:
    text = f"Intro\n{block(tag, body)}"

    assert parse_markers(text) == ParsedReply(text)


def test_a_closing_tag_inside_a_json_string_ends_the_block_early() -> None:
    # Blocks close at the first closing tag; the renderer escapes it inside strings ("[\/").
    text = '[ACTIONS]\n["Type [/ACTIONS] here"]\n[/ACTIONS]'

    assert parse_markers(text) == ParsedReply(text)
    assert parse_markers(text.replace("[/ACTIONS] here", "[\\/ACTIONS] here")).actions == (
        Action("Type [/ACTIONS] here"),
    )


# --- Nested blocks -------------------------------------------------------------------------


def test_a_usable_block_inside_an_unusable_one_is_still_taken_out() -> None:
    text = 'Intro\n[QUESTIONS]\nnot json\n[ACTIONS]\n["Reboot"]\n[/ACTIONS]\n[/QUESTIONS]'

    reply = parse_markers(text)

    assert reply.actions == (Action("Reboot"),)
    assert reply.text == "Intro\n[QUESTIONS]\nnot json\n[/QUESTIONS]"


def test_an_outer_block_is_read_after_the_block_inside_it_is_taken_out() -> None:
    text = '[QUESTIONS]\n[\n[ACTIONS]\n["Reboot"]\n[/ACTIONS]\n"Which OS?"]\n[/QUESTIONS]'

    reply = parse_markers(text)

    assert reply == ParsedReply("", questions=(Question("Which OS?"),), actions=(Action("Reboot"),))


def test_an_opening_tag_repeated_before_its_block_stays_as_text() -> None:
    text = '[QUESTIONS]\n[QUESTIONS]\n["Which OS?"]\n[/QUESTIONS]\nThanks'

    reply = parse_markers(text)

    assert reply == ParsedReply("[QUESTIONS]\nThanks", questions=(Question("Which OS?"),))


def test_blocks_inside_an_unclosed_block_are_still_taken_out() -> None:
    text = 'Intro\n[FORK]\n[ACTIONS]\n["Reboot"]\n[/ACTIONS]\nOutro'

    reply = parse_markers(text)

    assert reply == ParsedReply("Intro\n[FORK]\nOutro", actions=(Action("Reboot"),))


def test_a_closing_tag_quoted_in_a_nested_block_does_not_close_the_outer_block() -> None:
    inner = block("ACTIONS", '["Type [/QUESTIONS] here"]')
    text = f'[QUESTIONS]\n{inner}\n["Which OS?"]\n[/QUESTIONS]'

    reply = parse_markers(text)

    assert reply == ParsedReply(
        "", questions=(Question("Which OS?"),), actions=(Action("Type [/QUESTIONS] here"),)
    )


# --- Tidying the shown text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        ("Intro:\n", "\nOutro", "Intro:\nOutro"),
        ("Intro\n\n\n", "\n\n\n\nOutro", "Intro\n\nOutro"),
        ("Intro\n", " Outro", "Intro\nOutro"),
        ("Steps:\n", "\n    indented code", "Steps:\n    indented code"),
    ],
    ids=[
        "own lines: a single line break",
        "blank lines collapse to one",
        "text after the closing tag: own line",
        "indentation of the next line kept",
    ],
)
def test_the_lines_around_a_block_are_tidied(before: str, after: str, shown: str) -> None:
    reply = parse_markers(before + block("ACTIONS", '["Reboot"]') + after)

    assert reply.text == shown


def test_a_reply_that_is_only_blocks_shows_no_text() -> None:
    reply = parse_markers("\n\n" + block("ACTIONS", '["A"]') + "\n\n" + block("FORK", '["B"]'))

    assert reply.text == ""
    assert reply.has_structure is True


# --- Rendering -----------------------------------------------------------------------------


def test_render_writes_the_text_then_one_canonical_block_per_kind() -> None:
    reply = ParsedReply(
        "Intro",
        questions=(Question("Which OS?", "Fixes differ"),),
        actions=(Action("Reboot", command="shutdown /r /t 0", risk="low"),),
        forks=(Fork("Where?", (ForkOption("HQ", "Main office"),)),),
    )

    rendered = render_markers(reply)

    assert rendered.startswith("Intro\n\n[QUESTIONS]\n")
    assert rendered.index("[ACTIONS]") < rendered.index("[FORK]")
    assert rendered.endswith("[/FORK]")
    actions_json = rendered.split("[ACTIONS]\n")[1].split("\n[/ACTIONS]")[0]
    assert json.loads(actions_json) == [
        {"title": "Reboot", "command": "shutdown /r /t 0", "risk": "low"}
    ]
    assert parse_markers(rendered) == reply


def test_render_of_a_reply_without_structure_is_its_text() -> None:
    assert render_markers(ParsedReply("Just text.")) == "Just text."
    assert render_markers(ParsedReply("")) == ""


def test_render_escapes_closing_tags_inside_item_text() -> None:
    reply = ParsedReply("", actions=(Action("Type [/ACTIONS] and [/FORK]"),))

    assert parse_markers(render_markers(reply)) == reply


# --- Linear time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[QUESTIONS]\n" + "[" * 100_000 + "\n[/QUESTIONS]",
        "\n[QUESTIONS]" * 8_000 + "[/QUESTIONS]" * 8_000,
        "\n[ACTIONS]\n[" * 8_000 + "]\n[/ACTIONS]" * 8_000,
        '\n[QUESTIONS]\n["a"]\n[/QUESTIONS]' * 3_000,
        ("\n[FORK]\n{" + "[/FORK]" * 3) * 5_000,
        "x" * 50_000 + "\n[QUESTIONS]\n[]\n[/QUESTIONS]" * 2_500,
    ],
    ids=[
        "brackets",
        "block-of-brackets",
        "nested-tags",
        "nested-blocks",
        "many-blocks",
        "stray-closers",
        "long-text-then-blocks",
    ],
)
def test_a_100_kb_reply_of_brackets_and_tags_parses_quickly(text: str) -> None:
    started = time.perf_counter()

    parse_markers(text)

    assert time.perf_counter() - started < 2.0


# --- Properties ----------------------------------------------------------------------------

FRAGMENTS = [
    *TAGS,
    "\n",
    "\n\n\n",
    " ",
    "\t",
    "\r\n",
    "[",
    "]",
    "{",
    "}",
    '"',
    ",",
    ":",
    "[/",
    "```json\n",
    "\n```",
    '"a"',
    '"text": ',
    '"options": ',
    '"question": "Q?", ',
    '{"title": "T"}',
    '["x"]',
    "null",
    "1",
    "\\",
    "word",
]

tag_soup = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(max_size=4),
    max_size=40,
).map("".join)

kinds = st.sampled_from(["QUESTIONS", "ACTIONS", "FORK"])
line_breaks = st.sampled_from(["", "\n", "\n", "\n\n", "\n\n\n", " ", "\n  ", "\r\n"])
bodies = st.sampled_from(
    [
        '["a"]',
        "[]",
        '[" "]',
        '["a", {"text": "b", "why": "c"}]',
        '[{"title": "T", "risk": "low"}]',
        '{"question": "Q?", "options": ["x", {"label": "y"}]}',
        '{"questions": ["q"]}',
        '```json\n["f"]\n```',
        "[",
        '"a"]',
        "not json",
        '["a",',
        "[1]",
        '["Type [/QUESTIONS] or [/FORK]"]',
    ]
)


def blocks(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A block, often well formed, whose body may hold other blocks and text."""
    return st.builds(
        _block_text,
        line_breaks,
        kinds,
        st.lists(inner | bodies | line_breaks, min_size=1, max_size=4).map("".join),
        line_breaks,
        # Mostly closed by its own tag (None); sometimes by another one, or never ("").
        st.sampled_from([None, None, None, "", "QUESTIONS", "ACTIONS", "FORK"]),
    )


def _block_text(before: str, kind: str, body: str, after: str, closing: str | None) -> str:
    closing_tag = "" if closing == "" else f"[/{closing or kind}]"
    return f"{before}[{kind}]{body}{after}{closing_tag}"


nested_blocks = st.recursive(
    st.sampled_from(FRAGMENTS) | st.text(max_size=4) | bodies, blocks, max_leaves=12
)
block_soup = st.lists(nested_blocks | line_breaks, max_size=8).map("".join)
any_reply_text = st.text() | tag_soup | block_soup


def well_formed_blocks(shown: str) -> list[str]:
    """Each opening tag at a line start with its text up to the next closing tag, if usable."""
    found = []
    for opening in OPENING.finditer(shown):
        kind = opening.group(1)
        start = opening.end() - len(kind) - 2
        end = shown.find(f"[/{kind}]", opening.end())
        if end < 0:
            continue
        candidate = shown[start : end + len(kind) + 3]
        if parse_markers(candidate).text != candidate:
            found.append(candidate)
    return found


@given(any_reply_text)
def test_parsing_never_raises_and_shows_trimmed_text(text: str) -> None:
    reply = parse_markers(text)

    assert isinstance(reply, ParsedReply)
    assert reply.text == reply.text.strip()


@given(st.text().filter(lambda t: all(tag not in t for tag in TAGS)))
def test_text_without_tags_is_shown_unchanged_but_trimmed(text: str) -> None:
    assert parse_markers(text) == ParsedReply(text.strip())


@given(any_reply_text)
def test_parsing_the_shown_text_again_finds_nothing_more(text: str) -> None:
    shown = parse_markers(text).text

    assert parse_markers(shown) == ParsedReply(shown)


@given(any_reply_text)
def test_the_shown_text_never_contains_a_well_formed_block(text: str) -> None:
    assert well_formed_blocks(parse_markers(text).text) == []


@given(any_reply_text)
def test_the_shown_text_has_no_run_of_more_than_two_newlines_the_input_did_not_have(
    text: str,
) -> None:
    shown = parse_markers(text).text

    if "\n\n\n" not in text.replace("\r", ""):
        assert "\n\n\n" not in shown


words = st.text(min_size=1, max_size=30).map(str.strip).filter(bool)
maybe_words = st.none() | words
shown_text = st.text(max_size=200).map(str.strip).filter(lambda t: all(g not in t for g in TAGS))
questions = st.builds(Question, words, maybe_words)
actions = st.builds(Action, words, maybe_words, maybe_words, maybe_words)
fork_options = st.builds(ForkOption, words, maybe_words)
forks = st.builds(
    Fork,
    st.just("") | words,
    st.lists(fork_options, min_size=1, max_size=4).map(tuple),
)
replies = st.builds(
    ParsedReply,
    shown_text,
    st.lists(questions, max_size=4).map(tuple),
    st.lists(actions, max_size=4).map(tuple),
    st.lists(forks, max_size=3).map(tuple),
)


@given(replies)
def test_rendering_then_parsing_gives_back_the_same_reply(reply: ParsedReply) -> None:
    assert parse_markers(render_markers(reply)) == reply


@given(replies, replies)
def test_two_rendered_replies_in_a_row_parse_to_their_items_in_order(
    first: ParsedReply, second: ParsedReply
) -> None:
    reply = parse_markers(render_markers(first) + "\n" + render_markers(second))

    assert reply.questions == first.questions + second.questions
    assert reply.actions == first.actions + second.actions
    assert reply.forks == first.forks + second.forks
