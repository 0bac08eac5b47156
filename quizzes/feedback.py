"""Feedback on a submitted attempt: each missed question, the student's choice, what to reread.

RS App showed nothing per question until the deadline (quiz-anchors §1.4), and students
asked for their mistakes and a link to learn from (rsschool-app #930, #1080, #1471). The
result page lists every missed question once the test's review policy opens; the key and
the explanations follow the policy's own switches. Options are shown by their text only:
nothing here carries an option id or a correct flag unless the policy shows the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.safestring import SafeString

from courseware.markup import render_markdown
from courseware.models import Objective, Resource
from quizzes import grading
from quizzes.attempts import render_inline
from quizzes.models import Attempt
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


def attempt_feedback(*, attempt: Attempt, now: datetime | None = None) -> Feedback:
    """The missed questions of a finished attempt, if the review policy is open now.

    The caller must check that the attempt belongs to the person asking.
    """
    access = attempt_review_access(attempt=attempt, now=now)
    if not access.allowed:
        return Feedback(access, [])
    questions = (
        attempt.questions.exclude(is_correct=True)
        .select_related("version__objective", "answer")
        .prefetch_related("version__options", "version__objective__resources")
        .order_by("position")
    )
    missed = []
    for question in questions:
        version = question.version
        answer = getattr(question, "answer", None)
        chosen = set(answer.chosen) if answer else set()
        options = question.ordered_options()
        missed.append(
            MissedQuestion(
                number=question.position + 1,
                html=render_markdown(version.text),
                chosen=[render_inline(o.text) for o in options if o.id in chosen],
                key=[render_inline(o.text) for o in options if o.correct]
                if access.show_key
                else None,
                explanation_html=(
                    render_markdown(version.explanation) if access.show_explanations else None
                ),
                source=version.source,
                objective=version.objective,
                resources=sorted(version.objective.resources.all(), key=lambda r: r.position),
            )
        )
    return Feedback(access, missed)
