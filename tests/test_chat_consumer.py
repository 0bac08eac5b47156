"""The chat consumer through the full ASGI application, with Channels' communicator."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from chat.hub import get_hub, reset_hub
from courseware.asgi import application


class ChatClient(WebsocketCommunicator):
    """A communicator that arrives on the chat port, as a student's client does."""

    def __init__(self, path: str = "/") -> None:
        super().__init__(application, path)
        # The application routes by the port a connection arrived on; the coroutine has
        # not started yet, so it still sees this.
        self.scope["server"] = ("127.0.0.1", settings.CHAT_PORT)

    async def request(self, id_, type_, payload) -> None:
        await self.send_to(text_data=json.dumps({"id": id_, "type": type_, "payload": payload}))

    async def frame(self) -> dict:
        return json.loads(await self.receive_from(timeout=2))


@pytest.fixture(autouse=True)
def fresh_world():
    reset_hub()
    yield
    reset_hub()


async def connected(path: str = "/") -> ChatClient:
    client = ChatClient(path)
    ok, _ = await client.connect()
    assert ok
    return client


async def login(client: ChatClient, name: str) -> dict:
    await client.request(f"{name}-login", "USER_LOGIN", {"user": {"login": name, "password": "pw"}})
    return await client.frame()


async def test_any_path_on_the_chat_port_reaches_the_chat_without_an_origin_header():
    for path in ["/", "/ws", "/deep/path/?x=1"]:
        client = await connected(path)
        assert (await login(client, f"user{len(path)}"))["type"] == "USER_LOGIN"
        await client.disconnect()


async def test_two_users_exchange_a_message_with_the_push_before_the_reply():
    alice, bob = await connected(), await connected()
    assert await login(alice, "alice") == {
        "id": "alice-login",
        "type": "USER_LOGIN",
        "payload": {"user": {"login": "alice", "isLogined": True}},
    }
    await login(bob, "bob")
    assert (await alice.frame())["type"] == "USER_EXTERNAL_LOGIN"

    await alice.request("a-2", "MSG_SEND", {"message": {"to": "bob", "text": "hello bob"}})
    pushed, reply = await bob.frame(), await alice.frame()
    assert pushed["id"] is None and reply["id"] == "a-2"
    assert pushed["payload"] == reply["payload"]
    message = reply["payload"]["message"]
    assert list(message) == ["id", "from", "to", "text", "datetime", "status"]
    assert message["status"] == {"isDelivered": True, "isReaded": False, "isEdited": False}

    await alice.disconnect()
    assert await bob.frame() == {
        "id": None,
        "type": "USER_EXTERNAL_LOGOUT",
        "payload": {"user": {"login": "alice", "isLogined": False}},
    }
    await bob.disconnect()


async def test_bad_frames_get_an_error_and_the_connection_stays_open():
    client = await connected()
    for bad in ["not json", "null", "[]", '{"id":1}']:
        await client.send_to(text_data=bad)
        frame = await client.frame()
        assert frame["type"] == "ERROR"
        assert frame["payload"] == {"error": "incorrect request structure"}
    await client.send_to(bytes_data=b'{"id":"b","type":"USER_ACTIVE","payload":null}')
    assert (await client.frame())["payload"] == {
        "error": "the user was not authorized cannot be executed"
    }
    assert (await login(client, "still-here"))["type"] == "USER_LOGIN"
    await client.disconnect()


async def test_a_frame_over_the_size_limit_gets_an_error_not_a_closed_socket(settings):
    get_hub().room.max_frame_bytes = 1000
    client = await connected()
    big = json.dumps({"id": "big", "type": "USER_ACTIVE", "payload": {"pad": "x" * 2000}})
    await client.send_to(text_data=big)
    assert (await client.frame())["type"] == "ERROR"
    assert (await login(client, "after-big"))["type"] == "USER_LOGIN"
    await client.disconnect()


async def test_clear_closes_every_socket_and_forgets_users():
    alice, bob = await connected(), await connected()
    await login(alice, "alice")
    await login(bob, "bob")
    await alice.frame()  # bob's USER_EXTERNAL_LOGIN
    get_hub().clear()
    assert (await alice.receive_output(timeout=2))["type"] == "websocket.close"
    bob_frames = [await bob.receive_output(timeout=2) for _ in range(2)]
    assert bob_frames[-1]["type"] == "websocket.close"
    again = await connected()
    await again.request("x", "USER_LOGIN", {"user": {"login": "alice", "password": "other"}})
    assert (await again.frame())["type"] == "USER_LOGIN"  # a new user, new password
    await again.disconnect()


NASTY_FRAMES = [
    {"text": "\ud800"},  # a lone surrogate, which cannot even be encoded
    {"text": '{"id":"\\udfff","type":"X","payload":{}}'},
    {"bytes": b"\xff\xfe\x00"},
    {"bytes": b""},
    {"text": ""},
    {"text": "[" * 100_000},
    {"text": '{"id":"deep","type":"USER_ACTIVE","payload":' + "[" * 50_000 + "]" * 50_000 + "}"},
    {"text": '{"id":' + "9" * 5000 + ',"type":1}'},
    {"text": '{"id":1e400,"type":1}'},
    {"text": "null"},
    {"text": '{"id":"n","type":"USER_LOGIN","payload":null}'},
    {"text": '{"id":"u","type":"USER_LOGIN","payload":{"user":null}}'},
    {"text": '{"id":"m","type":"MSG_SEND","payload":null}'},
    {"text": '{"id":"e","type":"MSG_EDIT","payload":{"message":null}}'},
    {"text": json.dumps({"id": "big", "type": "X", "payload": {"pad": "x" * 2_000_000}})},
]


async def test_the_consumer_answers_every_bad_frame_and_the_socket_stays_usable():
    """Each of these crashes or confuses some server; here each gets one ERROR or reply."""
    client = await connected()
    await login(client, "sturdy")
    for frame in NASTY_FRAMES:
        await client.send_input({"type": "websocket.receive", **frame})
        reply = await client.frame()
        assert list(reply) == ["id", "type", "payload"]
        assert reply["type"] in ("ERROR", "USER_ACTIVE"), frame
        assert await client.receive_nothing(timeout=0.05)
    await client.request("still", "USER_ACTIVE", None)
    assert (await client.frame())["payload"] == {"users": [{"login": "sturdy", "isLogined": True}]}
    await client.disconnect()


async def test_a_bug_in_a_handler_gets_an_internal_error_not_a_dead_socket(monkeypatch):
    client = await connected()
    await login(client, "ann")

    def broken(*args):
        raise KeyError("a bug of ours")

    monkeypatch.setitem(get_hub().room.state.handlers, "USER_ACTIVE", broken)
    await client.request("boom", "USER_ACTIVE", None)
    assert await client.frame() == {
        "id": "boom",
        "type": "ERROR",
        "payload": {"error": "internal server error"},
    }
    await client.request("next", "USER_INACTIVE", None)
    assert (await client.frame())["type"] == "USER_INACTIVE"
    await client.disconnect()
