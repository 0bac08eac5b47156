"""Answers from attempt sockets, saved together: one transaction for all that wait.

A process saves its sockets' answers on its one database thread. One at a time, each
answer took a thread hop and four round trips (BEGIN, the lock, the write, COMMIT), and
under a cohort the thread fell behind the students' clicks (BENCHMARKS.md). Here the
answers that arrive while a batch runs make up the next one, and share its hop and its
round trips: one query locks every attempt in the batch (in id order, so two batches
that share attempts cannot deadlock) and reads their answers, one statement writes.
Each answer is still judged alone and in arrival order (its attempt still open, its
allowance, its options), so one refused answer refuses no other and, of two tabs'
answers to one question, the later wins. With nothing waiting a batch is one answer.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.db import DatabaseError, transaction
from django.utils import timezone

from quizzes import live
from quizzes.attemptrows import (
    AttemptError,
    answer_to,
    check_open,
    locked_answers,
    spend_allowance,
    store_answers,
)
from quizzes.models import Answer, Attempt, AttemptQuestion

# Answers per transaction at most: a batch holds its attempts' row locks until it ends.
BATCH = 100


@dataclass(frozen=True)
class Pending:
    """One answer from a socket: the page's values for the question at `position`."""

    attempt: Attempt
    drawn: Mapping[int, AttemptQuestion]  # the attempt's questions by position
    position: int
    options: list[str]


@dataclass(frozen=True)
class Saved:
    chosen: list[str] | None  # None: the deadline had passed, the attempt was graded here
    answered: int  # the attempt's questions with an option chosen, after this answer
    sends: list  # what to announce (quizzes.live)


Outcome = Saved | Exception


def save_all(batch: Sequence[Pending]) -> list[Outcome]:
    """Save each answer of `batch`; its outcome, or the error that refused it, in order."""
    outcomes: dict[int, Outcome] = {}
    now = timezone.now()
    for i, item in enumerate(batch):
        if item.attempt.is_overdue(now):
            # Graded here with what was saved before; if someone else just graded it,
            # the save below refuses the answer as closed.
            sends = live.expire_overdue(quiz=item.attempt.quiz, user=item.attempt.user)
            if sends:
                outcomes[i] = Saved(None, 0, sends)
    rest = [i for i in range(len(batch)) if i not in outcomes]
    try:
        outcomes.update(zip(rest, _together([batch[i] for i in rest]), strict=True))
    except DatabaseError:
        if len(rest) == 1:
            raise
        for i in rest:  # so that a failure is its own answer's alone
            try:
                outcomes[i] = _together([batch[i]])[0]
            except DatabaseError as exc:
                outcomes[i] = exc
    return [outcomes[i] for i in range(len(batch))]


def _together(batch: Sequence[Pending]) -> list[Outcome]:
    """One transaction: lock and read (one query), judge each answer, write (one)."""
    if not batch:
        return []
    outcomes: list[Outcome] = []
    written: dict[int, Answer] = {}  # by question id: of two answers to one, the later
    with transaction.atomic():
        questions = [p.drawn.get(p.position) for p in batch]
        pairs = [(p.attempt, q.pk if q else 0) for p, q in zip(batch, questions, strict=True)]
        locked, answered, stored = locked_answers(pairs)
        moment = timezone.now()  # once the locks are held
        spent: dict[int, Attempt] = {}
        for item, question in zip(batch, questions, strict=True):
            attempt = locked[item.attempt.pk]
            try:
                check_open(attempt)
                spend_allowance(attempt, moment, writes=1)
                spent[attempt.pk] = attempt
                answer = answer_to(attempt, item.position, question, item.options, values=True)
            except AttemptError as exc:
                outcomes.append(exc)
                continue
            pk, qid = attempt.pk, answer.question_id
            answered[pk] += bool(answer.chosen) - bool(stored.get(qid))
            stored[qid], written[qid] = answer.chosen, answer
            sends = live.announcements(attempt, "answered", answered=answered[pk])
            outcomes.append(Saved(answer.question.values_of(answer.chosen), answered[pk], sends))
        store_answers(spent.values(), written.values(), moment)
    return outcomes


_save_all_on_db_thread = database_sync_to_async(save_all)


class Batcher:
    """Gathers the answers waiting for the database thread into one call of save_all."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Pending, asyncio.Future]] = []
        self.draining: asyncio.Task | None = None

    async def save(self, item: Pending) -> Saved:
        """Save one answer; raises what refused it (AttemptError, a database error)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if self.draining is None:
            self.draining = asyncio.create_task(self._drain())
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:BATCH], self.waiting[BATCH:]
                try:
                    outcomes: list[Outcome] = await _save_all_on_db_thread(
                        [item for item, _ in batch]
                    )
                except Exception as exc:  # every answer of the batch hears of it
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # its socket may have closed meanwhile
                        future.set_result(outcome)
        finally:
            self.draining = None


# One per event loop: a future belongs to the loop that made it (tests run several).
_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batcher] = (
    weakref.WeakKeyDictionary()
)


async def save(item: Pending) -> Saved:
    """Save one socket answer with whatever else waits; raises what refused it."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = Batcher()
    return await batcher.save(item)
