"""Users who sign in to the web app, and the browser sessions they hold.

A user belongs to one account, is known there by an email address, and has a role (the
same roles as API keys). Only a password hash is stored; hashing is a port
(`PasswordHasher`) so the core stays free of a crypto library. A browser session is a
random token the browser holds in a cookie; only its SHA-256 is stored (it carries 256
bits of randomness, like an API key), with a CSRF token and when it was last used.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from resolutionflow_core.access import Actor, Role, ensure_can_manage
from resolutionflow_core.errors import Conflict, InvalidInput, PermissionDenied

MAX_EMAIL_CHARS = 128
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1_024
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class UserExists(Conflict):
    """An account already has a user with this email."""

    code = "user_exists"

    def __init__(self, account_id: str, email: str) -> None:
        super().__init__(f"account {account_id!r} already has a user {email!r}")


def normal_email(email: str) -> str:
    """The email as stored and compared: trimmed, lower case; `InvalidInput` if not one."""
    text = email.strip().lower()
    if len(text) > MAX_EMAIL_CHARS:
        raise InvalidInput("email", f"is longer than {MAX_EMAIL_CHARS} characters")
    if not _EMAIL.fullmatch(text):
        raise InvalidInput("email", "must look like name@example.com")
    return text


def check_password(password: str) -> str:
    """`InvalidInput` unless the password is long enough (and not absurdly long)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput("password", f"must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput("password", f"must have at most {MAX_PASSWORD_CHARS} characters")
    return password


def new_password() -> str:
    """A one-time password to hand a new user (about 120 bits)."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in; sessions they start are owned by their email."""

    id: UUID
    account_id: str
    email: str
    role: Role
    password_hash: str
    created_at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(self.account_id, self.email, self.role)


class PasswordHasher(Protocol):
    """A slow, salted password hash (argon2id in the shipped adapter)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True if ``password`` matches; never raises for a wrong password."""
        ...


class UserStore(Protocol):
    """Where users live."""

    async def add(self, user: User) -> None:
        """Store a new user; `UserExists` if the account has one with that email."""
        ...

    async def find(self, account_id: str, email: str) -> User | None: ...

    async def list(self, account_id: str) -> list[User]:
        """The account's users, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A signed-in browser: whose it is, its CSRF token, and when it was last used."""

    token_hash: str
    actor: Actor
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime

    def expired(self, now: datetime, idle: timedelta) -> bool:
        return now - self.last_seen_at > idle


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_browser_session(actor: Actor, now: datetime) -> tuple[str, BrowserSession]:
    """A fresh ``(cookie token, session)``: the token is only ever in the browser."""
    token = secrets.token_urlsafe(32)
    session = BrowserSession(hash_token(token), actor, secrets.token_urlsafe(32), now, now)
    return token, session


class BrowserSessionStore(Protocol):
    """Signed-in browsers, by the hash of their cookie token."""

    async def add(self, session: BrowserSession) -> None: ...

    async def get(self, token_hash: str) -> BrowserSession | None: ...

    async def touch(self, token_hash: str, now: datetime) -> None:
        """Record that the browser was used now (its inactivity clock restarts)."""
        ...

    async def remove(self, token_hash: str) -> None: ...


async def register_user(
    users: UserStore,
    passwords: PasswordHasher,
    *,
    account_id: str,
    email: str,
    role: Role,
    password: str,
    now: datetime,
) -> User:
    """Create a user (`InvalidInput` for a bad email or password, `UserExists`)."""
    actor = Actor(account_id.strip(), normal_email(email), role)  # checks the account too
    user = User(
        id=uuid4(),
        account_id=actor.account_id,
        email=actor.user_id,
        role=role,
        password_hash=passwords.hash(check_password(password)),
        created_at=now,
    )
    await users.add(user)
    return user


def ensure_can_manage_users(actor: Actor, role: Role | None = None) -> None:
    """Owners and admins manage their account's users; only owners make owners."""
    ensure_can_manage(actor, "manage users", "users")
    if role is Role.OWNER and actor.role is not Role.OWNER:
        raise PermissionDenied("create an owner", "only owners create owners")


async def authenticate_user(
    users: UserStore, passwords: PasswordHasher, account_id: str, email: str, password: str
) -> User | None:
    """The user if the password matches, else ``None`` (never saying which part was wrong).

    An unknown user still costs one hash verification, so timing does not tell either.
    """
    try:
        address = normal_email(email)
    except InvalidInput:
        address = ""
    user = await users.find(account_id.strip(), address) if address else None
    if user is None:
        passwords.verify(_decoy_hash(passwords), password)
        return None
    return user if passwords.verify(user.password_hash, password) else None


_DECOYS: dict[int, str] = {}


def _decoy_hash(passwords: PasswordHasher) -> str:
    key = id(passwords)
    if key not in _DECOYS:
        _DECOYS[key] = passwords.hash(secrets.token_urlsafe(16))
    return _DECOYS[key]
