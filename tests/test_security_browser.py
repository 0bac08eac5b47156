"""Every kind of page works under the Content-Security-Policy in a real browser.

Debian's Chromium loads each page from a real `manage.py serve` and reports any CSP
violation, from the page's `securitypolicyviolation` events and from the console.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from courseware.models import Mentorship
from quizzes.attempts import attempt_start, attempt_submit
from quizzes.models import Question
from tests.browserkit import Watched, log_in
from tests.quizkit import DEMO, LIVE_BROWSER, ST2, load_quiz
from tests.servers import free_port, server_process

pytestmark = LIVE_BROWSER

FAILURE_LIMIT = 2
POLICY = "default-src 'self'; script-src 'self'; style-src 'self'"


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker):
    port = free_port()
    args = ["serve", "--no-chat", "--site-port", str(port)]
    env = {"LOGIN_FAILURE_LIMIT": str(FAILURE_LIMIT), "QUIZ_SWEEP_SECONDS": "0"}
    with django_db_blocker.unblock(), server_process(args, ports=[port], env=env):
        yield f"http://127.0.0.1:{port}"


def test_student_pages_run_without_csp_violations(site, page, module, student):
    """Module, test, running attempt (socket connected), result and review pages."""
    demo = load_quiz(DEMO)
    st2 = load_quiz(ST2)
    done = attempt_submit(attempt=attempt_start(quiz=demo, user=student))
    running = attempt_start(quiz=st2, user=student)
    watched = Watched(page)
    log_in(page.context, site, student)

    for url in ["/", "/modules/st2-websockets/", "/quizzes/st2-websockets/", "/chat/reports/"]:
        watched.visit(site + url)
    watched.visit(f"{site}/quizzes/st2-websockets/attempts/{running.pk}/")
    expect(page.locator("#attempt-live")).to_contain_text("Connected")
    page.locator("fieldset.quiz-question input").first.check()
    expect(page.locator("#attempt-live")).to_have_text("All answers saved.")
    watched.assert_clean("attempt page after saving")
    assert watched.sockets == [f"{site.replace('http', 'ws', 1)}/ws/quizzes/attempts/{running.pk}/"]
    for name in ["result", "review"]:
        watched.visit(f"{site}/quizzes/demo-quiz/attempts/{done.pk}/{name}/")


def test_mentor_pages_and_the_grader_console_run_without_csp_violations(
    site, page, module, student, mentor
):
    """Scores, a student, an attempt, analytics, the live view and the chat console."""
    Mentorship.objects.create(mentor=mentor, student=student)
    done = attempt_submit(attempt=attempt_start(quiz=load_quiz(DEMO), user=student))
    watched = Watched(page)
    log_in(page.context, site, mentor)
    urls = [
        "/mentor/",
        f"/mentor/students/{student.pk}/",
        f"/mentor/attempts/{done.pk}/",
        "/mentor/tests/demo-quiz/analytics/",
        "/mentor/live/",
        "/chat/console/",
        "/chat/reports/",
    ]
    for url in urls:
        watched.visit(site + url)
    opened = {url.split("/", 3)[3] for url in watched.sockets}
    assert len(opened) == 2, watched.sockets  # the live view's and the console's


def test_admin_pages_run_without_csp_violations(site, page, module, admin_user):
    """The admin index, changelists, change forms and our question preview."""
    attempt = attempt_start(quiz=load_quiz(DEMO), user=admin_user)
    question = Question.objects.first()
    watched = Watched(page)
    log_in(page.context, site, admin_user)
    urls = [
        "/admin/",
        "/admin/quizzes/question/",
        f"/admin/quizzes/question/{question.pk}/change/",
        f"/admin/quizzes/question/{question.pk}/preview/",
        f"/admin/quizzes/quiz/{question.quiz_id}/change/",
        "/admin/auth/user/",
        f"/admin/auth/user/{admin_user.pk}/change/",
        "/admin/auth/user/add/",
        "/admin/quizzes/attempt/",
        f"/admin/quizzes/attempt/{attempt.pk}/change/",
        "/admin/axes/accessattempt/",
    ]
    for url in urls:
        watched.visit(site + url)


def test_logging_in_and_the_lockout_page_run_without_csp_violations(site, page, student):
    """Wrong passwords typed into the form end on the login page saying why and how long."""
    watched = Watched(page)
    watched.visit(f"{site}/accounts/login/")
    for _ in range(FAILURE_LIMIT):
        page.get_by_label("Login").fill("alice")
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Too many failed logins for this account from your address. Try again in 15 minutes."
    )
    watched.assert_clean("lockout page")
    watched.visit(f"{site}/admin/login/")


def test_the_watcher_catches_inline_script_style_and_handlers(page):
    """The check above can fail: a page with inline code under our policy reports each piece."""
    html = '<p style="color: red" onclick="x()">x</p><script>1</script><style>p {}</style>'

    def serve_inline(route) -> None:
        headers = {"Content-Type": "text/html", "Content-Security-Policy": POLICY}
        route.fulfill(status=200, headers=headers, body=html)

    page.route("http://127.0.0.1:9/inline", serve_inline)
    watched = Watched(page)
    page.goto("http://127.0.0.1:9/inline")
    page.locator("p").click()
    page.wait_for_timeout(300)
    directives = sorted(e.split()[0] for e in page.evaluate("window.__csp"))
    assert directives == [
        "script-src-attr",
        "script-src-elem",
        "style-src-attr",
        "style-src-elem",
    ]
    assert len(watched.console) == 4
