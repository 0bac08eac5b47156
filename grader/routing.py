"""The grader's site WebSocket routes (courseware/routing.py adds them), under the chat's path."""

from __future__ import annotations

from django.urls import path

from grader.bridge import console_application, self_check_application

# In one process, or with Redis: the consumers themselves; under `manage.py serve` without
# Redis: relays to the same consumers in the chat child (grader.bridge), where the runs are.
websocket_urlpatterns = [
    path("ws/chat/console/", console_application),  # type: ignore[arg-type]
    path("ws/chat/self-check/", self_check_application),  # type: ignore[arg-type]
]
