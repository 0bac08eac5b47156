"""Students check their own Fun Chat client before they submit it.

Each student gets one private chat room, `/rooms/self-<32 hex digits>`. The hex digits are
an HMAC of the student's account id, keyed with SECRET_KEY, so nobody else can guess the
name and reach the room. The student points their client at that room and runs the same
automatic check a grader runs (grader.checkrun) from the self-check page. The report is
saved for them and flagged `self_check`: they and their mentors can read it, but it never
counts as a grade.

The page's socket works out the room from the session and never accepts one from the
page. It passes on only the run's commands, with the student as the report's owner. It
sends back only the run's state (prompts, verdicts), never frames, presence or the
checker bot's controls. A student cannot watch or disturb any other room.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils.crypto import salted_hmac

from chat.rooms import ROOM_PREFIX, ROOMS_PATH
from grader.agent import CommandError, console_group
from grader.commands import clean_command
from grader.console import ConsoleConsumer, over_layer

NOT_LOGGED_IN = 4401  # application close codes
NO_ROOMS = 4503  # the chat server has no rooms (CHAT_ROOMS off)
ALLOWED = frozenset({"watch", "run.start", "run.answer", "run.skip", "run.stop"})


def room_name(user: AbstractBaseUser) -> str:
    """The name of the student's private room: stable, and unguessable without SECRET_KEY."""
    digest = salted_hmac("grader.selfcheck.room", str(user.pk)).hexdigest()
    return f"self-{digest[:32]}"


def room_key(user: AbstractBaseUser) -> str:
    """The room's key (chat.rooms), as the grader's agents and groups name it."""
    return ROOM_PREFIX + room_name(user)


def client_url(user: AbstractBaseUser, host: str = "localhost") -> str:
    """The address the student's client connects to for a self-check."""
    return f"ws://{host}:{settings.CHAT_PORT}{ROOMS_PATH}{room_name(user)}"


def run_only(data: Any) -> Any:
    """What a student may see of an agent's answer: a snapshot shrinks to its run state."""
    if isinstance(data, dict) and "frames" in data:
        return {"run": data.get("run")}
    return data


class SelfCheckConsumer(ConsoleConsumer):
    """The self-check page's socket: the run in the student's own room, and nothing else."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_LOGGED_IN)
            return
        if not settings.CHAT_ROOMS:
            await self.close(code=NO_ROOMS)
            return
        self.student_id = user.pk
        self.room = room_key(user)
        self.group = console_group(self.room)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        await self.accept()
        mode = "redis" if over_layer() else "local"
        await self.send_json({"kind": "hello", "mode": mode})
        await self.forward({"cmd": "watch"}, ref=0)

    max_command = 4096

    async def command_of(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict) or raw.get("cmd") not in ALLOWED:
            raise CommandError("a self-check only starts, answers, skips or stops its run")
        command = clean_command(raw)
        if command["cmd"] == "run.start":
            # The report is always the student's own, and always a self-check.
            command.update(student_id=self.student_id, grader_id=None, self_check=True)
        return command

    async def reply(self, ref: Any, reply: dict[str, Any]) -> None:
        if "data" in reply:
            reply = {**reply, "data": run_only(reply["data"])}
        await super().reply(ref, reply)

    async def console_events(self, event: dict[str, Any]) -> None:
        # Frames, presence and the console's bot stay with the graders' consoles.
        if "run" in event:
            await self.send_json({"kind": "events", "run": event["run"]})

    async def console_reply(self, event: dict[str, Any]) -> None:
        reply = {k: v for k, v in event.items() if k not in ("type", "ref")}
        await self.reply(event.get("ref"), reply)
