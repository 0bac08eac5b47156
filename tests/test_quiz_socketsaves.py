"""Socket answers saved together (quizzes.socketsaves): one transaction, each judged alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from courseware.roles import STUDENTS
from quizzes import socketsaves
from quizzes.attempts import AttemptClosed, BadAnswer, RateLimited, attempt_start, attempt_submit
from quizzes.models import Answer, Attempt
from quizzes.paper import attempt_drawn
from quizzes.socketsaves import Pending, Saved, save_all
from tests.conftest import make_user
from tests.quizkit import ST2, key_values, load_quiz, wrong_values
from tests.test_quiz_queries import queries_of

NO_REFILL = 1e-4  # writes a second: far too slow to refill within a test


def pending(attempt: Attempt, position: int, values: Sequence[str]) -> Pending:
    return Pending(attempt, attempt_drawn(attempt), position, list(values))


def stored(attempt: Attempt, position: int) -> list[int] | None:
    answer = Answer.objects.filter(question__attempt=attempt, question__position=position)
    return answer.values_list("chosen", flat=True).first()


@pytest.mark.django_db
def test_answers_saved_together_are_each_judged_alone_and_in_arrival_order(module, settings):
    """One batch holds four students' answers: each gets its own outcome, in order; a
    refused answer (a bad option, a submitted attempt, an allowance spent) refuses no
    other; of two answers to one question the later is stored and counted once; and the
    whole batch costs the queries of a single answer."""
    settings.QUIZ_ANSWER_BURST, settings.QUIZ_ANSWER_RATE = 5, NO_REFILL
    quiz = load_quiz(ST2)
    alice, bob, carol, dave = (make_user(n, group=STUDENTS) for n in ("al", "bo", "ca", "da"))
    a, b, c, d = (attempt_start(quiz=quiz, user=u) for u in (alice, bob, carol, dave))
    attempt_submit(attempt=c)
    a0, b1, d0 = (attempt_drawn(x)[p] for x, p in ((a, 0), (b, 1), (d, 0)))
    batch = [
        pending(a, 0, key_values(a0)),
        pending(b, 0, ["not-an-option"]),
        pending(c, 0, ["anything"]),
        pending(a, 0, wrong_values(a0)[:1]),
        pending(b, 1, key_values(b1)),
        pending(a, 99, []),
        # The allowance holds one write per question (20): the 21st is refused.
        *(pending(d, 0, key_values(d0)) for _ in range(21)),
    ]
    n, outcomes = queries_of(lambda: save_all(batch))
    assert n == (2 if connection.vendor == "postgresql" else 3)
    assert isinstance(outcomes, list)
    first, bad, closed, later, other, missing, *rest = outcomes
    assert first == Saved(key_values(a0), 1, first.sends)
    assert later == Saved(wrong_values(a0)[:1], 1, later.sends)
    assert other == Saved(key_values(b1), 1, other.sends)
    assert isinstance(bad, BadAnswer) and "no such option" in str(bad)
    assert isinstance(closed, AttemptClosed)
    assert isinstance(missing, BadAnswer) and "no question 100" in str(missing)
    assert all(isinstance(r, Saved) for r in rest[:20]) and isinstance(rest[20], RateLimited)
    assert stored(a, 0) == a0.ids_of(wrong_values(a0)[:1])
    assert (stored(b, 0), stored(b, 1)) == (None, sorted(b1.ids_of(key_values(b1)) or []))
    assert stored(c, 0) is None
    # Every answer that was judged took from its attempt's allowance, refused or not.
    allowances = dict(Attempt.objects.values_list("pk", "allowance"))
    assert (allowances[a.pk], allowances[b.pk]) == pytest.approx((17, 18), abs=0.01)
    assert allowances[d.pk] == pytest.approx(0, abs=0.01)
    assert allowances[c.pk] is None


@pytest.mark.django_db
def test_an_overdue_attempt_in_a_batch_is_graded_and_the_others_saved(module):
    """An answer that comes after its attempt's deadline grades that attempt (and is not
    stored); the batch's other answers are saved as if it were not there."""
    quiz = load_quiz(ST2)
    late, early = (attempt_start(quiz=quiz, user=make_user(n, group=STUDENTS)) for n in "le")
    now = timezone.now()
    Attempt.objects.filter(pk=late.pk).update(
        started_at=now - timedelta(minutes=10), deadline=now - timedelta(seconds=1)
    )
    late.refresh_from_db()
    q = attempt_drawn(early)[2]
    overdue, saved = save_all([pending(late, 0, []), pending(early, 2, key_values(q))])
    assert isinstance(overdue, Saved) and overdue.chosen is None and overdue.sends
    assert Attempt.objects.get(pk=late.pk).status == Attempt.Status.EXPIRED
    assert saved == Saved(key_values(q), 1, saved.sends)


async def test_answers_that_wait_for_the_database_thread_go_in_one_call(monkeypatch):
    """While one batch runs, the answers that arrive wait and then go together; each
    caller gets its own outcome, and a failure of the whole call reaches every one."""
    calls: list[list[int]] = []
    release = asyncio.Event()

    async def fake(batch: list[Pending]) -> list:
        calls.append([p.position for p in batch])
        if len(calls) == 1:
            await release.wait()
        if any(p.position == 13 for p in batch):
            raise OperationalError("the database went away")
        return [Saved([], p.position, []) if p.position != 7 else BadAnswer("no") for p in batch]

    monkeypatch.setattr(socketsaves, "_save_all_on_db_thread", fake)

    def item(position: int) -> Pending:
        return Pending(Attempt(pk=1), {}, position, [])

    first = asyncio.create_task(socketsaves.save(item(0)))
    await asyncio.sleep(0)  # the first batch is on its way
    waiting = [asyncio.create_task(socketsaves.save(item(p))) for p in (1, 7, 2)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(first, *waiting, return_exceptions=True)
    assert calls == [[0], [1, 7, 2]]
    assert [o.answered if isinstance(o, Saved) else type(o) for o in outcomes] == [
        0,
        1,
        BadAnswer,
        2,
    ]
    failed = await asyncio.gather(
        socketsaves.save(item(13)), socketsaves.save(item(3)), return_exceptions=True
    )
    assert [type(f) for f in failed] == [OperationalError, OperationalError]
