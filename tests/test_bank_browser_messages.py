"""Keys of the bank about messages, proven in Debian Chromium against tests/wsprobe.

Each test states what the bank claims; a question names it in its `proof:` field.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.browser

# Run in the page: open a socket, let `body(ws)` act on it, return the socket's events.
EVENTS = """async ([url, wait]) => {
  const ws = track(new WebSocket(url));
  await until(ws, wait);
  return ws.log;
}"""


def messages(log: list[dict]) -> list[str]:
    return [e["data"] for e in log if e["type"] == "message"]


def test_text_arrives_as_a_string_and_binary_as_a_blob_by_default(probe_page, probe):
    """`binaryType` starts as "blob": text gives a string, binary a Blob."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             const initial = ws.binaryType;
             while (ws.log.filter((e) => e.type === "message").length < 2) await sleep(20);
             return [initial, ws.log];
           }""",
        probe.url("t:hello/b:0102"),
    )
    initial, log = result
    assert initial == "blob"
    assert messages(log) == ["hello", "[object Blob]"]


def test_binary_type_arraybuffer_delivers_array_buffers(probe_page, probe):
    """With `binaryType = "arraybuffer"` binary messages are ArrayBuffers; text stays text."""
    log = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             ws.binaryType = "arraybuffer";
             return await until(ws, "close");
           }""",
        probe.url("t:a/b:0102/t:b/close:1000:"),
    )
    assert messages(log) == ["a", "[object ArrayBuffer]", "b"]


def test_binary_type_ignores_values_it_does_not_know(probe_page, probe):
    """The value is case-sensitive: "arrayBuffer" (or "text") is ignored and "blob" stays."""
    values = probe_page.evaluate(
        """(url) => {
             const ws = new WebSocket(url);
             const seen = [];
             for (const value of ["arrayBuffer", "text", "arraybuffer", "Blob"]) {
               ws.binaryType = value;
               seen.push(ws.binaryType);
             }
             return seen;
           }""",
        probe.url(),
    )
    assert values == ["blob", "blob", "arraybuffer", "arraybuffer"]


def test_json_parse_of_a_blob_throws_but_its_text_parses(probe_page, probe):
    """JSON sent as binary arrives as a Blob: `JSON.parse` sees "[object Blob]" and throws."""
    payload = json.dumps({"type": "MSG_SEND"}).encode().hex()
    result = probe_page.evaluate(
        """async (url) => {
             const ws = new WebSocket(url);
             const data = await new Promise((r) => { ws.onmessage = (e) => r(e.data); });
             return [String(data), thrown(() => JSON.parse(data)),
                     JSON.parse(await data.text()).type];
           }""",
        probe.url(f"b:{payload}"),
    )
    assert result == ["[object Blob]", "SyntaxError", "MSG_SEND"]


def test_send_turns_each_argument_into_a_text_or_binary_message(probe_page, probe):
    """Objects go as their string form; typed arrays, views, buffers and Blobs as binary."""
    probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             ws.send({type: "hi"});
             ws.send(new Uint8Array([1, 2, 3]));
             ws.send(new Uint8Array([4, 5]).buffer);
             ws.send(new Blob(["{}"], {type: "application/json"}));
             ws.send(new DataView(new ArrayBuffer(2)));
             ws.send(new Uint8Array([10, 20, 30, 40, 50]).subarray(1, 3));
             ws.send("01010101");
             ws.close();
             await until(ws, "close");
           }""",
        probe.url(tag="send-types"),
    )
    probe.wait("send-types", "close")
    assert probe.values("send-types", "message") == [
        "[object Object]",
        b"\x01\x02\x03",
        b"\x04\x05",
        b"{}",
        b"\x00\x00",
        bytes([20, 30]),  # a view sends only its own bytes, not its whole buffer
        "01010101",
    ]


def test_buffered_amount_counts_utf8_bytes_until_they_are_sent(probe_page, probe):
    """After `send("héllo")` bufferedAmount is 6 (UTF-8 bytes, no framing), later 0."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             const before = ws.bufferedAmount;
             ws.send("h\\u00e9llo");
             const queued = ws.bufferedAmount;
             while (ws.bufferedAmount > 0) await sleep(10);
             return [before, queued, ws.bufferedAmount];
           }""",
        probe.url(),
    )
    assert result == [0, 6, 0]


def test_send_after_close_does_not_throw_and_only_grows_buffered_amount(probe_page, probe):
    """In `onclose`, `send("hi")` and `send("ok")` throw nothing; bufferedAmount becomes 4."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             const seen = new Promise((resolve) => {
               ws.onclose = () => {
                 const errors = [thrown(() => ws.send("hi")), thrown(() => ws.send("ok"))];
                 resolve([...errors, ws.readyState, ws.bufferedAmount]);
               };
             });
             await until(ws, "open");
             ws.close();
             return await seen;
           }""",
        probe.url(tag="after-close"),
    )
    assert result == ["no error", "no error", 3, 4]
    probe.wait("after-close", "close")
    assert probe.values("after-close", "message") == []


def test_send_while_closing_does_not_throw_and_sends_nothing(probe_page, probe):
    """Right after `close()` the socket is CLOSING: `send()` is ignored, its bytes counted."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             ws.close();
             const closing = [ws.readyState, thrown(() => ws.send("late")), ws.bufferedAmount];
             await until(ws, "close");
             return closing;
           }""",
        probe.url(tag="closing-send"),
    )
    assert result == [2, "no error", 4]
    probe.wait("closing-send", "close")
    assert probe.values("closing-send", "message") == []


def test_binary_text_decodes_with_text_decoder_or_a_blob(probe_page, probe):
    """An ArrayBuffer of UTF-8 text needs TextDecoder or `Blob.text()`; String() does not."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = new WebSocket(url);
             ws.binaryType = "arraybuffer";
             const data = await new Promise((r) => { ws.onmessage = (e) => r(e.data); });
             return [new TextDecoder().decode(data), await new Blob([data]).text(),
                     String(data), data.toString("utf-8"), thrown(() => data.text())];
           }""",
        probe.url("b:" + "привет".encode().hex()),
    )
    assert result == [
        "привет",
        "привет",
        "[object ArrayBuffer]",
        "[object ArrayBuffer]",
        "TypeError",
    ]


def test_a_fragmented_message_arrives_as_one_event(probe_page, probe):
    """Three frames of one message (FIN only on the last) fire a single `message`."""
    log = probe_page.evaluate(EVENTS, [probe.url("f:Hel|lo wor|ld/close:1000:"), "close"])
    assert messages(log) == ["Hello world"]


def test_a_server_ping_fires_no_event_and_gets_a_pong(probe_page, probe):
    """The browser answers a Ping with a matching Pong by itself; the page sees nothing."""
    log = probe_page.evaluate(
        EVENTS, [probe.url("ping:are-you-there/t:after/close:1000:", tag="ping"), "close"]
    )
    assert [e["type"] for e in log] == ["open", "message", "close"]
    assert messages(log) == ["after"]
    assert probe.wait("ping", "pong") is True


def test_the_api_cannot_send_a_ping_frame(probe_page, probe):
    """No `ping()`; an opcode option is ignored and 0x89 bytes go as a binary message."""
    kinds = probe_page.evaluate(
        """async (url) => {
             const ws = track(new WebSocket(url));
             await until(ws, "open");
             ws.send("ping", {opcode: 9});
             ws.send(new Uint8Array([0x89]));
             ws.close();
             await until(ws, "close");
             return [typeof ws.ping, typeof ws.pong];
           }""",
        probe.url(tag="no-ping"),
    )
    assert kinds == ["undefined", "undefined"]
    probe.wait("no-ping", "close")
    assert probe.values("no-ping", "message") == ["ping", b"\x89"]


def test_events_arrive_in_the_order_open_message_close(probe_page, probe):
    """A server that says one thing and closes: `open`, `message`, then a clean `close`."""
    log = probe_page.evaluate(EVENTS, [probe.url("t:hello/close:1000:done"), "close"])
    assert [e["type"] for e in log] == ["open", "message", "close"]
    assert log[2] == {
        "type": "close",
        "code": 1000,
        "reason": "done",
        "wasClean": True,
        "state": 3,
    }


def test_a_handler_property_replaces_the_last_one_and_listeners_stay(probe_page, probe):
    """`onmessage = A`, a listener C, `onmessage = B`: B runs, then C; A never runs."""
    calls = probe_page.evaluate(
        """async (url) => {
             const ws = new WebSocket(url), calls = [];
             ws.onmessage = () => calls.push("A");
             ws.addEventListener("message", () => calls.push("C"));
             ws.onmessage = () => calls.push("B");
             while (calls.length < 2) await sleep(20);
             await sleep(100);
             return calls;
           }""",
        probe.url("t:hello"),
    )
    assert calls == ["B", "C"]


def test_an_exception_in_onmessage_leaves_the_socket_open(probe_page, probe):
    """A handler that throws on bad JSON loses that message only; the next one arrives."""
    result = probe_page.evaluate(
        """async (url) => {
             const ws = new WebSocket(url), parsed = [];
             ws.onmessage = (e) => parsed.push(JSON.parse(e.data).n);
             while (parsed.length < 1) await sleep(20);
             return [parsed, ws.readyState];
           }""",
        probe.url('t:not json/t:{"n": 2}'),
    )
    assert result == [[2], 1]
