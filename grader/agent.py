"""The grader's agent in a chat room: recording, the console stream, controls and bots.

One Agent per chat room (chat.rooms: the shared room, or a named one) and so per Hub. It
runs on the event loop of the process that holds the room, so it may call the hub
directly. Consoles reach it through grader.control (directly in one process, over the
channel layer with REDIS_URL); grader.commands carries out what they ask.

The recorded frames and presence go to the consoles of a room through the channel layer
group `chat-console.<room>`, in batches a few times a second, and only while a console
holds a lease (it renews it every few seconds). With no console and no check run the hub
has no tap, and nothing at all is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections import deque
from typing import Any, Protocol

from channels.layers import get_channel_layer

from chat import rooms
from chat.frames import Close
from chat.hub import Hub
from chat.rooms import SHARED, RoomRefused
from grader.bot import Bot, BotError
from grader.recorder import CLOSE, KICK, MARK, OPEN, OUT, Frame, Recorder

logger = logging.getLogger(__name__)

LEASE_S = 30.0  # a console that stops renewing is forgotten after this
FLUSH_S = 0.2
MAX_BATCH = 1000  # frames per push to the consoles; beyond that they are counted, not sent
RECENT = 300  # frames a newly opened console starts with
MAX_LISTED = 500  # connections listed in the presence panel
PRESENCE_TYPES = frozenset({"USER_LOGIN", "USER_LOGOUT"})


class CommandError(Exception):
    """A console command that cannot be carried out; the message is for the grader."""


class Run(Protocol):
    """What the agent needs of a check run (grader.checkrun.CheckRun)."""

    login: str
    active: bool

    def state(self) -> dict[str, Any]: ...
    def skip(self) -> None: ...
    def stop(self) -> None: ...
    def answer(self, answer: str) -> None: ...


def console_group(room: str) -> str:
    """The group of the consoles watching `room`."""
    return f"chat-console.{room}"


class Agent:
    """One per hub: the recorder the hub taps, the bots, the run, and the console stream."""

    def __init__(self, hub: Hub, room: str = SHARED) -> None:
        self.hub = hub
        self.room = room
        self.recorder = Recorder(hub.room)
        self.recorder.sinks.append(self._to_consoles)
        self.watched_until = 0.0  # monotonic
        self.pending: list[dict[str, Any]] = []
        self.unsent = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.presence_changed = True
        self.run_changed = True
        self.console_bot: Bot | None = None
        self.run: Run | None = None
        self.revive: list[Bot] = []  # bots that come back after a simulated loss
        self._flusher: asyncio.Task | None = None
        self.epoch = secrets.token_hex(4)  # consoles restart their frame numbering on a change

    # -- recording --------------------------------------------------------------------------

    @property
    def watched(self) -> bool:
        return time.monotonic() < self.watched_until

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.active

    def retap(self) -> None:
        """Attach the recorder while anyone needs it; detach it (zero cost) otherwise."""
        self.hub.tap = self.recorder if (self.watched or self.running) else None

    def _to_consoles(self, frame: Frame) -> None:
        if not self.watched:
            return
        if (
            frame.dir in (OPEN, CLOSE, KICK)
            or (frame.dir == OUT and frame.type in PRESENCE_TYPES)
            or (frame.dir == MARK and frame.type == "clear")
        ):
            self.presence_changed = True
        data = frame.as_dict()  # the recorder has cut long texts already
        self.recent.append(data)
        if len(self.pending) < MAX_BATCH:
            self.pending.append(data)
        else:
            self.unsent += 1

    def changed(self) -> None:
        """The run's state changed: the consoles get it with the next batch."""
        self.run_changed = True

    def presence(self) -> dict[str, Any]:
        conns: list[dict[str, Any]] = []
        users = []
        for conn, user in self.hub.room.state.conns.items():
            if user is not None:
                users.append(user.login)
            if len(conns) < MAX_LISTED:
                conns.append(
                    {
                        "conn": conn,
                        "login": None if user is None else user.login,
                        "bot": conn in self.recorder.bot_conns,
                        "since": self.recorder.opened_at.get(conn),
                    }
                )
        down = max(0.0, getattr(self.hub, "down_until", 0.0) - time.monotonic())
        return {
            "conns": conns,
            "total": len(self.hub.room.state.conns),
            "users": users,
            "down_for": round(down, 1),
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "world": self.room,  # the console's field name
            "presence": self.presence(),
            "frames": list(self.recent),
            "run": self.run.state() if self.run else None,
            "bot": self.console_bot.state() if self.console_bot else None,
        }

    # -- the console stream -----------------------------------------------------------------

    def watch(self) -> dict[str, Any]:
        first = not self.watched
        self.watched_until = time.monotonic() + LEASE_S
        if first:
            self.recent.clear()
        self.retap()
        if self._flusher is None:
            self._flusher = asyncio.ensure_future(self._flush_loop())
        return self.snapshot()

    def unwatch(self) -> None:
        self.watched_until = 0.0
        self.retap()

    async def _flush_loop(self) -> None:
        try:
            while self.watched or self.pending:
                await asyncio.sleep(FLUSH_S)
                if not self.watched:
                    self.retap()
                await self.flush()
        finally:
            self._flusher = None
            self.retap()

    async def flush(self) -> None:
        """Push what happened since the last batch to every console."""
        event: dict[str, Any] = {"type": "console.events", "epoch": self.epoch}
        if self.pending or self.unsent:
            event["frames"], self.pending = self.pending, []
            event["unsent"], self.unsent = self.unsent, 0
        if self.presence_changed:
            self.presence_changed = False
            event["presence"] = self.presence()
        if self.run_changed:
            self.run_changed = False
            event["run"] = self.run.state() if self.run else None
            event["bot"] = self.console_bot.state() if self.console_bot else None
        if len(event) == 2:
            return
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            await layer.group_send(console_group(self.room), event)
        except Exception:  # Redis away: the consoles miss a batch, the chat carries on
            logger.warning("could not push to the grader consoles", exc_info=True)

    # -- controls ---------------------------------------------------------------------------

    def simulate_loss(self, outage: float) -> None:
        """What restarting the reference does: every socket closed, everything forgotten.

        For `outage` seconds afterwards new connections are refused, as while the reference
        is down; bots come back once it is over.
        """
        self.hub.down_until = time.monotonic() + outage
        bots = [b for b in (self.console_bot, *self.revive) if b is not None and b.connected]
        self.hub.clear()
        loop = asyncio.get_running_loop()
        loop.call_later(outage, self._revive, bots)
        self.presence_changed = True

    def _revive(self, bots: list[Bot]) -> None:
        for bot in bots:
            if bot is not self.console_bot and bot not in self.revive:
                continue  # its check ended during the outage: it stays gone
            bot.forget()
            try:
                bot.connect()
            except BotError:
                logger.warning("bot %s could not log in again", bot.login, exc_info=True)
        self.run_changed = True

    def kick(self, conn: Any) -> None:
        """Close one connection, as if its network dropped: its user is offline at once."""
        if conn not in self.hub.outboxes:
            raise CommandError(f"there is no connection {conn}")
        self.hub.deliver([Close(conn)])
        self.hub.close(conn)
        self.presence_changed = True

    def new_bot(self, login: str, **hooks: Any) -> Bot:
        """A bot whose connection the recorder marks as a bot's."""
        return Bot(self.hub, login, before_open=self.recorder.expect_bot, **hooks)

    def connect_bot(self, prefix: str = "chk", **hooks: Any) -> Bot:
        """A logged-in bot under a fresh login like chk-3fa2 (short: clients may cut names)."""
        for _ in range(20):
            bot = self.new_bot(f"{prefix}-{secrets.token_hex(2)}", **hooks)
            try:
                bot.connect()
                return bot
            except BotError:  # that login is taken; try another
                continue
        raise CommandError("could not find a free login for the bot")


_agents: weakref.WeakKeyDictionary[Hub, Agent] = weakref.WeakKeyDictionary()


def agent_for(hub: Hub, room: str) -> Agent:
    agent = _agents.get(hub)
    if agent is None:
        agent = _agents[hub] = Agent(hub, room)
    return agent


def get_agent(room: str = SHARED) -> Agent:
    """The agent of a room held in this process (a new hub, e.g. a reset, gets a new one)."""
    try:
        hub = rooms.get_hub(room)
    except RoomRefused as refused:
        raise CommandError(refused.reason) from None
    return agent_for(hub, room)
