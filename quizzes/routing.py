"""The quizzes app's site WebSocket routes (courseware/routing.py adds them)."""

from __future__ import annotations

from django.urls import path

from quizzes.consumers import AttemptConsumer

websocket_urlpatterns = [
    path("ws/quizzes/attempts/<int:attempt_id>/", AttemptConsumer.as_asgi()),
]
