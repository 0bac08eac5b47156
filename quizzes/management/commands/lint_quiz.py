from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from courseware.modules import database_ready, module_parse
from courseware.yamlspec import SpecError
from quizzes.banklint import (
    MIN_PER_OBJECTIVE,
    MIN_QUESTIONS,
    BankModule,
    bank_lint,
    bank_module_from_db,
    bank_module_from_spec,
)
from quizzes.loading import quiz_parse


class Command(BaseCommand):
    help = (
        "Validate question banks and report their cues (answer counts, longest options), "
        "questions per objective, links and proofs; fail past the thresholds in "
        "docs/authoring-questions.md."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument(
            "--modules",
            nargs="+",
            default=[],
            metavar="MODULE_YAML",
            help="Take modules (objectives, resources) from these files, not the database.",
        )
        parser.add_argument("--min-questions", type=int, default=MIN_QUESTIONS)
        parser.add_argument("--min-per-objective", type=int, default=MIN_PER_OBJECTIVE)

    def handle(self, *args: Any, **options: Any) -> None:
        ready = database_ready()
        try:
            files = [module_parse(path) for path in options["modules"]]
            modules = {spec.slug: bank_module_from_spec(spec) for spec in files}
            objectives = {slug: m.objectives for slug, m in modules.items()} if files else None
            specs = [
                quiz_parse(path, modules=objectives, database=ready) for path in options["paths"]
            ]
        except SpecError as exc:
            raise CommandError(f"{len(exc.problems)} problem(s):\n{exc}") from None
        failed = []
        for spec in specs:
            module: BankModule | None = modules.get(spec.module)
            if module is None and ready:
                module = bank_module_from_db(spec.module)
            report = bank_lint(
                spec,
                module=module,
                root=Path(settings.BASE_DIR),
                min_questions=options["min_questions"],
                min_per_objective=options["min_per_objective"],
            )
            self.stdout.write(str(report))
            if report.failures:
                failed.append(spec.slug)
        if failed:
            raise CommandError(f"Over the lint's thresholds: {', '.join(failed)}")
        self.stdout.write(f"Lint passed: {len(specs)} bank(s).")
