"""Answer writes are paced per attempt and refused from the deadline on, whatever the path.

One allowance per attempt (quizzes.pacing) covers every socket, reconnect, tab and form
post; the deadline is checked with the attempt's rows locked, on a clock read after the
lock. Tests that need a steady allowance set QUIZ_ANSWER_RATE so low that nothing
refills while they run.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from quizzes import pacing
from quizzes.attempts import AttemptClosed, RateLimited, attempt_answer, attempt_start
from quizzes.models import Answer, Attempt, Quiz
from tests.conftest import make_user
from tests.quizkit import (
    ST2,
    client_for,
    drawn,
    form_data,
    key_of,
    load_quiz,
    needs_row_locks,
    next_frame,
    opened,
    run_threads,
    session_cookie,
)

# Every test here gets a layer of its own and a quick clock, as the live socket tests do.
pytestmark = pytest.mark.usefixtures("own_layer")

db = database_sync_to_async
NO_REFILL = 1e-4  # writes a second: far too slow to refill within a test


@pytest.fixture
def steady(settings) -> None:
    settings.QUIZ_ANSWER_BURST = 20
    settings.QUIZ_ANSWER_RATE = NO_REFILL


def page_of(attempt: Attempt) -> str:
    return reverse("quizzes:attempt", args=[attempt.quiz.slug, attempt.pk])


def everything(attempt: Attempt, turn: int) -> dict[str, list[str]]:
    """A form naming every question (no was<pos> fields): one write per question."""
    return {f"q{q.position}": [q.option_values[turn % 2]] for q in drawn(attempt)}


def test_a_bucket_gives_a_burst_then_refills_at_its_rate_and_takes_requests_whole():
    """A full bucket covers its size at once; then requests wait for the refill."""
    t0 = timezone.now()
    first = pacing.spend(level=None, filled_at=None, now=t0, cost=20, size=20, rate=5)
    assert (first.allowed, first.level) == (True, 0)
    refused = pacing.spend(level=0, filled_at=t0, now=t0, cost=4, size=20, rate=5)
    assert (refused.allowed, refused.retry_after) == (False, pytest.approx(0.8))
    later = t0 + timedelta(seconds=0.8)
    assert pacing.spend(level=0, filled_at=t0, now=later, cost=4, size=20, rate=5).allowed
    # Never more than the size, and a clock that steps back refills nothing.
    full = pacing.spend(level=3, filled_at=t0, now=t0 + timedelta(hours=1), cost=0, size=20, rate=5)
    assert full.level == 20
    back = pacing.spend(level=3, filled_at=t0, now=t0 - timedelta(hours=1), cost=4, size=20, rate=5)
    assert (back.allowed, back.level) == (False, 3)
    assert pacing.capacity(burst=20, question_count=4) == 20
    assert pacing.capacity(burst=20, question_count=30) == 30


@pytest.mark.django_db
def test_an_answer_one_millisecond_after_the_deadline_is_refused(quiz, student):
    """Up to the deadline answers are saved; from it on nothing is, and the attempt is graded."""
    t0 = timezone.now()
    Quiz.objects.filter(pk=quiz.pk).update(time_limit_minutes=10)
    quiz.refresh_from_db()
    attempt = attempt_start(quiz=quiz, user=student, now=t0)
    first, second = drawn(attempt)[:2]
    just_in_time = attempt.deadline - timedelta(milliseconds=1)
    attempt_answer(attempt=attempt, position=0, option_ids=key_of(first), now=just_in_time)
    too_late = attempt.deadline + timedelta(milliseconds=1)
    with pytest.raises(AttemptClosed):
        attempt_answer(attempt=attempt, position=1, option_ids=key_of(second), now=too_late)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.correct_count) == ("expired", 1)
    assert list(Answer.objects.filter(question__attempt=attempt)) == [first.answer]


@pytest.mark.django_db
def test_form_posts_share_one_allowance_and_a_refused_post_keeps_the_choices(quiz, student, steady):
    """Each changed answer of a post is one write; past the allowance the whole post waits."""
    attempt = attempt_start(quiz=quiz, user=student)
    client = client_for(student)
    for turn in range(5):  # 5 posts of 4 answers: the burst of 20
        assert client.post(page_of(attempt), everything(attempt, turn)).status_code == 302
    refused = client.post(page_of(attempt), everything(attempt, 5) | {"action": "submit"})
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Too many answers in a short time" in html
    # Nothing of the refused post was stored, nor submitted ...
    stored = {q.position: q.answer.chosen for q in drawn(attempt)}
    assert stored == {q.position: [q.option_order[0]] for q in drawn(attempt)}
    assert Attempt.objects.get(pk=attempt.pk).status == "open"
    # ... and the page shows the refused choices again, against what is stored, so that
    # pressing Save later sends them.
    for q in drawn(attempt):
        kept, saved = q.option_values[1], q.option_values[0]
        assert re.search(rf'value="{kept}"\s+checked', html)
        assert f'name="was{q.position}" value="{saved}"' in html


@pytest.mark.django_db
def test_a_whole_page_of_answers_saves_in_one_post_even_with_a_small_burst(
    module, student, settings
):
    """The allowance is never smaller than the attempt's questions: 20 answers in one post."""
    settings.QUIZ_ANSWER_BURST, settings.QUIZ_ANSWER_RATE = 5, NO_REFILL
    attempt = attempt_start(quiz=load_quiz(ST2), user=student)
    response = client_for(student).post(page_of(attempt), form_data(attempt, right=20))
    assert response.status_code == 302
    assert Answer.objects.filter(question__attempt=attempt).count() == 20


async def answers_on_one_socket(attempt_id: int, cookie, values: list[str], count: int) -> list:
    """Open a socket, send `count` answer frames at once, and return the reply codes."""
    socket, _ = await opened(attempt_id, cookie)
    for n in range(count):
        frame = {"type": "answer", "question": 0, "options": [values[n % 2]], "ref": n}
        await socket.send_json_to(frame)
    replies = [await next_frame(socket) for _ in range(count)]
    await socket.disconnect()
    return [r["type"] if r["type"] == "saved" else r["code"] for r in replies]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_db_after")
async def test_reconnecting_sockets_and_form_posts_share_the_attempt_s_allowance(
    quiz, student, steady
):
    """Sockets opened one after another get 20 writes between them, then the form none."""
    attempt = await db(attempt_start)(quiz=quiz, user=student)
    questions = await db(drawn)(attempt)
    values = questions[0].option_values
    cookie = await db(session_cookie)(student)
    first = await answers_on_one_socket(attempt.pk, cookie, values, 12)
    second = await answers_on_one_socket(attempt.pk, cookie, values, 12)
    third = await answers_on_one_socket(attempt.pk, cookie, values, 2)
    assert first == ["saved"] * 12
    # Per socket this would be 12 more; per attempt only 8 are left.
    assert second == ["saved"] * 8 + ["rate_limited"] * 4
    assert third == ["rate_limited"] * 2
    client = await db(client_for)(student)
    form = await db(client.post)(page_of(attempt), {"q1": questions[1].option_values[:1]})
    assert form.status_code == 429


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_writers_on_many_connections_at_once_never_exceed_the_allowance(quiz, steady):
    """Eight connections racing with five answers each: exactly the burst of 20 is saved."""
    user = make_user("racer")
    attempt = attempt_start(quiz=quiz, user=user)
    question = drawn(attempt)[0]
    outcomes: list[str] = []

    def work() -> None:
        for n in range(5):
            try:
                attempt_answer(
                    attempt=Attempt.objects.get(pk=attempt.pk),
                    position=0,
                    option_ids=[question.option_order[n % 2]],
                )
                outcomes.append("saved")
            except RateLimited:
                outcomes.append("refused")

    assert run_threads(8, work) == []
    assert sorted(outcomes) == ["refused"] * 20 + ["saved"] * 20
    assert Attempt.objects.get(pk=attempt.pk).allowance == pytest.approx(0, abs=0.01)


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_an_answer_that_gets_the_lock_only_after_the_deadline_is_refused(quiz):
    """An answer sent in time but waiting for another writer's lock past the deadline is late."""
    user = make_user("waiter")
    attempt = attempt_start(quiz=quiz, user=user)
    deadline = timezone.now() + timedelta(seconds=1)
    Attempt.objects.filter(pk=attempt.pk).update(deadline=deadline)
    attempt.refresh_from_db()
    question = drawn(attempt)[0]
    held = threading.Event()

    def hold_the_lock() -> None:
        try:
            with transaction.atomic():
                # The attempt's row: every writer of its answers (a save, a submit, the
                # sweep) holds it while it writes.
                Attempt.objects.select_for_update().get(pk=attempt.pk)
                held.set()
                time.sleep(max((deadline - timezone.now()).total_seconds(), 0) + 0.2)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(10)
    assert timezone.now() < deadline  # sent in time ...
    with pytest.raises(AttemptClosed):  # ... but it gets the lock too late
        attempt_answer(attempt=attempt, position=0, option_ids=key_of(question))
    holder.join(timeout=10)
    assert not Answer.objects.filter(question__attempt=attempt).exists()
