"""Pages that fit a screen, measured in Chromium: the grader console on a 1366x768 laptop and
every student page on a 390 px phone (no sideways scrolling)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from courseware.models import Mentorship
from courseware.roles import STUDENTS
from quizzes.attempts import attempt_start
from quizzes.models import Override
from quizzes.overrides import override_grant
from tests.conftest import PASSWORD, make_user
from tests.funchat_clients import GoodClient
from tests.quizkit import finished_attempt

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_db_after"),
]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# Rows of the frame list that lie wholly inside both the list's box and the window.
ROWS_IN_VIEW = """list => {
  const box = list.getBoundingClientRect();
  const top = Math.max(box.top, 0), bottom = Math.min(box.bottom, window.innerHeight);
  return [...list.children].filter(li => {
    const r = li.getBoundingClientRect();
    return !li.hidden && r.height > 0 && r.top >= top - 0.5 && r.bottom <= bottom + 0.5;
  }).length;
}"""
OVERFLOW = """() => {
  const d = document.documentElement;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > d.clientWidth + 0.5
                 && !e.closest('.table-wrap, pre'))
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
  return {scroll: d.scrollWidth, client: d.clientWidth, wide: wide.slice(0, 5)};
}"""

CUT_CONTROLS = """() => [...document.querySelectorAll('.console .panel a, .console .panel button')]
  .filter(e => e.offsetParent !== null)
  .filter(e => {
    const r = e.getBoundingClientRect(), p = e.closest('.panel').getBoundingClientRect();
    return r.left < p.left - 0.5 || r.right > p.right + 0.5;
  })
  .map(e => e.textContent.trim())"""


def log_in(page, base: str, username: str, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def overflowing(page, site: str, paths: dict[str, str]) -> dict[str, dict]:
    """The pages among `paths` that are wider than the window, with what sticks out."""
    problems = {}
    for name, path in paths.items():
        response = page.goto(f"{site}{path}")
        assert response is not None and response.ok, (name, response and response.status)
        for summary in page.locator("details > summary").all()[:3]:
            summary.click()  # folded parts count too: a form inside may be the widest thing
        layout = page.evaluate(OVERFLOW)
        if layout["scroll"] > layout["client"] or layout["wide"]:
            problems[name] = layout
    return problems


def test_the_console_shows_at_least_15_frames_at_once_on_a_laptop_in_a_resizable_list(
    browser,
    served,
    loop_thread,
):
    """At 1366x768 the frame list holds 15 or more whole rows in view, can be resized by
    dragging, and nothing on the page runs off to the side."""
    site, chat = served
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    try:
        log_in(page, f"http://127.0.0.1:{site}", "mentor", "/chat/console/")
        expect(page.locator("#console-status")).to_have_text(re.compile(r"^Live"))
        clients = [
            GoodClient(f"ws://127.0.0.1:{chat}/", f"screen-{n}", password="pw") for n in range(6)
        ]
        for client in clients:
            loop_thread.loop.call_soon_threadsafe(client.start)
        frames = page.locator("#frames > li")
        expect(frames.nth(39)).to_be_attached(timeout=15_000)

        frame_list = page.locator("#frames")
        frame_list.scroll_into_view_if_needed()
        page.locator(".frames-panel").evaluate("e => e.scrollIntoView({block: 'start'})")
        in_view = frame_list.evaluate(ROWS_IN_VIEW)
        assert in_view >= 15, f"only {in_view} whole frame rows in view at 1366x768"
        assert frame_list.evaluate("e => getComputedStyle(e).resize") in ("vertical", "both")
        layout = page.evaluate(OVERFLOW)
        assert layout["scroll"] <= layout["client"], layout
        # Each connection's Check and Disconnect lie inside the panel, not scrolled off it.
        cut = page.evaluate(CUT_CONTROLS)
        assert cut == [], cut

        # The payloads are one switch away, and still masked.
        page.get_by_label("Payloads").check()
        login_json = page.locator("#frames li.dir-in", has_text="USER_LOGIN").first.locator("pre")
        expect(login_json).to_be_visible()
        assert '"password": "***"' in login_json.inner_text()
        for client in clients:
            loop_thread.run(client.stop())
    finally:
        context.close()


def test_every_student_page_fits_a_390_px_phone_without_sideways_scrolling(
    site, browser, st2, student, mentor
):
    """Module, test, attempt, confirm, result and review pages: the document is never wider
    than the window, and no element outside a scrolling table or code block sticks out."""
    first = finished_attempt(st2, student, right=5)
    grant = Override(
        quiz=st2, user=student, extra_attempts=1, waive_cooldown=True, reason="Lost to a crash"
    )
    override_grant(override=grant, granted_by=mentor)
    current = attempt_start(quiz=st2, user=student)
    pages = {
        "module": "/modules/st2-websockets/",
        "test": reverse("quizzes:quiz", args=[st2.slug]),
        "attempt": reverse("quizzes:attempt", args=[st2.slug, current.pk]),
        "confirm": reverse("quizzes:confirm", args=[st2.slug, current.pk]),
        "result": reverse("quizzes:result", args=[st2.slug, first.pk]),
        "review": reverse("quizzes:review", args=[st2.slug, first.pk]),
        "home": "/",
    }
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        log_in(page, site, student.username, pages["test"])
        expect(
            page.get_by_text("You have 1 extra attempt and no waiting between attempts, granted on")
        ).to_be_visible()
        assert overflowing(page, site, pages) == {}
    finally:
        context.close()


def test_the_mentors_student_and_attempt_pages_fit_a_390_px_phone(
    site, browser, demo, student, mentor
):
    """A mentor on a phone can read a student's attempts and grants and use the grant form."""
    Mentorship.objects.create(mentor=mentor, student=student)
    attempt = finished_attempt(demo, student, right=2)
    grant = Override(quiz=demo, user=student, extra_attempts=1, reason="Network failure")
    override_grant(override=grant, granted_by=mentor)
    pages = {
        "student": reverse("mentor:student", args=[student.pk]),
        "attempt": reverse("mentor:attempt", args=[attempt.pk]),
    }
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        log_in(page, site, mentor.username, pages["student"])
        expect(page.get_by_role("cell", name="Network failure")).to_be_visible()
        assert overflowing(page, site, pages) == {}
    finally:
        context.close()


def test_the_analytics_page_of_the_real_bank_fits_a_few_screens_until_a_question_is_opened(
    site, browser, st2, mentor
):
    """All 102 questions folded, and all but the ten worst folded as one group: the page is
    under four laptop screens, a small part of its unfolded height (about 41,000 px before)."""
    for n in range(4):
        learner = make_user(f"learner{n}", group=STUDENTS)
        Mentorship.objects.create(mentor=mentor, student=learner)
        finished_attempt(st2, learner, right=5 + 4 * n)
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    try:
        url = reverse("mentor:analytics", args=[st2.slug])
        log_in(page, site, mentor.username, url)
        expect(page.get_by_role("heading", name=re.compile("Question analytics"))).to_be_visible()
        items = page.locator("details.item")
        assert items.count() == 102
        folded = page.evaluate("() => document.documentElement.scrollHeight")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        unfolded = page.evaluate("() => document.documentElement.scrollHeight")
        assert folded < 4 * LAPTOP["height"], f"{folded} px folded"
        assert unfolded > 10 * folded, (folded, unfolded)
        layout = page.evaluate(OVERFLOW)
        assert layout["scroll"] <= layout["client"], layout
    finally:
        context.close()
