"""How chat processes pass sockets' frames to each other (the transport of chat.cluster).

Each process receives on one channel of its own, ``chat.proc.<process id>``, through the
channel layer "chat" (channels_redis' RedisChannelLayer). Only ``send`` is used, never
``group_send``, which drops silently.

- **Up** (to a room's owner): a socket held here opened, sent a frame, or closed.
- **Down** (from the owner): the frames and closes the room decided for those sockets.

Everything for one destination process waiting in one event-loop turn travels as one layer
message; one send is in flight per destination, so batches arrive in order, and each
request's frames keep the core's order per connection (pushes before the reply). A full
channel (ChannelFull) is back-pressure: the sender waits and retries. Every batch carries a
sequence number; a gap is counted and logged as a loss (none was seen in the benchmarks)
and a retried duplicate is skipped. Which process owns a room is chat.cluster's business.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from channels.exceptions import ChannelFull

from chat.hub import Hub
from chat.outbox import Outbox, text_frame

logger = logging.getLogger("chat.cluster")  # one logger for the whole scale-out

OPEN, FRAME, CLOSE = 0, 1, 2  # forwarded operations
MAX_BATCH_ITEMS = 2000
MAX_BATCH_BYTES = 1 << 20  # a larger frame still travels, alone in its batch


def process_channel(pid: str) -> str:
    return f"chat.proc.{pid}"


class Stats:
    """Counters of this process's part in the cluster (logged at exit, read by tests)."""

    def __init__(self) -> None:
        self.batches_sent = 0
        self.batches_received = 0
        self.full_waits = 0  # ChannelFull: the destination was slow; we waited and retried
        self.send_errors = 0
        self.lost = 0  # batches missing from a sequence: must stay 0
        self.duplicates = 0
        self.dead_peers = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Sender:
    """Everything for one other process: sent in order, one layer message per loop turn."""

    def __init__(self, relay: Relay, pid: str) -> None:
        self.relay = relay
        self.pid = pid
        self.channel = process_channel(pid)
        self.stream = secrets.token_hex(4)  # a new Sender restarts the sequence
        self.seq = 0
        self.up: list[list[Any]] = []  # to an owner: [code, room, socket id, frame]
        self.down: list[list[Any]] = []  # from an owner: [text or None (close), [socket ids]]
        self.task: asyncio.Task | None = None
        self.dead = False

    def forward(self, op: list[Any]) -> None:
        if not self.dead:
            self.up.append(op)
            if self.task is None:
                self._wake()

    def push(self, text: str | None, sid: int) -> None:
        if self.dead:
            return
        down = self.down
        # A fan-out repeats one text object: it travels once with all its sockets.
        if down and down[-1][0] is text:
            down[-1][1].append(sid)
        else:
            down.append([text, [sid]])
        if self.task is None:
            self._wake()

    def _wake(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        delay = 0.0005
        try:
            while (self.up or self.down) and not self.dead:
                up, self.up = _cut(self.up, 3)
                down, self.down = _cut(self.down, 0)
                message = {
                    "type": "chat.batch",
                    "from": self.relay.pid,
                    "stream": self.stream,
                    "seq": self.seq + 1,
                    "up": up,
                    "down": down,
                }
                try:
                    await self._send(message)
                except ChannelFull:
                    # Not written: the destination is behind. Put the batch back in front
                    # and wait, so that the next one carries more (back-pressure).
                    self.relay.stats.full_waits += 1
                    self.up[:0] = up
                    self.down[:0] = down
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.005)
                    continue
                self.seq += 1
                delay = 0.0005
        finally:
            self.task = None
            if (self.up or self.down) and not self.dead:
                self._wake()

    async def _send(self, message: dict[str, Any]) -> None:
        """Send, retrying the very same message while Redis fails; ChannelFull is raised.

        A failure may come after Redis stored the message: the retry is then a duplicate
        with the same sequence number, which the receiver skips.
        """
        stats = self.relay.stats
        delay = 0.01
        while not self.dead:
            try:
                await self.relay.layer.send(self.channel, message)
                stats.batches_sent += 1
                return
            except (ChannelFull, asyncio.CancelledError):
                raise
            except Exception:  # Redis away: keep the batch and try again
                stats.send_errors += 1
                if stats.send_errors % 100 == 1:
                    logger.warning("chat cluster: cannot send to %s", self.pid, exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


def _cut(items: list[list[Any]], text_at: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """The first items, up to MAX_BATCH_ITEMS and about MAX_BATCH_BYTES; and the rest."""
    if len(items) <= 64:  # the usual case: small and cheap to send whole
        return items, []
    size = 0
    for index, item in enumerate(items):
        data = item[text_at]
        size += len(data) if data is not None else 0
        if index and (index >= MAX_BATCH_ITEMS or size > MAX_BATCH_BYTES):
            return items[:index], items[index:]
    return items, []


class RemoteOutbox:
    """On the owner: the Outbox of a socket held by another process."""

    __slots__ = ("closed", "sender", "sid")
    direct = None  # Hub.deliver: pass text, not ready-made frames

    def __init__(self, sender: Sender, sid: int) -> None:
        self.sender = sender
        self.sid = sid
        self.closed = False

    def put_text(self, text: str) -> None:
        if not self.closed:
            self.sender.push(text, self.sid)

    def put_close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sender.push(None, self.sid)


class Relay:
    """This process's end of the transport: its senders, and what arrives on its channel.

    `owned` looks up the hub of a room this process owns (None if it owns no such room).
    """

    def __init__(self, layer: Any, owned: Callable[[str], Hub | None]) -> None:
        self.pid = secrets.token_hex(6)
        self.channel = process_channel(self.pid)
        self.layer = layer
        self.owned = owned
        self.stats = Stats()
        self.senders: dict[str, Sender] = {}
        self.sockets: dict[int, Outbox] = {}  # this process's sockets in others' rooms
        # On the owner: (process, socket id) -> (hub, conn) for the sockets of others.
        self.remote: dict[str, dict[int, tuple[Hub, Any]]] = {}
        self.streams: dict[tuple[str, str], int] = {}  # last sequence number seen
        self._sid = 0

    def new_sid(self) -> int:
        self._sid += 1
        return self._sid

    def sender(self, pid: str) -> Sender:
        sender = self.senders.get(pid)
        if sender is None or sender.dead:
            sender = self.senders[pid] = Sender(self, pid)
        return sender

    def peers(self) -> list[str]:
        """The processes we send to or hold sockets for: the ones whose liveness matters."""
        return sorted(set(self.remote) | set(self.senders))

    def drop_entries(self, hub: Hub) -> None:
        """Forget the other processes' sockets in a room we no longer own."""
        for conns in self.remote.values():
            for sid in [sid for sid, (h, _) in conns.items() if h is hub]:
                del conns[sid]

    def peer_gone(self, pid: str) -> None:
        """A process died: its sockets leave our rooms, and nothing more is sent to it."""
        self.stats.dead_peers += 1
        conns = self.remote.pop(pid, {})
        if conns:
            logger.warning(
                "chat cluster: process %s is gone; closing its %d connection(s)", pid, len(conns)
            )
        for hub, conn in conns.values():
            hub.close(conn)
        sender = self.senders.pop(pid, None)
        if sender is not None:
            sender.dead = True
        for stream in [s for s in self.streams if s[0] == pid]:
            del self.streams[stream]

    # -- receiving --------------------------------------------------------------------------

    async def receive_forever(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("chat cluster: cannot receive; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            try:
                self.dispatch(message)
            except Exception:
                logger.exception("chat cluster: a batch failed")

    def dispatch(self, message: dict[str, Any]) -> None:
        """Apply one batch from another process: its forwarded frames, then ours to write."""
        pid = message["from"]
        stream = (pid, message["stream"])
        seq = message["seq"]
        last = self.streams.get(stream, 0)
        if seq <= last:
            self.stats.duplicates += 1
            return
        if seq != last + 1:
            self.stats.lost += seq - last - 1
            logger.error("chat cluster: %d batch(es) from %s lost", seq - last - 1, pid)
        self.streams[stream] = seq
        self.stats.batches_received += 1
        if message["up"]:
            self._apply(pid, message["up"])
        if message["down"]:
            self._write(message["down"])

    def _apply(self, pid: str, ops: list[list[Any]]) -> None:
        """As the owner: the other process's sockets open, send and close, in order."""
        conns = self.remote.setdefault(pid, {})
        sender: Sender | None = None
        for code, room, sid, data in ops:
            if code == FRAME:
                entry = conns.get(sid)
                if entry is not None:
                    entry[0].receive(entry[1], data)
            elif code == OPEN:
                sender = sender or self.sender(pid)
                hub = self.owned(room)
                if hub is None or not hub.admit():
                    sender.push(None, sid)  # not ours (any more), or a simulated outage
                    continue
                conns[sid] = (hub, hub.attach(RemoteOutbox(sender, sid)))
            else:
                entry = conns.pop(sid, None)
                if entry is not None:
                    entry[0].close(entry[1])

    def _write(self, items: list[list[Any]]) -> None:
        """As a forwarder: what the owner decided for our sockets, in its order."""
        sockets = self.sockets
        for text, sids in items:
            if text is None:
                for sid in sids:
                    outbox = sockets.get(sid)
                    if outbox is not None:
                        outbox.put_close()
                continue
            frame = None
            for sid in sids:
                outbox = sockets.get(sid)
                if outbox is None:
                    continue
                if outbox.direct is None:
                    outbox.put_text(text)
                else:
                    if frame is None:
                        frame = text_frame(text)
                    outbox.put_frame(text, frame)
