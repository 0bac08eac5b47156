"""The grader's site WebSocket routes (courseware/routing.py adds them), under the chat's path."""

from __future__ import annotations

from django.urls import path

from grader.console import ConsoleConsumer
from grader.selfcheck import SelfCheckConsumer

websocket_urlpatterns = [
    path("ws/chat/console/", ConsoleConsumer.as_asgi()),
    path("ws/chat/self-check/", SelfCheckConsumer.as_asgi()),
]
