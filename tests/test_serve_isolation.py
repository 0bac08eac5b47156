"""`manage.py serve` runs the chat in a supervised child process; the console still reaches it.

Processes are found through /proc, signalled by PID, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from django.conf import settings

from tests.quizkit import cookie_header
from tests.servers import free_port, layer_env, server_process

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (any of its threads may have started them)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def get(url: str, timeout: float = 5) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()
        return response.status, time.monotonic() - started


@pytest.fixture
def served(module) -> Iterator[tuple[int, int, int]]:
    """`serve` as `make run` starts it: the site's process pid, the site and chat ports."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    env = {"LOG": "NONE", **layer_env()}
    with server_process(args, ports=[site, chat], env=env) as proc:
        # `timeout` leads: its child is the site's process, whose child is the chat's.
        wait_until(lambda: len(children(proc.pid)) == 1)
        yield children(proc.pid)[0], site, chat


def chat_pid(parent: int) -> int:
    wait_until(lambda: len(children(parent)) == 1)
    return children(parent)[0]


def test_a_frozen_chat_process_does_not_hold_up_the_site(served):
    """With the chat process stopped dead, the quiz site still answers at once."""
    parent, site, _ = served
    child = chat_pid(parent)
    os.kill(child, signal.SIGSTOP)
    try:
        status, took = get(f"http://127.0.0.1:{site}/modules/st2-websockets/")
        assert status == 200 and took < 1.0
    finally:
        os.kill(child, signal.SIGCONT)


def test_a_chat_process_that_dies_is_started_again_and_serves_the_port(served):
    """Killed, the chat child is replaced within seconds and the chat port answers again."""
    parent, _, chat = served
    first = chat_pid(parent)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: children(parent) not in ([], [first]))
    assert children(parent) != [first]

    async def login() -> dict:
        async with websockets.connect(f"ws://127.0.0.1:{chat}/", open_timeout=5) as ws:
            login = {"user": {"login": "back-ann", "password": "pw"}}
            await ws.send(json.dumps({"id": "1", "type": "USER_LOGIN", "payload": login}))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    # The new child binds the port a moment after it starts. On the Redis cluster the dead
    # child's lease on the room holds until it runs out: a socket seated meanwhile is closed
    # when the new child takes the room over, and the client reconnects, as browsers do.
    deadline = time.monotonic() + 10 + settings.CHAT_LEASE_SECONDS
    while True:
        try:
            reply = asyncio.run(login())
            break
        except (OSError, websockets.ConnectionClosed):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert reply["type"] == "USER_LOGIN" and reply["payload"]["user"]["isLogined"] is True


def test_the_chat_process_stops_when_the_site_process_is_killed(served):
    """SIGKILL leaves no time to clean up: the child notices its parent's pipe close."""
    parent, _, _ = served
    child = chat_pid(parent)
    os.kill(parent, signal.SIGKILL)
    wait_until(lambda: not alive(child), timeout=10)


def test_the_console_on_the_site_port_sees_the_chat_of_the_child_process(served, mentor):
    """The site relays the console socket to the chat process: frames and commands cross."""
    _, site, chat = served
    headers = {"Cookie": cookie_header(mentor), "Origin": f"http://127.0.0.1:{site}"}

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{site}/ws/chat/console/"
        async with websockets.connect(url, additional_headers=headers) as console:
            hello = json.loads(await asyncio.wait_for(console.recv(), 5))
            # With REDIS_URL the same works over the channel layer instead of the relay.
            mode = "redis" if settings.REDIS_URL else "local"
            assert hello == {"kind": "hello", "mode": mode, "world": "shared"}
            snapshot = json.loads(await asyncio.wait_for(console.recv(), 5))
            assert snapshot["ref"] == 0 and snapshot["ok"], snapshot
            async with websockets.connect(f"ws://127.0.0.1:{chat}/") as student:
                login = {"user": {"login": "near-ann", "password": "pw"}}
                await student.send(json.dumps({"id": "1", "type": "USER_LOGIN", "payload": login}))
                await student.recv()
                seen: list[dict] = []
                while not any(f["type"] == "USER_LOGIN" and f["dir"] == "out" for f in seen):
                    message = json.loads(await asyncio.wait_for(console.recv(), 5))
                    seen += message.get("frames") or []
                # A command is carried out by the chat process: the student is cut off.
                await console.send(json.dumps({"cmd": "loss", "outage": 0, "ref": 7}))
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(student.recv(), 5)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_an_anonymous_console_socket_is_refused_by_the_site(served):
    """Without a mentor's session the relay never opens: the handshake is refused."""
    _, site, _ = served

    async def anonymous() -> None:
        headers = {"Origin": f"http://127.0.0.1:{site}"}
        url = f"ws://127.0.0.1:{site}/ws/chat/console/"
        async with websockets.connect(url, additional_headers=headers, open_timeout=5):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(anonymous())
    assert refused.value.response.status_code == 403


def test_the_console_page_lists_the_rooms_the_chat_process_holds(module, mentor):
    """The rooms live in the chat child; the site asks it for them when drawing the page."""
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat)]
    env = {"LOG": "NONE", "CHAT_ROOMS": "True", **layer_env()}
    cookie = cookie_header(mentor)
    with server_process(args, ports=[site, chat], env=env):

        async def page_while_in_a_room() -> str:
            async with websockets.connect(f"ws://127.0.0.1:{chat}/rooms/lab-7"):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{site}/chat/console/",
                    headers={"Cookie": cookie},
                )
                fetch = asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
                with await fetch as response:
                    return response.read().decode()

        html = asyncio.run(asyncio.wait_for(page_while_in_a_room(), 30))
    assert '<option value="room.lab-7">' in html
