"""Two scripted Fun Chat clients over real sockets, for the automatic check's tests.

GoodClient behaves like a correct student client: it logs in, lists users, asks for every
user's history (unread counts, delivery), keeps its state from pushes, reads what arrives in
an open dialogue, refuses empty texts, and reconnects with backoff and logs in again by
itself. BadClient makes the mistakes the check must catch. Their UI methods (open a
dialogue, click it, send, edit, delete) are what a grader does with the mouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import websockets


class GoodClient:
    def __init__(
        self,
        url: str,
        login: str,
        password: str = "pw",
        *,
        backoff: float = 0.2,
        reconnect: bool = True,
    ) -> None:
        self.url = url
        self.reconnect = reconnect  # False: once its socket closes, only a reload brings it back
        self.relogin = True  # False: after reconnecting it never logs in again (11.2)
        self.login = login
        self.password = password
        self.backoff = backoff
        self.ws: Any = None
        self.logged_in = False
        self.users: dict[str, bool] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.open_peer: str | None = None
        self.divider = False
        self.errors: list[str] = []
        self.connections = 0
        self.lost = 0  # "connection lost" shown to the user
        self.refused = 0
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[str, str | None]] = {}
        self._lists: set[str] = set()
        self._task: asyncio.Task | None = None
        self._stopped = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the client's page (again: a reload, once its socket is gone)."""
        self._stopped = False
        self._task = asyncio.ensure_future(self._life())

    async def stop(self) -> None:
        self._stopped = True
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _life(self) -> None:
        delay = self.backoff
        while not self._stopped:
            try:
                self.ws = await websockets.connect(self.url, open_timeout=5, max_size=None)
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                self.refused += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)  # backoff, as a real client should
                continue
            delay = self.backoff
            self.connections += 1
            if self.connections == 1 or self.relogin:
                await self._request(
                    "USER_LOGIN", {"user": {"login": self.login, "password": self.password}}
                )
            try:
                async for text in self.ws:
                    await self._on_frame(json.loads(text))
            except websockets.ConnectionClosed:
                pass
            self.logged_in = False
            self._lists.clear()
            if not self._stopped:
                self.lost += 1
            if not self.reconnect:
                return

    async def _request(self, kind: str, payload: Any, peer: str | None = None) -> None:
        rid = f"c-{next(self._ids)}"
        self._pending[rid] = (kind, peer)
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(json.dumps({"id": rid, "type": kind, "payload": payload}))

    # -- reacting to the server -------------------------------------------------------------

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind, payload = frame["type"], frame["payload"]
        asked = self._pending.pop(frame["id"], (None, None)) if frame["id"] else (None, None)
        if kind == "ERROR":
            self.errors.append(payload["error"])
        elif kind == "USER_LOGIN" and asked[0]:
            self.logged_in = True
            self.users.clear()  # the lists that follow are the truth now
            await self._request("USER_ACTIVE", None)
            await self._request("USER_INACTIVE", None)
        elif kind in ("USER_ACTIVE", "USER_INACTIVE"):
            for user in payload["users"]:
                if user["login"] != self.login:
                    self.users[user["login"]] = user["isLogined"]
            self._lists.add(kind)
            if len(self._lists) == 2:
                for peer in list(self.users):
                    await self._request("MSG_FROM_USER", {"user": {"login": peer}}, peer)
        elif kind in ("USER_EXTERNAL_LOGIN", "USER_EXTERNAL_LOGOUT"):
            login = payload["user"]["login"]
            new = login not in self.users
            self.users[login] = payload["user"]["isLogined"]
            if new and self.logged_in:
                await self._request("MSG_FROM_USER", {"user": {"login": login}}, login)
        elif kind == "MSG_FROM_USER":
            peer = asked[1]
            self.history[peer] = payload["messages"]
            if peer == self.open_peer and not self.divider:
                await self._read_unread()
        elif kind == "MSG_SEND":
            message = payload["message"]
            peer = message["to"] if message["from"] == self.login else message["from"]
            self.history.setdefault(peer, []).append(message)
            if frame["id"] is None and peer == self.open_peer and not self.divider:
                await self._read_unread()  # the dialogue is open: read at once (8.2)
        elif kind in ("MSG_DELETE", "MSG_EDIT", "MSG_READ", "MSG_DELIVER"):
            self._update(kind, payload["message"])

    def _update(self, kind: str, change: dict[str, Any]) -> None:
        for messages in self.history.values():
            for message in list(messages):
                if message["id"] != change["id"]:
                    continue
                if kind == "MSG_DELETE":
                    messages.remove(message)
                else:
                    message["status"].update(change["status"])
                    if kind == "MSG_EDIT":
                        message["text"] = change["text"]

    def unread(self, peer: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.history.get(peer, [])
            if m["from"] == peer and not m["status"]["isReaded"]
        ]

    async def _read_unread(self) -> None:
        for message in self.unread(self.open_peer or ""):
            message["status"]["isReaded"] = True
            await self._request("MSG_READ", {"message": {"id": message["id"]}})

    # -- what the grader does in the UI -----------------------------------------------------

    async def open_dialogue(self, peer: str) -> None:
        self.open_peer = peer
        self.divider = bool(self.unread(peer))
        await self._request("MSG_FROM_USER", {"user": {"login": peer}}, peer)

    async def click_history(self) -> None:
        """Clicking the history removes the divider: unread messages become read (6.8)."""
        self.divider = False
        await self._read_unread()

    async def send_text(self, text: str) -> bool:
        if text == "" or self.open_peer is None:
            return False  # the send button is disabled for an empty text (7.3)
        await self._request("MSG_SEND", {"message": {"to": self.open_peer, "text": text}})
        self.divider = False
        await self._read_unread()
        return True

    def my_last(self) -> str | None:
        mine = [m for m in self.history.get(self.open_peer or "", []) if m["from"] == self.login]
        return mine[-1]["id"] if mine else None

    async def edit_last(self, text: str) -> bool:
        if text == "" or self.my_last() is None:
            return False
        await self._request("MSG_EDIT", {"message": {"id": self.my_last(), "text": text}})
        return True

    async def delete_last(self) -> bool:
        if self.my_last() is None:
            return False
        await self._request("MSG_DELETE", {"message": {"id": self.my_last()}})
        return True


class BadClient(GoodClient):
    """Floods, sends malformed frames and empty texts, never fetches history, never returns."""

    async def _life(self) -> None:
        self.ws = await websockets.connect(self.url, open_timeout=5, max_size=None)
        self.connections += 1
        await self._request(
            "USER_LOGIN", {"user": {"login": self.login, "password": self.password}}
        )
        try:
            async for text in self.ws:
                await self._on_frame(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        self.logged_in = False  # and no reconnect

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind, payload = frame["type"], frame["payload"]
        if kind == "ERROR":
            self.errors.append(payload["error"])
        elif kind == "USER_LOGIN" and frame["id"]:
            self.logged_in = True
            for _ in range(60):  # polls the user list instead of following the pushes
                await self._request("USER_ACTIVE", None)
            await self.ws.send("{not json")
            await self.ws.send(json.dumps({"id": "x", "type": "MSG_SEND"}))
            await self._request("MSG_READ", {"message": {"id": "no-such-message"}})
        elif kind == "MSG_SEND":
            message = payload["message"]
            peer = message["to"] if message["from"] == self.login else message["from"]
            self.history.setdefault(peer, []).append(message)
        elif kind in ("MSG_DELETE", "MSG_EDIT"):
            self._update(kind, payload["message"])  # it does follow these pushes

    async def open_dialogue(self, peer: str) -> None:
        self.open_peer = peer  # shows what it has; never asks for the history

    async def click_history(self) -> None:
        pass  # never marks anything read

    async def send_text(self, text: str) -> bool:
        await self._request("MSG_SEND", {"message": {"to": self.open_peer, "text": text}})
        return True

    async def edit_last(self, text: str) -> bool:
        if self.my_last() is None:
            return False
        # Its edit box loses the text: the edit goes out empty.
        await self._request("MSG_EDIT", {"message": {"id": self.my_last(), "text": ""}})
        return True

    async def delete_last(self) -> bool:
        return False  # it has no delete button


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition()` holds; fail the test if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
