"""The grader console's WebSocket on the site: mentors and admins only, session-authenticated.

A console watches one chat room (`?world=shared`, the default, or `?world=room.<name>`; the
parameter keeps its old name). The page sends commands; this consumer checks them and passes
them to that room's agent (directly in one process, over the channel layer with REDIS_URL),
and forwards the agent's batches of frames and presence from the room's console group to
the page.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat.rooms import SHARED, parse_room
from courseware.mentoring import students_visible_to
from courseware.roles import is_mentor
from grader import commands
from grader.agent import CommandError, console_group, get_agent
from grader.commands import clean_command
from grader.control import control_channel

FORBIDDEN = 4403  # application close codes: not a mentor or admin
BAD_ROOM = 4400  # not a room key
MAX_COMMAND = 64 * 1024


def over_layer() -> bool:
    """With REDIS_URL the chat server may be another process: talk to it over Redis."""
    return bool(settings.REDIS_URL)


@database_sync_to_async
def may_grade(user: Any) -> bool:
    return user is not None and is_mentor(user)


@database_sync_to_async
def _may_check(grader: Any, pk: int) -> bool:
    """A report is saved for a student the grader may see: a mentor's own, any for staff."""
    return students_visible_to(grader).filter(pk=pk).exists()


class ConsoleConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await may_grade(user):
            await self.close(code=FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        room = parse_room((query.get("world") or [SHARED])[0])
        if room is None:
            await self.close(code=BAD_ROOM)
            return
        self.grader_id = user.pk
        self.room = room
        self.group = console_group(room)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        await self.accept()
        mode = "redis" if over_layer() else "local"
        await self.send_json({"kind": "hello", "mode": mode, "world": room})
        await self.forward({"cmd": "watch"}, ref=0)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        # The console's lease on the recorder runs out by itself.

    max_command = MAX_COMMAND

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        ref: Any = None
        try:
            if text_data is None or len(text_data) > self.max_command:
                limit = self.max_command // 1024
                raise CommandError(f"send commands as JSON text of at most {limit} KiB")
            try:
                raw = json.loads(text_data)
            except ValueError:
                raise CommandError("that was not JSON") from None
            ref = raw.get("ref") if isinstance(raw, dict) else None
            command = await self.command_of(raw)
        except CommandError as error:
            await self.reply(ref, {"ok": False, "error": str(error)})
            return
        await self.forward(command, ref)

    async def command_of(self, raw: Any) -> dict[str, Any]:
        """The command to forward, checked for this socket's user; or CommandError."""
        command = clean_command(raw)
        if command["cmd"] == "run.start":
            command["grader_id"] = self.grader_id  # never what the page claims
            command["self_check"] = False
            student = command["student_id"]
            if student is not None and not await _may_check(self.scope["user"], student):
                raise CommandError("no such student of yours")
        return command

    async def forward(self, command: dict[str, Any], ref: Any) -> None:
        """To the agent: a direct call in this process, else a message it answers later."""
        if not over_layer():
            try:
                reply = await commands.handle(get_agent(self.room), command)
            except CommandError as error:  # e.g. too many rooms open
                reply = {"ok": False, "error": str(error)}
            await self.reply(ref, reply)
            return
        message = {
            "type": "chat.control",
            "world": self.room,
            "command": command,
            "reply_to": self.channel_name,
            "ref": ref,
            "sent_at": time.time(),
        }
        try:
            await self.channel_layer.send(control_channel(self.room), message)
        except Exception:  # ChannelFull: nobody has been reading the control channel
            await self.reply(ref, {"ok": False, "error": "the chat server does not answer"})

    async def reply(self, ref: Any, reply: dict[str, Any]) -> None:
        await self.send_json({"kind": "reply", "ref": ref, **reply})

    async def send_json(self, data: dict[str, Any]) -> None:
        # ASCII escapes: a lone surrogate from a client cannot break the UTF-8 frame.
        await self.send(text_data=json.dumps(data))

    # -- channel layer events ---------------------------------------------------------------

    async def console_events(self, event: dict[str, Any]) -> None:
        await self.send_json({"kind": "events", **{k: v for k, v in event.items() if k != "type"}})

    async def console_reply(self, event: dict[str, Any]) -> None:
        await self.send_json({"kind": "reply", **{k: v for k, v in event.items() if k != "type"}})
