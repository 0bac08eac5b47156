"""A WebSocket server that misbehaves on request, for proving the bank's browser-API keys.

A socket's URL path is a script, e.g. `/t:hello/close:1001:restart` sends a text message,
then a Close frame with code 1001. Steps:
    t:<text>            a text message
    b:<hex>             a binary message
    f:<a>|<b>|<c>       one text message sent as three frames (a fragmented message)
    ping:<data>         a Ping; the server records whether the matching Pong came back
    wait                wait for one message from the browser
    close               a Close frame with no body (no status code at all)
    close:<code>:<why>  a Close frame with that code and reason
    drop                abort the TCP connection, with no closing handshake
After the script, the server records every message until the browser closes. Query string:
`tag` names the socket's records; `pick` is the subprotocol to select from those offered
(without it none is selected); `bad=protocol` or `bad=accept` spoils that header of the 101
answer. `/reject` answers the handshake with 403, `/redirect` with a 301 to `/?tag=moved`.
Any request without `Upgrade` gets PAGE, a blank page with helpers for the tests' scripts;
`/csp` serves it with a CSP that allows sockets to this server's port only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.servers import free_port

# A hard ceiling on a probe's life, in case its test run is killed before teardown.
MAX_LIFETIME_S = 600

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>probe</title><script>
// Every event of a socket, in order, as plain data the test can compare.
function describe(e) {
  const ws = e.target;
  if (e.type === "close")
    return {type: "close", code: e.code, reason: e.reason, wasClean: e.wasClean,
            state: ws.readyState};
  if (e.type === "message")
    return {type: "message", data: typeof e.data === "string" ? e.data
            : Object.prototype.toString.call(e.data)};
  if (e.type === "error")
    return {type: "error", cls: e.constructor.name, message: "message" in e,
            code: "code" in e, state: ws.readyState};
  return {type: e.type, state: ws.readyState};
}
function track(ws) {
  ws.log = [];
  for (const type of ["open", "message", "error", "close"])
    ws.addEventListener(type, (e) => ws.log.push(describe(e)));
  return ws;
}
function until(ws, type, ms = 5000) {
  return new Promise((resolve, reject) => {
    if (ws.log.some((e) => e.type === type)) return resolve(ws.log);
    ws.addEventListener(type, () => setTimeout(() => resolve(ws.log)));
    setTimeout(() => reject(new Error(`no ${type} event in ${ms} ms: ` +
                                      JSON.stringify(ws.log))), ms);
  });
}
function thrown(f) {
  try { f(); return "no error"; } catch (e) { return e.name; }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
</script></head><body></body></html>"""


class Probe:
    """Two WebSocket servers (with and without permessage-deflate) and a silent one."""

    def __init__(self) -> None:
        self.port, self.plain_port, self.silent_port = free_port(), free_port(), free_port()
        self.records: dict[str, list[tuple[str, Any]]] = {}
        self._changed = threading.Condition()
        self._silent: list[asyncio.StreamWriter] = []

    @property
    def page(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url(self, script: str = "", *, deflate: bool = True, **query: str) -> str:
        port = self.port if deflate else self.plain_port
        args = "&".join(f"{name}={value}" for name, value in query.items())
        return f"ws://127.0.0.1:{port}/{script}" + (f"?{args}" if args else "")

    @property
    def silent(self) -> str:
        """A server that accepts the TCP connection and never answers the handshake."""
        return f"ws://127.0.0.1:{self.silent_port}/"

    def record(self, tag: str, kind: str, value: Any) -> None:
        with self._changed:
            self.records.setdefault(tag, []).append((kind, value))
            self._changed.notify_all()

    def wait(self, tag: str, kind: str, timeout: float = 5) -> Any:
        """The first value recorded as `kind` for `tag`, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for got, value in self.records.get(tag, []):
                    if got == kind:
                        return value
                left = deadline - time.monotonic()
                assert left > 0, f"no {kind!r} for {tag!r}: {self.records.get(tag)}"
                self._changed.wait(left)

    def values(self, tag: str, kind: str) -> list[Any]:
        """Everything recorded as `kind` for `tag` so far, in order."""
        with self._changed:
            return [value for got, value in self.records.get(tag, []) if got == kind]

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        split = urlsplit(request.path)
        tag = parse_qs(split.query).get("tag", ["-"])[0]
        if "upgrade" not in request.headers.get("Connection", "").lower():
            headers = Headers({"Content-Type": "text/html; charset=utf-8"})
            if split.path == "/csp":
                headers["Content-Security-Policy"] = f"connect-src ws://127.0.0.1:{self.port}"
            return Response(200, "OK", headers, PAGE.encode())
        self.record(tag, "headers", {k.lower(): v for k, v in request.headers.raw_items()})
        if split.path == "/reject":
            return connection.respond(403, "Forbidden\n")
        if split.path == "/redirect":
            response = connection.respond(301, "Moved\n")
            response.headers["Location"] = f"ws://127.0.0.1:{self.port}/?tag=moved"
            return response
        return None

    @staticmethod
    def _process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response:
        bad = parse_qs(urlsplit(request.path).query).get("bad", [""])[0]
        spoiled = {"protocol": "chat.v3", "accept": "d3JvbmcgYWNjZXB0IHZhbHVlIQ=="}
        if bad:
            name = f"Sec-WebSocket-{bad.capitalize()}"
            with contextlib.suppress(KeyError):
                del response.headers[name]
            response.headers[name] = spoiled[bad]
        return response

    @staticmethod
    def _select(connection: ServerConnection, offered: list[str]) -> str | None:
        assert connection.request is not None
        pick = parse_qs(urlsplit(connection.request.path).query).get("pick", [None])[0]
        return pick if pick in offered else None

    async def _run(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        split = urlsplit(ws.request.path)
        tag = parse_qs(split.query).get("tag", ["-"])[0]
        try:
            for step in filter(None, split.path.split("/")):
                name, _, arg = unquote(step).partition(":")
                if name == "t":
                    await ws.send(arg)
                elif name == "b":
                    await ws.send(bytes.fromhex(arg))
                elif name == "f":
                    await ws.send(arg.split("|"))
                elif name == "ping":
                    pong = await ws.ping(arg.encode())
                    self.record(tag, "pong", await asyncio.wait_for(pong, 3) >= 0)
                elif name == "wait":
                    self.record(tag, "message", await ws.recv())
                elif name == "close" and not arg:
                    # websockets' close() always sends a code; this Close frame has no body.
                    async with ws.send_context():
                        ws.protocol.send_close()
                elif name == "close":
                    code, _, reason = arg.partition(":")
                    await ws.close(int(code), reason)
                elif name == "drop":
                    assert ws.transport is not None
                    ws.transport.abort()
                else:
                    raise ValueError(f"unknown probe step {step!r}")
            async for message in ws:
                self.record(tag, "message", message)
        except ConnectionClosed:
            pass  # the browser went away mid-script: the close record below says how
        except Exception as exc:
            # A broken script shows up in the failing test's message, not only in a log.
            self.record(tag, "error", repr(exc))
            raise
        received = ws.protocol.close_rcvd
        self.record(tag, "close", (received.code, received.reason) if received else None)

    async def _silent_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._silent.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass

    async def _serve(self, started: threading.Event, stop: asyncio.Future[None]) -> None:
        common: dict[str, Any] = {
            "process_request": self._process_request,
            "process_response": self._process_response,
            "select_subprotocol": self._select,
            "ping_interval": None,
        }
        async with (
            serve(self._run, "127.0.0.1", self.port, **common),
            serve(self._run, "127.0.0.1", self.plain_port, compression=None, **common),
        ):
            silent = await asyncio.start_server(self._silent_client, "127.0.0.1", self.silent_port)
            started.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop, MAX_LIFETIME_S)
            for writer in self._silent:
                writer.close()
            silent.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[Probe]:
        loop = asyncio.new_event_loop()
        stop: asyncio.Future[None] = loop.create_future()
        started = threading.Event()
        thread = threading.Thread(
            target=loop.run_until_complete, args=(self._serve(started, stop),), daemon=True
        )
        thread.start()
        try:
            assert started.wait(10), "the probe did not start"
            yield self
        finally:
            loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
            thread.join(10)
            loop.close()
