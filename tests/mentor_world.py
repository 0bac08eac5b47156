"""A small hand-computed cohort for the mentor tests: six students, five questions.

Students s1…s6 answer every question; letters are options by authored position.
q1 is miskeyed (the strong students pick B), q2 is trivial, q3 and q5 discriminate
well, q4 is hard. tests/test_mentor_analytics.py derives every number by hand.
"""

from __future__ import annotations

from courseware.models import Objective
from quizzes.attempts import attempt_answer, attempt_start, attempt_submit
from quizzes.models import Attempt, Question, QuestionContent, Quiz

STUDENTS = ["s1", "s2", "s3", "s4", "s5", "s6"]
KEYS = {"q1": "A", "q2": "A", "q3": "AB", "q4": "A", "q5": "A"}
KINDS = {"q1": "single", "q2": "single", "q3": "multiple", "q4": "single", "q5": "single"}
OBJECTIVES = {
    "q1": "connect",
    "q2": "connect",
    "q3": "principles",
    "q4": "principles",
    "q5": "principles",
}
# What each student chose, in the order of STUDENTS.
CHOICES = {
    "q1": ["B", "B", "B", "A", "A", "A"],
    "q2": ["A", "A", "A", "A", "A", "A"],
    "q3": ["AB", "AB", "AB", "A", "AC", "C"],
    "q4": ["A", "B", "B", "C", "C", "C"],
    "q5": ["A", "A", "A", "B", "C", "B"],
}


def make_quiz(module, *, slug: str = "health-check", counting: str = "last") -> Quiz:
    """A test whose five questions are all drawn in every attempt."""
    quiz = Quiz.objects.create(
        slug=slug,
        title="Health check",
        module=module,
        max_attempts=3,
        questions_per_attempt=5,
        threshold_percent=60,
        cooldown_hours=0,
        max_score=10,
        counting_attempt=counting,
        review_when=Quiz.ReviewWhen.AFTER_SUBMIT,
    )
    objectives = {o.key: o for o in Objective.objects.filter(module=module)}
    for position, key in enumerate(KEYS):
        question = Question.objects.create(quiz=quiz, key=key, position=position)
        question.set_content(
            QuestionContent(
                kind=KINDS[key],
                objective_id=objectives[OBJECTIVES[key]].pk,
                text=f"Question {key}?",
                explanation="Because.",
                source="https://example.org/",
                options=tuple((f"{key} option {letter}", letter in KEYS[key]) for letter in "ABC"),
            )
        )
    return quiz


def sit(quiz: Quiz, user, letters: dict[str, str]) -> Attempt:
    """Start an attempt, choose the given letters per question key, and submit it."""
    attempt = attempt_start(quiz=quiz, user=user)
    for question in attempt.questions.select_related("version__question"):
        options = list(question.version.options.order_by("position"))
        chosen = [
            options["ABC".index(letter)].pk for letter in letters[question.version.question.key]
        ]
        attempt_answer(attempt=attempt, position=question.position, option_ids=chosen)
    return attempt_submit(attempt=attempt)


def cohort_letters(index: int) -> dict[str, str]:
    return {key: CHOICES[key][index] for key in KEYS}
