"""The web app in a real browser: sign in, chat, guided, escalate and claim, share an
update, a viewer's and another account's view, XSS and CSRF, accessibility (axe-core)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    ALICE,
    BOB,
    GINA,
    OWEN,
    VIC,
    Person,
    fail_a_delivery,
    sign_in_on,
)
from tests.servers import ServerProcess

pytestmark = pytest.mark.process  # starts processes: `pytest -m "not process"` skips it

XSS = "<img src=x onerror=alert(1)>"
SERIOUS = ("serious", "critical")


class Signed:
    """A signed-in browser page, and every JavaScript dialog that fired on it."""

    def __init__(self, context: Any, page: Any, web: ServerProcess) -> None:
        self.context = context
        self.page = page
        self.web = web
        self.dialogs: list[str] = []
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> Any:
        return self.page.goto(self.web.base_url + path)


@pytest.fixture
def sign_in(browser: Any, web: ServerProcess) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(person: Person, width: int = 1280) -> Signed:
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        signed = Signed(context, page, web)
        signed.go("/")
        assert "/sign-in" in page.url
        sign_in_on(page, web, person)
        return signed

    yield open_as
    for context in contexts:
        context.close()


def start_chat(signed: Signed, message: str) -> str:
    signed.go("/new/chat")
    signed.page.fill("#message", message)
    signed.page.click("button:has-text('Start chat')")
    signed.page.wait_for_url(re.compile(r"/sessions/[0-9a-f-]{36}$"))
    return str(signed.page.url.rsplit("/", 1)[1])


def axe_serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert len(results.response["passes"]) > 5, "axe-core did not run"
    return [
        f"{violation['id']}: {violation['help']}"
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]


def test_a_chat_streams_its_reply_with_parsed_actions_is_resolved_and_found_again(
    sign_in: Any,
) -> None:
    alice = sign_in(ALICE)
    session_id = start_chat(alice, f"Outlook keeps asking for the password {XSS}")
    page = alice.page

    question = page.locator(".marker.questions li").first
    question.locator("button[data-answer]").click()
    assert page.input_value("#content").startswith("> ")
    assert page.evaluate("document.activeElement.id") == "content"
    page.fill("#content", "")

    first = page.locator(".msg.mine").first
    assert XSS in first.inner_text()
    assert page.locator(".msg.mine img").count() == 0

    page.fill("#content", f"Still failing after the reboot {XSS} [docs](javascript:alert(2))")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg.mine:has-text('Still failing after the reboot')")
    page.locator(".msg.assistant:not(.streaming)").nth(1).wait_for()
    page.locator(".streaming").wait_for(state="detached")
    assert page.locator(".streaming").count() == 0
    assert page.input_value("#content") == ""
    last = page.locator(".msg.assistant").last
    assert last.locator(".marker.actions .checklist li").count() >= 1
    assert "[ACTIONS]" not in last.inner_text()
    assert XSS in last.inner_text()  # the assistant's reply quotes it: shown as text
    assert page.locator("#thread img, #thread a[href^='javascript']").count() == 0

    page.click("button[data-open=resolve-dialog]")
    page.fill("#resolve-summary", f"Rebuilt the Outlook profile {XSS}")
    page.click("#resolve-dialog button[type=submit]")
    page.wait_for_selector(".chip.status-resolved")
    assert page.locator("#composer").count() == 0
    assert XSS in page.locator(".closed-note").inner_text()

    alice.go("/sessions?type=chat")
    row = page.locator(f"tr:has(a[href='/sessions/{session_id}'])")
    assert row.count() == 1
    assert "resolved" in row.inner_text()
    alice.go("/sessions?type=guided")
    assert page.locator(f"a[href='/sessions/{session_id}']").count() == 0

    alice.go("/")
    recent = page.locator("section[aria-labelledby=recent-h]")
    assert recent.locator(f"a[href='/sessions/{session_id}']").count() == 1

    alice.go(f"/sessions/{session_id}/documentation")
    assert "Resolution note" in page.locator(".doc h2").first.inner_text()
    assert XSS in page.locator(".document").first.inner_text()
    assert alice.dialogs == []


def test_a_guided_session_reaches_the_guided_tier_is_escalated_and_claimed_by_another(
    sign_in: Any,
) -> None:
    alice = sign_in(ALICE)
    page = alice.page
    alice.go("/new/guided")
    page.fill("#problem", "The VPN drops every ten minutes since the firewall update")
    page.click("button:has-text('Start guided session')")
    page.wait_for_selector("#step")
    session_id = page.url.rsplit("/", 1)[1]

    for _ in range(15):
        if (page.locator(".tier").text_content() or "").strip() == "guided":
            break
        answer = page.locator(".step-answers button").first
        if answer.count():
            answer.click()
        else:
            page.fill("#response", "Checked it: still dropping")
            page.click(".step-note button")
        page.wait_for_load_state()
    assert (page.locator(".tier").text_content() or "").strip() == "guided"
    assert float(page.locator("#confidence-meter").get_attribute("value") or 0) >= 0.8
    assert page.locator(".steps-so-far li").count() >= 1

    page.click("button[data-open=escalate-dialog]")
    page.fill("#escalate-reason", "Needs the firewall admin")
    page.click("#escalate-dialog button[type=submit]")
    page.wait_for_selector(".chip.status-escalated")

    alice.go("/sessions?status=escalated")
    row = page.locator(f"tr:has(a[href='/sessions/{session_id}'])")
    assert row.locator(".chip").inner_text() == "escalated · waiting for a claim"

    alice.go("/")
    escalated = page.locator("section[aria-labelledby=escalated-h]")
    card = escalated.locator(f"li:has(a[href='/sessions/{session_id}'])")
    assert card.count() == 1
    assert card.locator("button:has-text('Claim')").count() == 0

    bob = sign_in(BOB)
    card = bob.page.locator(
        f"section[aria-labelledby=escalated-h] li:has(a[href='/sessions/{session_id}'])"
    )
    card.locator("button:has-text('Claim')").click()
    bob.page.wait_for_url(re.compile(f"/sessions/{session_id}$"))
    bob.page.wait_for_selector(".chip.status-active")
    assert "bob@acme.example" in bob.page.locator(".session-head").inner_text()
    assert bob.page.locator("button[data-open=resolve-dialog]").count() == 1


def test_a_status_update_is_drafted_recorded_and_copied(sign_in: Any) -> None:
    alice = sign_in(ALICE)
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"])
    start_chat(alice, "Printer on floor 2 shows offline for everyone")
    page = alice.page

    page.click("button[data-open=share-dialog]")
    page.check("input[name=audience][value=client]")
    page.click("#share-dialog button[type=submit]")
    page.wait_for_selector("#draft-body")
    draft = page.locator("#draft-body").inner_text()
    assert len(draft) > 20
    page.click("#share-draft button[data-copy]")
    page.wait_for_selector("#share-draft button[data-copied=true]")
    assert page.evaluate("navigator.clipboard.readText()") == draft


def test_an_owner_retries_a_failed_note_delivery_from_the_session_page(
    sign_in: Any, web: ServerProcess
) -> None:
    alice = sign_in(ALICE)
    session_id = start_chat(alice, "Outlook asks for the password again")
    alice.page.click("button[data-open=resolve-dialog]")
    alice.page.fill("#resolve-summary", "Rebuilt the Outlook profile")
    alice.page.click("#resolve-dialog button[type=submit]")
    alice.page.wait_for_selector(".chip.status-resolved")
    fail_a_delivery(web.database_url, session_id)

    alice.go(f"/sessions/{session_id}")
    failed = alice.page.locator("details.deliveries")
    assert failed.get_attribute("open") == ""  # a failure is shown unfolded
    assert "resolution: failed, 5 attempts" in failed.inner_text()
    assert "401 Unauthorized" in failed.inner_text()
    assert alice.page.locator(".retry-deliveries").count() == 0  # engineers may not retry

    owen = sign_in(OWEN)
    owen.go(f"/sessions/{session_id}")
    page = owen.page
    retry = page.locator(".retry-deliveries button")
    assert retry.inner_text() == "Retry 1 failed note"
    assert axe_serious(page) == []
    retry.focus()
    page.keyboard.press("Enter")
    notice = page.locator(".notice[role=status]")
    notice.wait_for()
    assert notice.inner_text() == (
        "1 failed note put back in the queue; the relay delivers it next."
    )
    assert owen.dialogs == []


def test_a_viewer_sees_no_button_that_changes_anything_and_is_refused_if_posting(
    sign_in: Any, web: ServerProcess
) -> None:
    alice = sign_in(ALICE)
    session_id = start_chat(alice, "Teams calls drop after 30 seconds")

    vic = sign_in(VIC)
    assert vic.page.locator("a:has-text('New chat')").count() == 0
    vic.go(f"/sessions/{session_id}")
    page = vic.page
    assert page.locator(".msg.mine").count() == 1
    assert page.locator(".header-actions button, #composer, .fork-options button").count() == 0

    csrf = json.loads(page.get_attribute("body", "hx-headers") or "{}")["X-CSRF-Token"]
    status = page.evaluate(
        """async ([url, token]) => (await fetch(url, {method: "POST",
             headers: {"X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"},
             body: "summary=mine"})).status""",
        [f"/sessions/{session_id}/resolve", csrf],
    )
    assert status == 403


def test_another_accounts_session_is_a_404_page(sign_in: Any) -> None:
    alice = sign_in(ALICE)
    session_id = start_chat(alice, "The scanner cannot reach the share")

    gina = sign_in(GINA)
    response = gina.go(f"/sessions/{session_id}")
    assert response.status == 404
    assert "Not found" in gina.page.locator("h1").inner_text()
    assert "Teams" not in gina.page.content()


def test_a_post_without_the_csrf_token_is_refused(sign_in: Any, web: ServerProcess) -> None:
    alice = sign_in(ALICE)
    session_id = start_chat(alice, "Disk full on the file server")

    refused = alice.page.request.post(
        f"{web.base_url}/sessions/{session_id}/pause", form={"x": "1"}, max_redirects=0
    )
    assert refused.status == 403
    alice.go(f"/sessions/{session_id}")
    assert alice.page.locator(".chip.status-active").count() == 1

    # The same form from another site: the browser does not even send the cookie (Lax).
    other = alice.context.new_page()
    other.set_content(
        f'<form method="post" action="{web.base_url}/sessions/{session_id}/pause">'
        '<button id="go">go</button></form>'
    )
    other.click("#go")
    other.wait_for_load_state()
    assert "/sign-in" in other.url or "Refused" in other.content()
    alice.go(f"/sessions/{session_id}")
    assert alice.page.locator(".chip.status-active").count() == 1


def test_every_response_carries_the_security_headers(web: ServerProcess) -> None:
    for path in ("/sign-in", "/", "/static/app.js", "/nope"):
        response = httpx.get(web.base_url + path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    sign_in: Any, browser: Any, web: ServerProcess
) -> None:
    anonymous = browser.new_context()
    page = anonymous.new_page()
    page.goto(web.base_url + "/sign-in")
    assert axe_serious(page) == []
    anonymous.close()

    alice = sign_in(ALICE)
    chat_id = start_chat(alice, "VPN client asks for MFA twice")
    alice.go("/new/guided")
    alice.page.fill("#problem", "Shared mailbox missing in Outlook")
    alice.page.click("button:has-text('Start guided session')")
    alice.page.wait_for_selector("#step")
    guided_path = alice.page.url.removeprefix(web.base_url)
    pages = [
        "/",
        "/sessions",
        "/new/chat",
        f"/sessions/{chat_id}",
        guided_path,
        f"/sessions/{chat_id}/documentation",
        "/sessions/00000000-0000-0000-0000-000000000000",
    ]
    found = {}
    for path in pages:
        alice.go(path)
        found[path] = axe_serious(alice.page)
    alice.page.emulate_media(color_scheme="dark")
    for path in ("/", f"/sessions/{chat_id}", guided_path):
        alice.go(path)
        found[f"{path} (dark)"] = axe_serious(alice.page)
    owen = sign_in(OWEN)
    for path in ("/settings/users", "/settings/keys", "/settings/psa"):
        owen.go(path)
        found[path] = axe_serious(owen.page)
    assert found == {path: [] for path in found}
    assert len(found) == len(pages) + 6


PHONE = 390


def overflow(page: Any) -> dict[str, Any]:
    """How far the page is wider than the window, and the menu links cut off at its edge."""
    measured: dict[str, Any] = page.evaluate(
        """() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
            cut: [...document.querySelectorAll("nav.sidebar a, nav.sidebar button")]
                .filter(el => { const box = el.getBoundingClientRect();
                                return box.left < 0 || box.right > window.innerWidth; })
                .map(el => el.textContent.trim()),
        })"""
    )
    return measured


def test_every_page_fits_a_phone_with_the_whole_menu_visible(
    sign_in: Any, browser: Any, web: ServerProcess, tmp_path: Any
) -> None:
    anonymous = browser.new_context(viewport={"width": PHONE, "height": 844})
    page = anonymous.new_page()
    page.goto(web.base_url + "/sign-in")
    found = {"/sign-in": overflow(page)}
    anonymous.close()

    alice = sign_in(ALICE)
    chat_id = start_chat(alice, "A very long message: " + "C:\\Users\\alice\\AppData\\Local" * 6)
    alice.go("/new/guided")
    alice.page.fill("#problem", "Shared mailbox missing in Outlook")
    alice.page.click("button:has-text('Start guided session')")
    alice.page.wait_for_selector("#step")
    guided_path = alice.page.url.removeprefix(web.base_url)
    owen = sign_in(OWEN, width=PHONE)
    paths = [
        "/",
        "/sessions",
        "/sessions?q=outlook&type=guided",
        "/new/chat",
        "/new/guided",
        f"/sessions/{chat_id}",
        guided_path,
        f"/sessions/{chat_id}/documentation",
        "/sessions/00000000-0000-0000-0000-000000000000",
        "/settings/users",
        "/settings/keys",
        "/settings/psa",
    ]
    for path in paths:
        owen.go(path)
        owen.page.screenshot(path=str(tmp_path / f"{len(found)}.png"), full_page=True)
        found[path] = overflow(owen.page)
    menu = owen.page.locator("nav.sidebar li a")
    assert menu.count() == 5  # Dashboard, History, New guided, New chat, Settings
    assert all(menu.nth(i).is_visible() for i in range(menu.count()))
    wide = {
        path: measured
        for path, measured in found.items()
        if measured["scrollWidth"] > measured["innerWidth"] or measured["cut"]
    }
    assert wide == {}
    assert {m["innerWidth"] for m in found.values()} == {PHONE}


def test_the_search_box_is_in_the_top_bar_and_slash_focuses_it(sign_in: Any) -> None:
    alice = sign_in(ALICE)
    session_id = start_chat(alice, "Plotter on floor 4 prints blank pages")
    page = alice.page
    alice.go("/")
    page.locator("body").press("/")
    assert page.evaluate("document.activeElement.id") == "top-q"
    page.keyboard.type("plotter")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/sessions\?q=plotter$"))
    assert page.locator("input[name=q]").count() == 1  # History's own box, not a second one
    assert page.input_value("input[name=q]") == "plotter"
    assert page.locator(f"#history-rows a[href='/sessions/{session_id}']").count() == 1
