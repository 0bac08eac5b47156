"""The per-connection outbox: order kept, writes inline when it can, slow readers dropped."""

from __future__ import annotations

import asyncio
import contextlib

from chat.outbox import Outbox


class FakeSocket:
    """An ASGI send that blocks while `writable` is clear, like uvicorn's."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.writable = asyncio.Event()
        self.writable.set()
        self.aborted = False

    async def send(self, message: dict) -> None:
        await self.writable.wait()
        self.written.append(message.get("text", message["type"]))

    def abort(self) -> None:
        self.aborted = True


async def test_a_writable_peer_gets_each_frame_before_put_returns():
    sock = FakeSocket()
    box = Outbox(sock.send, max_bytes=100, abort=sock.abort)
    box.put_text("one")
    box.put_text("two")
    assert sock.written == ["one", "two"]


async def test_frames_queue_in_order_behind_a_blocked_send_and_flow_when_it_drains():
    sock = FakeSocket()
    box = Outbox(sock.send, max_bytes=100, abort=sock.abort)
    sock.writable.clear()
    for text in ["a", "b", "c"]:
        box.put_text(text)
    assert sock.written == []
    assert box.queued_bytes == 3  # the frame the blocked send holds counts too
    sock.writable.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sock.written == ["a", "b", "c"]
    assert box.queued_bytes == 0
    box.put_text("d")
    assert sock.written[-1] == "d"


async def test_a_peer_that_never_reads_is_aborted_once_its_queue_passes_the_bound():
    sock = FakeSocket()
    box = Outbox(sock.send, max_bytes=10, abort=sock.abort)
    sock.writable.clear()
    box.put_text("first")  # held by the blocked send: counted, as the queue's first frame
    box.put_text("x" * 5)
    assert not sock.aborted
    box.put_text("y")
    assert sock.aborted and box.closed and box.queued_bytes == 0
    box.put_text("ignored")
    assert box.queued_bytes == 0


async def test_a_send_that_raises_marks_the_outbox_closed_instead_of_raising():
    async def gone(message: dict) -> None:
        raise RuntimeError("socket closed")

    box = Outbox(gone, max_bytes=10, abort=lambda: None)
    box.put_text("hello")
    assert box.closed


async def test_a_send_blocked_across_loop_turns_resumes_and_keeps_the_order():
    """The writer task awaits the very future the inline attempt stopped on."""
    sock = FakeSocket()
    box = Outbox(sock.send, max_bytes=100, abort=sock.abort)
    sock.writable.clear()
    box.put_text("a")
    box.put_text("b")
    for _ in range(3):  # the writer task starts and waits on the blocked send
        await asyncio.sleep(0)
    assert sock.written == [] and not box.closed
    sock.writable.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert sock.written == ["a", "b"]
    assert not box.closed and box.queued_bytes == 0


async def test_a_send_that_yields_bare_to_the_loop_is_finished_too():
    written: list[str] = []

    async def send(message: dict) -> None:
        await asyncio.sleep(0)  # a bare yield, not a future
        written.append(message["text"])

    box = Outbox(send, max_bytes=100, abort=lambda: None)
    box.put_text("a")
    box.put_text("b")
    for _ in range(5):
        await asyncio.sleep(0)
    assert written == ["a", "b"] and not box.closed


class BufferingSocket:
    """A send that never waits and a transport that keeps what the peer has not read,
    like daphne over Twisted."""

    def __init__(self) -> None:
        self.buffered = 0
        self.aborted = False
        self.closed_quietly = False
        self.sent: list[dict] = []

    async def send(self, message: dict) -> None:
        self.sent.append(message)
        self.buffered += len(message.get("text", ""))

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed_quietly = True

    def outbox(self, max_bytes: int) -> Outbox:
        return Outbox(
            self.send,
            max_bytes=max_bytes,
            abort=self.abort,
            backlog=lambda: self.buffered,
            close=self.close,
        )


async def test_a_peer_whose_transport_backlog_passes_the_bound_is_aborted():
    sock = BufferingSocket()
    box = sock.outbox(max_bytes=10)
    for text in ["12345", "67890", "x"]:
        box.put_text(text)
    assert not sock.aborted  # 11 bytes buffered, but only after the last write
    box.put_text("y")
    assert sock.aborted and box.closed
    assert [m["text"] for m in sock.sent] == ["12345", "67890", "x"]


async def test_one_frame_larger_than_the_bound_does_not_drop_a_peer_that_reads_it():
    sock = BufferingSocket()
    box = sock.outbox(max_bytes=10)
    box.put_text("a" * 50)
    sock.buffered = 0  # the peer read it
    box.put_text("b")
    assert not sock.aborted and [m["text"] for m in sock.sent] == ["a" * 50, "b"]


async def test_close_uses_the_transports_own_close_when_given_one():
    sock = BufferingSocket()
    box = sock.outbox(max_bytes=10)
    box.put_close()
    assert sock.closed_quietly and box.closed and sock.sent == []
    box.put_text("late")
    assert sock.sent == []


async def test_otherwise_close_is_an_asgi_close_with_no_code():
    """uvicorn sends an empty close frame for a None code: the peer sees 1005."""
    sock = FakeSocket()
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    box = Outbox(send, max_bytes=10, abort=sock.abort)
    box.put_text("bye")
    box.put_close()
    assert sent == [
        {"type": "websocket.send", "text": "bye"},
        {"type": "websocket.close", "code": None},
    ]


def test_frames_held_by_a_loop_that_stopped_early_do_not_stall_the_next_loop():
    """The direct write path flushes once per loop turn (chat.consumers._turn)."""
    from chat.consumers import _turn

    flushed: list[str] = []

    class Writer:
        def __init__(self, name: str) -> None:
            self.name = name

        def flush(self) -> None:
            flushed.append(self.name)

    async def hold_then_interrupt() -> None:
        _turn.hold(Writer("old"))  # type: ignore[arg-type]
        raise KeyboardInterrupt  # the loop stops before its turn ends: no flush

    stopped = asyncio.new_event_loop()
    with contextlib.suppress(KeyboardInterrupt):
        stopped.run_until_complete(hold_then_interrupt())
    stopped.close()
    assert flushed == []

    async def hold_in_a_new_loop() -> None:
        _turn.hold(Writer("new"))  # type: ignore[arg-type]
        await asyncio.sleep(0)

    asyncio.run(hold_in_a_new_loop())
    assert flushed == ["new"]
