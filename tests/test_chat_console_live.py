"""The grader console on real server processes: in a browser, and across processes over Redis."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import websockets
from django.conf import settings
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.funchat_clients import (
    GoodClient,
    eventually,
)
from tests.quizkit import cookie_header
from tests.servers import free_port, layer_env, server_process

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.mark.browser
def test_a_grader_watches_frames_live_and_runs_a_check_from_the_browser(page, served, loop_thread):
    site, chat = served
    page.goto(f"http://127.0.0.1:{site}/accounts/login/?next=/chat/console/")
    page.get_by_label("Login").fill("mentor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Chat console").wait_for()
    # Not wait_for_function: Playwright evaluates its string with eval(), which the site's
    # Content-Security-Policy blocks.
    expect(page.locator("#console-status")).to_have_text(re.compile(r"^Live"))

    # A scripted client talks; its frames appear at once, pretty-printed, password masked.
    client = GoodClient(f"ws://127.0.0.1:{chat}/", "ann-browser", password="hunter2")
    loop_thread.loop.call_soon_threadsafe(client.start)
    login_frame = page.locator("#frames li.dir-in", has_text="USER_LOGIN").first
    login_frame.wait_for()
    json_text = login_frame.locator("pre").inner_text()
    assert '"type": "USER_LOGIN",\n' in json_text and '"password": "***"' in json_text
    assert "hunter2" not in page.content()
    page.locator("#conns", has_text="ann-browser").wait_for()

    # Filtering by type hides the other frames.
    page.get_by_label("Type").select_option("USER_ACTIVE")
    visible = page.locator("#frames li:visible")
    visible.first.wait_for()
    assert set(visible.evaluate_all("els => els.map(e => e.dataset.type)")) == {"USER_ACTIVE"}
    page.get_by_label("Type").select_option("")

    # Start a check of the connected user; play the grader at each prompt.
    page.locator("#conns").get_by_role("button", name="Check").click()
    assert page.get_by_label("Chat login of the student's client").input_value() == "ann-browser"
    page.locator("summary", has_text="Timing").click()
    page.get_by_label("Wait for the grader at each prompt (s)").fill("20")
    page.get_by_label("Wait for a reconnect (s)").fill("10")
    page.get_by_label("Server down after the simulated loss (s)").fill("1")
    page.get_by_role("button", name="Start check").click()

    prompt = page.locator("#run-prompt")
    prompt.filter(has_text="unread counter").wait_for(timeout=15_000)
    bot = re.search(r"“(chk-[0-9a-f]{4})”", prompt.inner_text()).group(1)
    # As a grader would, look first: the bot's two messages shown, the deleted one gone.
    loop_thread.run(eventually(lambda: len(client.unread(bot)) == 2))
    page.get_by_role("button", name="Yes").click()
    prompt.filter(has_text="Open the dialogue").wait_for()
    loop_thread.run(client.open_dialogue(bot))
    page.get_by_role("button", name="I did it").click()
    prompt.filter(has_text="click the message history").wait_for()
    page.wait_for_timeout(300)  # a person takes a moment; the verdict must not care
    loop_thread.run(client.click_history())
    page.get_by_role("button", name="I did it").click()
    prompt.filter(has_text="edited mark").wait_for(timeout=15_000)
    page.get_by_role("button", name="Yes").click()
    prompt.filter(has_text="try to send an empty message").wait_for()
    loop_thread.run(client.send_text("Hi checker"))
    page.wait_for_timeout(200)
    loop_thread.run(client.edit_last("Hi checker, changed"))
    loop_thread.run(client.send_text("going away"))
    page.wait_for_timeout(200)
    loop_thread.run(client.delete_last())
    loop_thread.run(client.send_text(""))
    page.get_by_role("button", name="I did it").click()
    # Answered prompts take their buttons with them; Skip and Stop go once the run ends.

    page.get_by_role("link", name="Open the report").wait_for(timeout=30_000)
    results = page.locator("#run-results li")
    assert results.count() == 12
    assert results.filter(has_text="passed").count() == 12, "\n".join(results.all_inner_texts())
    for name in ("Skip this step", "Stop the check", "I did it", "Yes"):
        assert not page.get_by_role("button", name=name).is_visible()
    assert "Last check" in page.locator("#run").inner_text()
    loop_thread.run(client.stop())

    page.get_by_role("link", name="Open the report").click()
    page.get_by_role("heading", name="Chat check of").wait_for()
    assert page.locator("table.items .badge.passed").count() == 12


@pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs REDIS_URL: the layer that crosses processes"
)
def test_the_console_reaches_a_chat_server_in_another_process_over_redis(mentor, loop_thread):
    site, chat = free_port(), free_port(ipv6_too=True)
    env = {"LOG": "NONE", **layer_env()}
    cookie = cookie_header(mentor)
    with (
        server_process(["serve", "--no-chat", "--site-port", str(site)], ports=[site], env=env),
        server_process(["chatserver", "--port", str(chat)], ports=[chat], env=env),
    ):

        async def scenario() -> None:
            headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{site}"}
            async with websockets.connect(
                f"ws://127.0.0.1:{site}/ws/chat/console/", additional_headers=headers
            ) as console:
                hello = json.loads(await console.recv())
                assert hello == {"kind": "hello", "mode": "redis", "world": "shared"}
                snapshot = json.loads(await asyncio.wait_for(console.recv(), 5))
                assert snapshot["ref"] == 0 and snapshot["ok"], snapshot

                async with websockets.connect(f"ws://127.0.0.1:{chat}/") as student:
                    login = {"user": {"login": "far-ann", "password": "pw"}}
                    await student.send(
                        json.dumps({"id": "1", "type": "USER_LOGIN", "payload": login})
                    )
                    await student.recv()
                    seen: list[dict[str, Any]] = []
                    while not any(f["type"] == "USER_LOGIN" and f["dir"] == "out" for f in seen):
                        message = json.loads(await asyncio.wait_for(console.recv(), 5))
                        seen += message.get("frames") or []
                    assert all("pw" not in f["text"] for f in seen)

                    await console.send(json.dumps({"cmd": "loss", "outage": 0, "ref": 7}))
                    with pytest.raises(websockets.ConnectionClosed):
                        await asyncio.wait_for(student.recv(), 5)
                while True:
                    message = json.loads(await asyncio.wait_for(console.recv(), 5))
                    if message.get("ref") == 7:
                        assert message["ok"] is True
                        break

        # In a thread of its own: Playwright may hold this thread's event loop (conftest).
        loop_thread.run(scenario(), timeout=30)
