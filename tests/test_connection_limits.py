"""Connection bounds on both ports (courseware.guard), pushed past with small limits.

One `serve` per group of limits; clients come from 127.0.0.1 and, as "another address",
from 127.0.0.2 (all of 127/8 is loopback on Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
import websockets

from courseware.guard import BodyLimit
from tests.servers import free_port, server_process

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

GET = b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@contextlib.contextmanager
def serve(env: dict[str, str]) -> Iterator[tuple[int, int]]:
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    with server_process(args, ports=[site, chat], env={"LOG": "NONE", **env}):
        yield site, chat


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def refused_with(sock: socket.socket, wait: float = 1.0) -> bytes | None:
    """The status line the server answered with and closed, or None if it holds the socket."""
    sock.settimeout(wait)
    try:
        data = sock.recv(200)
    except TimeoutError:
        return None
    return data.split(b"\r\n", 1)[0] if data else b"closed"


def closed_within(sock: socket.socket, seconds: float) -> float:
    """How long until the server closed `sock` (it must, within `seconds`)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(4096):
            pass
    return time.monotonic() - started


@pytest.fixture
def capped(module) -> Iterator[tuple[int, int]]:
    env = {"SERVER_MAX_CONNECTIONS": "4", "SERVER_MAX_CONNECTIONS_PER_IP": "3"}
    with serve(env) as ports:
        yield ports


def test_one_address_gets_503_past_its_cap_while_another_address_still_gets_in(capped):
    """Three idle sockets from one address fill its share; a fourth is refused at once."""
    site, _ = capped
    held = [connect(site) for _ in range(3)]
    time.sleep(0.2)  # accepted in order: the first three were counted before the fourth
    extra = connect(site)
    assert refused_with(extra) == b"HTTP/1.1 503 Service Unavailable"
    other = connect(site, source="127.0.0.2")
    assert refused_with(other, wait=0.3) is None
    other.sendall(GET)
    assert refused_with(other) == b"HTTP/1.1 200 OK"
    # The total is four: a fifth socket from the other address is refused too.
    assert refused_with(connect(site, source="127.0.0.2")) == b"HTTP/1.1 503 Service Unavailable"
    # A closed socket gives its place back.
    held.pop().close()
    time.sleep(0.2)
    again = connect(site)
    assert refused_with(again, wait=0.3) is None
    for sock in [*held, extra, other, again]:
        sock.close()


def test_the_chat_port_caps_websockets_per_address_with_a_503(capped):
    """Open WebSockets count until they close; past the cap the handshake gets 503."""
    _, chat = capped

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{chat}/"
        sockets = [await websockets.connect(url, open_timeout=5) for _ in range(3)]
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, open_timeout=5)
        assert refused.value.response.status_code == 503
        await sockets.pop().close()
        await asyncio.sleep(0.2)
        sockets.append(await websockets.connect(url, open_timeout=5))
        for ws in sockets:
            await ws.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))


@pytest.fixture
def strict(module) -> Iterator[tuple[int, int]]:
    env = {
        "SERVER_HANDSHAKE_TIMEOUT": "1",
        "SERVER_KEEPALIVE_TIMEOUT": "1",
        "SERVER_MAX_HEADER_BYTES": "4096",
        "SITE_MAX_BODY_BYTES": str(1024 * 1024),
    }
    with serve(env) as ports:
        yield ports


def test_a_socket_that_never_finishes_its_headers_is_closed_after_the_deadline(strict):
    """Silent, or a header line a minute: either way closed about a second after opening."""
    site, chat = strict
    for port in (site, chat):
        silent = connect(port)
        assert closed_within(silent, 5) < 3
        slow = connect(port)
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert closed_within(slow, 5) < 3


def test_an_idle_kept_alive_connection_is_closed(strict):
    site, _ = strict
    sock = connect(site)
    sock.sendall(GET)
    assert closed_within(sock, 5) < 3


def test_headers_past_the_limit_get_431_and_normal_ones_pass(strict):
    site, chat = strict
    for port in (site, chat):
        big = connect(port)
        big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n")
        assert refused_with(big) == b"HTTP/1.1 431 Request Header Fields Too Large"
    fine = connect(site)
    fine.sendall(GET.replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n"))
    assert refused_with(fine) == b"HTTP/1.1 200 OK"


def test_a_huge_declared_body_gets_413_before_a_byte_of_it_is_sent(strict):
    """Content-Length of 1 GiB and no body at all: the answer comes back anyway."""
    site, chat = strict
    for port in (site, chat):
        sock = connect(port)
        sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.sendall(b"Content-Length: 1073741824\r\n\r\n")
        assert refused_with(sock, wait=3) == b"HTTP/1.1 413 Request Entity Too Large"


def test_a_chunked_body_is_refused_with_411_before_any_of_it_is_read(strict):
    """No declared length: pages run as WSGI, which cannot read such a body, so the
    server says so at once instead of passing the view an empty form."""
    site, _ = strict
    sock = connect(site)
    sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sock.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 65536
    answer = None
    for _ in range(40):  # 2.5 MiB at most, never the terminating chunk
        with contextlib.suppress(OSError):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = refused_with(sock, wait=0.05)
        if answer is not None:
            break
    assert answer == b"HTTP/1.1 411 Length Required"


# -- BodyLimit on its own ---------------------------------------------------------------------


async def call(app: BodyLimit, headers: list, chunks: list[bytes]) -> tuple[list, list]:
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "headers": headers}, receive, send)
    return sent, incoming


def reader() -> tuple[BodyLimit, list]:
    """BodyLimit around an app that reads the whole body, then answers 200."""
    read: list[bytes] = []

    async def app(scope: dict, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # as Django does: the client went away, no answer
            read.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return BodyLimit(app, max_bytes=10), read


@pytest.mark.django_db(transaction=False)
def test_body_limit_never_calls_the_app_for_a_declared_oversized_body():
    app, read = reader()
    sent, _ = asyncio.run(call(app, [(b"content-length", b"11")], [b"x" * 11]))
    assert sent[0]["status"] == 413 and read == []
    assert (b"connection", b"close") in sent[0]["headers"]


@pytest.mark.django_db(transaction=False)
def test_body_limit_stops_a_streamed_body_at_the_limit_and_answers_413():
    app, read = reader()
    sent, unread = asyncio.run(call(app, [], [b"x" * 6, b"x" * 6, b"x" * 6]))
    assert sent[0]["status"] == 413
    assert read == [b"x" * 6] and len(unread) == 1  # the third chunk was never asked for


@pytest.mark.django_db(transaction=False)
def test_body_limit_asks_for_a_length_when_the_body_is_chunked():
    app, read = reader()
    sent, _ = asyncio.run(call(app, [(b"transfer-encoding", b"chunked")], [b"x" * 6]))
    assert sent[0]["status"] == 411 and read == []


@pytest.mark.django_db(transaction=False)
def test_body_limit_lets_a_body_within_the_limit_through_and_rejects_a_bad_length():
    app, read = reader()
    sent, _ = asyncio.run(call(app, [(b"content-length", b"10")], [b"x" * 10]))
    assert sent[0]["status"] == 200 and read == [b"x" * 10]
    sent, _ = asyncio.run(call(app, [(b"content-length", b"ten")], [b""]))
    assert sent[0]["status"] == 400


# -- running out of file descriptors ----------------------------------------------------------


def test_with_few_descriptors_the_caps_keep_some_in_reserve_for_other_clients(module):
    """`ulimit -n 200`: the caps come out at 72 and 36; a flood leaves room for a page."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    with server_process(args, ports=[site, chat], env={"LOG": "NONE"}, nofile=200):
        flood = [connect(site) for _ in range(150)]
        answers: dict[socket.socket, bytes | None] = dict.fromkeys(flood)
        deadline = time.monotonic() + 5
        # Until every socket past this address's share has its 503 (or time is up).
        while list(answers.values()).count(None) > 36 and time.monotonic() < deadline:
            for sock in [s for s, answer in answers.items() if answer is None]:
                answers[sock] = refused_with(sock, wait=0.005)
        assert list(answers.values()).count(None) == 36  # held: this address's share
        other = connect(site, source="127.0.0.2")
        other.sendall(GET)
        assert refused_with(other, wait=5) == b"HTTP/1.1 200 OK"
        for sock in [*flood, other]:
            sock.close()


def test_a_server_whose_caps_exceed_its_descriptors_survives_running_out(module):
    """Caps set too high on purpose: accept() fails with EMFILE, the server carries on."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    env = {"LOG": "NONE", "SERVER_MAX_CONNECTIONS": "5000", "SERVER_MAX_CONNECTIONS_PER_IP": "5000"}
    with server_process(args, ports=[site, chat], env=env, nofile=200):
        flood = [connect(site) for _ in range(400)]
        time.sleep(0.5)
        for sock in flood:
            sock.close()
        time.sleep(0.5)
        sock = connect(site)
        sock.sendall(GET)
        assert refused_with(sock, wait=5) == b"HTTP/1.1 200 OK"
