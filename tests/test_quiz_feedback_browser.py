"""Feedback after submit and the replace warning in a real browser (Debian Chromium)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from courseware.markup import render_markdown
from quizzes.models import Attempt, Quiz
from tests.browserkit import Watched, log_in
from tests.leakcheck import plain
from tests.quizkit import (
    LIVE_BROWSER,
    drawn,
    finished_attempt,
    key_values,
    wrong_of,
    wrong_values,
)

pytestmark = LIVE_BROWSER

PHONE = {"width": 390, "height": 844}
WARNING = "Your score of 95 will be replaced by this attempt's score, even if lower."


@pytest.fixture
def st2(st2: Quiz) -> Quiz:
    quiz = st2
    Quiz.objects.filter(pk=quiz.pk).update(cooldown_hours=0)
    return quiz


def answer(page, question, *, right: bool) -> None:
    """Tick the question's correct options (or one wrong one) by the values its page shows."""
    for value in key_values(question) if right else wrong_values(question):
        page.locator(f'input[name="q{question.position}"][value="{value}"]').check()


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_on_a_phone_every_missed_stem_shows_right_after_submit(site, browser, st2, student):
    """With the shipped test, a student who misses questions sees, on the page the submit
    leads to, the stem of each missed one, their own answer and what to read again."""
    context = browser.new_context(viewport=PHONE)
    log_in(context, site, student)
    page = context.new_page()
    page.set_default_timeout(10_000)
    watched = Watched(page)
    watched.visit(f"{site}/quizzes/st2-websockets/")
    expect(
        page.get_by_text("Right after you submit an attempt, its result page lists")
    ).to_be_visible()
    page.get_by_role("button", name="Start attempt 1").click()
    expect(page.locator("#attempt-live")).to_contain_text("Connected")
    attempt = Attempt.objects.get(user=student)
    questions = drawn(attempt)
    # 15 right, 3 wrong, 2 left unanswered.
    for question in questions[:18]:
        answer(page, question, right=question.position < 15)
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
    page.get_by_role("button", name="Submit attempt").click()
    page.get_by_role("button", name="Submit anyway").click()
    page.wait_for_url(f"**/attempts/{attempt.pk}/result/")

    missed = page.locator("section.feedback-question")
    expect(missed).to_have_count(5)
    for i, question in enumerate(questions[15:]):
        card = missed.nth(i)
        expect(
            card.get_by_role("heading", name=f"Question {question.position + 1}")
        ).to_be_visible()
        # Compared without whitespace: tags and block breaks space text differently.
        shown = re.sub(r"\s+", "", card.inner_text())
        assert squeeze(plain(str(render_markdown(question.version.text)))) in shown
        assert squeeze(question.version.objective.text) in shown
        if question.position < 18:
            expect(card.locator(".feedback-options li")).to_have_count(len(wrong_of(question)))
        else:
            expect(card.get_by_text("Not answered.")).to_be_visible()
        expect(card.locator(".feedback-reading ul.resources a").first).to_be_visible()
    expect(page.get_by_text("The correct options are not shown")).to_be_visible()
    fits(page, PHONE["width"])
    watched.assert_clean("the result page with the missed questions")
    context.close()


def test_start_asks_before_replacing_a_score_and_a_double_click_starts_once(
    site, page, st2, student
):
    """The page states the warning; Start asks in a dialog; Cancel starts nothing, and a
    confirmed double click makes exactly one attempt."""
    finished_attempt(st2, student, right=19)
    log_in(page.context, site, student)
    watched = Watched(page)
    watched.visit(f"{site}/quizzes/st2-websockets/")
    expect(page.locator("#start-replace")).to_contain_text(WARNING)
    start = page.get_by_role("button", name="Start attempt 2")
    expect(start).to_have_accessible_description(re.compile(re.escape(WARNING)))

    asked: list[str] = []

    def dismiss(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    start.click()
    expect(start).to_be_visible()
    assert asked == [f"{WARNING} Start attempt 2?"]
    assert Attempt.objects.filter(user=student).count() == 1

    page.on("dialog", lambda dialog: dialog.accept())
    start.dblclick()
    page.wait_for_url(re.compile(r"/attempts/\d+/$"))
    expect(page.locator("#attempt-live")).to_contain_text("Connected")
    assert Attempt.objects.filter(user=student).count() == 2
    assert Attempt.objects.get(user=student, number=2).status == "open"
    watched.assert_clean("start.js, then the attempt page")


def test_without_javascript_the_server_asks_before_replacing_a_score(site, browser, st2, student):
    """No script: Start leads to the server's confirm page, on a phone as well; "Keep my
    score" goes back, and a double click on the confirming button starts one attempt."""
    finished_attempt(st2, student, right=19)
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    log_in(context, site, student)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{site}/quizzes/st2-websockets/")
    confirm = page.get_by_role("heading", name="Start attempt 2 and replace your score?")
    page.get_by_role("button", name="Start attempt 2").click()
    expect(confirm).to_be_visible()
    expect(page.get_by_text(WARNING)).to_be_visible()
    fits(page, PHONE["width"])
    assert Attempt.objects.filter(user=student).count() == 1

    page.get_by_role("link", name="Keep my score").click()
    page.wait_for_url("**/quizzes/st2-websockets/")
    page.get_by_role("button", name="Start attempt 2").click()
    # Both pages have this button: wait for the confirm page before double-clicking its own.
    expect(confirm).to_be_visible()
    page.get_by_role("button", name="Start attempt 2").dblclick()
    # The second click's post cancels the first's navigation (net::ERR_ABORTED), which
    # fails wait_for_url; polling the address waits for where the browser ends up.
    expect(page).to_have_url(re.compile(r"/attempts/\d+/$"))
    assert Attempt.objects.filter(user=student).count() == 2
    context.close()
