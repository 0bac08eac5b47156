"""What the student pages show: the rules in plain words, form answers, the breakdown.

RS App's rules surprised students because they were never spelt out (rsschool-app
#862, #1500, support #961), so every rule that changes a score gets a sentence here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import prefetch_related_objects
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateformat import format as date_format

from courseware.models import Objective, Resource
from quizzes import grading
from quizzes.attempts import BadAnswer
from quizzes.models import Attempt, AttemptQuestion, Quiz
from quizzes.paper import PaperQuestion, is_value


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def moment(value: datetime) -> str:
    """A date and time in the site's time zone, with its name: 2026-12-01 18:00 UTC."""
    return date_format(timezone.localtime(value), "Y-m-d H:i T")


def needed_correct(*, questions: int, threshold_percent: int) -> int:
    """The fewest correct answers that reach the threshold."""
    # All correct is 100%, so the search always ends.
    return next(
        k
        for k in range(questions + 1)
        if grading.accuracy_percent(k, questions) >= threshold_percent
    )


def review_in_words(quiz: Quiz) -> str:
    if quiz.review_when == Quiz.ReviewWhen.NEVER:
        return "This test has no review: you see your score and accuracy, not the questions."
    what = (
        "the questions you answered wrong, with your own choices"
        if quiz.review_questions == Quiz.ReviewQuestions.WRONG
        else "every question, with your own choices"
    )
    extras = []
    if quiz.review_show_key:
        extras.append("the correct options")
    if quiz.review_show_explanations:
        extras.append("an explanation of each question")
    what += ", " + " and ".join(extras) if extras else " (the correct options are not shown)"
    if quiz.review_when == Quiz.ReviewWhen.AFTER_SUBMIT:
        return (
            "Right after you submit an attempt, its result page lists each question you "
            "missed with your own choice, its learning objective and the module resources "
            f"to read again. You can also review {what}."
        )
    when = f"at {moment(quiz.closes_at)}" if quiz.closes_at else "(no closing time is set yet)"
    return f"When the test closes {when} you can review {what}."


def rules_in_words(quiz: Quiz, *, pool_size: int) -> list[str]:
    """Every rule of the test as one plain sentence, in the order a student needs them."""
    n = quiz.questions_per_attempt
    need = needed_correct(questions=n, threshold_percent=quiz.threshold_percent)
    rules = [
        f"Each attempt has {_plural(n, 'question')}, drawn at random by the server from a "
        f"bank of {pool_size}; the order of the options is shuffled too.",
        "Some questions have one correct option (round buttons), others several (square "
        "boxes). A question counts only if you choose exactly its correct options: nothing "
        "missing, nothing extra. An unanswered question counts as wrong.",
        f"You need an accuracy of at least {quiz.threshold_percent}% to score: here that is "
        f"{need} of {n} correct. Below it the attempt scores 0. From there you get that "
        f"share of {quiz.max_score} points, rounded down.",
    ]
    if quiz.strict_attempts:
        rules.append(
            f"You have {_plural(quiz.max_attempts, 'attempt')}; after that you cannot start again."
        )
    else:
        rules.append(
            f"{_plural(quiz.max_attempts, 'attempt')} count in full. You may keep trying after "
            "that, but the score of every extra attempt is halved."
        )
    if quiz.cooldown_hours:
        rules.append(
            f"After you start an attempt, the next one can start "
            f"{_plural(quiz.cooldown_hours, 'hour')} later."
        )
    if quiz.time_limit_minutes:
        rules.append(
            f"Each attempt has a time limit of {_plural(quiz.time_limit_minutes, 'minute')}, "
            "kept by the server. When it runs out the attempt ends and the answers saved by "
            "then are graded, even if you closed the page."
        )
    else:
        rules.append("There is no time limit per attempt.")
    if quiz.opens_at:
        rules.append(f"The test opens at {moment(quiz.opens_at)}.")
    if quiz.closes_at:
        rules.append(
            f"The test closes at {moment(quiz.closes_at)}; an attempt still open then ends "
            "and is graded."
        )
    if quiz.counting_attempt == Quiz.Counting.LAST:
        rules.append(
            "Your last attempt is the one that counts for your course score, even if an "
            "earlier one scored higher. Once you have a score, Start warns you that the new "
            "attempt replaces it and asks you to confirm."
        )
    else:
        rules.append("Your best attempt is the one that counts for your course score.")
    rules.append(review_in_words(quiz))
    rules.append(
        "Your answers are saved as you choose them. If you reload the page or switch "
        "devices, the attempt continues where you left off; only one attempt can be in "
        "progress at a time."
    )
    return rules


@dataclass(frozen=True)
class FormAnswers:
    """The answers a submitted attempt form changed, and the problems found in it."""

    changed: dict[int, list[str]] = field(default_factory=dict)  # position -> values
    problems: list[str] = field(default_factory=list)


def _values(values: Iterable[str]) -> list[str]:
    chosen = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        if not is_value(value):
            raise BadAnswer(f"{value[:20]!r} is not an option.")
        chosen.append(value)
    return chosen


def form_answers(data: QueryDict, question_count: int) -> FormAnswers:
    """Read the attempt form: question fields q<pos>, with was<pos> as rendered.

    Options arrive as the attempt's random values (quizzes.paper), never as ids. Only
    questions whose choice differs from what the page showed are changed, so a
    stale page (another tab, another device) does not undo answers it never touched.
    A form without was<pos> fields sets every question it names.
    """
    result = FormAnswers()
    for position in range(question_count):
        try:
            chosen = _values(data.getlist(f"q{position}"))
            was = data.get(f"was{position}")
            if was is not None:
                if sorted(set(chosen)) == sorted(set(_values(was.split(",")))):
                    continue
            elif f"q{position}" not in data:
                continue
            result.changed[position] = chosen
        except BadAnswer as exc:
            result.problems.append(f"Question {position + 1}: {exc}")
    return result


def unanswered(paper: list[PaperQuestion]) -> list[int]:
    """1-based numbers of the questions with nothing chosen."""
    return [q.position + 1 for q in paper if not q.chosen]


@dataclass(frozen=True)
class ObjectiveScore:
    objective: Objective
    asked: int
    correct: int
    resources: list[Resource]

    @property
    def missed(self) -> int:
        return self.asked - self.correct


def objective_breakdown(
    attempt: Attempt, questions: list[AttemptQuestion] | None = None
) -> list[ObjectiveScore]:
    """Correct answers per learning objective, with the module's resources for the missed.

    `questions`: the drawn questions with version__objective, if already read. Then one
    query at most: the resources of the objectives with a miss, unless quizzes.feedback
    prefetched them on the same objects.
    """
    if questions is None:
        questions = list(attempt.questions.select_related("version__objective"))
    counts: dict[int, list[int]] = {}
    objectives: dict[int, Objective] = {}
    for question in questions:
        objective = question.version.objective
        # A missed question's objective object is the one feedback may have prefetched.
        if objective.id not in objectives or not question.is_correct:
            objectives[objective.id] = objective
        asked_correct = counts.setdefault(objective.id, [0, 0])
        asked_correct[0] += 1
        asked_correct[1] += bool(question.is_correct)
    missed = [o for o in objectives.values() if counts[o.id][1] < counts[o.id][0]]
    prefetch_related_objects(missed, "resources")
    return [
        ObjectiveScore(
            objective=o,
            asked=counts[o.id][0],
            correct=counts[o.id][1],
            resources=sorted(o.resources.all(), key=lambda r: r.position)
            if counts[o.id][1] < counts[o.id][0]
            else [],
        )
        for o in sorted(objectives.values(), key=lambda o: o.position)
    ]
