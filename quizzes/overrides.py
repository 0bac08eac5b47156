"""Per-student exceptions (Moodle's user overrides): the rules one student plays by.

A mentor grants a student an extra attempt, a waived cooldown, a longer time limit or a
later close for one test. Every rule the server enforces for that student (start,
deadline, sweep, grading, review) reads quiz_rules_for(), never Quiz.rules() alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from courseware.rowreads import read_rows
from quizzes import grading
from quizzes.models import Attempt, Override, Quiz, Result


def student_grants(*, quiz: Quiz, user: User) -> list[Override]:
    """The student's grants in this test, oldest first (one written-out query)."""
    return read_rows(
        Override,
        where="t0.quiz_id = %s AND t0.user_id = %s ORDER BY t0.granted_at, t0.id",
        params=[quiz.pk, user.pk],
    )


def quiz_rules_for(
    *, quiz: Quiz, user: User, grants: list[Override] | None = None
) -> grading.Rules:
    """The test's rules as they apply to this student, after their overrides.

    `grants`: student_grants(), when the caller has read them already.
    """
    if grants is None:
        grants = student_grants(quiz=quiz, user=user)
    combined = grading.overrides_combined([o.as_rule() for o in grants])
    return grading.rules_with_override(quiz.rules(), combined)


def override_grant(
    *, override: Override, granted_by: User, now: datetime | None = None
) -> Override:
    """Store a validated, unsaved grant, and give an attempt in progress its new deadline.

    The student's Result lock is held, as for every write that depends on their attempts,
    so a start in another request sees either the old rules and deadline or the new ones.
    """
    now = now or timezone.now()
    with transaction.atomic():
        Result.lock(quiz=override.quiz, user=override.user)
        override.granted_by = granted_by
        override.granted_at = now
        override.save()
        current = (
            Attempt.objects.for_student(override.quiz, override.user)
            .open()
            .select_for_update()
            .first()
        )
        # An attempt whose time already ran out stays over: the sweep grades it as it was.
        if current is not None and not current.is_overdue(now):
            rules = quiz_rules_for(quiz=override.quiz, user=override.user)
            deadline = grading.attempt_deadline(rules=rules, started_at=current.started_at)
            if deadline != current.deadline:
                current.deadline = deadline
                current.save(update_fields=["deadline"])
    return override


@dataclass(frozen=True)
class GrantNote:
    """One grant as the student's test page states it."""

    text: str
    granted_at: datetime


def override_notes(grants: list[Override]) -> list[GrantNote]:
    """A student's grants (student_grants) in words, without the mentor's reason."""
    return [GrantNote(f"You have {' and '.join(o.granted())}", o.granted_at) for o in grants]
