"""Chat rooms: the one shared room, and named rooms for graders sharing a server.

A room is the chat state of one audience: its users, messages and sockets, invisible to
every other room. Every plain path reaches the shared room, as with the reference server.
With CHAT_ROOMS on, `/rooms/<name>` (letters, digits, `-` and `_`, case-insensitive)
reaches a named room. A room's key is `shared` or `room.<name in lower case>`; it is
validated before it names any channel, group or Redis key.

Without REDIS_URL every room lives in this process. With it (chat.cluster), each room has
one owner process holding its ChatRoom; the others forward to it (chat.cluster.seat_for).

API for the grader console: `list_rooms()` (this process's rooms), `get_hub(room)` (the
hub of a room held here), `room_label(room)`, `parse_room(text)`; with the cluster,
`chat.cluster.cluster_rooms()` lists the rooms any process owns.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chat import hub as hub_module
from chat.hub import Hub

SHARED = "shared"
ROOM_PREFIX = "room."
ROOMS_PATH = "/rooms/"
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
BAD_ROOM = 4400  # close codes of ours (4000-4999 are the application's)
ROOMS_FULL = 4429
BAD_ROOM_REASON = "room names are 1 to 40 letters, digits, - or _"


class RoomRefused(Exception):
    """A connection that cannot get a room; `code` and `reason` go in its close frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def room_of_path(path: str) -> str:
    """The room a socket's path selects; RoomRefused for a malformed room name."""
    if not settings.CHAT_ROOMS or not path.startswith(ROOMS_PATH):
        return SHARED
    # Anything after the name is ignored, as the reference ignores the whole path.
    name = path[len(ROOMS_PATH) :].split("/", 1)[0]
    if not ROOM_NAME.fullmatch(name):
        raise RoomRefused(BAD_ROOM, BAD_ROOM_REASON)
    return ROOM_PREFIX + name.lower()


def parse_room(text: Any) -> str | None:
    """A room key from untrusted input (a console's choice), or None if it is not one."""
    if text == SHARED:
        return SHARED
    if isinstance(text, str) and text.startswith(ROOM_PREFIX):
        name = text[len(ROOM_PREFIX) :]
        if ROOM_NAME.fullmatch(name) and name == name.lower():
            return text
    return None


def room_label(room: str) -> str:
    """How people see a room: its path."""
    return "/" if room == SHARED else ROOMS_PATH + room[len(ROOM_PREFIX) :]


@dataclass(frozen=True)
class RoomInfo:
    key: str
    label: str
    connections: int
    online: int


# -- the rooms held in this process ------------------------------------------------------------

_rooms: dict[str, Hub] = {}
_last_busy: dict[str, float] = {}  # monotonic: when a room last had a connection
_reaper: asyncio.Task | None = None


def get_hub(room: str = SHARED) -> Hub:
    """The hub of `room` in this process, made on first use (up to CHAT_MAX_ROOMS named ones)."""
    if room == SHARED:
        return hub_module.get_hub()
    hub = _rooms.get(room)
    if hub is None:
        if len(_rooms) >= settings.CHAT_MAX_ROOMS:
            reap()
            if len(_rooms) >= settings.CHAT_MAX_ROOMS:
                raise RoomRefused(ROOMS_FULL, "too many rooms are open; try again later")
        hub = _rooms[room] = hub_module.new_hub()
        _start_reaper()
    _last_busy[room] = time.monotonic()
    return hub


def forget(room: str) -> None:
    """Drop a room held here: a later get_hub starts it empty, as a restart would."""
    if room == SHARED:
        hub_module.reset_hub()
    else:
        _rooms.pop(room, None)
        _last_busy.pop(room, None)


def list_rooms() -> list[RoomInfo]:
    """The rooms this process holds, the shared one first, then by name."""
    found = [(SHARED, hub_module._hub), *sorted(_rooms.items())]
    return [
        RoomInfo(
            key=key,
            label=room_label(key),
            connections=len(hub.room.state.conns),
            online=sum(1 for user in hub.room.state.conns.values() if user is not None),
        )
        for key, hub in found
        if hub is not None
    ]


def reap(now: float | None = None) -> list[str]:
    """Forget rooms with no connection for CHAT_ROOM_IDLE_SECONDS; returns their keys."""
    now = time.monotonic() if now is None else now
    idle = settings.CHAT_ROOM_IDLE_SECONDS
    gone = []
    for room, hub in list(_rooms.items()):
        if hub.outboxes:
            _last_busy[room] = now
        elif now - _last_busy.get(room, now) >= idle:
            gone.append(room)
    for room in gone:
        forget(room)
        for listener in on_forget:
            listener(room)
    return gone


on_forget: list[Any] = []  # chat.cluster releases the lease of a room it forgot


def _start_reaper() -> None:
    global _reaper
    if _reaper is None or _reaper.done():
        try:
            _reaper = asyncio.get_running_loop().create_task(_reap_forever())
        except RuntimeError:  # no loop (a synchronous caller): reaped on a later lookup
            _reaper = None


async def _reap_forever() -> None:
    period = max(1.0, min(60.0, settings.CHAT_ROOM_IDLE_SECONDS / 10))
    while _rooms:
        await asyncio.sleep(period)
        reap()


def reset() -> None:
    """Forget every room (tests; a restart does the same)."""
    global _reaper
    hub_module.reset_hub()
    _rooms.clear()
    _last_busy.clear()
    if _reaper is not None:
        _reaper.cancel()
        _reaper = None
