"""Bounds on connections, for both ports: caps, a handshake deadline, header and body sizes.

uvicorn (the default server) counts connections only once a request has arrived, never
times out a socket that sends nothing, has no header limit with httptools, and hands the
body to Django, which spools it to a temporary file before any view runs. So:

- `protocols(limits)` returns uvicorn protocol classes that count every accepted socket,
  per client address and in total, and refuse one over a cap at once with a 503; close a
  socket whose request headers are not complete within the handshake deadline; and answer
  431 when the headers grow past the header limit;
- `BodyLimit` is ASGI middleware that answers 413 to a body declared or streamed past the
  body limit, before the application reads it.

Sockets on a Unix socket (the chat process's console bridge) have no address and are
neither counted nor capped.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# File descriptors kept free for everything that is not a client socket: the database,
# log files, static files, the listening sockets themselves.
FD_RESERVE = 128
# Connections one address can never take from the others (see limits_from_settings).
OTHERS_RESERVE = 256


@dataclass(frozen=True)
class Limits:
    max_connections: int
    max_per_ip: int
    handshake_seconds: float
    max_header_bytes: int


def limits_from_settings() -> Limits:
    """The connection limits of this process; 0 in a setting means "from `ulimit -n`"."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    total = settings.SERVER_MAX_CONNECTIONS or max(16, soft - FD_RESERVE)
    # One address may take all but OTHERS_RESERVE of them (at most half kept back), so a
    # 500-client load test from loopback fits under `ulimit -n 1024` while one hostile
    # address still leaves room for everybody else.
    per_ip = settings.SERVER_MAX_CONNECTIONS_PER_IP or max(
        1, total - min(OTHERS_RESERVE, total // 2)
    )
    return Limits(
        max_connections=total,
        max_per_ip=per_ip,
        handshake_seconds=settings.SERVER_HANDSHAKE_TIMEOUT,
        max_header_bytes=settings.SERVER_MAX_HEADER_BYTES,
    )


def _response(status: str) -> bytes:
    body = status.encode() + b"\n"
    head = f"HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + body


BUSY = _response("503 Service Unavailable")
HEADERS_TOO_LARGE = _response("431 Request Header Fields Too Large")


class Tally:
    """Open sockets of one server process, by client address."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.by_ip: Counter[str] = Counter()
        self.held: dict[Any, str | None] = {}  # transport -> its address (None: uncounted)
        self.refused = 0
        self._logged_at = 0.0

    def admit(self, transport: Any, client: tuple[str, int] | None) -> bool:
        if client is None:  # a Unix socket: the console bridge, trusted and few
            self.held[transport] = None
            return True
        ip = client[0]
        if self.total >= self.limits.max_connections or (self.by_ip[ip] >= self.limits.max_per_ip):
            self._note_refusal()
            return False
        self.total += 1
        self.by_ip[ip] += 1
        self.held[transport] = ip
        return True

    def release(self, transport: Any) -> None:
        if transport not in self.held:
            return  # refused, or already released
        ip = self.held.pop(transport)
        if ip is None:
            return
        self.total -= 1
        self.by_ip[ip] -= 1
        if not self.by_ip[ip]:
            del self.by_ip[ip]

    def _note_refusal(self) -> None:
        # One line per ten seconds at most: a flood of refusals must not flood the disk.
        self.refused += 1
        now = time.monotonic()
        if now - self._logged_at >= 10:
            self._logged_at = now
            logger.warning(
                "connection caps reached (%s in total, %s per address): %s refused so far",
                self.limits.max_connections,
                self.limits.max_per_ip,
                self.refused,
            )


def protocols(limits: Limits) -> tuple[type, type, Tally]:
    """uvicorn's httptools and sans-I/O WebSocket protocols, bounded by `limits`."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    tally = Tally(limits)

    class BoundedHttp(HttpToolsProtocol):
        refused = False
        deadline: Any = None

        def connection_made(self, transport: Any) -> None:
            peer = transport.get_extra_info("peername")
            client = (str(peer[0]), int(peer[1])) if isinstance(peer, list | tuple) else None
            if not tally.admit(transport, client):
                # Before uvicorn sets anything up: a flood of refusals stays cheap, and the
                # accept queue drains fast enough for the clients queued behind it.
                self.refused = True
                transport.write(BUSY)
                transport.close()
                return
            super().connection_made(transport)
            self.head_bytes = self.raw_head_bytes = 0
            self.in_head = True
            self.too_large = False
            self._arm_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.refused:
                return
            tally.release(self.transport)
            self._disarm_deadline()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.refused or self.transport.is_closing():
                return
            super().data_received(data)
            # Headers still unfinished after this chunk: the parser is buffering them (one
            # endless header line never reaches on_header), so count the raw bytes too.
            if self.in_head and not self.transport.is_closing():
                self.raw_head_bytes += len(data)
                if self.raw_head_bytes > limits.max_header_bytes:
                    self._refuse(HEADERS_TOO_LARGE)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.in_head = True
            self.head_bytes = self.raw_head_bytes = 0

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def _count(self, size: int) -> None:
            self.head_bytes += size
            if self.head_bytes > limits.max_header_bytes:
                self.too_large = True
                # Stops the parser; uvicorn answers a parser error with send_400_response.
                raise ValueError("request headers too large")

        def send_400_response(self, msg: str) -> None:
            if self.too_large:
                self._refuse(HEADERS_TOO_LARGE)
            else:
                super().send_400_response(msg)

        def on_headers_complete(self) -> None:
            self.in_head = False
            self._disarm_deadline()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request on a kept-alive socket has the same deadline for its headers.
            if not self.transport.is_closing():
                self._arm_deadline()

        def _arm_deadline(self) -> None:
            self._disarm_deadline()
            self.deadline = self.loop.call_later(limits.handshake_seconds, self._too_slow)

        def _disarm_deadline(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _too_slow(self) -> None:
            self.deadline = None
            if self.in_head and not self.transport.is_closing():
                self.transport.close()

        def _refuse(self, response: bytes) -> None:
            self._disarm_deadline()
            self.transport.write(response)
            self.transport.close()

    class BoundedWebSocket(WebSocketsSansIOProtocol):
        """After the upgrade the socket lives here: give its place back when it closes."""

        def connection_lost(self, exc: Exception | None) -> None:
            tally.release(self.transport)
            super().connection_lost(exc)

    return BoundedHttp, BoundedWebSocket, tally


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before anyone reads it."""

    def __init__(self, app: Any, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes if self.max_bytes is not None else settings.SITE_MAX_BODY_BYTES
        declared = [v for k, v in scope.get("headers", []) if k == b"content-length"]
        try:
            length = int(declared[0]) if declared else 0
        except ValueError:
            await _answer(send, 400, b"Bad Request: invalid Content-Length\n")
            return
        if length > limit:
            await _answer(send, 413, b"Request body too large\n")
            return
        if not declared and any(k == b"transfer-encoding" for k, _ in scope.get("headers", [])):
            # Pages run as WSGI (courseware.asgi), which reads no body without a length:
            # say so at once rather than let a form arrive empty. Browsers send lengths.
            await _answer(send, 411, b"Length Required: send the body with a Content-Length\n")
            return
        seen = 0
        over = False
        started = False

        async def counted_receive() -> dict:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # A chunked body with no declared length: the application is told the
                    # client went away, and stops reading it (Django raises RequestAborted).
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, watched_send)
        if over and not started:
            await _answer(send, 413, b"Request body too large\n")


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        # The rest of the body is never read: close rather than parse it away.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
