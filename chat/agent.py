"""The chat process's side of the grader console: recording, controls, bot and check runs.

One Agent per chat world (chat.worlds: the shared world, or a room) and so per Hub. It runs
on the event loop of the process that holds the world, so it may call the hub directly.
Consoles reach it in one of two ways:

- without REDIS_URL the chat runs in the site's process (`make run`), and the console
  consumer calls `get_agent(world).handle(...)` directly;
- with REDIS_URL the chat may run in another process (`manage.py chatserver`). With the
  chat cluster (chat.cluster, on by default with Redis) the owner of each world listens on
  `chat.control.<world>` while it owns it; without the cluster the chat process listens on
  `chat.control` for every world. Either way it answers on the console's own channel.

The recorded frames and presence go to the consoles of a world through the channel layer
group `chat-console.<world>`, in batches a few times a second, and only while a console
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
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.conf import settings

from chat import worlds
from chat.bot import Bot, BotError
from chat.frames import Close
from chat.hub import Hub
from chat.recorder import CLOSE, KICK, MARK, OPEN, OUT, Frame, Recorder
from chat.worlds import SHARED, WorldRefused

if TYPE_CHECKING:
    from chat.checkrun import CheckRun

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "chat.control"  # without the cluster: one listener for every world
LEASE_S = 30.0  # a console that stops renewing is forgotten after this
FLUSH_S = 0.2
MAX_BATCH = 1000  # frames per push to the consoles; beyond that they are counted, not sent
RECENT = 300  # frames a newly opened console starts with
STALE_S = 10.0  # a command that waited this long in Redis is ignored
MAX_LISTED = 500  # connections listed in the presence panel
PRESENCE_TYPES = frozenset({"USER_LOGIN", "USER_LOGOUT"})


class CommandError(Exception):
    """A console command that cannot be carried out; the message is for the grader."""


def _text(value: Any, name: str, *, limit: int = 10_000, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and value == ""):
        raise CommandError(f"{name} must be a string of at most {limit} characters")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise CommandError(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _id(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandError(f"{name} must be an integer id")
    return value


def clean_command(raw: Any) -> dict[str, Any]:
    """A console command with checked fields, or CommandError; nothing else gets through."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cmd"), str):
        raise CommandError("a command is a JSON object with a string 'cmd'")
    cmd = raw["cmd"]
    if cmd in ("watch", "unwatch", "bot.disconnect", "run.skip", "run.stop"):
        return {"cmd": cmd}
    if cmd == "loss":
        return {"cmd": cmd, "outage": _number(raw.get("outage", 0), "outage", 0, 60)}
    if cmd == "kick":
        conn = _id(raw.get("conn"), "conn")
        if conn is None:
            raise CommandError("conn must be an integer id")
        return {"cmd": cmd, "conn": conn}
    if cmd == "bot.connect":
        login = raw.get("login") or ""
        return {"cmd": cmd, "login": _text(login, "login", limit=100)}
    if cmd == "bot.send":
        return {
            "cmd": cmd,
            "to": _text(raw.get("to"), "to", limit=1000),
            "text": _text(raw.get("text"), "text"),
        }
    if cmd in ("bot.edit", "bot.delete"):
        command = {
            "cmd": cmd,
            "to": _text(raw.get("to") or "", "to", limit=1000),
            "msg": _text(raw.get("msg") or "", "msg", limit=200),
        }
        if cmd == "bot.edit":
            command["text"] = _text(raw.get("text"), "text")
        return command
    if cmd in ("bot.read", "bot.history"):
        return {"cmd": cmd, "peer": _text(raw.get("peer"), "peer", limit=1000)}
    if cmd == "run.start":
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise CommandError("options must be an object")
        return {
            "cmd": cmd,
            "login": _text(raw.get("login"), "login", limit=1000),
            "student_id": _id(raw.get("student_id"), "student_id"),
            "grader_id": _id(raw.get("grader_id"), "grader_id"),
            "options": {
                key: _number(options[key], key, low, high)
                for key, (low, high) in OPTION_RANGES.items()
                if key in options
            },
        }
    raise CommandError(f"unknown command {cmd!r}")


# What a console may set for a run, in seconds (chat.checkrun.RunOptions has the defaults).
OPTION_RANGES = {
    "login_timeout": (1, 3600),
    "prompt_timeout": (1, 3600),
    "react_timeout": (0.5, 600),
    "reconnect_timeout": (1, 600),
    "outage": (0, 60),
    "window": (0.5, 60),
}


def control_channel(world: str) -> str:
    """Where a console sends commands for `world` (a key checked by worlds.parse_world)."""
    return f"{CONTROL_CHANNEL}.{world}" if settings.CHAT_CLUSTER else CONTROL_CHANNEL


def console_group(world: str) -> str:
    """The group of the consoles watching `world`."""
    return f"chat-console.{world}"


class Agent:
    """One per hub: the recorder the hub taps, the bots, the run, and the console stream."""

    def __init__(self, hub: Hub, world: str = SHARED) -> None:
        self.hub = hub
        self.world = world
        self.recorder = Recorder(hub.world)
        self.recorder.sinks.append(self._to_consoles)
        self.watched_until = 0.0  # monotonic
        self.pending: list[dict[str, Any]] = []
        self.unsent = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.presence_changed = True
        self.run_changed = True
        self.console_bot: Bot | None = None
        self.run: CheckRun | None = None
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
        conns = []
        users = []
        for conn, user in self.hub.world.state.conns.items():
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
            "total": len(self.hub.world.state.conns),
            "users": users,
            "down_for": round(down, 1),
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "world": self.world,
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
            await layer.group_send(console_group(self.world), event)
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

    # -- commands ---------------------------------------------------------------------------

    async def handle(self, raw: Any) -> dict[str, Any]:
        """Carry out one console command; never raises."""
        try:
            command = clean_command(raw)
            data = await self._do(command)
        except (CommandError, BotError) as error:
            return {"ok": False, "error": str(error)}
        except Exception:
            logger.exception("console command failed: %r", raw)
            return {"ok": False, "error": "the chat server failed to do that; see its log"}
        self.run_changed = True
        return {"ok": True, "data": data}

    async def _do(self, c: dict[str, Any]) -> Any:
        cmd = c["cmd"]
        if cmd == "watch":
            return self.watch()
        if cmd == "unwatch":
            self.unwatch()
            return None
        if cmd == "loss":
            self.simulate_loss(c["outage"])
            return None
        if cmd == "kick":
            self.kick(c["conn"])
            return None
        if cmd.startswith("bot."):
            return self._bot_command(c)
        if cmd == "run.start":
            return await self.start_run(
                login=c["login"],
                student_id=c["student_id"],
                grader_id=c["grader_id"],
                options=c["options"],
            )
        if cmd == "run.skip":
            self._current_run().skip()
            return None
        if cmd == "run.stop":
            self._current_run().stop()
            return None
        raise CommandError(f"unknown command {cmd!r}")

    def _bot_command(self, c: dict[str, Any]) -> Any:
        cmd = c["cmd"]
        if cmd == "bot.connect":
            if self.console_bot is not None and self.console_bot.connected:
                return self.console_bot.state()
            if c["login"]:
                bot = self.new_bot(c["login"])
                bot.connect()
            else:
                bot = self.connect_bot()
            self.console_bot = bot
            return bot.state()
        bot = self.console_bot
        if bot is None or not bot.connected:
            raise CommandError("connect the bot first")
        if cmd == "bot.disconnect":
            bot.disconnect()
            return bot.state()
        if cmd == "bot.send":
            return bot.send(c["to"], c["text"])
        if cmd == "bot.read":
            return {"read": bot.read_all_from(c["peer"])}
        if cmd == "bot.history":
            return {"messages": bot.history(c["peer"])}
        msg = c["msg"] or (bot.last_sent_to(c["to"]) if c["to"] else None)
        if not msg:
            raise CommandError("the bot has no message to that user")
        if cmd == "bot.edit":
            bot.edit(msg, c["text"])
        else:
            bot.delete(msg)
        return {"msg": msg}

    def _current_run(self) -> CheckRun:
        if not self.running:
            raise CommandError("no check is running")
        assert self.run is not None
        return self.run

    async def start_run(
        self,
        *,
        login: str,
        student_id: int | None = None,
        grader_id: int | None = None,
        options: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Start the automatic check of the client that logs in as `login`."""
        from chat.checkrun import CheckRun, RunOptions, create_report

        if self.running:
            assert self.run is not None
            raise CommandError(f"a check of {self.run.login!r} is already running")
        run_options = RunOptions(**(options or {}))
        report_id = await create_report(
            login=login,
            student_id=student_id,
            grader_id=grader_id,
            options=run_options,
            world=self.world,
        )
        self.run = CheckRun(self, login=login, report_id=report_id, options=run_options)
        self.run.start()
        self.retap()
        return self.run.state()


_agents: weakref.WeakKeyDictionary[Hub, Agent] = weakref.WeakKeyDictionary()


def agent_for(hub: Hub, world: str) -> Agent:
    agent = _agents.get(hub)
    if agent is None:
        agent = _agents[hub] = Agent(hub, world)
    return agent


def get_agent(world: str = SHARED) -> Agent:
    """The agent of a world held in this process (a new hub, e.g. a reset, gets a new one)."""
    try:
        hub = worlds.get_hub(world)
    except WorldRefused as refused:
        raise CommandError(refused.reason) from None
    return agent_for(hub, world)


# -- control over the channel layer (REDIS_URL set) ----------------------------------------

_listeners: dict[str, asyncio.Task] = {}  # by control channel


def start_listening() -> None:
    """Answer console commands arriving over the channel layer.

    Called in a chat-serving process's event loop at startup (`serve`, `chatserver`), and
    only with REDIS_URL: the in-memory layer cannot cross processes, and in one process the
    console calls the agent directly. In the chat cluster a process listens for the worlds
    it owns, from when it wins one until it loses it.
    """
    if not settings.REDIS_URL:
        return
    from chat.cluster import running

    cluster = running()
    if cluster is None:
        _listen_on(CONTROL_CHANNEL)
        return
    cluster.on_own.append(lambda world, hub: _listen_on(control_channel(world), world))
    cluster.on_lose.append(lambda world, hub: stop_listening(control_channel(world)))


def _listen_on(channel: str, world: str | None = None) -> None:
    task = _listeners.get(channel)
    if task is None or task.done():
        _listeners[channel] = asyncio.ensure_future(listen(channel, world))


def stop_listening(channel: str) -> None:
    task = _listeners.pop(channel, None)
    if task is not None:
        task.cancel()


async def listen(channel: str = CONTROL_CHANNEL, world: str | None = None) -> None:
    """Commands from consoles; for `world` only, or (None) for the world each one names."""
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
        await answer(layer, message, world)


async def answer(layer: Any, message: dict[str, Any], world: str | None = None) -> None:
    """Carry out one command from the layer and send the reply to the console that asked."""
    sent_at = message.get("sent_at")
    if not isinstance(sent_at, int | float) or time.time() - sent_at > STALE_S:
        return  # sent while no chat server listened: too old to act on
    named = worlds.parse_world(message.get("world"))
    if named is None or (world is not None and named != world):
        reply: dict[str, Any] = {"ok": False, "error": "no such chat world here"}
    else:
        try:
            reply = await get_agent(named).handle(message.get("command"))
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
