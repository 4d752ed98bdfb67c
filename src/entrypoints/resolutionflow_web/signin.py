"""Signing in and out. Wrong account, email or password all get the same words."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from resolutionflow_app import Application
from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_core.users import authenticate_user, new_browser_session
from resolutionflow_web.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    BrowserSessions,
    SignedIn,
    SignInLimit,
    new_form_token,
    safe_next,
    session_cookie,
    sign_in_cookie,
)
from resolutionflow_web.templating import page

REFUSED = "That account, email and password do not match a user. Check them and try again."


@get("/sign-in", name="sign_in_form")
async def sign_in_form(
    request: Request[Any, Any, Any], next: FromQuery[str | None] = None
) -> Template:
    token = request.cookies.get(SIGN_IN_COOKIE) or new_form_token()
    response = page("sign_in.html", None, form_token=token, next=safe_next(next), error=None)
    response.cookies.append(sign_in_cookie(token, request))
    return response


@post("/sign-in", name="sign_in")
async def sign_in(
    request: Request[Any, Any, Any],
    application: NamedDependency[Application],
    browser_sessions: NamedDependency[BrowserSessions],
    sign_in_limit: NamedDependency[SignInLimit],
    passwords: NamedDependency[Argon2Passwords],
) -> Template | Redirect:
    form = await request.form()
    fields = {name: _text(form.get(name)) for name in ("account", "email", "password", "next")}
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    presented = _text(form.get(CSRF_FIELD))
    next_path = safe_next(fields["next"])
    if not expected or not hmac.compare_digest(expected, presented):
        return _refused(request, fields, next_path, "The form expired; try again.", 403)
    address = request.client.host if request.client else "unknown"
    wait = sign_in_limit.retry_after(fields["account"], fields["email"], address)
    if wait:
        minutes = max(1, round(wait / 60))
        message = f"Too many failed sign-ins. Try again in {minutes} min."
        return _refused(request, fields, next_path, message, 429)
    user = await authenticate_user(
        application.users, passwords, fields["account"], fields["email"], fields["password"]
    )
    if user is None:
        sign_in_limit.failed(fields["account"], fields["email"], address)
        return _refused(request, fields, next_path, REFUSED, 401)
    token, session = new_browser_session(user.actor, application.clock.now())
    await browser_sessions.start(session, replacing=request.cookies.get(SESSION_COOKIE))
    redirect = Redirect(next_path, status_code=303)
    redirect.cookies.append(session_cookie(token, request, browser_sessions.idle))
    redirect.cookies.append(Cookie(key=SIGN_IN_COOKIE, value="", path="/sign-in", max_age=0))
    return redirect


@post("/sign-out", name="sign_out")
async def sign_out(
    user: NamedDependency[SignedIn], browser_sessions: NamedDependency[BrowserSessions]
) -> Redirect:
    await browser_sessions.end(user.token_hash)
    redirect = Redirect("/sign-in", status_code=303)
    redirect.cookies.append(Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0))
    return redirect


def _refused(
    request: Request[Any, Any, Any],
    fields: dict[str, str],
    next_path: str,
    message: str,
    status: int,
) -> Template:
    token = new_form_token()
    response = page(
        "sign_in.html",
        None,
        status_code=status,
        form_token=token,
        next=next_path,
        error=message,
        account=fields["account"],
        email=fields["email"],
    )
    response.cookies.append(sign_in_cookie(token, request))
    return response


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
