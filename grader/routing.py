"""The grader's site WebSocket route (courseware/routing.py adds it), under the chat's path."""

from __future__ import annotations

from django.urls import path

from grader.console import ConsoleConsumer

websocket_urlpatterns = [path("ws/chat/console/", ConsoleConsumer.as_asgi())]
