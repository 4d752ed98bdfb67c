"""The web app in process (Litestar's test client): signing in and its cookie, the sign-in
rate limit, inactivity expiry, a 503 that keeps the message with Retry, Load more that keeps
the filters."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import AsyncTestClient

from resolutionflow_app import Application
from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_app.psa import ConfiguredPSAConnections, Sealer
from resolutionflow_core.access import Role
from resolutionflow_core.delivery import DeliveryState
from resolutionflow_core.errors import LLMUnavailable
from resolutionflow_core.session import IntakeType
from resolutionflow_core.users import register_user
from resolutionflow_memory import InMemoryPSA, OfflineLLM
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from resolutionflow_web import create_web_app
from resolutionflow_web.chat import VisibleText
from resolutionflow_web.signin import REFUSED
from tests.api.conftest import TICKET, MemoryConnections, build_application
from tests.llm_faults import FaultyLLM

PASSWORD = "correct horse battery staple"
EMAIL = "alice@acme.example"


class MovableClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


@dataclass
class Web:
    client: AsyncTestClient[Any]
    application: Application
    llm: FaultyLLM
    clock: MovableClock

    async def sign_in(
        self, email: str = EMAIL, password: str = PASSWORD, next_path: str = "/"
    ) -> Any:
        form = await self.client.get("/sign-in")
        token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
        assert token is not None
        return await self.client.post(
            "/sign-in",
            data={
                "_csrf": token.group(1),
                "account": "acme",
                "email": email,
                "password": password,
                "next": next_path,
            },
            follow_redirects=False,
        )

    async def add_user(self, email: str, role: Role) -> None:
        """Another user of the account, with the same password."""
        await register_user(
            self.application.users, Argon2Passwords(), account_id="acme", email=email,
            role=role, password=PASSWORD, now=self.clock.now(),
        )  # fmt: skip

    async def start_chat(self, csrf: str, message: str) -> str:
        """Start a chat; the path of its page."""
        started = await self.client.post(
            "/sessions/chat", data={"_csrf": csrf, "message": message}, follow_redirects=False
        )
        assert started.status_code == 303
        return str(started.headers["location"])

    async def csrf(self) -> str:
        page = await self.client.get("/")
        token = re.search(r'X-CSRF-Token": "([^"]+)"', page.text)
        assert token is not None, page.text
        return token.group(1)


@pytest.fixture
async def web(migrated_database: Path, tmp_path: Path) -> AsyncIterator[Web]:
    path = tmp_path / "web.sqlite3"
    shutil.copyfile(migrated_database, path)
    llm = FaultyLLM(OfflineLLM())
    connections = MemoryConnections({"acme": InMemoryPSA([TICKET])})
    application = build_application(f"sqlite:///{path}", llm, connections)
    clock = MovableClock()
    application.clock = clock
    await register_user(
        application.users, Argon2Passwords(), account_id="acme", email=EMAIL,
        role=Role.ENGINEER, password=PASSWORD, now=clock.now(),
    )  # fmt: skip
    app = create_web_app(application)
    try:
        async with AsyncTestClient(app) as client:
            yield Web(client, application, llm, clock)
    finally:
        await application.close()


async def test_signing_in_sets_a_httponly_lax_cookie_and_a_new_one_each_time(web: Web) -> None:
    first = await web.sign_in(next_path="/sessions")
    assert first.status_code == 303
    assert first.headers["location"] == "/sessions"
    cookie = next(c for c in first.headers.get_list("set-cookie") if c.startswith("rf_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    old_token = web.client.cookies.get("rf_session")

    second = await web.sign_in()
    assert second.status_code == 303
    new_token = web.client.cookies.get("rf_session")
    assert new_token not in (None, old_token)

    web.client.cookies.set("rf_session", old_token or "")
    stale = await web.client.get("/", follow_redirects=False)
    assert stale.status_code == 303
    assert stale.headers["location"] == "/sign-in?next=/"


async def test_signing_out_ends_the_browser_session(web: Web) -> None:
    await web.sign_in()
    token = web.client.cookies.get("rf_session")
    out = await web.client.post(
        "/sign-out", data={"_csrf": await web.csrf()}, follow_redirects=False
    )
    assert out.status_code == 303
    web.client.cookies.set("rf_session", token or "")
    after = await web.client.get("/", follow_redirects=False)
    assert after.status_code == 303


async def test_a_next_path_to_another_site_is_ignored(web: Web) -> None:
    signed = await web.sign_in(next_path="//evil.example/steal")
    assert signed.headers["location"] == "/"


async def test_a_wrong_email_or_password_gets_the_same_words_and_then_a_limit(web: Web) -> None:
    wrong_password = await web.sign_in(password="not the password at all")
    wrong_email = await web.sign_in(email="mallory@acme.example")
    assert wrong_password.status_code == wrong_email.status_code == 401
    assert REFUSED in wrong_password.text
    assert REFUSED in wrong_email.text
    assert "rf_session" not in web.client.cookies

    for _ in range(4):
        await web.sign_in(password="still not the password")
    limited = await web.sign_in()  # even the right password, now
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in limited.text
    assert "rf_session" not in web.client.cookies


async def test_a_browser_session_ends_after_eight_idle_hours(web: Web) -> None:
    await web.sign_in()
    web.clock.current += timedelta(hours=7, minutes=59)
    assert (await web.client.get("/", follow_redirects=False)).status_code == 200
    web.clock.current += timedelta(hours=7, minutes=59)  # used 7:59 ago: still alive
    assert (await web.client.get("/", follow_redirects=False)).status_code == 200
    web.clock.current += timedelta(hours=8, seconds=1)
    assert (await web.client.get("/", follow_redirects=False)).status_code == 303


async def test_when_the_assistant_is_unavailable_the_message_stays_with_retry(web: Web) -> None:
    await web.sign_in()
    csrf = await web.csrf()
    started = await web.client.post(
        "/sessions/chat",
        data={"_csrf": csrf, "message": "Outlook asks for the password"},
        follow_redirects=False,
    )
    path = started.headers["location"]
    web.llm.fail_next_calls(1, LLMUnavailable("the assistant is overloaded", retry_after=3))

    sent = await web.client.post(
        f"{path}/messages",
        data={"_csrf": csrf, "content": "It started after the password change"},
        headers={"HX-Request": "true"},
    )
    assert sent.status_code == 200
    assert "It started after the password change" in sent.text
    assert "the assistant is overloaded" in sent.text
    assert f'hx-post="{path}/answer-again"' in sent.text

    page = await web.client.get(path)
    assert "It started after the password change" in page.text
    assert "has not answered this message yet" in page.text

    again = await web.client.post(
        f"{path}/answer-again", data={"_csrf": csrf}, headers={"HX-Request": "true"}
    )
    assert again.status_code == 200
    assert "msg assistant" in again.text
    page = await web.client.get(path)
    assert "has not answered this message yet" not in page.text


async def test_load_more_keeps_the_filters(web: Web) -> None:
    await web.sign_in()
    actor = (await web.application.users.find("acme", EMAIL)).actor  # type: ignore[union-attr]
    for number in range(27):
        await web.application.sessions.start_chat(actor, f"Chat problem number {number}")
    for number in range(3):
        await web.application.sessions.start_guided(
            actor, IntakeType.FREE_TEXT, {"text": f"Guided problem {number}"}
        )

    first = await web.client.get("/sessions?type=chat")
    rows = re.findall(r'<td><a href="/sessions/([0-9a-f-]+)">', first.text)
    assert len(rows) == 25
    more = re.search(r'hx-get="(/sessions\?type=chat&amp;cursor=[^"]+)"', first.text)
    assert more is not None

    rest = await web.client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    more_rows = re.findall(r'<td><a href="/sessions/([0-9a-f-]+)">', rest.text)
    assert len(more_rows) == 2
    assert not set(rows) & set(more_rows)
    assert "Guided problem" not in rest.text
    assert "<html" not in rest.text  # the rows alone, swapped into the table
    assert "Load more" not in rest.text


async def test_the_history_search_finds_sessions_by_their_words_and_keeps_the_filters(
    web: Web,
) -> None:
    await web.sign_in()
    actor = (await web.application.users.find("acme", EMAIL)).actor  # type: ignore[union-attr]
    printer = await web.application.sessions.start_chat(actor, "The plotter jams on every print")
    await web.application.sessions.start_chat(actor, "Outlook asks for the password again")
    guided = await web.application.sessions.start_guided(
        actor, IntakeType.FREE_TEXT, {"text": "The plotter shows a paper error"}
    )

    found = await web.client.get("/sessions?q=plotter")
    rows = re.findall(r'<td><a href="/sessions/([0-9a-f-]+)">', found.text)
    assert sorted(rows) == sorted([str(printer.session.id), str(guided.id)])
    assert 'name="q" value="plotter"' in found.text
    assert "«" in found.text  # where each row matched

    chats_only = await web.client.get("/sessions?q=plotter&type=chat")
    rows = re.findall(r'<td><a href="/sessions/([0-9a-f-]+)">', chats_only.text)
    assert rows == [str(printer.session.id)]

    nothing = await web.client.get("/sessions?q=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E")
    assert nothing.status_code == 200
    assert "<img src=x" not in nothing.text
    assert "No session matches" in nothing.text


async def test_bad_filters_are_a_400_page_saying_what_is_wrong(web: Web) -> None:
    await web.sign_in()
    bad = await web.client.get("/sessions?status=sleeping")
    assert bad.status_code == 400
    assert "status: must be one of" in bad.text
    bad_date = await web.client.get("/sessions?from_date=yesterday")
    assert bad_date.status_code == 400
    assert "from_date" in bad_date.text


async def test_an_admin_adds_a_user_who_can_then_sign_in_and_engineers_cannot(web: Web) -> None:
    await web.add_user("ada@acme.example", Role.ADMIN)
    await web.sign_in(email="ada@acme.example")
    csrf = await web.csrf()

    owner = await web.client.post(
        "/settings/users", data={"_csrf": csrf, "email": "otto@acme.example", "role": "owner"}
    )
    assert owner.status_code == 403
    assert "only owners create owners" in owner.text

    created = await web.client.post(
        "/settings/users", data={"_csrf": csrf, "email": "Eve@Acme.example", "role": "engineer"}
    )
    assert created.status_code == 201
    password = re.search(r'<pre class="document" id="new-password">([^<]+)</pre>', created.text)
    assert password is not None
    assert "eve@acme.example" in created.text
    again = await web.client.post(
        "/settings/users", data={"_csrf": csrf, "email": "eve@acme.example", "role": "viewer"}
    )
    assert again.status_code == 409
    assert "already has a user" in again.text

    web.client.cookies.clear()
    signed = await web.sign_in(email="eve@acme.example", password=password.group(1))
    assert signed.status_code == 303
    assert (await web.client.get("/settings/users")).status_code == 403
    assert "Settings" not in (await web.client.get("/")).text


async def test_an_owner_creates_a_key_that_the_api_accepts_and_revokes_it(web: Web) -> None:
    await web.add_user("olga@acme.example", Role.OWNER)
    await web.sign_in(email="olga@acme.example")
    csrf = await web.csrf()

    created = await web.client.post(
        "/settings/keys",
        data={"_csrf": csrf, "user_id": "webhook", "role": "viewer", "label": "PSA <b>hook</b>"},
    )
    assert created.status_code == 201
    secret = re.search(r'id="new-secret">(rf_[^<]+)</pre>', created.text)
    assert secret is not None
    assert "PSA &lt;b&gt;hook&lt;/b&gt;" in created.text
    actor = await web.application.keys.authenticate(secret.group(1))
    assert actor is not None
    assert (actor.account_id, actor.user_id, actor.role) == ("acme", "webhook", Role.VIEWER)

    (key,) = [k for k in await web.application.keys.list("acme") if k.label.startswith("PSA")]
    listed = await web.client.get("/settings/keys")
    assert secret.group(1) not in listed.text  # shown once only
    revoked = await web.client.post(f"/settings/keys/{key.id}/revoke", data={"_csrf": csrf})
    assert revoked.status_code == 200
    assert await web.application.keys.authenticate(secret.group(1)) is None


async def test_an_engineer_cannot_see_or_create_keys(web: Web) -> None:
    await web.sign_in()
    csrf = await web.csrf()
    assert (await web.client.get("/settings/keys")).status_code == 403
    refused = await web.client.post(
        "/settings/keys", data={"_csrf": csrf, "user_id": "me", "role": "owner"}
    )
    assert refused.status_code == 403
    assert await web.application.keys.list("acme") == []


async def test_a_linked_ticket_and_its_notes_delivery_state_show_on_the_session(web: Web) -> None:
    await web.sign_in()
    csrf = await web.csrf()
    path = await web.start_chat(csrf, "Outlook asks for the password")

    missing = await web.client.post(f"{path}/ticket", data={"_csrf": csrf, "ticket_id": "T-404"})
    assert missing.status_code == 404
    linked = await web.client.post(f"{path}/ticket", data={"_csrf": csrf, "ticket_id": "T-100"})
    assert linked.status_code == 200
    assert "memory ticket #T-100" in linked.text
    resolved = await web.client.post(
        f"{path}/resolve", data={"_csrf": csrf, "summary": "Reset the cached credential"}
    )
    assert resolved.status_code == 200
    assert "Notes to ticket #T-100" in resolved.text
    assert re.search(r"resolution · pending", resolved.text)

    documents = await web.client.get(f"{path}/documentation")
    assert documents.status_code == 200
    assert "Resolution note" in documents.text
    assert "Reset the cached credential" in documents.text


async def test_each_lifecycle_form_posts_to_its_action_and_an_unknown_one_is_a_404(
    web: Web,
) -> None:
    await web.sign_in()
    csrf = await web.csrf()
    path = await web.start_chat(csrf, "The printer on floor 2 jams on every job")

    async def post(action: str, **fields: str) -> int:
        answer = await web.client.post(
            f"{path}/{action}", data={"_csrf": csrf, **fields}, follow_redirects=False
        )
        return answer.status_code

    async def status() -> str:
        shown = re.search(r'class="chip status-(\w+)', (await web.client.get(path)).text)
        assert shown is not None
        return shown.group(1)

    assert await post("reopen") == 404  # not an action
    assert await post("pause") == 303
    assert await status() == "paused"
    assert await post("resume") == 303
    assert await status() == "active"
    assert await post("escalate") == 400  # the reason is required
    assert await status() == "active"
    assert await post("escalate", reason="Needs the print server admin") == 303
    assert await status() == "escalated"
    assert await post("claim") == 409  # not by the engineer who escalated it
    assert await status() == "escalated"


async def test_an_admin_retries_failed_note_deliveries_and_an_engineer_may_not(web: Web) -> None:
    await web.sign_in()
    csrf = await web.csrf()
    path = await web.start_chat(csrf, "VPN drops every hour")
    await web.client.post(f"{path}/ticket", data={"_csrf": csrf, "ticket_id": "T-100"})
    await web.client.post(f"{path}/resolve", data={"_csrf": csrf, "summary": "New VPN profile"})
    session_id = UUID(path.rsplit("/", 1)[1])
    (due,) = await web.application.deliveries.for_session(session_id)
    await web.application.deliveries.failed(due.id, error="PSA refused the note: 401")

    mine = await web.client.get(path)
    assert "resolution: <strong>failed</strong>" in mine.text
    assert "PSA refused the note: 401" in mine.text
    assert "deliveries/retry" not in mine.text  # engineers see no Retry (the API's rule)
    assert "An owner or admin can retry the failed note" in mine.text
    refused = await web.client.post(f"{path}/deliveries/retry", data={"_csrf": csrf})
    assert refused.status_code == 403, refused.text
    assert "only owners and admins manage PSA deliveries" in refused.text
    assert [d.state for d in await web.application.deliveries.for_session(session_id)] == [
        DeliveryState.FAILED
    ]

    await web.add_user("ada@acme.example", Role.ADMIN)
    await web.sign_in(email="ada@acme.example")
    csrf = await web.csrf()
    shown = await web.client.get(path)
    assert f'action="{path}/deliveries/retry"' in shown.text
    assert "Retry 1 failed note</button>" in shown.text
    unsigned = await web.client.post(f"{path}/deliveries/retry", data={})
    assert unsigned.status_code == 403

    retried = await web.client.post(f"{path}/deliveries/retry", data={"_csrf": csrf})
    assert retried.status_code == 200
    assert "1 failed note put back in the queue" in retried.text
    assert "resolution: <strong>pending</strong>, 0 attempts" in retried.text
    assert "deliveries/retry" not in retried.text
    (after,) = await web.application.deliveries.for_session(session_id)
    assert (after.state, after.attempts) == (DeliveryState.PENDING, 0)

    again = await web.client.post(f"{path}/deliveries/retry", data={"_csrf": csrf})
    assert again.status_code == 200
    assert "No failed note to retry." in again.text
    unknown = "/sessions/00000000-0000-0000-0000-000000000000/deliveries/retry"
    assert (await web.client.post(unknown, data={"_csrf": csrf})).status_code == 404


def test_a_streaming_reply_shows_its_text_but_never_a_raw_marker_block() -> None:
    visible = VisibleText()
    pieces = ["Check these ", "first:\n[AC", 'TIONS]\n[{"title": "Reboot"}]\n[/ACTIONS]', "after"]

    shown = [visible.add(piece) for piece in pieces]

    assert shown == ["Check these ", "first:\n", "", ""]
    other = VisibleText()
    assert [other.add(p) for p in ["a [link", "](x) b", " [Q"]] == ["a [link", "](x) b", " "]


async def test_an_admin_connects_the_psa_without_the_secret_ever_shown_and_disconnects(
    web: Web,
) -> None:
    web.application.psa = ConfiguredPSAConnections(
        SqlPSAConnectionStore(web.application.storage.database), Sealer(Sealer.new_key())
    )
    await web.add_user("ada@acme.example", Role.ADMIN)
    await web.sign_in(email="ada@acme.example")
    csrf = await web.csrf()

    form = await web.client.get("/settings/psa?provider=connectwise")
    assert form.status_code == 200
    assert 'name="private_key" type="password"' in form.text
    missing = await web.client.post(
        "/settings/psa",
        data={"_csrf": csrf, "provider": "connectwise", "company": "acme", "public_key": "pub",
              "client_id": "rf", "private_key": "s3cr3t-value"},
    )  # fmt: skip
    assert missing.status_code == 400
    assert "connectwise needs site or base_url" in missing.text

    saved = await web.client.post(
        "/settings/psa",
        data={
            "_csrf": csrf, "provider": "connectwise", "site": "api-na.myconnectwise.net",
            "company": "acme", "public_key": "pub", "client_id": "rf",
            "private_key": "s3cr3t-value", "status_resolved": "Closed",
        },
    )  # fmt: skip
    assert saved.status_code == 200
    assert "<strong>connectwise</strong>" in saved.text
    assert "credentials set: private_key" in saved.text
    assert "s3cr3t-value" not in saved.text
    assert 'value="Closed"' in saved.text
    view = await web.application.connections.show("acme")
    assert view is not None
    assert view.settings["statuses"] == {"resolved": "Closed"}

    gone = await web.client.post("/settings/psa/disconnect", data={"_csrf": csrf})
    assert "Not connected" in gone.text
    untested = await web.client.post("/settings/psa/test", data={"_csrf": csrf, "ticket_id": "1"})
    assert untested.status_code == 409  # nothing to test until it is connected again
    assert "account acme has no PSA connection" in untested.text


async def test_an_engineer_cannot_see_the_psa_connection(web: Web) -> None:
    await web.sign_in()
    refused = await web.client.get("/settings/psa")
    assert refused.status_code == 403, refused.text
    assert "only owners and admins manage the PSA connection" in refused.text
