"""Signed-in browsers: the session cookie, CSRF tokens, and the sign-in rate limit.

- The cookie holds a random token; the server keeps only its hash (`BrowserSessionStore`).
  It is HttpOnly, SameSite=Lax, Secure when the request came over https, replaced by a new
  one on every sign-in, and worthless after ``idle`` without a request.
- Every POST carries the browser session's CSRF token, as the ``_csrf`` form field or the
  ``X-CSRF-Token`` header (htmx sends the header on every request). The sign-in form, used
  before there is a session, carries a token that must equal its own cookie's.
- Failed sign-ins are counted per account+email and per address; past the limit every
  attempt is refused for a while with the same words whatever was wrong.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.datastructures import Cookie

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.ports import Clock
from resolutionflow_core.users import BrowserSession, BrowserSessionStore, hash_token

SESSION_COOKIE = "rf_session"
SIGN_IN_COOKIE = "rf_sign_in"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
TOUCH_EVERY = timedelta(seconds=60)
"""A browser's last use is written at most this often (not on every request)."""
REMEMBER_SECONDS = 5.0
"""A looked-up browser session is reused this long by this process (one database read less
per request, like the API's key cache); signing out through this process forgets at once."""


class SignInRequired(Exception):
    """No valid browser session: the page redirects to the sign-in form."""


class CsrfRefused(Exception):
    """A POST without the right CSRF token."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The browser's user, and the CSRF token its forms carry."""

    actor: Actor
    csrf_token: str
    token_hash: str

    @property
    def can_change(self) -> bool:
        return self.actor.role is not Role.VIEWER

    @property
    def manages(self) -> bool:
        return self.actor.role in (Role.OWNER, Role.ADMIN)


@dataclass
class BrowserSessions:
    """Looks up, checks and renews the browser session of each request."""

    store: BrowserSessionStore
    clock: Clock
    idle: timedelta
    remember: float = REMEMBER_SECONDS
    _recent: dict[str, tuple[float, BrowserSession]] = field(default_factory=dict)

    async def _get(self, token_hash: str) -> BrowserSession | None:
        now = time.monotonic()
        found = self._recent.get(token_hash)
        if found is not None and now - found[0] < self.remember:
            return found[1]
        session = await self.store.get(token_hash)
        if len(self._recent) > 10_000:
            self._recent.clear()
        if session is None:
            self._recent.pop(token_hash, None)
        else:
            self._recent[token_hash] = (now, session)
        return session

    async def signed_in(self, request: Request[Any, Any, Any]) -> SignedIn:
        """The request's user; `SignInRequired`, or `CsrfRefused` for a POST without it."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInRequired()
        token_hash = hash_token(token)
        session = await self._get(token_hash)
        now = self.clock.now()
        if session is None:
            raise SignInRequired()
        if session.expired(now, self.idle):
            await self.end(token_hash)
            raise SignInRequired()
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await check_csrf(request, session.csrf_token)
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self.store.touch(token_hash, now)
            self._recent[token_hash] = (time.monotonic(), replace(session, last_seen_at=now))
        return SignedIn(session.actor, session.csrf_token, token_hash)

    async def start(self, session: BrowserSession, replacing: str | None) -> None:
        """Store a new browser session; the one it replaces (if any) ends."""
        if replacing:
            await self.end(hash_token(replacing))
        await self.store.add(session)

    async def end(self, token_hash: str) -> None:
        self._recent.pop(token_hash, None)
        await self.store.remove(token_hash)


async def check_csrf(request: Request[Any, Any, Any], expected: str) -> None:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not presented or not hmac.compare_digest(presented, expected):
        raise CsrfRefused()


def session_cookie(token: str, request: Request[Any, Any, Any], idle: timedelta) -> Cookie:
    return _cookie(
        SESSION_COOKIE, token, request, path="/", samesite="lax", max_age=int(idle.total_seconds())
    )


def sign_in_cookie(value: str, request: Request[Any, Any, Any]) -> Cookie:
    return _cookie(
        SIGN_IN_COOKIE, value, request, path="/sign-in", samesite="strict", max_age=3_600
    )


def _cookie(key: str, value: str, request: Request[Any, Any, Any], **options: Any) -> Cookie:
    """A cookie scripts cannot read (HttpOnly), sent back over HTTPS only when it came so."""
    return Cookie(key=key, value=value, httponly=True, secure=is_https(request), **options)


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def is_https(request: Request[Any, Any, Any]) -> bool:
    return request.url.scheme == "https"


def sign_in_url(next_path: str) -> str:
    return f"/sign-in?next={quote(next_path, safe='/')}"


def safe_next(value: str | None) -> str:
    """Only a path of this site (never ``//host`` or a scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


@dataclass
class SignInLimit:
    """At most ``per_user`` failures per account+email and ``per_address`` per client
    address within ``window`` seconds; then refused until the oldest failure ages out."""

    per_user: int = 5
    per_address: int = 20
    window: float = 15 * 60
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, account: str, email: str, address: str) -> int:
        """Seconds until a new attempt may be made (0: now)."""
        now = time.monotonic()
        waits = [
            self._wait(f"user:{account.strip()}:{email.strip().lower()}", self.per_user, now),
            self._wait(f"addr:{address}", self.per_address, now),
        ]
        return max(waits)

    def failed(self, account: str, email: str, address: str) -> None:
        now = time.monotonic()
        for key in (f"user:{account.strip()}:{email.strip().lower()}", f"addr:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def _wait(self, key: str, limit: int, now: float) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if len(failures) < limit:
            return 0
        return int(self.window - (now - failures[0])) + 1
