"""The live view in Chromium against a real server: it follows a student's answers.

The student answers over their own attempt socket (quizzes.consumers) on the same
server, which publishes progress through the channel layer to the mentor's socket;
with the in-memory layer this only works because both sockets share that process.
"""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from quizzes.attempts import attempt_start
from tests.quizkit import session_cookie
from tests.servers import free_port, server_process

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site():
    port = free_port()
    with server_process(["serve", "--no-chat", "--site-port", str(port)], ports=[port]):
        yield f"http://127.0.0.1:{port}"


def session_header(user) -> str:
    """'sessionid=…' for a logged-in session of `user`."""
    return session_cookie(user)[1].decode()


def student_socket(site: str, attempt, user):
    url = f"{site.replace('http', 'ws', 1)}/ws/quizzes/attempts/{attempt.pk}/"
    return connect(url, additional_headers={"Cookie": session_header(user), "Origin": site})


def receive(ws, kind: str) -> dict:
    """The next frame of this type (the clock and others may come in between)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


def test_the_live_view_follows_a_students_answers_without_a_reload(
    site, page, mentored, demo, student, other_student, mentor
):
    quiz = demo
    attempt = attempt_start(quiz=quiz, user=student)
    theirs = attempt_start(quiz=quiz, user=other_student)

    cookie = session_header(mentor).split("=", 1)[1]
    page.context.add_cookies([{"name": "sessionid", "value": cookie, "url": site}])
    page.goto(f"{site}/mentor/live/")
    expect(page.locator("#live-table")).to_have_attribute("data-live", "connected")
    row = page.locator(f'tr[data-attempt="{attempt.pk}"]')
    expect(row.locator(".answered")).to_have_text("0 of 4 answered")
    expect(page.locator(f'tr[data-attempt="{theirs.pk}"]')).to_have_count(0)
    page.evaluate("window.notReloaded = true")

    questions = {q.position: q.option_values for q in attempt.questions.all()}
    with student_socket(site, attempt, student) as ws:
        receive(ws, "state")
        for position in (0, 1):
            ws.send(
                json.dumps(
                    {"type": "answer", "question": position, "options": questions[position][:1]}
                )
            )
            assert receive(ws, "saved")["answered"] == position + 1
            expect(row.locator(".answered")).to_have_text(f"{position + 1} of 4 answered")
        expect(row.locator("progress")).to_have_attribute("value", "2")
        # bob answers too, but he is not this mentor's student: nothing shows.
        with student_socket(site, theirs, other_student) as bob:
            receive(bob, "state")
            first = theirs.questions.get(position=0).option_values[:1]
            bob.send(json.dumps({"type": "answer", "question": 0, "options": first}))
            receive(bob, "saved")
    # The student's page closed: the row says so, still without a reload.
    expect(row.locator(".status")).to_have_text("In progress (page closed)")
    expect(page.locator(f'tr[data-attempt="{theirs.pk}"]')).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    assert "bob" not in page.locator("#live-table").inner_text()
