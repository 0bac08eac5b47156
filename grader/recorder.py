"""Recording what passes through the chat server, for the grader console and check runs.

The hub calls its tap (chat.hooks.Tap), when one is attached, on every connection event and
every frame in and out; with no tap attached that costs one attribute test. The Recorder is
that tap: it turns each call into a Frame (passwords masked, long texts cut, the fields the
checks need digested once) and hands it to its sinks, the console stream and a check run's
buffer.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from chat import jscodec
from chat.redact import redact

# Directions. IN and OUT are frames; the rest are connection events and run markers.
IN, OUT = "in", "out"
OPEN = "open"  # a socket was accepted
CLOSE = "close"  # a socket is gone (the client left, or the close the server sent completed)
KICK = "kick"  # the server closes a socket: a simulated loss or the grader's disconnect
REFUSED = "refused"  # a connection attempt refused while the server plays "down"
MARK = "mark"  # a check run's note on the timeline

MAX_TEXT = 16_000  # characters of a frame kept for display; the digest sees the whole frame
MAX_ID = 200
# Lone surrogates and NUL are valid in a frame but not in PostgreSQL's jsonb, where reports
# are stored: they are shown as U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """Text safe to store in any JSON column."""
    return _UNSTORABLE.sub("\ufffd", text)


@dataclass
class Frame:
    """One recorded event; `info` holds what the checks read, so they never parse `text`."""

    seq: int
    t: float  # seconds since the epoch
    dir: str
    conn: Any = None
    login: str | None = None  # the connection's user at that moment
    type: str | None = None
    id: Any = None  # the frame's "id" as sent (any JSON value)
    text: str = ""
    cause: int | None = None  # for OUT: the seq of the event that produced it
    bot: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _request_key(kind: str, payload: object) -> str:
    """A short fingerprint of a request without its id: equal keys are repeated requests."""
    try:
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. lone surrogates; rare enough to key on repr
        body = repr(payload).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(kind.encode() + b"\0" + body, digest_size=6).hexdigest()


def _get(container: object, *path: str) -> object:
    for key in path:
        if not isinstance(container, dict):
            return None
        container = container.get(key)
    return container


def _str(value: object) -> str | None:
    return clean(value) if isinstance(value, str) else None


def digest(direction: str, parsed: object) -> dict[str, Any]:
    """The facts of a parsed frame that the checks use (never a password)."""
    if not isinstance(parsed, dict):
        return {"malformed": True}
    kind = parsed.get("type")
    payload = parsed.get("payload")
    info: dict[str, Any] = {}
    if direction == IN and isinstance(kind, str):
        # Never a fingerprint of a password: login frames are keyed by their login alone.
        secret = kind in ("USER_LOGIN", "USER_LOGOUT")
        info["key"] = _request_key(kind, _get(payload, "user", "login") if secret else payload)
    if kind in ("USER_LOGIN", "USER_LOGOUT", "USER_EXTERNAL_LOGIN", "USER_EXTERNAL_LOGOUT"):
        info["login"] = _str(_get(payload, "user", "login"))
    elif kind in ("USER_ACTIVE", "USER_INACTIVE") and direction == OUT:
        users = _get(payload, "users")
        if isinstance(users, list):
            info["users"] = [_str(u.get("login")) for u in users if isinstance(u, dict)]
    elif kind in ("MSG_FROM_USER", "MSG_COUNT_NOT_READED_FROM_USER"):
        if direction == IN:
            info["peer"] = _str(_get(payload, "user", "login"))
        elif isinstance(_get(payload, "messages"), list):
            info["messages"] = len(payload["messages"])  # type: ignore[index]
        else:
            info["count"] = _get(payload, "count")
    elif kind == "MSG_SEND":
        message = _get(payload, "message")
        text = _get(message, "text")
        info["to"] = _str(_get(message, "to"))
        info["text_len"] = len(text) if isinstance(text, str) else None
        if direction == OUT:
            info["msg"] = _str(_get(message, "id"))
            info["from"] = _str(_get(message, "from"))
            info["delivered"] = _get(message, "status", "isDelivered")
    elif kind in ("MSG_READ", "MSG_DELETE", "MSG_EDIT", "MSG_DELIVER"):
        info["msg"] = _str(_get(payload, "message", "id"))
        if kind == "MSG_EDIT":
            text = _get(payload, "message", "text")
            info["text_len"] = len(text) if isinstance(text, str) else None
    elif kind == "ERROR":
        info["error"] = _str(_get(payload, "error"))
    return info


def _peer(peer: dict[str, Any] | None) -> dict[str, Any]:
    """A handshake's facts (chat.consumers.peer_of) safe to store; empty for a bot's."""
    return {k: clean(v) if isinstance(v, str) else v for k, v in (peer or {}).items()}


def fingerprint(info: dict[str, Any]) -> tuple[Any, ...] | None:
    """What ties connections to one browser: address, Origin and User-Agent (not the port).

    None when the handshake is unknown (a bot's, or a socket forwarded by another process).
    """
    if not info.get("addr") and not info.get("agent"):
        return None
    return (info.get("addr"), info.get("origin"), info.get("agent"))


class Recorder:
    """The hub's tap: makes Frames and passes each to every sink."""

    def __init__(self, room: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.room = room  # a ChatRoom: read for the login behind a connection
        self.clock = clock
        self.seq = 0
        self.sinks: list[Callable[[Frame], None]] = []
        self.bot_conns: set[Hashable] = set()
        self.opened_at: dict[Hashable, float] = {}
        self._next_open_is_bot = False
        self._cause: int | None = None

    def expect_bot(self) -> None:
        """The next connection opened is one of our bots (opening is synchronous)."""
        self._next_open_is_bot = True

    def login_of(self, conn: Hashable) -> str | None:
        user = self.room.state.conns.get(conn)
        return None if user is None else clean(user.login)

    def _emit(self, frame: Frame) -> Frame:
        for sink in self.sinks:
            sink(frame)
        return frame

    def _frame(self, direction: str, conn: Hashable = None, **fields: Any) -> Frame:
        self.seq += 1
        return Frame(
            seq=self.seq,
            t=self.clock(),
            dir=direction,
            conn=conn,
            bot=conn in self.bot_conns,
            **fields,
        )

    # -- chat.hooks.Tap -------------------------------------------------------------------

    def opened(self, conn: Hashable, peer: dict[str, Any] | None = None) -> None:
        if self._next_open_is_bot:
            self._next_open_is_bot = False
            self.bot_conns.add(conn)
        frame = self._frame(OPEN, conn, info=_peer(peer))
        self.opened_at[conn] = frame.t
        self._emit(frame)

    def incoming(self, conn: Hashable, data: str | bytes) -> None:
        frame = self._frame(IN, conn, login=self.login_of(conn))
        text = jscodec.text_of(data)
        self._fill(frame, text, masked=redact(text))
        self._cause = frame.seq  # what the hub delivers next is this frame's doing
        self._emit(frame)

    def outgoing(self, conn: Hashable, text: str) -> None:
        frame = self._frame(OUT, conn, login=self.login_of(conn), cause=self._cause)
        self._fill(frame, text)
        self._emit(frame)

    def kicked(self, conn: Hashable) -> None:
        self._emit(self._frame(KICK, conn, cause=self._cause))

    def closed(self, conn: Hashable) -> None:
        frame = self._frame(CLOSE, conn, login=self.login_of(conn))
        self._cause = frame.seq  # the USER_EXTERNAL_LOGOUT pushes that follow
        self.opened_at.pop(conn, None)
        self._emit(frame)
        self.bot_conns.discard(conn)

    def cleared(self) -> None:
        frame = self.mark("clear", "every connection closed and the state wiped")
        self._cause = frame.seq

    def refused(self, peer: dict[str, Any] | None = None) -> None:
        self._emit(self._frame(REFUSED, info=_peer(peer)))

    # -- run markers ------------------------------------------------------------------------

    def mark(self, name: str, note: str = "", **info: Any) -> Frame:
        """A note on the timeline, e.g. the moment a check run cut a connection."""
        return self._emit(self._frame(MARK, type=name, text=note, info=info))

    def _fill(self, frame: Frame, text: str, masked: str | None = None) -> None:
        """Type, id and digest from the whole text; the (masked) text kept for display."""
        try:
            parsed = jscodec.loads(text)
        except (jscodec.InvalidJSON, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            kind = parsed.get("type")
            frame.type = clean(kind[:MAX_ID]) if isinstance(kind, str) else None
            rid = parsed.get("id")
            if isinstance(rid, str):
                frame.id = clean(rid[:MAX_ID])
            elif isinstance(rid, bool | int) or (isinstance(rid, float) and math.isfinite(rid)):
                frame.id = rid
        frame.info = digest(frame.dir, parsed)
        shown = text if masked is None else masked
        if len(shown) > MAX_TEXT:
            frame.info["cut"] = len(shown)
            shown = shown[:MAX_TEXT]
        frame.text = clean(shown)
