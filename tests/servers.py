"""Start real server processes for tests: loopback only, bounded in time, stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# A hard ceiling, enforced by coreutils `timeout`, in case a test run is killed.
MAX_LIFETIME_S = 900
_servers = itertools.count()


def free_port(*, ipv6_too: bool = False) -> int:
    """A TCP port free on 127.0.0.1 (and on ::1 when asked)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not ipv6_too:
            return port
        with socket.socket(socket.AF_INET6) as s6:
            try:
                s6.bind(("::1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def test_database_url() -> str:
    """The URL of the database this test run uses, for a server subprocess."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group that `proc` leads (its pid is the group id)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _limit_fds(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


@contextlib.contextmanager
def server_process(
    args: list[str],
    *,
    ports: list[int],
    env: dict[str, str] | None = None,
    nofile: int | None = None,
) -> Iterator[subprocess.Popen]:
    """Run `python manage.py <args>` until the block ends; its output goes to a log file.

    `nofile`: the server's `ulimit -n` (soft and hard), for tests of running out of them.
    """
    full_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        # With REDIS_URL, chat servers sharing a prefix form one chat (chat.cluster): each
        # server here is on its own unless the test passes a prefix for several.
        "CHANNEL_LAYER_PREFIX": f"testrun{os.getpid()}n{next(_servers)}",
        **(env or {}),
    }
    log = open(ROOT / f".server-{ports[0]}.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["timeout", str(MAX_LIFETIME_S), sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group: stopping it stops the server under `timeout` too, and a
        # server never outlives its test as an orphan.
        start_new_session=True,
        preexec_fn=None if nofile is None else lambda: _limit_fds(nofile),
    )
    try:
        for port in ports:
            wait_for_port(port)
        yield proc
    except TimeoutError:
        log.seek(0)
        raise TimeoutError(log.read().decode(errors="replace")) from None
    finally:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        # `timeout` may have exited while its server child still runs (killed apart).
        _signal_group(proc, signal.SIGKILL)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def layer_env() -> dict[str, str]:
    """A Redis key prefix of our own: other test runs may share this Redis."""
    return {"CHANNEL_LAYER_PREFIX": f"t-{uuid.uuid4().hex[:10]}"}


class LoopThread:
    """An event loop in a thread, for asyncio clients next to Playwright's sync API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
