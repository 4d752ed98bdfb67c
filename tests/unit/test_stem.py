"""The core's light stemmer: the in-memory engine's and the recall of similar sessions'."""

from __future__ import annotations

import pytest

from resolutionflow_core.search import stem


@pytest.mark.parametrize(
    ("forms", "root"),
    [
        (("drop", "drops", "dropped", "dropping"), "drop"),
        (("stop", "stops", "stopped", "stopping"), "stop"),
        (("print", "prints", "printed", "printing"), "print"),
        (("install", "installs", "installed", "installing"), "install"),
        (("pass", "passes", "passed"), "pass"),
        (("fizz", "fizzing"), "fizz"),
    ],
)
def test_the_forms_of_a_word_share_its_stem(forms: tuple[str, ...], root: str) -> None:
    assert [stem(form) for form in forms] == [root] * len(forms)


@pytest.mark.parametrize("word", ["vpn", "dns", "printer", "less", "sing", "red"])
def test_short_words_and_other_endings_stay_as_they_are(word: str) -> None:
    assert stem(word) == word
