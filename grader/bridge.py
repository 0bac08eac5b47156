"""The console socket when the chat runs in `manage.py serve`'s child process, without Redis.

The in-memory channel layer cannot cross processes, and the console must see the chat of
the process that holds it. So the chat child serves the console socket itself, on a
private Unix socket (courseware.serving.chat_console), and the site relays to it: the page
keeps connecting to the site's own `/ws/chat/console/`. The relay passes the browser's
Cookie and Origin headers on, so the child checks the session and the origin exactly as
the site would; the site checks the role first, so an anonymous socket never reaches the
child. With REDIS_URL the console talks to the chat over the layer instead (grader.control).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import websockets
from channels.generic.websocket import AsyncWebsocketConsumer

from chat.rooms import SHARED, parse_room
from courseware import serving
from grader.console import (
    BAD_ROOM,
    FORBIDDEN,
    MAX_COMMAND,
    ConsoleConsumer,
    may_grade,
    over_layer,
)
from grader.selfcheck import NOT_LOGGED_IN, SelfCheckConsumer

UNAVAILABLE = 1013  # "try again later": the chat process is restarting
PASSED_ON = (b"cookie", b"origin")


class ConsoleBridge(AsyncWebsocketConsumer):
    """Relay a console page's socket to the chat process's console, frame for frame."""

    upstream: Any = None
    pump: asyncio.Task | None = None

    async def upstream_url(self) -> str | None:
        """Where the child serves this socket, or None after closing with the reason."""
        if not await may_grade(self.scope.get("user")):
            await self.close(code=FORBIDDEN)
            return None
        query = self.scope.get("query_string", b"").decode("latin-1")
        room = parse_room((parse_qs(query).get("world") or [SHARED])[0])
        if room is None:
            await self.close(code=BAD_ROOM)
            return None
        # Rebuilt from the checked room: nothing else of the page's query passes.
        return f"ws://chat-process/ws/chat/console/?{urlencode({'world': room})}"

    async def connect(self) -> None:
        url = await self.upstream_url()
        if url is None:
            return
        path = serving.chat_console()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.scope.get("headers", [])
            if name in PASSED_ON
        ]
        try:
            self.upstream = await websockets.unix_connect(
                path,
                url,
                additional_headers=headers,
                open_timeout=5,
                max_size=None,  # the child bounds what it sends; the page's side is checked
            )
        except websockets.InvalidStatus as refused:
            # 403: the child judged the session or origin as the site would have.
            forbidden = refused.response.status_code == 403
            await self.close(code=FORBIDDEN if forbidden else UNAVAILABLE)
            return
        except (OSError, TimeoutError, websockets.WebSocketException):
            await self.close(code=UNAVAILABLE)
            return
        await self.accept()
        self.pump = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        """Frames from the chat process to the page; its close code is passed on."""
        code = UNAVAILABLE
        try:
            async for message in self.upstream:
                if isinstance(message, str):
                    await self.send(text_data=message)
                else:
                    await self.send(bytes_data=message)
            code = self.upstream.close_code or 1000
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else UNAVAILABLE
        await self.close(code=code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = text_data if text_data is not None else bytes_data
        if data is None or len(data) > MAX_COMMAND * 4:
            return  # the child answers oversized commands; this bounds what is relayed
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.upstream.send(data)

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
        if self.upstream is not None:
            await self.upstream.close()


class SelfCheckBridge(ConsoleBridge):
    """Relay a student's self-check page to the chat process, which runs the check.

    The child's consumer decides everything from the session (the student's own room, what
    they may send); the site only keeps anonymous sockets from reaching it.
    """

    async def upstream_url(self) -> str | None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_LOGGED_IN)
            return None
        return "ws://chat-process/ws/chat/self-check/"


_local = ConsoleConsumer.as_asgi()
_bridged = ConsoleBridge.as_asgi()
_local_self_check = SelfCheckConsumer.as_asgi()
_bridged_self_check = SelfCheckBridge.as_asgi()


def _bridged_here() -> bool:
    """The chat runs in `serve`'s child and no layer crosses to it: relay to its socket."""
    return serving.chat_console() is not None and not over_layer()


async def console_application(scope: dict, receive: Any, send: Any) -> None:
    """The console here, or relayed to the chat child when it runs apart and Redis is off."""
    await (_bridged if _bridged_here() else _local)(scope, receive, send)


async def self_check_application(scope: dict, receive: Any, send: Any) -> None:
    """A student's self-check here, or relayed to the chat child, as for the console."""
    await (_bridged_self_check if _bridged_here() else _local_self_check)(scope, receive, send)


def chat_rooms(*, cookie: str, origin: str, timeout: float = 2.0) -> list[str]:
    """The rooms the chat process holds, asked over its console socket; [] if it is away.

    Synchronous, for the console page's view: it connects as the page's own browser would
    (same cookie and origin), so the child applies the same checks.
    """
    from websockets.sync.client import unix_connect

    path = serving.chat_console()
    if path is None:
        return []
    deadline = time.monotonic() + timeout
    try:
        with unix_connect(
            path,
            "ws://chat-process/ws/chat/console/",
            additional_headers={"Cookie": cookie, "Origin": origin},
            open_timeout=timeout,
        ) as socket:
            socket.send(json.dumps({"cmd": "rooms", "ref": "rooms"}))
            while True:
                left = deadline - time.monotonic()
                message = json.loads(socket.recv(timeout=max(left, 0.01)))
                if message.get("kind") == "reply" and message.get("ref") == "rooms":
                    found = message.get("data") if message.get("ok") else None
                    return [r for r in found or [] if isinstance(r, str)]
    except (OSError, TimeoutError, ValueError, websockets.WebSocketException):
        return []
