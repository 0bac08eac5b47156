"""Chat across server processes: one owner process per room, the others forward to it.

Active in serving processes (`serve`, `chatserver`) when REDIS_URL is set and CHAT_CLUSTER is
on (its default then). Measured alternatives and figures: BENCHMARKS.md, "Scale-out". This
module decides who owns what; chat.relay carries the frames between processes.

- **Owner.** Each room (chat.rooms) has exactly one owner process, which holds its
  ChatRoom and Hub. It is elected with a Redis lease (SET NX PX), renewed every fifth of
  CHAT_LEASE_SECONDS. The owner's own sockets use the hub directly, as with one process.
  Requests are applied one at a time in arrival order, so one connection per user and atomic
  requests hold as in the reference (§9).
- **Forwarding.** Another process that gets a socket for that room keeps the socket and
  forwards its opening, frames and closing to the owner (a Proxy, through chat.relay); the
  owner sends the resulting frames and closes back, in order and never dropped.
- **Liveness.** Every process renews a heartbeat key. An owner that finds a peer's
  heartbeat gone closes that peer's connections in its rooms, so their users go offline
  for everyone (USER_EXTERNAL_LOGOUT). When an owner dies its lease runs out; the other
  processes see it and close their sockets in that room, and the next connection elects
  a new owner with an empty room: the same as restarting the reference, whose clients
  reconnect and log in again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from chat import hooks, rooms
from chat.hub import Hub
from chat.outbox import AsgiSend, Outbox, Write
from chat.relay import CLOSE, FRAME, OPEN, Relay
from chat.rooms import SHARED, RoomRefused
from courseware import serving

logger = logging.getLogger(__name__)

LAYER = "chat"  # the CHANNEL_LAYERS alias: its own prefix and capacity
UNAVAILABLE = 1013  # "try again later": Redis cannot be reached to find the room's owner

# Renew our lease on a room: extend it if it is ours, take it back if it lapsed unclaimed;
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


class Proxy:
    """A room owned by another process, as this process's sockets see it (Hub's methods)."""

    def __init__(self, cluster: Cluster, room: str, owner: str) -> None:
        self.cluster = cluster
        self.key = room
        self.owner = owner
        self.sender = cluster.relay.sender(owner)
        self.outboxes: dict[int, Outbox] = {}
        self.stale = False  # the owner died or stepped down: close and send elsewhere

    def admit(self, peer: dict[str, Any] | None = None) -> bool:
        return not self.stale

    def open(
        self,
        send: AsgiSend,
        abort: Callable[[], None],
        backlog: Callable[[], int] | None = None,
        close: Callable[[], None] | None = None,
        write: Write | None = None,
        peer: dict[str, Any] | None = None,  # not forwarded: the owner records no handshake
    ) -> int:
        sid = self.cluster.relay.new_sid()
        outbox = Outbox(
            send,
            max_bytes=settings.CHAT_MAX_QUEUE_BYTES,
            abort=abort,
            backlog=backlog,
            close=close,
            write=write,
        )
        self.outboxes[sid] = self.cluster.relay.sockets[sid] = outbox
        self.sender.forward([OPEN, self.key, sid, None])
        return sid

    def receive(self, sid: int, frame: str | bytes) -> None:
        self.sender.forward([FRAME, self.key, sid, frame])

    def close(self, sid: int) -> None:
        if self.outboxes.pop(sid, None) is None:
            return
        self.cluster.relay.sockets.pop(sid, None)
        # Even when stale: an owner that is still alive must hear it, or the user stays
        # online there; a dead owner's sender drops it.
        self.sender.forward([CLOSE, self.key, sid, None])
        if not self.outboxes and self.cluster.proxies.get(self.key) is self:
            # Nobody here is in that room now: forget the proxy (rooms come and go), and
            # look the owner up again for the next socket.
            del self.cluster.proxies[self.key]

    def start_clear_interval(self, seconds: float) -> None:
        """The owner runs the room's CLEAR_INTERVAL."""

    def abandon(self) -> None:
        """The owner is gone: close our sockets; their clients reconnect to the new one."""
        self.stale = True
        for outbox in list(self.outboxes.values()):
            outbox.put_close()


class Cluster:
    """This process's membership: the rooms it owns, its proxies, its relay and heartbeat."""

    def __init__(self) -> None:
        self.owned: dict[str, Hub] = {}
        self.relay = Relay(get_channel_layer(LAYER), self.owned.get)
        self.pid = self.relay.pid
        config = settings.CHANNEL_LAYERS[LAYER]["CONFIG"]
        self.keys = config["prefix"]
        self.lease_ms = int(settings.CHAT_LEASE_SECONDS * 1000)
        self.stats = self.relay.stats
        self.proxies: dict[str, Proxy] = {}
        self.on_own: list[Callable[[str, Hub], None]] = []  # e.g. the console's listener
        self.on_lose: list[Callable[[str, Hub], None]] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.redis: Any = None

    # -- keys -------------------------------------------------------------------------------

    def lease_key(self, room: str) -> str:
        return f"{self.keys}:lease:{room}"

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
            loop.create_task(self.relay.receive_forever(), name="chat-cluster-receive"),
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
        rooms.on_forget.append(self.forget_room)
        # Be ready to own the shared room, so a console finds someone to talk to.
        with contextlib.suppress(RoomRefused):
            await self.seat(SHARED)
        logger.info("chat cluster: process %s started", self.pid)

    def release(self) -> None:
        """At a graceful stop: give up our leases and heartbeat, so nobody waits them out."""
        import redis

        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
            for room in self.owned:
                client.eval(RELEASE, 1, self.lease_key(room), self.pid)
            client.delete(self.alive_key(self.pid))
        except Exception:
            logger.warning("chat cluster: could not release leases at exit", exc_info=True)
        logger.info("chat cluster: process %s stopped, %s", self.pid, self.stats.as_dict())

    # -- seats ------------------------------------------------------------------------------

    async def seat(self, room: str) -> Hub | Proxy:
        """The room's hub if we own it (electing ourselves if nobody does), else a proxy."""
        found = self._seated(room)
        if found is not None:
            return found
        lock = self._locks.setdefault(room, asyncio.Lock())
        async with lock:
            found = self._seated(room)
            if found is not None:
                return found
            try:  # Redis unreachable since start-up: refuse rather than hang the handshake
                await asyncio.wait_for(self._ready.wait(), 10)
            except TimeoutError:
                raise RoomRefused(UNAVAILABLE, "the chat server cannot reach Redis") from None
            owner = await self._claim(room)
            if owner == self.pid:
                return self._own(room)
            proxy = self.proxies[room] = Proxy(self, room, owner)
            return proxy

    def _seated(self, room: str) -> Hub | Proxy | None:
        hub = self.owned.get(room)
        if hub is not None:
            return hub
        proxy = self.proxies.get(room)
        if proxy is not None and not proxy.stale:
            return proxy
        return None

    async def _claim(self, room: str) -> str:
        key = self.lease_key(room)
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
                # Its holder stopped beating (killed): free the room now rather than
                # forward to the dead until the lease runs out.
                await self.redis.eval(RELEASE, 1, key, holder)
        except Exception:
            logger.warning("chat cluster: cannot reach Redis to seat a socket", exc_info=True)
        raise RoomRefused(UNAVAILABLE, "the chat server cannot reach its other processes")

    def _own(self, room: str) -> Hub:
        rooms.forget(room)  # whatever we held of it before is stale: start empty
        hub = rooms.get_hub(room)
        self.owned[room] = hub
        hub.start_clear_interval(settings.CHAT_CLEAR_INTERVAL)
        logger.info("chat cluster: process %s owns room %s", self.pid, room)
        for listener in self.on_own:
            listener(room, hub)
        return hub

    def _step_down(self, room: str) -> None:
        """Another process holds our room now: close every socket in it and forget it."""
        hub = self.owned.pop(room, None)
        if hub is None:
            return
        logger.warning("chat cluster: process %s lost room %s", self.pid, room)
        hub.clear()  # closes our sockets and, through their senders, the others'
        self.relay.drop_entries(hub)
        rooms.forget(room)
        for listener in self.on_lose:
            listener(room, hub)

    def forget_room(self, room: str) -> None:
        """chat.rooms forgot an idle room: let another process start it afresh."""
        hub = self.owned.pop(room, None)
        if hub is None:
            return
        self.relay.drop_entries(hub)
        if self.redis is not None:
            task = asyncio.get_running_loop().create_task(
                self.redis.eval(RELEASE, 1, self.lease_key(room), self.pid)
            )
            self._tasks.append(task)
            task.add_done_callback(self._tasks.remove)
        for listener in self.on_lose:
            listener(room, hub)

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
        peers = self.relay.peers()
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.alive_key(self.pid), 1, px=self.lease_ms)
        pipe.hset(self.stats_key(self.pid), mapping=self.stats.as_dict())
        pipe.expire(self.stats_key(self.pid), 60)
        for room in owned:
            pipe.eval(RENEW, 1, self.lease_key(room), self.pid, self.lease_ms)
        for room in proxied:
            pipe.get(self.lease_key(room))
        for pid in peers:
            pipe.exists(self.alive_key(pid))
        results = await pipe.execute()
        results = results[3:]
        for room, kept in zip(owned, results[: len(owned)], strict=True):
            if not kept:
                self._step_down(room)
        results = results[len(owned) :]
        for room, holder in zip(proxied, results[: len(proxied)], strict=True):
            proxy = self.proxies.get(room)
            if proxy is not None and (holder is None or holder.decode() != proxy.owner):
                proxy.abandon()
                if not proxy.outboxes:
                    del self.proxies[room]
        results = results[len(proxied) :]
        for pid, alive in zip(peers, results, strict=True):
            if not alive:
                self.peer_died(pid)

    def peer_died(self, pid: str) -> None:
        """A process stopped renewing its heartbeat: its sockets are gone for everyone."""
        self.relay.peer_gone(pid)
        for proxy in list(self.proxies.values()):
            if proxy.owner == pid:
                proxy.abandon()


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

    With REDIS_URL and CHAT_CLUSTER it joins the cluster; then the serving hooks run
    (chat.hooks: the grader console's listener, which follows the rooms this process owns).
    """
    start()
    hooks.serving_started()


def cluster_rooms() -> list[str]:
    """The rooms some process owns now, shared first: for a console on any process.

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
        logger.warning("chat cluster: cannot list the rooms", exc_info=True)
        return []
    keys = sorted(k for k in found if rooms.parse_room(k) is not None and k != SHARED)
    return ([SHARED] if SHARED in found else []) + keys


async def seat_for(scope: dict) -> Hub | Proxy:
    """Where a new chat socket's frames go: its room's hub here, or a proxy to its owner."""
    room = rooms.room_of_path(scope.get("path") or "/")
    cluster = running()  # joined by serving processes only, with REDIS_URL
    if cluster is not None:
        return await cluster.seat(room)
    return rooms.get_hub(room)
