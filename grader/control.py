"""How consoles reach the agent of a room over the channel layer (REDIS_URL set).

Without REDIS_URL the chat runs in the site's process (`make run`), and the console
consumer calls grader.commands directly. With REDIS_URL the chat may run in another process
(`manage.py chatserver`). With the chat cluster (chat.cluster, on by default with Redis)
the owner of each room listens on `chat.control.<room>` while it owns it; without the
cluster the chat process listens on `chat.control` for every room. Either way it answers on
the console's own channel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from chat import cluster, rooms
from grader import commands
from grader.agent import CommandError, get_agent

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "chat.control"  # without the cluster: one listener for every room
STALE_S = 10.0  # a command that waited this long in Redis is ignored


def control_channel(room: str) -> str:
    """Where a console sends commands for `room` (a key checked by rooms.parse_room)."""
    return f"{CONTROL_CHANNEL}.{room}" if settings.CHAT_CLUSTER else CONTROL_CHANNEL


_listeners: dict[str, asyncio.Task] = {}  # by control channel


def start_listening() -> None:
    """Answer console commands arriving over the channel layer.

    Called in a chat-serving process's event loop at startup (`serve`, `chatserver`), and
    only with REDIS_URL: the in-memory layer cannot cross processes, and in one process the
    console calls the agent directly. In the chat cluster a process listens for the rooms
    it owns, from when it wins one until it loses it.
    """
    if not settings.REDIS_URL:
        return
    joined = cluster.running()
    if joined is None:
        _listen_on(CONTROL_CHANNEL)
        return
    joined.on_own.append(lambda room, hub: _listen_on(control_channel(room), room))
    joined.on_lose.append(lambda room, hub: stop_listening(control_channel(room)))


def _listen_on(channel: str, room: str | None = None) -> None:
    task = _listeners.get(channel)
    if task is None or task.done():
        _listeners[channel] = asyncio.ensure_future(listen(channel, room))


def stop_listening(channel: str) -> None:
    task = _listeners.pop(channel, None)
    if task is not None:
        task.cancel()


async def listen(channel: str = CONTROL_CHANNEL, room: str | None = None) -> None:
    """Commands from consoles; for `room` only, or (None) for the room each one names."""
    layer = get_channel_layer()
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis restarting: try again shortly
            logger.warning("console control channel unavailable", exc_info=True)
            await asyncio.sleep(1)
            continue
        await answer(layer, message, room)


async def answer(layer: Any, message: dict[str, Any], room: str | None = None) -> None:
    """Carry out one command from the layer and send the reply to the console that asked."""
    sent_at = message.get("sent_at")
    if not isinstance(sent_at, int | float) or time.time() - sent_at > STALE_S:
        return  # sent while no chat server listened: too old to act on
    named = rooms.parse_room(message.get("world"))  # the console's field name
    if named is None or (room is not None and named != room):
        reply: dict[str, Any] = {"ok": False, "error": "no such chat room here"}
    else:
        try:
            reply = await commands.handle(get_agent(named), message.get("command"))
        except CommandError as error:
            reply = {"ok": False, "error": str(error)}
    reply_to = message.get("reply_to")
    if isinstance(reply_to, str):
        try:
            await layer.send(
                reply_to, {"type": "console.reply", "ref": message.get("ref"), **reply}
            )
        except Exception:
            logger.warning("could not answer a grader console", exc_info=True)
