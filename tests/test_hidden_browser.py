"""Elements with the `hidden` attribute stay hidden on every page, whatever their class.

`.button` sets `display`, which beat the browser's own `[hidden]` rule: the attempt page
showed "See your result" on a running attempt and the grader console kept Skip and Stop
after a check had ended. site.css, loaded by every page, now makes `hidden` win.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from courseware.models import Mentorship
from quizzes.attempts import attempt_start
from quizzes.models import Attempt
from tests.browserkit import log_in, start_live
from tests.quizkit import DEMO, LIVE_BROWSER, load_quiz
from tests.servers import free_port, server_process

pytestmark = LIVE_BROWSER

# Ids of elements that carry `hidden` and still take up room on the page.
SHOWN_THOUGH_HIDDEN = """() => Array.from(document.querySelectorAll("[hidden]"))
  .filter((el) => el.getClientRects().length > 0)
  .map((el) => el.id || el.outerHTML.slice(0, 60))"""


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker):
    """`manage.py serve` with the chat, as `make run` starts it; one for the module."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    env = {"LOG": "NONE", "QUIZ_SWEEP_SECONDS": "0.3", "QUIZ_CLOCK_SECONDS": "1"}
    with django_db_blocker.unblock(), server_process(args, ports=[site, chat], env=env):
        yield f"http://127.0.0.1:{site}"


def test_the_attempt_page_shows_only_the_button_that_fits_its_state(
    served, browser, module, student
):
    """Taken over: "Continue here" and no result link; finished: the reverse."""
    load_quiz(DEMO)
    context = browser.new_context()
    log_in(context, served, student)
    first = context.new_page()
    start_live(first, served, "demo-quiz")
    assert first.evaluate(SHOWN_THOUGH_HIDDEN) == []
    for name in ("Continue here", "See your result", "Log in again"):
        assert not first.get_by_text(name, exact=True).is_visible()

    second = context.new_page()
    second.goto(first.url)
    expect(second.locator("#attempt-live")).to_contain_text("Connected")
    expect(first.get_by_role("button", name="Continue here")).to_be_visible()
    assert not first.get_by_text("See your result", exact=True).is_visible()
    assert first.locator("#attempt-result-link").bounding_box() is None
    assert first.evaluate(SHOWN_THOUGH_HIDDEN) == []

    attempt = Attempt.objects.get(user=student)
    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() + timedelta(seconds=3))
    second.reload()
    expect(second.get_by_role("link", name="See your result")).to_be_visible(timeout=15_000)
    assert not second.get_by_text("Continue here", exact=True).is_visible()
    assert second.locator("#attempt-continue").bounding_box() is None
    assert second.evaluate(SHOWN_THOUGH_HIDDEN) == []
    context.close()


def test_the_grader_console_drops_skip_and_stop_once_a_check_has_ended(served, page, mentor):
    """While a check runs it offers Skip and Stop; after it ends, only the report link."""
    log_in(page.context, served, mentor)
    page.goto(f"{served}/chat/console/")
    expect(page.locator("#console-status")).to_have_text(re.compile("^Live"))
    assert page.evaluate(SHOWN_THOUGH_HIDDEN) == []
    page.get_by_label("Chat login of the student's client").fill("nobody-here")
    page.get_by_role("button", name="Start check").click()
    expect(page.get_by_role("button", name="Stop the check")).to_be_visible()
    expect(page.get_by_role("button", name="Skip this step")).to_be_visible()
    assert not page.get_by_role("link", name="Open the report").is_visible()

    page.get_by_role("button", name="Stop the check").click()
    expect(page.get_by_role("link", name="Open the report")).to_be_visible(timeout=15_000)
    assert not page.get_by_role("button", name="Stop the check").is_visible()
    assert not page.get_by_role("button", name="Skip this step").is_visible()
    assert page.locator("#run-skip").bounding_box() is None
    assert page.evaluate(SHOWN_THOUGH_HIDDEN) == []


def test_the_mentor_live_view_hides_its_empty_note_while_attempts_run(
    served, page, module, student, mentor
):
    """With a student's attempt in progress, "No attempt in progress" is not shown."""
    Mentorship.objects.create(mentor=mentor, student=student)
    attempt = attempt_start(quiz=load_quiz(DEMO), user=student)
    log_in(page.context, served, mentor)
    page.goto(f"{served}/mentor/live/")
    expect(page.locator(f'tr[data-attempt="{attempt.pk}"]')).to_be_visible()
    assert not page.get_by_text("No attempt in progress right now.").is_visible()
    assert page.evaluate(SHOWN_THOUGH_HIDDEN) == []
