from __future__ import annotations

from typing import Any

from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand


def endpoint(host: str, port: int) -> str:
    """A Twisted endpoint string; colons in IPv6 addresses must be escaped."""
    return f"tcp:port={port}:interface={host.replace(':', chr(92) + ':')}"


class Command(BaseCommand):
    help = "Serve the site and the fun-chat server from one daphne process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--site-port", type=int, default=None)
        parser.add_argument("--chat-port", type=int, default=None)
        parser.add_argument("--no-chat", action="store_true", help="Serve the site only.")

    def handle(self, *args: Any, **options: Any) -> None:
        from courseware.asgi import application

        site_port = options["site_port"] or settings.SITE_PORT
        chat_port = options["chat_port"] or settings.CHAT_PORT
        endpoints = [endpoint(settings.SITE_HOST, site_port)]
        if not options["no_chat"]:
            endpoints += [endpoint(host, chat_port) for host in settings.CHAT_HOSTS]
        application.chat_port = chat_port
        self.stdout.write(f"Site: http://{settings.SITE_HOST}:{site_port}/")
        if not options["no_chat"]:
            hosts = ", ".join(settings.CHAT_HOSTS)
            self.stdout.write(f"Chat: ws://localhost:{chat_port}/ (listening on {hosts})")
        self.stdout.flush()
        Server(
            application=application,
            endpoints=endpoints,
            verbosity=options["verbosity"],
            # The reference accepts any message size up to 100 MiB; the chat core answers
            # oversized frames itself, so the transport limit sits above the core's.
            websocket_max_message_size=settings.CHAT_TRANSPORT_MAX_BYTES,
            websocket_max_frame_size=settings.CHAT_TRANSPORT_MAX_BYTES,
            # Chat sessions may stay open all day, as with the reference server.
            websocket_timeout=-1,
        ).run()
