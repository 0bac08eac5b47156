"""Differential conformance: the same scripted fun-chat sessions against two servers.

Each scenario opens clients in a fixed order and plays steps ("client X sends frame F",
"client X closes"). After every step each open client sends a barrier request (an unknown
type, which changes nothing) and waits for its answer; the servers handle one connection's
frames in order, so by then every frame the step caused has arrived. The frames each
client received during each step are recorded in order, the server-generated random parts
(message uuid, datetime) are replaced by stable names, and the two transcripts are diffed.

    # both servers started here, in a private network namespace (root), then compared:
    python bench/chat_conformance.py --reference /tmp/fun-chat-ref
    # or two servers already running:
    python bench/chat_conformance.py --url ws://127.0.0.1:4000 --url ws://127.0.0.1:4100
    # options: --only SUBSTRING (scenario names), --list, --show (print transcripts),
    #          --target ours-daphne (our server under daphne instead of uvicorn)

Inputs that crash the reference (§12 of the protocol spec) are not sent; the core-level
tests (tests/test_chat_conformance.py) hold our answers to them. Exit status 1 on any
difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import hashlib
import itertools
import json
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import launch
import websockets
from websockets.typing import Subprotocol

# -- what a scenario sends ----------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A text frame sent exactly as written (after @@name / $$var substitution)."""

    text: str


@dataclass(frozen=True)
class Bin:
    """A binary frame."""

    data: bytes


@dataclass(frozen=True)
class BadText:
    """A text frame whose bytes need not be UTF-8."""

    data: bytes


@dataclass(frozen=True)
class Frag:
    """One text message sent as several fragments."""

    parts: tuple[str, ...]


Frame = Any  # a JSON value (dumped compactly), or Raw, Bin, BadText, Frag


@dataclass
class Step:
    kind: str  # open, send, close, abort, sleep
    client: str = ""
    frames: list[Frame] = field(default_factory=list)
    captures: list[str | None] = field(default_factory=list)
    history: bool = False  # compare MSG_FROM_USER replies by the ordering rule, not verbatim
    order: bool = False  # also record which clients received frames, in arrival order
    path: str = "/"
    subprotocols: list[str] | None = None
    deflate: bool = False  # offer permessage-deflate, as browsers do
    code: int | None = None
    reason: str = ""
    seconds: float = 0.0


class Script:
    """A scenario under construction: clients are letters, users "@name" strings."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps: list[Step] = []

    def open(
        self,
        *clients: str,
        path: str = "/",
        subprotocols: list[str] | None = None,
        deflate: bool = False,
    ):
        for client in clients:
            step = Step("open", client, path=path, subprotocols=subprotocols, deflate=deflate)
            self.steps.append(step)
        return self

    def send(
        self,
        client: str,
        *frames: Frame,
        capture: str | list[str | None] | None = None,
        history: bool = False,
        order: bool = False,
    ):
        captures = capture if isinstance(capture, list) else [capture] * (capture is not None)
        step = Step("send", client, list(frames), captures, history=history, order=order)
        self.steps.append(step)
        return self

    def each(self, client: str, *frames: Frame):
        """Every frame as its own step: one answer per line of the transcript."""
        for frame in frames:
            self.send(client, frame)
        return self

    def login(self, client: str, user: str | None = None, password: str = "pw", **kw):
        user = user if user is not None else "@" + client.lower()
        return self.send(client, req(f"{client}-in", "USER_LOGIN", creds(user, password)), **kw)

    def logout(self, client: str, user: str | None = None, password: str = "pw"):
        user = user if user is not None else "@" + client.lower()
        return self.send(client, req(f"{client}-out", "USER_LOGOUT", creds(user, password)))

    def msg(self, client: str, to: str, text: str, capture: str | None = None, **kw):
        body = {"message": {"to": to, "text": text}}
        return self.send(client, req(f"{client}-send", "MSG_SEND", body), capture=capture, **kw)

    def together(self, frames: dict[str, list[Frame]]):
        """Several clients send at once, their frames interleaved one by one."""
        step = Step("together", frames=[(client, list(fs)) for client, fs in frames.items()])
        self.steps.append(step)
        return self

    def close(self, client: str, code: int | None = None, reason: str = ""):
        self.steps.append(Step("close", client, code=code, reason=reason))
        return self

    def abort(self, client: str):
        self.steps.append(Step("abort", client))
        return self

    def sleep(self, seconds: float):
        self.steps.append(Step("sleep", seconds=seconds))
        return self


def req(id_: Any, type_: Any, payload: Any) -> dict:
    return {"id": id_, "type": type_, "payload": payload}


def creds(login: Any, password: Any) -> dict:
    return {"user": {"login": login, "password": password}}


SCENARIOS: list[Script] = []


def scenario(name: str) -> Callable[[Callable[[Script], None]], Callable[[Script], None]]:
    def register(build: Callable[[Script], None]) -> Callable[[Script], None]:
        script = Script(name)
        build(script)
        SCENARIOS.append(script)
        return build

    return register


# -- running a scenario against one server --------------------------------------------------

UUID_ID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})_(\d+)")
DATETIME = re.compile(r'(?<!\\)"datetime":(-?[0-9.eE+-]+)')
BARRIER_PREFIX = '{"id":"~b'
STEP_TIMEOUT_S = 10.0
CLOSE_SETTLE_S = 0.15


class Client:
    """One socket of a scenario run; its reader keeps every frame in arrival order."""

    def __init__(self, name: str, ws: Any, run: Run) -> None:
        self.name, self.ws, self.run = name, ws, run
        self.frames: list[tuple[int, str | bytes]] = []
        self.barriers: dict[str, asyncio.Event] = {}
        self.closed = asyncio.Event()
        self.close_note: str | None = None
        self.close_noted = False
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                if isinstance(data, str) and data.startswith(BARRIER_PREFIX):
                    barrier = data[len('{"id":"') : data.index('"', len(BARRIER_PREFIX))]
                    if barrier in self.barriers:
                        self.barriers[barrier].set()
                        continue
                self.frames.append((next(self.run.arrivals), data))
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            if rcvd is None:
                self.close_note = "closed without a close frame"
            else:
                self.close_note = f"close frame code={rcvd.code} reason={rcvd.reason!r}"
            self.closed.set()


class Run:
    """One scenario against one server URL: the transcript lines and some counters."""

    def __init__(self, url: str, script: Script, prefix: str) -> None:
        self.url, self.script, self.prefix = url, script, prefix
        self.clients: dict[str, Client] = {}
        self.vars: dict[str, str] = {}
        self.arrivals = itertools.count()
        self.barrier_ids = itertools.count()
        self.lines: list[str] = []
        self.frames_received = 0
        self.frames_sent = 0
        self.ties = 0
        self.started_ms = time.time() * 1000
        self.message_names: dict[str, str] = {}

    # substitution of @user names and $captured ids

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("@") and len(value) > 1:
                return self.prefix + value[1:]
            if value.startswith("$") and value[1:] in self.vars:
                return self.vars[value[1:]]
            return value
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def fill_text(self, text: str) -> str:
        text = re.sub(r"@@(\w+)", lambda m: self.prefix + m.group(1), text)
        return re.sub(r"\$\$(\w+)", lambda m: self.vars.get(m.group(1), m.group()), text)

    async def transmit(self, client: Client, frame: Frame) -> None:
        ws = client.ws
        if isinstance(frame, Raw):
            await ws.send(self.fill_text(frame.text))
        elif isinstance(frame, Bin):
            name = re.compile(rb"@@(\w+)")
            await ws.send(name.sub(lambda m: self.prefix.encode() + m.group(1), frame.data))
        elif isinstance(frame, BadText):
            await ws.send(frame.data, text=True)
        elif isinstance(frame, Frag):
            await ws.send([self.fill_text(part) for part in frame.parts])
        else:
            await ws.send(dump(self.fill(frame)))
        self.frames_sent += 1

    async def barrier(self, client: Client) -> bool:
        """Send a no-op request and wait for its answer (or for the socket to close)."""
        name = f"~b{next(self.barrier_ids)}"
        event = client.barriers[name] = asyncio.Event()
        with contextlib.suppress(websockets.ConnectionClosed):
            await client.ws.send(f'{{"id":"{name}","type":"~BARRIER","payload":null}}')
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(client.closed.wait())]
        done, pending = await asyncio.wait(
            waits, timeout=STEP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        return bool(done)

    async def settle(self, acting: Client | None) -> None:
        """Wait until every frame the step caused has arrived everywhere."""
        if acting is not None and not acting.closed.is_set() and not await self.barrier(acting):
            self.lines.append(f"!! {acting.name}: no answer within {STEP_TIMEOUT_S} s")
        others = [c for c in self.clients.values() if c is not acting and not c.closed.is_set()]
        results = await asyncio.gather(*(self.barrier(c) for c in others))
        for client, ok in zip(others, results, strict=True):
            if not ok:
                self.lines.append(f"!! {client.name}: no answer within {STEP_TIMEOUT_S} s")

    async def play(self) -> None:
        try:
            for step in self.script.steps:
                marks = {name: len(c.frames) for name, c in self.clients.items()}
                acting = await self.do(step)
                await self.settle(acting)
                self.record(step, marks)
        finally:
            for client in self.clients.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.ws.close(), 5)
                client.reader.cancel()
            # Let the server see the closes before the next scenario starts.
            await asyncio.sleep(CLOSE_SETTLE_S if self.clients else 0)

    async def do(self, step: Step) -> Client | None:
        if step.kind == "open":
            ws = await websockets.connect(
                self.url + step.path.lstrip("/"),
                subprotocols=None
                if step.subprotocols is None
                else [Subprotocol(p) for p in step.subprotocols],
                compression="deflate" if step.deflate else None,
                max_size=None,
                ping_interval=None,
                open_timeout=STEP_TIMEOUT_S,
                close_timeout=2,
            )
            client = self.clients[step.client] = Client(step.client, ws, self)
            note = f" subprotocol={ws.subprotocol!r}" if step.subprotocols else ""
            if step.deflate:
                headers = ws.response.headers if ws.response else {}
                note += f" extensions={headers.get('Sec-WebSocket-Extensions')!r}"
            self.lines.append(f"-- {step.client}: open {step.path}{note}")
            return client
        if step.kind == "sleep":
            await asyncio.sleep(step.seconds)
            return None
        if step.kind == "together":
            queues = [(self.clients[name], frames) for name, frames in step.frames]
            for name, frames in step.frames:
                self.lines += [f">> {name}: {shown_sent(frame)}" for frame in frames]
            for row in itertools.zip_longest(*(frames for _, frames in queues)):
                for (sender, _), frame in zip(queues, row, strict=True):
                    if frame is not None:
                        await self.transmit(sender, frame)
            return None
        client = self.clients[step.client]
        if step.kind == "send":
            for frame in step.frames:
                self.lines.append(f">> {client.name}: {shown_sent(frame)}")
                try:
                    await self.transmit(client, frame)
                except websockets.ConnectionClosed:
                    self.lines.append(f"!! {client.name}: socket closed while sending")
                    break
            return client
        if step.kind == "close":
            self.lines.append(f"-- {client.name}: close code={step.code} reason={step.reason!r}")
            if step.code is None:  # an empty close frame, as a browser's ws.close() sends
                with contextlib.suppress(websockets.ConnectionClosed):
                    async with client.ws.send_context():
                        client.ws.protocol.send_close()
            else:
                await client.ws.close(code=step.code, reason=step.reason)
            await asyncio.wait_for(client.closed.wait(), STEP_TIMEOUT_S)
            await asyncio.sleep(CLOSE_SETTLE_S)
            return None
        if step.kind == "abort":
            self.lines.append(f"-- {client.name}: abort (no close frame)")
            client.ws.transport.abort()
            await asyncio.wait_for(client.closed.wait(), STEP_TIMEOUT_S)
            await asyncio.sleep(CLOSE_SETTLE_S)
            return None
        raise ValueError(step.kind)

    def record(self, step: Step, marks: dict[str, int]) -> None:
        if step.kind == "together":
            self.record_concurrent(step, marks)
            return
        new: list[tuple[int, str, str | bytes]] = []
        for name, client in self.clients.items():
            for arrival, data in client.frames[marks.get(name, 0) :]:
                new.append((arrival, name, data))
                self.frames_received += 1
                self.lines.append(f"<< {name}: {self.normalise(data, step)}")
            if step.kind == "send" and client is self.clients.get(step.client):
                self.capture(step, client.frames[marks.get(name, 0) :])
        if step.order and new:
            self.lines.append("order: " + " ".join(name for _, name, _ in sorted(new)))
        for client in self.clients.values():
            if client.closed.is_set() and client.close_note and not client.close_noted:
                client.close_noted = True
                self.lines.append(f"-- {client.name}: {client.close_note}")

    def record_concurrent(self, step: Step, marks: dict[str, int]) -> None:
        """Concurrent senders: how one client's stream interleaves is up to timing.

        Messages are named in each sender's own reply order, which is its send order;
        then each client's frames are listed sorted, with the order kept per kind of frame.
        """
        fresh = {name: c.frames[marks.get(name, 0) :] for name, c in self.clients.items()}
        for name, _ in step.frames:
            for _, data in fresh[name]:
                if not isinstance(data, str):
                    continue
                match = UUID_ID.search(data)
                if match and data.startswith('{"id":"'):
                    self.message_name(match.group())
        for name, frames in fresh.items():
            texts = [self.normalise(data, step) for _, data in frames]
            self.frames_received += len(texts)
            kinds: dict[str, list[str]] = {}
            for text in texts:
                role = "push" if text.startswith('{"id":null') else "reply"
                kind = role + re.sub(r'"(id|datetime|text)":("[^"]*"|\w+),?', "", text)[:160]
                kinds.setdefault(kind, []).append(" ".join(re.findall(r"M\d+", text)))
            self.lines += [f"<< {name} (sorted): {text}" for text in sorted(texts)]
            self.lines += [f"   {name} order of {k}: {', '.join(v)}" for k, v in kinds.items()]

    def capture(self, step: Step, frames: list[tuple[int, str | bytes]]) -> None:
        """Keep the ids of the messages this step's MSG_SEND replies created, in order."""
        replies = []
        for _, data in frames:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                frame = json.loads(data)
                if frame["type"] == "MSG_SEND" and frame["id"] is not None:
                    replies.append(frame["payload"]["message"]["id"])
        for name, message_id in zip(step.captures, replies, strict=False):
            if name:
                self.vars[name] = message_id

    # normalisation: only the server's random parts change

    def message_name(self, message_id: str) -> str:
        if message_id not in self.message_names:
            self.message_names[message_id] = f"M{len(self.message_names) + 1}"
        return self.message_names[message_id]

    def normalise(self, data: str | bytes, step: Step) -> str:
        if isinstance(data, bytes):
            return "[binary frame] " + shorten(repr(data))
        try:
            parsed = json.loads(data, object_pairs_hook=list)
        except ValueError:
            parsed = None
        notes = self.check_messages(parsed)
        if step.history and data.startswith(('{"id":', '{"type"')) and "MSG_FROM_USER" in data:
            summary = self.history_summary(data, step)
            if summary is not None:
                return summary
        now_ms = time.time() * 1000

        def rename(match: re.Match[str]) -> str:
            ms = int(match.group(2))
            plausible = self.started_ms - 5000 <= ms <= now_ms + 5000
            return self.message_name(match.group()) + ("" if plausible else "!implausible-time")

        text = UUID_ID.sub(rename, data)
        text = DATETIME.sub('"datetime":T', text)
        return shorten(text) + "".join(f" !!{note}" for note in notes)

    def check_messages(self, parsed: Any) -> list[str]:
        """Every message object's datetime must be the number in its id, as the reference's."""
        notes: list[str] = []
        stack = [parsed]
        while stack:
            node = stack.pop()
            if isinstance(node, list) and all(isinstance(p, tuple) and len(p) == 2 for p in node):
                pairs = dict(node)
                if isinstance(pairs.get("id"), str) and "datetime" in pairs:
                    match = UUID_ID.fullmatch(pairs["id"])
                    if not match:
                        notes.append("message-id-not-uuid4_ms")
                    elif pairs["datetime"] != int(match.group(2)):
                        notes.append("datetime-differs-from-id")
                stack.extend(v for _, v in node)
            elif isinstance(node, list):
                stack.extend(node)
        return notes

    def history_summary(self, data: str, step: Step) -> str | None:
        """MSG_FROM_USER where ties are possible: check the order rule, list the rest."""
        frame = json.loads(data)
        if frame.get("type") != "MSG_FROM_USER":
            return None
        messages = frame["payload"]["messages"]
        requester = self.prefix + step.client.lower()  # scenarios name users after clients
        names = [self.message_name(m["id"]) for m in messages]
        ok = True
        for (a, na), (b, nb) in itertools.pairwise(zip(messages, names, strict=True)):
            if a["datetime"] < b["datetime"]:
                continue
            if a["datetime"] > b["datetime"]:
                ok = False
            elif a["from"] == b["from"]:
                ok &= int(na[1:]) < int(nb[1:])  # one sender: send order
            else:
                self.ties += 1
                ok &= a["from"] == requester  # the requester's messages first
        rows = sorted(
            (int(n[1:]), m["from"], m["text"], json.dumps(m["status"]))
            for m, n in zip(messages, names, strict=True)
        )
        listed = "; ".join(f"M{n} {sender}: {text} {status}" for n, sender, text, status in rows)
        return (
            f"MSG_FROM_USER id={frame['id']!r}: {len(messages)} messages, order by datetime "
            f"with the requester's first on ties: {'yes' if ok else 'NO'}; {listed}"
        )


def dump(value: Any) -> str:
    """Compact JSON as JSON.stringify writes it; \\u escapes only where UTF-8 cannot go."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: send them escaped
        text = json.dumps(value, separators=(",", ":"))
    return text


def shorten(text: str, limit: int = 600) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[:300]}…[{len(text)} chars, sha1 {digest}]…{text[-120:]}"


def shown_sent(frame: Frame) -> str:
    if isinstance(frame, Raw):
        return shorten(frame.text)
    if isinstance(frame, Bin):
        return "[binary] " + shorten(repr(frame.data))
    if isinstance(frame, BadText):
        return "[text, raw bytes] " + shorten(repr(frame.data))
    if isinstance(frame, Frag):
        return f"[{len(frame.parts)} fragments] " + shorten("".join(frame.parts))
    return shorten(dump(frame))


async def run_scenario(url: str, script: Script, prefix: str) -> Run:
    run = Run(url, script, prefix)
    try:
        await run.play()
    except Exception as error:  # a server that stops answering fails the scenario, not the run
        run.lines.append(f"!! scenario aborted: {type(error).__name__}: {error}")
    return run


# -- scenarios --------------------------------------------------------------------------------

TYPES_NEEDING_AUTH = [
    "USER_ACTIVE",
    "USER_INACTIVE",
    "MSG_SEND",
    "MSG_FROM_USER",
    "MSG_COUNT_NOT_READED_FROM_USER",
    "MSG_READ",
    "MSG_DELETE",
    "MSG_EDIT",
]
SERVER_ONLY = [
    "ERROR",
    "USER_EXTERNAL_LOGIN",
    "USER_EXTERNAL_LOGOUT",
    "MSG_DELIVER",
    "MSG_DELETED_FROM_SERVER",
    "MSG_READED_FROM_SERVER",
    "MSG_SENDED_FROM_SERVER",
    "MSG_EDITED_FROM_SERVER",
]
ODD_STRINGS = [
    "",
    " ",
    "ünïcødé ✓ 日本語",
    "😀 emoji \U0001f600",
    "\ud800",
    "\udfff",
    "a\udc00b\ud83d",
    "\ud83d\ude00",
    "\u0000\u0001\u001f\u007f\u0080\u009f",
    '\b\f\n\r\t"\\/',
    "\u2028\u2029\ufeff\ufffe\uffff",
    "</script><script>alert(1)</script>",
    '{"id":"nested","type":"USER_LOGIN"}',
    "x" * 5000,
]
INVALID_JSON = [
    "not json",
    "",
    " ",
    "{",
    '{"id":"x"',
    "{}x",
    '{"id":"x",}',
    "[1,]",
    "{'id':'x'}",
    '{"a":1 "b":2}',
    "NaN",
    "Infinity",
    "-Infinity",
    "undefined",
    '{"id":01,"type":"X","payload":{}}',
    '{"id":1.,"type":"X","payload":{}}',
    '{"id":.5,"type":"X","payload":{}}',
    '{"id":+1,"type":"X","payload":{}}',
    '{"id":0x10,"type":"X","payload":{}}',
    '{"id":"\\x41","type":"X","payload":{}}',
    '{"id":"\\u12","type":"X","payload":{}}',
    '{"id":"a\tb","type":"X","payload":{}}',
    '{"id":"a\nb","type":"X","payload":{}}',
    '{"id":"\x00","type":"X","payload":{}}',
    '\ufeff{"id":"bom","type":"X","payload":{}}',
    '{"id":"x","type":"X","payload":{}}\u0000',
    '{"id":"x","type":"X","payload":{}} // comment',
    '{"id":"x","type":"X","payload":{}}\u00a0',
    '{"id":"x","type":"X","payload":{}}{"id":"y"}',
    '{"id":"x","type":"X","payload":{},}',
    '{"id":True,"type":"X","payload":{}}',
    '{"id":"x","type":"X","payload":{"a":[1,2}}',
    '"unterminated',
    "[" * 3000 + "]" * 2999,
]
VALID_BUT_NOT_OBJECTS = [
    "5",
    "0",
    "-0",
    "1e999",
    '"str"',
    '""',
    "true",
    "false",
    "[]",
    "[1,2]",
    '[{"id":"x","type":"USER_LOGIN","payload":{}}]',
    ' \t\r\n{"id":"ws","type":"HELLO","payload":{}}\n ',
]
NUMBER_IDS = [
    "7",
    "0",
    "-0",
    "0.0",
    "-0.0",
    "1.5",
    "-2.25",
    "1e21",
    "1e20",
    "123e-20",
    "1.5e-7",
    "0.000001",
    "0.0000001",
    "12345678901234567890",
    "9007199254740993",
    "123456789012345680000",
    "1e400",
    "-1e400",
    "5e-324",
    "2e-324",
    "1.7976931348623157e308",
    "0.1",
    "100",
    "1E5",
    "4.35",
    "1" + "0" * 400,
    "0." + "0" * 400 + "1",
]
OTHER_IDS = [
    "true",
    "false",
    "{}",
    '{"b":1,"a":2}',
    '{"2":1,"1":2,"b":3,"10":4,"01":5,"4294967295":6,"4294967294":7,"-1":8,"1.5":9}',
    '{"a":1,"a":2,"b":3,"a":4}',
    '{"__proto__":{"x":1},"y":-0}',
    "[]",
    '[1,"a",null,{"x":-0},[1e21,12345678901234567890]]',
    '["\\ud800","\\u00e9\\u0000"]',
    "[" * 300 + "]" * 300,
    '"\\ud800"',
]


@scenario("invalid JSON gets a structure error with id null")
def _(s: Script) -> None:
    s.open("A").each("A", *map(Raw, INVALID_JSON))


@scenario("valid JSON that is not an object")
def _(s: Script) -> None:
    s.open("A").each("A", *map(Raw, VALID_BUT_NOT_OBJECTS))


@scenario("structure errors echo (id || null) for numeric ids")
def _(s: Script) -> None:
    s.open("A")
    for value in NUMBER_IDS:
        s.send("A", Raw(f'{{"id":{value},"type":"USER_LOGIN","payload":{{}}}}'))
    s.send("A", Raw('{"id":12345678901234567890,"type":"HELLO","payload":5}'))


@scenario("structure errors echo (id || null) for other ids")
def _(s: Script) -> None:
    s.open("A")
    for value in OTHER_IDS:
        s.send("A", Raw(f'{{"id":{value},"type":"USER_ACTIVE","payload":null}}'))
    s.send("A", Raw('{"id":{"k":"v"},"type":5}'))


@scenario("structure errors for type and payload; string ids echoed, empty id as null")
def _(s: Script) -> None:
    s.open("A")
    for id_ in ['"s"', '""', "null", '"\\ud800"', '"ünï"']:
        for rest in [
            '"type":5,"payload":{}',
            '"type":null,"payload":{}',
            '"type":{},"payload":{}',
            '"type":[],"payload":{}',
            '"type":true,"payload":{}',
            '"payload":{}',
            '"type":"USER_LOGIN"',
            '"type":"USER_LOGIN","payload":"str"',
            '"type":"USER_LOGIN","payload":5',
            '"type":"USER_LOGIN","payload":0',
            '"type":"USER_LOGIN","payload":true',
            '"type":"USER_LOGIN","payload":false',
            '"type":"USER_LOGIN","payload":""',
        ]:
            s.send("A", Raw(f'{{"id":{id_},{rest}}}'))
    s.each(
        "A",
        Raw('{"type":"HELLO","payload":{}}'),
        Raw('{"id":"a","id":"b","type":"HELLO","payload":{}}'),
        Raw('{"id":5,"id":"last-wins","type":"HELLO","payload":{}}'),
        Raw('{"id":"x","type":"HELLO","type":5,"payload":{}}'),
        Raw('{"id":"x","type":5,"type":"HELLO","payload":{}}'),
        Raw('{"id":"x","type":"HELLO","payload":{},"payload":"s"}'),
        Raw('{"__proto__":{"id":"p"},"type":"HELLO","payload":{}}'),
        Raw('{"id":"p","type":"HELLO","payload":{},"__proto__":{"x":1}}'),
        Raw('{"payload":{},"type":"HELLO","id":"reordered"}'),
        Raw('{"ID":"x","TYPE":"HELLO","PAYLOAD":{}}'),
    )


@scenario("unknown, wrong-case and server-only types")
def _(s: Script) -> None:
    s.open("A")
    kinds = [
        "HELLO",
        "",
        "user_login",
        "User_Login",
        " USER_LOGIN",
        "USER_LOGIN ",
        "USER_LOGIN\u0000",
        "MSG_READED",
        "MSG_DELIVERED",
        "toString",
        "constructor",
        "__proto__",
        "hasOwnProperty",
        *SERVER_ONLY,
    ]
    for kind in kinds:
        s.send("A", req(f"t-{kind}", kind, {}))
    s.each("A", req(None, "HELLO", None), req("", "ERROR", []), req("x", "USER_ACTIVE ", None))
    s.login("A")
    for kind in [*SERVER_ONLY, "user_active", "HELLO"]:
        s.send("A", req(None, kind, {"user": {"login": "@a"}}))


@scenario("the auth gate comes before payload checks, on a fresh connection")
def _(s: Script) -> None:
    s.open("A")
    for kind in TYPES_NEEDING_AUTH:
        payload: Any
        for payload in [None, {}, [], {"message": {"to": "x", "text": "t"}}]:
            s.send("A", req(f"g-{kind}", kind, payload))


@scenario("the auth gate after a failed login and after a logout")
def _(s: Script) -> None:
    s.open("A", "B").login("A", "@x", "right")
    s.send("B", req("bad", "USER_LOGIN", creds("@x", "wrong")))
    s.each("B", *(req(k, k, {}) for k in TYPES_NEEDING_AUTH))
    s.login("B").logout("B")
    s.each("B", *(req(k, k, None) for k in TYPES_NEEDING_AUTH))


@scenario("USER_LOGIN payload errors")
def _(s: Script) -> None:
    s.open("A")
    bad = [
        {},
        [],
        {"login": "@a", "password": "pw"},
        {"user": {}},
        {"user": []},
        {"user": "str"},
        {"user": 5},
        {"user": 0},
        {"user": False},
        {"user": True},
        {"user": ""},
        {"user": {"login": "@a"}},
        {"user": {"password": "pw"}},
        {"user": {"login": 5, "password": "pw"}},
        {"user": {"login": "@a", "password": 123}},
        {"user": {"login": "@a", "password": None}},
        {"user": {"login": None, "password": "pw"}},
        {"user": {"login": ["@a"], "password": "pw"}},
        {"user": {"login": "@a", "password": {"x": 1}}},
        {"user": {"login": True, "password": "pw"}},
    ]
    for payload in bad:
        s.send("A", req("p", "USER_LOGIN", payload))
    s.send("A", req("USER_ACTIVE", "USER_ACTIVE", None))  # still not logged in


@scenario("USER_LOGIN creates the user and tells only other logged-in connections")
def _(s: Script) -> None:
    s.open("A", "B", "C", "D")
    s.login("A", order=True).login("B", order=True)
    s.login("D", order=True)  # C stays unauthenticated and hears nothing
    s.send("C", req("c-1", "USER_ACTIVE", None))
    s.login("C", order=True)


@scenario("USER_LOGIN error order: payload, another user, already authorized, password")
def _(s: Script) -> None:
    s.open("A", "B").login("A", "@a", "pa")
    s.send("A", req("1", "USER_LOGIN", {"user": {"login": "@b"}}))  # payload first
    s.send("A", req("2", "USER_LOGIN", creds("@b", "pb")))  # another user in this connection
    s.send("A", req("3", "USER_LOGIN", creds("@nobody", "x")))  # ...even for a new login
    s.send("A", req("4", "USER_LOGIN", creds("@a", "pa")))  # same user again
    s.send("A", req("5", "USER_LOGIN", creds("@a", "wrong")))  # online beats password
    s.send("B", req("6", "USER_LOGIN", creds("@a", "pa")))  # online elsewhere
    s.send("B", req("7", "USER_LOGIN", creds("@a", "wrong")))
    s.logout("A", "@a", "pa")
    s.send("B", req("8", "USER_LOGIN", creds("@a", "wrong")))  # offline: password checked
    s.send("B", req("9", "USER_LOGIN", creds("@a", "PA")))  # case-sensitive
    s.send("B", req("10", "USER_LOGIN", creds("@a ", "pa")))  # not trimmed: a new user
    s.send("B", req("11", "USER_LOGIN", creds("@a", "pa")))  # another user on B now
    s.send("A", req("12", "USER_LOGIN", creds("@a", "pa")))
    s.send("A", req("13", "USER_INACTIVE", None))


@scenario("a failed login leaves the connection free to log in as anyone")
def _(s: Script) -> None:
    s.open("A", "B").login("A", "@x", "px").logout("A", "@x", "px")
    s.send("B", req("1", "USER_LOGIN", creds("@x", "bad")))
    s.send("B", req("2", "USER_LOGIN", creds("@y", "py")))
    s.send("B", req("3", "USER_ACTIVE", {}))


@scenario("odd logins and passwords are echoed exactly")
def _(s: Script) -> None:
    s.open("A", "B").login("A")
    for i, value in enumerate(ODD_STRINGS):
        login = f"@odd{i}-{value}"
        s.send("B", req(value, "USER_LOGIN", creds(login, value)))
        s.send("B", req(value, "USER_ACTIVE", None))
        s.send("B", req(value, "USER_LOGOUT", creds(login, value)))
    s.send("B", req("raw", "USER_LOGIN", creds("@raw", "pw")))
    s.send(
        "B",
        Raw(
            '{"id":"\\u00e9\\/","type":"USER_LOGOUT","payload":{"user":'
            '{"login":"@@raw","password":"p\\u0077"}}}'
        ),
    )


@scenario("the empty login and empty password are valid")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A")
    s.send("B", req("", "USER_LOGIN", creds("", "")))
    s.send("C", req("", "USER_LOGIN", creds("", "")))
    s.send("A", req("", "MSG_SEND", {"message": {"to": "", "text": ""}}), capture="m")
    s.send("B", req("", "MSG_FROM_USER", {"user": {"login": "@a"}}))
    s.send("B", req("", "USER_LOGOUT", creds("", "")))
    s.send("B", req("", "USER_LOGOUT", creds("", "")))


@scenario("USER_LOGOUT error order and rules")
def _(s: Script) -> None:
    s.open("A", "B", "C")
    s.send("C", req("1", "USER_LOGOUT", creds("@nobody", "x")))  # unauthenticated, unknown
    s.login("A", "@a", "pa").login("B", "@b", "pb")
    for payload in [
        {},
        [],
        {"user": {}},
        {"user": {"login": "@a"}},
        {"user": "x"},
        {"user": {"login": "@a", "password": 1}},
        {"user": 0},
    ]:
        s.send("A", req("p", "USER_LOGOUT", payload))
    s.send("A", req("2", "USER_LOGOUT", creds("@nobody", "x")))
    s.send("A", req("3", "USER_LOGOUT", creds("@b", "wrong")))  # password before ownership
    s.send("A", req("4", "USER_LOGOUT", creds("@b", "pb")))  # online elsewhere
    s.send("C", req("5", "USER_LOGOUT", creds("@a", "pa")))  # from an unauthenticated socket
    s.send("A", req("6", "USER_LOGOUT", creds("@a", "wrong")))
    s.send("A", req("7", "USER_LOGOUT", creds("@a", "pa")), order=True)
    s.send("A", req("8", "USER_LOGOUT", creds("@a", "pa")))  # twice
    s.send("A", req("9", "USER_ACTIVE", None))  # socket open, unauthenticated
    s.login("A", "@b", "pb")  # b is online on B
    s.login("A", "@c", "pc", order=True)  # a new user on the same socket
    s.send("C", req("10", "USER_LOGOUT", creds("@a", "pa")))  # a is offline
    s.send("B", req("11", "USER_INACTIVE", None))


@scenario("USER_ACTIVE and USER_INACTIVE list users in registration order")
def _(s: Script) -> None:
    s.open("A", "B", "C", "D")
    s.login("C").login("A").login("D").login("B")
    payloads: list[Any] = [None, {}, [], {"x": 1}]
    s.each("A", *(req(f"a-{i}", "USER_ACTIVE", p) for i, p in enumerate(payloads)))
    s.logout("C").close("D")
    s.send("A", req("act", "USER_ACTIVE", None))
    s.send("A", req("inact", "USER_INACTIVE", {"users": 5}))
    s.open("E").login("E", "@d")  # d comes back on a new socket: still in its old place
    s.send("B", req("act", "USER_ACTIVE", None))
    s.send("B", req("inact", "USER_INACTIVE", None))


@scenario("MSG_SEND payload errors, same login, unknown recipient")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B")
    bad = [
        {},
        [],
        {"message": None},
        {"message": {}},
        {"message": []},
        {"message": "x"},
        {"message": 0},
        {"message": False},
        {"message": True},
        {"message": {"to": "@b"}},
        {"message": {"text": "t"}},
        {"message": {"to": 5, "text": "t"}},
        {"message": {"to": "@b", "text": 5}},
        {"message": {"to": "@b", "text": None}},
        {"message": {"to": None, "text": "t"}},
        {"message": {"to": ["@b"], "text": "t"}},
        {"to": "@b", "text": "t"},
        {"message": {"to": "@nobody", "text": 1}},  # payload before existence
        {"message": {"to": "@a", "text": None}},  # payload before same-login
    ]
    for payload in bad:
        s.send("A", req("s", "MSG_SEND", payload))
    s.msg("A", "@a", "to myself")
    s.msg("A", "@nobody", "to nobody")
    s.msg("A", "@B", "wrong case")
    s.msg("A", "@b ", "trailing space")
    s.send("A", req("s", "MSG_FROM_USER", {"user": {"login": "@b"}}))  # nothing stored


@scenario("MSG_SEND to an online user: push to the recipient before the reply")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("B").login("C")
    s.msg("A", "@b", "hello b", order=True)
    s.msg("B", "@a", "hello a", order=True)
    s.msg("A", "@b", "")
    s.send("A", req(None, "MSG_SEND", {"message": {"to": "@b", "text": "null id"}}))
    s.send("A", req("", "MSG_SEND", {"message": {"to": "@b", "text": "empty id"}}))
    s.send(
        "A",
        req(
            "x",
            "MSG_SEND",
            {
                "message": {"to": "@b", "text": "e", "from": "@c", "id": "forged", "datetime": 1},
                "extra": 1,
            },
        ),
    )
    s.send("C", req("c", "MSG_FROM_USER", {"user": {"login": "@a"}}))


@scenario("MSG_SEND to an offline or logged-out user is stored undelivered")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B").logout("B")
    s.msg("A", "@b", "while you were out")
    s.login("B", "@c")  # the socket is now someone else's
    s.msg("A", "@b", "still out")
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))


@scenario("odd message texts are stored and echoed exactly")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B")
    for i, text in enumerate(ODD_STRINGS):
        s.msg("A", "@b", text, capture=f"m{i}")
    s.msg("A", "@b", "y" * 200_000)
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))
    s.send("A", req("e", "MSG_EDIT", {"message": {"id": "$m4", "text": "\udbff\u2028"}}))


@scenario("MSG_FROM_USER: errors, both directions in datetime order, status flags")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("B").login("C")
    for payload in [
        {},
        [],
        {"user": None},
        {"user": {}},
        {"user": {"login": 5}},
        {"user": "x"},
        {"user": []},
        {"user": 0},
        {"login": "@b"},
        {"user": {"login": None}},
    ]:
        s.send("A", req("p", "MSG_FROM_USER", payload))
    s.send("A", req("self", "MSG_FROM_USER", {"user": {"login": "@a"}}))
    s.send("A", req("none", "MSG_FROM_USER", {"user": {"login": "@nobody"}}))
    s.send("A", req("empty", "MSG_FROM_USER", {"user": {"login": "@b"}}))
    s.msg("A", "@b", "a1", capture="a1").msg("B", "@a", "b1").msg("A", "@b", "a2")
    s.msg("C", "@a", "c1").msg("B", "@a", "b2", capture="b2")
    s.send("B", req("r", "MSG_READ", {"message": {"id": "$a1"}}))
    s.send("A", req("h", "MSG_FROM_USER", {"user": {"login": "@b"}}))
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))
    s.send("C", req("h", "MSG_FROM_USER", {"user": {"login": "@b"}}))


@scenario("MSG_FROM_USER delivers: MSG_DELIVER per message, in send order, before the reply")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("C")
    s.msg("A", "@b", "1").msg("A", "@b", "2").msg("C", "@b", "c").msg("A", "@b", "3")
    s.open("D").login("D", "@b")
    s.send("D", req("count", "MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": "@a"}}))
    s.send("D", req("h1", "MSG_FROM_USER", {"user": {"login": "@a"}}), order=True)
    s.send("D", req("h2", "MSG_FROM_USER", {"user": {"login": "@a"}}))  # nothing new
    s.send("A", req("h3", "MSG_FROM_USER", {"user": {"login": "@b"}}))  # the sender asks
    s.close("C")
    s.send("D", req("h4", "MSG_FROM_USER", {"user": {"login": "@c"}}))  # sender offline
    s.open("E").login("E", "@c")
    s.send("D", req("h5", "MSG_FROM_USER", {"user": {"login": "@c"}}))  # no late push


@scenario("MSG_DELIVER goes to the sender's current socket")
def _(s: Script) -> None:
    s.open("A", "B").login("A").msg("A", "@b", "one").close("A")
    s.open("C").login("C", "@a")
    s.login("B")
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))


@scenario("MSG_COUNT_NOT_READED_FROM_USER: errors, counts, no side effect")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B").logout("B")
    kind = "MSG_COUNT_NOT_READED_FROM_USER"
    for payload in [{}, [], {"user": None}, {"user": {}}, {"user": {"login": 1}}, {"user": "a"}]:
        s.send("A", req("p", kind, payload))
    s.send("A", req("self", kind, {"user": {"login": "@a"}}))
    s.send("A", req("none", kind, {"user": {"login": "@nobody"}}))
    s.send("A", req("zero", kind, {"user": {"login": "@b"}}))
    s.msg("A", "@b", "1", capture="m1").msg("A", "@b", "2").msg("A", "@b", "3", capture="m3")
    s.login("B")
    s.send("B", req("c1", kind, {"user": {"login": "@a"}}))
    s.send("A", req("c-other-way", kind, {"user": {"login": "@b"}}))
    s.send("B", req("r", "MSG_READ", {"message": {"id": "$m1"}}))
    s.send("A", req("d", "MSG_DELETE", {"message": {"id": "$m3"}}))
    s.send("B", req("c2", kind, {"user": {"login": "@a"}}))
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))  # still delivers


@scenario("MSG_READ: errors, pushes to the sender, repeats, offline sender")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("B").login("C")
    s.msg("A", "@b", "read me", capture="m")
    for payload in [
        {},
        [],
        {"message": None},
        {"message": {}},
        {"message": {"id": 5}},
        {"message": "id"},
        {"id": "$m"},
        {"message": {"id": None}},
    ]:
        s.send("B", req("p", "MSG_READ", payload))
    s.send("B", req("u", "MSG_READ", {"message": {"id": "no-such-id"}}))
    s.send("B", req("u", "MSG_READ", {"message": {"id": ""}}))
    s.send("A", req("sender", "MSG_READ", {"message": {"id": "$m"}}))
    s.send("C", req("third", "MSG_READ", {"message": {"id": "$m"}}))
    s.send("B", req("ok", "MSG_READ", {"message": {"id": "$m", "extra": 1}}), order=True)
    s.send("B", req("again", "MSG_READ", {"message": {"id": "$m"}}), order=True)
    s.logout("A")
    s.send("B", req("offline", "MSG_READ", {"message": {"id": "$m"}}))
    s.open("D").login("D", "@a")
    s.send("B", req("new-socket", "MSG_READ", {"message": {"id": "$m"}}))
    s.send("D", req("h", "MSG_FROM_USER", {"user": {"login": "@b"}}))


@scenario("MSG_READ does not mark delivery; MSG_EDIT keeps the read flag")
def _(s: Script) -> None:
    s.open("A", "B").login("A").msg("A", "@b", "offline", capture="m")
    s.login("B")
    s.send("B", req("r", "MSG_READ", {"message": {"id": "$m"}}))
    s.send("A", req("h", "MSG_FROM_USER", {"user": {"login": "@b"}}))
    s.send("A", req("e", "MSG_EDIT", {"message": {"id": "$m", "text": "edited"}}))
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))


@scenario("MSG_DELETE: errors, push to the recipient, gone for good")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("B").login("C")
    s.msg("A", "@b", "one", capture="m1").msg("A", "@b", "two", capture="m2")
    for payload in [
        {},
        [],
        {"message": None},
        {"message": {}},
        {"message": {"id": 1}},
        {"message": "x"},
        {"message": {"id": ["$m1"]}},
    ]:
        s.send("A", req("p", "MSG_DELETE", payload))
    s.send("A", req("u", "MSG_DELETE", {"message": {"id": "nope"}}))
    s.send("B", req("recipient", "MSG_DELETE", {"message": {"id": "$m1"}}))
    s.send("C", req("third", "MSG_DELETE", {"message": {"id": "$m1"}}))
    s.send("A", req("ok", "MSG_DELETE", {"message": {"id": "$m1"}}), order=True)
    s.send("A", req("again", "MSG_DELETE", {"message": {"id": "$m1"}}))
    s.send("B", req("read", "MSG_READ", {"message": {"id": "$m1"}}))
    s.send("A", req("edit", "MSG_EDIT", {"message": {"id": "$m1", "text": "x"}}))
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))
    s.logout("B")
    s.send("A", req("offline", "MSG_DELETE", {"message": {"id": "$m2"}}))
    s.login("B")
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))


@scenario("MSG_EDIT: errors, push to the recipient, text and flag in history")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("B").login("C")
    s.msg("A", "@b", "first", capture="m")
    for payload in [
        {},
        [],
        {"message": None},
        {"message": {}},
        {"message": {"id": "$m"}},
        {"message": {"text": "t"}},
        {"message": {"id": "$m", "text": 5}},
        {"message": {"id": 5, "text": "t"}},
        {"message": {"id": "nope", "text": 5}},
        {"message": {"id": "$m", "text": None}},
    ]:
        s.send("A", req("p", "MSG_EDIT", payload))
    s.send("A", req("u", "MSG_EDIT", {"message": {"id": "nope", "text": "t"}}))
    s.send("B", req("recipient", "MSG_EDIT", {"message": {"id": "$m", "text": "t"}}))
    s.send("C", req("third", "MSG_EDIT", {"message": {"id": "$m", "text": "t"}}))
    s.send("A", req("ok", "MSG_EDIT", {"message": {"id": "$m", "text": "second"}}), order=True)
    s.send("A", req("same", "MSG_EDIT", {"message": {"id": "$m", "text": "second"}}))
    s.send("A", req("empty", "MSG_EDIT", {"message": {"id": "$m", "text": "", "to": "@c"}}))
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}))
    s.close("B")
    s.send("A", req("offline", "MSG_EDIT", {"message": {"id": "$m", "text": "third"}}))
    s.send("A", req("h", "MSG_FROM_USER", {"user": {"login": "@b"}}))


@scenario("closing a logged-in socket tells the others; unauthenticated closes are silent")
def _(s: Script) -> None:
    s.open("A", "B", "C", "D", "E").login("A").login("B").login("D").login("E")
    s.close("C")  # never logged in
    s.close("B")
    s.logout("D").close("D")  # logged out first
    s.close("E", 4000, "bye")
    s.open("F").login("F", "@b")  # b again, at once
    s.send("A", req("act", "USER_ACTIVE", None))


@scenario("an aborted socket (no close frame) is a disconnect too")
def _(s: Script) -> None:
    s.open("A", "B", "C").login("A").login("B").login("C")
    s.abort("B")
    s.open("D").login("D", "@b", "wrong")
    s.login("D", "@b")
    s.send("A", req("inact", "USER_INACTIVE", None))


@scenario("close codes are echoed")
def _(s: Script) -> None:
    s.open("A", "B", "C", "D").login("A")
    s.close("B", 1000, "")
    s.close("C", 1001, "going away")
    s.close("D", 4999, "ünïcode reason")
    s.close("A", 3000, "")
    s.open("E").login("E").close("E")


@scenario("permessage-deflate is declined, as by the reference's ws")
def _(s: Script) -> None:
    s.open("A", "B", deflate=True).login("A").login("B").msg("A", "@b", "z" * 2000)


@scenario("presence fan-out follows connection-opening order")
def _(s: Script) -> None:
    s.open("A", "B", "C", "D", "E", "F")
    for client in "DFBAEC":
        s.login(client, order=True)
    s.logout("B").login("B", order=True)
    s.close("E")
    s.send("A", req("act", "USER_ACTIVE", None))
    s.logout("F")


@scenario("pipelined requests are answered in order")
def _(s: Script) -> None:
    s.open("A", "B").login("B")
    s.send(
        "A",
        req("1", "USER_ACTIVE", None),
        req("2", "USER_LOGIN", creds("@a", "pw")),
        req("3", "MSG_SEND", {"message": {"to": "@b", "text": "p1"}}),
        Raw("garbage"),
        req("4", "MSG_SEND", {"message": {"to": "@b", "text": "p2"}}),
        req("5", "HELLO", {}),
        req("6", "MSG_FROM_USER", {"user": {"login": "@b"}}),
        req("7", "USER_LOGOUT", creds("@a", "pw")),
        req("8", "MSG_SEND", {"message": {"to": "@b", "text": "p3"}}),
        req("9", "USER_LOGIN", creds("@a", "pw")),
        capture=["m1", "m2"],
    )  # no order=True: across sockets a burst interleaves differently from run to run
    s.send(
        "B",
        *(req(f"r{i}", "MSG_READ", {"message": {"id": v}}) for i, v in enumerate(["$m1", "$m2"])),
        req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}),
    )
    s.send(
        "A",
        *(req(f"s{i}", "MSG_SEND", {"message": {"to": "@b", "text": str(i)}}) for i in range(50)),
    )


@scenario("history ties at equal milliseconds list the requester's messages first")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B")
    for round_ in range(3):
        ab = [
            req(f"a{i}", "MSG_SEND", {"message": {"to": "@b", "text": f"a{round_}-{i}"}})
            for i in range(40)
        ]
        ba = [
            req(f"b{i}", "MSG_SEND", {"message": {"to": "@a", "text": f"b{round_}-{i}"}})
            for i in range(40)
        ]
        s.together({"A": ab, "B": ba})
    s.send("A", req("h", "MSG_FROM_USER", {"user": {"login": "@b"}}), history=True)
    s.send("B", req("h", "MSG_FROM_USER", {"user": {"login": "@a"}}), history=True)


@scenario("binary frames are parsed like text; answers are text")
def _(s: Script) -> None:
    s.open("A", "B").login("B")
    s.send(
        "A",
        Bin(
            b'{"id":"bin","type":"USER_LOGIN","payload":{"user":'
            b'{"login":"' + b"@@a" + b'","password":"pw"}}}'
        ),
    )
    s.send("A", Bin(dump(req("b2", "USER_ACTIVE", None)).encode()))
    for data in [
        b"",
        b"not json",
        b"\xef\xbb\xbf{}",
        b'{"id":"\xff\xfe","type":"HELLO","payload":{}}',
        b'{"id":"\xc0\x80","type":"HELLO","payload":{}}',
        b'{"id":"\xed\xa0\x80","type":"HELLO","payload":{}}',
        b'{"id":"\xe2\x82","type":"HELLO","payload":{}}',
        b'{"id":"\xf4\x90\x80\x80","type":"HELLO","payload":{}}',
        b'{"id":"\xf0\x9f\x98","type":"HELLO","payload":{}}',
        b'{"id":"\xe2\x82\xac\x80\xbf","type":"HELLO","payload":{}}',
        b'{"id":"a\x00b","type":"HELLO","payload":{}}',
        b'{"id":"\xf5\xf8\xfc\xfe","type":"HELLO","payload":{}}',
        b"\x00\x01\x02",
        b"5",
    ]:
        s.send("A", Bin(data))
    s.send(
        "A",
        Bin(
            b'{"id":"t","type":"MSG_SEND","payload":{"message":{"to":"'
            + b"@@b"
            + b'","text":"\xf0\x9f\x98\x80 \xff"}}}'
        ),
    )


@scenario("fragmented messages are reassembled")
def _(s: Script) -> None:
    s.open("A")
    s.send(
        "A",
        Frag(
            (
                '{"id":"frag","ty',
                'pe":"USER_LOGIN","payload":{"user":{"login":"@@a"',
                ',"password":"pw"}}}',
            )
        ),
    )
    s.send("A", Frag(("no", "t json")))
    s.send("A", Frag(("", '{"id":"e","type":"USER_ACTIVE","payload":null}', "")))


@scenario("invalid UTF-8 in a text frame closes the socket")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B")
    s.send("B", BadText(b'{"id":"\xff","type":"HELLO","payload":{}}'))
    s.send("A", req("act", "USER_ACTIVE", None))


@scenario("large frames")
def _(s: Script) -> None:
    s.open("A", "B").login("A").login("B")
    s.send("A", req("big-id-" + "i" * 300_000, "HELLO", {}))
    s.send("A", Raw('{"id":"' + "z" * 900_000 + '","type":5,"payload":{}}'))
    s.send("A", req("big", "USER_ACTIVE", {"pad": "p" * 500_000}))
    s.msg("A", "@b", "\u00e9" * 400_000)


@scenario("deeply nested payloads that are never echoed")
def _(s: Script) -> None:
    s.open("A").login("A")
    # Up to CHAT_MAX_JSON_DEPTH (1024, the envelope's object included). Deeper is a documented
    # difference (README): answered as unparseable JSON, held by tests/test_chat_bounds.py.
    for depth in (100, 1000, 1023):
        s.send(
            "A", Raw('{"id":"d","type":"USER_ACTIVE","payload":' + "[" * depth + "]" * depth + "}")
        )
        s.send(
            "A",
            Raw('{"id":"d","type":"HELLO","payload":' + '{"a":' * depth + "1" + "}" * depth + "}"),
        )


@scenario("any path and a requested subprotocol")
def _(s: Script) -> None:
    s.open("A", path="/any/path?x=1&y=%20")
    s.open("B", path="/ws", subprotocols=["chat", "json"])
    s.open("C", subprotocols=["fun-chat"])
    s.login("A").login("B").login("C")
    s.msg("B", "@c", "via subprotocol")


@scenario("a logged-in socket can only log out itself; re-login as another user")
def _(s: Script) -> None:
    s.open("A", "B").login("A", "@x", "px")
    s.send("B", req("o", "USER_LOGOUT", creds("@x", "px")))
    s.logout("A", "@x", "px").login("A", "@y", "py")
    s.msg("B", "@x", "not logged in")  # B is unauthenticated
    s.login("B", "@x", "px")
    s.msg("B", "@y", "to y on A", capture="m")
    s.send("A", req("r", "MSG_READ", {"message": {"id": "$m"}}))
    s.msg("A", "@x", "back")


@scenario("a larger session: six users chatting, reading, editing, leaving")
def _(s: Script) -> None:
    rng = random.Random(7)
    clients = "ABCDEF"
    s.open(*clients)
    for client in clients:
        s.login(client)
    sent: list[tuple[str, str, str]] = []
    for i in range(60):
        sender, to = rng.sample(clients, 2)
        action = rng.random()
        if action < 0.55 or not sent:
            name = f"m{i}"
            s.msg(sender, "@" + to.lower(), f"msg {i}", capture=name)
            sent.append((name, sender, to))
        elif action < 0.7:
            name, sender, to = rng.choice(sent)
            s.send(to, req(f"r{i}", "MSG_READ", {"message": {"id": "$" + name}}))
        elif action < 0.8:
            name, sender, to = rng.choice(sent)
            s.send(sender, req(f"e{i}", "MSG_EDIT", {"message": {"id": "$" + name, "text": "ed"}}))
        elif action < 0.85:
            name, sender, to = rng.choice(sent)
            s.send(sender, req(f"d{i}", "MSG_DELETE", {"message": {"id": "$" + name}}))
        elif action < 0.95:
            s.send(sender, req(f"h{i}", "MSG_FROM_USER", {"user": {"login": "@" + to.lower()}}))
        else:
            kind = "MSG_COUNT_NOT_READED_FROM_USER"
            s.send(sender, req(f"c{i}", kind, {"user": {"login": "@" + to.lower()}}))
    s.close("C").logout("E")
    s.msg("A", "@c", "after c left").msg("A", "@e", "after e left")
    for client in "ABDF":
        s.send(client, req("act", "USER_ACTIVE", None))


@scenario("presence fan-out to twenty sockets")
def _(s: Script) -> None:
    clients = [chr(ord("A") + i) for i in range(20)]
    s.open(*clients)
    rng = random.Random(20)
    for client in rng.sample(clients, len(clients)):
        s.login(client, order=True)
    for client in rng.sample(clients, 5):
        s.close(client)


def random_session(seed: int, steps: int = 150) -> Callable[[Script], None]:
    """Seeded random traffic from five sockets over six users: a state-machine fuzz."""

    def build(s: Script) -> None:
        rng = random.Random(seed)
        clients = list("ABCDE")
        users = [f"@u{i}" for i in range(6)]
        open_ = list(clients)
        s.open(*clients)
        for client, user in zip(clients, users, strict=False):
            s.send(client, req("in", "USER_LOGIN", creds(user, "pw")))
        captured: list[str] = []
        for i in range(steps):
            client = rng.choice(open_)
            user = rng.choice([*users, *users, "@nobody"])
            password = "pw" if rng.random() < 0.85 else "px"
            roll = rng.random()
            if roll < 0.12:
                s.send(client, req(f"l{i}", "USER_LOGIN", creds(user, password)))
            elif roll < 0.16:
                s.send(client, req(f"o{i}", "USER_LOGOUT", creds(user, password)))
            elif roll < 0.50:
                name = f"m{i}"
                body = {"message": {"to": user, "text": f"t{i}"}}
                s.send(client, req(f"s{i}", "MSG_SEND", body), capture=name)
                captured.append(name)
            elif roll < 0.70 and captured:
                kind = rng.choice(["MSG_READ", "MSG_READ", "MSG_EDIT", "MSG_DELETE"])
                message = {"id": "$" + rng.choice(captured)}
                if kind == "MSG_EDIT":
                    message["text"] = f"e{i}"
                s.send(client, req(f"x{i}", kind, {"message": message}))
            elif roll < 0.82:
                kind = rng.choice(["MSG_FROM_USER", "MSG_COUNT_NOT_READED_FROM_USER"])
                s.send(client, req(f"h{i}", kind, {"user": {"login": user}}))
            elif roll < 0.88:
                s.send(client, req(f"a{i}", rng.choice(["USER_ACTIVE", "USER_INACTIVE"]), None))
            elif roll < 0.92:
                s.send(
                    client,
                    rng.choice(
                        [
                            Raw("{"),
                            req(i, "USER_LOGIN", {}),
                            req("", "X", {}),
                            req(f"p{i}", "MSG_SEND", {"message": {"to": user}}),
                        ]
                    ),
                )
            elif len(open_) > 2:
                (s.abort if rng.random() < 0.3 else s.close)(client)
                open_.remove(client)
                fresh = chr(ord("A") + len(clients))
                clients.append(fresh)
                open_.append(fresh)
                s.open(fresh)
                s.send(fresh, req("in", "USER_LOGIN", creds(rng.choice(users), "pw")))
        for client in open_:
            s.send(client, req("end", "USER_ACTIVE", None))

    return build


for _seed in range(6):
    scenario(f"random session {_seed}")(random_session(_seed))


# -- comparing --------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    diff: list[str]
    broken: list[str]  # the harness could not play the scenario through
    frames: int
    sent: int
    ties: tuple[int, int]


async def compare(urls: list[str], scripts: list[tuple[int, Script]], show: bool) -> list[Outcome]:
    outcomes = []
    for index, script in scripts:
        prefix = f"s{index:02d}-"
        runs = [await run_scenario(url, script, prefix) for url in urls]
        a, b = runs
        diff = list(difflib.unified_diff(a.lines, b.lines, "A", "B", lineterm="", n=3))
        broken = [line for run in runs for line in run.lines if line.startswith("!!")]
        outcomes.append(
            Outcome(script.name, diff, broken, a.frames_received, a.frames_sent, (a.ties, b.ties))
        )
        status = "ok" if not diff else f"{len(diff)} diff lines"
        if broken:
            status += "; NOT PLAYED THROUGH: " + " / ".join(broken)
        print(
            f"[{index:02d}] {script.name}: {a.frames_received} frames, {status}",
            file=sys.stderr,
            flush=True,
        )
        if show:
            print(f"## [{index:02d}] {script.name}")
            print("\n".join(a.lines))
        if diff:
            print(f"## DIFF [{index:02d}] {script.name}")
            print("\n".join(diff))
    return outcomes


def summarise(outcomes: list[Outcome], names: list[str]) -> int:
    failed = [o for o in outcomes if o.diff or o.broken]
    frames = sum(o.frames for o in outcomes)
    sent = sum(o.sent for o in outcomes)
    ties = [o.ties for o in outcomes if any(o.ties)]
    print(
        f"\n{len(outcomes)} scenarios, {sent} frames sent and {frames} frames received per server"
        f" ({names[0]} vs {names[1]}): "
        + ("0 differences" if not failed else f"{len(failed)} scenarios differ")
    )
    for a_ties, b_ties in ties:
        print(f"equal-millisecond history ties provoked: {names[0]} {a_ties}, {names[1]} {b_ties}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", default=[], help="two ws:// URLs, A then B")
    parser.add_argument("--reference", help="an npm-installed fun-chat-server checkout")
    parser.add_argument("--target", default="ours", help="ours or ours-daphne (with --reference)")
    parser.add_argument("--only", help="run scenarios whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--show", action="store_true", help="print A's transcripts as well")
    args = parser.parse_args()
    chosen = [(i, s) for i, s in enumerate(SCENARIOS) if not args.only or args.only in s.name]
    if args.list:
        for i, script in chosen:
            print(f"[{i:02d}] {script.name} ({len(script.steps)} steps)")
        return
    if args.reference:
        launch.isolate(sys.argv)
        found = launch.targets(args.reference)
        with contextlib.ExitStack() as stack:
            for port, name in ((4801, args.target), (4802, "reference")):
                stack.enter_context(launch.running(found[name], port, lifetime_s=1800))
            commit = launch.reference_commit(args.reference)
            print(f"reference commit {commit}; private netns: {launch.in_private_netns()}")
            urls = ["ws://127.0.0.1:4801/", "ws://127.0.0.1:4802/"]
            outcomes = asyncio.run(compare(urls, chosen, args.show))
            sys.exit(summarise(outcomes, [args.target, "reference"]))
    if len(args.url) != 2:
        parser.error("give --reference, or --url twice")
    urls = [u if u.endswith("/") else u + "/" for u in args.url]
    outcomes = asyncio.run(compare(urls, chosen, args.show))
    sys.exit(summarise(outcomes, urls))


if __name__ == "__main__":
    main()
