"""The fun-chat protocol core: RS School's reference server without the sockets.

Spec: docs/fun-chat-protocol.md, cited as §n. Where it and the reference's code
(rolling-scopes-school/fun-chat-server @ 260517a) disagree, the code wins. The transport
calls connect/receive/disconnect/clear and writes the returned actions in the given order;
the core touches no socket, clock or randomness except through its arguments. This module
holds the envelope (§2, §3); chat.state the state and handlers, chat.jscodec the JSON.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable

from chat import jscodec
from chat.frames import (
    INTERNAL,
    NOT_AUTH,
    STRUCTURE,
    STRUCTURE_ERROR,
    TYPE,
    Action,
    Close,
    SendText,
    error_frame,
)
from chat.limits import Limits
from chat.redact import redact
from chat.state import ChatState

__all__ = ["Action", "ChatRoom", "Close", "SendText", "redact"]

DEFAULT_MAX_FRAME_BYTES = 1 << 20
DEFAULT_MAX_JSON_DEPTH = jscodec.MAX_DEPTH  # orjson parses this deep in C, fast
NO_AUTH_NEEDED = frozenset({"USER_LOGIN", "USER_LOGOUT"})  # §3 step 5
_MISSING = object()  # a key the request lacks: JavaScript's undefined


def _now_ms() -> int:
    """Date.now(): epoch milliseconds."""
    return time.time_ns() // 1_000_000


class _UUIDs:
    """Random uuid v4 strings, lowercase and hyphenated like the reference's `uuid` package.

    Like that package it draws from a pool of OS random bytes rather than one system call
    per id; uuid.uuid4() makes an object and a call each time, about 3x slower here.
    """

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0

    def __call__(self) -> str:
        at = self.at
        if at + 16 > len(self.pool):
            self.pool, at = os.urandom(4096), 0
        self.at = at + 16
        h = self.pool[at : at + 16].hex()
        # Version 4 in the 13th digit, variant 10xx (8, 9, a or b) in the 17th.
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_uuid4 = _UUIDs()


def _js_truthy(value: object) -> bool:
    """JavaScript truthiness of a parsed JSON value: objects and arrays are always true."""
    return isinstance(value, dict | list) or bool(value)


def structure_error(text: str, request_id: object) -> str:
    """The §2 exception: the id echoed is `(client id) || null`, whatever its JSON type."""
    if request_id is _MISSING or not _js_truthy(request_id):
        return STRUCTURE_ERROR  # a missing id, "", 0, -0, false, null
    if isinstance(request_id, str):
        return error_frame(jscodec.string(request_id), STRUCTURE)
    if not isinstance(request_id, bool):
        # Numbers print as JavaScript doubles do: re-read with every number a float.
        request_id = jscodec.loads_exact(text)["id"]  # type: ignore[index]
    return error_frame(jscodec.stringify(request_id), STRUCTURE)


class ChatRoom:
    """One room of the reference-compatible chat: its connections, users and messages."""

    def __init__(
        self,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
        limits: Limits | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        new_uuid: Callable[[], str] = _uuid4,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_json_depth = max_json_depth
        self.last_type: object = None  # the type of the frame last received, for the log
        self.state = ChatState(clock_ms=clock_ms, new_uuid=new_uuid, limits=limits)

    def connect(self) -> int:
        """Register a new connection; ids are ints increasing in opening order."""
        return self.state.open()

    def receive(self, conn: Hashable, frame: str | bytes) -> list[Action]:
        """One frame: pushes to other connections first, then exactly one reply to `conn`."""
        self.last_type = None
        if conn not in self.state.conns:
            return []  # already closed by disconnect() or clear(): no one to answer
        if len(frame) * 4 > self.max_frame_bytes and self._oversize(frame):  # cheap test first
            # Our limit; the reference's ws allows 100 MiB (§1). The frame is not parsed, so
            # like invalid JSON (§3 step 1) it gets a structure error with id null.
            return [SendText(conn, STRUCTURE_ERROR)]
        text = jscodec.text_of(frame)  # a binary frame is parsed like a text one (§1)
        try:
            request = jscodec.loads(text, self.max_json_depth)
        except jscodec.InvalidJSON:
            # §3 step 1: id always null. Our depth limit (TooDeep) answers the same: the
            # reference parses any depth, but then a non-object (a deep array) gets this very
            # answer, and no request of the protocol nests deeper than 3.
            return [SendText(conn, STRUCTURE_ERROR)]
        if not isinstance(request, dict):
            # A number, string or array has no .id, so the id is null. The literal null
            # crashes the reference (§12); §12 recommends this answer.
            return [SendText(conn, STRUCTURE_ERROR)]
        request_id = request.get("id", _MISSING)
        kind = self.last_type = request.get("type")
        payload = request.get("payload", _MISSING)
        if not (
            (request_id is None or isinstance(request_id, str))
            and isinstance(kind, str)
            and (payload is None or isinstance(payload, dict | list))
        ):
            return [SendText(conn, structure_error(text, request_id))]  # §3 step 2
        # From here on the id is echoed verbatim, "" and null included (§2).
        id_json = "null" if request_id is None else jscodec.string(request_id)
        handler = self.state.handlers.get(kind)
        if handler is None:  # unknown, wrong case, or a server-only type (§3 steps 3-4)
            return [SendText(conn, error_frame(id_json, TYPE))]
        me = self.state.conns[conn]
        if me is None and kind not in NO_AUTH_NEEDED:
            return [SendText(conn, error_frame(id_json, NOT_AUTH))]  # §3 step 5, before the payload
        try:
            return handler(conn, me, id_json, payload)
        except Exception:  # only a bug of ours gets here: answer rather than drop the socket
            return [SendText(conn, error_frame(id_json, INTERNAL))]

    def disconnect(self, conn: Hashable) -> list[Action]:
        """The peer closed the socket: the USER_EXTERNAL_LOGOUT pushes to the others (§8.3)."""
        return self.state.close(conn)

    def clear(self) -> list[Action]:
        """The CLEAR_INTERVAL tick (§8.4): Close and SendText actions in order; the room empty."""
        return self.state.clear()

    def _oversize(self, frame: str | bytes) -> bool:
        """Whether the frame's UTF-8 size passes max_frame_bytes; small ones are not encoded."""
        size = len(frame)
        if size > self.max_frame_bytes:
            return True
        if isinstance(frame, str):  # the caller saw size * 4 > max_frame_bytes
            return len(frame.encode("utf-8", "surrogatepass")) > self.max_frame_bytes
        return False
