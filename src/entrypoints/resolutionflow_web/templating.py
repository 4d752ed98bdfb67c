"""The Jinja environment (autoescaped, package templates) and how handlers answer with it."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.response import Template

from resolutionflow_core.guided import ConfidenceTier
from resolutionflow_core.lifecycle import LifecycleAction, SessionStatus
from resolutionflow_core.session import SessionType
from resolutionflow_web import render
from resolutionflow_web.auth import CSRF_FIELD, SignedIn

STATIC = "/static"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("resolutionflow_web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        icon=render.icon,
        when=render.when,
        markdown=render.markdown,
        text_lines=render.text_lines,
        csrf_field=CSRF_FIELD,
        static=STATIC,
        SessionType=SessionType,
        SessionStatus=SessionStatus,
        LifecycleAction=LifecycleAction,
        ConfidenceTier=ConfidenceTier,
    )
    return env


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def is_partial(request: Request[Any, Any, Any]) -> bool:
    """An htmx request that swaps part of a page (a boosted one wants the whole page)."""
    return is_htmx(request) and request.headers.get("hx-boosted") != "true"


def page(name: str, user: SignedIn | None, *, status_code: int = 200, **context: Any) -> Template:
    return Template(template_name=name, context={"user": user, **context}, status_code=status_code)
