"""Soak: two chat processes on Redis, clients connecting and leaving for minutes; memory.

Starts a private redis-server and two `chatserver` processes (CHAT_ROOMS on, idle rooms
forgotten after 10 s), then keeps --workers clients churning for --minutes: each connects
to either process, logs in under a login from a bounded pool (the reference keeps every
user forever, so a pool keeps the user table from growing by design), does a few
requests and leaves. Residents stay logged in to the shared world and receive the
churners' logins and logouts; churners in rooms send each other messages, and rooms are
renamed every 30 s so old ones go idle and are reaped (a world keeps every message while
it lives, as the reference does, so messages to the shared world would grow memory by
design: --shared-messages adds them). Every 10 s it samples the servers' RSS and Redis'
memory; the summary compares the second minute with the last one.

    python bench/chat_soak.py --minutes 10 --json /tmp/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import chat_load
import launch
import scale_compare
import websockets

PREFIX = scale_compare.PREFIX


class Counts:
    def __init__(self) -> None:
        self.sessions = 0
        self.failed = 0
        self.sent = 0
        self.delivered = 0
        self.presence = 0


async def resident(url: str, login: str, counts: Counts, stop: float) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps(login_frame(login)))
        while time.monotonic() < stop:
            try:
                text = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            if not isinstance(text, str):
                continue
            if text.startswith('{"id":null,"type":"MSG_SEND"'):
                counts.delivered += 1
            elif text.startswith('{"id":null,"type":"USER_EXTERNAL_'):
                counts.presence += 1


def login_frame(login: str) -> dict:
    return {
        "id": "login",
        "type": "USER_LOGIN",
        "payload": {"user": {"login": login, "password": "pw"}},
    }


async def churner(
    n: int,
    urls: list[str],
    residents: list[str],
    counts: Counts,
    stop: float,
    shared_messages: bool,
) -> None:
    rng = random.Random(n)
    while time.monotonic() < stop:
        url = rng.choice(urls)
        in_room = rng.random() < 0.4
        if in_room:
            slot = int(time.monotonic() / 30)
            url += f"rooms/soak-{slot}-{n % 8}"
        login = f"churn-{n}-{rng.randrange(5)}"  # a bounded pool of logins
        try:
            async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
                await ws.send(json.dumps(login_frame(login)))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if reply["type"] != "USER_LOGIN":
                    await asyncio.sleep(0.2)  # that login is still online elsewhere
                    continue
                for i in range(rng.randrange(1, 6) if in_room or shared_messages else 0):
                    to = f"churn-{n - 8 if n >= 8 else n + 8}-{i % 5}" if in_room else None
                    to = to or rng.choice(residents)
                    message = {"message": {"to": to, "text": f"soak {n} {i}"}}
                    await ws.send(
                        json.dumps({"id": f"m{i}", "type": "MSG_SEND", "payload": message})
                    )
                    counts.sent += 1
                await ws.send(json.dumps({"id": "a", "type": "USER_ACTIVE", "payload": None}))
                await asyncio.sleep(rng.uniform(0.2, 2.0))
            counts.sessions += 1
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            counts.failed += 1
            await asyncio.sleep(0.5)


async def soak(args: argparse.Namespace, urls: list[str], pids: list[int], redis_port: int) -> dict:
    counts = Counts()
    stop = time.monotonic() + args.minutes * 60
    residents = [f"resident-{i}" for i in range(20)]
    tasks = [
        asyncio.create_task(resident(urls[i % len(urls)], login, counts, stop))
        for i, login in enumerate(residents)
    ]
    await asyncio.sleep(1)
    tasks += [
        asyncio.create_task(churner(n, urls, residents, counts, stop, args.shared_messages))
        for n in range(args.workers)
    ]
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    while time.monotonic() < stop:
        samples.append(
            {
                "t": round(time.monotonic() - started),
                "rss_kib": [chat_load.rss_kib(pid) for pid in pids],
                "redis_kib": scale_compare.redis_memory_kib(redis_port),
                "sessions": counts.sessions,
            }
        )
        print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
        await asyncio.sleep(10)
    await asyncio.gather(*tasks, return_exceptions=True)
    second_minute = [s for s in samples if 60 <= s["t"] < 120]
    last_minute = [s for s in samples if s["t"] >= samples[-1]["t"] - 60]

    def mean_rss(rows: list[dict]) -> float:
        return sum(sum(r["rss_kib"]) for r in rows) / max(len(rows), 1)

    return {
        "minutes": args.minutes,
        "workers": args.workers,
        "sessions": counts.sessions,
        "failed_sessions": counts.failed,
        "messages_sent": counts.sent,
        "delivered_to_residents": counts.delivered,
        "presence_pushes_to_residents": counts.presence,
        "rss_second_minute_kib": round(mean_rss(second_minute)),
        "rss_last_minute_kib": round(mean_rss(last_minute)),
        "cluster": scale_compare.cluster_stats(redis_port),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument(
        "--shared-messages",
        action="store_true",
        help="churners also message the residents: the shared world keeps every message "
        "for good, as the reference does, so memory then grows by design",
    )
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args()
    launch.isolate(sys.argv)
    ports = [4801, 4802, 4803]
    env = {
        **launch.QUIET,
        "REDIS_URL": f"redis://127.0.0.1:{ports[2]}/0",
        "CHANNEL_LAYER_PREFIX": PREFIX,
        "CHAT_ROOMS": "true",
        "CHAT_ROOM_IDLE_SECONDS": "10",
    }
    lifetime = int(args.minutes * 60) + 120
    target = launch.Target("soak", scale_compare.chatserver(), env)
    with (
        launch.running(scale_compare.redis_target(), ports[2], lifetime),
        launch.running(target, ports[0], lifetime) as first,
    ):
        time.sleep(2)  # the first process takes the shared world
        with launch.running(target, ports[1], lifetime) as second:
            pids = [launch.server_pid(first), launch.server_pid(second)]
            urls = [f"ws://127.0.0.1:{port}/" for port in ports[:2]]
            import uvloop

            result = uvloop.run(soak(args, urls, pids, ports[2]))
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
