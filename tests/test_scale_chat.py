"""The chat on two real server processes sharing Redis: one world, as with one process.

Process A starts first and owns the shared world (chat.cluster); process B forwards its
sockets' frames to A. Clients on either see the same users and messages, with the
reference's rules: one connection per user, pushes before the reply, in order, nothing lost,
USER_EXTERNAL_LOGOUT when a socket closes anywhere, and no ghost users when a process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import websockets
from django.test import override_settings

from chat.cluster import cluster_rooms
from tests.chatclient import Client
from tests.scalekit import eventually, kill_hard, redis_client, redis_url, unique_prefix
from tests.servers import free_port, server_process

pytestmark = pytest.mark.live

LEASE_S = 1.0  # short, so a dead process is noticed within seconds


@dataclass
class Cluster:
    url: str
    prefix: str
    a: int
    b: int
    procs: dict

    def ws(self, port: int, path: str = "/") -> str:
        return f"ws://127.0.0.1:{port}{path}"

    def stats(self) -> list[dict[str, int]]:
        """What each process published last (chat.relay.Stats), per heartbeat."""
        with redis_client(self.url) as r:
            keys = list(r.scan_iter(f"{self.prefix}-chat:stats:*"))
            return [{k.decode(): int(v) for k, v in r.hgetall(key).items()} for key in keys]

    def owner(self, world: str = "shared") -> str | None:
        with redis_client(self.url) as r:
            holder = r.get(f"{self.prefix}-chat:lease:{world}")
        return holder.decode() if holder else None


@contextlib.contextmanager
def two_processes(**extra: str) -> Iterator[Cluster]:
    url = redis_url()
    prefix = unique_prefix("chatscale")
    env = {
        "REDIS_URL": url,
        "CHANNEL_LAYER_PREFIX": prefix,
        "CHAT_LEASE_SECONDS": str(LEASE_S),
        "CHAT_ROOMS": "true",
        "LOG": "NONE",
        **extra,
    }
    a, b = free_port(), free_port()
    cluster = Cluster(url, prefix, a, b, {})
    args = ["chatserver", "--host", "127.0.0.1", "--port"]
    with server_process([*args, str(a)], ports=[a], env=env) as proc_a:
        # A must hold the shared world before B starts, so that B is the forwarder.
        eventually(cluster.owner, 10, "process A owns the shared world")
        with server_process([*args, str(b)], ports=[b], env=env) as proc_b:
            cluster.procs = {"a": proc_a, "b": proc_b}
            yield cluster


@pytest.fixture(scope="module")
def pair() -> Iterator[Cluster]:
    # Two batches at most may wait for a process: every test here also runs through the
    # layer's back-pressure (ChannelFull), which must delay frames and never drop them.
    with two_processes(CHAT_LAYER_CAPACITY="2") as cluster:
        yield cluster


async def frames_until(client: Client, kind: str, timeout: float = 5) -> list[dict]:
    """Frames up to and including the first of type `kind`."""
    seen = []
    while True:
        frame = await client.frame(timeout)
        seen.append(frame)
        if frame["type"] == kind:
            return seen


async def logged_in(client: Client, login: str) -> dict:
    """The push that `login` logged in. The pair of processes is shared by this module's
    tests: an earlier test's users may still be logging out, their pushes crossing
    processes through Redis after this client logged in, so only those are skipped."""
    while True:
        frame = await client.frame()
        if frame["type"] == "USER_EXTERNAL_LOGIN" and frame["payload"]["user"]["login"] == login:
            return frame
        assert frame["type"] == "USER_EXTERNAL_LOGOUT", frame


async def active(client: Client) -> list[str]:
    await client.request("act", "USER_ACTIVE", None)
    frames = await frames_until(client, "USER_ACTIVE")
    return sorted(u["login"] for u in frames[-1]["payload"]["users"])


def run(coro) -> object:
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_clients_on_two_processes_see_one_world(pair):
    async def scenario() -> None:
        alice = await Client.open(pair.ws(pair.a))
        bob = await Client.open(pair.ws(pair.b))
        assert (await alice.login("w-alice"))["type"] == "USER_LOGIN"
        reply = await bob.login("w-bob")
        assert reply == {
            "id": "login-w-bob",
            "type": "USER_LOGIN",
            "payload": {"user": {"login": "w-bob", "isLogined": True}},
        }
        pushed = await logged_in(alice, "w-bob")
        assert pushed["id"] is None
        assert await active(bob) == ["w-alice", "w-bob"]

        message = {"message": {"to": "w-alice", "text": "hi from B"}}
        await bob.request("m1", "MSG_SEND", message)
        delivered = await alice.frame()
        assert delivered["type"] == "MSG_SEND" and delivered["id"] is None
        assert delivered["payload"]["message"]["text"] == "hi from B"
        assert delivered["payload"]["message"]["status"]["isDelivered"] is True
        replied = await bob.frame()
        assert replied["id"] == "m1"
        assert replied["payload"]["message"]["id"] == delivered["payload"]["message"]["id"]
        for client in (alice, bob):
            await client.close()

    run(scenario())


def test_a_user_logged_in_on_one_process_cannot_log_in_on_the_other(pair):
    async def scenario() -> None:
        first = await Client.open(pair.ws(pair.a))
        second = await Client.open(pair.ws(pair.b))
        assert (await first.login("w-once"))["type"] == "USER_LOGIN"
        refused = await second.login("w-once")
        assert refused == {
            "id": "login-w-once",
            "type": "ERROR",
            "payload": {"error": "a user with this login is already authorized"},
        }
        await first.close()
        await second.close()

    run(scenario())


def test_a_socket_closing_on_either_process_logs_its_user_out_for_the_others(pair):
    async def scenario() -> None:
        watcher_a = await Client.open(pair.ws(pair.a))
        watcher_b = await Client.open(pair.ws(pair.b))
        await watcher_a.login("w-watch-a")
        await watcher_b.login("w-watch-b")
        await logged_in(watcher_a, "w-watch-b")
        for port in (pair.a, pair.b):
            leaving = await Client.open(pair.ws(port))
            await leaving.login("w-leaving")
            for watcher in (watcher_a, watcher_b):
                assert (await watcher.frame())["type"] == "USER_EXTERNAL_LOGIN"
            await leaving.close()
            for watcher in (watcher_a, watcher_b):
                gone = await watcher.frame()
                assert gone["type"] == "USER_EXTERNAL_LOGOUT"
                assert gone["payload"]["user"] == {"login": "w-leaving", "isLogined": False}
            # The login is free again at once, from the other process.
        assert "w-leaving" not in await active(watcher_b)
        await watcher_a.close()
        await watcher_b.close()

    run(scenario())


def test_pipelined_messages_across_processes_arrive_once_and_in_order(pair):
    """Two senders, one per process, pipeline 300 messages each to a peer on the other."""
    count = 300

    async def scenario() -> None:
        on_a = await Client.open(pair.ws(pair.a))
        on_b = await Client.open(pair.ws(pair.b))
        await on_a.login("w-ord-a")
        await on_b.login("w-ord-b")
        await logged_in(on_a, "w-ord-b")

        async def blast(client: Client, me: str, to: str) -> None:
            for i in range(count):
                message = {"message": {"to": to, "text": f"{me} {i}"}}
                await client.request(f"{me}-{i}", "MSG_SEND", message)

        async def collect(client: Client, me: str) -> tuple[list[str], list[str]]:
            replies, pushes = [], []
            while len(replies) < count or len(pushes) < count:
                frame = await client.frame(30)
                assert frame["type"] == "MSG_SEND", frame
                if frame["id"] is None:
                    pushes.append(frame["payload"]["message"]["text"])
                else:
                    replies.append(frame["id"])
            return replies, pushes

        results = await asyncio.gather(
            blast(on_a, "a", "w-ord-b"),
            blast(on_b, "b", "w-ord-a"),
            collect(on_a, "a"),
            collect(on_b, "b"),
        )
        (a_replies, a_pushes), (b_replies, b_pushes) = results[2], results[3]
        assert a_replies == [f"a-{i}" for i in range(count)]
        assert b_replies == [f"b-{i}" for i in range(count)]
        assert a_pushes == [f"b {i}" for i in range(count)]
        assert b_pushes == [f"a {i}" for i in range(count)]

        await on_a.close()
        await on_b.close()

    run(scenario())


def test_a_burst_from_many_clients_on_both_processes_loses_nothing(pair):
    """20 clients, half on each process, each send 20 messages to every other at once."""
    per_process, each = 10, 20

    async def scenario() -> None:
        ports = [pair.a, pair.b] * per_process
        clients = [await Client.open(pair.ws(port)) for port in ports]
        logins = [f"w-burst-{i}" for i in range(len(clients))]
        for client, login in zip(clients, logins, strict=True):
            await client.login(login)
        expected = {login: 0 for login in logins}

        async def drain(client: Client, login: str) -> None:
            # Everyone else's logins, then the pushes and replies of the burst.
            while expected[login] < each * (len(clients) - 1) * 2:
                frame = await client.frame(30)
                if frame["type"] == "MSG_SEND":
                    expected[login] += 1

        async def burst(client: Client, login: str) -> None:
            for i in range(each):
                for peer in logins:
                    if peer != login:
                        payload = {"message": {"to": peer, "text": f"{login} {i}"}}
                        await client.request(f"{login}-{peer}-{i}", "MSG_SEND", payload)

        await asyncio.gather(
            *(drain(c, login) for c, login in zip(clients, logins, strict=True)),
            *(burst(c, login) for c, login in zip(clients, logins, strict=True)),
        )
        # Each client got one reply per message it sent and one push per message to it.
        assert set(expected.values()) == {each * (len(clients) - 1) * 2}
        await asyncio.sleep(3 * LEASE_S / 5)  # a heartbeat or two: the counters are published
        stats = pair.stats()
        assert len(stats) == 2
        assert sum(s["lost"] for s in stats) == 0
        assert sum(s["full_waits"] for s in stats) > 0  # the layer did push back
        for client in clients:
            await client.close()

    run(scenario())


def test_rooms_are_worlds_of_their_own_across_processes(pair):
    async def scenario() -> None:
        shared = await Client.open(pair.ws(pair.b))
        await shared.login("w-room-user", "shared-pw")
        one_a = await Client.open(pair.ws(pair.a, "/rooms/Grader-1"))
        one_b = await Client.open(pair.ws(pair.b, "/rooms/grader-1/anything"))
        # The same login as in the shared world, with another password: another world.
        assert (await one_a.login("w-room-user", "room-pw"))["type"] == "USER_LOGIN"
        assert (await one_b.login("w-room-peer"))["type"] == "USER_LOGIN"
        assert (await one_a.frame())["payload"]["user"]["login"] == "w-room-peer"
        assert await active(one_b) == ["w-room-peer", "w-room-user"]
        assert "w-room-peer" not in await active(shared)
        assert await shared.nothing(0.3)  # nothing of the room leaked into the shared world
        two = await Client.open(pair.ws(pair.a, "/rooms/two"))
        await two.login("w-room-peer", "yet-another-pw")
        assert await active(two) == ["w-room-peer"]
        # A console on any process lists the worlds the cluster holds.
        with override_settings(
            REDIS_URL=pair.url,
            CHAT_CLUSTER=True,
            CHANNEL_LAYERS={"chat": {"CONFIG": {"prefix": f"{pair.prefix}-chat"}}},
        ):
            assert cluster_rooms() == ["shared", "room.grader-1", "room.two"]
        for client in (shared, one_a, one_b, two):
            await client.close()

    run(scenario())


def test_a_malformed_room_name_is_refused_with_a_reason(pair):
    async def scenario() -> None:
        async with websockets.connect(pair.ws(pair.b, "/rooms/no%20spaces")) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosedError):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 4400
            assert "letters, digits" in ws.close_reason

    run(scenario())


def test_a_killed_forwarding_process_leaves_no_ghost_users():
    with two_processes() as cluster:

        async def scenario() -> None:
            alice = await Client.open(cluster.ws(cluster.a))
            await alice.login("k-alice")
            doomed = [await Client.open(cluster.ws(cluster.b)) for _ in range(3)]
            for i, client in enumerate(doomed):
                await client.login(f"k-doomed-{i}")
                await alice.frame()
            assert len(await active(alice)) == 4
            kill_hard(cluster.procs["b"])
            gone = []
            loop = asyncio.get_running_loop()
            started = loop.time()
            while len(gone) < 3:
                frame = await alice.frame(timeout=10)
                assert frame["type"] == "USER_EXTERNAL_LOGOUT"
                gone.append(frame["payload"]["user"]["login"])
            # Noticed within a few heartbeat periods (CHAT_LEASE_SECONDS).
            assert loop.time() - started < 3 * LEASE_S + 2
            assert sorted(gone) == ["k-doomed-0", "k-doomed-1", "k-doomed-2"]
            assert await active(alice) == ["k-alice"]
            await alice.close()

        run(scenario())


def test_when_the_owner_dies_the_others_close_their_sockets_and_a_new_owner_starts_afresh():
    with two_processes() as cluster:

        async def scenario() -> None:
            bob = await Client.open(cluster.ws(cluster.b))
            await bob.login("k-bob", "first-password")
            old_owner = cluster.owner()
            kill_hard(cluster.procs["a"])
            # As when the reference restarts: the socket is closed, and the client reconnects.
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(bob.ws.recv(), 3 * LEASE_S + 5)
            again = await Client.open(cluster.ws(cluster.b))
            # A fresh world: the old password is forgotten, nobody else is online.
            assert (await again.login("k-bob", "new-password"))["type"] == "USER_LOGIN"
            assert await active(again) == ["k-bob"]
            assert cluster.owner() not in (None, old_owner)
            await again.close()

        run(scenario())
