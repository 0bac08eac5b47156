"""A longer time limit granted during an attempt reaches the student's open socket."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from quizzes.attempts import attempt_start
from quizzes.models import Attempt, Override
from quizzes.overrides import override_grant
from tests.quizkit import opened, session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_db_after", "own_layer"),
]
db = database_sync_to_async


def started_with_a_minute_limit(quiz, student) -> Attempt:
    """An attempt of a one-minute test whose minute ends 1.5 s from now."""
    quiz.time_limit_minutes = 1
    quiz.save(update_fields=["time_limit_minutes"])
    attempt = attempt_start(quiz=quiz, user=student)
    now = timezone.now()
    Attempt.objects.filter(pk=attempt.pk).update(
        started_at=now - timedelta(seconds=58.5), deadline=now + timedelta(seconds=1.5)
    )
    attempt.refresh_from_db()
    return attempt


async def test_the_socket_clock_follows_a_deadline_moved_by_a_grant_and_does_not_end_it(
    quiz,
    student,
    mentor,
):
    """The socket counted towards the old deadline; once it passes, the clock reads the
    stored one (30 minutes from the start) and keeps the attempt open instead of ending it."""
    attempt = await db(started_with_a_minute_limit)(quiz, student)
    socket, state = await opened(attempt.pk, await db(session_cookie)(student))
    assert 0 < state["remaining"] <= 1.5
    grant = Override(quiz=quiz, user=student, time_limit_minutes=30, reason="Needs more time")
    await db(override_grant)(override=grant, granted_by=mentor)

    frames = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 4
    while loop.time() < end:
        frames.append(await socket.receive_json_from(timeout=3))
        if frames[-1]["type"] == "time" and frames[-1]["remaining"] > 60:
            break
    assert all(f["type"] != "finished" for f in frames), frames
    assert frames[-1]["type"] == "time" and 25 * 60 < frames[-1]["remaining"] <= 30 * 60
    await socket.disconnect()
    fresh = await db(Attempt.objects.get)(pk=attempt.pk)
    assert fresh.status == Attempt.Status.OPEN
