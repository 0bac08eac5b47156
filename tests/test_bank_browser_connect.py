"""Keys of the bank about opening a WebSocket, proven in Debian Chromium against tests/wsprobe.

Each test states what the bank claims; a question names it in its `proof:` field.
"""

from __future__ import annotations

import pytest

from tests.wsprobe import PAGE

pytestmark = pytest.mark.browser


def test_ready_state_is_connecting_right_after_the_constructor(probe_page, probe):
    """`readyState` is 0 (CONNECTING) as soon as the constructor returns."""
    state = probe_page.evaluate("(url) => new WebSocket(url).readyState", probe.url())
    assert state == 0


def test_ready_state_constants_are_0_to_3(probe_page):
    """CONNECTING, OPEN, CLOSING and CLOSED are 0, 1, 2 and 3, on the class and instances."""
    values = probe_page.evaluate(
        """() => ["CONNECTING", "OPEN", "CLOSING", "CLOSED", "WAITING"].map(
             (name) => [WebSocket[name], WebSocket.prototype[name]])"""
    )
    assert values == [[0, 0], [1, 1], [2, 2], [3, 3], [None, None]]


def test_ready_state_goes_connecting_open_closing_closed(probe_page, probe):
    """A socket's life is 0, then 1 at `open`, 2 right after `close()`, 3 at `close`."""
    states = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             const seen = [ws.readyState];
             await until(ws, "open");
             seen.push(ws.readyState);
             ws.close();
             seen.push(ws.readyState);
             await until(ws, "close");
             return [...seen, ws.readyState, ws.log.map((e) => [e.type, e.state])];
           }""",
        probe.url(),
    )
    assert states == [0, 1, 2, 3, [["open", 1], ["close", 3]]]


def test_send_while_connecting_throws_invalid_state_error(probe_page, probe):
    """`send()` before `open` throws InvalidStateError, also after a zero timeout."""
    errors = probe_page.evaluate(
        """async (url) => {
             const ws = new WebSocket(url);
             const first = thrown(() => ws.send("too early"));
             await sleep(0);
             return [first, ws.readyState, thrown(() => ws.send("still early"))];
           }""",
        probe.silent,
    )
    assert errors == ["InvalidStateError", 0, "InvalidStateError"]


def test_open_waits_for_the_servers_handshake_answer(probe_page, probe):
    """Without the server's 101 answer the socket stays CONNECTING and fires nothing."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await sleep(1500);
             return [ws.readyState, ws.log];
           }""",
        probe.silent,
    )
    assert result == [0, []]


def test_close_while_connecting_fails_the_connection(probe_page, probe):
    """`close()` before `open`: CLOSING at once, then `error` and `close` 1006, never `open`."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             ws.close();
             const state = ws.readyState;
             return [state, await until(ws, "close")];
           }""",
        probe.silent,
    )
    state, log = result
    assert state == 2
    assert [e["type"] for e in log] == ["error", "close"]
    assert (log[1]["code"], log[1]["wasClean"]) == (1006, False)


@pytest.mark.parametrize("script", ["reject", "nothing-listening"])
def test_a_failed_handshake_fires_a_plain_error_then_close_1006(probe_page, probe, script):
    """A refused (403) or impossible connection: a bare `error` Event, then `close` 1006."""
    url = probe.url("reject") if script == "reject" else "ws://127.0.0.1:9/"
    log = probe_page.evaluate("(url) => until(track(new WebSocket(url)), 'close')", url)
    error, close = log
    assert error == {"type": "error", "cls": "Event", "message": False, "code": False, "state": 3}
    assert (close["type"], close["code"], close["wasClean"]) == ("close", 1006, False)


@pytest.mark.parametrize(
    "call",
    [
        "new WebSocket(url + '#top')",
        "new WebSocket(url.replace('ws:', 'tls:'))",
        "new WebSocket(url, ['chat', 'chat'])",
        "new WebSocket(url, 'Authorization: Bearer x')",
        "new WebSocket(url, {headers: {Authorization: 'Bearer x'}})",
    ],
    ids=["fragment", "scheme", "duplicate-protocols", "header-as-protocol", "options-object"],
)
def test_the_constructor_throws_syntax_error_for_bad_arguments(probe_page, probe, call):
    """A fragment, a foreign scheme or an invalid or repeated protocol throws at once."""
    name = probe_page.evaluate(f"(url) => thrown(() => {call})", probe.url())
    assert name == "SyntaxError"


def test_the_constructor_accepts_http_relative_and_scheme_relative_urls(page):
    """On `https://host/chat/`: `https:`, `/ws` and `//host/ws` all mean `wss://host/ws`.

    A host name without a scheme or slash is only a relative path. No socket needs to open
    for `url`, so the page is answered by Playwright's router.
    """
    page.route(
        "https://localhost/chat/",
        lambda route: route.fulfill(body=PAGE, content_type="text/html; charset=utf-8"),
    )
    page.goto("https://localhost/chat/")
    urls = page.evaluate(
        """() => ["wss://localhost/ws", "/ws", "https://localhost/ws", "//localhost/ws",
                  "localhost/ws"].map((url) => new WebSocket(url).url)"""
    )
    assert urls == ["wss://localhost/ws"] * 4 + ["wss://localhost/chat/localhost/ws"]


def test_there_is_no_api_for_handshake_headers(probe_page, probe):
    """The constructor takes a URL and protocols only; no method or property sets headers."""
    result = probe_page.evaluate(
        """(url) => {
             const ws = new WebSocket(url);
             return [WebSocket.length, "setRequestHeader" in ws, "headers" in ws];
           }""",
        probe.url(),
    )
    assert result == [1, False, False]


def test_there_is_no_way_to_reopen_a_socket(probe_page, probe):
    """No `open()`/`reconnect()`; assigning `readyState` or `url` or closing again does nothing."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             ws.close();
             await until(ws, "close");
             ws.readyState = 0;
             ws.url = "ws://elsewhere.test/";
             const again = thrown(() => ws.close());
             return [typeof ws.open, typeof ws.reconnect, typeof ws.connect, ws.readyState,
                     ws.url === url, again];
           }""",
        probe.url(),
    )
    assert result == ["undefined", "undefined", "undefined", 3, True, "no error"]


def test_an_open_handler_attached_after_open_never_runs(probe_page, probe):
    """Events are not kept for later handlers: `onopen` set after `open` is never called."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = new WebSocket(url);
             while (ws.readyState === 0) await sleep(10);
             let called = false;
             ws.onopen = () => { called = true; };
             await sleep(300);
             return [ws.readyState, called];
           }""",
        probe.url(),
    )
    assert result == [1, False]


def test_the_socket_has_handlers_for_exactly_four_events(probe_page):
    """open, message, error and close; there is no ping or upgrade event to listen to."""
    names = probe_page.evaluate(
        """() => Object.getOwnPropertyNames(WebSocket.prototype)
                   .filter((name) => name.startsWith("on")).sort()"""
    )
    assert names == ["onclose", "onerror", "onmessage", "onopen"]
