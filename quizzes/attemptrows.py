"""The rows of an attempt under lock: the reads and locks quizzes.attempts builds on.

Lock order, everywhere: the student's Result row, then their Attempt rows. Answer writes
lock only their attempt's row, which every other writer of it locks too. Each helper
is one or two queries; quizzes.attempts puts them together in transactions.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Field, OuterRef
from django.utils import timezone

from courseware.rowreads import read_rows
from quizzes import grading, pacing
from quizzes.models import (
    Answer,
    Attempt,
    AttemptQuestion,
    Option,
    Question,
    QuestionVersion,
    Quiz,
    Result,
)
from quizzes.models.attempts import answered_count_of


class AttemptError(Exception):
    """A request about an attempt that the rules refuse; the message is for the student."""


class StartRefused(AttemptError):
    def __init__(self, decision: grading.StartDecision) -> None:
        self.decision = decision
        super().__init__(decision.reason)


class AttemptClosed(AttemptError):
    """The attempt is no longer open: submitted, or its time ran out."""


class BadAnswer(AttemptError):
    """The chosen options do not fit the question."""


class RateLimited(AttemptError):
    """Answers came faster than the attempt's allowance (quizzes.pacing); none was saved."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        wait = max(1, math.ceil(retry_after))
        super().__init__(f"Too many answers in a short time: wait {wait} s, then save again.")


@cache
def _result_upsert() -> tuple[str, list[Field]]:
    """The upsert's text (written out: building the ORM's cost a tenth of a Start's CPU)."""
    fields = [f for f in Result._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    column = {f.name: quote(f.column) for f in fields}
    columns = ", ".join(column.values())
    unique, touched = f"{column['quiz']}, {column['user']}", column["updated_at"]
    # Only the model's table and column names go into the text; the values are parameters.
    sql = (
        f"INSERT INTO {quote(Result._meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({unique}) DO UPDATE SET {touched} = EXCLUDED.{touched} "
        f"RETURNING {quote(Result._meta.pk.column)}"
    )
    return sql, fields


def lock_result(quiz: Quiz, user: User) -> int:
    """Create or row-lock the student's Result in one query; returns its id.

    An upsert that touches the row takes the same row lock as SELECT ... FOR UPDATE, so
    every write that depends on the student's attempts still runs one at a time.
    """
    sql, fields = _result_upsert()
    fresh = Result(quiz=quiz, user=user)
    # As the ORM's insert prepares them: defaults, auto_now, the database's types.
    values = [f.get_db_prep_save(f.pre_save(fresh, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchone()[0]


def pool_locked(quiz: Quiz) -> dict[int, list[int]]:
    """{current version id: its option ids in authored order} of every active question.

    One query, in the bank's order (position, key), so a seeded draw stays the same. It
    share-locks those versions: an admin's edit in place must wait, then see the drawn
    ones used. Shared, so a cohort starting at once never waits for each other (the
    FOR UPDATE this replaces made every start that drew a common question queue).
    """
    lock = " FOR SHARE OF v" if connection.vendor == "postgresql" else ""
    # Only model table names and a constant go into the text; the quiz id is a parameter.
    sql = (
        f"SELECT v.id, o.id FROM {Question._meta.db_table} q "  # noqa: S608
        f"JOIN {QuestionVersion._meta.db_table} v ON v.id = q.current_id "
        f"JOIN {Option._meta.db_table} o ON o.version_id = v.id "
        "WHERE q.quiz_id = %s AND q.is_active "
        f'ORDER BY q.position, q."key", o.position{lock}'
    )
    pool: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        # Only table names from the models and a constant go into the text; the id is a
        # parameter.
        cursor.execute(sql, [quiz.pk])
        for version_id, option_id in cursor.fetchall():
            pool.setdefault(version_id, []).append(option_id)
    return pool


def student_attempts(quiz: Quiz, user: User, *, lock: bool = False) -> list[Attempt]:
    """The student's attempts of the test by number, each holding `quiz` and `user`.

    One written-out query (courseware.rowreads): a test page, a Start and a Submit each
    read them. `lock`: row-lock them too.
    """
    attempts = read_rows(
        Attempt,
        where="t0.quiz_id = %s AND t0.user_id = %s ORDER BY t0.number",
        params=[quiz.pk, user.pk],
        lock=lock,
    )
    for attempt in attempts:
        attempt.quiz, attempt.user = quiz, user
    return attempts


def locked_open(attempt: Attempt) -> tuple[Attempt, Result, list[Attempt]]:
    """Lock the student's Result, then all their attempts of the test (two queries).

    Returns (this attempt locked, the Result, every attempt of theirs in the test);
    raises AttemptClosed if this one is no longer open.
    """
    result = Result.lock(quiz=attempt.quiz, user=attempt.user)
    # The caller's attempt already holds its quiz and user: they are not read again.
    history = student_attempts(attempt.quiz, attempt.user, lock=True)
    locked = next(a for a in history if a.pk == attempt.pk)
    check_open(locked)
    return locked, result, history


def check_open(locked: Attempt) -> None:
    if locked.status == Attempt.Status.SUBMITTED:
        raise AttemptClosed(f"Attempt {locked.number} was already submitted.")
    if locked.status == Attempt.Status.EXPIRED:
        raise AttemptClosed(f"Attempt {locked.number} has ended: its time ran out.")


def chosen_ids(question: AttemptQuestion, option_ids: Sequence[int]) -> list[int]:
    """The sorted option ids to store for `question`; BadAnswer if they do not fit it."""
    chosen = sorted(set(option_ids))
    if len(chosen) != len(option_ids):
        raise BadAnswer("An option was chosen twice.")
    if not set(chosen) <= set(question.option_order):
        raise BadAnswer(f"Question {question.position + 1} has no such option.")
    if question.version.kind == QuestionVersion.Kind.SINGLE and len(chosen) > 1:
        raise BadAnswer(f"Question {question.position + 1} takes one option.")
    return chosen


def answer_to(
    locked: Attempt,
    position: int,
    question: AttemptQuestion | None,
    chosen: Sequence[Any],
    *,
    values: bool,
) -> Answer:
    """The answer to store: `chosen` holds option ids, or the page's values if `values`.

    BadAnswer if the attempt has no such question or the options do not fit it.
    """
    if question is None:
        raise BadAnswer(f"Attempt {locked.number} has no question {position + 1}.")
    ids = question.ids_of(list(chosen)) if values else list(chosen)
    if ids is None:
        raise BadAnswer(f"Question {position + 1} has no such option.")
    return Answer(question=question, chosen=chosen_ids(question, ids))


def locked_questions(
    attempt: Attempt, positions: Collection[int]
) -> tuple[Attempt, dict[int, AttemptQuestion], int]:
    """One query: lock the attempt's row and read the drawn questions at `positions`.

    Returns (the locked attempt, its questions by position with version and answer, the
    questions answered before this write). Raises AttemptClosed if the attempt is over.
    """
    rows = (
        AttemptQuestion.objects.filter(attempt_id=attempt.pk, position__in=list(positions))
        .select_related("attempt", "version")
        .with_chosen()
        # Only the attempt's row: it is the lock every writer of its answers takes.
        .select_for_update(of=("attempt",))
        .annotate(answered=answered_count_of(OuterRef("attempt_id")))
        .order_by()
    )
    questions: dict[int, AttemptQuestion] = {q.position: q for q in rows}
    if questions:
        first = rows[0]  # from the result cache the dict just filled: no second query
        locked = first.attempt
        before = first.answered or 0  # type: ignore[attr-defined]  # annotated above
    else:  # no such position: the attempt is still locked and checked
        locked = Attempt.objects.select_for_update().get(pk=attempt.pk)
        before = AttemptQuestion.objects.filter(attempt=attempt).answered().count()
    # The caller's attempt already holds its quiz and user: do not read them again.
    locked.quiz, locked.user = attempt.quiz, attempt.user
    check_open(locked)
    return locked, questions, before


def locked_answers(
    pairs: Sequence[tuple[Attempt, int]],
) -> tuple[dict[int, Attempt], dict[int, int], dict[int, list[int] | None]]:
    """One query: lock the attempts' rows and read their answers to the given questions.

    `pairs`: (attempt, id of one of its drawn questions, or 0 for none), any number of
    attempts. For callers that read the drawn questions before (a socket keeps them:
    they never change). Returns (each attempt by id, a copy of the caller's with the
    columns a write may have changed since it was read; the questions each had answered
    before this write; the option ids stored for each question id, or None). The rows
    are locked in id order, so two such calls that share attempts cannot deadlock. The
    caller checks that each attempt is still open (check_open).

    Written out rather than built with the ORM: each saved answer of a cohort runs it,
    and building the same query with subqueries took most of a save's CPU. Answers are
    read per question through their unique index (see AttemptQuestionQuerySet).
    """
    answer, drawn = Answer._meta.db_table, AttemptQuestion._meta.db_table
    lock = " FOR UPDATE OF a" if connection.vendor == "postgresql" else ""
    # Only table names from the models and constants go into the text; ids are parameters.
    # An answer's chosen is JSON text on both backends; '[]' is a cleared answer. Both
    # backends name a VALUES list's columns column1, column2.
    sql = (
        "SELECT a.id, a.status, a.deadline, a.allowance, a.allowance_at, "  # noqa: S608
        f"(SELECT COUNT(*) FROM {drawn} q WHERE q.attempt_id = a.id "
        f"AND (SELECT x.chosen FROM {answer} x WHERE x.question_id = q.id) <> '[]'), "
        f"v.column2, (SELECT x.chosen FROM {answer} x WHERE x.question_id = v.column2) "
        f"FROM (VALUES {', '.join(['(%s, %s)'] * len(pairs))}) v "
        f"JOIN {Attempt._meta.db_table} a ON a.id = v.column1 ORDER BY a.id{lock}"
    )
    given = {attempt.pk: attempt for attempt, _ in pairs}
    locked: dict[int, Attempt] = {}
    answered: dict[int, int] = {}
    stored: dict[int, list[int] | None] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [v for attempt, question in pairs for v in (attempt.pk, question)])
        for pk, status, deadline, allowance, allowance_at, count, question, chosen in cursor:
            stored[question] = None if chosen is None else json.loads(chosen)
            if pk in locked:
                continue
            # A model built from the row (Attempt.objects.raw) cost most of a save's CPU.
            attempt = locked[pk] = copy.copy(given[pk])
            attempt.status, attempt.allowance = status, allowance
            attempt.deadline, attempt.allowance_at = _datetime(deadline), _datetime(allowance_at)
            answered[pk] = count or 0
    return locked, answered, stored


def _datetime(value: datetime | None) -> datetime | None:
    """A datetime column as the ORM returns it: SQLite's come back naive, in UTC."""
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=UTC)


def store_answers(locked: Collection[Attempt], answers: Collection[Answer], now: datetime) -> None:
    """Upsert `answers` and store the locked attempts' allowances: one statement on PostgreSQL.

    Written out rather than the ORM's upsert and save(update_fields=...): building those
    two was half of a socket save's CPU, and on PostgreSQL the two writes travel as one
    statement (a data-modifying WITH), so a save is four round trips: BEGIN, the lock,
    this, COMMIT. SQLite has no data-modifying WITH: there they are two statements.
    `answers` holds at most one answer per question.
    """
    if not locked:
        return
    ops = connection.ops
    postgres = connection.vendor == "postgresql"
    table = Attempt._meta.db_table
    row = "(%s, %s::float8, %s::timestamptz)" if postgres else "(%s, %s, %s)"
    # Only table names from the models and constants go into the text; values are parameters.
    update = (
        f"UPDATE {table} SET allowance = v.column2, allowance_at = v.column3 "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * len(locked))}) v WHERE {table}.id = v.column1"
    )
    update_params = [
        v
        for a in locked
        for v in (a.pk, a.allowance, ops.adapt_datetimefield_value(a.allowance_at))
    ]
    with connection.cursor() as cursor:
        if not answers:
            cursor.execute(update, update_params)
            return
        row = "(%s, %s::jsonb, %s)" if postgres else "(%s, %s, %s)"
        upsert = (
            f"INSERT INTO {Answer._meta.db_table} (question_id, chosen, updated_at) "  # noqa: S608
            f"VALUES {', '.join([row] * len(answers))} ON CONFLICT (question_id) "
            "DO UPDATE SET chosen = excluded.chosen, updated_at = excluded.updated_at"
        )
        stamp = ops.adapt_datetimefield_value(now)
        params = [v for a in answers for v in (a.question_id, json.dumps(a.chosen), stamp)]
        if postgres:
            cursor.execute(f"WITH saved AS ({upsert}) {update}", [*params, *update_params])
        else:
            cursor.execute(upsert, params)
            cursor.execute(update, update_params)


def spend_allowance(locked: Attempt, now: datetime, *, writes: int) -> None:
    """Check the deadline and take `writes` from the allowance of a locked attempt.

    `now` is read once the lock is held: a write that waited for it (another tab's
    save, a grading sweep) past the deadline is refused, not stored late.
    """
    if locked.is_overdue(now):
        raise AttemptClosed("Time is up: answers can no longer be changed.")
    spent = pacing.spend(
        level=locked.allowance,
        filled_at=locked.allowance_at,
        now=now,
        cost=writes,
        size=pacing.capacity(
            burst=settings.QUIZ_ANSWER_BURST, question_count=locked.question_count
        ),
        rate=settings.QUIZ_ANSWER_RATE,
    )
    if not spent.allowed:
        raise RateLimited(spent.retry_after)
    locked.allowance, locked.allowance_at = spent.level, now
