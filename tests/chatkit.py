"""The chat core on a hand-driven clock, for the tests that check frames without sockets."""

from __future__ import annotations

import itertools
import json

from chat.protocol import ChatRoom, Close, SendText

T0 = 1_795_342_242_088  # a millisecond timestamp, as Date.now() gives
CLOSED = "<close>"

ERRORS = {
    "structure": "incorrect request structure",
    "type": "incorrect type parameters",
    "payload": "incorrect payload parameters",
    "not_auth": "the user was not authorized cannot be executed",
    "another": "another user is already authorized in this connection",
    "already": "a user with this login is already authorized",
    "password": "incorrect password",
    "no_user": "there is no user with this login",
    "not_logged_in": "the user was not authorized",
    "same": "sender and recipient logins are the same",
    "no_recipient": "the user with the specified login does not exist",
    "message_id": "incorrect message id",
    "not_recipient": "user not recipient cannot be executed",
    "not_sender": "user not sender cannot be executed",
}


def err(id_json: str, key: str) -> str:
    return f'{{"id":{id_json},"type":"ERROR","payload":{{"error":"{ERRORS[key]}"}}}}'


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


class Chat:
    """A ChatRoom on a hand-driven clock; actions come back as (conn, text) pairs."""

    def __init__(self, **options) -> None:
        self.ms = T0
        serial = itertools.count(1)
        self.room = ChatRoom(
            clock_ms=lambda: self.ms, new_uuid=lambda: uid(next(serial)), **options
        )

    def open(self, count: int = 1) -> list[int]:
        return [self.room.connect() for _ in range(count)]

    def send(self, conn, frame) -> list[tuple]:
        text = frame if isinstance(frame, str | bytes | bytearray) else json.dumps(frame)
        return rendered(self.room.receive(conn, text))

    def request(self, conn, id_, type_, payload) -> list[tuple]:
        return self.send(conn, {"id": id_, "type": type_, "payload": payload})

    def login(self, conn, login: str, password: str = "pw") -> list[tuple]:
        user = {"login": login, "password": password}
        return self.request(conn, f"in-{login}", "USER_LOGIN", {"user": user})

    def logout(self, conn, login: str, password: str = "pw") -> list[tuple]:
        user = {"login": login, "password": password}
        return self.request(conn, f"out-{login}", "USER_LOGOUT", {"user": user})

    def message(self, conn, to: str, text: str, id_: str = "m") -> str:
        """Send a message and return its id."""
        reply = self.request(conn, id_, "MSG_SEND", {"message": {"to": to, "text": text}})[-1]
        return json.loads(reply[1])["payload"]["message"]["id"]

    def reply(self, conn, id_, type_, payload) -> str:
        """The one direct reply to a request that pushes nothing."""
        actions = self.request(conn, id_, type_, payload)
        assert [a[0] for a in actions] == [conn]
        return actions[0][1]


def rendered(actions) -> list[tuple]:
    out = []
    for action in actions:
        if isinstance(action, SendText):
            out.append((action.conn, action.text))
        else:
            assert isinstance(action, Close)
            out.append((action.conn, CLOSED))
    return out
