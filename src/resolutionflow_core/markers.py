"""Assistant markers: structured questions, actions and forks inside an AI chat reply.

A reply may carry blocks: a newline (or the start of the text), the tag `[QUESTIONS]`,
`[ACTIONS]` or `[FORK]`, JSON (optionally in a ```json fence), then the closing tag. Blocks are
parsed into items and taken out of the shown text. A block whose JSON does not parse, or whose
shape is unusable, stays in the text verbatim: parsing never raises.

How tags pair up, so that parsing the shown text again finds nothing more: an opening tag counts
only at the start of a line; a closing tag closes the most recent pending opening tag if it is
of the same kind. If that block is unusable it stays as text, and so does every opening tag still
pending before it (their JSON would have to span a stray tag line, which JSON cannot). A
closing tag of another kind is plain text inside the pending block, and a usable block nested in
another is taken out before the outer one is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final, Literal

from resolutionflow_core.marker_types import Action, Fork, ForkOption, ParsedReply, Question

__all__ = [
    "Action",
    "Fork",
    "ForkOption",
    "ParsedReply",
    "Question",
    "parse_markers",
    "render_markers",
]

_Kind = Literal["QUESTIONS", "ACTIONS", "FORK"]


def parse_markers(text: str) -> ParsedReply:
    """Take the well-formed marker blocks out of `text`; never raises."""
    reader = _Reader()
    position = 0
    for match in _TAG.finditer(text):
        reader.add_text(text[position : match.start()])
        kind = _KINDS[match.group(2)]
        if match.group(1):
            reader.add_closing_tag(kind, match.group(0))
        else:
            reader.add_opening_tag(kind, match.group(0))
        position = match.end()
    reader.add_text(text[position:])
    return reader.reply()


def render_markers(reply: ParsedReply) -> str:
    """The reply as the model would write it: the text, then one canonical block per kind."""
    blocks = []
    if reply.questions:
        blocks.append(_render_block("QUESTIONS", [_question_json(q) for q in reply.questions]))
    if reply.actions:
        blocks.append(_render_block("ACTIONS", [_action_json(a) for a in reply.actions]))
    if reply.forks:
        blocks.append(_render_block("FORK", [_fork_json(f) for f in reply.forks]))
    return "\n\n".join([reply.text, *blocks] if reply.text else blocks)


# --- Reading the text ---------------------------------------------------------------------

# Literal alternatives only: one linear pass, no backtracking whatever the input.
_TAG: Final = re.compile(r"\[(/?)(QUESTIONS|ACTIONS|FORK)\]")
_KINDS: Final[dict[str, _Kind]] = {"QUESTIONS": "QUESTIONS", "ACTIONS": "ACTIONS", "FORK": "FORK"}
_FENCE_LANGUAGE: Final = re.compile(r"[\w+.-]*")


@dataclass(slots=True)
class _Reader:
    """Builds the shown text left to right, taking a block out when its closing tag arrives.

    Each piece of shown text is joined into a block's JSON at most once, so reading is linear.
    """

    shown: list[str] = field(default_factory=list)
    # Opening tags at the start of a line still waiting for their closing tag: kind, index.
    pending: list[tuple[_Kind, int]] = field(default_factory=list)
    # Whether the current line of shown text holds only whitespace so far.
    line_blank: bool = True
    # While the whitespace around a removed block is being read: the newlines it holds.
    gap_newlines: int | None = None
    gap_indent: str = ""
    questions: list[Question] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)

    def add_text(self, chunk: str) -> None:
        if self.gap_newlines is not None:
            rest = chunk.lstrip()
            self._widen_gap(chunk[: len(chunk) - len(rest)])
            if not rest:
                return
            self._close_gap()
            chunk = rest
        self._show(chunk)

    def add_opening_tag(self, kind: _Kind, tag: str) -> None:
        self._close_gap()
        if self.line_blank:
            self.pending.append((kind, len(self.shown)))
        self._show(tag)

    def add_closing_tag(self, kind: _Kind, tag: str) -> None:
        self._close_gap()
        if self.pending and self.pending[-1][0] == kind:
            _, start = self.pending.pop()
            found = _read_block(kind, "".join(self.shown[start + 1 :]))
            if found is not None:
                del self.shown[start:]
                self.questions.extend(found.questions)
                self.actions.extend(found.actions)
                self.forks.extend(found.forks)
                self._open_gap()
                return
            # The unusable block stays as text, and its tag line sits inside the JSON of every
            # opening tag pending before it: none of them can close any more.
            self.pending.clear()
        self._show(tag)

    def reply(self) -> ParsedReply:
        return ParsedReply(
            text="".join(self.shown).strip(),
            questions=tuple(self.questions),
            actions=tuple(self.actions),
            forks=tuple(self.forks),
        )

    def _show(self, piece: str) -> None:
        self.shown.append(piece)
        newline = piece.rfind("\n")
        if newline >= 0:
            self.line_blank = not piece[newline + 1 :].strip()
        else:
            self.line_blank = self.line_blank and not piece.strip()

    def _open_gap(self) -> None:
        """Drop the whitespace before a removed block, counting its newlines."""
        newlines = 0
        # Look at the last character first: rstrip would copy a long piece on every removal.
        while self.shown and (not self.shown[-1] or self.shown[-1][-1].isspace()):
            last = self.shown.pop()
            kept = last.rstrip()
            newlines += last.count("\n", len(kept))
            if kept:
                self.shown.append(kept)
                break
        self.gap_newlines = newlines
        self.gap_indent = ""
        self.line_blank = not self.shown

    def _widen_gap(self, whitespace: str) -> None:
        self.gap_newlines = (self.gap_newlines or 0) + whitespace.count("\n")
        newline = whitespace.rfind("\n")
        if newline >= 0:
            self.gap_indent = whitespace[newline + 1 :]

    def _close_gap(self) -> None:
        """Join the text around a removed block: one line break, or a paragraph break if any."""
        if self.gap_newlines is None:
            return
        # The block's own lines account for one newline: "a\n[BLOCK]\nb" becomes "a\nb".
        breaks = min(max(self.gap_newlines - 1, 1), 2)
        self.gap_newlines = None
        if self.shown:
            self._show("\n" * breaks + self.gap_indent)


def _read_block(kind: _Kind, content: str) -> ParsedReply | None:
    """The items of one block, or None if it must stay as text."""
    payload = _unfence(content.strip())
    if payload is None:
        return None
    # The lenient JSON shapes use pydantic, loaded on the first block read rather than at
    # import, so `import resolutionflow_core` stays cheap.
    from resolutionflow_core._marker_shapes import READERS

    try:
        return READERS[kind](json.loads(payload))
    except (ValueError, RecursionError):  # bad JSON, deep nesting, or an unusable shape
        return None


def _unfence(content: str) -> str | None:
    """The JSON inside an optional ``` fence (```json ... ```), or None for a broken fence."""
    if not content.startswith("```"):
        return content
    newline = content.find("\n")
    if newline < 0 or not content.endswith("```"):
        return None
    if not _FENCE_LANGUAGE.fullmatch(content[3:newline].strip()):
        return None
    return content[newline + 1 : -3]


# --- Writing blocks -----------------------------------------------------------------------


def _render_block(tag: str, payload: list[dict[str, object]]) -> str:
    # "[/" only occurs inside JSON strings; "[\/" reads back the same and can never close a tag.
    body = json.dumps(payload, ensure_ascii=False, indent=2).replace("[/", "[\\/")
    return f"[{tag}]\n{body}\n[/{tag}]"


def _fields(**values: str | None) -> dict[str, object]:
    return {name: value for name, value in values.items() if value is not None}


def _question_json(question: Question) -> dict[str, object]:
    return _fields(text=question.text, why=question.why)


def _action_json(action: Action) -> dict[str, object]:
    return _fields(
        title=action.title, detail=action.detail, command=action.command, risk=action.risk
    )


def _fork_json(fork: Fork) -> dict[str, object]:
    options = [_fields(label=o.label, description=o.description) for o in fork.options]
    return {"question": fork.question, "options": options}
