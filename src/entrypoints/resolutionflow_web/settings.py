"""Settings for owners and admins: the account's users (a new user's password shown once)
API keys (a new key's secret shown once; revoke) and the PSA connection (form, Test)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from resolutionflow_app import Application
from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_app.psa import PROVIDERS, TICKET_CHANGES
from resolutionflow_core.access import Role, grantable_roles
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.users import (
    ensure_can_manage_users,
    new_password,
    register_user,
)
from resolutionflow_web.auth import SignedIn
from resolutionflow_web.forms import Form
from resolutionflow_web.templating import page


@get("/settings/users", name="users")
async def users_page(
    user: NamedDependency[SignedIn], application: NamedDependency[Application]
) -> Template:
    ensure_can_manage_users(user.actor)
    return await _users(user, application)


@post("/settings/users", name="create_user")
async def create_user(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    application: NamedDependency[Application],
    passwords: NamedDependency[Argon2Passwords],
) -> Template:
    form = await Form.of(request)
    role = _role(form.required("role"))
    ensure_can_manage_users(user.actor, role)
    password = new_password()
    created = await register_user(
        application.users, passwords, account_id=user.actor.account_id,
        email=form.required("email"), role=role, password=password, now=application.clock.now(),
    )  # fmt: skip
    return await _users(user, application, created=created, password=password, status_code=201)


async def _users(
    user: SignedIn, application: Application, *, status_code: int = 200, **extra: Any
) -> Template:
    users = await application.users.list(user.actor.account_id)
    roles = grantable_roles(user.actor)
    context: dict[str, Any] = {"created": None, "password": None, **extra}
    return page(
        "settings_users.html", user, status_code=status_code, users=users, roles=roles, **context
    )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(role.value for role in Role)
        raise InvalidInput("role", f"must be one of {allowed}, got {value!r}") from None


@get("/settings/keys", name="keys")
async def keys_page(
    user: NamedDependency[SignedIn], application: NamedDependency[Application]
) -> Template:
    return await _keys(user, application)


@post("/settings/keys", name="create_key")
async def create_key(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    application: NamedDependency[Application],
) -> Template:
    form = await Form.of(request)
    role = _role(form.required("role"))
    new = await application.key_management.create(
        user.actor, form.required("user_id").strip(), role, form.optional("label") or ""
    )
    return await _keys(user, application, new_key=new, status_code=201)


@post("/settings/keys/{key_id:uuid}/revoke", name="revoke_key")
async def revoke_key(
    user: NamedDependency[SignedIn],
    application: NamedDependency[Application],
    key_id: FromPath[UUID],
) -> Template:
    await application.key_management.revoke(user.actor, key_id)
    return await _keys(user, application)


async def _keys(
    user: SignedIn, application: Application, *, status_code: int = 200, **extra: Any
) -> Template:
    keys = await application.key_management.list(user.actor)
    roles = grantable_roles(user.actor)
    context: dict[str, Any] = {"new_key": None, **extra}
    return page(
        "settings_keys.html", user, status_code=status_code, keys=keys, roles=roles, **context
    )


@get("/settings/psa", name="psa")
async def psa_page(
    user: NamedDependency[SignedIn],
    application: NamedDependency[Application],
    provider: FromQuery[str | None] = None,
) -> Template:
    return await _psa(user, application, provider)


@post("/settings/psa", name="connect_psa")
async def connect_psa(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    application: NamedDependency[Application],
) -> Template:
    application.connection_management.ensure_allowed(user.actor, "configure the PSA connection")
    form = await Form.of(request)
    provider = form.required("provider")
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise InvalidInput("provider", f"must be one of {', '.join(sorted(PROVIDERS))}")
    settings: dict[str, Any] = {
        name: value
        for name in (*spec.required, *spec.optional)
        if (value := form.optional(name)) is not None
    }
    settings["statuses"] = {
        change: value
        for change in TICKET_CHANGES
        if (value := form.optional(f"status_{change}")) is not None
    }
    credentials = {name: form.optional(name) or "" for name in spec.secret}
    await application.connection_management.connect(user.actor, provider, settings, credentials)
    return await _psa(user, application, provider, saved=True)


@post("/settings/psa/test", name="test_psa")
async def test_psa(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedIn],
    application: NamedDependency[Application],
) -> Template:
    form = await Form.of(request)
    tested = await application.connection_management.test(user.actor, form.required("ticket_id"))
    return await _psa(user, application, None, ticket=tested.ticket, discovered=tested.discovered)


@post("/settings/psa/disconnect", name="disconnect_psa")
async def disconnect_psa(
    user: NamedDependency[SignedIn], application: NamedDependency[Application]
) -> Template:
    await application.connection_management.disconnect(user.actor)
    return await _psa(user, application, None)


async def _psa(
    user: SignedIn, application: Application, provider: str | None, **extra: Any
) -> Template:
    current = await application.connection_management.current(user.actor)
    chosen = provider or (current.provider if current else "connectwise")
    if chosen not in PROVIDERS:
        raise InvalidInput("provider", f"must be one of {', '.join(sorted(PROVIDERS))}")
    values = current.settings if current and current.provider == chosen else {}
    context: dict[str, Any] = {"saved": False, "ticket": None, "discovered": None, **extra}
    return page(
        "settings_psa.html",
        user,
        current=current,
        providers=sorted(PROVIDERS),
        spec=PROVIDERS[chosen],
        values=values,
        changes=TICKET_CHANGES,
        **context,
    )
