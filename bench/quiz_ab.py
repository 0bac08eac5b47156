"""Two trees' servers at once, the same page requests interleaved: CPU per request each.

This VM's speed drifts by up to a third from minute to minute, so figures taken one run
after another (bench/quiz_cost.py) cannot show a change of 10 %. Here the old tree's
`manage.py serve --no-chat` and this tree's run side by side on one PostgreSQL database
(and a private redis-server), and each round sends every student's request to one
server, then the same to the other (the order swapped each round); the CPU each server
process spent comes from /proc. Steps that can repeat: the test page, the attempt page,
and Start again (the double click's second request, which finds the attempt open).

    git worktree add /tmp/old <commit> && ln -s "$PWD/.venv" /tmp/old/.venv
    .venv/bin/python bench/quiz_ab.py --old /tmp/old --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from pathlib import Path

import launch
import quiz_cohort
import quiz_cost
import quiz_load
import scale_compare

CSRF = "c" * 32


async def rounds(servers: dict[str, tuple[str, int]], cohort: list[dict], count: int) -> dict:
    slug = quiz_load.COHORT
    form = {"csrfmiddlewaretoken": CSRF}
    cookies = [f"sessionid={who['session']}; csrftoken={CSRF}" for who in cohort]
    first_port = next(iter(servers.values()))[1]
    paths = []
    for cookie in cookies:
        _, _, location = await quiz_cohort.request(
            first_port, "POST", f"/quizzes/{slug}/start/", cookie, form
        )
        paths.append(location or "")
    steps = {
        "test page": lambda i: ("GET", f"/quizzes/{slug}/", None),
        "attempt page": lambda i: ("GET", paths[i], None),
        "start again": lambda i: ("POST", f"/quizzes/{slug}/start/", form),
    }
    figures: dict[tuple[str, str], list[float]] = {}
    for number in range(count):
        order = list(servers.items())
        for step, make in steps.items():
            for name, (pid, port) in order if number % 2 == 0 else order[::-1]:
                before = quiz_cost.cpu_seconds([pid])
                for i, cookie in enumerate(cookies):
                    method, path, data = make(i)
                    await quiz_cohort.request(port, method, path, cookie, data)
                await asyncio.sleep(0.2)  # the last response's tail lands
                spent = (quiz_cost.cpu_seconds([pid]) - before) / len(cookies) * 1000
                figures.setdefault((step, name), []).append(spent)
    return {
        step: {name: round(statistics.median(figures[(step, name)]), 2) for name in servers}
        for step in steps
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, type=Path, help="the other tree (with .venv)")
    parser.add_argument("--students", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="courseware_quizab")
    parser.add_argument("--port", type=int, default=18870, help="old; new +1, redis +9")
    args = parser.parse_args()

    cohort, env = quiz_cost.prepared(
        args.database_url, args.database, args.students, args.port, "quizab"
    )
    trees = {"old": args.old.resolve(), "new": launch.ROOT}
    with contextlib.ExitStack() as stack:
        stack.enter_context(launch.running(scale_compare.redis_target(), args.port + 9, 1200))
        servers = {}
        for offset, (name, root) in enumerate(trees.items()):
            target = quiz_cost.site_server(name, root, env)
            proc = stack.enter_context(launch.running(target, args.port + offset, 1200))
            servers[name] = (str(launch.server_pid(proc)), args.port + offset)
        time.sleep(1)
        figures = asyncio.run(rounds(servers, cohort, args.rounds))
    for step, spent in figures.items():
        ratio = spent["new"] / spent["old"]
        print(f"{step:13} old {spent['old']:6.2f} ms  new {spent['new']:6.2f} ms  x{ratio:.2f}")


if __name__ == "__main__":
    main()
