"""A running attempt survives a server restart and an ended session (Debian Chromium).

Each test starts and stops its own `manage.py serve` on the test database (a file), so
the browser meets a restart the way a student meets `make run` being restarted.
"""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from quizzes.models import Attempt
from tests.browserkit import choose, log_in, saved_answers, start_live, wait_until
from tests.conftest import PASSWORD
from tests.quizkit import (
    DEMO,
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

UNSENT = "() => localStorage.length"


def fill_login_form(page, login: str, password: str) -> None:
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def open_attempt_then_lose_the_session(page, base: str, port: int, student):
    """Start an attempt, then restart the server with every session gone; the page is
    left on the restarted server's attempt socket, refused. Returns the attempt."""
    log_in(page.context, base, student)
    with serve(port):
        start_live(page, base, "demo-quiz")
    Session.objects.all().delete()  # logged out elsewhere, expired or cleared: all the same
    return Attempt.objects.get(user=student)


def test_a_restart_with_the_make_run_steps_keeps_the_student_logged_in(browser, demo, settings):
    """`make run` stopped and started again: the session still opens the attempt socket,
    and the answers chosen while the server was down are saved once it is back."""
    settings.DEBUG = True  # seed_demo makes its accounts only in DEBUG, as `make run` runs
    call_command("seed_demo", verbosity=0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    page = browser.new_context().new_page()
    with serve(port):
        page.goto(f"{base}/accounts/login/?next=/quizzes/demo-quiz/")
        fill_login_form(page, "student1", "student1-demo-pass")
        page.get_by_role("button", name="Start attempt 1").click()
        expect(page.locator("#attempt-live")).to_contain_text("Connected")
        attempt = Attempt.objects.get(user__username="student1")
        questions = drawn(attempt)
        choose(page, questions[0], key_values(questions[0]))
        expect(page.locator("#attempt-live")).to_have_text("All answers saved.")

    # Down: what `make run` does before serving again, then two answers chosen meanwhile.
    call_command("load_module", "fixtures/modules/st2-websockets.yaml", verbosity=0)
    call_command("load_quiz", DEMO, verbosity=0)
    call_command("seed_demo", verbosity=0)
    expect(page.locator("#attempt-live")).to_contain_text("reconnecting")
    choose(page, questions[1], wrong_values(questions[1]))
    choose(page, questions[2], key_values(questions[2]))
    expect(page.locator("#attempt-live")).to_contain_text("Not connected")
    assert page.evaluate(UNSENT) == 1  # kept in the browser too, in case the tab closes
    assert set(saved_answers(attempt)) == {0}

    with serve(port):
        expect(page.locator("#attempt-live")).to_have_text("All answers saved.", timeout=20_000)
        assert saved_answers(attempt) == {
            0: key_of(questions[0]),
            1: wrong_of(questions[1]),
            2: key_of(questions[2]),
        }
        assert page.evaluate(UNSENT) == 0
        assert not page.get_by_role("link", name="Log in again").is_visible()
        # And the page goes on as before: the next answer is saved at once.
        choose(page, questions[3], key_values(questions[3]))
        expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
        assert set(saved_answers(attempt)) == {0, 1, 2, 3}
    page.context.close()


def test_an_ended_session_keeps_the_answers_until_the_student_logs_in_again(browser, demo, student):
    """Sessions gone while the server restarts: the page says to log in again, keeps what
    is chosen meanwhile in the browser, and saves it after logging in through its link."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    page = browser.new_context().new_page()
    attempt = open_attempt_then_lose_the_session(page, base, port, student)
    questions = drawn(attempt)
    with serve(port):
        login_link = page.get_by_role("link", name="Log in again")
        expect(login_link).to_be_visible(timeout=20_000)
        expect(page.get_by_role("alert")).to_contain_text("Your session has ended")
        choose(page, questions[1], key_values(questions[1]))
        choose(page, questions[3], wrong_values(questions[3]))
        expect(page.locator("#attempt-live")).to_have_text(
            "Kept in this browser: log in again to save it."
        )
        assert saved_answers(attempt) == {}

        login_link.click()
        page.wait_for_url(f"**/accounts/login/?next=/quizzes/demo-quiz/attempts/{attempt.pk}/")
        fill_login_form(page, "alice", PASSWORD)
        page.wait_for_url(f"**/quizzes/demo-quiz/attempts/{attempt.pk}/")
        expect(page.locator("#attempt-live")).to_have_text("All answers saved.", timeout=15_000)
        assert saved_answers(attempt) == {1: key_of(questions[1]), 3: wrong_of(questions[3])}
        # The reloaded page shows the kept choices checked (progress counts checked inputs).
        expect(page.locator("#attempt-progress-text")).to_have_text("2 of 4")
        assert page.evaluate(UNSENT) == 0
    page.context.close()


def test_answers_kept_for_an_attempt_that_ended_meanwhile_are_reported_not_dropped(
    browser, demo, student
):
    """The time ran out before the student logged in again: the kept answers are refused
    by the deadline like any late answer, and the result page says how many were lost."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    page = browser.new_context().new_page()
    attempt = open_attempt_then_lose_the_session(page, base, port, student)
    questions = drawn(attempt)

    with serve(port):
        expect(page.get_by_role("link", name="Log in again")).to_be_visible(timeout=20_000)
        choose(page, questions[0], key_values(questions[0]))
        choose(page, questions[2], key_values(questions[2]))
        Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now())
        wait_until(lambda: Attempt.objects.get(pk=attempt.pk).status == "expired")

        page.get_by_role("link", name="Log in again").click()
        fill_login_form(page, "alice", PASSWORD)
        page.wait_for_url(f"**/attempts/{attempt.pk}/result/")
        expect(page.get_by_role("alert")).to_contain_text(
            "Not saved: 2 answers chosen on the attempt page never reached the server"
        )
        assert saved_answers(attempt) == {}
        assert page.evaluate(UNSENT) == 0
        # Said once: the browser has forgotten them, so a reload shows no warning.
        page.reload()
        expect(page.locator("#result-score")).to_be_visible()
        assert not page.locator("#attempt-unsent").is_visible()
    page.context.close()


def test_a_submitted_form_settles_the_kept_answers_without_a_warning(browser, demo, student):
    """The form carries every choice, so once it is sent, choices kept in the browser are
    not reported as lost on the result page; the browser forgets them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    page = browser.new_context().new_page()
    log_in(page.context, base, student)
    with serve(port):
        start_live(page, base, "demo-quiz")
        attempt = Attempt.objects.get(user=student)
        question = drawn(attempt)[1]
        # As if chosen while the socket was down: kept here, checked on the page, unsent.
        page.evaluate(
            """([id, position, values]) => {
                 localStorage.setItem(`courseware.attempt.${id}.unsent`,
                                      JSON.stringify({[position]: values}));
                 for (const value of values) {
                   document.querySelector(`input[name="q${position}"][value="${value}"]`)
                     .checked = true;
                 } }""",
            [attempt.pk, question.position, key_values(question)],
        )
        page.get_by_role("button", name="Submit attempt").click()
        page.get_by_role("button", name="Submit anyway").click()
        page.wait_for_url("**/result/")
        expect(page.locator("#result-score")).to_be_visible()
        assert not page.locator("#attempt-unsent").is_visible()
        assert page.evaluate(UNSENT) == 0
        assert saved_answers(attempt) == {question.position: key_of(question)}
    page.context.close()
