"""Helpers shared by the student-side quiz tests (pages, live socket, browser, safety)."""

from __future__ import annotations

import threading

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client

from courseware.asgi import application
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


def cookie_header(user) -> str:
    """The Cookie header value of a logged-in session for `user`, for a real socket client."""
    client = client_for(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


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


def socket_for(attempt_id: int, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/quizzes/attempts/{attempt_id}/", headers=headers
    )


async def opened(attempt_id: int, cookie) -> tuple[WebsocketCommunicator, dict]:
    socket = socket_for(attempt_id, ORIGIN, cookie)
    connected, _ = await socket.connect()
    assert connected
    return socket, await next_frame(socket)


async def next_frame(socket: WebsocketCommunicator, skip_time: bool = True) -> dict:
    while True:
        frame = await socket.receive_json_from(timeout=3)
        if not (skip_time and frame["type"] == "time"):
            return frame


def run_threads(count: int, work) -> list[BaseException]:
    """Run `work` in `count` threads released at once; return what they raised unexpectedly."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


# The vendor comes from the settings (DATABASE_URL); reading it opens no connection.
needs_row_locks = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no SELECT ... FOR UPDATE row locks; run with "
    "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to race real transactions",
)
