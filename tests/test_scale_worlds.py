"""Chat worlds in one process: which path reaches which world, rooms kept apart and reaped."""

from __future__ import annotations

import json
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from chat import rooms
from chat.rooms import SHARED, RoomRefused
from courseware.asgi import application


@pytest.fixture(autouse=True)
def fresh_worlds(settings):
    settings.CHAT_ROOMS = True
    rooms.reset()
    yield
    rooms.reset()


class ChatClient(WebsocketCommunicator):
    def __init__(self, path: str) -> None:
        super().__init__(application, path)
        self.scope["server"] = ("127.0.0.1", settings.CHAT_PORT)

    async def login(self, name: str, password: str = "pw") -> dict:
        user = {"login": name, "password": password}
        await self.send_to(
            text_data=json.dumps({"id": "l", "type": "USER_LOGIN", "payload": {"user": user}})
        )
        return json.loads(await self.receive_from(timeout=2))

    async def active(self) -> list[str]:
        await self.send_to(
            text_data=json.dumps({"id": "a", "type": "USER_ACTIVE", "payload": None})
        )
        while True:
            frame = json.loads(await self.receive_from(timeout=2))
            if frame["type"] == "USER_ACTIVE":
                return sorted(u["login"] for u in frame["payload"]["users"])


async def connected(path: str) -> ChatClient:
    client = ChatClient(path)
    ok, _ = await client.connect()
    assert ok
    return client


@pytest.mark.parametrize(
    ("path", "world"),
    [
        ("/", SHARED),
        ("/ws", SHARED),
        ("/rooms", SHARED),
        ("/roomsx/a", SHARED),
        ("/rooms/Grader-7", "room.grader-7"),
        ("/rooms/grader-7/", "room.grader-7"),
        ("/rooms/a_b/anything/else", "room.a_b"),
    ],
)
def test_a_path_selects_its_world(path, world):
    assert rooms.room_of_path(path) == world


@pytest.mark.parametrize(
    "path", ["/rooms/", "/rooms/caf\u00e9", "/rooms/a b", "/rooms/" + "x" * 41]
)
def test_a_malformed_room_name_is_refused_with_a_reason(path):
    with pytest.raises(RoomRefused) as refused:
        rooms.room_of_path(path)
    assert refused.value.code == 4400 and "letters, digits" in refused.value.reason


def test_without_chat_rooms_every_path_is_the_shared_world(settings):
    settings.CHAT_ROOMS = False
    assert rooms.room_of_path("/rooms/grader-7") == SHARED
    assert rooms.room_of_path("/rooms/caf\u00e9") == SHARED


def test_only_checked_world_keys_come_back_from_untrusted_input():
    assert rooms.parse_room("shared") == SHARED
    assert rooms.parse_room("room.grader-7") == "room.grader-7"
    for bad in ("room.Grader", "room.", "room.a b", "chat.control", None, 7, "room." + "x" * 41):
        assert rooms.parse_room(bad) is None


async def test_a_room_is_a_world_of_its_own_and_the_shared_world_is_untouched():
    shared = await connected("/")
    room = await connected("/rooms/one")
    other = await connected("/rooms/two")
    assert (await shared.login("ann", "shared-password"))["type"] == "USER_LOGIN"
    # Same login, another password: in another world it is another user.
    assert (await room.login("ann", "room-password"))["type"] == "USER_LOGIN"
    assert (await other.login("bob"))["type"] == "USER_LOGIN"
    assert await shared.active() == ["ann"]
    assert await room.active() == ["ann"]
    assert await other.active() == ["bob"]
    assert await shared.receive_nothing(0.1)  # no presence push crossed worlds
    listed = {w.key: (w.label, w.connections, w.online) for w in rooms.list_rooms()}
    assert listed == {
        "shared": ("/", 1, 1),
        "room.one": ("/rooms/one", 1, 1),
        "room.two": ("/rooms/two", 1, 1),
    }
    for client in (shared, room, other):
        await client.disconnect()


async def test_a_malformed_room_path_gets_a_close_code_and_reason():
    client = ChatClient("/rooms/no!")
    ok, _ = await client.connect()
    assert ok  # accepted, so that the client can read why it is closed
    closed = await client.receive_output(timeout=2)
    assert closed == {
        "type": "websocket.close",
        "code": 4400,
        "reason": "room names are 1 to 40 letters, digits, - or _",
    }


async def test_idle_rooms_are_forgotten_and_busy_ones_kept(settings):
    settings.CHAT_ROOM_IDLE_SECONDS = 60
    busy = await connected("/rooms/busy")
    idle = await connected("/rooms/idle")
    await idle.login("gone")
    await idle.disconnect()
    now = time.monotonic()
    assert rooms.reap(now=now + 30) == []
    assert rooms.reap(now=now + 61) == ["room.idle"]
    assert [w.key for w in rooms.list_rooms()] == ["room.busy"]
    # A new socket in the forgotten room starts it empty: the old user is unknown.
    again = await connected("/rooms/idle")
    assert (await again.login("gone", "another-password"))["type"] == "USER_LOGIN"
    for client in (busy, again):
        await client.disconnect()


async def test_beyond_the_room_limit_a_new_room_is_refused_and_old_ones_keep_working(settings):
    settings.CHAT_MAX_ROOMS = 2
    first = await connected("/rooms/a")
    second = await connected("/rooms/b")
    third = ChatClient("/rooms/c")
    assert (await third.connect())[0]
    closed = await third.receive_output(timeout=2)
    assert closed["code"] == 4429 and "too many rooms" in closed["reason"]
    assert (await first.login("still-here"))["type"] == "USER_LOGIN"
    for client in (first, second):
        await client.disconnect()
