"""How search hits and solved-before sessions look in the CLI's tables (``--json`` prints
the read models)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.rule import Rule
from rich.text import Text

from resolutionflow_cli.output import clean
from resolutionflow_core.search import HIGHLIGHT_START, HIGHLIGHT_STOP, SearchPage
from resolutionflow_core.similar import SimilarSession, clipped


def match_text(match: str | None) -> Text:
    """A snippet with its matched words in bold (the markers themselves are not shown)."""
    text = Text()
    if not match:
        return text
    rest = clean(match)
    while HIGHLIGHT_START in rest:
        before, _, after = rest.partition(HIGHLIGHT_START)
        word, _, rest = after.partition(HIGHLIGHT_STOP)
        text.append(before)
        text.append(word, style="bold yellow")
    text.append(rest)
    return text


def print_matches(out: Console, page: SearchPage) -> None:
    for hit in page.items:
        out.print(Text.assemble((str(hit.summary.id), "dim"), "  ", match_text(hit.match)))


def similar_block(similar: tuple[SimilarSession, ...]) -> Group | None:
    """The "Solved before" section, or ``None`` when there is nothing to show."""
    if not similar:
        return None
    lines: list[Rule | Text] = [Rule("Solved before")]
    for s in similar:
        lines.append(
            Text.assemble(
                (clean(s.title), "bold"),
                (f"  by {clean(s.user_id)}", "dim"),
                (f"  resolutionflow sessions show {s.id}", "dim"),
            )
        )
        lines.append(Text(f"  {clean(clipped(s.resolution_summary, 200) or '')}"))
        if s.root_cause:
            lines.append(Text(f"  Root cause: {clean(clipped(s.root_cause, 200) or '')}"))
    return Group(*lines)
