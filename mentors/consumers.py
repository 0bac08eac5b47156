"""The mentors' live view socket: attempts in progress of the students they may see.

Session-authenticated and Origin-checked by the site's ASGI stack (courseware.asgi).
On connect it joins every test's progress group (quizzes.live.progress_group), then
sends a snapshot read from the database, then forwards each ``quiz.progress`` event
(one frame each, also when several came in one message) whose student the viewer may
see. Students and strangers are refused at the handshake. The set of visible students
is fixed for the life of the socket: a mentorship added later shows after the page
reconnects (or reloads).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from courseware.mentoring import students_visible_to
from courseware.roles import is_mentor
from courseware.sockets import NoSweepDispatch
from mentors.data import live_attempts
from quizzes.live import progress_group, unbatched
from quizzes.models import Quiz

FORBIDDEN = 4403  # an application close code: not a mentor or admin


@database_sync_to_async
def _allowed(user: Any) -> bool:
    return user is not None and is_mentor(user)


@database_sync_to_async
def _scope_of(user: Any) -> tuple[frozenset[int], list[str]]:
    visible = frozenset(students_visible_to(user).values_list("pk", flat=True))
    groups = [progress_group(pk) for pk in Quiz.objects.values_list("pk", flat=True)]
    return visible, groups


@database_sync_to_async
def _snapshot(user: Any) -> list[dict]:
    return [row.as_event() for row in live_attempts(students=students_visible_to(user))]


class MentorLiveConsumer(NoSweepDispatch, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await _allowed(user):
            await self.close(code=FORBIDDEN)
            return
        self.visible, self.groups = await _scope_of(user)
        # Join before reading the snapshot, so no event falls between the two; an
        # event older than the snapshot is recognised by its "at" in the page.
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        at = timezone.now().isoformat()
        attempts = await _snapshot(user)
        await self.accept()
        await self.send_json({"type": "snapshot", "at": at, "attempts": attempts})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None  # not JSON: ignored, the socket stays open

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The page may ask for a fresh snapshot (after it was hidden a while, say).
        if isinstance(content, dict) and content.get("type") == "refresh":
            at = timezone.now().isoformat()
            attempts = await _snapshot(self.scope["user"])
            await self.send_json({"type": "snapshot", "at": at, "attempts": attempts})

    async def quiz_progress(self, event: dict) -> None:
        """A progress event from quizzes.live: forwarded only for a visible student."""
        if event.get("user") not in self.visible:
            return
        await self.send_json({**event, "type": "progress"})

    async def quiz_progress_many(self, event: dict) -> None:
        """Several attempts' "answered" events in one message (quizzes.live.ProgressBatch)."""
        for each in unbatched(event):
            await self.quiz_progress(each)
