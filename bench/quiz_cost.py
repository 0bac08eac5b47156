"""What one student request costs a real server: its CPU and PostgreSQL's, per request.

One `manage.py serve --no-chat` process on PostgreSQL with a private redis-server, as
bench/quiz_load.py starts them, and --students students taken through the cohort's steps
one request at a time (no contention, so the figures add up): the test page, Start, Start
again (the double click's second request), the attempt page, the attempt socket's
connect, 20 answers over it (round robin over the students, so each socket answers at
the cohort's pace), Submit and Submit again. For each step it prints the server
process's CPU and all PostgreSQL processes' CPU (from /proc, in clock ticks of 10 ms),
divided by the requests of that step. Unlike bench/quiz_profile.py (Django's test client
in process) this includes the serving stack: uvicorn, a2wsgi, the Channels consumer and
the channel layer.

    python bench/quiz_cost.py --students 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import launch
import quiz_cohort
import quiz_load
import scale_compare

TICK = os.sysconf("SC_CLK_TCK")
KINDS = ("saved", "error")


def cpu_seconds(pids: list[str]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def postgres_pids() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if b"postgres" in open(f"/proc/{pid}/cmdline", "rb").read():  # noqa: SIM115
                found.append(pid)
    return found


async def steps(port: int, cohort: list[dict], server: str, slug: str) -> dict[str, list]:
    """Each step for every student in turn; [server ms, PostgreSQL ms] per request."""
    from websockets.asyncio.client import connect

    csrf = "c" * 32
    figures: dict[str, list] = {}
    paths: dict[int, str] = {}
    answers: dict[int, dict[int, list[str]]] = {}
    sockets: dict = {}

    def cookie(i: int) -> str:
        return f"sessionid={cohort[i]['session']}; csrftoken={csrf}"

    async def measure(name: str, run: Callable[[], Awaitable[None]], requests: int) -> None:
        server_before, db_before = cpu_seconds([server]), cpu_seconds(postgres_pids())
        await run()
        # The server's last bit of work lands: a publish, the answered events that go
        # at most once a second.
        await asyncio.sleep(1.3)
        figures[name] = [
            round((cpu_seconds([server]) - server_before) / requests * 1000, 2),
            round((cpu_seconds(postgres_pids()) - db_before) / requests * 1000, 2),
        ]
        print(f"{name:16} server {figures[name][0]:6.2f} ms  PostgreSQL {figures[name][1]:5.2f}")

    async def each(name: str, step: Callable[[int], Awaitable[object]]) -> None:
        async def run() -> None:
            for i in range(len(cohort)):
                await step(i)

        await measure(name, run, len(cohort))

    async def http(i: int, method: str, path: str, form: dict | None, status: int) -> str:
        got, _, location = await quiz_cohort.request(port, method, path, cookie(i), form)
        assert got == status, (path, got)
        return location or ""

    async def start(i: int) -> None:
        form = {"csrfmiddlewaretoken": csrf}
        paths[i] = await http(i, "POST", f"/quizzes/{slug}/start/", form, 302)

    async def opened(i: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/quizzes/attempts/{quiz_cohort.attempt_id(paths[i])}/"
        headers = {"Cookie": cookie(i), "Origin": f"http://127.0.0.1:{port}"}
        sockets[i] = await connect(url, additional_headers=headers)
        while json.loads(await sockets[i].recv())["type"] != "state":
            pass

    async def rounds() -> None:
        """One answer of each student in turn, 20 times: each socket at the cohort's pace."""
        for position in range(20):
            for i in range(len(cohort)):
                frame = {"type": "answer", "question": position, "options": answers[i][position]}
                await sockets[i].send(json.dumps(frame))
                while (reply := json.loads(await sockets[i].recv()))["type"] not in KINDS:
                    pass
                assert reply["type"] == "saved", reply

    async def submit(i: int) -> None:
        form = {"csrfmiddlewaretoken": csrf, "action": "submit", "confirm": "1"}
        await http(i, "POST", paths[i], form, 302)

    await each("test page", lambda i: http(i, "GET", f"/quizzes/{slug}/", None, 200))
    await each("start", start)
    await each("start again", start)
    await each("attempt page", lambda i: http(i, "GET", paths[i], None, 200))
    right_values = await asyncio.to_thread(quiz_cohort.key_reader, slug)
    for i in range(len(cohort)):
        answers[i] = await asyncio.to_thread(right_values, quiz_cohort.attempt_id(paths[i]))
    await each("socket connect", opened)
    await measure("socket answer", rounds, len(cohort) * 20)
    await each("submit", submit)
    await each("submit again", submit)
    for socket in sockets.values():
        await socket.close()
    return figures


def prepared(
    database_url: str, database: str, students: int, port: int, prefix: str
) -> tuple[list[dict], dict[str, str]]:
    """The database with the cohort's test and `students` signed in, and the environment
    a site server runs in on it (PostgreSQL, a redis-server on `port` + 9, a pool)."""
    url = quiz_load.ensure_database(database_url, database)
    quiz_load.setup_django(url)
    quiz_load.load_quizzes({quiz_load.COHORT: (20, 1)})
    env = {
        **launch.QUIET,
        "DATABASE_URL": url,
        "REDIS_URL": f"redis://127.0.0.1:{port + 9}/0",
        "CHANNEL_LAYER_PREFIX": prefix,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_POOL_MAX_SIZE": "20",
    }
    return quiz_load.students(students), env


def site_server(name: str, root: Path, env: dict[str, str]) -> launch.Target:
    """`manage.py serve --no-chat` of the checkout at `root` (its .venv), static collected."""
    python = str(root / ".venv/bin/python")
    collect = [python, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(collect, cwd=root, env={**os.environ, **env}, check=True, timeout=300)
    command = [python, "manage.py", "serve", "--no-chat", "--site-port", "{port}"]
    return launch.Target(name, command, env, cwd=root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="courseware_quizcost")
    parser.add_argument("--port", type=int, default=18890, help="site port; redis +9")
    args = parser.parse_args()

    cohort, env = prepared(args.database_url, args.database, args.students, args.port, "quizcost")
    with contextlib.ExitStack() as stack:
        stack.enter_context(launch.running(scale_compare.redis_target(), args.port + 9, 600))
        site = site_server("site", launch.ROOT, env)
        server = str(launch.server_pid(stack.enter_context(launch.running(site, args.port, 600))))
        time.sleep(1)
        figures = asyncio.run(steps(args.port, cohort, server, quiz_load.COHORT))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
