from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from courseware.modules import database_ready, module_parse
from courseware.yamlspec import SpecError
from quizzes.grading import review_never_opens
from quizzes.loading import quizzes_load
from quizzes.models import Quiz

NO_DATABASE = (
    "Module and objectives not checked: the database has no tables yet. Run "
    "`manage.py migrate` and `manage.py load_module fixtures/modules/*.yaml`, then check "
    "again, or pass `--modules fixtures/modules/*.yaml` to check against the module files."
)


class Command(BaseCommand):
    help = "Validate test YAML files and load them; nothing is written if any file is bad."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--check", action="store_true", help="Only validate.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Take the files' wording even for questions last edited in the admin.",
        )
        parser.add_argument(
            "--modules",
            nargs="+",
            default=[],
            metavar="MODULE_YAML",
            help="With --check: take modules and objectives from these files, not the database.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        check = options["check"]
        if options["modules"] and not check:
            raise CommandError("--modules only goes with --check: loading needs the database.")
        ready = database_ready()
        if not check and not ready:
            raise CommandError(
                "The database has no tables yet: run `manage.py migrate` and "
                "`manage.py load_module fixtures/modules/*.yaml` first."
            )
        try:
            modules = None
            if options["modules"]:
                specs = [module_parse(path) for path in options["modules"]]
                modules = {spec.slug: [o.key for o in spec.objectives] for spec in specs}
            changes = quizzes_load(
                options["paths"],
                check_only=check,
                modules=modules,
                database=ready,
                force=options["force"],
            )
        except SpecError as exc:
            raise CommandError(f"{len(exc.problems)} problem(s), nothing loaded:\n{exc}") from None
        if check:
            slugs = ", ".join(c.slug for c in changes)
            self.stdout.write(f"Valid: {len(changes)} test(s): {slugs}")
            if modules is None and not ready:
                self.stdout.write(NO_DATABASE)
            return
        for change in changes:
            self.stdout.write(f"Loaded {change}")
            for note in change.notes():
                self.stdout.write(f"  {note}")
            # Loaded anyway (a closing time may come later), but the author must know now.
            problem = review_never_opens(Quiz.objects.get(slug=change.slug).rules())
            if problem:
                self.stderr.write(self.style.WARNING(f"Warning: {change.slug}: {problem}"))
