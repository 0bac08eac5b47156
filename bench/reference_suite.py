"""Run the reference Fun Chat server's own jest suite against it, then against our server.

The reference's tests build the server in-process (`new Socket()` from `src/socket.js` in
every `beforeEach`, `close()` in `afterEach`). For the second run the script swaps that
module, in a temporary copy, for a shim of its own: the constructor starts our chat server
(`manage.py chatserver`) through a small Python helper and blocks until the port accepts;
`close()` stops it by PID and waits until the port is free. So every test gets a fresh
server, as it does with the reference. Both runs are bounded by `timeout`; as root they run
in a private network namespace (the reference binds every interface), else on loopback.

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
    command = ["timeout", "-k", "5", LIFETIME, PYTHON, "manage.py", "chatserver"]
    command += ["--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **ENV}, start_new_session=True,
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


def run_jest(checkout: Path, port: int, timeout_s: int) -> tuple[dict[str, str], str, float]:
    """Run the suite in `checkout`; each test's status by full name, the summary, seconds."""
    out = checkout / "jest-result.json"
    jest = ["npx", "--no", "--", "jest", "--runInBand", "--forceExit", "--json"]
    command = [*jest, f"--outputFile={out}", "./test"]
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
        return {}, summary, seconds
    report = json.loads(out.read_text())
    statuses = {
        test["fullName"]: test["status"]
        for suite in report["testResults"]
        for test in suite["assertionResults"]
    }
    return statuses, summary, seconds


def prepare(reference: Path, workdir: Path) -> Path:
    """A private copy of the reference with jest installed (its lockfile's devDependencies)."""
    checkout = workdir / "ref"
    shutil.copytree(reference, checkout, symlinks=True)
    if not (checkout / "node_modules" / ".bin" / "jest").exists():
        # Installed from the registry before any private namespace is entered.
        npm = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(npm, cwd=checkout, check=True, timeout=600, capture_output=True)
    return checkout


def install_shim(checkout: Path, workdir: Path) -> None:
    """Replace src/socket.js with the shim and write the helper it calls."""
    env = {**launch.QUIET, "LOG": "NONE"}
    helper = workdir / "chat_helper.py"
    constants = f"ROOT = {str(launch.ROOT)!r}\nPYTHON = {sys.executable!r}\n"
    constants += f"ENV = {env!r}\nLIFETIME = '300'\n"
    helper.write_text(HELPER.replace("import os,", constants + "import os,", 1))
    shim = SHIM % {"python": json.dumps(sys.executable), "helper": json.dumps(str(helper))}
    (checkout / "src" / "socket.js").write_text(shim)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, type=Path, help="fun-chat-server checkout")
    parser.add_argument("--port", type=int, default=14016)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per jest run")
    parser.add_argument("--json", type=Path, help="also write both results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reference-suite-") as tmp:
        workdir = Path(tmp)
        checkout = prepare(args.reference.resolve(), workdir)
        theirs, their_summary, their_s = run_jest(checkout, args.port, args.timeout)
        install_shim(checkout, workdir)
        ours, our_summary, our_s = run_jest(checkout, args.port, args.timeout)

    names = list(theirs) + [name for name in ours if name not in theirs]
    width = max(map(len, names), default=20)
    print(f"{'test':<{width}}  {'reference':>9}  {'ours':>7}")
    for name in names:
        print(f"{name:<{width}}  {theirs.get(name, '-'):>9}  {ours.get(name, '-'):>7}")
    print(f"reference: {their_summary} ({their_s:.0f} s)")
    print(f"ours:      {our_summary} ({our_s:.0f} s, a fresh server per test)")
    kept = [n for n, status in theirs.items() if status == "passed"]
    lost = [n for n in kept if ours.get(n) != "passed"]
    if not kept:
        print("verdict: NO RESULT, the reference's own run passed nothing")
    elif lost:
        print(f"verdict: NO, {len(lost)} of the {len(kept)} reference passes fail on ours")
    else:
        print(f"verdict: YES, all {len(kept)} tests the reference passes also pass against ours")
    if args.json:
        args.json.write_text(json.dumps({"reference": theirs, "ours": ours}, indent=1))
    return 1 if lost or not kept else 0


if __name__ == "__main__":
    sys.exit(main())
