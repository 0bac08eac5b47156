"""Helpers for grader-console tests: the console and chat sockets, session cookies, reports."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from courseware.asgi import application
from grader.models import CheckReport

ORIGIN = (b"origin", b"http://localhost")


def cookie_for(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return (b"cookie", f"{name}={client.cookies[name].value}".encode())


def make_report(student, **fields) -> CheckReport:
    defaults = {
        "login": "ann<script>",
        "status": CheckReport.Status.FINISHED,
        "finished_at": timezone.now(),
        "items": [
            {
                "code": "7.3",
                "title": "An empty message cannot be sent",
                "points": 5,
                "status": "failed",
                "summary": "The client sent 1 empty message(s).",
                "details": [],
                "evidence": [
                    {
                        "seq": 7,
                        "t": 1_800_000_000.5,
                        "dir": "in",
                        "conn": 3,
                        "login": "ann",
                        "type": "MSG_SEND",
                        "text": json.dumps(
                            {
                                "id": "1",
                                "type": "MSG_SEND",
                                "payload": {"message": {"to": "b", "text": ""}},
                            }
                        ),
                        "info": {"text_len": 0},
                    }
                ],
            },
            {
                "code": "11.2",
                "title": "Logging in again",
                "points": 10,
                "status": "passed",
                "summary": "ok",
                "details": [],
                "evidence": [],
            },
            {
                "code": "8.2",
                "title": "Read status",
                "points": 10,
                "status": "not_observed",
                "summary": "-",
                "details": [],
                "evidence": [],
            },
        ],
    }
    return CheckReport.objects.create(student=student, **{**defaults, **fields})


class Console(WebsocketCommunicator):
    """The console page's socket, with the cookie of a logged-in user."""

    def __init__(self, *headers: tuple[bytes, bytes], world: str = "shared") -> None:
        path = f"/ws/chat/console/?world={world}"
        super().__init__(application, path, headers=list(headers))
        self.seen: list[dict[str, Any]] = []
        self.refs = iter(range(100, 10_000))

    async def next(self, timeout: float = 3) -> dict[str, Any]:
        message = json.loads(await self.receive_from(timeout=timeout))
        self.seen.append(message)
        return message

    async def command(self, cmd: str, **fields: Any) -> dict[str, Any]:
        ref = next(self.refs)
        await self.send_to(text_data=json.dumps({"cmd": cmd, "ref": ref, **fields}))
        return await self.until(lambda m: m["kind"] == "reply" and m["ref"] == ref)

    async def until(self, wanted, timeout: float = 5) -> dict[str, Any]:
        """The first message, already seen or still to come, that `wanted` accepts."""
        for message in self.seen:
            if wanted(message):
                return message

        async def wait() -> dict[str, Any]:
            while True:
                message = await self.next(timeout)
                if wanted(message):
                    return message

        return await asyncio.wait_for(wait(), timeout)

    def frames(self) -> list[dict[str, Any]]:
        """Every frame seen so far, from live batches and from snapshots."""
        found: list[dict[str, Any]] = []
        for message in self.seen:
            found += message.get("frames") or []
            data = message.get("data")
            if isinstance(data, dict):
                found += data.get("frames") or []
        return found


class ChatClient(WebsocketCommunicator):
    """A student's client on the chat port."""

    def __init__(self, path: str = "/") -> None:
        super().__init__(application, path)
        self.scope["server"] = ("127.0.0.1", settings.CHAT_PORT)

    async def request(self, kind: str, payload: Any, rid: str = "r") -> None:
        await self.send_to(text_data=json.dumps({"id": rid, "type": kind, "payload": payload}))

    async def frame(self) -> dict[str, Any]:
        return json.loads(await self.receive_from(timeout=3))

    async def login(self, login: str) -> dict[str, Any]:
        await self.request("USER_LOGIN", {"user": {"login": login, "password": "s3cret"}})
        return await self.frame()


async def refused(console: Console) -> tuple[bool, Any]:
    """Connect, then let the refused consumer finish (it may hold a Redis receive)."""
    result = await console.connect()
    await console.disconnect()
    return result


async def open_console(*headers: tuple[bytes, bytes], world: str = "shared") -> Console:
    console = Console(*headers, world=world)
    connected, _ = await console.connect()
    assert connected
    assert (await console.next())["kind"] == "hello"
    snapshot = await console.until(lambda m: m["kind"] == "reply" and m["ref"] == 0)
    assert snapshot["ok"], snapshot
    return console
