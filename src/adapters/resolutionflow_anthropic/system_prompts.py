"""The system prompts, kept as versioned files in ``prompts/`` and read with importlib.resources.

Each file starts with its version line, ``Prompt version: <name> v<number>``, which is part of
the prompt sent and of the snapshot kept on the session, so an audit can tell which wording
an answer came from. Change a prompt's wording: raise its number.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Final

_VERSION_LINE: Final = re.compile(r"Prompt version: (?P<name>[a-z_]+) v(?P<number>\d+)")


class PromptName(StrEnum):
    CHAT = "chat"
    GUIDED = "guided"
    DESCRIBE = "describe"
    STATUS_UPDATE = "status_update"


@dataclass(frozen=True, slots=True)
class SystemPrompt:
    name: PromptName
    version: int
    text: str


@functools.cache
def load_prompt(name: PromptName) -> SystemPrompt:
    """The prompt ``name`` from the package's ``prompts/<name>.md`` (read once per process)."""
    path = resources.files("resolutionflow_anthropic").joinpath("prompts", f"{name.value}.md")
    text = path.read_text(encoding="utf-8").strip()
    first_line = text.partition("\n")[0]
    match = _VERSION_LINE.fullmatch(first_line)
    if match is None or match["name"] != name.value:
        raise ValueError(
            f"prompts/{name.value}.md must start with 'Prompt version: {name.value} v<number>'"
        )
    return SystemPrompt(name, int(match["number"]), text)
