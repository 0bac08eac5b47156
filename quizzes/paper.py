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

from courseware.markup import render_inline, render_markdown
from quizzes.attempts import attempt_write
from quizzes.models import Answer, Attempt, AttemptQuestion, Option
from quizzes.models.bank import stored_html

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
    """The drawn questions in order, options in the stored shuffled order, with no key.

    Two queries, reading only what the page shows: the HTML stored with each version and
    option (never rendered here), and no correct flag at all. Plain rows, not model
    objects: building 20 questions, their versions and 80 options as models was a third
    of the attempt page's CPU.
    """
    rows = list(
        attempt.questions.with_chosen()
        .order_by("position")
        .values_list(
            "position",
            "version_id",
            "version__kind",
            "version__text",
            "version__text_html",
            "option_order",
            "option_values",
            "chosen",  # type: ignore[misc]  # annotated by with_chosen
        )
    )
    options = Option.objects.filter(version_id__in={row[1] for row in rows}).order_by()
    shown = {
        i: stored_html(html, text, render_inline)
        for i, text, html in options.values_list("id", "text", "html")
    }
    paper = []
    for position, _, kind, text, text_html, order, values, chosen in rows:
        value = dict(zip(order, values, strict=True))
        paper.append(
            PaperQuestion(
                position=position,
                kind=kind,
                html=stored_html(text_html, text, render_markdown),
                options=[PaperOption(value[i], shown[i]) for i in order],
                chosen=frozenset(value[i] for i in chosen or ()),
            )
        )
    return paper


def attempt_drawn(attempt: Attempt) -> dict[int, AttemptQuestion]:
    """The attempt's questions by position, with their versions and `chosen` (one query).

    Of each version only its kind, which the saves check: a cohort's sockets all read
    this on connect, and the question texts are most of the rows' bytes.
    """
    questions = (
        AttemptQuestion.objects.filter(attempt=attempt)
        .select_related("version")
        .only("attempt_id", "position", "option_order", "option_values", "version__kind")
    )
    return {q.position: q for q in questions.with_chosen().order_by()}


def saved_values(drawn: Mapping[int, AttemptQuestion]) -> dict[str, list[str]]:
    """{position: chosen values} of the answered questions, as the socket's state sends it."""
    return {str(p): q.values_of(q.chosen) for p, q in drawn.items() if q.chosen}


@dataclass(frozen=True)
class Saved:
    values: dict[int, list[str]]  # position -> the values now stored, sorted
    answers: dict[int, Answer]
    problems: dict[int, str]  # position -> why that answer was not saved
    answered: int = 0  # the attempt's questions with an option chosen, after the save


def attempt_save_values(
    *,
    attempt: Attempt,
    choices: Mapping[int, Sequence[str]],
    now: datetime | None = None,
) -> Saved:
    """Save answers given as the page's values {position: values}; see attempt_write.

    A value that is not one of the question's options is that question's problem; the
    other answers are saved, each one write from the attempt's allowance. Raises
    RateLimited or AttemptClosed as attempt_write does, and then saves nothing.
    """
    if not choices:
        return Saved({}, {}, {})
    written = attempt_write(attempt=attempt, values=choices, now=now)
    values = {p: written.questions[p].values_of(a.chosen) for p, a in written.answers.items()}
    return Saved(values, written.answers, written.problems, written.answered)
