"""What a student may see of a finished attempt, as the test's review policy allows.

Options are listed by their text in the order the student saw them; nothing here carries
an option id, and a correct flag only when the policy shows the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.safestring import SafeString

from quizzes import grading
from quizzes.models import Attempt
from quizzes.overrides import quiz_rules_for


@dataclass(frozen=True)
class ReviewOption:
    html: SafeString
    chosen: bool
    correct: bool | None  # None unless the policy shows the key


@dataclass(frozen=True)
class ReviewQuestion:
    position: int
    kind: str
    html: SafeString
    options: list[ReviewOption]
    is_correct: bool
    explanation_html: SafeString | None  # None unless the policy shows explanations
    source: str
    objective: str


@dataclass(frozen=True)
class Review:
    access: grading.ReviewAccess
    questions: list[ReviewQuestion]


def attempt_review_access(
    *, attempt: Attempt, now: datetime | None = None, rules: grading.Rules | None = None
) -> grading.ReviewAccess:
    """What the test's review policy lets the student see of this attempt now.

    A student granted a later close sees their review only after their own close: until
    then they may still attempt the test.
    """
    # `rules`: the student's rules, when the caller has read them already.
    return grading.review_access(
        rules=rules or quiz_rules_for(quiz=attempt.quiz, user=attempt.user),
        finished=attempt.is_finished,
        now=timezone.localtime(now or timezone.now()),
    )


def attempt_review(*, attempt: Attempt, now: datetime | None = None) -> Review:
    """The attempt's questions as the review policy allows (none if it is closed).

    Correct flags and explanations are only filled in when the policy shows them; the
    caller must still check that the attempt belongs to the person asking.
    """
    access = attempt_review_access(attempt=attempt, now=now)
    if not access.allowed:
        return Review(access, [])
    questions = (
        attempt.questions.select_related("version", "version__objective")
        .with_chosen()
        .prefetch_related("version__options")
    )
    shown = []
    for question in questions:
        if access.questions == "wrong" and question.is_correct:
            continue
        chosen = set(question.chosen or ())
        version = question.version
        shown.append(
            ReviewQuestion(
                position=question.position,
                kind=version.kind,
                html=version.text_shown,
                options=[
                    ReviewOption(
                        o.shown,
                        o.id in chosen,
                        o.correct if access.show_key else None,
                    )
                    for o in question.ordered_options()
                ],
                is_correct=bool(question.is_correct),
                explanation_html=(version.explanation_shown if access.show_explanations else None),
                source=version.source,
                objective=version.objective.text,
            )
        )
    return Review(access, shown)
