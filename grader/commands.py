"""The grader console's commands: checked field by field, then carried out by an Agent."""

from __future__ import annotations

import logging
from typing import Any

from chat import rooms
from grader.agent import Agent, CommandError, Run
from grader.bot import BotError
from grader.checkrun import start_run

logger = logging.getLogger(__name__)

# What a console may set for a run, in seconds (grader.checkrun.RunOptions has the defaults).
OPTION_RANGES = {
    "login_timeout": (1, 3600),
    "prompt_timeout": (1, 3600),
    "react_timeout": (0.5, 600),
    "attempt_timeout": (0.5, 60),
    "abandon_after": (5, 3600),
    "reconnect_timeout": (1, 600),
    "outage": (0, 60),
    "window": (0.5, 60),
}


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
    if cmd in ("watch", "unwatch", "rooms", "bot.disconnect", "run.skip", "run.stop"):
        return {"cmd": cmd}
    if cmd == "run.answer":
        answer = raw.get("answer")
        if answer not in ("done", "yes", "no"):
            raise CommandError("answer must be 'done', 'yes' or 'no'")
        return {"cmd": cmd, "answer": answer}
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
            # The consumers set it (the console: never; a student's self-check: always).
            "self_check": raw.get("self_check") is True,
            "options": {
                key: _number(options[key], key, low, high)
                for key, (low, high) in OPTION_RANGES.items()
                if key in options
            },
        }
    raise CommandError(f"unknown command {cmd!r}")


async def handle(agent: Agent, raw: Any) -> dict[str, Any]:
    """Carry out one console command; never raises."""
    try:
        command = clean_command(raw)
        data = await _do(agent, command)
    except (CommandError, BotError) as error:
        return {"ok": False, "error": str(error)}
    except Exception:
        logger.exception("console command failed: %r", raw)
        return {"ok": False, "error": "the chat server failed to do that; see its log"}
    agent.run_changed = True
    return {"ok": True, "data": data}


async def _do(agent: Agent, c: dict[str, Any]) -> Any:
    cmd = c["cmd"]
    if cmd == "watch":
        return agent.watch()
    if cmd == "unwatch":
        agent.unwatch()
        return None
    if cmd == "rooms":  # for the console page when the chat runs in another process
        return [room.key for room in rooms.list_rooms()]
    if cmd == "loss":
        agent.simulate_loss(c["outage"])
        return None
    if cmd == "kick":
        agent.kick(c["conn"])
        return None
    if cmd.startswith("bot."):
        return _bot_command(agent, c)
    if cmd == "run.start":
        return await start_run(
            agent,
            login=c["login"],
            student_id=c["student_id"],
            grader_id=c["grader_id"],
            options=c["options"],
            self_check=c["self_check"],
        )
    if cmd == "run.skip":
        _current_run(agent).skip()
        return None
    if cmd == "run.stop":
        _current_run(agent).stop()
        return None
    if cmd == "run.answer":
        _current_run(agent).answer(c["answer"])
        return None
    raise CommandError(f"unknown command {cmd!r}")


def _bot_command(agent: Agent, c: dict[str, Any]) -> Any:
    cmd = c["cmd"]
    if cmd == "bot.connect":
        if agent.console_bot is not None and agent.console_bot.connected:
            return agent.console_bot.state()
        if c["login"]:
            fresh = agent.new_bot(c["login"])
            fresh.connect()
        else:
            fresh = agent.connect_bot()
        agent.console_bot = fresh
        return fresh.state()
    bot = agent.console_bot
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


def _current_run(agent: Agent) -> Run:
    if not agent.running:
        raise CommandError("no check is running")
    assert agent.run is not None
    return agent.run
