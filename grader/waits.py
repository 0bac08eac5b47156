"""What a check run waits for: predicates over the frames it records (grader.recorder).

Each function makes a fresh predicate for one wait; some keep state across the frames they
see (which of the messages were read so far, say), so a predicate is never reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grader.recorder import IN, OPEN, OUT, REFUSED, Frame, fingerprint

Predicate = Callable[[Frame], bool]


def logged_in(login: str) -> Predicate:
    """The server's USER_LOGIN reply to the student's client (not a bot's)."""
    return lambda f: (
        f.dir == OUT and f.type == "USER_LOGIN" and not f.bot and f.info.get("login") == login
    )


def attempt(login: str, fingerprints: set[Any]) -> Predicate:
    """A sign of the student's client coming back: a socket from their browser (refused or
    accepted; any socket while their handshake is unknown) or their login."""

    def predicate(f: Frame) -> bool:
        if f.bot:
            return False
        if f.dir in (OPEN, REFUSED):
            return not fingerprints or fingerprint(f.info) in fingerprints
        return f.dir == OUT and f.type == "USER_LOGIN" and f.info.get("login") == login

    return predicate


def delivered(msg: str) -> Predicate:
    """The bot was told that its message `msg` is delivered."""
    return lambda f: f.dir == OUT and f.bot and f.type == "MSG_DELIVER" and f.info.get("msg") == msg


def settled(login: str, conn: Any) -> Predicate:
    """On `conn`, the client asked for both user lists and about every user they listed."""
    lists: set[str] = set()
    answered: set[str] = set()
    listed: set[str] = set()
    asked: set[str] = set()

    def predicate(f: Frame) -> bool:
        if f.conn != conn:
            return False
        if f.dir == IN and f.type in ("USER_ACTIVE", "USER_INACTIVE"):
            lists.add(f.type)
        elif f.dir == OUT and f.type in ("USER_ACTIVE", "USER_INACTIVE"):
            answered.add(f.type)
            listed.update(u for u in f.info.get("users", []) if u != login)
        elif f.dir == IN and f.type in ("MSG_COUNT_NOT_READED_FROM_USER", "MSG_FROM_USER"):
            peer = f.info.get("peer")
            if isinstance(peer, str):
                asked.add(peer)
        return len(lists) == len(answered) == 2 and listed <= asked

    return predicate
