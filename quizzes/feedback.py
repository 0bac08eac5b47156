"""Feedback on a submitted attempt: each missed question, the student's choice, what to reread.

RS App showed nothing per question until the deadline (quiz-anchors.md, section 1.4), and students
asked for their mistakes and a link to learn from (rsschool-app #930, #1080, #1471). The
result page lists every missed question once the test's review policy opens; the key and
the explanations follow the policy's own switches. Options are shown by their text only:
nothing here carries an option id or a correct flag unless the policy shows the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import prefetch_related_objects
from django.utils.safestring import SafeString

from courseware.models import Objective, Resource
from quizzes import grading
from quizzes.models import Attempt, AttemptQuestion
from quizzes.review import attempt_review_access


@dataclass(frozen=True)
class MissedQuestion:
    """A question answered wrong (or not at all), as the result page lists it."""

    number: int
    html: SafeString
    chosen: list[SafeString]  # the student's own options, by text; empty if unanswered
    key: list[SafeString] | None  # None unless the policy shows the key
    explanation_html: SafeString | None  # None unless the policy shows explanations
    source: str
    objective: Objective
    resources: list[Resource]


@dataclass(frozen=True)
class Feedback:
    access: grading.ReviewAccess
    missed: list[MissedQuestion]


def attempt_feedback(
    *,
    attempt: Attempt,
    now: datetime | None = None,
    rules: grading.Rules | None = None,
    questions: list[AttemptQuestion] | None = None,
) -> Feedback:
    """The missed questions of a finished attempt, if the review policy is open now.

    `questions`: the attempt's drawn questions with version__objective and answer, when
    the caller has read them already (the result page shares them with its breakdown).
    The caller must check that the attempt belongs to the person asking.
    """
    access = attempt_review_access(attempt=attempt, now=now, rules=rules)
    if not access.allowed:
        return Feedback(access, [])
    if questions is None:
        questions = list(attempt.questions.select_related("version__objective").with_chosen())
    wrong = sorted((q for q in questions if q.is_correct is not True), key=lambda q: q.position)
    prefetch_related_objects(wrong, "version__options", "version__objective__resources")
    missed = []
    for question in wrong:
        version = question.version
        chosen = set(question.chosen or ())
        options = question.ordered_options()
        missed.append(
            MissedQuestion(
                number=question.position + 1,
                html=version.text_shown,
                chosen=[o.shown for o in options if o.id in chosen],
                key=[o.shown for o in options if o.correct] if access.show_key else None,
                explanation_html=(version.explanation_shown if access.show_explanations else None),
                source=version.source,
                objective=version.objective,
                resources=sorted(version.objective.resources.all(), key=lambda r: r.position),
            )
        )
    return Feedback(access, missed)
