from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from courseware import serving, supervise


class Command(BaseCommand):
    help = "Serve the site, and the fun-chat server in a supervised child process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--site-port", type=int, default=None)
        parser.add_argument("--chat-port", type=int, default=None)
        parser.add_argument("--no-chat", action="store_true", help="Serve the site only.")
        parser.add_argument("--server", choices=serving.SERVERS, default="uvicorn")
        # Internal: how the parent starts its chat child (courseware.supervise).
        parser.add_argument("--chat-process", action="store_true", help="(internal)")
        parser.add_argument("--console-socket", default=None, help="(internal)")
        parser.add_argument("--watch-fd", type=int, default=None, help="(internal)")

    def handle(self, *args: Any, **options: Any) -> None:
        chat_port = options["chat_port"] or settings.CHAT_PORT
        if options["chat_process"]:
            self.serve_chat(chat_port, options)
            return
        site_port = options["site_port"] or settings.SITE_PORT
        self.stdout.write(f"Site: http://{settings.SITE_HOST}:{site_port}/")
        if not options["no_chat"]:
            hosts = ", ".join(settings.CHAT_HOSTS)
            self.stdout.write(f"Chat: ws://localhost:{chat_port}/ (on {hosts}; any path)")
            self.start_chat(chat_port, options["server"])
        self.stdout.flush()
        from courseware.asgi import application, router
        from quizzes.live import start_sweeper

        router.chat_port = chat_port
        # Quiz attempts past their deadline are graded here even with no browser open.
        serving.run(
            application,
            [(settings.SITE_HOST, site_port)],
            server=options["server"],
            on_start=start_sweeper,
        )

    def start_chat(self, chat_port: int, server: str) -> None:
        """The chat child; without Redis the console reaches it over a private Unix socket."""
        # Only this user may enter the directory, so only this user may use the socket.
        folder = tempfile.mkdtemp(prefix="courseware-chat-")
        console = os.path.join(folder, "console.sock")
        serving.set_chat_console(console)
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve"]
        command += ["--chat-process", "--chat-port", str(chat_port), "--server", server]
        supervisor = supervise.Supervisor([*command, "--console-socket", console])
        supervisor.start()

        def stop() -> None:
            supervisor.stop()
            shutil.rmtree(folder, ignore_errors=True)

        # uvicorn ends by re-raising the signal, so a `finally` would never run: at_stop does.
        serving.at_stop(stop)

    def serve_chat(self, chat_port: int, options: dict[str, Any]) -> None:
        """The child: the chat port, and the console socket the site relays to."""
        from chat.cluster import start_serving
        from courseware.asgi import application, router

        router.chat_port = chat_port
        watch_fd = options["watch_fd"]
        console = options["console_socket"]

        def remove_console() -> None:
            # The parent died without its cleanup: the socket's private folder goes with us.
            if console:
                shutil.rmtree(os.path.dirname(console), ignore_errors=True)

        def start_tasks() -> None:
            if watch_fd is not None:
                supervise.watch_parent(watch_fd, orphaned=remove_console)
            # The chat joins the other processes (chat.cluster) and answers the grader
            # console over Redis, when REDIS_URL is set.
            start_serving()

        serving.run(
            application,
            [(host, chat_port) for host in settings.CHAT_HOSTS],
            server=options["server"],
            on_start=start_tasks,
            unix=console,
        )
