"""The fun-chat consumer: moves frames between one socket and the process's chat hub."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from channels.consumer import AsyncConsumer
from django.conf import settings
from websockets.protocol import State
from websockets.server import ServerProtocol

from chat.cluster import seat_for
from chat.rooms import RoomRefused

_closing: set[asyncio.Future] = set()  # keeps fallback close tasks alive until done


def _protocol(send: Any) -> Any:
    """The server's protocol object behind an ASGI send, if we know how to find it.

    uvicorn's send is a bound method of its protocol, daphne's a partial over it.
    """
    return getattr(send, "__self__", None) or next(iter(getattr(send, "args", ())), None)


def transport_abort(send: Any) -> None:
    """Cut a socket that will not drain; ASGI has no message for that.

    Both servers' protocols hold the transport. Anything else gets a polite close.
    """
    transport = getattr(_protocol(send), "transport", None)
    for name in ("abort", "abortConnection"):
        if hasattr(transport, name):
            getattr(transport, name)()
            return
    _closing.add(task := asyncio.ensure_future(send({"type": "websocket.close"})))
    task.add_done_callback(_closing.discard)


def transport_backlog(send: Any) -> Callable[[], int] | None:
    """The bytes a Twisted transport (daphne) holds unwritten; None elsewhere.

    daphne's send never waits: Twisted buffers without limit, so only this count shows a
    client that does not read. uvicorn's send waits instead, and the Outbox's own queue
    shows it.
    """
    transport: Any = getattr(_protocol(send), "transport", None)  # Twisted's private parts
    if not hasattr(transport, "_tempDataLen"):
        return None

    def backlog() -> int:
        # What the last write left unsent, plus what was staged since; Twisted has no
        # public count. A full socket is never written again, so it all stays staged.
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return backlog


def transport_close(send: Any) -> Callable[[], None] | None:
    """daphne's close with no status code (it turns an ASGI close's None into 1000)."""
    protocol = _protocol(send)
    return getattr(protocol, "sendClose", None) if hasattr(protocol, "serverClose") else None


class DirectWriter:
    """Whole frames straight onto one uvicorn (websockets-sansio) socket, a turn at a time.

    Frames for the socket are kept until the end of the event loop's turn and then written
    with one call: under load a busy client gets several frames per system call instead
    of one each. It takes frames only while uvicorn's own send would write at once (the
    socket is open, no close was sent, the transport is under its high-water mark);
    otherwise it writes what it holds and says no, and the caller falls back to the ASGI
    send, which waits as uvicorn sees fit.
    """

    __slots__ = ("conn", "frames", "protocol", "transport", "writable")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.conn: ServerProtocol = protocol.conn
        self.writable: asyncio.Event = protocol.writable
        self.transport = protocol.transport
        self.frames: list[bytes] = []

    def __call__(self, frame: bytes) -> bool:
        if not self.writable.is_set():
            self.flush()
            return False
        if not self.frames:
            if not self.open():  # checked once a turn; flush() checks again before writing
                return False
            _turn.hold(self)
        self.frames.append(frame)
        return True

    def open(self) -> bool:
        protocol = self.protocol
        return (
            self.conn.state is State.OPEN and not protocol.close_sent and not protocol.disconnected
        )

    def flush(self) -> None:
        """Write the held frames now; a socket closed meanwhile drops them, as a send would."""
        if self.frames:
            frames, self.frames = self.frames, []
            if self.open():
                self.transport.writelines(frames)


class _Turn:
    """The DirectWriters holding frames, per event loop, flushed once the loop's turn is done.

    Kept per loop: a loop may stop before its flush runs (a test's loop, say), and frames
    held for it must not keep later loops from scheduling their own flush.
    """

    def __init__(self) -> None:
        self.holding: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[DirectWriter]] = (
            weakref.WeakKeyDictionary()
        )

    def hold(self, writer: DirectWriter) -> None:
        loop = asyncio.get_running_loop()
        writers = self.holding.get(loop)
        if writers is None:
            writers = self.holding[loop] = []
            loop.call_soon(self.flush, loop)
        writers.append(writer)

    def flush(self, loop: asyncio.AbstractEventLoop) -> None:
        for writer in self.holding.pop(loop, ()):
            writer.flush()


_turn = _Turn()


def transport_writer(send: Any) -> DirectWriter | None:
    """A DirectWriter for a uvicorn (websockets-sansio) socket without extensions; else None."""
    protocol = _protocol(send)
    conn = getattr(protocol, "conn", None)
    writable = getattr(protocol, "writable", None)
    if not (isinstance(conn, ServerProtocol) and isinstance(writable, asyncio.Event)):
        return None
    if conn.extensions:  # a negotiated permessage-deflate frames differently
        return None
    return DirectWriter(protocol)


def peer_of(scope: dict) -> dict[str, Any]:
    """What the handshake shows of a client: its address and port, Origin and User-Agent.

    The grader ties a reconnecting client that has not logged in yet to the browser it
    checks by these (grader.checks.recording); the chat itself never reads them.
    """
    client = scope.get("client") or (None, None)
    headers = dict(scope.get("headers") or ())
    return {
        "addr": client[0],
        "port": client[1],
        "origin": headers.get(b"origin", b"").decode("latin-1")[:200],
        "agent": headers.get(b"user-agent", b"").decode("latin-1")[:300],
    }


class ChatConsumer(AsyncConsumer):
    """No database, no channel layer: every frame is handled in this process."""

    channel_layer_alias = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # A direct loop instead of Channels' dispatcher: that one starts a task and hops to
        # the database thread for every event, which costs most of the chat's throughput.
        self.scope = scope
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            # The path's room (chat.rooms): held here, or by another process (chat.cluster).
            hub = await seat_for(scope)
        except RoomRefused as refused:  # a malformed room name, say: tell the client why
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": refused.code, "reason": refused.reason})
            return
        peer = peer_of(scope)
        if not hub.admit(peer):  # the grader console simulates the server being down
            await send({"type": "websocket.close"})
            return
        # ws picks the client's first subprotocol when the server names none; browsers
        # fail a handshake that asked for one and got none back.
        offered = scope.get("subprotocols") or []
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        conn = hub.open(
            send,
            abort=lambda: transport_abort(send),
            backlog=transport_backlog(send),
            close=transport_close(send),
            write=transport_writer(send),
            peer=peer,
        )
        hub.start_clear_interval(settings.CHAT_CLEAR_INTERVAL)
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    break
                text = message.get("text")
                hub.receive(conn, text if text is not None else message.get("bytes") or b"")
        finally:
            hub.close(conn)
