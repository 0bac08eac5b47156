"""A room's hub: its ChatRoom, and delivery of what the room decides to the sockets."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from chat import jscodec
from chat.frames import STRUCTURE_ERROR, Close, SendText
from chat.hooks import Tap
from chat.limits import Limits
from chat.outbox import AsgiSend, Outbox, Write, text_frame
from chat.protocol import ChatRoom, redact

frames_log = logging.getLogger("chat.frames")
# How every "incorrect request structure" reply ends, whatever id it echoes.
_STRUCTURE_TAIL = STRUCTURE_ERROR.removeprefix('{"id":null')


class Hub:
    """One ChatRoom plus an Outbox per open connection."""

    def __init__(
        self, room: ChatRoom, *, max_queue_bytes: int, log: str = "NONE", log_chars: int = 240
    ) -> None:
        self.room = room
        self.max_queue_bytes = max_queue_bytes
        self.outboxes: dict[Any, Outbox] = {}
        self.peers: dict[Any, dict[str, Any]] = {}  # by connection: its handshake (attach)
        self.log = log.upper()
        self.log_chars = log_chars  # longer frames are cut in the log
        self._clearing: asyncio.Task | None = None
        # A recorder (chat.hooks.Tap: the grader's), attached only while someone watches.
        self.tap: Tap | None = None
        self.down_until = 0.0  # monotonic: a simulated outage refuses connections until then

    def open(
        self,
        send: AsgiSend,
        abort: Callable[[], None],
        backlog: Callable[[], int] | None = None,
        close: Callable[[], None] | None = None,
        write: Write | None = None,
        peer: dict[str, Any] | None = None,
    ) -> Any:
        outbox = Outbox(
            send,
            max_bytes=self.max_queue_bytes,
            abort=abort,
            backlog=backlog,
            close=close,
            write=write,
        )
        return self.attach(outbox, peer)

    def attach(self, outbox: Any, peer: dict[str, Any] | None = None) -> Any:
        """A new connection whose frames go to `outbox`; chat.cluster's for other processes.

        `peer` is what the handshake showed of the client (chat.consumers.peer_of), kept
        while the socket is open so a grader can tell one student's browser from another's.
        """
        conn = self.room.connect()
        self.outboxes[conn] = outbox
        self.peers[conn] = peer or {}
        if self.log != "NONE":
            frames_log.info("connection open %s", conn)
        if self.tap is not None:
            self.tap.opened(conn, self.peers[conn])
        return conn

    def admit(self, peer: dict[str, Any] | None = None) -> bool:
        """Whether to accept a new socket: not while the console simulates an outage."""
        if self.down_until and time.monotonic() < self.down_until:
            if self.tap is not None:
                self.tap.refused(peer or {})
            return False
        return True

    def receive(self, conn: Any, frame: str | bytes) -> None:
        actions = self.room.receive(conn, frame)
        if self.log in ("ALL", "INCOMING", "ERROR"):
            self._log_incoming(conn, frame, actions)
        if self.tap is not None:
            self.tap.incoming(conn, frame)
        self.deliver(actions)

    def _log_incoming(self, conn: Any, frame: str | bytes, actions: list[Any]) -> None:
        """As the reference's logger: a frame refused as malformed (bad JSON or envelope)
        is not logged, and LOG=ERROR keeps only frames whose type is "error" in any case."""
        reply = actions[-1] if actions else None  # the core answers the sender last
        if isinstance(reply, SendText) and reply.text.endswith(_STRUCTURE_TAIL):
            return
        kind = self.room.last_type  # read by the core: no second parse of a large frame
        if self.log == "ERROR" and not (isinstance(kind, str) and kind.lower() == "error"):
            return
        text = jscodec.text_of(frame)
        frames_log.info("incoming %s %s", conn, clip(redact(text), self.log_chars))

    def close(self, conn: Any) -> None:
        """The socket closed: the user goes offline and the others hear of it."""
        self.peers.pop(conn, None)
        if self.outboxes.pop(conn, None) is None:
            return
        if self.log != "NONE":
            frames_log.info("connection close %s", conn)
        if self.tap is not None:
            self.tap.closed(conn)
        self.deliver(self.room.disconnect(conn))

    def clear(self) -> None:
        """What the reference's CLEAR_INTERVAL does: close every socket, forget everyone."""
        if self.tap is not None:
            self.tap.cleared()
        self.deliver(self.room.clear())

    def deliver(self, actions: Iterable[Any]) -> None:
        log_out = self.log in ("ALL", "OUTCOMING", "ERROR")
        tap = self.tap
        framed: str | None = None  # a fan-out repeats one text object: frame it once
        frame = b""
        for action in actions:
            outbox = self.outboxes.get(action.conn)
            if outbox is None:
                continue
            if isinstance(action, Close):
                if tap is not None:
                    tap.kicked(action.conn)
                outbox.put_close()
                continue
            if tap is not None:
                tap.outgoing(action.conn, action.text)
            if outbox.direct is None:
                outbox.put_text(action.text)
            else:
                if action.text is not framed:
                    framed, frame = action.text, text_frame(action.text)
                outbox.put_frame(action.text, frame)
            if log_out and (self.log != "ERROR" or '"type":"ERROR"' in action.text):
                frames_log.info("outgoing %s %s", action.conn, clip(action.text, self.log_chars))

    def start_clear_interval(self, seconds: float) -> None:
        """Wipe the room every `seconds`, once per process, from the first connection on."""
        if seconds > 0 and self._clearing is None:
            self._clearing = asyncio.ensure_future(self._clear_every(seconds))

    async def _clear_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.clear()


def clip(text: str, chars: int) -> str:
    """A frame as the log shows it: at most `chars` characters, then what was left out."""
    if len(text) <= chars:
        return text
    return f"{text[:chars]}... ({len(text) - chars} more characters)"


_hub: Hub | None = None


def freeze_startup_objects() -> None:
    """Keep what the process built before its first chat (Django, the servers) out of GC.

    The chat keeps every message, so the collector's full passes grow with the history;
    a full pass also walked the hundreds of thousands of objects from startup, which
    under load stalled every socket for 100-200 ms. Frozen, they are skipped: those
    objects live as long as the process anyway. Once per process.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


_frozen = False


def get_hub() -> Hub:
    """The process-wide hub, built from settings on first use."""
    global _hub
    if _hub is None:
        freeze_startup_objects()
        _hub = new_hub()
    return _hub


def new_hub() -> Hub:
    """An empty room with the settings' limits and log level (the shared one, or a named one)."""
    limits = Limits(
        users=settings.CHAT_MAX_USERS,
        messages=settings.CHAT_MAX_MESSAGES,
        stored_chars=settings.CHAT_MAX_STORED_CHARS,
        dialog_chars=settings.CHAT_MAX_DIALOG_CHARS,
    )
    room = ChatRoom(
        max_frame_bytes=settings.CHAT_MAX_FRAME_BYTES,
        max_json_depth=settings.CHAT_MAX_JSON_DEPTH,
        limits=limits,
    )
    return Hub(
        room,
        max_queue_bytes=settings.CHAT_MAX_QUEUE_BYTES,
        log=settings.CHAT_LOG,
        log_chars=settings.CHAT_LOG_FRAME_CHARS,
    )


def reset_hub() -> None:
    """Start from an empty shared room (tests; a restart does the same)."""
    global _hub
    _hub = None
