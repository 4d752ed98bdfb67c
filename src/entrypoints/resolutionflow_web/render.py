"""What templates call: markdown rendered and sanitised, icons, times, labels.

Everything a person or the LLM wrote is escaped by Jinja's autoescape; markdown goes
through markdown-it (raw HTML off) and then nh3 (an allow-list sanitiser), never ``|safe``
on raw text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}


def markdown(text: str) -> Markup:
    """``text`` as sanitised HTML: no raw HTML, links only http(s) and mailto."""
    html = _MARKDOWN.render(text)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


_LICENSE_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)


@cache
def _icon_svg(name: str) -> str:
    svg = (files("resolutionflow_web") / "static" / "icons" / f"{name}.svg").read_text()
    svg = _LICENSE_COMMENT.sub("", svg).strip()
    return svg.replace("<svg", '<svg aria-hidden="true" focusable="false"', 1)


def icon(name: str) -> Markup:
    """A Lucide icon inline (so it takes the text colour); decorative, hidden from readers."""
    if not re.fullmatch(r"[a-z-]+", name):
        raise ValueError(f"not an icon name: {name!r}")
    return Markup(_icon_svg(name))


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """ "12 min ago", "3 h ago", "2 d ago"; the exact time goes in ``<time datetime>``."""
    if moment is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3_600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3_600} h ago"
    if seconds < 30 * 86_400:
        return f"{seconds // 86_400} d ago"
    return moment.strftime("%Y-%m-%d")


def when(moment: datetime | None) -> Markup:
    """A ``<time>`` element: relative text, the exact UTC time on hover."""
    if moment is None:
        return Markup("")
    exact = moment.astimezone(UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        exact.isoformat(), exact.strftime("%Y-%m-%d %H:%M UTC"), ago(moment)
    )


def text_lines(text: str) -> Markup:
    """Plain text with its line breaks kept (escaped first)."""
    return Markup("<br>").join(escape(line) for line in text.splitlines())
