"""Presence fan-out at scale: N users log in at once, then all log out at once.

Each login pushes USER_EXTERNAL_LOGIN to everyone already online, and each logout pushes
USER_EXTERNAL_LOGOUT to everyone still online: N(N-1)/2 pushes per storm, the same for any
server. Timed until the last push has arrived. A fresh server per target (ours with its
default settings, so the default LOG; the reference with --reference), under `timeout`, on
loopback, stopped by its PID; as root in a private network namespace (bench/launch.py).

    .venv/bin/python bench/chat_fanout.py --users 2000
    .venv/bin/python bench/chat_fanout.py --users 500 2000 --reference /tmp/fun-chat-ref
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chat_load
import launch

PUSH_LOGOUT = b'{"id":null,"type":"USER_EXTERNAL_LOGOUT"'


class Counting(chat_load.Client):
    """chat_load's client, counting the logout pushes it otherwise ignores."""

    run: Storms

    def message(self, data: bytes) -> None:
        if data.startswith(PUSH_LOGOUT):
            self.run.logouts += 1
        else:
            super().message(data)


class Storms(chat_load.Load):
    """chat_load's login storm, then a logout storm."""

    client_class = Counting
    logouts = 0

    async def logout_storm(self) -> float | None:
        expected = len(self.clients) * (len(self.clients) - 1) // 2
        started = time.perf_counter()
        for client in self.clients:
            body = {"user": {"login": client.login, "password": "pw"}}
            client.write({"id": "out", "type": "USER_LOGOUT", "payload": body})
        done = await self.wait_until(lambda: self.logouts >= expected, self.args.timeout)
        return round(time.perf_counter() - started, 3) if done else None


async def storms(port: int, users: int, timeout: float) -> dict[str, object]:
    args = argparse.Namespace(url=[f"ws://127.0.0.1:{port}/"], clients=users, timeout=timeout)
    load = Storms(args)
    await load.connect()
    login = await load.login_storm()
    logout_s = await load.logout_storm()
    for client in load.clients:
        client.transport.close()
    return {"users": users, "login_storm_s": login["seconds"], "logout_storm_s": logout_s}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[2000])
    parser.add_argument("--reference", help="a checkout of rolling-scopes-school/fun-chat-server")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per storm")
    args = parser.parse_args()
    launch.isolate(sys.argv)
    found = launch.targets(args.reference)
    # Ours as `make run` serves it: its default LOG, not the bench's usual LOG=NONE.
    ours = launch.Target("ours", found["ours"].command, {})
    for target in [ours, *([found["reference"]] if args.reference else [])]:
        for users in args.users:
            port = free_port()
            with launch.running(target, port, int(args.timeout * 2 + 60)):
                result = asyncio.run(storms(port, users, args.timeout))
            print(json.dumps({"server": target.name, **result}), flush=True)


if __name__ == "__main__":
    main()
