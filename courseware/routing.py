"""WebSocket routes of the site (not the chat port); apps append their own."""

from __future__ import annotations

websocket_urlpatterns: list = []

# The grader console (chat.console): mentors and admins, session-authenticated.
from chat.console import websocket_urlpatterns as chat_console  # noqa: E402

websocket_urlpatterns += chat_console

# The live attempt socket (quizzes.consumers): the attempt's owner, session-authenticated.
from quizzes.routing import websocket_urlpatterns as quizzes_attempts  # noqa: E402

websocket_urlpatterns += quizzes_attempts

# The mentors' live view of attempts in progress (quizzes.mentor_consumers): mentors and staff.
from quizzes.mentor_consumers import websocket_urlpatterns as mentor_live  # noqa: E402

websocket_urlpatterns += mentor_live
