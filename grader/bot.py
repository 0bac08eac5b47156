"""The checker bot: a chat user played by the server itself.

A bot is an ordinary connection of the hub's ChatRoom, so its frames go through the same
handlers, pushes and recorder as a student's. Its "socket" is an in-memory sink: a request
is handled synchronously, so the reply is in the sink when `request` returns.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable, Hashable
from typing import Any

from chat import jscodec
from chat.hub import Hub


class BotError(Exception):
    """The bot could not do what it was asked; the message says why, for the grader."""


class Bot:
    """One chat user driven by code: connect, send, edit, delete, read, fetch history."""

    def __init__(
        self,
        hub: Hub,
        login: str,
        *,
        password: str | None = None,
        before_open: Callable[[], None] | None = None,
        on_push: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.hub = hub
        self.login = login
        self.password = password or secrets.token_urlsafe(12)
        self.before_open = before_open
        self.on_push = on_push
        self.conn: Hashable | None = None
        self.sent: dict[str, dict[str, Any]] = {}  # our messages by id
        self.received: dict[str, dict[str, Any]] = {}  # messages to us by id
        self._ids = itertools.count(1)
        self._waiting: str | None = None
        self._reply: dict[str, Any] | None = None

    @property
    def connected(self) -> bool:
        return self.conn is not None

    # -- the in-memory socket ---------------------------------------------------------------

    async def _socket_send(self, message: dict[str, Any]) -> None:
        """The Outbox writes here; it never waits, so every write completes at once."""
        if message["type"] == "websocket.send":
            self._arrived(jscodec.loads(message["text"]))
        elif message["type"] == "websocket.close":
            self._closed_by_server()

    def _arrived(self, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        if self._waiting is not None and frame.get("id") == self._waiting:
            self._reply = frame
            return
        self._track(frame)
        if self.on_push is not None:
            # Later, not now: we are inside the hub's delivery of someone else's request,
            # and a reaction now would overtake that request's own reply.
            asyncio.get_running_loop().call_soon(self.on_push, frame)

    def _track(self, frame: dict[str, Any]) -> None:
        """Keep our view of the messages up to date from replies and pushes."""
        kind, payload = frame.get("type"), frame.get("payload")
        message = payload.get("message") if isinstance(payload, dict) else None
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            return
        known = self.sent.get(message["id"]) or self.received.get(message["id"])
        if kind == "MSG_SEND" and message.get("to") == self.login:
            self.received[message["id"]] = message
        elif kind == "MSG_DELETE":
            self.sent.pop(message["id"], None)
            self.received.pop(message["id"], None)
        elif known is not None:
            if kind == "MSG_EDIT":
                known["text"] = message.get("text")
            status = message.get("status")
            if isinstance(status, dict):
                known.setdefault("status", {}).update(status)

    def _closed_by_server(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            # What the consumer does when a socket's close completes; later, for the same
            # reason as pushes.
            asyncio.get_running_loop().call_soon(self.hub.close, conn)

    # -- requests ---------------------------------------------------------------------------

    def request(self, kind: str, payload: Any) -> dict[str, Any]:
        """Send one frame and return the server's reply to it (possibly an ERROR frame)."""
        if self.conn is None:
            raise BotError(f"the bot {self.login} is not connected")
        rid = f"chk-{next(self._ids)}"
        self._waiting, self._reply = rid, None
        try:
            self.hub.receive(
                self.conn, jscodec.dumps({"id": rid, "type": kind, "payload": payload})
            )
        finally:
            self._waiting = None
        if self._reply is None:  # only if our connection was closed under us
            raise BotError(f"no reply to {kind}: the bot's connection is closed")
        self._track(self._reply)
        return self._reply

    def _ok(self, kind: str, payload: Any) -> dict[str, Any]:
        reply = self.request(kind, payload)
        if reply.get("type") == "ERROR":
            raise BotError(f"{kind} failed: {reply['payload'].get('error')}")
        return reply["payload"]

    def connect(self) -> None:
        """Open a connection and log in; on a login error the connection is closed again."""
        if self.conn is not None:
            return
        if self.before_open is not None:
            self.before_open()
        self.conn = self.hub.open(self._socket_send, abort=lambda: None)
        try:
            self._ok("USER_LOGIN", {"user": {"login": self.login, "password": self.password}})
        except BotError:
            self.disconnect()
            raise

    def forget(self) -> None:
        """Drop what the bot knew of messages: the server's state was wiped."""
        self.sent.clear()
        self.received.clear()

    def disconnect(self) -> None:
        """Close the bot's socket as a client would; the others hear USER_EXTERNAL_LOGOUT."""
        conn, self.conn = self.conn, None
        if conn is not None:
            self.hub.close(conn)

    def send(self, to: str, text: str) -> dict[str, Any]:
        message = self._ok("MSG_SEND", {"message": {"to": to, "text": text}})["message"]
        self.sent[message["id"]] = message
        return message

    def edit(self, message_id: str, text: str) -> None:
        self._ok("MSG_EDIT", {"message": {"id": message_id, "text": text}})

    def delete(self, message_id: str) -> None:
        self._ok("MSG_DELETE", {"message": {"id": message_id}})

    def read(self, message_id: str) -> None:
        self._ok("MSG_READ", {"message": {"id": message_id}})

    def history(self, peer: str) -> list[dict[str, Any]]:
        messages = self._ok("MSG_FROM_USER", {"user": {"login": peer}})["messages"]
        for message in messages:
            if message.get("to") == self.login:
                self.received[message["id"]] = message
        return messages

    def read_all_from(self, peer: str) -> int:
        """MSG_READ for every unread message from `peer`, as a client does; how many."""
        unread = [
            m["id"]
            for m in self.history(peer)
            if m.get("from") == peer and not m.get("status", {}).get("isReaded")
        ]
        for message_id in unread:
            self.read(message_id)
        return len(unread)

    def last_sent_to(self, peer: str) -> str | None:
        """The id of our newest message to `peer` that still exists."""
        ids = [m["id"] for m in self.sent.values() if m.get("to") == peer]
        return ids[-1] if ids else None

    def state(self) -> dict[str, Any]:
        return {"login": self.login, "conn": self.conn, "connected": self.connected}
