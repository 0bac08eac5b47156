"""Saturated chat throughput, ours as `make run` serves it against the reference, in one run.

The yardstick is RS School's own load generator (`../shared/tools/chatload.py`), run as the
graders run it: N=500 clients, closed loop, 2 requests in flight each, 8 s with 2 s of
warm-up (`-r 0 -w 2 -d 8 --warmup 2`). Ours is started the way `make run` starts it:
`manage.py serve` with the default settings on a freshly migrated database, the chat in its
own child process on the default port 4000. The reference is `node src/index.js` with
LOG=NONE (its fastest setting). Both stay up for the whole run; the generator alternates
between them, the order swapping each pair, and the ratio is taken within each pair.
Servers live under `timeout`, are stopped by PID and, as root, run in a private network
namespace (the reference binds every interface).

    python bench/chatload_side_by_side.py --reference /tmp/fun-chat-ref --pairs 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import launch

CHATLOAD = launch.ROOT.parent / "shared" / "tools" / "chatload.py"
LIFETIME_S = 1800


def chat_child(serve_pid: int) -> int:
    """The `serve --chat-process` child under `timeout` → `serve`: the process to measure."""
    pending = [serve_pid]
    while pending:
        pid = pending.pop()
        with contextlib.suppress(OSError):
            if b"--chat-process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += map(int, (task / "children").read_text().split())
    raise RuntimeError("serve started no chat process")


def load(chatload: Path, url: str, pid: int, clients: int) -> dict:
    command = [sys.executable, str(chatload), url, "-n", str(clients), "-r", "0", "-w", "2"]
    command += ["-d", "8", "--warmup", "2", "--server-pid", str(pid)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode:
        return {"failed": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, help="fun-chat-server checkout")
    parser.add_argument("--chatload", type=Path, default=CHATLOAD)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args()
    launch.isolate(sys.argv)

    with tempfile.TemporaryDirectory(prefix="chatload-") as tmp:
        # make run's way: default settings, only a fresh database of its own.
        env = {"DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3", "PYTHONUNBUFFERED": "1"}
        manage = [sys.executable, "manage.py"]
        subprocess.run(
            [*manage, "migrate", "--noinput", "-v", "0"],
            cwd=launch.ROOT,
            env={**os.environ, **env},
            check=True,
        )
        ours = launch.Target("ours", [*manage, "serve"], env)
        reference = launch.targets(args.reference)["reference"]
        with contextlib.ExitStack() as stack:
            serve = stack.enter_context(launch.running(ours, 4000, LIFETIME_S))
            ref = stack.enter_context(launch.running(reference, 4001, LIFETIME_S))
            servers = {
                "ours": ("ws://127.0.0.1:4000/", chat_child(serve.pid)),
                "reference": ("ws://127.0.0.1:4001/", launch.server_pid(ref)),
            }
            time.sleep(1)
            runs: list[dict[str, dict]] = []
            for pair in range(args.pairs):
                order = list(servers) if pair % 2 == 0 else list(servers)[::-1]
                runs.append(
                    {name: load(args.chatload, *servers[name], args.clients) for name in order}
                )

    print(f"{'pair':>4}  {'ours msg/s':>10}  {'reference':>10}  {'ratio':>6}  errors (ours / ref)")
    ratios = []
    for i, run in enumerate(runs, 1):
        ours_r, ref_r = run["ours"].get("msgs_per_s"), run["reference"].get("msgs_per_s")
        ratio = ours_r / ref_r if ours_r and ref_r else None
        if ratio:
            ratios.append(ratio)
        errors = [
            {k: v for k, v in r.get("errors", {}).items() if v and k != "kinds"}
            or r.get("failed", "none")
            for r in (run["ours"], run["reference"])
        ]
        print(
            f"{i:>4}  {ours_r or '-':>10}  {ref_r or '-':>10}  "
            f"{f'{ratio:.2f}' if ratio else '-':>6}  {errors[0]} / {errors[1]}"
        )
    if ratios:
        print(
            f"median ratio ours/reference: {statistics.median(ratios):.2f} "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} pairs)"
        )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0 if ratios and statistics.median(ratios) >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
