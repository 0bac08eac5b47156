"""Start and stop the chat servers the bench scripts compare, and isolate their network.

Every server runs under coreutils `timeout`, listens on loopback (ours is told so; the
reference binds every interface, hence the private network namespace) and is stopped by
its PID. Used by chat_compare.py and chat_conformance.py; not a script of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
QUIET = {"LOG": "NONE", "DEBUG": "False", "SECRET_KEY": "bench-" + "x" * 50}


def isolate(argv: list[str]) -> None:
    """Re-run this script inside a private network namespace where only loopback exists.

    Needs root and util-linux `unshare`; without them the script stays where it is, and the
    caller must make sure nothing it starts is reachable from outside.
    """
    if os.environ.get("CHAT_BENCH_NETNS") or os.geteuid() != 0 or not shutil.which("unshare"):
        return
    os.environ["CHAT_BENCH_NETNS"] = "1"
    inner = " ".join(map(_quote, [sys.executable, *argv]))
    os.execvp("unshare", ["unshare", "--net", "sh", "-c", f"ip link set lo up && exec {inner}"])


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def in_private_netns() -> bool:
    return bool(os.environ.get("CHAT_BENCH_NETNS"))


@dataclass(frozen=True)
class Target:
    """How to start one server: a command and environment with {port} placeholders."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path | None = None  # this checkout when None


def targets(reference: str | None) -> dict[str, Target]:
    """Our server under uvicorn (the default) and daphne, and the reference if given."""
    manage = [sys.executable, "manage.py", "chatserver", "--host", "127.0.0.1", "--port", "{port}"]
    found = {
        "ours": Target("ours", manage, QUIET),
        "ours-daphne": Target("ours-daphne", [*manage, "--server", "daphne"], QUIET),
    }
    if reference:
        index = str(Path(reference, "src", "index.js").resolve())
        env = {"PORT": "{port}", "SERVER_PORT": "{port}", "LOG": "NONE"}
        found["reference"] = Target("reference", [shutil.which("node") or "node", index], env)
    return found


def _die_with_parent() -> None:
    """Have Linux SIGTERM the child if the bench script dies first."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.05)
    raise TimeoutError(f"server on port {port} did not start")


def server_pid(proc: subprocess.Popen) -> int:
    """The server under `timeout`: its first child process (for memory figures)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(children.read_text().split()[0])
    return proc.pid


def _log_file() -> int | IO[bytes]:
    path = os.environ.get("BENCH_SERVER_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL


@contextlib.contextmanager
def running(target: Target, port: int, lifetime_s: int) -> Iterator[subprocess.Popen]:
    """The server listening on `port`, for at most `lifetime_s`; stopped by PID on exit."""
    fill = {"port": str(port)}
    command = ["timeout", "-k", "5", str(lifetime_s), *(p.format(**fill) for p in target.command)]
    proc = subprocess.Popen(
        command,
        cwd=target.cwd or ROOT,
        env={**os.environ, **{k: v.format(**fill) for k, v in target.env.items()}},
        stdout=subprocess.DEVNULL,
        # BENCH_SERVER_LOG=<file>: keep the servers' stderr there, to see why a run stalls.
        stderr=_log_file(),
        preexec_fn=_die_with_parent,
    )
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (timeout forwards it), then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reference_commit(reference: str | None) -> str | None:
    """The commit of the reference checkout, if it is a git work tree or an exported one."""
    if not reference:
        return None
    marker = Path(reference, "COMMIT")
    if marker.exists():
        return marker.read_text().strip()
    out = subprocess.run(
        ["git", "-C", reference, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or None
