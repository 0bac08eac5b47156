"""WebSocket routes of the site (not the chat port); apps append their own."""

from __future__ import annotations

websocket_urlpatterns: list = []
