"""Keys of the bank about the opening handshake, proven in Debian Chromium against tests/wsprobe.

Subprotocols, extensions, redirects, headers and the browser's security rules (mixed content,
SameSite cookies, CSP). Each test states what the bank claims; a question names it in its
`proof:` field.
"""

from __future__ import annotations

import base64

import pytest

from tests.wsprobe import PAGE

pytestmark = pytest.mark.browser


def test_protocol_is_empty_until_open_then_the_selected_subprotocol(probe_page, probe):
    """`protocol` is "" while connecting, then the one the server chose from the offer."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url, ["chat.v2", "chat.v1"]));
             const before = ws.protocol;
             await until(ws, "open");
             return [before, ws.protocol];
           }""",
        probe.url(pick="chat.v1", tag="protocol"),
    )
    assert result == ["", "chat.v1"]
    assert probe.wait("protocol", "headers")["sec-websocket-protocol"] == "chat.v2, chat.v1"


@pytest.mark.parametrize(
    "query",
    [{}, {"bad": "protocol"}, {"bad": "accept"}],
    ids=["no-protocol", "protocol-not-offered", "wrong-accept"],
)
def test_a_subprotocol_offered_but_not_selected_fails_the_connection(probe_page, probe, query):
    """A 101 without the offered protocol, with another one, or with a wrong Accept fails."""
    log = probe_page.evaluate(
        "(url) => until(track(new WebSocket(url, 'chat.v2')), 'close')", probe.url(**query)
    )
    assert [e["type"] for e in log] == ["error", "close"]
    assert (log[1]["code"], log[1]["wasClean"]) == (1006, False)


def test_the_offered_protocol_in_the_answer_opens_the_socket(probe_page, probe):
    """The control case: a 101 that picks `chat.v2` from the offer opens normally."""
    log = probe_page.evaluate(
        "(url) => until(track(new WebSocket(url, 'chat.v2')), 'open')", probe.url(pick="chat.v2")
    )
    assert log == [{"type": "open", "state": 1}]


def test_a_redirect_answer_fails_the_connection_without_following_it(probe_page, probe):
    """A 301 to the handshake is a failure (`error`, `close` 1006); the new URL is not tried."""
    log = probe_page.evaluate(
        "(url) => until(track(new WebSocket(url)), 'close')", probe.url("redirect")
    )
    assert [e["type"] for e in log] == ["error", "close"]
    assert (log[1]["code"], log[1]["wasClean"]) == (1006, False)
    assert probe.values("moved", "headers") == []


def test_a_cross_origin_handshake_carries_origin_and_cookies_and_offers_deflate(probe_page, probe):
    """No CORS: to another origin (port) the socket opens, with Origin, cookies and deflate."""
    probe_page.context.add_cookies([{"name": "session", "value": "abc123", "url": probe.page}])
    probe_page.evaluate(
        "(url) => until(track(new WebSocket(url)), 'open')",
        probe.url(tag="handshake", deflate=False),
    )
    headers = probe.wait("handshake", "headers")
    assert headers["origin"] == f"http://127.0.0.1:{probe.port}"
    assert "session=abc123" in headers["cookie"]
    assert headers["sec-websocket-extensions"].startswith("permessage-deflate")
    assert headers["sec-websocket-version"] == "13"


def test_extensions_names_what_the_server_accepted(probe_page, probe):
    """`extensions` is "" until open, then permessage-deflate if the server took it, else ""."""
    result = probe_page.evaluate(
        """async ([deflate, plain]) => {
             const a = track(new WebSocket(deflate)), b = track(new WebSocket(plain));
             const before = a.extensions;
             await Promise.all([until(a, "open"), until(b, "open")]);
             return [before, a.extensions, b.extensions];
           }""",
        [probe.url(), probe.url(deflate=False)],
    )
    assert result[0] == ""
    assert result[1].startswith("permessage-deflate")
    assert result[2] == ""


def test_ws_from_an_https_page_throws_security_error_except_to_loopback(page, probe):
    """Mixed content: `ws://` to another host from an https page throws SecurityError at once.

    Playwright's router answers for the https page, so the document really has an https
    URL. Loopback addresses count as secure and stay allowed. Chromium also asks the user
    before a page it cannot place on the local network reaches it (Local Network Access);
    the test grants that, as a user would at the prompt.
    """
    page.context.grant_permissions(["local-network-access"])
    page.route(
        "https://localhost/",
        lambda route: route.fulfill(body=PAGE, content_type="text/html; charset=utf-8"),
    )
    page.goto("https://localhost/")
    result = page.evaluate(
        """async (loopback) => {
             const remote = thrown(() => new WebSocket("ws://chat.example.org/"));
             const ws = track(new WebSocket(loopback));
             await until(ws, "open");
             return [isSecureContext, remote, ws.readyState];
           }""",
        probe.url(),
    )
    assert result == [True, "SecurityError", 1]


def test_same_site_cookies_stay_out_of_a_cross_site_handshake(page, probe):
    """Lax and Strict cookies of 127.0.0.1 go with its own pages' sockets, not localhost's."""
    page.context.add_cookies(
        [
            {"name": "lax", "value": "1", "url": probe.page, "sameSite": "Lax"},
            {"name": "strict", "value": "1", "url": probe.page, "sameSite": "Strict"},
        ]
    )
    for origin, tag in ((probe.page, "same-site"), (f"http://localhost:{probe.port}/", "cross")):
        page.goto(origin)
        page.evaluate("(url) => until(track(new WebSocket(url)), 'open')", probe.url(tag=tag))
    assert probe.wait("same-site", "headers")["cookie"] == "lax=1; strict=1"
    assert "cookie" not in probe.wait("cross", "headers")


def test_csp_connect_src_limits_the_sockets_a_page_may_open(page, probe):
    """Under `connect-src ws://127.0.0.1:<port>` a socket to another port never leaves.

    Chromium reports the block with an `error` event and CLOSED; it fires no `close` event
    then, so the test waits for the `error`.
    """
    page.goto(probe.page + "csp")
    result = page.evaluate(
        """async ([allowed, other]) => {
             const ok = track(new WebSocket(allowed));
             await until(ok, "open");
             const ws = track(new WebSocket(other));
             for (let i = 0; i < 100 && !ws.log.length; i++) await sleep(50);
             await sleep(300);
             return [ok.readyState, ws.readyState, ws.log.map((e) => e.type)];
           }""",
        [probe.url(tag="csp-ok"), probe.url(tag="csp-other", deflate=False)],
    )
    assert result[:2] == [1, 3]
    assert result[2][0] == "error"
    assert "open" not in result[2]
    assert probe.values("csp-other", "headers") == []


def test_the_browser_handshake_has_the_required_headers(probe_page, probe):
    """Host, Upgrade, Connection, a 16-byte base64 Key and Version 13; no Accept or Protocol."""
    probe_page.evaluate(
        "(url) => until(track(new WebSocket(url)), 'open')", probe.url(tag="required")
    )
    headers = probe.wait("required", "headers")
    assert headers["host"] == f"127.0.0.1:{probe.port}"
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    assert len(base64.b64decode(headers["sec-websocket-key"], validate=True)) == 16
    assert headers["sec-websocket-version"] == "13"
    assert "sec-websocket-accept" not in headers
    assert "sec-websocket-protocol" not in headers


def test_every_frame_the_browser_sends_is_masked(probe_page, probe):
    """Text, binary and Close frames from the page all arrive masked.

    The probe (the `websockets` library) fails the connection with 1002 on any unmasked
    client frame, so receiving every message and a normal Close shows each was masked.
    """
    probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             ws.send("text");
             ws.send(new Uint8Array([1, 2, 3]));
             ws.close(1000, "bye");
             await until(ws, "close");
           }""",
        probe.url(tag="masked"),
    )
    assert probe.wait("masked", "close") == (1000, "bye")
    assert probe.values("masked", "message") == ["text", b"\x01\x02\x03"]
