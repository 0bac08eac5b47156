from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from courseware.modules import modules_load
from courseware.yamlspec import SpecError


class Command(BaseCommand):
    help = "Validate module YAML files and load them; nothing is written if any file is bad."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--check", action="store_true", help="Only validate.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            slugs = modules_load(options["paths"], check_only=options["check"])
        except SpecError as exc:
            raise CommandError(f"{len(exc.problems)} problem(s), nothing loaded:\n{exc}") from None
        verb = "Valid" if options["check"] else "Loaded"
        self.stdout.write(f"{verb}: {len(slugs)} module(s): {', '.join(slugs)}")
