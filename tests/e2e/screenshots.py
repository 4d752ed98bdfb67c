"""Screenshots of the web app for the docs: ``uv run python -m tests.e2e.screenshots``.

Starts the real server on a fresh database, works a few sessions through the browser, and
writes desktop (1280 px) and phone (390 px) PNGs of the dashboard, history, chat and guided
pages into ``docs/screenshots/``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.e2e.conftest import (
    ALICE,
    BOB,
    CHROMIUM,
    CHROMIUM_ARGS,
    OWEN,
    PEOPLE,
    Person,
    _register,
    fail_a_delivery,
    sign_in_on,
    web_server,
)
from tests.servers import ServerProcess

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}


def sign_in(
    browser: Any, web: ServerProcess, person: Person, width: int, scheme: str = "light"
) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 860}, color_scheme=scheme, device_scale_factor=1
    )
    page = context.new_page()
    page.goto(web.base_url + "/sign-in")
    sign_in_on(page, web, person)
    return page


def chat(page: Any, web: ServerProcess, first: str, follow_up: str | None = None) -> str:
    page.goto(web.base_url + "/new/chat")
    page.fill("#message", first)
    page.click("button:has-text('Start chat')")
    page.wait_for_selector("#composer")
    if follow_up:
        page.fill("#content", follow_up)
        page.keyboard.press("Enter")
        page.locator(".msg.assistant:not(.streaming)").nth(1).wait_for()
        page.locator(".streaming").wait_for(state="detached")
    return str(page.url)


def guided(page: Any, web: ServerProcess, problem: str, answers: int) -> str:
    page.goto(web.base_url + "/new/guided")
    page.fill("#problem", problem)
    page.click("button:has-text('Start guided session')")
    page.wait_for_selector("#step")
    for _ in range(answers):
        if page.locator(".step-answers button").count():
            page.locator(".step-answers button").last.click()
        else:
            page.fill("#response", "Checked: no change, it still happens")
            page.click(".step-note button")
        page.wait_for_selector("#step")
    return str(page.url)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        web = web_server(Path(directory))
        try:
            asyncio.run(_register(web.database_url, PEOPLE))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = sign_in(browser, web, ALICE, 1280)
                resolved = chat(page, web, "Scanner on floor 3 cannot save to the file share")
                page.goto(resolved)
                page.click("button[data-open=resolve-dialog]")
                page.fill("#resolve-summary", "Re-entered the scan-to-folder credentials")
                page.click("#resolve-dialog button[type=submit]")
                page.wait_for_selector(".chip.status-resolved")
                escalated = guided(page, web, "Exchange hybrid mail flow stopped overnight", 2)
                page.goto(escalated)
                page.click("button[data-open=escalate-dialog]")
                page.fill("#escalate-reason", "Needs a tenant admin to check the connector")
                page.click("#escalate-dialog button[type=submit]")
                page.wait_for_selector(".chip.status-escalated")
                bob = sign_in(browser, web, BOB, 1280)
                chat(bob, web, "Bob's laptop will not join the Wi-Fi after the update")
                guided_url = guided(
                    page, web, "The VPN drops every ten minutes since the firewall update", 3
                )
                chat_url = chat(
                    page,
                    web,
                    "Outlook keeps asking for the password since Monday",
                    "Still failing after a reboot; the user is on Microsoft 365",
                )
                pages = {
                    "dashboard": web.base_url + "/",
                    "history": web.base_url + "/sessions",
                    "chat": chat_url,
                    "guided": guided_url,
                }
                for label, width in WIDTHS.items():
                    viewer = sign_in(browser, web, ALICE, width)
                    for name, url in pages.items():
                        viewer.goto(url)
                        viewer.wait_for_load_state("networkidle")
                        path = OUT / f"{name}-{label}.png"
                        viewer.screenshot(path=str(path), full_page=label == "phone")
                        print(path)
                # The Retry of a failed note delivery, as an owner sees it.
                fail_a_delivery(web.database_url, resolved.rsplit("/", 1)[1])
                owen = sign_in(browser, web, OWEN, 1280)
                owen.goto(resolved)
                owen.wait_for_load_state("networkidle")
                owen.screenshot(path=str(OUT / "deliveries-desktop.png"))
                print(OUT / "deliveries-desktop.png")
                dark = sign_in(browser, web, ALICE, 1280, "dark")
                dark.goto(chat_url)
                dark.wait_for_load_state("networkidle")
                dark.screenshot(path=str(OUT / "chat-desktop-dark.png"))
                print(OUT / "chat-desktop-dark.png")
                browser.close()
        finally:
            web.stop()


if __name__ == "__main__":
    main()
