"""Guessing without reading: strategies that only look at the markup score at chance.

Students play whole attempts of the shipped "[St2] WebSockets" bank through the real
pages (start, the attempt form, submit), each always choosing by one rule that ignores
the questions: the lowest option values, the first or the last options in the markup,
or the longest option texts. On a multiple-choice question the rule ticks as many
options as a test-wise student would guess, about half of them. If the values or the
order leaked which options are correct, these rules would score far above chance.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from courseware.roles import STUDENTS
from quizzes import attempts
from quizzes.models import Attempt, Quiz
from tests.conftest import make_user
from tests.quizkit import ST2, client_for, load_quiz

pytestmark = pytest.mark.django_db

ATTEMPTS_EACH = 20
# Chance on this bank is about 21% (a quarter on single choice, 1 in 6 to 1 in 20 on
# multiple choice). Over 2,400 answers (6 students) its standard deviation is under one
# point, over 1,200 (3 students) about 1.2: 5 points above chance separates luck from a
# leak, and 35% (the bar) far more.
CHANCE_MARGIN, CEILING = 5, 35

Option = tuple[str, str]  # (the value the page gives the option, its visible text)


class PaperReader(HTMLParser):
    """The attempt form as a student's browser sees it: questions in markup order."""

    def __init__(self) -> None:
        super().__init__()
        self.questions: dict[str, tuple[str, list[Option]]] = {}
        self.label: tuple[str, str] | None = None  # (field name, value) of the open label
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        if tag == "input" and re.fullmatch(r"q\d+", found.get("name") or ""):
            self.questions.setdefault(found["name"], (found["type"], []))
            self.label, self.text = (found["name"], found["value"]), []

    def handle_data(self, data: str) -> None:
        if self.label is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.label is not None:
            name, value = self.label
            self.questions[name][1].append((value, " ".join("".join(self.text).split())))
            self.label = None


def by_value(value: str) -> tuple[int, str]:
    # Shorter first, then alphabetical: numeric ids sort as numbers, tokens as text.
    return len(value), value


Strategy = Callable[[list[Option], int], list[Option]]
STRATEGIES: dict[str, Strategy] = {
    "lowest value": lambda options, k: sorted(options, key=lambda o: by_value(o[0]))[:k],
    "first in markup": lambda options, k: options[:k],
    "last in markup": lambda options, k: options[-k:],
    "longest text": lambda options, k: sorted(options, key=lambda o: -len(o[1]))[:k],
}


def guesses(kind: str, options: list[Option]) -> int:
    """How many options a test-wise student ticks without reading: one, or about half."""
    return 1 if kind == "radio" else (len(options) + 1) // 2


def chance_of(attempt: Attempt) -> float:
    """The accuracy blind guessing of that many options expects on these drawn questions."""
    odds = []
    for question in attempt.questions.prefetch_related("version__options"):
        options = question.version.options.all()
        correct = sum(o.correct for o in options)
        ticked = 1 if question.version.kind == "single" else (len(options) + 1) // 2
        odds.append(1 / math.comb(len(options), ticked) if ticked == correct else 0)
    return 100 * sum(odds) / len(odds)


def play(client: Client, quiz: Quiz, strategy: Strategy) -> tuple[int, float]:
    """One attempt through the pages, answered by `strategy`: its accuracy, and chance's."""
    # Confirmed: under "last attempt counts" a start that replaces a score asks first.
    started = client.post(reverse("quizzes:start", args=[quiz.slug]), {"replace": "confirmed"})
    attempt_url = started["Location"]
    reader = PaperReader()
    reader.feed(client.get(attempt_url).content.decode())
    assert len(reader.questions) == quiz.questions_per_attempt
    data: dict = {"action": "submit", "confirm": "1"}
    for name, (kind, options) in reader.questions.items():
        data[name] = [value for value, _ in strategy(options, guesses(kind, options))]
    submitted = client.post(attempt_url, data)
    assert submitted.status_code == 302 and "/result/" in submitted["Location"]
    attempt = Attempt.objects.get(pk=int(re.search(r"/attempts/(\d+)/", attempt_url)[1]))
    return attempt.accuracy, chance_of(attempt)


@pytest.fixture
def st2(module, monkeypatch) -> Quiz:
    """The shipped bank, with room for 20 attempts in a row, drawn from a fixed seed."""
    quiz = load_quiz(ST2)
    Quiz.objects.filter(pk=quiz.pk).update(
        max_attempts=ATTEMPTS_EACH, cooldown_hours=0, time_limit_minutes=None
    )
    seeded = random.Random(1406)
    monkeypatch.setattr(attempts, "draw_random", lambda: seeded)
    quiz.refresh_from_db()
    return quiz


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("name", "students"),
    [
        ("lowest value", 6),
        ("first in markup", 6),
        ("last in markup", 3),
        pytest.param(
            "longest text",
            3,
            # Not the markup: the bank's wording. The correct option is the longest in
            # 21 of its 54 single-choice questions, so this rule scores about 31%. It
            # passes once the authors even out the option lengths.
            marks=pytest.mark.xfail(strict=True, reason="the bank's correct options run long"),
        ),
    ],
)
def test_a_strategy_that_ignores_the_questions_scores_at_chance(st2, name, students):
    """Students with 20 attempts each score within 5 points of chance, under 35%."""
    strategy = STRATEGIES[name]
    played = []
    for n in range(students):
        client = client_for(make_user(f"guesser{n}", group=STUDENTS))
        played += [play(client, st2, strategy) for _ in range(ATTEMPTS_EACH)]
    average = sum(accuracy for accuracy, _ in played) / len(played)
    chance = sum(odds for _, odds in played) / len(played)
    print(f"\n{name}: {average:.1f}% over {len(played)} attempts (chance {chance:.1f}%)")
    assert average <= min(chance + CHANCE_MARGIN, CEILING), f"{name} beats chance"
