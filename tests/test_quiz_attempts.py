"""Attempts against the database: the draw, answers, submits, the rules, review, versions."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from courseware.markup import render_markdown
from quizzes.attempts import (
    AttemptClosed,
    AttemptError,
    BadAnswer,
    StartRefused,
    attempt_answer,
    attempt_current,
    attempt_start,
    attempt_submit,
    attempts_expire_overdue,
    quiz_may_start,
    render_inline,
)
from quizzes.loading import quizzes_load
from quizzes.models import Attempt, AttemptQuestion, Question, QuestionContent, Quiz, Result
from quizzes.paper import attempt_paper
from quizzes.review import attempt_review
from tests.conftest import make_user
from tests.quizkit import DEMO, key_of, needs_row_locks, run_threads, wrong_of


def answer(attempt: Attempt, right: int, **kwargs) -> None:
    """Answer the first `right` questions correctly and the rest wrongly."""
    for question in attempt.questions.select_related("version").order_by("position"):
        chosen = key_of(question) if question.position < right else wrong_of(question)
        attempt_answer(attempt=attempt, position=question.position, option_ids=chosen, **kwargs)


def take(quiz: Quiz, user, right: int, now=None) -> Attempt:
    attempt = attempt_start(quiz=quiz, user=user, now=now)
    answer(attempt, right, now=now)
    return attempt_submit(attempt=attempt, now=now)


def test_a_start_draws_distinct_active_questions_and_stores_a_shuffled_option_order(quiz, student):
    Question.objects.filter(key__in=["ws-scheme", "full-duplex"]).update(is_active=False)
    seen_shuffled = False
    for seed in range(5):
        Attempt.objects.all().delete()
        attempt = attempt_start(quiz=quiz, user=student, rng=random.Random(seed))
        drawn = list(attempt.questions.select_related("version__question"))
        assert len(drawn) == quiz.questions_per_attempt == attempt.question_count
        keys = {q.version.question.key for q in drawn}
        assert len(keys) == 4
        assert not keys & {"ws-scheme", "full-duplex"}
        for question in drawn:
            authored = [o.id for o in question.version.options.all()]
            assert sorted(question.option_order) == sorted(authored)
            seen_shuffled |= question.option_order != authored
    assert seen_shuffled


def test_starting_again_resumes_the_same_attempt_with_the_same_paper(quiz, student):
    first = attempt_start(quiz=quiz, user=student)
    paper = attempt_paper(first)
    again = attempt_start(quiz=quiz, user=student)
    assert again.pk == first.pk
    assert attempt_paper(again) == paper
    assert Attempt.objects.count() == 1
    assert attempt_current(quiz=quiz, user=student).pk == first.pk


def test_the_paper_renders_markdown_and_carries_no_answer_key(quiz, student):
    Question.objects.filter(key__in=["ws-scheme", "full-duplex", "send-json", "close-code"]).update(
        is_active=False
    )
    attempt = attempt_start(quiz=quiz, user=student)
    paper = {q.position: q for q in attempt_paper(attempt)}
    for question in paper.values():
        assert not any(hasattr(o, "correct") for o in question.options)
    ready = attempt.questions.get(version__question__key="ready-states")
    html = paper[ready.position].html
    assert "<code>WebSocket.readyState</code>" in html
    assert '<pre><code class="language-js">const socket' in html
    assert all(o.html.startswith("<code>") for o in paper[ready.position].options)


def test_answers_are_saved_replaced_and_checked(quiz, student):
    attempt = attempt_start(quiz=quiz, user=student)
    question = attempt.questions.filter(version__kind="single").first()
    assert question is not None  # the demo has 2 multiple-choice questions, the draw takes 4
    at, ids = question.position, question.option_order
    attempt_answer(attempt=attempt, position=at, option_ids=[ids[0]])
    attempt_answer(attempt=attempt, position=at, option_ids=[ids[1]])
    assert AttemptQuestion.objects.get(pk=question.pk).answer.chosen == [ids[1]]
    with pytest.raises(BadAnswer, match="has no such option"):
        attempt_answer(attempt=attempt, position=at, option_ids=[999_999])
    with pytest.raises(BadAnswer, match="has no question 9"):
        attempt_answer(attempt=attempt, position=8, option_ids=[])
    with pytest.raises(BadAnswer, match="takes one option"):
        attempt_answer(attempt=attempt, position=at, option_ids=ids[:2])
    with pytest.raises(BadAnswer, match="chosen twice"):
        attempt_answer(attempt=attempt, position=at, option_ids=[ids[0], ids[0]])
    # The page names the choice by its random value, not by the option id.
    assert attempt_paper(attempt)[at].chosen == set(question.values_of([ids[1]]))
    attempt_answer(attempt=attempt, position=at, option_ids=[])
    assert attempt_paper(attempt)[at].chosen == set()


def test_a_submit_grades_stores_the_receipt_and_the_counted_score(quiz, student):
    attempt = take(quiz, student, right=3)
    assert attempt.status == Attempt.Status.SUBMITTED
    assert (attempt.correct_count, attempt.accuracy, attempt.score) == (3, 75, 7)
    assert attempt.receipt == (
        "3 of 4 correct = 75% ≥ 50% threshold → 7 of 10 (75% of 10 = 7.5, rounded down); "
        "the last attempt counts → 7"
    )
    flags = list(attempt.questions.order_by("position").values_list("is_correct", flat=True))
    assert flags == [True, True, True, False]
    result = Result.objects.get(quiz=quiz, user=student)
    assert (result.score, result.attempt_id) == (7, attempt.pk)
    assert result.receipt.startswith("Attempt 1: 3 of 4 correct")


def test_each_question_is_marked_right_or_wrong_even_when_none_is_right(quiz, student):
    attempt = take(quiz, student, right=0)
    flags = list(attempt.questions.order_by("position").values_list("is_correct", flat=True))
    assert (attempt.correct_count, flags) == (0, [False] * 4)
    other = take(quiz, make_user("ace"), right=4)
    flags = list(other.questions.order_by("position").values_list("is_correct", flat=True))
    assert (other.correct_count, flags) == (4, [True] * 4)


def test_a_second_submit_of_the_same_attempt_is_refused_and_changes_nothing(quiz, student):
    attempt = take(quiz, student, right=4)
    with pytest.raises(AttemptClosed, match="Attempt 1 was already submitted"):
        attempt_submit(attempt=attempt)
    with pytest.raises(AttemptClosed):
        attempt_answer(attempt=attempt, position=0, option_ids=[])
    attempt.refresh_from_db()
    assert attempt.score == 10


def test_bad_final_answers_refuse_the_submit_and_save_nothing(quiz, student):
    attempt = attempt_start(quiz=quiz, user=student)
    with pytest.raises(BadAnswer):
        attempt_submit(attempt=attempt, answers={0: [], 1: [424242]})
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN
    assert not AttemptQuestion.objects.filter(answer__isnull=False).exists()


def test_strict_mode_refuses_a_start_past_the_cap(quiz, student):
    take(quiz, student, right=4)
    take(quiz, student, right=1)
    with pytest.raises(StartRefused, match="You have used all 2 attempts") as refused:
        attempt_start(quiz=quiz, user=student)
    assert refused.value.decision.available_at is None
    assert Attempt.objects.count() == 2
    # The last attempt counts, even though it is lower: 1 of 4 = 25% < 50% → 0.
    assert Result.objects.get(user=student).score == 0


def test_non_strict_mode_halves_attempts_past_the_cap(quiz, student):
    quiz.strict_attempts = False
    quiz.save()
    take(quiz, student, right=2)
    take(quiz, student, right=2)
    assert quiz_may_start(quiz=quiz, user=student).reason == (
        "Attempt 3 is over the cap of 2: its score will be halved."
    )
    third = take(quiz, student, right=4)
    assert (third.number, third.score, third.halved) == (3, 5, True)
    assert "attempt 3 is over the cap of 2 → halved to 5" in third.receipt
    assert Result.objects.get(user=student).score == 5


def test_the_best_attempt_can_count_instead_of_the_last(quiz, student):
    quiz.counting_attempt = Quiz.Counting.BEST
    quiz.save()
    first = take(quiz, student, right=4)
    second = take(quiz, student, right=2)
    assert second.receipt.endswith("the best of 2 attempts counts: attempt 1 → 10")
    result = Result.objects.get(user=student)
    assert (result.score, result.attempt_id) == (10, first.pk)


def test_the_cooldown_runs_from_the_previous_start(quiz, student):
    quiz.cooldown_hours = 1
    quiz.save()
    t0 = timezone.now()
    take(quiz, student, right=4, now=t0)
    with pytest.raises(StartRefused) as refused:
        attempt_start(quiz=quiz, user=student, now=t0 + timedelta(minutes=59))
    assert refused.value.decision.available_at == t0 + timedelta(hours=1)
    assert "One attempt per 1 hour" in str(refused.value)
    assert attempt_start(quiz=quiz, user=student, now=t0 + timedelta(hours=1)).number == 2


def test_the_window_refuses_starts_before_it_opens_and_after_it_closes(quiz, student):
    now = timezone.now()
    quiz.opens_at, quiz.closes_at = now + timedelta(hours=1), now + timedelta(hours=2)
    quiz.save()
    with pytest.raises(StartRefused, match="The test opens at"):
        attempt_start(quiz=quiz, user=student, now=now)
    with pytest.raises(StartRefused, match="The test closed at"):
        attempt_start(quiz=quiz, user=student, now=now + timedelta(hours=2))
    assert attempt_start(quiz=quiz, user=student, now=now + timedelta(hours=1)).deadline == (
        quiz.closes_at
    )


def test_when_time_runs_out_saved_answers_are_graded_and_late_ones_refused(quiz, student):
    quiz.time_limit_minutes = 10
    quiz.save()
    t0 = timezone.now()
    attempt = attempt_start(quiz=quiz, user=student, now=t0)
    assert attempt.deadline == t0 + timedelta(minutes=10)
    answer(attempt, right=2, now=t0 + timedelta(minutes=5))
    late = t0 + timedelta(minutes=10)
    with pytest.raises(AttemptClosed, match="Attempt 1 has ended: its time ran out"):
        attempt_answer(attempt=attempt, position=3, option_ids=[], now=late)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.EXPIRED
    assert attempt.submitted_at == attempt.deadline
    assert (attempt.correct_count, attempt.score) == (2, 5)
    assert attempt.receipt.startswith("Time ran out, so the answers saved before it were graded")


def test_a_late_submit_grades_only_what_was_saved_in_time(quiz, student):
    quiz.time_limit_minutes = 10
    quiz.save()
    t0 = timezone.now()
    attempt = attempt_start(quiz=quiz, user=student, now=t0)
    answer(attempt, right=1, now=t0)
    everything = {
        q.position: key_of(q) for q in attempt.questions.prefetch_related("version__options")
    }
    done = attempt_submit(attempt=attempt, answers=everything, now=t0 + timedelta(minutes=11))
    assert (done.status, done.correct_count) == (Attempt.Status.EXPIRED, 1)


def test_the_sweep_grades_overdue_attempts_only(quiz, student, other_student):
    quiz.time_limit_minutes = 10
    quiz.save()
    t0 = timezone.now()
    attempt_start(quiz=quiz, user=student, now=t0)
    attempt_start(quiz=quiz, user=other_student, now=t0 + timedelta(minutes=5))
    assert attempts_expire_overdue(now=t0 + timedelta(minutes=12)) == 1
    statuses = dict(Attempt.objects.values_list("user__username", "status"))
    assert statuses == {"alice": "expired", "bob": "open"}
    assert Result.objects.get(user=student).score == 0


def test_an_overdue_attempt_is_graded_before_the_next_start(quiz, student):
    quiz.time_limit_minutes = 10
    quiz.save()
    t0 = timezone.now()
    first = attempt_start(quiz=quiz, user=student, now=t0)
    second = attempt_start(quiz=quiz, user=student, now=t0 + timedelta(minutes=30))
    first.refresh_from_db()
    assert first.status == Attempt.Status.EXPIRED
    assert second.number == 2


def test_review_shows_only_wrong_questions_without_the_key_but_with_explanations(quiz, student):
    attempt = take(quiz, student, right=3)
    review = attempt_review(attempt=attempt)
    assert review.access.allowed
    assert [q.position for q in review.questions] == [3]
    shown = review.questions[0]
    assert shown.is_correct is False
    assert all(option.correct is None for option in shown.options)
    assert sum(option.chosen for option in shown.options) == 1
    assert shown.explanation_html is not None and shown.source.startswith(("http", "/"))


def test_review_with_the_key_and_all_questions(quiz, student):
    quiz.review_questions, quiz.review_show_key = "all", True
    quiz.save()
    attempt = take(quiz, student, right=3)
    review = attempt_review(attempt=attempt)
    assert len(review.questions) == 4
    for question in review.questions:
        drawn = attempt.questions.get(position=question.position)
        key = [o for o in drawn.ordered_options() if o.correct]
        assert [o.html for o in question.options if o.correct] == [
            render_inline(o.text) for o in key
        ]


def test_review_after_close_stays_shut_until_the_close(quiz, student):
    now = timezone.now()
    quiz.review_when, quiz.closes_at = "after_close", now + timedelta(hours=1)
    quiz.save()
    attempt = take(quiz, student, right=1, now=now)
    closed = attempt_review(attempt=attempt, now=now)
    assert not closed.access.allowed and closed.questions == []
    assert closed.access.available_at == quiz.closes_at
    assert attempt_review(attempt=attempt, now=now + timedelta(hours=1)).questions


def test_an_open_attempt_has_no_review(quiz, student):
    attempt = attempt_start(quiz=quiz, user=student)
    assert attempt_review(attempt=attempt).questions == []


def edited(question: Question, **changes) -> QuestionContent:
    content = question.current.content()
    return QuestionContent(**{**content.__dict__, **changes})


def test_editing_a_drawn_question_makes_a_version_and_old_attempts_keep_theirs(quiz, student):
    attempt = attempt_start(quiz=quiz, user=student)
    drawn = attempt.questions.select_related("version__question").get(position=0)
    question = drawn.version.question
    old_version = question.current
    right = key_of(drawn)
    attempt_answer(attempt=attempt, position=0, option_ids=right)

    # Flip the key: the old right answer is wrong in the new version.
    options = tuple((text, not correct) for text, correct in old_version.content().options)
    if old_version.kind == "single":
        options = tuple((text, i == len(options) - 1) for i, (text, _) in enumerate(options))
    assert question.set_content(edited(question, text="Reworded?", options=options)) == (
        "new version"
    )
    question.refresh_from_db()
    assert question.current.number == 2 and question.current_id != old_version.pk

    done = attempt_submit(attempt=attempt)
    drawn.refresh_from_db()
    assert drawn.version_id == old_version.pk
    assert drawn.is_correct is True
    assert done.correct_count >= 1
    quiz.review_questions = "all"
    quiz.save()
    shown = attempt_review(attempt=Attempt.objects.get(pk=done.pk)).questions[0]
    assert shown.html == render_markdown(old_version.text)
    assert "Reworded" not in shown.html


def test_editing_an_undrawn_question_edits_it_in_place(quiz):
    question = Question.objects.get(key="ws-scheme")
    version_id = question.current_id
    assert question.set_content(edited(question, explanation="Better words.")) == "edited"
    question.refresh_from_db()
    assert question.current_id == version_id
    assert question.versions.count() == 1
    assert question.current.explanation == "Better words."
    assert question.set_content(edited(question)) == "unchanged"


def test_the_database_refuses_a_second_open_attempt_and_a_reused_number(quiz, student):
    attempt = attempt_start(quiz=quiz, user=student)
    fields = {
        "quiz": quiz,
        "user": student,
        "started_at": attempt.started_at,
        "question_count": 4,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.create(number=2, **fields)
    attempt_submit(attempt=attempt)
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.create(number=1, **fields)


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "submitted"},  # finished without a grade
        {"status": "open", "score": 3, "max_score": 10},  # graded while open
        {
            "status": "submitted",
            "score": 11,
            "max_score": 10,
            "accuracy": 100,
            "correct_count": 4,
        },
        {"status": "submitted", "score": 1, "max_score": 10, "accuracy": 101, "correct_count": 4},
        {"status": "submitted", "score": 1, "max_score": 10, "accuracy": 50, "correct_count": 5},
    ],
    ids=[
        "no-grade",
        "open-with-score",
        "score-over-max",
        "accuracy-over-100",
        "more-right-than-drawn",
    ],
)
def test_the_database_refuses_impossible_grades(quiz, student, bad):
    now = timezone.now()
    row = {"submitted_at": now} if bad["status"] == "submitted" else {}
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.create(
            quiz=quiz,
            user=student,
            number=1,
            started_at=now,
            question_count=4,
            **row,
            **bad,
        )


@needs_row_locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("strict", [True, False])
def test_parallel_starts_and_submits_never_exceed_the_cap(module, strict):
    quizzes_load([DEMO])
    quiz = Quiz.objects.get(slug="demo-quiz")
    quiz.strict_attempts = strict
    quiz.save()
    user = make_user("racer")

    def work() -> None:
        for _ in range(3):
            try:
                attempt = attempt_start(quiz=quiz, user=user)
                attempt_submit(attempt=attempt)
            except AttemptError:
                pass  # refused by the rules: exactly what the race must produce

    assert run_threads(8, work) == []
    attempts = list(Attempt.objects.filter(quiz=quiz, user=user).order_by("number"))
    numbers = [a.number for a in attempts]
    assert numbers == list(range(1, len(attempts) + 1))
    assert all(a.status == Attempt.Status.SUBMITTED for a in attempts)
    if strict:
        assert len(attempts) == quiz.max_attempts
    else:
        # Threads that start while another's attempt is open resume that one, so fewer
        # than 8 x 3 attempts exist; every one past the cap is halved.
        assert quiz.max_attempts < len(attempts) <= 24
        assert [a.halved for a in attempts] == [n > quiz.max_attempts for n in numbers]
    result = Result.objects.get(quiz=quiz, user=user)
    assert result.attempt_id == attempts[-1].pk


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_parallel_submits_of_one_attempt_grade_it_exactly_once(module):
    quizzes_load([DEMO])
    quiz = Quiz.objects.get(slug="demo-quiz")
    user = make_user("clicker")
    attempt = attempt_start(quiz=quiz, user=user)
    outcomes: list[str] = []

    def work() -> None:
        try:
            attempt_submit(attempt=Attempt.objects.get(pk=attempt.pk))
            outcomes.append("graded")
        except AttemptClosed:
            outcomes.append("refused")

    assert run_threads(8, work) == []
    assert sorted(outcomes) == ["graded"] + ["refused"] * 7
    assert Attempt.objects.get(pk=attempt.pk).status == Attempt.Status.SUBMITTED
