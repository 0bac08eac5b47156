"""The "[St2] WebSockets" question bank itself: it validates, loads and covers the module."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from quizzes.exporting import quiz_dump
from quizzes.loading import quiz_parse, quizzes_load
from quizzes.models import Quiz

BANK = Path("fixtures/quizzes/st2-websockets.yaml")

pytestmark = pytest.mark.skipif(
    not BANK.exists(), reason=f"{BANK} is not written yet (the question bank is issue 4 part 2)"
)


@pytest.fixture
def bank(module):
    return quiz_parse(BANK)


def test_the_bank_is_the_st2_websockets_test_of_its_module(bank):
    assert (bank.slug, bank.title, bank.module) == (
        "st2-websockets",
        "[St2] WebSockets",
        "st2-websockets",
    )


def test_the_bank_has_at_least_100_questions_and_18_per_objective(bank, module):
    """Issue 19: a pool this size keeps a 20-question draw from showing the whole bank."""
    assert len(bank.questions) >= 100
    per_objective = Counter(q.objective for q in bank.questions)
    for key in module.objectives.values_list("key", flat=True):
        assert per_objective[key] >= 18, f"objective {key!r} has {per_objective[key]} questions"


def test_the_bank_has_both_kinds_and_every_question_explains_and_cites(bank):
    assert {q.kind for q in bank.questions} == {"single", "multiple"}
    for question in bank.questions:
        assert question.explanation.strip(), question.key
        assert question.source.startswith(("https://", "/")), question.key


def test_the_bank_draws_fewer_questions_than_it_has(bank):
    # A pool barely larger than the draw lets a student see it all in a few attempts.
    assert bank.settings.questions_per_attempt * 2 <= len(bank.questions)


def test_the_bank_loads_and_round_trips(module, tmp_path):
    quizzes_load([BANK])
    quiz = Quiz.objects.get(slug="st2-websockets")
    assert quiz.active_questions().count() == len(quiz_parse(BANK).questions)
    dumped = tmp_path / "bank.yaml"
    dumped.write_text(quiz_dump(quiz))
    # `proof:` is validated but not stored, so the export is the file without it.
    no_proofs = {"questions": {"__all__": {"proof"}}}
    assert quiz_parse(dumped).model_dump(exclude=no_proofs) == quiz_parse(BANK).model_dump(
        exclude=no_proofs
    )
    assert str(quizzes_load([BANK])[0]) == "st2-websockets: test unchanged"
