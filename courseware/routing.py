"""WebSocket routes of the site (not the chat port); apps append their own."""

from __future__ import annotations

websocket_urlpatterns: list = []

# The grader console (grader.console): mentors and admins, session-authenticated.
from grader.routing import websocket_urlpatterns as chat_console  # noqa: E402

websocket_urlpatterns += chat_console

# The live attempt socket (quizzes.consumers): the attempt's owner, session-authenticated.
from quizzes.routing import websocket_urlpatterns as quizzes_attempts  # noqa: E402

websocket_urlpatterns += quizzes_attempts

# The mentors' live view of attempts in progress (mentors.consumers): mentors and staff.
from mentors.routing import websocket_urlpatterns as mentor_live  # noqa: E402

websocket_urlpatterns += mentor_live
