"""The mentors app's site WebSocket routes (courseware/routing.py adds them)."""

from __future__ import annotations

from django.urls import path

from mentors.consumers import MentorLiveConsumer

websocket_urlpatterns = [
    path("ws/mentor/live/", MentorLiveConsumer.as_asgi()),
]
