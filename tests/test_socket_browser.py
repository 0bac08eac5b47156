"""courseware/static/courseware/socket.js in Chromium, against a loopback server that drops.

One small `websockets` server plays both parts: it serves a blank page (under the site's
`script-src 'self'` policy) with socket.js, and it is the WebSocket server the page talks to,
refusing or dropping connections as each test tells it to.
"""

from __future__ import annotations

import contextlib
import http
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tests.servers import ROOT, free_port

pytestmark = [pytest.mark.browser, pytest.mark.live]

SOCKET_JS = ROOT / "courseware" / "static" / "courseware" / "socket.js"
PAGE = '<!doctype html><title>socket.js</title><p id="state"></p><script src="/socket.js"></script>'
CSP = "default-src 'self'; script-src 'self'; connect-src 'self' ws://127.0.0.1:*"

# The page's side: a link whose every callback is written down in window.seen, and whose
# state is shown in #state for expect() to wait on (wait_for_function is blocked by the CSP).
OPEN_LINK = """([url, options]) => {
  window.seen = { status: [], opens: 0, frames: [], closes: [] };
  const state = document.getElementById("state");
  window.link = reconnectingSocket({
    url,
    ...options,
    onOpen(link) {
      seen.opens += 1;
      state.textContent = `open ${seen.opens}`;
      link.send({ type: "resume", opens: seen.opens });
    },
    onFrame(frame) { seen.frames.push(frame); },
    onClose(event, info) {
      seen.closes.push({ code: event.code, opened: info.opened });
      if (event.code === 4403) link.stop(); // as the pages do when they are not allowed in
    },
    onStatus(name, detail) {
      seen.status.push([name, detail]);
      state.textContent = `${name} ${seen.opens}`;
    },
  });
}"""

Handler = Callable[[ServerConnection, int], None]


def hold_open(ws: ServerConnection, number: int) -> None:
    """Keep the connection until the page closes it."""
    with contextlib.suppress(ConnectionClosed):
        for _ in ws:
            pass


class FlakyServer:
    """A loopback WebSocket server that refuses, drops or answers as the test says."""

    def __init__(self) -> None:
        self.port = free_port()
        self.refuse = 0  # handshakes still to refuse with a 503, as a server that is down
        self.handshakes: list[float] = []  # time.monotonic() of every handshake attempt
        self.accepted = 0
        self.handler: Handler = hold_open
        self.lock = threading.Lock()
        self.server = serve(
            self.serve_one, "127.0.0.1", self.port, process_request=self.process_request
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return self.static(conn, request.path)
        with self.lock:
            self.handshakes.append(time.monotonic())
            if self.refuse > 0:
                self.refuse -= 1
                return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "down for a test\n")
        return None

    def static(self, conn: ServerConnection, path: str) -> Response:
        if path == "/socket.js":
            body, kind = SOCKET_JS.read_text(), "text/javascript"
        elif path == "/":
            body, kind = PAGE, "text/html"
        else:
            return conn.respond(http.HTTPStatus.NOT_FOUND, "not here\n")
        response = conn.respond(http.HTTPStatus.OK, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = f"{kind}; charset=utf-8"
        response.headers["Content-Security-Policy"] = CSP
        return response

    def serve_one(self, ws: ServerConnection) -> None:
        with self.lock:
            self.accepted += 1
            number = self.accepted
        self.handler(ws, number)

    def wait_for_handshakes(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.handshakes) < count:
            assert time.monotonic() < deadline, f"{len(self.handshakes)} of {count} handshakes"
            time.sleep(0.02)


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.thread.join(5)


def open_link(page, flaky: FlakyServer, **options) -> None:
    """Load the blank page and open a link to the flaky server with these options."""
    page.goto(flaky.url + "/")
    page.evaluate(OPEN_LINK, [flaky.url.replace("http", "ws", 1) + "/ws/", options])


def seen(page) -> dict:
    return page.evaluate("window.seen")


def test_it_reconnects_after_growing_jittered_delays_within_bounds(page, flaky):
    """Each wait doubles up to the cap, less a random part of at most `jitter` of itself,
    and the browser really waits that long before the next handshake."""
    flaky.refuse = 5
    open_link(page, flaky, initialDelay=200, maxDelay=1600, jitter=0.5)
    expect(page.locator("#state")).to_have_text("open 1", timeout=15_000)

    waits = [detail for name, detail in seen(page)["status"] if name == "reconnecting"]
    assert [w["attempt"] for w in waits] == [1, 2, 3, 4, 5]
    assert not any(w["opened"] for w in waits)
    nominal = [200, 400, 800, 1600, 1600]
    delays = [w["delay"] for w in waits]
    for delay, cap in zip(delays, nominal, strict=True):
        assert cap * 0.5 <= delay <= cap
    assert delays[:4] == sorted(set(delays[:4])), "the waits grow until the cap"
    # Jitter: the fractions of the nominal waits are not all the same.
    assert len({round(d / n, 3) for d, n in zip(delays, nominal, strict=True)}) > 1
    # The server saw the browser keep those waits (loosely above: the machine is shared).
    gaps = [b - a for a, b in zip(flaky.handshakes, flaky.handshakes[1:], strict=False)]
    assert len(gaps) == 5
    for gap, delay in zip(gaps, delays, strict=True):
        assert delay / 1000 - 0.02 <= gap <= delay / 1000 + 1.5


def test_it_calls_the_resume_hook_after_every_reconnect(page, flaky):
    """A socket that opened and then dropped is reopened at the first wait, and onOpen
    (the page's resume hook) runs on each new connection."""
    resumes: list[dict] = []

    def drop_twice(ws: ServerConnection, number: int) -> None:
        resumes.append(json.loads(ws.recv(timeout=5)))
        if number <= 2:
            ws.close(1012, "restarting")
        else:
            hold_open(ws, number)

    flaky.handler = drop_twice
    open_link(page, flaky, initialDelay=100, maxDelay=1000, jitter=0.3)
    expect(page.locator("#state")).to_have_text("open 3")

    assert [r["opens"] for r in resumes] == [1, 2, 3]
    state = seen(page)
    assert state["opens"] == 3
    assert state["closes"] == [{"code": 1012, "opened": True}] * 2
    # An open connection resets the backoff: both waits are first waits.
    waits = [d for name, d in state["status"] if name == "reconnecting"]
    assert [(w["attempt"], w["opened"]) for w in waits] == [(1, True), (1, True)]
    assert all(70 <= w["delay"] <= 100 for w in waits)


def answer_out_of_order(ws: ServerConnection, number: int) -> None:
    """Answer two asks last-first, push a frame of its own, ignore one, drop on 'hold'."""
    assert json.loads(ws.recv(timeout=5))["type"] == "resume"
    asks = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    for ask in reversed(asks):
        ws.send(json.dumps({"ref": ask["ref"], "answer": ask["value"] * 10}))
    ws.send(json.dumps({"type": "news"}))
    with contextlib.suppress(ConnectionClosed):
        for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "hold":
                ws.close(1011, "gone")
            # "ignore": no reply, so the page's request times out


def test_it_resolves_pending_replies_by_id_and_rejects_them_on_close(page, flaky):
    """Replies settle the request with the same ref whatever their order; frames that
    answer nothing go to onFrame; a late reply times out; a close rejects what waits."""
    flaky.handler = answer_out_of_order
    open_link(page, flaky, initialDelay=5000, replyTimeout=0)
    expect(page.locator("#state")).to_have_text("open 1")

    replies = page.evaluate(
        """() => Promise.all([
            link.request({ type: "ask", value: 1 }),
            link.request({ type: "ask", value: 2 }),
        ])"""
    )
    assert [(r["ref"], r["answer"]) for r in replies] == [(1, 10), (2, 20)]
    expect(page.locator("#state")).to_have_text("open 1")  # settled without a reconnect
    assert seen(page)["frames"] == [{"type": "news"}]

    # How a request ends: its reply, or why it failed; "still waiting" bounds a broken link.
    outcome = """async ([frame, timeout]) => {
        const waited = new Promise((resolve) => setTimeout(resolve, 3000, "still waiting"));
        try {
            return await Promise.race([link.request(frame, { timeout }), waited]);
        } catch (error) {
            return error.reason;
        }
    }"""
    assert page.evaluate(outcome, [{"type": "ignore"}, 300]) == "timeout"
    assert page.evaluate(outcome, [{"type": "hold"}, 0]) == "closed"
    expect(page.locator("#state")).to_have_text("reconnecting 1")
    assert page.evaluate(outcome, [{"type": "ask"}, 0]) == "not_connected"
    assert seen(page)["closes"] == [{"code": 1011, "opened": True}]


def forbid(ws: ServerConnection, number: int) -> None:
    ws.close(4403, "not allowed")


def test_stop_ends_the_reconnecting_and_start_begins_again(page, flaky):
    """After stop() no handshake follows, whether the server was down, the socket open, or
    the page stopped from onClose; start() connects again at once."""
    flaky.refuse = 1000
    open_link(page, flaky, initialDelay=100, maxDelay=400, jitter=0.3)
    flaky.wait_for_handshakes(3)
    page.evaluate("link.stop()")
    expect(page.locator("#state")).to_have_text("stopped 0")
    tried = len(flaky.handshakes)
    time.sleep(1.2)  # three times the longest wait: any retry would have come by now
    assert len(flaky.handshakes) == tried

    flaky.refuse = 0
    page.evaluate("link.start()")
    expect(page.locator("#state")).to_have_text("open 1")
    page.evaluate("link.stop()")
    expect(page.locator("#state")).to_have_text("stopped 1")
    time.sleep(0.5)  # five first waits
    assert len(flaky.handshakes) == tried + 1
    assert page.evaluate("link.open") is False

    flaky.handler = forbid
    page.evaluate("link.start()")
    expect(page.locator("#state")).to_have_text("stopped 2")
    time.sleep(0.5)
    assert len(flaky.handshakes) == tried + 2
    assert seen(page)["closes"][-1] == {"code": 4403, "opened": True}
