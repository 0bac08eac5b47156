"""Whole check runs against scripted clients over real sockets, reports asserted item by item.

The chat server runs in the test's own event loop (uvicorn on a loopback port), so the
test can play the grader: it watches the run's prompts and clicks in the scripted client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from channels.db import database_sync_to_async

from chat import rooms
from chat.routing import application
from grader.agent import get_agent
from grader.checkrun import start_run
from grader.models import CheckReport
from tests.funchat_clients import (
    BadClient,
    GoodClient,
    eventually,
)

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

# Short waits: the scripted clients react within milliseconds.
FAST = {
    "login_timeout": 5,
    "prompt_timeout": 5,
    "attempt_timeout": 2,
    "react_timeout": 1.5,
    "reconnect_timeout": 4,
    "outage": 0.6,
    "window": 1,
}


@pytest.fixture
async def chat_url() -> AsyncIterator[str]:
    """The real chat consumer under uvicorn, in this event loop, on a free loopback port."""
    rooms.reset()  # the shared world and every room
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        application, ws="websockets-sansio", lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    await eventually(lambda: server.started)
    yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    rooms.reset()  # the shared world and every room


async def play_grader(client: GoodClient, *, sees: str = "yes") -> None:
    """Do in the client what each prompt asks, as a grader with a mouse would, then answer
    the prompt; `sees` is the answer to the questions about the screen."""
    run = get_agent().run
    assert run is not None
    done: set[str] = set()
    while run.active:
        step = run.step
        if run.asks is None or step in done:
            await asyncio.sleep(0.02)
            continue
        done.add(step)
        await asyncio.sleep(0.3)  # a person reads the prompt first
        if step == "open":
            await eventually(lambda: len(client.unread(run.bot.login)) == 2)
            await client.open_dialogue(run.bot.login)
        elif step == "click":
            await client.click_history()
        elif step == "actions":
            await client.send_text("Hi checker")
            await asyncio.sleep(0.1)
            await client.edit_last("Hi checker, changed")
            await client.send_text("This one goes")
            await asyncio.sleep(0.1)
            await client.delete_last()
            await client.send_text("")  # the empty message: a good client refuses it
        await asyncio.sleep(0.2)
        run.answer(sees if run.asks == "yesno" else "done")


async def check(client: GoodClient, student=None) -> CheckReport:
    agent = get_agent()
    await start_run(
        agent, login=client.login, student_id=student.pk if student else None, options=FAST
    )
    client.start()
    await asyncio.wait_for(play_grader(client), 40)
    await asyncio.wait_for(agent.run.task, 10)  # judged and saved
    await client.stop()
    return await saved(agent.run.report_id)


async def saved(pk: int) -> CheckReport:
    """The report as stored; database_sync_to_async closes the connection it used."""
    return await database_sync_to_async(
        lambda: CheckReport.objects.select_related("student").get(pk=pk)
    )()


def verdicts(report: CheckReport) -> dict[str, str]:
    return {item["code"]: item["status"] for item in report.items}


def item(report: CheckReport, code: str) -> dict:
    return next(i for i in report.items if i["code"] == code)


async def test_a_correct_client_passes_every_item_with_the_frames_as_evidence(chat_url, student):
    report = await check(GoodClient(chat_url, "good-ann"), student)

    assert report.status == "finished"
    assert report.student == student and report.login == "good-ann"
    assert verdicts(report) == {
        "5.1": "passed",
        "5.4": "passed",
        "6.2": "passed",
        "6.12": "passed",
        "6.13": "passed",
        "7.3": "passed",
        "8.1": "passed",
        "8.2": "passed",
        "11.1": "passed",
        "11.2": "passed",
        "P.1": "passed",
        "P.2": "passed",
    }
    relogin = item(report, "11.2")
    assert "after the loss" in relogin["summary"]
    kinds = [(f["dir"], f["type"]) for f in relogin["evidence"]]
    assert ("mark", "loss") in kinds and ("out", "USER_LOGIN") in kinds
    delivered = item(report, "8.1")
    assert any(f["type"] == "MSG_DELIVER" for f in delivered["evidence"])
    assert "after it arrived, with no action" in " ".join(item(report, "8.2")["details"])
    assert "grader tried to send an empty message" in item(report, "7.3")["summary"]
    bot_edits = [f for f in report.transcript if f["bot"] and f["type"] == "MSG_EDIT"]
    assert bot_edits and not any("edited" in f["text"] for f in bot_edits)  # the mark shows it
    # Every item that passed shows at least the frames behind it, passwords masked.
    for entry in report.items:
        if entry["status"] == "passed" and entry["code"] not in ("P.1", "P.2"):
            assert entry["evidence"], entry["code"]
    logins = [f for f in report.transcript if f["type"] == "USER_LOGIN" and f["dir"] == "in"]
    assert logins and all('"***"' in f["text"] for f in logins)
    assert all('"pw"' not in f["text"] for f in report.transcript)


async def test_a_misbehaving_client_fails_what_it_did_wrong_and_the_rest_is_not_observed(
    chat_url,
):
    client = BadClient(chat_url, "bad-ben")
    report = await check(client)

    assert report.status == "finished"
    assert report.student is None
    assert verdicts(report) == {
        "5.1": "failed",  # never asked for USER_INACTIVE
        "5.4": "failed",  # no count or history for the listed users
        "6.2": "failed",  # wrote to the bot without ever fetching the history
        "6.12": "not_observed",  # never deleted anything
        "6.13": "failed",  # edited to an empty text
        "7.3": "failed",  # sent an empty message
        "8.1": "not_observed",  # never logged in again after its connection was cut
        "8.2": "failed",  # replied in the dialogue but never marked a message read
        "11.1": "failed",
        "11.2": "failed",
        "P.1": "failed",
        "P.2": "failed",
    }
    empty = item(report, "7.3")
    assert any(f["type"] == "MSG_SEND" and f["dir"] == "in" for f in empty["evidence"])
    errors = item(report, "P.1")
    assert "'incorrect request structure': 2 time(s)" in errors["details"]
    assert "'incorrect message id': 1 time(s)" in errors["details"]
    assert "the same USER_ACTIVE request" in item(report, "P.2")["summary"]
    assert "not connected when the loss" in " ".join(item(report, "11.1")["details"])


async def test_a_check_waits_for_the_login_and_a_run_can_be_stopped_by_the_grader(chat_url):
    agent = get_agent()
    state = await start_run(agent, login="late-cid", options={**FAST, "login_timeout": 30})
    assert state["step"] == "login" and "late-cid" in state["prompt"]
    with pytest.raises(Exception, match="already running"):
        await start_run(agent, login="other")
    client = GoodClient(chat_url, "late-cid")
    client.start()
    # Stopped once the client has its user lists: what it did so far is judged.
    await eventually(lambda: agent.run.step == "counter" and len(client._lists) == 2, timeout=10)
    agent.run.stop()
    await eventually(lambda: not agent.run.active and agent.run.status == "stopped")
    await client.stop()
    report = await saved(state["report_id"])
    assert report.status == "stopped"
    assert verdicts(report)["5.1"] == "passed"  # seen before the stop
    assert verdicts(report)["11.1"] == "not_observed"
    assert agent.hub.tap is None  # nobody watches any more: the hot path is untapped


async def test_a_client_without_reconnect_is_reloaded_for_delivery_and_failed_at_once(chat_url):
    """No attempt after the cut: the grader reloads it, so 8.1 is still judged; no attempt
    after the loss ends the run within a few seconds instead of the whole reconnect wait."""
    agent = get_agent()
    client = GoodClient(chat_url, "once-dan", reconnect=False)
    client.start()
    await eventually(lambda: client.logged_in)
    # Logged in before the check starts: the run takes the client as it is.
    await start_run(agent, login=client.login, options={**FAST, "reconnect_timeout": 30})
    run = agent.run

    async def reload_when_asked() -> None:
        await eventually(lambda: run.step == "reload", timeout=30)
        await asyncio.sleep(0.5)  # the grader presses F5 and logs in
        client.start()

    reloading = asyncio.ensure_future(reload_when_asked())
    await asyncio.wait_for(play_grader(client), 40)
    await reloading
    await asyncio.wait_for(run.task, 10)  # judged and saved
    await client.stop()
    report = await saved(run.report_id)
    marks = {f["type"]: f["t"] for f in report.transcript if f["dir"] == "mark"}
    # Judged about attempt_timeout (+ outage) after the loss, not after reconnect_timeout.
    assert marks["run-end"] - marks["loss"] < FAST["outage"] + FAST["attempt_timeout"] + 2
    got = verdicts(report)
    assert got["8.1"] == got["5.1"] == got["5.4"] == "passed"
    assert got["11.1"] == got["11.2"] == "failed"
    assert "no attempt to reconnect" in item(report, "11.1")["summary"]
    assert "the grader reloaded it" in " ".join(item(report, "8.1")["details"])


async def test_a_run_nobody_watches_is_ended_and_its_bots_leave_the_user_lists(chat_url):
    """An abandoned run does not hold the room; its bots and the student are forgotten."""
    agent = get_agent()
    client = GoodClient(chat_url, "left-eve")
    client.start()
    await eventually(lambda: client.logged_in)
    await start_run(agent, login=client.login, options={**FAST, "abandon_after": 1})
    run = agent.run
    await eventually(lambda: run.step == "counter", timeout=10)  # asks; nobody answers
    await eventually(lambda: not run.active and run.status == "interrupted", timeout=10)
    users = agent.hub.room.state._users
    assert run.bot.login not in users and run.helper.login not in users
    assert client.login in users  # still online: kept
    await asyncio.wait_for(run.task, 10)
    await client.stop()
    report = await saved(run.report_id)
    assert report.status == "interrupted"
    assert any(f["type"] == "abandoned" for f in report.transcript)


async def test_a_reconnect_that_never_logs_in_is_the_students_by_its_handshake(chat_url):
    """The sockets after the cut and the loss log in as nobody, yet they are the student's."""
    agent = get_agent()
    client = GoodClient(chat_url, "mute-fay")
    client.relogin = False
    other = GoodClient(chat_url, "zed-other")  # a second client in the room logs in as itself
    await start_run(agent, login=client.login, options=FAST)
    client.start()
    other.start()
    run = agent.run

    async def skip_reload() -> None:
        await eventually(lambda: run.step == "reload", timeout=30)
        run.skip()  # the grader does not reload: delivery stays unobserved

    skipping = asyncio.ensure_future(skip_reload())
    await asyncio.wait_for(play_grader(client), 40)
    await skipping
    await asyncio.wait_for(run.task, 10)
    await client.stop()
    await other.stop()
    report = await saved(run.report_id)
    got = verdicts(report)
    assert got["11.1"] == "passed" and "never logged in" in item(report, "11.1")["summary"]
    assert got["11.2"] == "failed"
    assert "never logged 'mute-fay' in" in item(report, "11.2")["summary"]
