"""Run the reference Fun Chat server's own jest suite against it, then against our server.

The reference's tests build the server in-process (`new Socket()` from `src/socket.js` in
every `beforeEach`, `close()` in `afterEach`). For the other runs the script swaps that
module, in a temporary copy, for a shim of its own: the constructor starts a server process
through a small Python helper and blocks until the port accepts; `close()` stops it by PID
and waits until the port is free. So every test gets a fresh server, as it does in-process.
The shim runs twice: with the reference itself as that process (`node src/index.js`), then
with ours (`manage.py chatserver`). The first of these is the fair yardstick: across two
processes, a frame to one socket can reach jest after a frame to the other socket that the
server wrote later (about 1 in 100 here, the reference's own server included), and a few
tests assume the order of writes. So there a failed test is run again (`--retries`, 2 by
default) before it counts: a real difference fails every time. All runs are bounded by
`timeout`; as root they run in a private network namespace (the reference binds every
interface), else on loopback.

    python bench/reference_suite.py --reference /tmp/fun-chat-ref [--port 14016] [--json out]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import launch

HELPER = '''\
"""Start or stop one chat server for the jest shim: start PORT prints its PID."""
import os, signal, socket, subprocess, sys, time

def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def start(port):
    command = ["timeout", "-k", "5", LIFETIME, *(part.format(port=port) for part in SERVER)]
    env = {**os.environ, **ENV, "PORT": str(port)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not accepts(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"chat server on port {port} did not start")
        time.sleep(0.02)
    print(proc.pid)

def stop(pid, port):
    os.kill(pid, signal.SIGTERM)  # timeout forwards it to the server
    deadline = time.monotonic() + 15
    while alive(pid) or accepts(port):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)  # the group: timeout and the server under it
            sys.exit(f"chat server {pid} did not stop in 15 s; killed")
        time.sleep(0.02)

if sys.argv[1] == "start":
    start(int(sys.argv[2]))
else:
    stop(int(sys.argv[2]), int(sys.argv[3]))
'''

SHIM = """\
// Written by courseware's bench/reference_suite.py: each Socket is a fresh courseware
// chat server process, started before the constructor returns, stopped by close().
const { execFileSync } = require('child_process');

const PYTHON = %(python)s;
const HELPER = %(helper)s;

module.exports = class Socket {
  #pid;
  #port = process.env.PORT || process.env.SERVER_PORT;

  constructor() {
    this.#pid = execFileSync(PYTHON, [HELPER, 'start', this.#port], { encoding: 'utf8' }).trim();
  }

  close() {
    execFileSync(PYTHON, [HELPER, 'stop', this.#pid, this.#port]);
  }
};
"""


def run_jest(
    checkout: Path, port: int, timeout_s: int, tests: str, retries: int = 0
) -> tuple[dict[str, str], str, float, dict[str, str]]:
    """Run the suite in `checkout`: each test's status by full name, the summary, seconds and
    the first lines of each failure's message. A failed test is run again up to `retries`
    times (jest.retryTimes) before it counts as failed."""
    out = checkout / "jest-result.json"
    jest = ["npx", "--no", "--", "jest", "--runInBand", "--forceExit", "--json"]
    command = [*jest, f"--outputFile={out}", tests]
    if retries:
        setup = checkout / "retry.setup.js"
        setup.write_text(f"jest.retryTimes({retries});\n")
        command.append(f"--setupFilesAfterEnv={setup}")
    command = ["timeout", "-k", "10", str(timeout_s), *command]
    if os.geteuid() == 0 and shutil.which("unshare"):
        inner = " ".join(launch._quote(p) for p in command)
        command = ["unshare", "--net", "sh", "-c", f"ip link set lo up && exec {inner}"]
    env = {**os.environ, "SERVER_PORT": str(port), "PORT": str(port), "LOG": "NONE"}
    started = time.monotonic()
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    summary = next(
        (line.strip() for line in done.stderr.splitlines() if line.startswith("Tests:")),
        f"no jest summary (exit {done.returncode}): {done.stderr.strip()[-300:]}",
    )
    if not out.exists():
        return {}, summary, seconds, {}
    tests_run = [
        test
        for suite in json.loads(out.read_text())["testResults"]
        for test in suite["assertionResults"]
    ]
    statuses = {test["fullName"]: test["status"] for test in tests_run}
    failures = {
        test["fullName"]: "\n".join("\n".join(test["failureMessages"]).splitlines()[:12])
        for test in tests_run
        if test["failureMessages"]
    }
    return statuses, summary, seconds, failures


def prepare(reference: Path, workdir: Path) -> Path:
    """A private copy of the reference with jest installed (its lockfile's devDependencies)."""
    checkout = workdir / "ref"
    shutil.copytree(reference, checkout, symlinks=True)
    if not (checkout / "node_modules" / ".bin" / "jest").exists():
        # Installed from the registry before any private namespace is entered.
        npm = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(npm, cwd=checkout, check=True, timeout=600, capture_output=True)
    return checkout


def install_shim(checkout: Path, workdir: Path, server: list[str], root: Path) -> None:
    """Replace src/socket.js with the shim and write the helper it calls, which starts
    `server` (its "{port}" filled in, PORT in its environment) in `root`."""
    env = {**launch.QUIET, "LOG": "NONE"}
    helper = workdir / "chat_helper.py"
    constants = f"ROOT = {str(root)!r}\nSERVER = {server!r}\n"
    constants += f"ENV = {env!r}\nLIFETIME = '300'\n"
    helper.write_text(HELPER.replace("import os,", constants + "import os,", 1))
    shim = SHIM % {"python": json.dumps(sys.executable), "helper": json.dumps(str(helper))}
    (checkout / "src" / "socket.js").write_text(shim)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, type=Path, help="fun-chat-server checkout")
    parser.add_argument("--port", type=int, default=14016)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per jest run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--tests", default="./test", help="jest's test path pattern")
    parser.add_argument(
        "--retries", type=int, default=2, help="runs again of a failed test, separate processes"
    )
    args = parser.parse_args()
    reference = args.reference.resolve()
    servers = {
        "reference (separate process)": (["node", "src/index.js"], reference),
        "ours": ([sys.executable, "manage.py", "chatserver", "--port", "{port}"], launch.ROOT),
    }

    runs: dict[str, tuple[dict[str, str], str, float, dict[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="reference-suite-") as tmp:
        workdir = Path(tmp)
        checkout = prepare(reference, workdir)
        runs["reference"] = run_jest(checkout, args.port, args.timeout, args.tests)
        for name, (server, root) in servers.items():
            install_shim(checkout, workdir, server, root)
            runs[name] = run_jest(checkout, args.port, args.timeout, args.tests, args.retries)

    theirs, ours = runs["reference"][0], runs["ours"][0]
    names = list(theirs) + [name for name in ours if name not in theirs]
    width = max(map(len, names), default=20)
    print(f"{'test':<{width}}  {'in process':>10}  {'separate':>8}  {'ours':>7}")
    for name in names:
        cells = [runs[run][0].get(name, "-") for run in runs]
        print(f"{name:<{width}}  {cells[0]:>10}  {cells[1]:>8}  {cells[2]:>7}")
    for run, (_, _, _, failures) in runs.items():
        for name, message in failures.items():
            print(f"\n-- {run} failed: {name}\n{message}")
    for run, (_, summary, seconds, _) in runs.items():
        print(f"{run}: {summary} ({seconds:.0f} s)")
    kept = [n for n, status in theirs.items() if status == "passed"]
    lost = [n for n in kept if ours.get(n) != "passed"]
    if not kept:
        print("verdict: NO RESULT, the reference's own run passed nothing")
    elif lost:
        print(f"verdict: NO, {len(lost)} of the {len(kept)} reference passes fail on ours")
    else:
        print(f"verdict: YES, all {len(kept)} tests the reference passes also pass against ours")
    if args.json:
        args.json.write_text(json.dumps({run: result[0] for run, result in runs.items()}, indent=1))
    return 1 if lost or not kept else 0


if __name__ == "__main__":
    sys.exit(main())
