"""Chat worlds: the one shared world, and isolated rooms for graders sharing a server.

Every plain path reaches the shared world, as with the reference server. With CHAT_ROOMS on,
`/rooms/<name>` (letters, digits, `-` and `_`, case-insensitive) reaches a world of its own:
its users, messages and sockets are invisible to every other world. A world's key is
`shared` or `room.<name in lower case>`; it is validated before it names any channel,
group or Redis key.

Without REDIS_URL every world lives in this process. With it (chat.cluster), each world has
one owner process holding its ChatWorld; the others forward to it. `seat_for` hides which:
it returns something with the Hub's connection methods (admit, open, receive, close).

API for the grader console: `list_worlds()` (this process's worlds), `get_hub(world)`
(the hub of a world held here), `world_label(world)`, `parse_world(text)`; with the
cluster, `chat.cluster.cluster_worlds()` lists the worlds any process owns.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from chat import hub as hub_module
from chat.hub import Hub

if TYPE_CHECKING:
    from chat.cluster import Proxy

SHARED = "shared"
ROOM_PREFIX = "room."
ROOMS_PATH = "/rooms/"
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
BAD_ROOM = 4400  # close codes of ours (4000-4999 are the application's)
ROOMS_FULL = 4429
BAD_ROOM_REASON = "room names are 1 to 40 letters, digits, - or _"


class WorldRefused(Exception):
    """A connection that cannot get a world; `code` and `reason` go in its close frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def world_of_path(path: str) -> str:
    """The world a socket's path selects; WorldRefused for a malformed room name."""
    if not settings.CHAT_ROOMS or not path.startswith(ROOMS_PATH):
        return SHARED
    # Anything after the name is ignored, as the reference ignores the whole path.
    name = path[len(ROOMS_PATH) :].split("/", 1)[0]
    if not ROOM_NAME.fullmatch(name):
        raise WorldRefused(BAD_ROOM, BAD_ROOM_REASON)
    return ROOM_PREFIX + name.lower()


def parse_world(text: Any) -> str | None:
    """A world key from untrusted input (a console's choice), or None if it is not one."""
    if text == SHARED:
        return SHARED
    if isinstance(text, str) and text.startswith(ROOM_PREFIX):
        name = text[len(ROOM_PREFIX) :]
        if ROOM_NAME.fullmatch(name) and name == name.lower():
            return text
    return None


def world_label(world: str) -> str:
    """How people see a world: its path."""
    return "/" if world == SHARED else ROOMS_PATH + world[len(ROOM_PREFIX) :]


@dataclass(frozen=True)
class WorldInfo:
    key: str
    label: str
    connections: int
    online: int


# -- the worlds held in this process ----------------------------------------------------------

_rooms: dict[str, Hub] = {}
_last_busy: dict[str, float] = {}  # monotonic: when a room last had a connection
_reaper: asyncio.Task | None = None


def get_hub(world: str = SHARED) -> Hub:
    """The hub of `world` in this process, made on first use (rooms up to CHAT_MAX_ROOMS)."""
    if world == SHARED:
        return hub_module.get_hub()
    hub = _rooms.get(world)
    if hub is None:
        if len(_rooms) >= settings.CHAT_MAX_ROOMS:
            reap()
            if len(_rooms) >= settings.CHAT_MAX_ROOMS:
                raise WorldRefused(ROOMS_FULL, "too many rooms are open; try again later")
        hub = _rooms[world] = hub_module.new_hub()
        _start_reaper()
    _last_busy[world] = time.monotonic()
    return hub


def forget(world: str) -> None:
    """Drop a world held here: a later get_hub starts it empty, as a restart would."""
    if world == SHARED:
        hub_module.reset_hub()
    else:
        _rooms.pop(world, None)
        _last_busy.pop(world, None)


def list_worlds() -> list[WorldInfo]:
    """The worlds this process holds, shared first, then rooms by name."""
    found = [(SHARED, hub_module._hub), *sorted(_rooms.items())]
    return [
        WorldInfo(
            key=key,
            label=world_label(key),
            connections=len(hub.world.state.conns),
            online=sum(1 for user in hub.world.state.conns.values() if user is not None),
        )
        for key, hub in found
        if hub is not None
    ]


def reap(now: float | None = None) -> list[str]:
    """Forget rooms with no connection for CHAT_ROOM_IDLE_SECONDS; returns their keys."""
    now = time.monotonic() if now is None else now
    idle = settings.CHAT_ROOM_IDLE_SECONDS
    gone = []
    for world, hub in list(_rooms.items()):
        if hub.outboxes:
            _last_busy[world] = now
        elif now - _last_busy.get(world, now) >= idle:
            gone.append(world)
    for world in gone:
        forget(world)
        for listener in _on_forget:
            listener(world)
    return gone


_on_forget: list[Any] = []  # chat.cluster releases the lease of a room it forgot


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
    """Forget every world (tests; a restart does the same)."""
    global _reaper
    hub_module.reset_hub()
    _rooms.clear()
    _last_busy.clear()
    if _reaper is not None:
        _reaper.cancel()
        _reaper = None


async def seat_for(scope: dict) -> Hub | Proxy:
    """Where a new chat socket's frames go: its world's hub here, or a proxy to its owner."""
    world = world_of_path(scope.get("path") or "/")
    from chat.cluster import running

    cluster = running()  # joined by serving processes only, with REDIS_URL (chat.cluster)
    if cluster is not None:
        return await cluster.seat(world)
    return get_hub(world)
