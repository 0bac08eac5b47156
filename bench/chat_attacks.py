"""Hostile and heavy clients against `make run`'s way of serving, with the figures of issue 16.

    .venv/bin/python bench/chat_attacks.py                 # every attack
    .venv/bin/python bench/chat_attacks.py idle-connections huge-post --seconds 10

The server is `manage.py serve` with default settings on a fresh SQLite database (migrated,
module loaded, demo accounts), started under `ulimit -n 1024` and coreutils `timeout`,
listening on loopback only and stopped by its PID. As root the script runs in a private
network namespace (bench/launch.py). Attackers connect from 127.0.0.1; the victims whose
latency is measured come from 127.0.0.2, "another address".

One function per attack, registered in ATTACKS; each returns a dict of figures, printed as
a line of JSON. Shared measuring tools: `Served` (ports, PIDs, RSS, bytes written to disk)
and `Probe` (worst site GET and chat login of a victim while the attack runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch import ROOT, isolate

ATTACKER = "127.0.0.1"
VICTIM = "127.0.0.2"
SERVER_NOFILE = 1024  # the issue's `ulimit -n`
LIFETIME_S = 900  # `timeout` stops the server even if this script is killed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the server -----------------------------------------------------------------------------


@dataclass
class Served:
    """A running `manage.py serve`: its ports and the processes to measure."""

    site: int
    chat: int
    proc: subprocess.Popen
    folder: Path

    def pids(self) -> list[int]:
        """The site's process and its chat child (whichever child runs now)."""
        found: list[int] = []
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError, ValueError):
                    kids = [int(c) for c in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
        return found

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def disk_bytes(self) -> int:
        """Bytes the processes sent to the storage layer (/proc/<pid>/io write_bytes)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                    if line.startswith("write_bytes:"):
                        total += int(line.split()[1])
        return total

    def alive(self) -> bool:
        """Still serving: `timeout` runs, with the server (and its chat child) under it."""
        return self.proc.poll() is None and bool(self.pids())


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_NOFILE, SERVER_NOFILE))


@contextlib.contextmanager
def served(env: dict[str, str] | None = None) -> Iterator[Served]:
    """`make run`'s steps on a fresh database, then `serve` until the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="chat-attacks-"))
    (folder / "tmp").mkdir()
    site, chat = free_port(), free_port()
    full_env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "TMPDIR": str(folder / "tmp"),
        "SITE_PORT": str(site),
        "CHAT_PORT": str(chat),
        "CHAT_HOSTS": "127.0.0.1",
        **(env or {}),
    }
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput"], ["load_module", "fixtures/modules/st2-websockets.yaml"]):
        subprocess.run([*manage, *step], cwd=ROOT, env=full_env, check=True, capture_output=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=full_env, check=True, capture_output=True)
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["timeout", "-k", "5", str(LIFETIME_S), *manage, "serve"],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_limit_fds,
        start_new_session=True,
    )
    try:
        for port in (site, chat):
            _wait_for(port)
        yield Served(site, chat, proc, folder)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def _wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


# -- what a victim sees ---------------------------------------------------------------------


def site_get(port: int, timeout: float = 30) -> float:
    """Seconds for one GET of the module page from the victim's address."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(VICTIM, 0)
    )
    try:
        conn.request("GET", "/modules/st2-websockets/")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"site answered {response.status}")
    finally:
        conn.close()
    return time.monotonic() - started


async def chat_login(port: int, login: str, timeout: float = 30) -> float:
    """Seconds for a fresh connection, USER_LOGIN and its answer, from the victim's address."""
    started = time.monotonic()
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/", open_timeout=timeout, local_addr=(VICTIM, 0)
    ) as ws:
        payload = {"user": {"login": login, "password": "pw"}}
        await ws.send(json.dumps({"id": "p", "type": "USER_LOGIN", "payload": payload}))
        await asyncio.wait_for(ws.recv(), timeout)
    return time.monotonic() - started


@dataclass
class Probe:
    """Samples a victim's site GET and chat login every `period` seconds in a thread."""

    served: Served
    period: float = 0.5
    site: list[float] = field(default_factory=list)
    chat: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self.site.append(site_get(self.served.site))
            except Exception as error:
                self.failures.append(f"site: {error!r}")
            try:
                self.chat.append(asyncio.run(chat_login(self.served.chat, f"probe{n}")))
            except Exception as error:
                self.failures.append(f"chat: {error!r}")
            self._stop.wait(self.period)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(70)

    def figures(self) -> dict[str, object]:
        return {
            "worst_site_get_s": round(max(self.site, default=float("nan")), 3),
            "worst_chat_login_s": round(max(self.chat, default=float("nan")), 3),
            "probes": len(self.site),
            "probe_failures": self.failures[:5],
        }


# -- attacks --------------------------------------------------------------------------------


async def _hold(port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """One attacker slot: keep a silent connection open, reopen it whenever it is closed."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(ATTACKER, 0)
            )
        except OSError:
            counts["connect_errors"] += 1
            await asyncio.sleep(0.5)
            continue
        counts["opened"] += 1
        with contextlib.suppress(OSError):
            waiting = asyncio.ensure_future(reader.read(100))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():
                waiting.cancel()
        writer.close()
        counts["closed_by_server" if not stop.is_set() else "closed_by_us"] += 1
        await asyncio.sleep(0.5)  # a paced attacker: what the caps hold back, not a SYN flood


def attack_idle_connections(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """One address tries to hold `--idle` silent connections on each port."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = {"opened": 0, "connect_errors": 0, "closed_by_server": 0, "closed_by_us": 0}
    rss_before = srv.rss_bytes()

    async def attack() -> None:
        stop = asyncio.Event()
        ports = [srv.site, srv.chat] * args.idle
        tasks = [asyncio.ensure_future(_hold(port, stop, counts)) for port in ports]
        await asyncio.sleep(args.seconds)
        stop.set()
        await asyncio.wait(tasks, timeout=30)

    with Probe(srv) as probe:
        asyncio.run(attack())
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {
        "idle_per_port": args.idle,
        **counts,
        **probe.figures(),
        "rss_growth_mb": round((srv.rss_bytes() - rss_before) / 2**20, 1),
        "server_alive": srv.alive(),
    }


def attack_huge_post(srv: Served, args: argparse.Namespace) -> dict[str, object]:
    """An anonymous 1 GiB POST, declared and then chunked: when is it refused, what hit disk."""
    figures: dict[str, object] = {}
    disk_before = srv.disk_bytes()
    for label, head in (
        ("declared", b"Content-Length: 1073741824\r\n"),
        ("chunked", b"Transfer-Encoding: chunked\r\n"),
    ):
        sock = socket.create_connection(("127.0.0.1", srv.site), 10, source_address=(ATTACKER, 0))
        sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\n")
        chunk = b"a" * (1 << 20)
        started, sent, answer = time.monotonic(), 0, b""
        sock.settimeout(0.001)
        while sent < (1 << 30) and not answer:
            data = chunk if label == "declared" else b"%x\r\n%s\r\n" % (len(chunk), chunk)
            try:
                sock.sendall(data)
            except (TimeoutError, OSError):
                pass  # the server stopped reading: see whether it answered
            else:
                sent += len(chunk)
            with contextlib.suppress(TimeoutError, OSError):
                answer = sock.recv(200)
            if time.monotonic() - started > 60:
                break
        sock.close()
        figures[label] = {
            "status": answer.split(b"\r\n", 1)[0].decode() or "no answer",
            "body_bytes_sent_before_answer": sent,
            "seconds": round(time.monotonic() - started, 3),
        }
    # Django spools to unnamed temporary files, so only the kernel's count shows them.
    figures["disk_write_bytes"] = srv.disk_bytes() - disk_before
    figures["site_get_after_s"] = round(site_get(srv.site), 3)
    figures["server_alive"] = srv.alive()
    return figures


ATTACKS: dict[str, Callable[[Served, argparse.Namespace], dict[str, object]]] = {
    "idle-connections": attack_idle_connections,
    "huge-post": attack_huge_post,
}


def main() -> None:
    # Per-frame work, memory and disk: bench/chat_floods.py (it imports this module's tools).
    from chat_floods import FLOODS

    ATTACKS.update(FLOODS)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("attacks", nargs="*", choices=[[], *ATTACKS], default=[])
    parser.add_argument("--seconds", type=float, default=10, help="how long each attack runs")
    parser.add_argument("--idle", type=int, default=7500, help="idle connections per port")
    args = parser.parse_args()
    isolate(sys.argv)
    for name in args.attacks or list(ATTACKS):
        # A fresh server per attack: one attack's leftovers never colour the next figures.
        with served() as srv:
            result = ATTACKS[name](srv, args)
        print(json.dumps({"attack": name, **result}), flush=True)


if __name__ == "__main__":
    main()
