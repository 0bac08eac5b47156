"""One process, two processes on Redis, and the reference: the chat load, in one run.

For each repeat, N and target, fresh servers start (and, for the two-process target, a
private redis-server), bench/chat_load.py runs its phases with the clients spread over
the target's processes, and the servers stop. Targets:

- ``one``: `manage.py chatserver` alone (no REDIS_URL), the embedded default;
- ``two``: two `chatserver` processes on one redis-server; process A starts first and owns
  the shared world, half the clients connect to B, which forwards their frames to A;
- ``reference``: RS School's server (Node.js), given with --reference;
- ``baseline``: `chatserver` from another checkout (--baseline DIR), to compare the single
  process before and after a change.

Lost messages are counted twice: by the clients (sent minus delivered) and, for ``two``,
by the processes' own sequence-gap counters (chat.relay.Stats, published in Redis).
Server CPU per message (all its processes, Redis not included) is the figure least
disturbed by other load on a shared machine. Memory per connection sums every server
process (Redis not included; its own figure is reported apart). Loopback only, every
process under `timeout`, stopped by PID; as root the whole run moves into a private
network namespace (bench/launch.py).

    python bench/scale_compare.py --reference /tmp/fun-chat-ref --clients 100 500 1000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chat_compare
import launch

LOAD = Path(__file__).with_name("chat_load.py")
LIFETIME_S = 900
PREFIX = "bench"


def chatserver(manage: str = "manage.py") -> list[str]:
    return [sys.executable, manage, "chatserver", "--host", "127.0.0.1", "--port", "{port}"]


def redis_target() -> launch.Target:
    server = shutil.which("redis-server") or "redis-server"
    args = ["--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return launch.Target("redis", [server, *args], {})


def redis_cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    return out.stdout


def cluster_stats(redis_port: int) -> dict[str, int]:
    """The sum of every process's chat.relay.Stats, as last published."""
    totals: dict[str, int] = {}
    for key in redis_cli(redis_port, "--scan", "--pattern", f"{PREFIX}-chat:stats:*").split():
        fields = redis_cli(redis_port, "hgetall", key).split()
        for name, value in zip(fields[::2], fields[1::2], strict=True):
            totals[name] = totals.get(name, 0) + int(value)
    return totals


def redis_memory_kib(port: int) -> int | None:
    for line in redis_cli(port, "info", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1]) // 1024
    return None


@contextlib.contextmanager
def servers(name: str, ports: list[int], args: argparse.Namespace) -> Iterator[dict]:
    """The target's processes; yields their URLs, PIDs and (for two) the Redis port."""
    with contextlib.ExitStack() as stack:
        if name == "one":
            proc = stack.enter_context(
                launch.running(
                    launch.Target(name, chatserver(), launch.QUIET), ports[0], LIFETIME_S
                )
            )
            yield {"urls": [ports[0]], "pids": [launch.server_pid(proc)]}
        elif name == "baseline":
            manage = str(Path(args.baseline, "manage.py").resolve())
            target = launch.Target(name, chatserver(manage), launch.QUIET)
            proc = stack.enter_context(launch.running(target, ports[0], LIFETIME_S))
            yield {"urls": [ports[0]], "pids": [launch.server_pid(proc)]}
        elif name == "reference":
            target = launch.targets(args.reference)["reference"]
            proc = stack.enter_context(launch.running(target, ports[0], LIFETIME_S))
            yield {"urls": [ports[0]], "pids": [launch.server_pid(proc)]}
        else:
            redis_port = ports[2]
            stack.enter_context(launch.running(redis_target(), redis_port, LIFETIME_S))
            env = {
                **launch.QUIET,
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "CHANNEL_LAYER_PREFIX": PREFIX,
            }
            target = launch.Target(name, chatserver(), env)
            first = stack.enter_context(launch.running(target, ports[0], LIFETIME_S))
            deadline = time.monotonic() + 30
            while not redis_cli(redis_port, "get", f"{PREFIX}-chat:lease:shared").strip():
                if time.monotonic() > deadline:
                    raise RuntimeError("process A never took the shared world")
                time.sleep(0.1)
            second = stack.enter_context(launch.running(target, ports[1], LIFETIME_S))
            yield {
                "urls": ports[:2],
                "pids": [launch.server_pid(first), launch.server_pid(second)],
                "redis": redis_port,
            }


def run_one(name: str, ports: list[int], clients: int, args: argparse.Namespace) -> dict:
    with servers(name, ports, args) as running:
        time.sleep(0.5)
        redis_before = redis_memory_kib(running["redis"]) if "redis" in running else None
        load = [
            sys.executable,
            str(LOAD),
            "--url",
            *(f"ws://127.0.0.1:{port}/" for port in running["urls"]),
            "--pid",
            *map(str, running["pids"]),
            "--clients",
            str(clients),
            "--saturate",
            str(args.seconds),
            "--rate",
            str(args.rate),
            "--rate-seconds",
            str(args.seconds),
        ]
        out = subprocess.run(load, capture_output=True, text=True, timeout=LIFETIME_S)
        if out.returncode:
            return {"failed": (out.stderr.strip().splitlines() or ["?"])[-1]}
        result = json.loads(out.stdout)
        if "redis" in running:
            time.sleep(2.5)  # a heartbeat or two: the processes publish their counters
            result["cluster"] = cluster_stats(running["redis"])
            result["redis_kib"] = redis_memory_kib(running["redis"])
            result["redis_before_kib"] = redis_before
        return result


def table(runs: list[dict], names: list[str], sizes: list[int]) -> str:
    head = (
        "| target | N | saturated msg/s | delivery p50 / p99 ms @ fixed rate "
        "| saturated RTT p50 / p99 ms | server CPU µs per msg | lost (clients / batches) "
        "| KiB per conn | runs |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for n in sizes:
        for name in names:
            mine = [r for r in runs if r["target"] == name and r["clients"] == n]
            ok = [r for r in mine if "failed" not in r["raw"]]
            m = {k: chat_compare.median([r["m"].get(k) for r in ok]) for k in KEYS}
            batches = [r["raw"].get("cluster", {}).get("lost") for r in ok]
            lost_batches = sum(b for b in batches if b is not None) if name == "two" else None
            lost_clients = sum(r["m"].get("lost") or 0 for r in ok)
            f = chat_compare.fmt
            rows.append(
                f"| {name} | {n} | {f(m['sat_msgs'], 0)} "
                f"| {f(m['fix_del50'], 2)} / {f(m['fix_del99'], 2)} "
                f"| {f(m['sat_rtt50'])} / {f(m['sat_rtt99'])} | {f(m['us_per_msg'], 0)} "
                f"| {lost_clients} / {'-' if lost_batches is None else lost_batches} "
                f"| {f(m['kib_per_conn'])} | {len(ok)}"
                + (f" ({len(mine) - len(ok)} failed)" if len(mine) != len(ok) else "")
                + " |"
            )
    return head + "\n".join(rows)


KEYS = [
    "sat_msgs", "sat_rtt50", "sat_rtt99", "fix_del50", "fix_del99", "lost", "kib_per_conn",
    "us_per_msg",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--targets", nargs="+", default=["one", "two", "reference"])
    parser.add_argument("--reference", help="an npm-installed fun-chat-server checkout")
    parser.add_argument("--baseline", help="another checkout of this project")
    parser.add_argument("--seconds", type=float, default=5.0, help="per load phase")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="also write every raw result here")
    args = parser.parse_args()
    names = [n for n in args.targets if n != "reference" or args.reference]
    names = [n for n in names if n != "baseline" or args.baseline]

    launch.isolate(sys.argv)
    print(chat_compare.machine(), file=sys.stderr)
    print(f"private netns: {launch.in_private_netns()}", file=sys.stderr)
    runs = []
    port = 4700
    for repeat in range(args.repeat):
        for n in args.clients:
            for name in names:
                ports = [port + 1, port + 2, port + 3]
                port += 3
                started = time.monotonic()
                raw = run_one(name, ports, n, args)
                m = chat_compare.metrics(raw)
                runs.append({"target": name, "clients": n, "repeat": repeat, "m": m, "raw": raw})
                shown = {k: v for k, v in m.items() if v is not None}
                if "cluster" in raw:
                    shown["cluster"] = raw["cluster"]
                print(
                    f"repeat {repeat} {name} N={n} ({time.monotonic() - started:.0f} s, "
                    f"load {os.getloadavg()[0]:.1f}): {json.dumps(shown) if shown else raw}",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print(table(runs, names, args.clients))


if __name__ == "__main__":
    main()
