"""The chat port: every WebSocket path reaches the chat consumer, as with the reference."""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter

from chat.consumers import ChatConsumer

STATUS_PAGE = (
    "This is the Fun Chat server. It speaks WebSocket only:\n"
    "point your client at ws://localhost:{port} (any path works).\n"
)


async def status_page(scope: dict, receive: Any, send: Any) -> None:
    """Answer plain HTTP with a short text instead of hanging like the reference."""
    port = (scope.get("server") or (None, 4000))[1]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": STATUS_PAGE.format(port=port).encode()})


application = ProtocolTypeRouter({"websocket": ChatConsumer.as_asgi(), "http": status_page})
