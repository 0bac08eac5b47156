"""The chat server as a real process (uvicorn and daphne), with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.chatclient import Client
from tests.servers import ROOT, free_port, server_process

pytestmark = pytest.mark.live
KERNEL_SEND_BUFFER_MAX = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


@pytest.fixture(params=["uvicorn", "daphne"], scope="module")
def chat_url(request):
    port = free_port(ipv6_too=True)
    with server_process(
        ["chatserver", "--port", str(port), "--server", request.param], ports=[port]
    ):
        yield f"ws://localhost:{port}"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_any_path_works_on_both_ip_families_and_binary_frames_read_as_text(chat_url):
    port = chat_url.rsplit(":", 1)[1]

    async def scenario():
        for n, url in enumerate([f"ws://127.0.0.1:{port}/any/path?x=1", f"ws://[::1]:{port}/ws"]):
            client = await Client.open(url)
            login = {"user": {"login": f"family-{n}", "password": "pw"}}
            frame = json.dumps({"id": "bin", "type": "USER_LOGIN", "payload": login})
            await client.ws.send(frame.encode())  # a binary frame
            reply = await client.ws.recv()
            assert isinstance(reply, str)  # answered with a text frame
            assert json.loads(reply)["payload"]["user"] == {
                "login": f"family-{n}",
                "isLogined": True,
            }
            await client.ws.send(b"\xff not json")
            assert json.loads(await client.ws.recv())["payload"] == {
                "error": "incorrect request structure"
            }
            await client.close()

    run(scenario())


def test_two_users_log_in_and_exchange_messages_with_every_push(chat_url):
    async def scenario():
        ann, ben = await Client.open(chat_url + "/"), await Client.open(chat_url + "/any/path?x=1")
        await ann.login("e2e-ann")
        assert (await ben.login("e2e-ben"))["payload"]["user"]["isLogined"] is True
        assert (await ann.frame())["type"] == "USER_EXTERNAL_LOGIN"

        await ann.request("s1", "MSG_SEND", {"message": {"to": "e2e-ben", "text": "hi"}})
        push, reply = await ben.frame(), await ann.frame()
        assert (push["id"], reply["id"]) == (None, "s1")
        msg_id = reply["payload"]["message"]["id"]

        await ben.request("r1", "MSG_READ", {"message": {"id": msg_id}})
        read_push, read_reply = await ann.frame(), await ben.frame()
        assert read_push == {
            "id": None,
            "type": "MSG_READ",
            "payload": {"message": {"id": msg_id, "status": {"isReaded": True}}},
        }
        assert read_reply["id"] == "r1"

        await ann.request("e1", "MSG_EDIT", {"message": {"id": msg_id, "text": "hi!"}})
        edit_push = await ben.frame()
        assert edit_push["payload"]["message"] == {
            "id": msg_id,
            "text": "hi!",
            "status": {"isEdited": True},
        }
        assert (await ann.frame())["id"] == "e1"

        await ann.request("d1", "MSG_DELETE", {"message": {"id": msg_id}})
        assert (await ben.frame())["payload"]["message"]["status"] == {"isDeleted": True}
        assert (await ann.frame())["id"] == "d1"
        await ann.close()
        await ben.close()

    run(scenario())


def test_an_offline_message_is_delivered_through_history_and_the_sender_is_told(chat_url):
    async def scenario():
        ann = await Client.open(chat_url)
        await ann.login("off-ann")
        await ann.request("s", "MSG_SEND", {"message": {"to": "off-ann", "text": "self"}})
        assert (await ann.frame())["type"] == "ERROR"

        ben = await Client.open(chat_url)
        await ben.login("off-ben")
        await ann.frame()  # ben's login push
        await ben.request("bye", "USER_LOGOUT", {"user": {"login": "off-ben", "password": "pw"}})
        assert (await ben.frame())["type"] == "USER_LOGOUT"
        assert (await ann.frame())["type"] == "USER_EXTERNAL_LOGOUT"

        await ann.request("s2", "MSG_SEND", {"message": {"to": "off-ben", "text": "later"}})
        sent = (await ann.frame())["payload"]["message"]
        assert sent["status"]["isDelivered"] is False

        await ben.login("off-ben")
        await ann.frame()  # login push
        assert await ann.nothing()  # logging in alone delivers nothing
        await ben.request("h", "MSG_FROM_USER", {"user": {"login": "off-ann"}})
        assert await ann.frame() == {
            "id": None,
            "type": "MSG_DELIVER",
            "payload": {"message": {"id": sent["id"], "status": {"isDelivered": True}}},
        }
        history = (await ben.frame())["payload"]["messages"]
        assert [m["text"] for m in history] == ["later"]
        assert history[0]["status"]["isDelivered"] is True
        await ann.close()
        await ben.close()

    run(scenario())


def test_a_closed_socket_logs_its_user_out_for_everyone_else(chat_url):
    async def scenario():
        watchers = [await Client.open(chat_url) for _ in range(2)]
        for i, watcher in enumerate(watchers):
            await watcher.login(f"watch-{i}")
        await watchers[0].frame()
        leaver = await Client.open(chat_url)
        await leaver.login("leaver")
        for watcher in watchers:
            assert (await watcher.frame())["type"] == "USER_EXTERNAL_LOGIN"
        await leaver.close()
        for watcher in watchers:
            assert await watcher.frame() == {
                "id": None,
                "type": "USER_EXTERNAL_LOGOUT",
                "payload": {"user": {"login": "leaver", "isLogined": False}},
            }
        again = await Client.open(chat_url)
        assert (await again.login("leaver"))["type"] == "USER_LOGIN"
        for client in [*watchers, again]:
            await client.close()

    run(scenario())


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_a_client_that_never_reads_is_dropped_and_the_others_carry_on(server):
    port = free_port()
    # The dialog caps are raised: the sink must be dropped before the dialog is full.
    env = {
        "CHAT_MAX_QUEUE_BYTES": "200000",
        "CHAT_MAX_DIALOG_CHARS": "100000000",
        "CHAT_MAX_STORED_CHARS": "100000000",
        "LOG": "NONE",
    }
    args = ["chatserver", "--port", str(port), "--host", "127.0.0.1", "--server", server]
    with server_process(args, ports=[port], env=env):

        async def scenario():
            url = f"ws://127.0.0.1:{port}"
            # A tiny receive window, fixed before the handshake: the kernel then holds a
            # few KB for the sink instead of tens of MB (tcp_rmem's max), so the server
            # meets backpressure after a few frames.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sink = await Client.open(url, sock=sock)
            await sink.login("sink")
            sink.ws.transport.pause_reading()  # from now on the sink reads nothing
            sender = await Client.open(url)
            await sender.login("sender")
            text = "x" * 20_000
            # The server's own kernel send buffer still takes up to tcp_wmem's max
            # before its send blocks; past that the bound (200 KB) must apply.
            limit = KERNEL_SEND_BUFFER_MAX + 1_000_000
            for i in range(limit // len(text)):
                await sender.request(f"m{i}", "MSG_SEND", {"message": {"to": "sink", "text": text}})
                frame = await sender.frame()
                if frame["type"] == "USER_EXTERNAL_LOGOUT":
                    break
            else:
                pytest.fail("the server never dropped the client that does not read")
            assert frame["payload"]["user"]["login"] == "sink"
            await sender.request("after", "USER_ACTIVE", None)
            while (reply := await sender.frame())["id"] != "after":
                pass
            assert [u["login"] for u in reply["payload"]["users"]] == ["sender"]
            await sender.close()

        run(scenario())


def test_the_default_port_is_4000_on_localhost():
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 4000)) == 0:
            pytest.skip("something already listens on port 4000")
    with server_process(["chatserver"], ports=[4000], env={"PORT": "", "SERVER_PORT": ""}):

        async def scenario():
            client = await Client.open("ws://localhost:4000")
            assert (await client.login("default-port"))["type"] == "USER_LOGIN"
            await client.close()

        run(scenario())


def test_server_port_is_used_when_port_is_unset():
    port = free_port(ipv6_too=True)
    with server_process(["chatserver"], ports=[port], env={"PORT": "", "SERVER_PORT": str(port)}):

        async def scenario():
            client = await Client.open(f"ws://localhost:{port}")
            assert (await client.login("server-port"))["type"] == "USER_LOGIN"
            await client.close()

        run(scenario())


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_clear_interval_closes_every_socket_and_forgets_everyone(server):
    """§8.4: CLEAR_INTERVAL is in seconds; the peers see 1005; old logins are free again."""
    port = free_port()
    args = ["chatserver", "--port", str(port), "--host", "127.0.0.1", "--server", server]
    with server_process(args, ports=[port], env={"CLEAR_INTERVAL": "1", "LOG": "NONE"}):

        async def scenario():
            url = f"ws://127.0.0.1:{port}"
            ann = await Client.open(url)  # the first connection starts the interval
            started = time.monotonic()
            await ann.login("ann", "first")
            ben = await Client.open(url)
            await ben.login("ben")
            await ann.frame()  # ben's login push
            with pytest.raises(ConnectionClosed):
                await ann.frame(timeout=3)
            assert 0.5 < time.monotonic() - started < 2.5
            assert ann.ws.close_code == 1005
            # ben was opened after ann, so it hears of her before its own close
            assert await ben.frame() == {
                "id": None,
                "type": "USER_EXTERNAL_LOGOUT",
                "payload": {"user": {"login": "ann", "isLogined": False}},
            }
            with pytest.raises(ConnectionClosed):
                await ben.frame()
            assert ben.ws.close_code == 1005

            again = await Client.open(url)
            assert (await again.login("ann", "second"))["type"] == "USER_LOGIN"
            await again.request("i", "USER_INACTIVE", None)
            assert (await again.frame())["payload"] == {"users": []}  # ben is forgotten
            await again.close()

        run(scenario())


def test_a_real_server_logs_frames_with_passwords_masked():
    port = free_port()
    args = ["chatserver", "--port", str(port), "--host", "127.0.0.1"]
    with server_process(args, ports=[port], env={"LOG": "all"}):  # case-insensitive

        async def scenario():
            client = await Client.open(f"ws://127.0.0.1:{port}")
            await client.login("logged", "hunter2-secret")
            await client.request(
                "bad", "USER_LOGOUT", {"user": {"login": "x", "password": "hunter2-other"}}
            )
            await client.frame()
            await client.close()

        run(scenario())
        log = ROOT / f".server-{port}.log"
        deadline = time.monotonic() + 5
        while "connection close" not in (text := log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "hunter2" not in text
    assert text.count('"password": "***"') == 2  # json.dumps spacing, kept as sent
    assert '"type":"USER_LOGIN","payload":{"user":{"login":"logged","isLogined":true}}' in text
    assert "there is no user with this login" in text
