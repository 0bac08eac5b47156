"""Fun-chat load generator: N clients log in, then send MSG_SEND to random peers.

Speaks only the protocol, so it measures our server and RS School's reference alike.
Phases, each reported in one JSON object on stdout:

1. login storm: every client logs in at once; each login pushes USER_EXTERNAL_LOGIN to
   everyone already online, N(N-1)/2 pushes in all. Timed until the last push arrives.
2. saturated: closed loop, every client keeps --inflight messages outstanding for
   --saturate seconds; msgs/s counts replies.
3. fixed rate: --rate messages per second from random clients for --rate-seconds; p50/p99
   of the sender's round trip (request to reply) and of delivery (request to the
   recipient's push). The send time rides in the message text, so the recipient can time it.

The client side is a minimal WebSocket client on raw asyncio transports (zero masking key,
no per-frame tasks), so one generator process can outrun the servers it measures; a
generator built on the `websockets` library topped out near 3,000 msg/s here.

    python bench/chat_load.py --url ws://127.0.0.1:4000/ --clients 100 --pid 1234

With several --url (and --pid) the clients are spread round-robin over several server
processes, and memory and CPU are summed over them (bench/scale_compare.py does this).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import random
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson

now = time.perf_counter

# Server frames start with the id and the type (the reference's key order and ours).
PUSH_SEND = b'{"id":null,"type":"MSG_SEND"'
PUSH_LOGIN = b'{"id":null,"type":"USER_EXTERNAL_LOGIN"'
TEXT_KEY = b'"text":"'


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by a process; ours if pid is None."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int | None) -> int | None:
    """Resident memory of the server process, from /proc."""
    if not pid:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def total_rss_kib(pids: list[int]) -> int | None:
    """Resident memory summed over every server process; None when none is given."""
    return sum(rss_kib(pid) or 0 for pid in pids) if pids else None


class Stats:
    """What one phase saw, across all clients."""

    def __init__(self) -> None:
        self.sent = 0
        self.replies = 0
        self.pushes = 0
        self.errors = 0
        self.external_logins = 0
        self.rtt_ms: list[float] = []
        self.delivery_ms: list[float] = []
        self.error_texts: collections.Counter[str] = collections.Counter()


def text_frame(payload: bytes) -> bytes:
    """A masked client text frame; an all-zero masking key leaves the payload as it is."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return header + b"\0\0\0\0" + payload


class Client(asyncio.Protocol):
    """One chat user over a raw transport: handshake, frame parsing, the phase's bookkeeping."""

    transport: asyncio.Transport  # set by connection_made: Load.connect awaits every one

    def __init__(self, index: int, url: str, run: Load) -> None:
        self.index, self.run = index, run
        self.login = f"load-{index}"
        self.url = urlsplit(url)
        self.buffer = bytearray()
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.logged_in = False
        self.closed = False
        self.sent_at: collections.deque[float] = collections.deque()  # replies come in order
        self.peers: list[Client] = []
        self.on_reply: Callable[[Client], None] | None = None
        self.seq = 0
        self.fragments: list[bytes] = []

    # transport callbacks

    def itself(self) -> Client:
        """The protocol factory for this client's own connection."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.url.path or '/'} HTTP/1.1\r\nHost: {self.url.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded = True
            self.opened.set_result(None)
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length, start = second & 0x7F, pos + 2
            if length == 126:
                if size - start < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, start)
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, start)
                start += 8
            if second & 0x80:
                start += 4  # servers never mask, but skip a key if one is there
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            pos = start + length
            self.frame(first & 0x80, first & 0x0F, payload)
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        self.run.disconnects += 1

    # frames

    def frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping: uvicorn and daphne send them; answer as browsers do
            self.transport.write(
                struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0" * 4 + payload
            )
            return
        if opcode == 0x8:
            return
        if opcode == 0x0 or not fin:  # fragments: rare, but correct
            self.fragments.append(payload)
            if not fin:
                return
            payload = b"".join(self.fragments)
            self.fragments.clear()
        self.message(payload)

    def message(self, data: bytes) -> None:
        stats = self.run.stats
        t = now()
        if data.startswith(PUSH_SEND):
            stats.pushes += 1
            start = data.index(TEXT_KEY) + len(TEXT_KEY)
            sent = float(data[start : data.index(b" ", start)])
            stats.delivery_ms.append((t - sent) * 1000)
        elif data.startswith(PUSH_LOGIN):
            stats.external_logins += 1
        elif data.startswith(b'{"id":"m'):  # our MSG_SEND requests have ids m<client>-<seq>
            if b'"type":"ERROR"' in data[:60]:
                self.error(data)
            else:
                stats.replies += 1
            stats.rtt_ms.append((t - self.sent_at.popleft()) * 1000)
            if self.on_reply is not None:
                self.on_reply(self)
        elif data.startswith(b'{"id":"login","type":"USER_LOGIN"'):
            self.logged_in = True
        elif b'"type":"ERROR"' in data[:60]:
            self.error(data)
        # anything else (USER_EXTERNAL_LOGOUT when a run ends) is not measured

    def error(self, data: bytes) -> None:
        stats = self.run.stats
        stats.errors += 1
        stats.error_texts[orjson.loads(data)["payload"]["error"]] += 1

    # requests

    def write(self, frame: dict) -> None:
        if not self.closed:
            self.transport.write(text_frame(orjson.dumps(frame)))

    def log_in(self) -> None:
        body = {"user": {"login": self.login, "password": "pw"}}
        self.write({"id": "login", "type": "USER_LOGIN", "payload": body})

    def send_to(self, peer: Client) -> None:
        self.seq += 1
        t = now()
        self.sent_at.append(t)
        self.run.stats.sent += 1
        text = f"{t:.6f} hello from {self.login}"
        message = {"to": peer.login, "text": text}
        self.write(
            {"id": f"m{self.index}-{self.seq}", "type": "MSG_SEND", "payload": {"message": message}}
        )


class Load:
    """The clients of one run and the phase being measured."""

    client_class: type[Client] = Client  # a subclass may count more (chat_fanout.py)

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats()
        self.disconnects = 0
        self.clients: list[Client] = []

    async def connect(self) -> None:
        """Client i connects to url[i % len(url)]: spread over several servers if given."""
        loop = asyncio.get_running_loop()
        urls = self.args.url
        make = self.client_class
        self.clients = [make(i, urls[i % len(urls)], self) for i in range(self.args.clients)]
        # Open in batches, as a class of students would, without a SYN flood on the backlog.
        for batch in range(0, len(self.clients), 100):
            chunk = self.clients[batch : batch + 100]
            await asyncio.gather(
                *(
                    loop.create_connection(
                        c.itself, c.url.hostname or "127.0.0.1", c.url.port or 80
                    )
                    for c in chunk
                )
            )
            await asyncio.wait_for(asyncio.gather(*(c.opened for c in chunk)), 30)
        for client in self.clients:
            client.peers = [c for c in self.clients if c is not client]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = now() + timeout
        while not predicate():
            if now() > deadline:
                return False
            await asyncio.sleep(0.002)
        return True

    async def login_storm(self) -> dict:
        expected = len(self.clients) * (len(self.clients) - 1) // 2
        self.stats = Stats()
        start = now()
        for client in self.clients:
            client.log_in()
        done = await self.wait_until(
            lambda: (
                self.stats.external_logins >= expected and all(c.logged_in for c in self.clients)
            ),
            self.args.timeout,
        )
        return {
            "pushes_expected": expected,
            "pushes_seen": self.stats.external_logins,
            "seconds": round(now() - start, 3) if done else None,
        }

    async def saturate(self) -> dict:
        self.stats = Stats()
        cpu = self.cpu()
        stop = now() + self.args.saturate

        def again(client: Client) -> None:
            if now() < stop:
                client.send_to(random.choice(client.peers))

        start = now()
        for client in self.clients:
            client.on_reply = again
            for _ in range(self.args.inflight):
                client.send_to(random.choice(client.peers))
        await asyncio.sleep(max(stop - now(), 0))
        elapsed = now() - start
        await self.drain()
        for client in self.clients:
            client.on_reply = None
        return {**self.summary(elapsed), **self.cpu(since=cpu, elapsed=now() - start)}

    async def fixed_rate(self) -> dict:
        self.stats = Stats()
        rate, seconds = self.args.rate, self.args.rate_seconds
        started_at = time.time()
        start = now()
        sent = 0
        while (elapsed := now() - start) < seconds:
            due = int(elapsed * rate) - sent
            for _ in range(due):
                client = random.choice(self.clients)
                client.send_to(random.choice(client.peers))
            sent += max(due, 0)
            await asyncio.sleep(0.001)
        await self.drain()
        return {"rate": rate, "started_at": started_at, **self.summary(seconds)}

    async def drain(self) -> None:
        """Wait for every reply and push still on its way."""
        stats = self.stats
        await self.wait_until(
            lambda: stats.replies + stats.errors >= stats.sent and stats.pushes >= stats.replies,
            self.args.timeout,
        )

    def cpu(self, since: dict | None = None, elapsed: float = 0.0) -> dict:
        """CPU used by the server and by this generator: shares of one core over `elapsed`."""
        pids = self.args.pid
        used = {
            "server": sum(cpu_s(pid) or 0 for pid in pids) if pids else None,
            "generator": cpu_s(None),
        }
        if since is None:
            return used
        return {
            f"cpu_{name}": round((used[name] - since[name]) / elapsed, 2)
            for name in used
            if used[name] is not None and since[name] is not None and elapsed
        }

    def summary(self, elapsed: float) -> dict:
        stats = self.stats
        return {
            "sent": stats.sent,
            "replies": stats.replies,
            "pushes": stats.pushes,
            "errors": stats.errors + self.disconnects,
            "error_texts": dict(stats.error_texts),
            "disconnects": self.disconnects,
            "lost": stats.sent - stats.pushes - stats.errors,
            "msgs_per_s": round(stats.replies / elapsed) if elapsed else None,
            "rtt_p50_ms": percentile(stats.rtt_ms, 50),
            "rtt_p99_ms": percentile(stats.rtt_ms, 99),
            "delivery_p50_ms": percentile(stats.delivery_ms, 50),
            "delivery_p99_ms": percentile(stats.delivery_ms, 99),
        }


async def run(args: argparse.Namespace) -> dict:
    load = Load(args)
    result: dict = {"clients": args.clients, "rss_idle_kib": total_rss_kib(args.pid)}
    await load.connect()
    result["rss_connected_kib"] = total_rss_kib(args.pid)
    result["login_storm"] = await load.login_storm()
    result["rss_logged_in_kib"] = total_rss_kib(args.pid)
    if args.saturate > 0:
        result["saturated"] = await load.saturate()
    if args.rate > 0:
        # Several generators started together (chat_compare.py --paired) begin this phase at
        # one wall-clock time, so every server is measured through the same noise.
        await asyncio.sleep(max(0.0, getattr(args, "rate_start_at", 0.0) - time.time()))
        result["fixed_rate"] = await load.fixed_rate()
    result["rss_end_kib"] = total_rss_kib(args.pid)
    for client in load.clients:
        client.transport.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", nargs="+", default=["ws://127.0.0.1:4000/"], help="several: clients round-robin"
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--saturate", type=float, default=5.0, help="seconds of closed loop")
    parser.add_argument("--inflight", type=int, default=2, help="outstanding sends per client")
    parser.add_argument("--rate", type=float, default=500.0, help="msgs/s for the latency run")
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument(
        "--rate-start-at", type=float, default=0.0, help="epoch seconds: start the fixed rate then"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per phase")
    parser.add_argument(
        "--pid", type=int, nargs="*", default=[], help="server PIDs: memory and CPU are summed"
    )
    args = parser.parse_args()
    try:
        import uvloop  # the generator must not be the bottleneck

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
