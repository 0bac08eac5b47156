"""Taking a test in a real browser (Debian Chromium) against a real `manage.py serve`."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from quizzes.models import Attempt
from tests.browserkit import choose, log_in, saved_answers, start_live, wait_until
from tests.quizkit import (
    LIVE_BROWSER,
    drawn,
    key_of,
    key_values,
    serve,
    wrong_of,
    wrong_values,
)
from tests.servers import free_port

pytestmark = LIVE_BROWSER


def test_a_student_takes_the_websockets_test_end_to_end(site, page, st2, student):
    log_in(page.context, site, student)
    page.goto(f"{site}/modules/st2-websockets/")
    page.get_by_role("link", name="[St2] WebSockets auto test").click()
    expect(page.get_by_role("heading", name="[St2] WebSockets", level=1)).to_be_visible()
    expect(page.get_by_text("You have used 0 of 3 attempts: 3 left.")).to_be_visible()
    page.get_by_role("button", name="Start attempt 1").click()

    expect(page.get_by_role("heading", name="Attempt 1")).to_be_visible()
    attempt = Attempt.objects.get(user=student)
    questions = drawn(attempt)
    assert page.locator("fieldset.quiz-question").count() == 20
    expect(page.locator("#attempt-live")).to_contain_text("Connected")
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"^(29|30):\d\d$"))

    # Each choice is saved as it is made: no Save button pressed.
    for question in questions[:5]:
        choose(page, question, key_values(question))
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
    assert saved_answers(attempt) == {q.position: key_of(q) for q in questions[:5]}
    expect(page.locator("#attempt-progress-text")).to_have_text("5 of 20")

    # A reload resumes the same attempt with its answers.
    page.reload()
    expect(page.locator("#attempt-progress-text")).to_have_text("5 of 20")
    for question in questions[:5]:
        for value in key_values(question):
            expect(
                page.locator(f'input[name="q{question.position}"][value="{value}"]')
            ).to_be_checked()

    for question in questions[5:]:
        choose(
            page,
            question,
            key_values(question) if question.position < 16 else wrong_values(question),
        )
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
    page.get_by_role("button", name="Submit attempt").click()  # all answered: no dialog
    page.wait_for_url(f"**/attempts/{attempt.pk}/result/")

    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count, attempt.accuracy, attempt.score) == (
        "submitted",
        16,
        80,
        80,
    )
    expect(page.locator("#result-score")).to_have_text("80 of 100")
    expect(page.locator("#result-accuracy")).to_have_text("80%")
    expect(page.locator("#result-receipt")).to_have_text(attempt.receipt)
    assert attempt.receipt.startswith("16 of 20 correct = 80% ≥ 70% threshold → 80 of 100")
    expect(page.get_by_role("link", name="Attempt 1", exact=True)).to_be_visible()


def test_unanswered_questions_are_listed_in_a_dialog_before_submitting(site, page, demo, student):
    log_in(page.context, site, student)
    start_live(page, site, "demo-quiz")  # a choice made before the page's script is lost
    attempt = Attempt.objects.get(user=student)
    questions = drawn(attempt)
    choose(page, questions[0], key_values(questions[0]))
    choose(page, questions[2], key_values(questions[2]))
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")

    page.get_by_role("button", name="Submit attempt").click()
    dialog = page.get_by_role("dialog", name="Submit with unanswered questions?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Questions 2, 4 are not answered (2 of 4).")
    expect(page.get_by_role("button", name="Keep answering")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator(f'input[name="q{questions[1].position}"]').first).to_be_focused()
    assert Attempt.objects.get(pk=attempt.pk).status == "open"

    page.get_by_role("button", name="Submit attempt").click()
    page.get_by_role("button", name="Submit anyway").click()
    page.wait_for_url("**/result/")
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count) == ("submitted", 2)


def test_at_the_time_limit_the_server_grades_the_attempt_while_the_page_is_closed(
    site, browser, st2, student
):
    context = browser.new_context()
    log_in(context, site, student)
    page = context.new_page()
    start_live(page, site, "st2-websockets")
    attempt = Attempt.objects.get(user=student)
    question = drawn(attempt)[0]
    choose(page, question, key_values(question))
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
    page.close()

    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() + timedelta(seconds=1))
    wait_until(lambda: Attempt.objects.get(pk=attempt.pk).status == "expired")
    attempt.refresh_from_db()
    assert (attempt.correct_count, attempt.score) == (1, 0)
    assert attempt.receipt.startswith("Time ran out, so the answers saved before it were graded")

    page = context.new_page()
    page.goto(f"{site}/quizzes/st2-websockets/attempts/{attempt.pk}/")
    page.wait_for_url("**/result/")
    expect(page.get_by_text("Time ran out: the answers saved before the deadline")).to_be_visible()
    context.close()


def test_when_time_runs_out_on_an_open_page_it_shows_the_result_link(site, page, demo, student):
    log_in(page.context, site, student)
    # On the attempt page before the reload: a reload while Start still navigates fails.
    start_live(page, site, "demo-quiz")
    attempt = Attempt.objects.get(user=student)
    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() + timedelta(seconds=4))
    page.reload()
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0[0-4]$"))
    link = page.get_by_role("link", name="See your result")
    expect(link).to_be_focused(timeout=10_000)
    expect(page.get_by_role("alert")).to_contain_text("Time is up")
    expect(page.locator("#attempt-form input[type=radio]").first).to_be_disabled()
    link.click()
    page.wait_for_url("**/result/")
    assert Attempt.objects.get(pk=attempt.pk).status == "expired"


def test_a_second_tab_takes_the_attempt_over_and_the_first_can_take_it_back(
    site, browser, demo, student
):
    context = browser.new_context()
    log_in(context, site, student)
    first = context.new_page()
    start_live(first, site, "demo-quiz")
    attempt = Attempt.objects.get(user=student)
    questions = drawn(attempt)

    second = context.new_page()
    second.goto(first.url)
    expect(second.locator("#attempt-live")).to_contain_text("Connected")
    expect(first.get_by_role("alert")).to_contain_text("opened in another tab")
    expect(first.get_by_role("button", name="Continue here")).to_be_focused()
    expect(first.locator(f'input[name="q{questions[0].position}"]').first).to_be_disabled()

    choose(second, questions[0], key_values(questions[0]))
    expect(second.locator("#attempt-live")).to_have_text("All answers saved.")

    first.get_by_role("button", name="Continue here").click()
    expect(second.get_by_role("alert")).to_contain_text("opened in another tab")
    # The first tab now shows the answer given in the second.
    for value in key_values(questions[0]):
        expect(
            first.locator(f'input[name="q{questions[0].position}"][value="{value}"]')
        ).to_be_checked()
    expect(first.locator("#attempt-progress-text")).to_have_text("1 of 4")
    choose(first, questions[1], key_values(questions[1]))
    expect(first.locator("#attempt-live")).to_have_text("All answers saved.")
    assert set(saved_answers(attempt)) == {0, 1}
    context.close()


def test_a_dropped_connection_reconnects_and_saves_what_was_chosen_meanwhile(
    browser, demo, student
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    context = browser.new_context()
    log_in(context, base, student)
    page = context.new_page()
    with serve(port):
        start_live(page, base, "demo-quiz")
    # The server is gone: the choice stays on the page, marked as not saved yet.
    attempt = Attempt.objects.get(user=student)
    question = drawn(attempt)[2]
    expect(page.locator("#attempt-live")).to_contain_text("reconnecting")
    choose(page, question, key_values(question))
    expect(page.locator("#attempt-live")).to_contain_text("Not connected")
    assert saved_answers(attempt) == {}
    with serve(port):
        expect(page.locator("#attempt-live")).to_have_text("All answers saved.", timeout=20_000)
        assert saved_answers(attempt) == {2: key_of(question)}
    context.close()


def test_choices_made_faster_than_the_servers_frame_budget_are_all_saved(site, page, st2, student):
    errors: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda f: errors.append(f) if "error" in f else None),
    )
    log_in(page.context, site, student)
    start_live(page, site, "st2-websockets")
    attempt = Attempt.objects.get(user=student)
    # Radio questions only: repeated clicks on a checkbox toggle it, and bank v2 has
    # multiple-choice questions with a single correct option.
    singles = [q for q in drawn(attempt) if q.version.kind == "single"]
    # Hundreds of clicks in one go, each question ending on its key: far more frames than
    # the attempt socket's burst, so the server refuses many of them as too fast.
    clicks = [
        (q.position, o)
        for _ in range(15)
        for q in singles
        for o in [*wrong_values(q), *key_values(q)]
    ]
    page.evaluate(
        """clicks => { for (const [q, o] of clicks)
             document.querySelector(`input[name="q${q}"][value="${o}"]`).click(); }""",
        clicks,
    )
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.", timeout=20_000)
    assert any("rate_limited" in frame for frame in errors)
    assert saved_answers(attempt) == {q.position: key_of(q) for q in singles}


def test_without_javascript_the_form_saves_confirms_and_submits(site, browser, demo, student):
    context = browser.new_context(java_script_enabled=False)
    log_in(context, site, student)
    page = context.new_page()
    page.goto(f"{site}/quizzes/demo-quiz/")
    page.get_by_role("button", name="Start attempt 1").click()
    attempt = Attempt.objects.get(user=student)
    questions = drawn(attempt)
    expect(
        page.get_by_text("Without JavaScript your answers are saved when you press")
    ).to_be_visible()
    choose(page, questions[0], key_values(questions[0]))
    choose(page, questions[1], wrong_values(questions[1]))
    page.get_by_role("button", name="Save answers").click()
    expect(page.get_by_text("Your answers are saved.")).to_be_visible()
    assert saved_answers(attempt) == {0: key_of(questions[0]), 1: wrong_of(questions[1])}
    expect(page.locator("#attempt-progress-text")).to_have_text("2 of 4")

    choose(page, questions[2], key_values(questions[2]))
    page.get_by_role("button", name="Submit attempt").click()
    page.wait_for_url("**/submit/")
    expect(page.get_by_text("You have not answered 1 of 4 questions.")).to_be_visible()
    expect(page.get_by_role("link", name="Question 4")).to_be_visible()
    page.get_by_role("button", name="Submit anyway").click()
    page.wait_for_url("**/result/")
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count, attempt.score) == ("submitted", 2, 5)
    expect(page.locator("#result-score")).to_have_text("5 of 10")
    context.close()


def test_the_attempt_works_by_keyboard_and_fits_a_phone(site, browser, st2, student):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    log_in(context, site, student)
    page = context.new_page()
    page.goto(f"{site}/quizzes/st2-websockets/")
    page.get_by_role("button", name="Start attempt 1").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#attempt-live")).to_contain_text("Connected")
    attempt = Attempt.objects.get(user=student)
    first = drawn(attempt)[0]
    page.locator(f'input[name="q{first.position}"]').first.focus()
    page.keyboard.press("Space")
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
    assert saved_answers(attempt) == {0: [first.option_order[0]]}
    expect(page.get_by_role("progressbar", name="Answered")).to_have_attribute("value", "1")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    context.close()
