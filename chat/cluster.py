"""Chat across server processes: one owner process per world, the others forward to it.

Active in serving processes (`serve`, `chatserver`) when REDIS_URL is set and CHAT_CLUSTER is
on (its default then). Measured alternatives and figures: BENCHMARKS.md, "Scale-out".

- **Owner.** Each world (chat.worlds) has exactly one owner process, which holds its
  ChatWorld and Hub. It is elected with a Redis lease (SET NX PX), renewed every fifth of
  CHAT_LEASE_SECONDS. The owner's own sockets use the hub directly, as with one process.
  Requests are applied one at a time in arrival order, so one connection per user and atomic
  requests hold as in the reference (§9).
- **Forwarding.** Another process that gets a socket for that world keeps the socket and
  forwards its opening, frames and closing to the owner; the owner sends the resulting
  frames and closes back. Each process receives on one channel of its own,
  ``chat.proc.<process id>``, through the channel layer "chat" (channels_redis'
  RedisChannelLayer). Only ``send`` is used, never ``group_send``, which drops silently.
- **Batches, in order, never dropped.** Everything for one destination process waiting in
  one event-loop turn travels as one layer message; one send is in flight per destination,
  so batches arrive in order, and each request's frames keep the core's order per
  connection (pushes before the reply). A full channel (ChannelFull) is back-pressure: the
  sender waits and retries. Every batch carries a sequence number; a gap is counted and
  logged as a loss (none was seen in the benchmarks) and a retried duplicate is skipped.
- **Liveness.** Every process renews a heartbeat key. An owner that finds a peer's
  heartbeat gone closes that peer's connections in its worlds, so their users go offline
  for everyone (USER_EXTERNAL_LOGOUT). When an owner dies its lease runs out; the other
  processes see it and close their sockets in that world, and the next connection elects
  a new owner with an empty world: the same as restarting the reference, whose clients
  reconnect and log in again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings

from chat import worlds
from chat.hub import Hub
from chat.outbox import Outbox, Send, Write, text_frame
from chat.worlds import SHARED, WorldRefused
from courseware import serving

logger = logging.getLogger(__name__)

LAYER = "chat"  # the CHANNEL_LAYERS alias: its own prefix and capacity
OPEN, FRAME, CLOSE = 0, 1, 2  # forwarded operations
MAX_BATCH_ITEMS = 2000
MAX_BATCH_BYTES = 1 << 20  # a larger frame still travels, alone in its batch
UNAVAILABLE = 1013  # "try again later": Redis cannot be reached to find the world's owner

# Renew our lease on a world: extend it if it is ours, take it back if it lapsed unclaimed;
# 0 if another process holds it now.
RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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

    def __init__(self, cluster: Cluster, pid: str) -> None:
        self.cluster = cluster
        self.pid = pid
        self.channel = process_channel(pid)
        self.stream = secrets.token_hex(4)  # a new Sender restarts the sequence
        self.seq = 0
        self.up: list[list[Any]] = []  # to an owner: [code, world, socket id, frame]
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
                    "from": self.cluster.pid,
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
                    self.cluster.stats.full_waits += 1
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
        stats = self.cluster.stats
        delay = 0.01
        while not self.dead:
            try:
                await self.cluster.layer.send(self.channel, message)
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


class Proxy:
    """A world owned by another process, as this process's sockets see it (Hub's methods)."""

    def __init__(self, cluster: Cluster, world: str, owner: str) -> None:
        self.cluster = cluster
        self.world = world
        self.owner = owner
        self.sender = cluster.sender(owner)
        self.outboxes: dict[int, Outbox] = {}
        self.stale = False  # the owner died or stepped down: close and send elsewhere

    def admit(self) -> bool:
        return not self.stale

    def open(
        self,
        send: Send,
        abort: Callable[[], None],
        backlog: Callable[[], int] | None = None,
        close: Callable[[], None] | None = None,
        write: Write | None = None,
    ) -> int:
        sid = self.cluster.new_sid()
        outbox = Outbox(
            send,
            max_bytes=settings.CHAT_MAX_QUEUE_BYTES,
            abort=abort,
            backlog=backlog,
            close=close,
            write=write,
        )
        self.outboxes[sid] = self.cluster.sockets[sid] = outbox
        self.sender.forward([OPEN, self.world, sid, None])
        return sid

    def receive(self, sid: int, frame: str | bytes) -> None:
        self.sender.forward([FRAME, self.world, sid, frame])

    def close(self, sid: int) -> None:
        if self.outboxes.pop(sid, None) is None:
            return
        self.cluster.sockets.pop(sid, None)
        # Even when stale: an owner that is still alive must hear it, or the user stays
        # online there; a dead owner's sender drops it.
        self.sender.forward([CLOSE, self.world, sid, None])
        if not self.outboxes and self.cluster.proxies.get(self.world) is self:
            # Nobody here is in that world now: forget the proxy (rooms come and go), and
            # look the owner up again for the next socket.
            del self.cluster.proxies[self.world]

    def start_clear_interval(self, seconds: float) -> None:
        """The owner runs the world's CLEAR_INTERVAL."""

    def abandon(self) -> None:
        """The owner is gone: close our sockets; their clients reconnect to the new one."""
        self.stale = True
        for outbox in list(self.outboxes.values()):
            outbox.put_close()


class Cluster:
    """This process's membership: the worlds it owns, its proxies, senders and heartbeat."""

    def __init__(self) -> None:
        self.pid = secrets.token_hex(6)
        self.channel = process_channel(self.pid)
        self.layer = get_channel_layer(LAYER)
        config = settings.CHANNEL_LAYERS[LAYER]["CONFIG"]
        self.keys = config["prefix"]
        self.lease_ms = int(settings.CHAT_LEASE_SECONDS * 1000)
        self.stats = Stats()
        self.owned: dict[str, Hub] = {}
        self.proxies: dict[str, Proxy] = {}
        self.senders: dict[str, Sender] = {}
        self.sockets: dict[int, Outbox] = {}  # this process's sockets in others' worlds
        # On the owner: (process, socket id) -> (hub, conn) for the sockets of others.
        self.remote: dict[str, dict[int, tuple[Hub, Any]]] = {}
        self.streams: dict[tuple[str, str], int] = {}  # last sequence number seen
        self.on_own: list[Callable[[str, Hub], None]] = []  # e.g. the console's listener
        self.on_lose: list[Callable[[str, Hub], None]] = []
        self._sid = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.redis: Any = None

    # -- keys -------------------------------------------------------------------------------

    def lease_key(self, world: str) -> str:
        return f"{self.keys}:lease:{world}"

    def alive_key(self, pid: str) -> str:
        return f"{self.keys}:alive:{pid}"

    def stats_key(self, pid: str) -> str:
        """Where a process publishes its Stats each heartbeat, for benchmarks and tests."""
        return f"{self.keys}:stats:{pid}"

    # -- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        loop = asyncio.get_running_loop()
        # Added to, not replaced: the start task itself is held here too (the loop keeps
        # only weak references to tasks).
        self._tasks += [
            loop.create_task(self._receive_forever(), name="chat-cluster-receive"),
            loop.create_task(self._beat_forever(), name="chat-cluster-heartbeat"),
        ]
        while True:
            try:
                await self.redis.set(self.alive_key(self.pid), 1, px=self.lease_ms)
                break
            except Exception:
                logger.warning("chat cluster: Redis unavailable; retrying", exc_info=True)
                await asyncio.sleep(1)
        self._ready.set()
        # Given up at a graceful stop; a killed process's run out (CHAT_LEASE_SECONDS).
        serving.at_stop(self.release)
        worlds._on_forget.append(self.forget_world)
        # Be ready to own the shared world, so a console finds someone to talk to.
        with contextlib.suppress(WorldRefused):
            await self.seat(SHARED)
        logger.info("chat cluster: process %s started", self.pid)

    def release(self) -> None:
        """At a graceful stop: give up our leases and heartbeat, so nobody waits them out."""
        import redis

        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
            for world in self.owned:
                client.eval(RELEASE, 1, self.lease_key(world), self.pid)
            client.delete(self.alive_key(self.pid))
        except Exception:
            logger.warning("chat cluster: could not release leases at exit", exc_info=True)
        logger.info("chat cluster: process %s stopped, %s", self.pid, self.stats.as_dict())

    # -- seats ------------------------------------------------------------------------------

    async def seat(self, world: str) -> Hub | Proxy:
        """The world's hub if we own it (electing ourselves if nobody does), else a proxy."""
        found = self._seated(world)
        if found is not None:
            return found
        lock = self._locks.setdefault(world, asyncio.Lock())
        async with lock:
            found = self._seated(world)
            if found is not None:
                return found
            try:  # Redis unreachable since start-up: refuse rather than hang the handshake
                await asyncio.wait_for(self._ready.wait(), 10)
            except TimeoutError:
                raise WorldRefused(UNAVAILABLE, "the chat server cannot reach Redis") from None
            owner = await self._claim(world)
            if owner == self.pid:
                return self._own(world)
            proxy = self.proxies[world] = Proxy(self, world, owner)
            return proxy

    def _seated(self, world: str) -> Hub | Proxy | None:
        hub = self.owned.get(world)
        if hub is not None:
            return hub
        proxy = self.proxies.get(world)
        if proxy is not None and not proxy.stale:
            return proxy
        return None

    async def _claim(self, world: str) -> str:
        key = self.lease_key(world)
        try:
            for _ in range(5):
                if await self.redis.set(key, self.pid, nx=True, px=self.lease_ms):
                    return self.pid
                owner = await self.redis.get(key)
                if owner is None:
                    continue  # it lapsed just now: try to take it
                holder = owner.decode()
                if await self.redis.exists(self.alive_key(holder)):
                    return holder
                # Its holder stopped beating (killed): free the world now rather than
                # forward to the dead until the lease runs out.
                await self.redis.eval(RELEASE, 1, key, holder)
        except Exception:
            logger.warning("chat cluster: cannot reach Redis to seat a socket", exc_info=True)
        raise WorldRefused(UNAVAILABLE, "the chat server cannot reach its other processes")

    def _own(self, world: str) -> Hub:
        worlds.forget(world)  # whatever we held of it before is stale: start empty
        hub = worlds.get_hub(world)
        self.owned[world] = hub
        hub.start_clear_interval(settings.CHAT_CLEAR_INTERVAL)
        logger.info("chat cluster: process %s owns world %s", self.pid, world)
        for listener in self.on_own:
            listener(world, hub)
        return hub

    def _step_down(self, world: str) -> None:
        """Another process holds our world now: close every socket in it and forget it."""
        hub = self.owned.pop(world, None)
        if hub is None:
            return
        logger.warning("chat cluster: process %s lost world %s", self.pid, world)
        hub.clear()  # closes our sockets and, through their senders, the others'
        self._drop_entries(hub)
        worlds.forget(world)
        for listener in self.on_lose:
            listener(world, hub)

    def forget_world(self, world: str) -> None:
        """chat.worlds forgot an idle room: let another process start it afresh."""
        hub = self.owned.pop(world, None)
        if hub is None:
            return
        self._drop_entries(hub)
        if self.redis is not None:
            task = asyncio.get_running_loop().create_task(
                self.redis.eval(RELEASE, 1, self.lease_key(world), self.pid)
            )
            self._tasks.append(task)
            task.add_done_callback(self._tasks.remove)
        for listener in self.on_lose:
            listener(world, hub)

    def _drop_entries(self, hub: Hub) -> None:
        for conns in self.remote.values():
            for sid in [sid for sid, (h, _) in conns.items() if h is hub]:
                del conns[sid]

    def new_sid(self) -> int:
        self._sid += 1
        return self._sid

    def sender(self, pid: str) -> Sender:
        sender = self.senders.get(pid)
        if sender is None or sender.dead:
            sender = self.senders[pid] = Sender(self, pid)
        return sender

    # -- receiving --------------------------------------------------------------------------

    async def _receive_forever(self) -> None:
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
        for code, world, sid, data in ops:
            if code == FRAME:
                entry = conns.get(sid)
                if entry is not None:
                    entry[0].receive(entry[1], data)
            elif code == OPEN:
                sender = sender or self.sender(pid)
                hub = self.owned.get(world)
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

    # -- liveness ---------------------------------------------------------------------------

    async def _beat_forever(self) -> None:
        period = settings.CHAT_LEASE_SECONDS / 5
        while True:
            await asyncio.sleep(period)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: nothing is decided until it answers again
                logger.warning("chat cluster: heartbeat failed", exc_info=True)

    async def beat(self) -> None:
        """Renew our heartbeat and leases; act on lost leases, dead owners and dead peers."""
        owned = list(self.owned)
        proxied = list(self.proxies)
        peers = sorted(set(self.remote) | set(self.senders))
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.alive_key(self.pid), 1, px=self.lease_ms)
        pipe.hset(self.stats_key(self.pid), mapping=self.stats.as_dict())
        pipe.expire(self.stats_key(self.pid), 60)
        for world in owned:
            pipe.eval(RENEW, 1, self.lease_key(world), self.pid, self.lease_ms)
        for world in proxied:
            pipe.get(self.lease_key(world))
        for pid in peers:
            pipe.exists(self.alive_key(pid))
        results = await pipe.execute()
        results = results[3:]
        for world, kept in zip(owned, results[: len(owned)], strict=True):
            if not kept:
                self._step_down(world)
        results = results[len(owned) :]
        for world, holder in zip(proxied, results[: len(proxied)], strict=True):
            proxy = self.proxies.get(world)
            if proxy is not None and (holder is None or holder.decode() != proxy.owner):
                proxy.abandon()
                if not proxy.outboxes:
                    del self.proxies[world]
        results = results[len(proxied) :]
        for pid, alive in zip(peers, results, strict=True):
            if not alive:
                self.peer_died(pid)

    def peer_died(self, pid: str) -> None:
        """A process stopped renewing its heartbeat: its sockets are gone for everyone."""
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
        for proxy in list(self.proxies.values()):
            if proxy.owner == pid:
                proxy.abandon()
        for stream in [s for s in self.streams if s[0] == pid]:
            del self.streams[stream]


_cluster: Cluster | None = None


def running() -> Cluster | None:
    """This process's cluster membership, if it joined one."""
    return _cluster


def start() -> None:
    """Join the cluster from the server's event loop; with REDIS_URL and CHAT_CLUSTER only."""
    global _cluster
    if _cluster is not None or not (settings.REDIS_URL and settings.CHAT_CLUSTER):
        return
    _cluster = Cluster()
    task = asyncio.get_running_loop().create_task(_cluster.start(), name="chat-cluster-start")
    _cluster._tasks.append(task)


def start_serving() -> None:
    """Called in a chat-serving process's event loop at start (`serve`, `chatserver`).

    With REDIS_URL and CHAT_CLUSTER it joins the cluster; the grader console's listener
    (chat.agent) then answers for each world while this process owns it.
    """
    start()
    from chat.agent import start_listening

    # In the cluster it listens for each world this process comes to own (on_own).
    start_listening()


def cluster_worlds() -> list[str]:
    """The worlds some process owns now, shared first: for a console on any process.

    Synchronous (a view may call it); reads the lease keys in Redis. Empty without the
    cluster, or when Redis cannot be reached.
    """
    if not (settings.REDIS_URL and settings.CHAT_CLUSTER):
        return []
    import redis

    prefix = settings.CHANNEL_LAYERS[LAYER]["CONFIG"]["prefix"] + ":lease:"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        found = {key.decode()[len(prefix) :] for key in client.scan_iter(f"{prefix}*", count=500)}
    except Exception:
        logger.warning("chat cluster: cannot list the worlds", exc_info=True)
        return []
    keys = sorted(k for k in found if worlds.parse_world(k) is not None and k != SHARED)
    return ([SHARED] if SHARED in found else []) + keys
