"""Attempts drawn before a schema change keep working after the migration."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from quizzes.models import AttemptQuestion
from quizzes.paper import attempt_paper

BEFORE = [("quizzes", "0001_initial")]
AFTER = [("quizzes", "0002_attempt_values_and_allowance")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_db_after")
def test_attempts_drawn_before_option_values_get_them_and_keep_their_answers():
    """The migration gives old drawn questions distinct random values; answers stay ids."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    module = old.get_model("courseware", "Module").objects.create(
        slug="m", title="M", summary="s", overview="o", hours=1
    )
    objective = old.get_model("courseware", "Objective").objects.create(
        module=module, key="o", text="O", position=0
    )
    quiz = old.get_model("quizzes", "Quiz").objects.create(slug="q", title="Q", module=module)
    question = old.get_model("quizzes", "Question").objects.create(quiz=quiz, key="k")
    version = old.get_model("quizzes", "QuestionVersion").objects.create(
        question=question,
        number=1,
        kind="single",
        objective=objective,
        text="?",
        explanation="!",
        source="/",
    )
    options = [
        old.get_model("quizzes", "Option").objects.create(
            version=version, position=i, text=f"option {i}", correct=i == 0
        )
        for i in range(4)
    ]
    user = old.get_model("auth", "User").objects.create(username="early")
    now = timezone.now()
    attempt = old.get_model("quizzes", "Attempt").objects.create(
        quiz=quiz, user=user, number=1, started_at=now, question_count=1
    )
    order = [o.id for o in reversed(options)]
    drawn = old.get_model("quizzes", "AttemptQuestion").objects.create(
        attempt=attempt, version=version, position=0, option_order=order
    )
    old.get_model("quizzes", "Answer").objects.create(question=drawn, chosen=[options[0].id])

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    row = AttemptQuestion.objects.select_related("attempt").get(pk=drawn.pk)
    assert row.option_order == order and row.answer.chosen == [options[0].id]
    assert len(set(row.option_values)) == 4
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in row.option_values)
    (paper,) = attempt_paper(row.attempt)
    assert [o.value for o in paper.options] == row.option_values
    assert paper.chosen == {row.option_values[-1]}  # option 0 is shown last
