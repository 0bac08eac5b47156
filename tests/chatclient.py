"""A small fun-chat client over real sockets, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


class Client:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, **options: Any) -> Client:
        return cls(await websockets.connect(url, open_timeout=5, max_size=None, **options))

    async def request(self, id_: Any, type_: str, payload: Any) -> None:
        await self.ws.send(json.dumps({"id": id_, "type": type_, "payload": payload}))

    async def frame(self, timeout: float = 3) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def nothing(self, timeout: float = 0.3) -> bool:
        """True when no frame arrives within `timeout`."""
        try:
            await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return True
        return False

    async def login(self, login: str, password: str = "pw") -> dict:
        await self.request(
            f"login-{login}", "USER_LOGIN", {"user": {"login": login, "password": password}}
        )
        return await self.frame()

    async def close(self) -> None:
        await self.ws.close()
