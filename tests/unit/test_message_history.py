"""A chat's history only grows, and decodes stored messages only when they are read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resolutionflow_core.chat import ConversationMessage, MessageHistory, MessageRole

NOW = datetime(2026, 11, 4, tzinfo=UTC)


def message(n: int) -> ConversationMessage:
    return ConversationMessage(MessageRole.USER if n % 2 else MessageRole.ASSISTANT, f"m{n}", NOW)


class CountingDecoder:
    def __init__(self) -> None:
        self.decoded: list[int] = []

    def __call__(self, stored: int) -> ConversationMessage:
        self.decoded.append(stored)
        return message(stored)


def test_stored_messages_are_decoded_only_when_read_and_only_once() -> None:
    decoder = CountingDecoder()
    history = MessageHistory.decoded_lazily(list(range(500)), decoder)
    history.append(message(500))
    assert len(history) == 501
    assert decoder.decoded == []
    assert history[-1] == message(500)
    assert history[3] == message(3)
    assert history[3] == message(3)
    assert decoder.decoded == [3]
    assert [m.content for m in history[-3:]] == ["m498", "m499", "m500"]
    assert decoder.decoded == [3, 498, 499]


def test_a_history_compares_equal_to_the_same_messages_in_a_list() -> None:
    history = MessageHistory.decoded_lazily([0, 1, 2], CountingDecoder())
    assert history == [message(0), message(1), message(2)]
    assert history != [message(0), message(1)]
    assert history == MessageHistory([message(0), message(1), message(2)])


def test_a_history_cannot_be_rewritten_in_place() -> None:
    history = MessageHistory([message(0)])
    with pytest.raises(TypeError):
        history[0] = message(1)  # type: ignore[index]
    assert not hasattr(history, "pop")
    assert not hasattr(history, "insert")


def test_a_copy_grows_independently_and_shares_nothing_mutable() -> None:
    decoder = CountingDecoder()
    history = MessageHistory.decoded_lazily([0, 1], decoder)
    copy = history.copy()
    copy.append(message(2))
    assert len(history) == 2
    assert len(copy) == 3
    assert list(copy) == [message(0), message(1), message(2)]


def test_reading_past_the_end_is_an_index_error() -> None:
    history = MessageHistory([message(0)])
    with pytest.raises(IndexError):
        history[1]
    with pytest.raises(IndexError):
        history[-2]


def test_walking_the_whole_history_decodes_each_stored_message_once() -> None:
    decoder = CountingDecoder()
    history = MessageHistory.decoded_lazily(list(range(6)), decoder)
    assert history[4] == message(4)
    history.append(message(6))
    assert [m.content for m in reversed(history)] == [f"m{n}" for n in range(6, -1, -1)]
    assert list(history) == [message(n) for n in range(7)]
    assert sorted(decoder.decoded) == [0, 1, 2, 3, 4, 5]
    copy = history.copy()
    assert list(copy) == list(history)
    assert len(decoder.decoded) == 6


def test_a_copy_taken_before_the_walk_still_decodes_what_it_lacks() -> None:
    decoder = CountingDecoder()
    history = MessageHistory.decoded_lazily([0, 1, 2], decoder)
    copy = history.copy()
    assert list(history) == [message(0), message(1), message(2)]
    assert list(reversed(copy)) == [message(2), message(1), message(0)]
    assert copy[1] == message(1)
