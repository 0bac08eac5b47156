"""chat_load.py with its clients spread over several server processes (round-robin).

Same phases and JSON as chat_load.py; memory and CPU are summed over every PID given.

    python bench/scale_load.py --urls ws://127.0.0.1:4001/ ws://127.0.0.1:4002/ \
        --pids 111 222 --clients 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import chat_load


def total_rss(pids: list[int]) -> int | None:
    values = [chat_load.rss_kib(pid) for pid in pids]
    return sum(v for v in values if v) if pids else None


class SpreadLoad(chat_load.Load):
    """Client i connects to urls[i % len(urls)]."""

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        urls = self.args.urls
        self.clients = [
            chat_load.Client(i, urls[i % len(urls)], self) for i in range(self.args.clients)
        ]
        for batch in range(0, len(self.clients), 100):
            chunk = self.clients[batch : batch + 100]
            await asyncio.gather(
                *(
                    loop.create_connection(lambda c=c: c, c.url.hostname, c.url.port or 80)
                    for c in chunk
                )
            )
            await asyncio.wait_for(asyncio.gather(*(c.opened for c in chunk)), 30)
        for client in self.clients:
            client.peers = [c for c in self.clients if c is not client]

    def cpu(self, since: dict | None = None, elapsed: float = 0.0) -> dict:
        pids = self.args.pids
        used = {
            "server": sum(chat_load.cpu_s(pid) for pid in pids) if pids else None,
            "generator": chat_load.cpu_s(None),
        }
        if since is None:
            return used
        return {
            f"cpu_{name}": round((used[name] - since[name]) / elapsed, 2)
            for name in used
            if used[name] is not None and since[name] is not None and elapsed
        }


async def run(args: argparse.Namespace) -> dict:
    load = SpreadLoad(args)
    result: dict = {"clients": args.clients, "rss_idle_kib": total_rss(args.pids)}
    await load.connect()
    result["rss_connected_kib"] = total_rss(args.pids)
    result["login_storm"] = await load.login_storm()
    result["rss_logged_in_kib"] = total_rss(args.pids)
    if args.saturate > 0:
        result["saturated"] = await load.saturate()
    if args.rate > 0:
        result["fixed_rate"] = await load.fixed_rate()
    result["rss_end_kib"] = total_rss(args.pids)
    for client in load.clients:
        if client.transport is not None:
            client.transport.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", nargs="+", required=True)
    parser.add_argument("--pids", type=int, nargs="*", default=[])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--saturate", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, default=2)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    args.pid = None  # chat_load's single-PID figures are replaced by the sums above
    import uvloop

    json.dump(uvloop.run(run(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
