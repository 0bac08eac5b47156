from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from courseware.yamlspec import SpecError
from quizzes.exporting import quiz_dump, quiz_file
from quizzes.models import Quiz


class Command(BaseCommand):
    help = (
        "Write a test as YAML (its active questions' current versions) to stdout or a file, "
        "merged into fixtures/quizzes/<slug>.yaml so that `git diff` shows only what changed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug")
        parser.add_argument("-o", "--output", help="Write to this file instead of stdout.")
        parser.add_argument(
            "--base",
            metavar="YAML",
            help="Merge into this file instead of fixtures/quizzes/<slug>.yaml.",
        )
        parser.add_argument(
            "--fresh", action="store_true", help="Write a new document; merge into no file."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        quiz = Quiz.objects.filter(slug=options["slug"]).first()
        if quiz is None:
            known = ", ".join(Quiz.objects.values_list("slug", flat=True)) or "none loaded"
            raise CommandError(f"No test {options['slug']!r} (tests: {known}).")
        base = None
        if not options["fresh"]:
            base = Path(options["base"]) if options["base"] else quiz_file(quiz.slug)
            if not options["base"] and not base.exists():
                base = None
        try:
            text = quiz_dump(quiz, base=base)
        except SpecError as exc:
            raise CommandError(
                f"Cannot merge into {base}; fix it or pass --fresh:\n{exc}"
            ) from None
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            merged = f", merged into {base}" if base else ""
            self.stderr.write(f"Wrote {quiz.slug} to {options['output']}{merged}")
        else:
            self.stdout.write(text, ending="")
