"""Run the chat load generator against our server and the reference, in one run.

Each (server, N, repeat) gets a fresh server process, so every run starts from an empty
world; the servers take turns within each repeat, in an order that rotates, so a noisy
neighbour hurts all of them alike. Figures are medians over the repeats, and the ratios
to the reference are taken within each repeat before their median. Servers listen on
loopback, live under `timeout` and are stopped by PID; as root the whole run moves into a
private network namespace, because the reference binds every interface.

    python bench/chat_compare.py --reference /tmp/fun-chat-ref --clients 100 500 --repeat 3
    # options: --only ours reference (targets: ours, ours-daphne, reference),
    #          --seconds 5 (per load phase), --rate 500, --json raw.json,
    #          --paired 5 (also every server at once, for the fixed-rate latency)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import launch

LOAD = Path(__file__).with_name("chat_load.py")
SERVER_LIFETIME_S = 900


def run_one(target: launch.Target, port: int, clients: int, args: argparse.Namespace) -> dict:
    """One fresh server, one load run; the load generator's JSON result."""
    with launch.running(target, port, SERVER_LIFETIME_S) as proc:
        time.sleep(0.5)  # let the server settle (Django and Node import lazily)
        load = [
            sys.executable,
            str(LOAD),
            "--url",
            f"ws://127.0.0.1:{port}/",
            "--clients",
            str(clients),
            "--pid",
            str(launch.server_pid(proc)),
            "--saturate",
            str(args.seconds),
            "--rate",
            str(args.rate),
            "--rate-seconds",
            str(args.seconds),
        ]
        out = subprocess.run(load, capture_output=True, text=True, timeout=SERVER_LIFETIME_S)
    if out.returncode:
        return {"failed": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout)


def run_paired(
    found: dict[str, launch.Target], names: list[str], port: int, clients: int, args
) -> dict[str, dict]:
    """Every target at once, one generator each; their fixed-rate phases start together.

    The rate is low enough (a few percent of a core) that the servers barely disturb each
    other, and each sees the box's other load at the same moments, which the sequential
    runs cannot promise for a tail figure such as p99.
    """
    with contextlib.ExitStack() as stack:
        procs = {
            name: stack.enter_context(launch.running(found[name], port + i, SERVER_LIFETIME_S))
            for i, name in enumerate(names)
        }
        time.sleep(0.5)
        start_at = time.time() + 8 + clients / 40  # room for every login storm
        loads = {
            name: subprocess.Popen(
                [
                    *(sys.executable, str(LOAD), "--url", f"ws://127.0.0.1:{port + i}/"),
                    *("--clients", str(clients), "--pid", str(launch.server_pid(procs[name]))),
                    *("--saturate", "0", "--rate", str(args.rate)),
                    *("--rate-seconds", str(args.seconds), "--rate-start-at", str(start_at)),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, name in enumerate(names)
        }
        results = {}
        for name, load in loads.items():
            out, err = load.communicate(timeout=SERVER_LIFETIME_S)
            results[name] = (
                json.loads(out) if load.returncode == 0 else {"failed": err.strip()[-300:]}
            )
            late = results[name].get("fixed_rate", {}).get("started_at", start_at) - start_at
            if late > 0.5:
                results[name]["late_s"] = round(late, 1)  # its login storm overran the slot
    return results


def metrics(result: dict) -> dict[str, float | None]:
    """The figures the table shows, flattened; None where a phase failed."""
    if "failed" in result:
        return {}
    sat, fix = result.get("saturated", {}), result.get("fixed_rate", {})
    return {
        "login_s": result["login_storm"]["seconds"],
        "sat_msgs": sat.get("msgs_per_s"),
        "sat_rtt50": sat.get("rtt_p50_ms"),
        "sat_rtt99": sat.get("rtt_p99_ms"),
        "fix_msgs": fix.get("msgs_per_s"),
        "fix_rtt50": fix.get("rtt_p50_ms"),
        "fix_rtt99": fix.get("rtt_p99_ms"),
        "fix_del50": fix.get("delivery_p50_ms"),
        "fix_del99": fix.get("delivery_p99_ms"),
        "errors": (sat.get("errors") or 0) + (fix.get("errors") or 0),
        "lost": (sat.get("lost") or 0) + (fix.get("lost") or 0),
        "kib_per_conn": per_connection_kib(result),
        "cpu_server": sat.get("cpu_server"),
        "cpu_generator": sat.get("cpu_generator"),
        # Server CPU per relayed message while saturated: what the box's other load
        # changes least, since a process starved of CPU also spends less of it.
        "us_per_msg": (
            sat["cpu_server"] / sat["msgs_per_s"] * 1e6
            if sat.get("cpu_server") and sat.get("msgs_per_s")
            else None
        ),
    }


def per_connection_kib(result: dict) -> float | None:
    idle, logged_in = result.get("rss_idle_kib"), result.get("rss_logged_in_kib")
    if not idle or not logged_in:
        return None
    return (logged_in - idle) / result["clients"]


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def table(runs: list[dict], names: list[str], sizes: list[int]) -> str:
    head = (
        "| server | N | login storm s | saturated msg/s | saturated RTT p50 / p99 ms "
        "| server CPU share / µs per msg | @fixed rate: RTT p50 / p99 ms "
        "| delivery p50 / p99 ms | errors | lost | KiB per conn | runs |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for n in sizes:
        for name in names:
            mine = [r for r in runs if r["target"] == name and r["clients"] == n]
            m = {k: median([r["m"].get(k) for r in mine]) for k in metrics_keys()}
            failed = sum(1 for r in mine if not r["m"])
            rows.append(
                f"| {name} | {n} | {fmt(m['login_s'], 2)} | {fmt(m['sat_msgs'], 0)} "
                f"| {fmt(m['sat_rtt50'])} / {fmt(m['sat_rtt99'])} "
                f"| {fmt(m['cpu_server'], 2)} / {fmt(m['us_per_msg'], 0)} "
                f"| {fmt(m['fix_rtt50'], 2)} / {fmt(m['fix_rtt99'], 2)} "
                f"| {fmt(m['fix_del50'], 2)} / {fmt(m['fix_del99'], 2)} "
                f"| {fmt(m['errors'], 0)} | {fmt(m['lost'], 0)} | {fmt(m['kib_per_conn'])} "
                f"| {len(mine) - failed}" + (f" ({failed} failed)" if failed else "") + " |"
            )
    return head + "\n".join(rows)


def metrics_keys() -> list[str]:
    return [
        "login_s", "sat_msgs", "sat_rtt50", "sat_rtt99", "fix_msgs", "fix_rtt50", "fix_rtt99",
        "fix_del50", "fix_del99", "errors", "lost", "kib_per_conn", "cpu_server", "us_per_msg",
    ]  # fmt: skip


def ratios(runs: list[dict], names: list[str], sizes: list[int]) -> str:
    """Per-repeat ratios to the reference (throughput up is good, latency down is good)."""
    if "reference" not in names:
        return ""
    lines = []
    for n in sizes:
        for name in (x for x in names if x != "reference"):
            sat, del99, cost = [], [], []
            for repeat in {r["repeat"] for r in runs}:
                pick = {
                    r["target"]: r["m"] for r in runs if r["repeat"] == repeat and r["clients"] == n
                }
                ours, ref = pick.get(name) or {}, pick.get("reference") or {}
                if ours.get("sat_msgs") and ref.get("sat_msgs"):
                    sat.append(ours["sat_msgs"] / ref["sat_msgs"])
                if ours.get("fix_del99") and ref.get("fix_del99"):
                    del99.append(ours["fix_del99"] / ref["fix_del99"])
                if ours.get("us_per_msg") and ref.get("us_per_msg"):
                    cost.append(ours["us_per_msg"] / ref["us_per_msg"])
            lines.append(
                f"- {name} / reference at N={n}: saturated throughput x{fmt(median(sat), 2)}, "
                f"p99 delivery at the fixed rate x{fmt(median(del99), 2)}, "
                f"server CPU per message x{fmt(median(cost), 2)} "
                f"(medians of {len(sat)} per-repeat ratios)"
            )
    return "\n".join(lines)


def paired_table(runs: list[dict], names: list[str], sizes: list[int]) -> str:
    """The fixed-rate phase with every server at once, and per-repeat p99 ratios."""
    lines = [
        "| server | N | RTT p50 / p99 ms | delivery p50 / p99 ms | delivery p99 / reference's "
        "| errors | lost | runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        for name in names:
            mine = [r for r in runs if r["target"] == name and r["clients"] == n]
            m = {k: median([r["m"].get(k) for r in mine]) for k in metrics_keys()}
            ratio = []
            for r in mine:
                ref = next(
                    (x for x in runs if x["target"] == "reference" and x["clients"] == n
                     and x["repeat"] == r["repeat"]),
                    None,
                )  # fmt: skip
                if ref and r["m"].get("fix_del99") and ref["m"].get("fix_del99"):
                    ratio.append(r["m"]["fix_del99"] / ref["m"]["fix_del99"])
            lines.append(
                f"| {name} | {n} | {fmt(m['fix_rtt50'], 2)} / {fmt(m['fix_rtt99'], 2)} "
                f"| {fmt(m['fix_del50'], 2)} / {fmt(m['fix_del99'], 2)} "
                f"| x{fmt(median(ratio), 2)} (median of {len(ratio)}) "
                f"| {fmt(m['errors'], 0)} | {fmt(m['lost'], 0)} | {len(mine)} |"
            )
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}, load average {load[0]:.2f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--reference", help="an npm-installed fun-chat-server checkout")
    parser.add_argument("--only", nargs="*", default=[], help="target names to run")
    parser.add_argument("--seconds", type=float, default=5.0, help="per load phase")
    parser.add_argument("--rate", type=float, default=500.0, help="msgs/s for the latency phase")
    parser.add_argument("--repeat", type=int, default=1, help="runs per (server, N), interleaved")
    parser.add_argument("--json", help="also write every raw result here")
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="REPEATS",
        help="also run every server at once this many times, for the fixed-rate latency",
    )
    args = parser.parse_args()

    launch.isolate(sys.argv)
    found = launch.targets(args.reference)
    names = [name for name in found if name in args.only or not args.only]
    print(machine(), file=sys.stderr)
    print(
        f"reference commit {launch.reference_commit(args.reference)}; "
        f"private netns: {launch.in_private_netns()}",
        file=sys.stderr,
    )
    runs = []
    port = 4700
    for repeat in range(args.repeat):
        for n in args.clients:
            # A different server goes first each repeat, so a load pattern on the box does
            # not keep landing on the same one.
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                port += 1
                started = time.monotonic()
                result = run_one(found[name], port, n, args)
                runs.append(
                    {
                        "target": name,
                        "clients": n,
                        "repeat": repeat,
                        "m": metrics(result),
                        "raw": result,
                    }
                )
                summary = {k: v for k, v in metrics(result).items() if v is not None}
                print(
                    f"repeat {repeat} {name} N={n} ({time.monotonic() - started:.0f} s): "
                    f"{json.dumps(summary) if summary else result}",
                    file=sys.stderr,
                    flush=True,
                )
    paired = []
    for repeat in range(args.paired):
        for n in args.clients:
            port += 10
            started = time.monotonic()
            for name, result in run_paired(found, names, port, n, args).items():
                paired.append(
                    {
                        "target": name,
                        "clients": n,
                        "repeat": repeat,
                        "m": metrics(result),
                        "raw": result,
                    }
                )
                fix = result.get("fixed_rate", {})
                print(
                    f"paired {repeat} {name} N={n} ({time.monotonic() - started:.0f} s): "
                    f"delivery p50/p99 {fix.get('delivery_p50_ms')} / {fix.get('delivery_p99_ms')} "
                    f"{'late ' + str(result['late_s']) + ' s' if 'late_s' in result else ''}"
                    f"{result.get('failed', '')}",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps({"sequential": runs, "paired": paired}, indent=1))
    if runs:
        print(table(runs, names, args.clients))
        print()
        print(ratios(runs, names, args.clients))
    if paired:
        print()
        print(paired_table(paired, names, args.clients))


if __name__ == "__main__":
    main()
