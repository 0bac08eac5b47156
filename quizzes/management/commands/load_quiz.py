from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from courseware.yamlspec import SpecError
from quizzes.grading import review_never_opens
from quizzes.loading import quizzes_load
from quizzes.models import Quiz


class Command(BaseCommand):
    help = "Validate test YAML files and load them; nothing is written if any file is bad."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--check", action="store_true", help="Only validate.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            changes = quizzes_load(options["paths"], check_only=options["check"])
        except SpecError as exc:
            raise CommandError(f"{len(exc.problems)} problem(s), nothing loaded:\n{exc}") from None
        if options["check"]:
            slugs = ", ".join(c.slug for c in changes)
            self.stdout.write(f"Valid: {len(changes)} test(s): {slugs}")
            return
        for change in changes:
            self.stdout.write(f"Loaded {change}")
            # Loaded anyway (a closing time may come later), but the author must know now.
            problem = review_never_opens(Quiz.objects.get(slug=change.slug).rules())
            if problem:
                self.stderr.write(self.style.WARNING(f"Warning: {change.slug}: {problem}"))
