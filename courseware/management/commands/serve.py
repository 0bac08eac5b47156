from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from courseware import serving


class Command(BaseCommand):
    help = "Serve the site and the fun-chat server from one process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--site-port", type=int, default=None)
        parser.add_argument("--chat-port", type=int, default=None)
        parser.add_argument("--no-chat", action="store_true", help="Serve the site only.")
        parser.add_argument("--server", choices=serving.SERVERS, default="uvicorn")

    def handle(self, *args: Any, **options: Any) -> None:
        from courseware.asgi import application

        site_port = options["site_port"] or settings.SITE_PORT
        chat_port = options["chat_port"] or settings.CHAT_PORT
        binds = [(settings.SITE_HOST, site_port)]
        self.stdout.write(f"Site: http://{settings.SITE_HOST}:{site_port}/")
        if not options["no_chat"]:
            binds += [(host, chat_port) for host in settings.CHAT_HOSTS]
            hosts = ", ".join(settings.CHAT_HOSTS)
            self.stdout.write(f"Chat: ws://localhost:{chat_port}/ (on {hosts}; any path)")
        application.chat_port = chat_port
        self.stdout.flush()
        from chat.cluster import start_serving

        # The chat joins the other processes (chat.cluster) and answers the grader console
        # over Redis, when REDIS_URL is set.
        on_start = None if options["no_chat"] else start_serving
        from quizzes.live import start_sweeper

        def start_tasks() -> None:
            # Quiz attempts past their deadline are graded here even with no browser open.
            start_sweeper()
            if on_start is not None:
                on_start()

        serving.run(application, binds, server=options["server"], on_start=start_tasks)
