"""Rows read with written-out queries (courseware.rowreads) match what the ORM reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courseware.rowreads import read_row, read_rows
from quizzes.attemptrows import student_attempts
from quizzes.attempts import attempt_start
from quizzes.models import Attempt, Override, Quiz
from quizzes.overrides import student_grants
from tests.quizkit import finished_attempt

pytestmark = pytest.mark.django_db


def same_fields(ours, orm) -> None:
    for field in type(orm)._meta.concrete_fields:
        name = field.attname
        assert (getattr(ours, name), type(getattr(ours, name))) == (
            getattr(orm, name),
            type(getattr(orm, name)),
        ), name
    assert not ours._state.adding and ours._state.db == "default"


def test_an_attempt_reads_with_its_test_and_module_as_the_orm_reads_them(demo, student):
    """Every field with the ORM's types (SQLite's booleans and datetimes converted), and
    the joined rows cached: reading attempt.quiz.module asks nothing more."""
    finished_attempt(demo, student, right=1)
    attempt = attempt_start(quiz=demo, user=student)
    with CaptureQueriesContext(connection) as captured:
        found = read_row(
            Attempt,
            "quiz",
            "quiz__module",
            where="t0.id = %s AND t1.slug = %s",
            params=[attempt.pk, demo.slug],
        )
        assert found is not None
        ours = found[0]
        module = ours.quiz.module
    assert len(captured) == 1
    orm = Attempt.objects.select_related("quiz__module").get(pk=attempt.pk)
    same_fields(ours, orm)
    same_fields(ours.quiz, orm.quiz)
    same_fields(module, orm.quiz.module)


def test_nothing_found_is_none_and_values_are_parameters_never_text(demo):
    where = "t0.slug = %s"
    assert read_row(Quiz, "module", where=where, params=["no-such-test"]) is None
    assert read_row(Quiz, where=where, params=["x' OR '1'='1"]) is None
    found = read_row(Quiz, "module", where=where, params=[demo.slug])
    assert found is not None and found[0].pk == demo.pk


def test_a_students_attempts_come_in_order_holding_their_test_and_student(
    demo, student, other_student
):
    for right in (0, 1):
        finished_attempt(demo, student, right=right)
    finished_attempt(demo, other_student, right=1)
    with CaptureQueriesContext(connection) as captured:
        attempts = student_attempts(demo, student)
        assert [(a.quiz, a.user) for a in attempts] == [(demo, student)] * 2
    assert len(captured) == 1
    assert [a.number for a in attempts] == [1, 2]
    for ours in attempts:
        same_fields(ours, Attempt.objects.get(pk=ours.pk))


def test_grants_come_oldest_first(demo, student, mentor):
    now = timezone.now()
    grants = [
        Override.objects.create(
            quiz=demo,
            user=student,
            extra_attempts=n,
            granted_by=mentor,
            granted_at=now - timedelta(hours=n),
            reason="illness",
        )
        for n in (2, 1)
    ]
    assert student_grants(quiz=demo, user=student) == grants
    same_fields(student_grants(quiz=demo, user=student)[0], Override.objects.get(pk=grants[0].pk))


def test_locked_reads_lock_where_the_database_has_row_locks(demo, student):
    finished_attempt(demo, student, right=1)
    with CaptureQueriesContext(connection) as captured:
        student_attempts(demo, student, lock=True)
    locks = connection.features.has_select_for_update
    assert captured[0]["sql"].endswith("FOR UPDATE") == locks


def test_only_non_null_foreign_keys_are_joined():
    with pytest.raises(ValueError, match="granted_by"):
        read_rows(Override, "granted_by", where="t0.id = %s", params=[1])
