"""Starting again while a score counts: Start warns, and the server asks before replacing it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from quizzes import grading
from quizzes.models import Attempt, Quiz, Result
from quizzes.retakes import ReplaceNotConfirmed, attempt_start_confirmed
from tests.conftest import make_user
from tests.leakcheck import plain
from tests.quizkit import (
    ST2,
    client_for,
    finished_attempt,
    load_quiz,
    needs_row_locks,
    run_threads,
)

pytestmark = pytest.mark.django_db

WARNING = "Your score of 95 will be replaced by this attempt's score, even if lower."
START = reverse("quizzes:start", args=["st2-websockets"])
DETAIL = reverse("quizzes:quiz", args=["st2-websockets"])


@pytest.fixture
def st2(st2: Quiz) -> Quiz:
    quiz = st2
    # No wait between attempts: these tests are about what Start says, not when.
    Quiz.objects.filter(pk=quiz.pk).update(cooldown_hours=0)
    quiz.refresh_from_db()
    return quiz


@pytest.fixture
def scored(st2, student) -> Attempt:
    """Attempt 1 finished with 19 of 20 right: a counted score of 95."""
    attempt = finished_attempt(st2, student, right=19)
    assert Result.objects.get(quiz=st2, user=student).score == 95
    return attempt


def test_start_says_that_the_counted_score_will_be_replaced(scored, student):
    """The test page puts the warning next to Start, tied to the button, and gives the
    browser the question to confirm."""
    html = client_for(student).get(DETAIL).content.decode()
    assert f'<p id="start-replace" class="quiz-warning">{escape(WARNING)}' in html
    assert 'aria-describedby="start-note start-replace">Start attempt 2</button>' in html
    assert re.search(
        r'data-confirm="Your score of 95 will be replaced[^"]*Start attempt 2\?"', html
    )
    assert "quizzes/start.js" in html


def test_the_result_page_says_what_the_next_attempt_would_replace(scored, student):
    result = reverse("quizzes:result", args=["st2-websockets", scored.pk])
    text = plain(client_for(student).get(result).content.decode())
    assert "Next: Attempt 2 of 3. Its score would replace your score of 95, even if lower." in text


def test_a_start_without_the_confirmation_starts_nothing_and_asks_on_a_page(scored, student):
    """Without JavaScript the POST gets a page that asks to confirm; nothing has started."""
    client = client_for(student)
    response = client.post(START)
    assert response.status_code == 200
    html = response.content.decode()
    assert WARNING in plain(html)
    assert "Start attempt 2 and replace your score?" in plain(html)
    assert '<input type="hidden" name="replace" value="confirmed">' in html
    assert html.count('method="post"') == html.count('name="csrfmiddlewaretoken"')
    assert f'href="{DETAIL}">Keep my score</a>' in html
    assert Attempt.objects.filter(user=student).count() == 1

    confirmed = client.post(START, {"replace": "confirmed"})
    assert confirmed.status_code == 302
    second = Attempt.objects.get(user=student, number=2)
    assert confirmed["Location"] == reverse("quizzes:attempt", args=["st2-websockets", second.pk])


def test_a_double_click_on_the_confirmed_start_creates_exactly_one_attempt(scored, student):
    client = client_for(student)
    first = client.post(START, {"replace": "confirmed"})
    second = client.post(START, {"replace": "confirmed"})
    assert first["Location"] == second["Location"]
    assert Attempt.objects.filter(user=student).count() == 2


def test_while_an_attempt_is_open_start_resumes_it_without_asking(scored, student):
    """Start only resumes the attempt in progress, so there is nothing to confirm."""
    client = client_for(student)
    resumed = client.post(START, {"replace": "confirmed"})
    assert client.post(START)["Location"] == resumed["Location"]
    assert "start-replace" not in client.get(DETAIL).content.decode()


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ({}, "no attempt yet"),
        ({"right": 0}, "a counted score of 0 cannot get lower"),
        ({"right": 19, "counting_attempt": "best"}, "the best attempt counts"),
    ],
)
def test_there_is_no_warning_when_no_score_can_be_lost(st2, student, setup, why):
    if "counting_attempt" in setup:
        Quiz.objects.filter(pk=st2.pk).update(counting_attempt=setup["counting_attempt"])
        st2.refresh_from_db()
    if "right" in setup:
        finished_attempt(st2, student, right=setup["right"])
    client = client_for(student)
    html = client.get(DETAIL).content.decode()
    assert "will be replaced" not in html and "data-confirm" not in html, why
    response = client.post(START)
    assert response.status_code == 302 and "/attempts/" in response["Location"], why


def test_the_domain_refuses_an_unconfirmed_replacement_with_the_score(scored, st2, student):
    """The check runs in attempt_start_confirmed, under the Result lock, not in the view."""
    with pytest.raises(ReplaceNotConfirmed) as refused:
        attempt_start_confirmed(quiz=st2, user=student, confirmed=False)
    assert (refused.value.score, str(refused.value)) == (95, WARNING)
    assert Attempt.objects.filter(user=student).count() == 1
    started = attempt_start_confirmed(quiz=st2, user=student, confirmed=True)
    assert started.number == 2


def test_the_confirm_step_needs_the_csrf_token(scored, student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student)
    assert client.post(START, {"replace": "confirmed"}).status_code == 403
    assert Attempt.objects.filter(user=student).count() == 1


@pytest.mark.parametrize(
    ("counting", "counted", "at_risk"),
    [
        ("last", 95, 95),
        ("last", 1, 1),
        ("last", 0, None),
        ("last", None, None),
        ("best", 95, None),
    ],
)
def test_only_a_score_above_zero_under_last_attempt_counts_is_at_risk(counting, counted, at_risk):
    rules = grading.Rules(
        max_attempts=3,
        questions_per_attempt=20,
        threshold_percent=70,
        strict_attempts=True,
        cooldown_hours=0,
        max_score=100,
        counting=counting,
    )
    assert grading.score_at_risk(rules=rules, counted=counted) == at_risk


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_parallel_confirmed_starts_over_a_score_make_exactly_one_attempt(module):
    """Eight clicks at once on a confirmed Start: one new attempt, the others resume it."""
    quiz = load_quiz(ST2)
    Quiz.objects.filter(pk=quiz.pk).update(cooldown_hours=0)
    quiz.refresh_from_db()
    user = make_user("clicker")
    finished_attempt(quiz, user, right=19)
    started: list[int] = []

    def work() -> None:
        started.append(attempt_start_confirmed(quiz=quiz, user=user, confirmed=True).pk)

    assert run_threads(8, work) == []
    assert len(started) == 8 and len(set(started)) == 1
    assert Attempt.objects.filter(quiz=quiz, user=user).count() == 2
