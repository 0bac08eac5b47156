"""Starting, answering and submitting attempts: the rows around quizzes.grading.

Every write that depends on a student's earlier attempts first locks their Result
row for the test (Result.lock), so two requests at once (two tabs, a double click,
a script) run one after the other and the attempt cap holds. RS App read the count
and inserted without a lock (quiz-anchors.md, section 1.7); the unique constraints on Attempt
are the second line of defence. Answer writes also check the deadline and take from the
attempt's allowance (quizzes.pacing) under those locks, on a clock read once they are held.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from courseware.markup import render_inline  # noqa: F401 - re-exported for the pages
from quizzes import grading
from quizzes.attemptrows import (  # noqa: F401 - the errors are imported from here
    AttemptClosed,
    AttemptError,
    BadAnswer,
    RateLimited,
    StartRefused,
    answer_to,
    chosen_ids,
    lock_result,
    locked_open,
    locked_questions,
    pool_locked,
    spend_allowance,
    store_answers,
    student_attempts,
)
from quizzes.models import Answer, Attempt, AttemptQuestion, Quiz, Result
from quizzes.overrides import quiz_rules_for

# Where a start's randomness comes from; tests swap in a seeded random.Random.
draw_random: Callable[[], random.Random] = secrets.SystemRandom


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _history(quiz: Quiz, user: User, now: datetime) -> list[grading.PastAttempt]:
    # An overdue attempt counts as finished: it is graded before anything new starts.
    return [
        grading.PastAttempt(a.number, a.started_at, a.is_finished or a.is_overdue(now))
        for a in student_attempts(quiz, user)
    ]


def quiz_may_start(*, quiz: Quiz, user: User, now: datetime | None = None) -> grading.StartDecision:
    """Whether `user` may start an attempt now, why not, and from when (read-only)."""
    now = _now(now)
    return grading.may_start(
        rules=quiz_rules_for(quiz=quiz, user=user),
        attempts=_history(quiz, user, now),
        now=timezone.localtime(now),
        pool_size=quiz.active_questions().count(),
    )


def attempt_current(*, quiz: Quiz, user: User, now: datetime | None = None) -> Attempt | None:
    """The student's attempt in progress, after grading one whose time ran out."""
    attempts_expire_overdue(quiz=quiz, user=user, now=now)
    return Attempt.objects.for_student(quiz, user).open().first()


def attempt_start(
    *,
    quiz: Quiz,
    user: User,
    now: datetime | None = None,
    rng: random.Random | None = None,
    guard: Callable[[grading.Rules, list[Attempt]], None] | None = None,
) -> Attempt:
    """Start an attempt (or return the one in progress); draws the questions server-side.

    Raises StartRefused with the reason and the time it becomes possible. `guard` runs
    under the student's lock before a new attempt is drawn, with their rules and
    attempts, and may refuse by raising (quizzes.retakes asks to confirm a replace).
    """
    now = _now(now)
    rng = rng or draw_random()
    with transaction.atomic():
        lock_result(quiz, user)
        history = student_attempts(quiz, user)
        current = next((a for a in history if not a.is_finished), None)
        if current is not None and current.is_overdue(now):
            # Its time ran out: grade it before anything new starts (no sweep per request).
            locked, result, history = locked_open(current)
            _grade(locked, now, expired=True, result=result, history=history)
            current = None
        if current is not None:
            # The caller's quiz and user: its page's address must not read them again.
            current.quiz, current.user = quiz, user
            return current
        rules = quiz_rules_for(quiz=quiz, user=user)
        if guard is not None:
            guard(rules, history)
        options = pool_locked(quiz)
        decision = grading.may_start(
            rules=rules,
            attempts=[grading.PastAttempt(a.number, a.started_at, True) for a in history],
            now=timezone.localtime(now),
            pool_size=len(options),
        )
        if not decision.allowed:
            raise StartRefused(decision)
        drawn = rng.sample(list(options), quiz.questions_per_attempt)
        attempt = Attempt.objects.create(
            quiz=quiz,
            user=user,
            number=decision.next_number,
            started_at=now,
            deadline=grading.attempt_deadline(rules=rules, started_at=now),
            question_count=len(drawn),
        )
        rows = []
        for position, version_id in enumerate(drawn):
            order = list(options[version_id])
            rng.shuffle(order)
            rows.append(
                AttemptQuestion(
                    attempt=attempt,
                    version_id=version_id,
                    position=position,
                    option_order=order,
                    option_values=new_option_values(len(order), rng),
                )
            )
        AttemptQuestion.objects.bulk_create(rows)
    return attempt


def new_option_values(count: int, rng: random.Random) -> list[str]:
    """`count` distinct random values for a question's options, as its page names them.

    64 random bits each: nothing about an option (its id, its place in the bank, whether
    it is correct) can be read from its value, and sorting the values is a fresh shuffle.
    """
    values: list[str] = []
    while len(values) < count:
        value = f"{rng.getrandbits(64):016x}"
        if value not in values:
            values.append(value)
    return values


@dataclass(frozen=True)
class Written:
    """What one write of answers did."""

    answers: dict[int, Answer]  # position -> the answer now stored
    problems: dict[int, str]  # position -> why that answer was not saved
    questions: dict[int, AttemptQuestion]  # the questions written to, as read under the lock
    answered: int  # the attempt's questions with an option chosen, after the write


def attempt_write(
    *,
    attempt: Attempt,
    answers: Mapping[int, Sequence[int]] | None = None,
    values: Mapping[int, Sequence[str]] | None = None,
    now: datetime | None = None,
) -> Written:
    """Save answers {position: option ids} or {position: the page's values} in two queries.

    One query locks the attempt's row and reads the questions, one upserts every answer
    and stores the allowance (two statements on SQLite). Each answer is one write from
    the allowance, taken whole or refused whole (RateLimited, then nothing is saved);
    AttemptClosed once the attempt is over. Concurrent writers queue on the row lock, so
    the last one wins. (A socket's answers go through quizzes.socketsaves instead.)
    """
    if attempt.is_overdue(_now(now)):
        attempts_expire_overdue(quiz=attempt.quiz, user=attempt.user, now=now)
    given: Mapping[int, Sequence[Any]] = answers if answers is not None else (values or {})
    saved: dict[int, Answer] = {}
    problems: dict[int, str] = {}
    with transaction.atomic():
        locked, questions, answered = locked_questions(attempt, given.keys())
        moment = _now(now)  # once the lock is held
        spend_allowance(locked, moment, writes=len(given))
        for position, chosen in given.items():
            try:
                question = questions.get(position)
                answer = answer_to(locked, position, question, chosen, values=answers is None)
            except BadAnswer as exc:
                problems[position] = str(exc)
                continue
            answered += bool(answer.chosen) - bool(question and question.chosen)
            saved[position] = answer
        store_answers([locked], saved.values(), moment)
    return Written(saved, problems, questions, answered)


def attempt_answers(
    *, attempt: Attempt, answers: Mapping[int, Sequence[int]], now: datetime | None = None
) -> tuple[dict[int, Answer], dict[int, str]]:
    """Save (or replace) several answers {position (0-based): option ids} in one go.

    Each answer is one write from the attempt's allowance; an empty list clears it.
    Returns (the saved answers, the problems of those that did not fit), both by
    position; raises as attempt_write.
    """
    written = attempt_write(attempt=attempt, answers=answers, now=now)
    return written.answers, written.problems


def attempt_answer(
    *, attempt: Attempt, position: int, option_ids: Sequence[int], now: datetime | None = None
) -> Answer:
    """Save (or replace) the options chosen for drawn question `position` (0-based).

    One write from the allowance; raises BadAnswer if the options do not fit, and
    otherwise as attempt_answers.
    """
    saved, problems = attempt_answers(attempt=attempt, answers={position: option_ids}, now=now)
    if problems:
        raise BadAnswer(problems[position])
    return saved[position]


# What grading writes to an attempt's row; the rest (its allowance above all) is left as it is.
GRADED_FIELDS = "status submitted_at correct_count accuracy score max_score halved receipt".split()  # noqa: SIM905


def _grade(
    attempt: Attempt, now: datetime, *, expired: bool, result: Result, history: list[Attempt]
) -> Attempt:
    """Grade a locked open attempt, store it, and update the student's counted score.

    Reads the paper once: one row per option of each drawn question, with its question
    and the student's answer. `result` and `history` come from _locked_open.
    """
    quiz = attempt.quiz
    # The student's own rules: an extra attempt they were granted is not halved.
    rules = quiz_rules_for(quiz=quiz, user=attempt.user)
    rows = (
        AttemptQuestion.objects.filter(attempt=attempt)
        .with_chosen()
        .order_by()
        .values_list("id", "version__options__id", "version__options__correct", "chosen")  # type: ignore[misc]
    )
    correct: dict[int, set[int]] = {}
    chosen: dict[int, frozenset[int]] = {}
    for question_id, option_id, is_key, answer in rows:
        keys = correct.setdefault(question_id, set())
        if is_key:
            keys.add(option_id)
        chosen[question_id] = frozenset(answer or ())
    responses = [
        grading.Response(correct=frozenset(correct[q]), chosen=chosen[q]) for q in sorted(correct)
    ]
    # One UPDATE with one IN list: bulk_update's CASE of 20 branches cost a quarter of
    # a Submit's CPU to build.
    right = [q for q, r in zip(sorted(correct), responses, strict=True) if r.is_correct]
    # An empty IN list would compile to NULL, not false.
    marks = Q(pk__in=right) if right else False
    AttemptQuestion.objects.filter(attempt=attempt).update(is_correct=marks)
    # For the announcement: how many questions had an answer (no query to count them).
    attempt.answered = sum(1 for c in chosen.values() if c)

    grade = grading.grade_attempt(rules=rules, attempt_number=attempt.number, responses=responses)
    attempt.status = Attempt.Status.EXPIRED if expired else Attempt.Status.SUBMITTED
    # An expired attempt ended at its deadline, however late the sweep noticed it.
    attempt.submitted_at = attempt.deadline if expired and attempt.deadline else now
    attempt.correct_count = grade.correct_count
    attempt.accuracy = grade.accuracy
    attempt.score = grade.score
    attempt.max_score = grade.max_score
    attempt.halved = grade.halved

    finished = [a for a in history if a.is_finished and a.pk != attempt.pk]
    # A finished attempt always has its score (the attempt_graded_iff_finished constraint).
    scores = [(a.number, a.score) for a in finished if a.score is not None]
    scores.append((attempt.number, grade.score))
    counted = grading.counted_score(counting=rules.counting, scores=scores)
    assert counted is not None
    receipt = f"{grade.receipt}; {counted.note}"
    if expired:
        receipt = f"Time ran out, so the answers saved before it were graded: {receipt}"
    attempt.receipt = receipt
    attempt.save(update_fields=GRADED_FIELDS)

    result.score = counted.score
    result.attempt = next(a for a in [attempt, *finished] if a.number == counted.attempt_number)
    result.receipt = f"Attempt {attempt.number}: {receipt}"
    result.save(update_fields=["score", "attempt", "receipt", "updated_at"])
    return attempt


def attempt_submit(
    *,
    attempt: Attempt,
    answers: Mapping[int, Sequence[int]] | None = None,
    now: datetime | None = None,
) -> Attempt:
    """Grade the attempt, optionally saving final answers {position: option ids} first.

    Once its deadline has passed, answers sent with the submit are refused and the
    attempt is graded as expired with what was saved in time. Raises AttemptClosed if
    the attempt was already finished (a second click, another tab) and BadAnswer for
    options that do not fit; then nothing is saved.
    """
    with transaction.atomic():
        locked, result, history = locked_open(attempt)
        now = _now(now)  # read once the lock is held, as for any write
        expired = locked.is_overdue(now)
        if answers and not expired:
            questions = {q.position: q for q in locked.questions.select_related("version")}
            rows = []
            for position, option_ids in answers.items():
                if position not in questions:
                    raise BadAnswer(f"Attempt {locked.number} has no question {position + 1}.")
                question = questions[position]
                rows.append(Answer(question=question, chosen=chosen_ids(question, option_ids)))
            Answer.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["question"],
                update_fields=["chosen", "updated_at"],
            )
        return _grade(locked, now, expired=expired, result=result, history=history)


def attempts_expire_overdue(
    *, quiz: Quiz | None = None, user: User | None = None, now: datetime | None = None
) -> int:
    """Grade every open attempt whose deadline has passed; returns how many."""
    now = _now(now)
    overdue = Attempt.objects.overdue(now)
    if quiz is not None:
        overdue = overdue.filter(quiz=quiz)
    if user is not None:
        overdue = overdue.filter(user=user)
    done = 0
    for attempt in overdue.select_related("quiz", "user"):
        with transaction.atomic():
            try:
                locked, result, history = locked_open(attempt)
            except AttemptClosed:
                continue  # someone else finished it meanwhile
            _grade(locked, now, expired=True, result=result, history=history)
            done += 1
    return done
