"""What each student request of the quiz costs, in process: queries and CPU, with a profile.

A fresh SQLite database (a temporary file), the module and the "[St2] WebSockets" bank
(102 questions, 20 drawn), then --students students, each through the steps a student
takes: the test page, Start, the attempt page, one form post saving all 20 answers,
Submit and the result page, through Django's test client. For each step it prints the
queries one request runs (the most any student needed) and the median CPU time in units
of one anonymous GET of the login page, measured in the same run between the students,
so the figures move little with the machine's load. A transaction's BEGIN is not counted
as a query (SQLite sends it; PostgreSQL does not).

    .venv/bin/python bench/quiz_profile.py                  # the table
    .venv/bin/python bench/quiz_profile.py --profile "save 20 answers"  # plus cProfile of one step
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Django is set up inside main(), after the database is chosen
    from django.contrib.auth.models import User

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["test page", "start", "attempt page", "save 20 answers", "submit", "result page"]
SLUG = "st2-websockets"


def setup(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'profile.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "courseware.settings"
    # As the tests run (a deployment's manifest storage needs collectstatic first).
    os.environ["DEBUG"] = "True"
    os.environ["SECRET_KEY"] = "profile-" + "x" * 50
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1"
    os.environ.setdefault("LOG", "NONE")
    # django-axes logs every login at INFO; force_login would flood the table.
    logging.disable(logging.INFO)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_module", str(ROOT / "fixtures/modules/st2-websockets.yaml"), verbosity=0)
    call_command("load_quiz", str(ROOT / "fixtures/quizzes/st2-websockets.yaml"), verbosity=0)


class Counter:
    """Counts the queries run on the default connection (cheaper than the debug cursor)."""

    def __init__(self) -> None:
        self.count = 0
        self.show = False

    def __call__(self, execute: Callable, sql: str, params: object, many: bool, context: dict):
        # SQLite sends a transaction's BEGIN as a statement; PostgreSQL does not (it
        # starts with the first query), so BEGIN is not counted.
        self.count += sql != "BEGIN"
        if self.show:
            print("   ", sql[:160])
        return execute(sql, params, many, context)


@contextlib.contextmanager
def measured(counter: Counter, sink: list[tuple[int, float]]) -> Iterator[None]:
    before = counter.count
    started = time.process_time()
    yield
    sink.append((counter.count - before, time.process_time() - started))


def right_form(attempt) -> dict:
    """Every question answered with its key, as a browser posts a page opened fresh."""
    data: dict = {"action": "save"}
    for question in attempt.questions.prefetch_related("version__options"):
        key = [o.id for o in question.version.options.all() if o.correct]
        data[f"was{question.position}"] = ""
        data[f"q{question.position}"] = question.values_of(key)
    return data


def timed(
    counter: Counter,
    samples: dict[str, list[tuple[int, float]]],
    profiler: cProfile.Profile | None,
    profile: str | None,
    show: str | None,
    last: User,
    name: str,
    user: User,
    call: Callable,
):
    """Run one step of one student: count its queries, time its CPU, maybe profile it."""
    active = profiler if name == profile else None
    counter.show = name == show and user == last
    if counter.show:
        print(f"queries of {name}:")
    if active:
        active.enable()
    with measured(counter, samples[name]):
        response = call()
    if active:
        active.disable()
    counter.show = False
    assert response.status_code in (200, 302), (name, response.status_code)
    return response


def walk(user: User, *, step: Callable) -> None:
    """One student through the test, as a browser without JavaScript would."""
    from django.test import Client
    from django.urls import reverse

    from quizzes.models import Attempt

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    step("test page", user, lambda: client.get(reverse("quizzes:quiz", args=[SLUG])))
    step("start", user, lambda: client.post(reverse("quizzes:start", args=[SLUG])))
    attempt = Attempt.objects.get(user=user, quiz__slug=SLUG)
    page = reverse("quizzes:attempt", args=[SLUG, attempt.pk])
    form = right_form(attempt)
    step("attempt page", user, lambda: client.get(page))
    step("save 20 answers", user, lambda: client.post(page, form))
    step("submit", user, lambda: client.post(page, {"action": "submit", "confirm": "1"}))
    attempt.refresh_from_db()
    assert attempt.status == "submitted" and attempt.correct_count == 20, attempt
    result = reverse("quizzes:result", args=[SLUG, attempt.pk])
    step("result page", user, lambda: client.get(result))


def run(students: int, profile: str | None, show: str | None) -> dict[str, tuple[int, float]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    counter = Counter()
    samples: dict[str, list[tuple[int, float]]] = {step: [] for step in [*STEPS, "login"]}
    profiler = cProfile.Profile() if profile else None
    users = [get_user_model().objects.create_user(f"prof{i:03d}") for i in range(students)]
    anonymous = Client(HTTP_HOST="127.0.0.1")
    anonymous.get(reverse("login"))  # warm up: templates, URL resolvers, imports
    login = partial(anonymous.get, reverse("login"))
    step = partial(timed, counter, samples, profiler, profile, show, users[-1])
    with connection.execute_wrapper(counter):
        for user in users:
            # The unit, measured between the students so that both see the same machine.
            step("login", user, login)
            walk(user, step=step)
    unit = statistics.median(cpu for _, cpu in samples["login"])
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    figures = {}
    for name in STEPS:
        queries = max(q for q, _ in samples[name])
        figures[name] = (queries, statistics.median(c for _, c in samples[name]) / unit)
    return figures | {"login": (0, unit * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--profile", choices=STEPS, help="print cProfile's top of this step")
    parser.add_argument(
        "--queries", choices=STEPS, help="print the SQL of this step (last student)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quizprofile-") as folder:
        setup(Path(folder))
        figures = run(args.students, args.profile, args.queries)
    unit_ms = figures.pop("login")[1]
    print(
        f"{args.students} students; 1 unit = one anonymous GET of the login page = {unit_ms:.2f} ms"
    )
    print(f"{'step':<18}{'queries':>8}{'CPU units':>11}")
    for step, (queries, units) in figures.items():
        print(f"{step:<18}{queries:>8}{units:>11.1f}")


if __name__ == "__main__":
    main()
