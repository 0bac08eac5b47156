from __future__ import annotations

from django.apps import AppConfig


class GraderConfig(AppConfig):
    name = "grader"
    verbose_name = "Chat grader"

    def ready(self) -> None:
        # The chat server knows nothing of the grader: it calls its serving hooks, and the
        # grader registers the console's listener there (chat.hooks).
        from chat import hooks
        from grader.control import start_listening

        hooks.at_serving(start_listening)
