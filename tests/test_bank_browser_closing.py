"""Keys of the bank about closing a WebSocket, proven in Debian Chromium against tests/wsprobe.

Each test states what the bank claims; a question names it in its `proof:` field.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# Run in the page: open a socket, optionally say something, wait for its `close` event.
CLOSE_EVENT = """async ([url, say]) => {
  const ws = track(new WebSocket(url));
  await until(ws, "open");
  if (say) ws.send(say);
  const log = await until(ws, "close");
  return log.at(-1);
}"""


def close_of(event: dict) -> tuple[int, str, bool]:
    return (event["code"], event["reason"], event["wasClean"])


def test_close_without_arguments_reports_1005(probe_page, probe):
    """`close()` sends a Close frame with no body, and the code reported back is 1005."""
    event = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             ws.close();
             return (await until(ws, "close")).at(-1);
           }""",
        probe.url(tag="bare-close"),
    )
    assert close_of(event) == (1005, "", True)
    # The probe reads an empty Close body as 1005: no code was on the wire.
    assert probe.wait("bare-close", "close") == (1005, "")


def test_a_server_close_frame_without_a_code_reports_1005(probe_page, probe):
    """A Close frame without a status code reaches the page as code 1005, cleanly."""
    event = probe_page.evaluate(CLOSE_EVENT, [probe.url("close"), None])
    assert close_of(event) == (1005, "", True)


@pytest.mark.parametrize(("code", "reason"), [(1001, "restart"), (4001, "kicked")])
def test_a_server_close_with_a_code_and_reason_is_reported_clean(probe_page, probe, code, reason):
    """The server's code and reason arrive in the `close` event with `wasClean` true."""
    event = probe_page.evaluate(CLOSE_EVENT, [probe.url(f"close:{code}:{reason}"), None])
    assert close_of(event) == (code, reason, True)


def test_a_dropped_connection_reports_1006_and_not_clean(probe_page, probe):
    """When TCP is cut without a closing handshake the page gets 1006, `wasClean` false."""
    event = probe_page.evaluate(CLOSE_EVENT, [probe.url("wait/drop"), "bye"])
    assert close_of(event) == (1006, "", False)
    assert event["state"] == 3


def test_leaving_the_page_closes_the_socket_with_1001(probe_page, probe):
    """Navigating away closes the page's open sockets with 1001 (going away)."""
    probe_page.evaluate(
        """async (url) => { window.ws = track(new WebSocket(url)); await until(ws, "open"); }""",
        probe.url(tag="leave"),
    )
    probe_page.goto(probe.page + "?next")
    assert probe.wait("leave", "close") == (1001, "")


def test_close_accepts_only_1000_and_3000_to_4999(probe_page, probe):
    """Other codes throw InvalidAccessError and leave the socket open; 4001 goes through."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             const refused = [1001, 1005, 1006, 1011, 2999, 5000, "bye"].map(
               (code) => thrown(() => ws.close(code)));
             const state = ws.readyState;
             const accepted = thrown(() => ws.close(4001, "kicked"));
             return [refused, state, accepted, (await until(ws, "close")).at(-1)];
           }""",
        probe.url(tag="codes"),
    )
    refused, state, accepted, event = result
    assert refused == ["InvalidAccessError"] * 7
    assert (state, accepted) == (1, "no error")
    assert close_of(event) == (4001, "kicked", True)
    assert probe.wait("codes", "close") == (4001, "kicked")


@pytest.mark.parametrize("code", [1000, 3000, 4999])
def test_close_with_an_allowed_code_reaches_the_server(probe_page, probe, code):
    """1000 and every code from 3000 to 4999 are sent as given."""
    event = probe_page.evaluate(
        """async ([url, code]) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             ws.close(code, "done");
             return (await until(ws, "close")).at(-1);
           }""",
        [probe.url(tag=f"code-{code}"), code],
    )
    assert close_of(event) == (code, "done", True)
    assert probe.wait(f"code-{code}", "close") == (code, "done")


def test_a_close_reason_over_123_utf8_bytes_throws_syntax_error(probe_page, probe):
    """The limit counts UTF-8 bytes: 62 Cyrillic letters (124 bytes) are too long."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             const tooLong = [thrown(() => ws.close(4000, "a".repeat(124))),
                              thrown(() => ws.close(4000, "\\u044f".repeat(62))),
                              thrown(() => ws.close(4000, "\\u044f".repeat(70)))];
             const fits = thrown(() => ws.close(4000, "\\u044f".repeat(61) + "a"));
             return [tooLong, fits, (await until(ws, "close")).at(-1)];
           }""",
        probe.url(tag="reason"),
    )
    too_long, fits, event = result
    assert too_long == ["SyntaxError"] * 3
    assert fits == "no error"
    assert probe.wait("reason", "close") == (4000, "я" * 61 + "a")
    assert close_of(event)[0] == 4000
