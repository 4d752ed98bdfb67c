"""`MarkerGate`: a streamed reply is shown as it comes, without its marker blocks' JSON, and
nothing of the reply's shown text is lost or shown twice, however the stream is cut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from resolutionflow_cli.streaming import MarkerGate
from resolutionflow_core.markers import Action, ParsedReply, Question, parse_markers, render_markers
from tests.marker_tags import TAGS

PIECES = st.sampled_from(
    [
        *TAGS,
        "[offline assistant]",
        "[QUEST",
        '[{"text": "Which printer?"}]',
        "\n",
        "  ",
        "Restart the spooler. ",
        "[",
        "]",
        "{",
        "}",
    ]
)


def stream(text: str, cuts: list[int]) -> tuple[MarkerGate, str]:
    """Feed ``text`` cut at ``cuts``; the gate and everything it let through."""
    gate = MarkerGate()
    shown = []
    start = 0
    for cut in [*sorted(c % (len(text) + 1) for c in cuts), len(text)]:
        shown.append(gate.feed(text[start:cut]))
        start = max(start, cut)
    return gate, "".join(shown)


@given(st.lists(PIECES, max_size=30).map("".join), st.lists(st.integers(0, 10_000), max_size=12))
def test_what_streams_then_the_rest_is_exactly_the_shown_text(text: str, cuts: list[int]) -> None:
    gate, streamed = stream(text, cuts)
    assert streamed == gate.shown
    assert text.startswith(streamed)
    parsed = parse_markers(text)
    assert parsed.text.startswith(streamed.strip())
    assert streamed.strip() + gate.rest(parsed) == parsed.text


@given(st.lists(st.integers(0, 10_000), max_size=20))
def test_a_marker_block_never_streams(cuts: list[int]) -> None:
    reply = ParsedReply(
        "[offline assistant] Start with these checks:",
        questions=(Question("Which printer?", "Narrows it down."),),
        actions=(Action("Restart the spooler", command="net stop spooler"),),
    )
    gate, streamed = stream(render_markers(reply), cuts)
    assert streamed == "[offline assistant] Start with these checks:\n\n"
    assert gate.rest(parse_markers(render_markers(reply))) == ""


def test_text_after_a_block_comes_with_the_rest() -> None:
    text = 'Check this:\n[QUESTIONS]\n[{"text": "Which printer?"}]\n[/QUESTIONS]\nThen report.'
    gate, streamed = stream(text, [3, 15, 40])
    assert streamed == "Check this:\n"
    assert gate.rest(parse_markers(text)) == "\nThen report."


def test_a_block_that_does_not_parse_is_shown_whole_at_the_end() -> None:
    text = "Look:\n[ACTIONS]\nnot json\n[/ACTIONS]"
    gate, streamed = stream(text, [8])
    assert streamed == "Look:\n"
    assert streamed.strip() + gate.rest(parse_markers(text)) == text
