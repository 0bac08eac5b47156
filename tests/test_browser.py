"""The module page in a real browser (Debian Chromium driven by Playwright)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_student_logs_in_and_reads_the_module_page(page, live_server, student, module):
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Login").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("Signed in as").is_visible()

    page.get_by_role("link", name="[Stage#2] WebSockets").click()
    assert page.get_by_role("heading", name="[Stage#2] WebSockets", level=1).is_visible()
    objectives = page.locator("ol.objectives li")
    assert objectives.count() == 5
    assert "establish a WebSocket connection" in objectives.nth(1).inner_text()
    for group in ["Introduction to WebSockets", "Securing WebSocket Connections", "Lecture Videos"]:
        assert page.get_by_role("heading", name=group, level=3).is_visible()
    assert page.get_by_role("link", name="WebSocket API - MDN Web Docs").is_visible()
    # The stylesheet is served locally (no CDN) and applied.
    assert page.evaluate("getComputedStyle(document.body).display") == "flex"


def test_the_module_page_fits_a_phone_screen(browser, live_server, module):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(f"{live_server.url}/modules/st2-websockets/")
    width = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert width <= 375
