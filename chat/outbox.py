"""Per-connection outgoing frames: written in the core's order, bounded in memory.

The core decides every frame of a request before any is written, so the transport must
write them in that order without letting one slow peer stall the others. An ASGI
`send` usually completes at once; under uvicorn it waits (before writing) while the
peer's socket buffer is full. So each frame is first tried inline, and once a send has
to wait, later frames for that peer queue behind it and a writer task finishes them.
A peer whose queue passes `max_bytes` is a client that does not read: it is dropped. The
queue counts every frame not yet handed to the socket, the one a waiting send holds too.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# A coroutine function, not any awaitable: start_eagerly drives what it returns by hand.
AsgiSend = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


DONE = object()  # start_eagerly's answer when the coroutine ran to its end


class Write(Protocol):
    """A transport's direct write of whole frames (chat.consumers.DirectWriter)."""

    def __call__(self, frame: bytes) -> bool:
        """Take the frame for writing, or False: not now, use the ASGI send."""

    def flush(self) -> None:
        """Write every frame taken so far, before anything else goes to the socket."""


def text_frame(text: str) -> bytes:
    """A server's WebSocket text frame: FIN, no mask, no extension (RFC 6455 §5.2).

    The same bytes the websockets library would write for `text` with no extension
    negotiated; built once per frame text, however many sockets it goes to.
    """
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + data
    return struct.pack("!BBQ", 0x81, 127, size) + data


def start_eagerly(coro: Coroutine[Any, Any, None]) -> Any:
    """Run `coro` until it first suspends; DONE if it finished (the usual case).

    Python 3.12's eager tasks do this; on 3.11 it avoids a task per frame. If it
    suspends, the caller must finish it with `finish(coro, <what this returned>)`:
    a future, or None for a bare yield.
    """
    try:
        return coro.send(None)
    except StopIteration:
        return DONE


async def finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drive a coroutine started by `start_eagerly` to its end, as a Task would."""
    while True:
        try:
            if waiting is None:  # a bare yield, as in asyncio.sleep(0)
                await asyncio.sleep(0)
            else:
                # The future comes marked as handed to a Task; a Task clears the mark
                # before waiting on it, and so must we: awaiting a marked pending future
                # raises "await wasn't used with future", and the frames were lost.
                waiting._asyncio_future_blocking = False
                await waiting
        except BaseException as exc:  # hand the outcome back to the coroutine
            try:
                waiting = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


class Outbox:
    """The frames still to be written to one connection."""

    __slots__ = (
        "_abort",
        "_backlog",
        "_close",
        "_queue",
        "_send",
        "_writer",
        "closed",
        "direct",
        "max_bytes",
        "queued_bytes",
    )

    def __init__(
        self,
        send: AsgiSend,
        *,
        max_bytes: int,
        abort: Callable[[], None],
        backlog: Callable[[], int] | None = None,
        close: Callable[[], None] | None = None,
        write: Write | None = None,
    ) -> None:
        """`backlog` counts the bytes a transport holds whose send never waits (daphne);
        `close` closes with no status code where ASGI cannot say so (daphne sends 1000);
        `write` puts a ready-made frame on the socket when it can take it (uvicorn)."""
        self.direct = write
        self._send = send
        self._abort = abort
        self._backlog = backlog
        self._close = close
        self._queue: deque[dict[str, Any]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.closed = False

    def put_text(self, text: str) -> None:
        self.put({"type": "websocket.send", "text": text}, len(text))

    def put_frame(self, text: str, frame: bytes) -> None:
        """put_text, with `text` already framed: written at once when nothing is queued.

        The ASGI send does the same with more steps per frame (a coroutine, the event's
        dict, encoding and framing for each socket), which costs most of a fan-out.
        """
        if self._writer is None and not self.closed and self.direct(frame):  # type: ignore[misc]
            return
        self.put_text(text)

    def put_close(self) -> None:
        """Close as the reference's ws.close() does: no status code, so the peer sees 1005."""
        if self._close is not None and self._writer is None and not self.closed:
            self.closed = True
            self._close()
            return
        # uvicorn passes a None code through to an empty close frame.
        self.put({"type": "websocket.close", "code": None}, 0)

    def put(self, message: dict[str, Any], size: int) -> None:
        """Write now if nothing is pending, else queue; never waits."""
        if self.closed:
            return
        if self.direct is not None:
            self.direct.flush()  # frames it holds go first
        if message["type"] == "websocket.close":
            self.closed = True
        if self._writer is None:
            if self._backlog is not None and self._backlog() > self.max_bytes:
                # This transport buffers whatever it is given: a peer that left this much
                # unread is not reading, whatever the size of the frame just written.
                logger.warning(
                    "dropping a client that does not read: %d bytes buffered", self._backlog()
                )
                self.drop()
                return
            coro = self._send(message)
            try:
                waiting = start_eagerly(coro)
            except Exception:  # the peer is gone; its disconnect is on the way
                self.closed = True
                return
            if waiting is not DONE:
                # The waiting send holds this frame: it counts until written. A lone frame
                # never drops the peer; frames queued behind it may.
                self.queued_bytes += size
                self._writer = asyncio.ensure_future(self._drain(finish(coro, waiting), size))
            return
        self._queue.append(message)
        self.queued_bytes += size
        if self.queued_bytes > self.max_bytes:
            logger.warning(
                "dropping a client that does not read: %d bytes queued", self.queued_bytes
            )
            self.drop()

    def drop(self) -> None:
        """Forget queued frames and abort the socket (it cannot be closed politely)."""
        self.closed = True
        self._queue.clear()
        self.queued_bytes = 0
        self._abort()

    def _sent(self, size: int) -> None:
        """A frame left the queue; drop() may have zeroed the count while it waited."""
        self.queued_bytes = max(0, self.queued_bytes - size)

    async def _drain(self, first: Awaitable[None], first_size: int) -> None:
        try:
            await first
            self._sent(first_size)
            while self._queue:
                message = self._queue.popleft()
                await self._send(message)  # the frame counts while this send waits
                if message["type"] == "websocket.send":
                    self._sent(len(message["text"]))
        except Exception:  # a send to a closed peer; its disconnect cleans up
            self.closed = True
        finally:
            self._writer = None
