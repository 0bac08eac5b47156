"""Helpers shared by the student-side quiz tests (pages, live socket, browser, safety)."""

from __future__ import annotations

import pytest
from django.test import Client

from quizzes.attempts import attempt_start, attempt_submit
from quizzes.loading import quizzes_load
from quizzes.models import Attempt, AttemptQuestion, Quiz
from tests.conftest import fresh_db_after  # noqa: F401 - it lives in conftest now; old imports work
from tests.servers import server_process

ST2 = "fixtures/quizzes/st2-websockets.yaml"
DEMO = "tests/quiz-demo.yaml"
ORIGIN = (b"origin", b"http://localhost")


def load_quiz(path: str) -> Quiz:
    (change,) = quizzes_load([path])
    return Quiz.objects.get(slug=change.slug)


def key_of(question: AttemptQuestion) -> list[int]:
    return sorted(o.id for o in question.version.options.all() if o.correct)


def wrong_of(question: AttemptQuestion) -> list[int]:
    options = question.version.options.all()
    wrong = [o.id for o in options if not o.correct]
    # The real bank has multiple-choice questions whose options are all correct (so that the
    # number of keys gives nothing away); leaving one of them out is the wrong answer there.
    return wrong[:1] or sorted(o.id for o in options)[1:]


def key_values(question: AttemptQuestion) -> list[str]:
    """The correct options as the student's page names them (random values per attempt)."""
    return question.values_of(key_of(question))


def wrong_values(question: AttemptQuestion) -> list[str]:
    return question.values_of(wrong_of(question))


def drawn(attempt: Attempt) -> list[AttemptQuestion]:
    return list(
        attempt.questions.select_related("version__objective")
        .prefetch_related("version__options")
        .order_by("position")
    )


def form_data(attempt: Attempt, *, right: int, answered: int | None = None, **extra) -> dict:
    """Attempt-form fields: the first `right` questions correct, the rest wrong, up to
    `answered` questions (default all), as a browser posts them from a fresh page."""
    questions = drawn(attempt)
    answered = len(questions) if answered is None else answered
    data: dict = {"action": "save", **extra}
    for question in questions:
        data[f"was{question.position}"] = ""
        if question.position < answered:
            chosen = key_values(question) if question.position < right else wrong_values(question)
            data[f"q{question.position}"] = chosen
    return data


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_cookie(user) -> tuple[bytes, bytes]:
    """A Cookie header carrying a logged-in session for `user`, for a socket handshake."""
    client = client_for(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def finished_attempt(quiz: Quiz, user, *, right: int, answered: int | None = None) -> Attempt:
    """A submitted attempt, made with the domain functions (no page, no socket, so a
    browser test can call it too): the first `right` questions correct, the rest wrong,
    up to `answered` answered (default all)."""
    attempt = attempt_start(quiz=quiz, user=user)
    questions = drawn(attempt)
    answered = len(questions) if answered is None else answered
    answers = {
        q.position: key_of(q) if q.position < right else wrong_of(q)
        for q in questions
        if q.position < answered
    }
    return attempt_submit(attempt=attempt, answers=answers)


# The marks of a test that drives a browser against a served site: rows committed so the
# server process reads them, and a fresh database for whatever runs next.
LIVE_BROWSER = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_db_after"),
]

# Fast sweeps and clock ticks, so deadlines and expiry show within a browser test.
SERVER_ENV = {"QUIZ_SWEEP_SECONDS": "0.3", "QUIZ_CLOCK_SECONDS": "1"}


def serve(port: int):
    """A `manage.py serve` of the site alone on `port` (loopback), stopped by its PID."""
    args = ["serve", "--no-chat", "--site-port", str(port)]
    return server_process(args, ports=[port], env=SERVER_ENV)
