"""Helpers for the tests that drive Debian Chromium through Playwright."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from quizzes.models import Attempt
from tests.quizkit import drawn, session_cookie

# Runs before any page script; the CSP does not apply to scripts injected this way.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile})`);
});
"""


def log_in(context, base: str, user) -> None:
    _, value = session_cookie(user)
    context.add_cookies(
        [{"name": "sessionid", "value": value.decode().split("=", 1)[1], "url": base}]
    )


def start_live(page, base: str, slug: str) -> None:
    """Start attempt 1 from the test's page and wait until its socket is connected.

    Choose only after this: a click before the page's script runs would not be sent.
    """
    page.goto(f"{base}/quizzes/{slug}/")
    page.get_by_role("button", name="Start attempt 1").click()
    expect(page.locator("#attempt-live")).to_contain_text("Connected")


def choose(page, question, values: list[str]) -> None:
    """Tick options by the values the page gives them (random per attempt, never ids)."""
    for value in values:
        page.locator(f'input[name="q{question.position}"][value="{value}"]').check()


def saved_answers(attempt: Attempt) -> dict[int, list[int]]:
    return {q.position: q.answer.chosen for q in drawn(attempt) if hasattr(q, "answer")}


def wait_until(condition, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


class Watched:
    """A browser page that records CSP violations and the WebSockets it opens."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        self.sockets: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._on_console)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def _on_console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def visit(self, url: str) -> None:
        """Load the page, let its scripts run, and fail on any violation it caused."""
        response = self.page.goto(url)
        assert response is not None and "content-security-policy" in response.headers, url
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(300)  # deferred scripts open their sockets
        self.assert_clean(url)

    def assert_clean(self, url: str) -> None:
        events = self.page.evaluate("window.__csp || []")
        assert (events, self.console) == ([], []), url
