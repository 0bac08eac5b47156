from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from courseware import serving


def default_port() -> int:
    """As the reference reads it: PORT, else SERVER_PORT; then our CHAT_PORT (4000)."""
    return int(os.environ.get("PORT") or os.environ.get("SERVER_PORT") or settings.CHAT_PORT)


class Command(BaseCommand):
    help = "Serve only the fun-chat server (a drop-in for RS School's reference server)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument("--host", action="append", dest="hosts", help="repeatable")
        parser.add_argument("--server", choices=serving.SERVERS, default="uvicorn")

    def handle(self, *args: Any, **options: Any) -> None:
        import chat.routing

        port = options["port"] or default_port()
        hosts = options["hosts"] or settings.CHAT_HOSTS
        self.stdout.write(f"Fun Chat server: ws://localhost:{port}/ (on {', '.join(hosts)})")
        self.stdout.flush()
        from chat.cluster import start_serving

        serving.run(
            chat.routing.application,
            [(h, port) for h in hosts],
            server=options["server"],
            # With REDIS_URL: join the other chat processes, answer the grader console.
            on_start=start_serving,
        )
