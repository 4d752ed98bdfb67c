"""The web app factory: pages over the same `Application` as the HTTP API."""

from __future__ import annotations

from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from resolutionflow_app import Application
from resolutionflow_web import actions, chat, pages, settings, signin
from resolutionflow_web.auth import BrowserSessions, SignedIn, SignInLimit
from resolutionflow_web.errors import EXCEPTION_HANDLERS
from resolutionflow_web.templating import STATIC, environment

IDLE = timedelta(hours=8)
"""A browser session ends after this long without a request."""
STREAM_GRACE_SECONDS = 30.0

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def create_web_app(
    application: Application,
    *,
    idle: timedelta = IDLE,
) -> Litestar:
    """The pages; the caller owns ``application`` (and closes it). They call the same use
    cases as the API (``application.sessions``, ``application.session_deliveries``, …)."""
    from resolutionflow_app.passwords import Argon2Passwords

    templates = environment()
    browser_sessions = BrowserSessions(application.browser_sessions, application.clock, idle)
    limit = SignInLimit()
    replies = chat.PendingReplies()
    passwords = Argon2Passwords()

    async def signed_in(request: Request[Any, Any, Any]) -> SignedIn:
        return await browser_sessions.signed_in(request)

    async def on_shutdown() -> None:
        await replies.wait(STREAM_GRACE_SECONDS)

    static_dir = Path(str(files("resolutionflow_web") / "static"))
    return Litestar(
        route_handlers=[
            signin.sign_in_form,
            signin.sign_in,
            signin.sign_out,
            pages.dashboard,
            pages.history,
            pages.new_session,
            pages.session_page,
            pages.documentation_page,
            actions.start_chat,
            actions.start_guided,
            actions.answer_step,
            actions.next_step,
            actions.lifecycle,
            actions.link_ticket,
            actions.share_update,
            actions.retry_deliveries,
            chat.send_message,
            chat.reply_stream,
            chat.answer_again,
            settings.users_page,
            settings.create_user,
            settings.keys_page,
            settings.create_key,
            settings.revoke_key,
            settings.psa_page,
            settings.connect_psa,
            settings.test_psa,
            settings.disconnect_psa,
            create_static_files_router(
                path=STATIC, directories=[static_dir], cache_control=None, name="static"
            ),
        ],
        dependencies={
            "user": Provide(signed_in),
            "application": Provide(lambda: application, sync_to_thread=False),
            "sessions": Provide(lambda: application.sessions, sync_to_thread=False),
            "session_deliveries": Provide(
                lambda: application.session_deliveries, sync_to_thread=False
            ),
            "browser_sessions": Provide(lambda: browser_sessions, sync_to_thread=False),
            "sign_in_limit": Provide(lambda: limit, sync_to_thread=False),
            "passwords": Provide(lambda: passwords, sync_to_thread=False),
            "replies": Provide(lambda: replies, sync_to_thread=False),
            "templates": Provide(lambda: templates, sync_to_thread=False),
        },
        template_config=TemplateConfig(
            engine=JinjaTemplateEngine.from_environment(templates),
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[security_headers],
        request_max_body_size=application.settings.max_request_bytes,
        on_shutdown=[on_shutdown],
        openapi_config=None,
    )


async def security_headers(message: Message, scope: Scope) -> None:
    """CSP without inline scripts, no framing, no sniffing: on every response."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            headers[name] = value
