"""Quiz load on PostgreSQL: a cohort starting and submitting at once, across site processes.

1. Queries per page: in-process (Django's test client), the attempt page, a save, the
   submit, the result and the review, for tests of 5, 10, 20 and 40 questions. The counts
   must not grow with the number of questions.
2. Load: --students students, each with a session, against --processes `manage.py serve
   --no-chat` processes sharing PostgreSQL and a private redis-server. Every student posts
   Start twice at the same instant (a double click, the second to another process), then
   submits twice at the same instant (answers saved before, as the live page does).
   Latency p50/p99 of each, and the count of attempts afterwards: exactly one per
   student, never an extra one.

3. --cohort N (instead of 1 and 2): N students arriving within --spread seconds, each as
   a browser: test page, Start double-clicked, attempt page, 20 answers over the attempt
   socket, Submit double-clicked (bench/quiz_cohort.py). p50/p99 per step, then every
   student must have exactly one attempt, submitted, with all 20 answers counted.

The database (--database, created if missing on the server of --database-url) is flushed
first: never point it at real data. Servers listen on loopback, live under `timeout` and
are stopped by PID.

    python bench/quiz_load.py --students 200 --processes 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import launch
import quiz_cohort
import scale_compare

ROOT = launch.ROOT
SLUG = "bench-load"
COHORT = "bench-cohort"  # 20 questions, one attempt: the cohort run (--cohort)


def quiz_yaml(slug: str, questions: int, attempts: int = 1) -> str:
    """A test of `questions` single-choice questions, all drawn in every attempt."""
    lines = [
        f"slug: {slug}",
        f"title: Bench {questions}",
        "module: st2-websockets",
        "settings:",
        f"  max_attempts: {attempts}",
        f"  questions_per_attempt: {questions}",
        "  threshold_percent: 50",
        "  strict_attempts: true",
        "  cooldown_hours: 0",
        "  max_score: 100",
        "  time_limit_minutes: 30",
        "  review:",
        "    when: after_submit",
        "    questions: all",
        "    show_key: true",
        "    show_explanations: true",
        "questions:",
    ]
    for i in range(questions):
        lines += [
            f"  - key: q{i}",
            "    kind: single",
            "    objective: connect",
            f'    text: "Question {i}: which option is right?"',
            "    options:",
            "      - text: right",
            "        correct: true",
            "      - text: wrong",
            "      - text: also wrong",
            f"    explanation: Number {i} has one right option.",
            "    source: https://developer.mozilla.org/en-US/docs/Web/API/WebSocket",
        ]
    return "\n".join(lines) + "\n"


def ensure_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{url.rstrip('/')}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url.rstrip('/')}/{name}"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
    os.environ.setdefault("DEBUG", "True")  # loopback only; the test client needs no hosts
    # The servers' key: sessions made here carry a hash signed with it.
    os.environ["SECRET_KEY"] = launch.QUIET["SECRET_KEY"]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    call_command("load_module", str(ROOT / "fixtures/modules/st2-websockets.yaml"), verbosity=0)


def load_quizzes(specs: dict[str, tuple[int, int]]) -> None:
    from quizzes.loading import quizzes_load

    folder = Path(tempfile.mkdtemp(prefix="quizbench-"))
    paths: list[Path | str] = []
    for slug, (questions, attempts) in specs.items():
        path = folder / f"{slug}.yaml"
        path.write_text(quiz_yaml(slug, questions, attempts))
        paths.append(path)
    quizzes_load(paths)


def right_answers(attempt) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for question in attempt.questions.prefetch_related("version__options"):
        right = [o.id for o in question.version.options.all() if o.correct]
        # The form names options by the attempt's random values, not by their ids.
        fields[f"q{question.position}"] = question.values_of(right)
    return fields


def queries_per_page(sizes: list[int]) -> dict[int, dict[str, int]]:
    """Database queries of each student page, for tests of each size."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from courseware.roles import STUDENTS
    from quizzes.models import Attempt

    counts: dict[int, dict[str, int]] = {}
    for size in sizes:
        slug = f"bench-q{size}"
        user = get_user_model().objects.create_user(f"qcount{size}", password=None)
        user.groups.add(Group.objects.get_or_create(name=STUDENTS)[0])
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        row: dict[str, int] = {}

        def measure(
            name: str, method: str, path: str, data: dict | None = None, client=client, row=row
        ) -> None:
            with CaptureQueriesContext(connection) as queries:
                response = getattr(client, method)(path, data or {})
            assert response.status_code in (200, 302), (name, response.status_code)
            row[name] = len(queries)

        measure("start", "post", reverse("quizzes:start", args=[slug]))
        attempt = Attempt.objects.get(user=user, quiz__slug=slug)
        page = reverse("quizzes:attempt", args=[slug, attempt.pk])
        measure("attempt page", "get", page)
        answers = right_answers(attempt)
        measure("save all answers", "post", page, {"action": "save", **answers})
        measure("submit", "post", page, {"action": "submit", "confirm": "1"})
        measure("result", "get", reverse("quizzes:result", args=[slug, attempt.pk]))
        measure("review", "get", reverse("quizzes:review", args=[slug, attempt.pk]))
        counts[size] = row
    return counts


def students(count: int) -> list[dict]:
    """Students with a session each (no password hashing: it would time the wrong thing)."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore

    from courseware.roles import STUDENTS

    model = get_user_model()
    model.objects.bulk_create([model(username=f"load{i:04d}") for i in range(count)])
    group = Group.objects.get_or_create(name=STUDENTS)[0]
    found = list(model.objects.filter(username__startswith="load").order_by("username"))
    group.user_set.add(*found)
    result = []
    for user in found:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        result.append({"id": user.pk, "session": session.session_key})
    return result


def request(port: int, method: str, path: str, cookie: str, form: dict | None = None) -> tuple:
    body = urlencode(form or {}, doseq=True)
    headers = {"Cookie": cookie, "Host": f"127.0.0.1:{port}"}
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request(method, path, body=body if method == "POST" else None, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, elapsed * 1000, response.getheader("Location")


def at_once(calls: list) -> list:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def summary(results: list) -> dict:
    times = sorted(r[1] for r in results)
    statuses: dict[str, int] = {}
    for status, *_ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(results),
        "statuses": statuses,
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, round(0.99 * (len(times) - 1)))], 1),
        "max_ms": round(times[-1], 1),
    }


def load_run(ports: list[int], cohort: list[dict], *, together: bool) -> dict:
    """Start, then submit, for every student: all at once and twice each, or one by one."""
    from quizzes.attempts import attempt_answer
    from quizzes.models import Attempt

    csrf = secrets.token_hex(16)  # a 32-character secret, valid as cookie and form field
    twins = (0, 1) if together else (0,)  # a double click, the second to the other process

    def cookie(student: dict) -> str:
        return f"sessionid={student['session']}; csrftoken={csrf}"

    def fire(calls: list) -> list:
        return at_once(calls) if together else [call() for call in calls]

    def port_of(i: int) -> int:
        return ports[i % len(ports)]

    start_path = f"/quizzes/{SLUG}/start/"
    form = {"csrfmiddlewaretoken": csrf}
    started = fire(
        [
            partial(request, port_of(i + twin), "POST", start_path, cookie(student), form)
            for i, student in enumerate(cohort)
            for twin in twins
        ]
    )
    refused = [r for r in started if r[0] != 302 or "/attempts/" not in (r[2] or "")]
    if refused:
        print(f"{len(refused)} start(s) not sent to an attempt: {refused[:3]}", file=sys.stderr)
    ids = [s["id"] for s in cohort]
    attempts = {a.user_id: a for a in Attempt.objects.filter(quiz__slug=SLUG, user_id__in=ids)}
    counts = [Attempt.objects.filter(quiz__slug=SLUG, user_id=i).count() for i in ids]

    # As the live page does: answers were saved one by one while the student worked
    # (not timed here); the submit then carries no answer that changed.
    for attempt in attempts.values():
        for question in attempt.questions.prefetch_related("version__options"):
            right = [o.id for o in question.version.options.all() if o.correct]
            attempt_answer(attempt=attempt, position=question.position, option_ids=right)

    submit = {"csrfmiddlewaretoken": csrf, "action": "submit", "confirm": "1"}
    submitted = fire(
        [
            partial(
                request,
                port_of(i + twin),
                "POST",
                f"/quizzes/{SLUG}/attempts/{attempts[student['id']].pk}/",
                cookie(student),
                submit,
            )
            for i, student in enumerate(cohort)
            for twin in twins
        ]
    )
    final = list(
        Attempt.objects.filter(quiz__slug=SLUG, user_id__in=ids).values_list(
            "status", "correct_count"
        )
    )
    return {
        "students": len(cohort),
        "start": summary(started),
        "submit": summary(submitted),
        "attempts_after_start": len(attempts),
        "students_with_other_than_one_attempt": sum(1 for c in counts if c != 1),
        "attempts_after_submit": len(final),
        "submitted": sum(1 for status, _ in final if status == "submitted"),
        "all_answers_counted": all(c == 10 for _, c in final),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="courseware_quizbench")
    parser.add_argument(
        "--pool", type=int, default=20, help="DB_POOL_MAX_SIZE per process (0: no pool)"
    )
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument(
        "--cohort", type=int, default=0, help="run only the browser-like cohort of this size"
    )
    parser.add_argument("--port", type=int, default=4790, help="first site port; redis +9")
    parser.add_argument("--spread", type=float, default=60, help="seconds the cohort arrives in")
    parser.add_argument(
        "--think", type=float, default=0.25, help="seconds between one student's answers"
    )
    args = parser.parse_args()

    database_url = ensure_database(args.database_url, args.database)
    setup_django(database_url)
    sizes = [5, 10, 20, 40]
    load_quizzes({**{f"bench-q{n}": (n, 3) for n in sizes}, SLUG: (10, 1), COHORT: (20, 1)})
    result: dict = {} if args.cohort else {"queries_per_page": queries_per_page(sizes)}
    cohort = students(args.cohort or args.students + 10)

    redis_port = args.port + 9
    ports = [args.port + i for i in range(args.processes)]
    env = {
        **launch.QUIET,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CHANNEL_LAYER_PREFIX": "quizbench",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_POOL_MAX_SIZE": str(args.pool),
    }
    if args.cohort:
        # The cohort opens pages, which name static files by their manifest: collect them
        # as `make run` does, and serve with the default DEBUG off.
        collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
        subprocess.run(collect, cwd=ROOT, env={**os.environ, **env}, check=True, timeout=300)
    import contextlib

    with contextlib.ExitStack() as stack:
        stack.enter_context(launch.running(scale_compare.redis_target(), redis_port, 900))
        for port in ports:
            command = [sys.executable, "manage.py", "serve", "--no-chat", "--site-port", "{port}"]
            stack.enter_context(launch.running(launch.Target("site", command, env), port, 900))
        time.sleep(1)
        result["processes"] = args.processes
        result["pool_per_process"] = args.pool
        if args.cohort:
            result["cohort"] = quiz_cohort.cohort_phase(
                ports,
                cohort,
                args.spread,
                slug=COHORT,
                think=args.think,
            )
        else:
            # One student at a time first: what a request costs with nobody else around.
            result["one_by_one"] = load_run(ports, cohort[:10], together=False)
            result["all_at_once"] = load_run(ports, cohort[10:], together=True)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
