"""Live attempts over the channel layer: group names, events, and closing overdue attempts.

Two kinds of groups, both named from database ids, never from user input:

- ``quiz.attempt.<attempt id>``: every socket open on one attempt. A new socket sends
  ``attempt.takeover`` so older ones step aside; ``attempt.finished`` tells them the
  attempt was submitted or graded at its deadline.
- ``quiz.<quiz id>.progress``: ``quiz.progress`` events for the mentors' live view
  (started, answered, online/offline, submitted, expired). Only primitives travel, because
  the Redis layer serialises with msgpack.

Attempts past their deadline are graded by ``sweep_forever``, one asyncio task per
serving process (``start_sweeper``, called by `manage.py serve` when its server
starts), and by a check on every page load, answer and submit. The engine's
``attempts_expire_overdue`` locks each student's rows, so any number of processes may
sweep at once: exactly one of them grades a given attempt and announces it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from courseware import loop
from quizzes.attempts import attempts_expire_overdue
from quizzes.models import Attempt, AttemptQuestion, Quiz

log = logging.getLogger(__name__)

Event = dict[str, Any]


def attempt_group(attempt_id: int) -> str:
    return f"quiz.attempt.{int(attempt_id)}"


def progress_group(quiz_id: int) -> str:
    return f"quiz.{int(quiz_id)}.progress"


def result_url(attempt: Attempt) -> str:
    return reverse("quizzes:result", args=[attempt.quiz.slug, attempt.pk])


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def remaining(deadline: datetime | None) -> float | None:
    """Seconds left until `deadline` by the server's clock, to a tenth; None if none."""
    if deadline is None:
        return None
    return max(round((deadline - timezone.now()).total_seconds(), 1), 0.0)


def answered_count(attempt_id: int) -> int:
    """Questions with at least one option chosen (a cleared answer does not count)."""
    return AttemptQuestion.objects.filter(attempt_id=attempt_id).answered().count()


def progress_event(attempt: Attempt, event: str, *, answered: int | None = None) -> Event:
    """A ``quiz.progress`` event: the attempt's state now, all values primitives.

    ``event`` is started, online, answered, offline, submitted or expired; times are ISO
    8601 strings; score, max_score and accuracy stay None until the attempt is graded.
    Events are idempotent snapshots: a consumer keeps the latest per attempt.
    """
    if answered is None:
        answered = answered_count(attempt.pk)
    finished = attempt.is_finished
    return {
        "type": "quiz.progress",
        "event": event,
        "quiz": attempt.quiz_id,
        "attempt": attempt.pk,
        "user": attempt.user_id,
        "username": attempt.user.get_username(),
        "number": attempt.number,
        "status": attempt.status,
        "answered": answered,
        "total": attempt.question_count,
        "started_at": iso(attempt.started_at),
        "deadline": iso(attempt.deadline),
        "submitted_at": iso(attempt.submitted_at),
        "score": attempt.score if finished else None,
        "max_score": attempt.max_score if finished else None,
        "accuracy": attempt.accuracy if finished else None,
        "at": timezone.now().isoformat(),
    }


def finished_event(attempt: Attempt) -> Event:
    """The ``attempt.finished`` event for the sockets of a submitted or expired attempt."""
    return {"type": "attempt.finished", "status": attempt.status, "result_url": result_url(attempt)}


def announcements(attempt: Attempt, event: str, *, answered: int | None = None) -> list:
    """(group, event) pairs to send after an attempt changed; finished ones tell its sockets."""
    sends = [(progress_group(attempt.quiz_id), progress_event(attempt, event, answered=answered))]
    if attempt.is_finished:
        sends.append((attempt_group(attempt.pk), finished_event(attempt)))
    return sends


async def publish(sends: list) -> None:
    """Send events through the channel layer; a layer outage must not fail the request."""
    layer = get_channel_layer()
    if layer is None:
        return
    for group, event in sends:
        try:
            await layer.group_send(group, event)
        except Exception:
            log.exception("could not publish %s to %s", event.get("type"), group)


class ProgressBatch:
    """The sockets' "answered" snapshots, one group send per test and `every` seconds.

    One per serving loop (progress_batch()), shared by all its sockets: each event is
    the attempt's whole state (progress_event), so of one attempt's events waiting only
    the newest goes, and the mentors' view loses nothing. A cohort's sockets answering
    at once cost one channel-layer send per test a second, not one per socket (each send
    is two Redis round trips even for a test nobody watches). A lone waiting event goes
    as itself; several go as one ``quiz.progress.many`` with an ``events`` list. The
    first event after a quiet spell goes at once.
    """

    def __init__(self, every: float) -> None:
        self.every = every
        self.sent_at = -every
        self.due: dict[str, dict[int, Event]] = {}  # group -> attempt id -> newest event
        self.timer: asyncio.Task | None = None

    async def add(self, sends: list) -> None:
        for group, event in sends:
            if event.get("type") == "quiz.progress":
                self.due.setdefault(group, {})[event["attempt"]] = event
            else:
                await publish([(group, event)])
        wait = self.sent_at + self.every - time.monotonic()
        if self.timer is None and self.due:
            if wait <= 0:
                await self.flush()
            else:
                self.timer = asyncio.create_task(self._later(wait))

    async def _later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.timer = None
        await self.flush()

    async def flush(self) -> None:
        due, self.due = self.due, {}
        sends = [(group, batched(list(events.values()))) for group, events in due.items()]
        if sends:
            self.sent_at = time.monotonic()
            await publish(sends)

    async def send_now(self, group: str, attempt_id: int) -> None:
        """Publish this attempt's waiting event at once (its socket is closing)."""
        event = self.due.get(group, {}).pop(attempt_id, None)
        if event is not None:
            await publish([(group, event)])


def batched(events: list[Event]) -> Event:
    return events[0] if len(events) == 1 else {"type": "quiz.progress.many", "events": events}


def unbatched(event: Event) -> list[Event]:
    """The ``quiz.progress`` events in a group's message, batched or not."""
    return event["events"] if event.get("type") == "quiz.progress.many" else [event]


# One per event loop: a task belongs to the loop that made it (tests run several).
_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProgressBatch] = (
    weakref.WeakKeyDictionary()
)


def progress_batch(every: float) -> ProgressBatch:
    """The running loop's batch of "answered" events (made with `every` on first use)."""
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = ProgressBatch(every)
    return batch


def publish_sync(sends: list) -> None:
    """``publish`` for views and other synchronous code, after the transaction commits."""
    if sends:
        transaction.on_commit(lambda: loop.start(publish, sends))


def expire_overdue(
    *, quiz: Quiz | None = None, user: User | None = None, now: datetime | None = None
) -> list:
    """Grade overdue open attempts (all, or one student's); returns what to announce.

    Each one goes through the engine on its own, filtered to its student: one open
    attempt per student and test, so a count of 1 means this call graded it, and 0
    that another process or request got there first (and announced it).
    """
    now = now or timezone.now()
    overdue = Attempt.objects.overdue(now).select_related("quiz", "user")
    if quiz is not None:
        overdue = overdue.filter(quiz=quiz)
    if user is not None:
        overdue = overdue.filter(user=user)
    sends = []
    for attempt in overdue:
        if attempts_expire_overdue(quiz=attempt.quiz, user=attempt.user, now=now):
            attempt.refresh_from_db()
            sends += announcements(attempt, "expired")
    return sends


def expire_overdue_for(*, quiz: Quiz, user: User) -> None:
    """The check on access: grade this student's overdue attempt and announce it."""
    publish_sync(expire_overdue(quiz=quiz, user=user))


async def sweep_once(now: datetime | None = None) -> int:
    """Grade every overdue attempt and announce each; returns how many this call graded."""
    # Off the shared database thread: closing a whole cohort at the test's close time
    # may take a while, and that thread serves every consumer in the process.
    sends = await database_sync_to_async(expire_overdue, thread_sensitive=False)(now=now)
    await publish(sends)
    return sum(1 for _, event in sends if event["type"] == "quiz.progress")


async def sweep_forever(interval: float) -> None:
    while True:
        try:
            graded = await sweep_once()
            if graded:
                log.info("graded %d attempt(s) whose time ran out", graded)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweeping overdue quiz attempts failed; trying again later")
        await asyncio.sleep(interval)


_sweepers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def start_sweeper() -> None:
    """Start ``sweep_forever`` in the running event loop, once per loop.

    `manage.py serve` calls it when its server starts (serving.run's on_start), so a
    serving process grades overdue attempts with no browser and no request at all.
    QUIZ_SWEEP_SECONDS = 0 turns it off.
    """
    interval = settings.QUIZ_SWEEP_SECONDS
    loop = asyncio.get_running_loop()
    if interval > 0 and loop not in _sweepers:
        _sweepers[loop] = loop.create_task(sweep_forever(interval), name="quiz-sweeper")
