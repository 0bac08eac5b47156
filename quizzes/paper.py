"""The attempt as the student's page and socket see it: options named by random values.

Each drawn question gives its options values that are random per attempt (stored with
the AttemptQuestion when the attempt is drawn). The form, the socket frames and the
markup carry only those values; this module maps them to option ids and back, so
database ids (which follow the authored order, correct options first) never reach a
student's browser, and answers are still stored as option ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.safestring import SafeString

from courseware.markup import render_markdown
from quizzes.attempts import attempt_answers, render_inline
from quizzes.models import Answer, Attempt, AttemptQuestion

# The shape of every value (quizzes.attempts.new_option_values): 64 bits in hex.
VALUE = re.compile(r"[0-9a-f]{16}")


def is_value(value: object) -> bool:
    return isinstance(value, str) and VALUE.fullmatch(value) is not None


@dataclass(frozen=True)
class PaperOption:
    value: str  # the option's random value in this attempt, never its id
    html: SafeString


@dataclass(frozen=True)
class PaperQuestion:
    """A drawn question as the student answers it: never any correct flag or option id."""

    position: int
    kind: str
    html: SafeString
    options: list[PaperOption]
    chosen: frozenset[str]  # values


def attempt_paper(attempt: Attempt) -> list[PaperQuestion]:
    """The drawn questions in order, options in the stored shuffled order, with no key."""
    questions = attempt.questions.select_related("version", "answer").prefetch_related(
        "version__options"
    )
    paper = []
    for question in questions:
        answer = getattr(question, "answer", None)
        values = dict(zip(question.option_order, question.option_values, strict=True))
        paper.append(
            PaperQuestion(
                position=question.position,
                kind=question.version.kind,
                html=render_markdown(question.version.text),
                options=[
                    PaperOption(values[o.id], render_inline(o.text))
                    for o in question.ordered_options()
                ],
                chosen=frozenset(question.values_of(answer.chosen)) if answer else frozenset(),
            )
        )
    return paper


def attempt_saved_values(attempt: Attempt) -> dict[str, list[str]]:
    """{position: chosen values} of the answered questions, as the socket's state sends it."""
    questions = AttemptQuestion.objects.filter(attempt=attempt).select_related("answer")
    return {
        str(q.position): q.values_of(q.answer.chosen)
        for q in questions
        if hasattr(q, "answer") and q.answer.chosen
    }


@dataclass(frozen=True)
class Saved:
    values: dict[int, list[str]]  # position -> the values now stored, sorted
    answers: dict[int, Answer]
    problems: dict[int, str]  # position -> why that answer was not saved


def attempt_save_values(
    *, attempt: Attempt, choices: Mapping[int, Sequence[str]], now: datetime | None = None
) -> Saved:
    """Save answers given as the page's values {position: values}; see attempt_answers.

    A value that is not one of the question's options is that question's problem; the
    other answers are saved, each one write from the attempt's allowance. Raises
    RateLimited or AttemptClosed as attempt_answers does, and then saves nothing.
    """
    # The values of a drawn question never change, so reading them before the write's
    # lock is safe.
    questions = {q.position: q for q in AttemptQuestion.objects.filter(attempt=attempt)}
    ids: dict[int, list[int]] = {}
    problems: dict[int, str] = {}
    for position, values in choices.items():
        question = questions.get(position)
        mapped = question.ids_of(list(values)) if question is not None else []
        if mapped is None:
            problems[position] = f"Question {position + 1} has no such option."
        else:
            ids[position] = mapped  # an unknown position is refused by attempt_answers
    answers, refused = attempt_answers(attempt=attempt, answers=ids, now=now) if ids else ({}, {})
    saved = {p: questions[p].values_of(a.chosen) for p, a in answers.items()}
    return Saved(values=saved, answers=answers, problems=problems | refused)
