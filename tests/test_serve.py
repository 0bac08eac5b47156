"""`manage.py serve`: one process, the site on one port, the chat on another."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
import websockets

from tests.servers import free_port, server_process

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["uvicorn", "daphne"])
def served(request, module):
    site, chat = free_port(), free_port(ipv6_too=True)
    args = ["serve", "--site-port", str(site), "--chat-port", str(chat), "--server", request.param]
    with server_process(args, ports=[site, chat]):
        yield site, chat


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_the_site_port_serves_the_module_page_and_static_files(served):
    site, _ = served
    status, html = get(f"http://127.0.0.1:{site}/modules/st2-websockets/")
    assert status == 200 and "Learning objectives" in html
    status, css = get(f"http://127.0.0.1:{site}/static/courseware/site.css")
    assert status == 200 and "--accent" in css


def test_plain_http_on_the_chat_port_gets_a_status_page_instead_of_hanging(served):
    _, chat = served
    status, text = get(f"http://127.0.0.1:{chat}/anything")
    assert status == 200
    assert f"ws://localhost:{chat}" in text


def test_every_path_on_the_chat_port_opens_a_websocket_on_both_ip_families(served):
    _, chat = served

    async def connect(url: str) -> None:
        # No Origin header, as Node and Python clients send none: the chat port accepts it.
        async with websockets.connect(url, open_timeout=5) as ws:
            await ws.ping()

    for host in ["127.0.0.1", "[::1]", "localhost"]:
        for path in ["", "/", "/ws", "/any/path?x=1"]:
            asyncio.run(connect(f"ws://{host}:{chat}{path}"))
