"""A cohort taking the test as browsers do, for bench/quiz_load.py --cohort.

Each student, at a random moment within --spread seconds: opens the test page,
double-clicks Start (two requests at once, one to each process; a first attempt needs no
replace confirmation), opens the attempt page, saves every answer over the attempt
socket one frame at a time (each timed until its "saved" reply), then double-clicks
Submit. Afterwards every student must have exactly one attempt, submitted, with every
answer counted. Blocking clients in threads: one thread per student in flight.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from websockets.sync.client import connect

STEPS = ["test page", "start", "attempt page", "answer (socket)", "submit"]


def percentiles(times: list[float]) -> dict:
    times = sorted(times)
    if not times:
        return {"count": 0}
    return {
        "count": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, round(0.99 * (len(times) - 1)))], 1),
        "max_ms": round(times[-1], 1),
    }


def twice(call: Callable[[int], tuple]) -> list[tuple]:
    """A double click: the same request twice at the same instant, to both processes."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def cohort_run(
    *,
    ports: list[int],
    cohort: list[dict],
    slug: str,
    spread: float,
    request: Callable,
    answers_of: Callable[[int], dict[int, list[str]]],
    attempt_of: Callable[[int], int],
    think: float = 0.25,
) -> dict:
    """Run the cohort; `answers_of(attempt id)` gives the right values per position."""
    csrf = "c" * 32
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    errors: list[str] = []
    lock = threading.Lock()
    offsets = sorted(random.uniform(0, spread) for _ in cohort)
    began = time.perf_counter()

    def record(step: str, ms: float) -> None:
        with lock:
            times[step].append(ms)

    def fail(text: str) -> None:
        with lock:
            errors.append(text)

    def student(i: int) -> None:
        who = cohort[i]
        cookie = f"sessionid={who['session']}; csrftoken={csrf}"
        port = ports[i % len(ports)]
        time.sleep(max(0.0, offsets[i] - (time.perf_counter() - began)))
        status, ms, _ = request(port, "GET", f"/quizzes/{slug}/", cookie)
        record("test page", ms)
        if status != 200:
            fail(f"test page of {who['id']}: {status}")
        form = {"csrfmiddlewaretoken": csrf}
        for status, ms, location in twice(
            lambda twin: request(
                ports[(i + twin) % len(ports)], "POST", f"/quizzes/{slug}/start/", cookie, form
            )
        ):
            record("start", ms)
            if status != 302 or "/attempts/" not in (location or ""):
                fail(f"start of {who['id']}: {status} {location}")
        attempt = attempt_of(who["id"])
        path = f"/quizzes/{slug}/attempts/{attempt}/"
        status, ms, _ = request(port, "GET", path, cookie)
        record("attempt page", ms)
        if status != 200:
            fail(f"attempt page of {who['id']}: {status}")
        headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
        url = f"ws://127.0.0.1:{port}/ws/quizzes/attempts/{attempt}/"
        with connect(url, additional_headers=headers, open_timeout=60) as socket:
            for position, values in answers_of(attempt).items():
                sent = time.perf_counter()
                socket.send(json.dumps({"type": "answer", "question": position, "options": values}))
                while True:
                    frame = json.loads(socket.recv(timeout=60))
                    if frame["type"] in ("saved", "error"):
                        break
                record("answer (socket)", (time.perf_counter() - sent) * 1000)
                if frame["type"] != "saved":
                    fail(f"answer of {who['id']}: {frame}")
                # Students click, they do not stream: the attempt's allowance is 5 a second,
                # and --think 0.25 is that pace (a stress test; people read the question).
                time.sleep(think)
        submit = {"csrfmiddlewaretoken": csrf, "action": "submit", "confirm": "1"}
        for status, ms, location in twice(
            lambda twin: request(ports[(i + twin) % len(ports)], "POST", path, cookie, submit)
        ):
            record("submit", ms)
            if status != 302 or "/result/" not in (location or ""):
                fail(f"submit of {who['id']}: {status} {location}")

    def guarded(i: int) -> None:
        try:
            student(i)
        except Exception as exc:  # one student's failure is a finding, not a crash
            fail(f"student {cohort[i]['id']}: {exc!r}")

    with ThreadPoolExecutor(max_workers=len(cohort)) as pool:
        list(pool.map(guarded, range(len(cohort))))
    return {
        "students": len(cohort),
        "spread_s": spread,
        "think_s": think,
        "wall_s": round(time.perf_counter() - began, 1),
        "steps": {step: percentiles(times[step]) for step in STEPS},
        "errors": len(errors),
        "first_errors": errors[:5],
    }


def cohort_phase(
    ports: list[int],
    cohort: list[dict],
    spread: float,
    *,
    slug: str,
    request: Callable,
    answers: Callable,
    think: float = 0.25,
) -> dict:
    """bench/quiz_cohort.py against the servers, then the count of attempts and answers."""
    from django.db import connection

    from quizzes.models import Attempt

    # The harness's own reads: a few at a time, each thread closing its connection, so
    # the generator never takes PostgreSQL connections the servers need.
    reads = threading.BoundedSemaphore(4)

    def answers_of(attempt_id: int) -> dict[int, list[str]]:
        with reads:
            try:
                fields = answers(Attempt.objects.get(pk=attempt_id))
            finally:
                connection.close()
        return {int(name[1:]): values for name, values in fields.items()}

    def attempt_of(user_id: int) -> int:
        with reads:
            try:
                return Attempt.objects.get(quiz__slug=slug, user_id=user_id).pk
            finally:
                connection.close()

    run = cohort_run(
        ports=ports,
        cohort=cohort,
        slug=slug,
        spread=spread,
        request=request,
        answers_of=answers_of,
        attempt_of=attempt_of,
        think=think,
    )
    ids = [s["id"] for s in cohort]
    rows = list(
        Attempt.objects.filter(quiz__slug=slug, user_id__in=ids).values_list(
            "user_id", "status", "correct_count"
        )
    )
    per_student: dict[int, int] = {}
    for user_id, *_ in rows:
        per_student[user_id] = per_student.get(user_id, 0) + 1
    run["students_with_other_than_one_attempt"] = sum(1 for i in ids if per_student.get(i) != 1)
    run["submitted"] = sum(1 for _, status, _ in rows if status == "submitted")
    run["all_answers_counted"] = all(c == 20 for *_, c in rows)
    return run
