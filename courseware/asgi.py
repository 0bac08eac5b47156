"""ASGI entry point: the site, and the fun-chat server on its own port.

`manage.py serve` runs this application in two processes: the site's, and a chat child
that listens on the chat port and on the console's Unix socket (courseware.supervise).
PortRouter sends each connection to the site or to the chat server by the port it arrived
on; BodyLimit refuses oversized request bodies on either before anything reads them.
"""

from __future__ import annotations

import os
from typing import Any, cast

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
# The app registry must be ready before consumers (and their models) are imported.
django_wsgi_app = get_wsgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

import chat.routing  # noqa: E402
from courseware import loop  # noqa: E402
from courseware.guard import BodyLimit  # noqa: E402
from courseware.routing import websocket_urlpatterns  # noqa: E402


class Pages:
    """Django's pages as WSGI on a few threads, in the loop that serves the sockets.

    One hop to a thread per request: Django's ASGI handler hops between the loop and a
    thread twice for every middleware and starts a thread per request, a quarter of a
    server's CPU under a cohort (BENCHMARKS.md). Views reach the loop through
    courseware.loop.
    """

    def __init__(self) -> None:
        # Django's handler returns an HttpResponse, an iterable of bytes as WSGI asks.
        self.wsgi = WSGIMiddleware(cast(Any, django_wsgi_app), workers=settings.HTTP_THREADS)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        loop.remember()
        await self.wsgi(cast(Any, scope), receive, send)


site_application = ProtocolTypeRouter(
    {
        "http": Pages(),
        # Site sockets authenticate with the session cookie, so Origin is the CSRF defence.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)


class PortRouter:
    """Route a connection to the chat server when it arrived on the chat port."""

    def __init__(self, site: Any, chat: Any, chat_port: int) -> None:
        self.site, self.chat, self.chat_port = site, chat, chat_port

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        server = scope.get("server") or (None, None)
        app = self.chat if server[1] == self.chat_port else self.site
        await app(scope, receive, send)


router = PortRouter(site_application, chat.routing.application, settings.CHAT_PORT)
application = BodyLimit(router)
