from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from quizzes.loading import quiz_dump
from quizzes.models import Quiz


class Command(BaseCommand):
    help = "Write a test as YAML (its active questions' current versions) to stdout or a file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug")
        parser.add_argument("-o", "--output", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        quiz = Quiz.objects.filter(slug=options["slug"]).first()
        if quiz is None:
            known = ", ".join(Quiz.objects.values_list("slug", flat=True)) or "none loaded"
            raise CommandError(f"No test {options['slug']!r} (tests: {known}).")
        text = quiz_dump(quiz)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {quiz.slug} to {options['output']}")
        else:
            self.stdout.write(text, ending="")
