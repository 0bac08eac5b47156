"""Starting again while holding a score that the next attempt would replace.

Under RS App's "last attempt counts" a retake replaces the course score even when it is
lower, and students learnt that only afterwards (rsschool-app #1500, support #961: 95
became 0). So Start says so first, and the server refuses a start that was not confirmed.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User

from quizzes import grading
from quizzes.attempts import AttemptError, attempt_start
from quizzes.models import Attempt, Quiz, Result


class ReplaceNotConfirmed(AttemptError):
    """A start that would replace a counted score arrived without the student's consent."""

    def __init__(self, score: int) -> None:
        self.score = score
        super().__init__(replace_warning(score))


def replace_warning(score: int) -> str:
    return f"Your score of {score} will be replaced by this attempt's score, even if lower."


def score_at_stake(*, quiz: Quiz, user: User) -> int | None:
    """The counted score that starting a new attempt now would put at stake, or None.

    None as well while an attempt is in progress: Start then only resumes it.
    """
    if Attempt.objects.for_student(quiz, user).open().exists():
        return None
    counted = Result.objects.filter(quiz=quiz, user=user).values_list("score", flat=True).first()
    return grading.score_at_risk(rules=quiz.rules(), counted=counted)


def attempt_start_confirmed(
    *, quiz: Quiz, user: User, confirmed: bool, now: datetime | None = None
) -> Attempt:
    """attempt_start, refused with ReplaceNotConfirmed if it would replace an unconfirmed score.

    The check runs under the student's Result lock, the one attempt_start takes, so a
    submit in another tab cannot put a score at stake between the check and the start.
    A first attempt has no score at stake and reads nothing more.
    """

    def guard(rules: grading.Rules, history: list[Attempt]) -> None:
        if confirmed or not history:
            return
        counted = Result.objects.filter(quiz=quiz, user=user).values_list("score", flat=True)
        at_risk = grading.score_at_risk(rules=rules, counted=counted.first())
        if at_risk is not None:
            raise ReplaceNotConfirmed(at_risk)

    return attempt_start(quiz=quiz, user=user, now=now, guard=guard)
