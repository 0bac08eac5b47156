"""The live attempt socket: autosave, the server's clock, takeover by a newer tab.

One socket per open page of an attempt, at /ws/quizzes/attempts/<id>/. The session
cookie authenticates it (asgi.py checks the Origin first); only the attempt's owner
gets in. Bad input never raises: it gets an error frame and the socket stays open.

Client to server (JSON text frames, at most 4096 characters, about 5 a second):
  {"type": "answer", "question": <position, 0-based>, "options": [<option value>, ...],
   "ref": <optional str or int, echoed>}      an empty list clears the answer; values are
                                              the page's random ones (quizzes.paper)
  {"type": "sync"}                            asks for a fresh "state"
Server to client:
  {"type": "state", "attempt", "number", "status", "answers": {"<position>": [values]},
   "answered", "total", "deadline": ISO or null, "remaining": seconds or null}
                                              on connect and on "sync"
  {"type": "saved", "question", "options", "answered", "total", "ref"?}
  {"type": "time", "remaining": seconds, "deadline": ISO}   every QUIZ_CLOCK_SECONDS
  {"type": "error", "code", "message", "question"?, "ref"?}  code: bad_frame, too_big,
                                              rate_limited, bad_answer, closed, server_error
  {"type": "taken_over", "message"}           then close 4409: another socket took over
  {"type": "finished", "status": "submitted" | "expired", "result_url", "message"}
                                              then close 4410
A socket that is not the owner's (or has no session) is refused at the handshake.

Answers are paced per attempt, not per socket (quizzes.pacing): every socket, tab and
form post of an attempt shares one allowance, so reconnecting adds nothing. Each socket
also caps its own frames of any kind at the same rate, before they reach the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeGuard

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from courseware.rowreads import read_row
from courseware.sockets import NoSweepDispatch
from quizzes import live, socketsaves
from quizzes.attempts import AttemptClosed, BadAnswer, RateLimited
from quizzes.models import Attempt, AttemptQuestion
from quizzes.paper import attempt_drawn, is_value, saved_values

log = logging.getLogger(__name__)

# Close codes the page acts on; it reconnects after any other close.
TAKEN_OVER = 4409
FINISHED = 4410

MAX_FRAME_CHARS = 4096
MAX_OPTIONS = 20
MAX_REF_CHARS = 64
# A token bucket per socket for frames of any kind: bursts of BURST, RATE a second after.
# Answers also draw on the attempt's own allowance (quizzes.pacing).
BURST, RATE = 20, 5.0
# The sockets' "answered" events for the mentors' view: at most one send a second per test
# and process, each attempt's newest (live.ProgressBatch).
PROGRESS_EVERY = 1.0


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_answer(content: dict) -> tuple[int, list[str]]:
    """The (position, option values) of an answer frame, or FrameError saying what is wrong."""
    position, options = content.get("question"), content.get("options")
    if not _is_int(position) or position < 0:
        raise FrameError("bad_frame", '"question" must be the question\'s position (0, 1, ...).')
    if not isinstance(options, list) or not all(is_value(o) for o in options):
        raise FrameError("bad_frame", '"options" must be a list of the page\'s option values.')
    if len(options) > MAX_OPTIONS:
        raise FrameError("bad_frame", f"At most {MAX_OPTIONS} options.")
    return position, options


def _fetch(attempt_id: int, user: User) -> Attempt | None:
    """The user's attempt with its quiz (the async side reads them and may not query)."""
    found = read_row(
        Attempt, "quiz", where="t0.id = %s AND t0.user_id = %s", params=[attempt_id, user.pk]
    )
    if found is None:
        return None
    attempt = found[0]
    attempt.user = user
    return attempt


Drawn = Mapping[int, AttemptQuestion]


def _load(attempt_id: int, user: User) -> tuple[Attempt | None, list, Drawn]:
    """The user's attempt (None if it is not theirs), what to announce, its questions.

    Two queries, in one trip to the database thread: a cohort connects at once. Only an
    attempt past its deadline is graded here (then more queries); the student has no
    other open attempt of the test, and the sweeper grades everyone else's.
    """
    found = _fetch(attempt_id, user)
    if found is None:
        return None, [], {}
    sends: list = []
    if found.is_overdue(timezone.now()):
        found, sends = _finish_state(found)
    return found, sends, ({} if found.is_finished else attempt_drawn(found))


def _ref(content: Any) -> str | int | None:
    """The client's own id for a frame, echoed in the reply (bounded)."""
    ref = content.get("ref") if isinstance(content, dict) else None
    if isinstance(ref, str):
        return ref[:MAX_REF_CHARS]
    if _is_int(ref):
        return ref
    return None


def _finish_state(attempt: Attempt) -> tuple[Attempt, list]:
    sends = live.expire_overdue(quiz=attempt.quiz, user=attempt.user)
    fresh = _fetch(attempt.pk, attempt.user)
    assert fresh is not None
    return fresh, sends


class AttemptConsumer(NoSweepDispatch, AsyncJsonWebsocketConsumer):
    """Thin: parses frames, calls quizzes.attempts, and relays the attempt's group events."""

    attempt: Attempt | None = None
    drawn: Drawn = MappingProxyType({})  # the attempt's questions by position, read on connect
    group: str | None = None
    clock: asyncio.Task | None = None
    closing = False
    answered = 0
    progress: live.ProgressBatch | None = None  # "answered" events, from connect on

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        attempt_id = int(self.scope["url_route"]["kwargs"]["attempt_id"])
        attempt, sends, drawn = await database_sync_to_async(_load)(attempt_id, user)
        if attempt is None:
            await self.close()
            return
        await live.publish(sends)
        self.attempt, self.drawn = attempt, drawn
        self.tokens, self.refilled = float(BURST), time.monotonic()
        self.progress = live.progress_batch(PROGRESS_EVERY)
        await self.accept()
        if attempt.is_finished:
            await self.finish(attempt.status, live.result_url(attempt))
            return
        self.group = live.attempt_group(attempt.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # Older sockets of this attempt (another tab or device) step aside.
        await self.channel_layer.group_send(
            self.group, {"type": "attempt.takeover", "channel": self.channel_name}
        )
        await self.send_state(saved_values(drawn))
        await live.publish([(live.progress_group(attempt.quiz_id), self._progress("online"))])
        self.clock = asyncio.create_task(self.run_clock())

    async def disconnect(self, code: int) -> None:
        left_open = not self.closing and self.attempt is not None and self.group is not None
        await self.cleanup()
        if left_open and self.attempt is not None:
            await live.publish(
                [(live.progress_group(self.attempt.quiz_id), self._progress("offline"))]
            )

    async def cleanup(self) -> None:
        """Leave the group and stop the clock; runs on every way out (channels#1209)."""
        if self.clock is not None and self.clock is not asyncio.current_task():
            self.clock.cancel()
        if self.progress is not None and self.attempt is not None:
            # Its waiting "answered" goes before "offline", so the view ends on the truth.
            group = live.progress_group(self.attempt.quiz_id)
            await self.progress.send_now(group, self.attempt.pk)
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def shut(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        await self.cleanup()
        await self.close(code)

    async def finish(self, status: str, result_url: str) -> None:
        if self.closing:
            return
        message = (
            "Time is up: the answers saved before the deadline were graded."
            if status == Attempt.Status.EXPIRED
            else "This attempt was submitted."
        )
        await self.send_json(
            {"type": "finished", "status": status, "result_url": result_url, "message": message}
        )
        await self.shut(FINISHED)

    def _progress(self, event: str) -> dict:
        assert self.attempt is not None
        return live.progress_event(self.attempt, event, answered=self.answered)

    async def error(self, code: str, message: str, content: Any = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if _ref(content) is not None:
            frame["ref"] = _ref(content)
        if isinstance(content, dict) and _is_int(content.get("question")):
            frame["question"] = content["question"]
        await self.send_json(frame)

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.refilled) * RATE)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.attempt is None:
            return
        content = None
        try:
            if text_data is None:
                raise FrameError("bad_frame", "Send JSON as text frames.")
            if len(text_data) > MAX_FRAME_CHARS:
                raise FrameError("too_big", f"Frames are at most {MAX_FRAME_CHARS} characters.")
            if not self._take_token():
                raise FrameError("rate_limited", "Too many frames; slow down.")
            try:
                content = json.loads(text_data)
            except ValueError:
                raise FrameError("bad_frame", "The frame is not valid JSON.") from None
            if not isinstance(content, dict):
                raise FrameError("bad_frame", "Send a JSON object with a type.")
            await self.receive_json(content)
        except FrameError as exc:
            await self.error(exc.code, str(exc), content)
        except Exception:
            log.exception("attempt socket %s failed on a frame", self.attempt.pk)
            await self.error("server_error", "The server could not handle that frame.", content)

    async def receive_json(self, content: dict, **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "answer":
            await self.save_answer(content)
        elif kind == "sync":
            await self.send_state()
        else:
            raise FrameError("bad_frame", 'Unknown type: use "answer" or "sync".')

    async def save_answer(self, content: dict) -> None:
        assert self.attempt is not None  # connect closes the socket when it finds no attempt
        position, options = parse_answer(content)
        try:
            saved = await socketsaves.save(
                socketsaves.Pending(self.attempt, self.drawn, position, options)
            )
        except BadAnswer as exc:
            raise FrameError("bad_answer", str(exc)) from None
        except RateLimited as exc:
            # The attempt's allowance, shared with its other sockets and form posts.
            raise FrameError("rate_limited", str(exc)) from None
        except AttemptClosed as exc:
            # Submitted meanwhile (another tab's form), or its time just ran out.
            await self.error("closed", str(exc), content)
            await self.end_if_finished()
            return
        if saved.chosen is None:
            await self.error("closed", "Time is up: answers can no longer be changed.", content)
            await live.publish(saved.sends)
            await self.end_if_finished()
            return
        self.answered = saved.answered
        reply = {
            "type": "saved",
            "question": position,
            "options": saved.chosen,
            "answered": saved.answered,
            "total": self.attempt.question_count,
        }
        if _ref(content) is not None:
            reply["ref"] = _ref(content)
        await self.send_json(reply)
        assert self.progress is not None  # set on connect, with the attempt
        await self.progress.add(saved.sends)

    async def send_state(self, answers: dict[str, list[str]] | None = None) -> None:
        """The attempt's state; `answers` as connect read them, or read again now."""
        assert self.attempt is not None
        if answers is None:
            self.drawn = await database_sync_to_async(attempt_drawn)(self.attempt)
            answers = saved_values(self.drawn)
        self.answered = len(answers)
        await self.send_json(
            {
                "type": "state",
                "attempt": self.attempt.pk,
                "number": self.attempt.number,
                "status": self.attempt.status,
                "answers": answers,
                "answered": self.answered,
                "total": self.attempt.question_count,
                "deadline": live.iso(self.attempt.deadline),
                "remaining": live.remaining(self.attempt.deadline),
            }
        )

    async def end_if_finished(self) -> None:
        """Grade the attempt if its time ran out, and close this socket if it is over."""
        assert self.attempt is not None
        attempt, sends = await database_sync_to_async(_finish_state)(self.attempt)
        await live.publish(sends)
        if attempt.is_finished:
            await self.finish(attempt.status, live.result_url(attempt))
        else:
            self.attempt = attempt  # its stored deadline may have moved (quizzes.overrides)

    async def run_clock(self) -> None:
        """Push the remaining time (server clock) every few seconds; grade at the deadline."""
        assert self.attempt is not None
        deadline = self.attempt.deadline
        if deadline is None:
            return
        try:
            while not self.closing:
                remaining = live.remaining(deadline)
                if remaining:
                    await self.send_json(
                        {"type": "time", "remaining": remaining, "deadline": live.iso(deadline)}
                    )
                    await asyncio.sleep(min(settings.QUIZ_CLOCK_SECONDS, remaining))
                    continue
                await self.end_if_finished()
                # Still open at its deadline: a mentor granted more time; count to the new one.
                deadline = self.attempt.deadline or deadline
                await asyncio.sleep(1)  # a few milliseconds early; look again
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the clock of attempt %s failed", self.attempt.pk)

    # Channel-layer events of the attempt's group.

    async def attempt_takeover(self, event: dict) -> None:
        if event.get("channel") == self.channel_name or self.closing:
            return
        await self.send_json(
            {
                "type": "taken_over",
                "message": "This attempt was opened in another tab or on another device; "
                "answers are saved there now.",
            }
        )
        await self.shut(TAKEN_OVER)

    async def attempt_finished(self, event: dict) -> None:
        await self.finish(str(event.get("status")), str(event.get("result_url")))
