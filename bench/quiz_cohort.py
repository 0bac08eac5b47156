"""A cohort taking the test as browsers do, for bench/quiz_load.py --cohort.

Each student, at a random moment within --spread seconds: opens the test page,
double-clicks Start (two requests at once, one to each process; a first attempt needs no
replace confirmation), opens the attempt page, saves every answer over the attempt
socket one frame at a time (each timed until its "saved" reply), then double-clicks
Submit. Afterwards every student must have exactly one attempt, submitted, with every
answer counted.

The students are coroutines on one uvloop event loop, not threads: the generator shares
the servers' two cores, which real students' browsers never take from the server, so it
should take as little of them as it can (a thread per student, 1,000 of them contending
for one interpreter, took more and slowed its own clients down).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import uvloop
from websockets.asyncio.client import connect

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


def timeline(times: dict[str, list[float]], ended: dict[str, list[float]]) -> list[str]:
    """Per 10 s of the run: how many of each step ended then, and their p99 (ms)."""
    rows = []
    last = max((t for step in STEPS for t in ended[step]), default=0)
    for start in range(0, int(last) + 1, 10):
        cells = []
        for step in STEPS:
            window = [
                ms
                for ms, t in zip(times[step], ended[step], strict=True)
                if start <= t < start + 10
            ]
            if window:
                cells.append(f"{step} n={len(window)} p99 {percentiles(window)['p99_ms']:.0f}")
        rows.append(f"{start:>3}-{start + 10:<3} s: " + "; ".join(cells))
    return rows


async def request(
    port: int, method: str, path: str, cookie: str, form: dict | None = None
) -> tuple[int, float, str | None]:
    """One HTTP/1.1 request on its own connection: (status, milliseconds, Location)."""
    body = urlencode(form or {}).encode() if method == "POST" else b""
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Cookie: {cookie}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    if method == "POST":
        head.append("Content-Type: application/x-www-form-urlencoded")
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        response = await asyncio.wait_for(reader.read(), timeout=120)  # to the server's close
    finally:
        writer.close()
    elapsed = (time.perf_counter() - started) * 1000
    header, _, _ = response.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    location = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("location:")),
        None,
    )
    return int(lines[0].split()[1]), elapsed, location


async def twice(call: Callable[[int], Awaitable[tuple]]) -> list[tuple]:
    """A double click: the same request twice at the same instant, to both processes."""
    return list(await asyncio.gather(call(0), call(1)))


async def cohort_run(
    *,
    ports: list[int],
    cohort: list[dict],
    slug: str,
    spread: float,
    answers_of: Callable[[int], Awaitable[dict[int, list[str]]]],
    think: float = 0.25,
) -> dict:
    """Run the cohort; `await answers_of(attempt id)` gives the right values per position."""
    csrf = "c" * 32
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    ended: dict[str, list[float]] = {step: [] for step in STEPS}  # seconds into the run
    errors: list[str] = []
    offsets = sorted(random.uniform(0, spread) for _ in cohort)
    began = time.perf_counter()

    def record(step: str, ms: float) -> None:
        times[step].append(ms)
        ended[step].append(time.perf_counter() - began)

    async def student(i: int) -> None:
        who = cohort[i]
        cookie = f"sessionid={who['session']}; csrftoken={csrf}"
        port = ports[i % len(ports)]
        await asyncio.sleep(max(0.0, offsets[i] - (time.perf_counter() - began)))
        status, ms, _ = await request(port, "GET", f"/quizzes/{slug}/", cookie)
        record("test page", ms)
        if status != 200:
            errors.append(f"test page of {who['id']}: {status}")
        form = {"csrfmiddlewaretoken": csrf}
        started = await twice(
            lambda twin: request(
                ports[(i + twin) % len(ports)], "POST", f"/quizzes/{slug}/start/", cookie, form
            )
        )
        for status, ms, location in started:
            record("start", ms)
            if status != 302 or "/attempts/" not in (location or ""):
                errors.append(f"start of {who['id']}: {status} {location}")
        path = started[0][2] or ""
        attempt = attempt_id(path)
        status, ms, _ = await request(port, "GET", path, cookie)
        record("attempt page", ms)
        if status != 200:
            errors.append(f"attempt page of {who['id']}: {status}")
        headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
        url = f"ws://127.0.0.1:{port}/ws/quizzes/attempts/{attempt}/"
        answers = await answers_of(attempt)
        async with connect(url, additional_headers=headers, open_timeout=60) as socket:
            for position, values in answers.items():
                sent = time.perf_counter()
                await socket.send(
                    json.dumps({"type": "answer", "question": position, "options": values})
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
                    if frame["type"] in ("saved", "error"):
                        break
                record("answer (socket)", (time.perf_counter() - sent) * 1000)
                if frame["type"] != "saved":
                    errors.append(f"answer of {who['id']}: {frame}")
                # Students click, they do not stream: the attempt's allowance is 5 a second,
                # and --think 0.25 is that pace (a stress test; people read the question).
                await asyncio.sleep(think)
        submit = {"csrfmiddlewaretoken": csrf, "action": "submit", "confirm": "1"}
        for status, ms, location in await twice(
            lambda twin: request(ports[(i + twin) % len(ports)], "POST", path, cookie, submit)
        ):
            record("submit", ms)
            if status != 302 or "/result/" not in (location or ""):
                errors.append(f"submit of {who['id']}: {status} {location}")

    async def guarded(i: int) -> None:
        try:
            await student(i)
        except Exception as exc:  # one student's failure is a finding, not a crash
            errors.append(f"student {cohort[i]['id']}: {exc!r}")

    await asyncio.gather(*(guarded(i) for i in range(len(cohort))))
    return {
        "students": len(cohort),
        "spread_s": spread,
        "think_s": think,
        "wall_s": round(time.perf_counter() - began, 1),
        "steps": {step: percentiles(times[step]) for step in STEPS},
        "timeline": timeline(times, ended),
        "errors": len(errors),
        "first_errors": errors[:5],
    }


def attempt_id(path: str) -> int:
    """The attempt's id in its page's path, /quizzes/<slug>/attempts/<id>/."""
    return int(path.rstrip("/").rsplit("/", 1)[1])


def key_reader(slug: str) -> Callable[[int], dict[int, list[str]]]:
    """(attempt id) -> {position: the values of its right options, sorted}; blocking.

    Reads the test's key once; then one small query per attempt.
    """
    from django.db import connection

    from quizzes.models import AttemptQuestion, Option

    key = set(
        Option.objects.filter(version__question__quiz__slug=slug, correct=True).values_list(
            "id", flat=True
        )
    )

    # Written out: building the ORM's query was most of the generator's CPU in this read.
    sql = (
        "SELECT position, option_order, option_values FROM "
        f"{AttemptQuestion._meta.db_table} WHERE attempt_id = %s"
    )

    def right_values(attempt: int) -> dict[int, list[str]]:
        with connection.cursor() as cursor:
            cursor.execute(sql, [attempt])
            rows = cursor.fetchall()
        pairs = ((p, zip(_json(o), _json(v), strict=True)) for p, o, v in rows)
        return {position: sorted(v for i, v in pair if i in key) for position, pair in pairs}

    return right_values


def _json(value: str | list) -> list:
    """A JSON column as read by a plain cursor: text on PostgreSQL (Django's loader) and SQLite."""
    return json.loads(value) if isinstance(value, str) else value


def cohort_phase(
    ports: list[int],
    cohort: list[dict],
    spread: float,
    *,
    slug: str,
    think: float = 0.25,
) -> dict:
    """bench/quiz_cohort.py against the servers, then the count of attempts and answers."""
    from quizzes.models import Attempt

    # The key once, then one small read per student on two threads that keep their
    # connections: the generator shares the cores (and PostgreSQL) with the servers.
    right_values = key_reader(slug)
    reads = ThreadPoolExecutor(max_workers=2)

    async def answers_of(attempt: int) -> dict[int, list[str]]:
        return await asyncio.get_running_loop().run_in_executor(reads, right_values, attempt)

    run = uvloop.run(
        cohort_run(
            ports=ports,
            cohort=cohort,
            slug=slug,
            spread=spread,
            answers_of=answers_of,
            think=think,
        )
    )
    reads.shutdown()  # its threads' connections close with them
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
