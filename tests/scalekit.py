"""Helpers for the multi-process tests: a Redis to share, and real server processes on it.

They use REDIS_URL when it is set, else the Redis this machine runs on 127.0.0.1:6379 if it
answers; with neither they skip, saying so. Each test run gets a key prefix of its own, so
concurrent runs and leftovers of killed servers never meet.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
_counter = itertools.count()


def redis_url() -> str:
    """A reachable Redis for server processes to share, or skip the test with the reason."""
    url = os.environ.get("REDIS_URL") or LOCAL_REDIS
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                raise OSError("no PONG")
    except OSError as error:
        pytest.skip(f"multi-process tests need Redis (REDIS_URL or {LOCAL_REDIS}): {error}")
    return url


def unique_prefix(kind: str) -> str:
    return f"{kind}{os.getpid()}n{next(_counter)}"


def server_pid(proc) -> int:
    """The Python server under coreutils `timeout` (its only child)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(children.read_text().split()[0])
        time.sleep(0.05)
    raise RuntimeError("the server process has no child")


def kill_hard(proc) -> None:
    """SIGKILL the server itself, by its PID: no cleanup of any kind runs."""
    pid = server_pid(proc)
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        proc.wait(timeout=10)


def eventually(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@contextlib.contextmanager
def redis_client(url: str) -> Iterator:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        yield client
    finally:
        client.close()
