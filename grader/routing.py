"""The grader's site WebSocket route (courseware/routing.py adds it), under the chat's path."""

from __future__ import annotations

from django.urls import path

from grader.bridge import console_application

# In one process, or with Redis: the console itself; under `manage.py serve` without
# Redis: a relay to the chat child's console (grader.bridge).
websocket_urlpatterns = [path("ws/chat/console/", console_application)]  # type: ignore[arg-type]
