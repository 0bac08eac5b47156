"""The chat's own bounds: JSON depth, users and messages held, the frame log's size.

The reference has none of them (§10). Each test sets a small limit and pushes past it; the
answers are checked as exact frames, and the room must carry on afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat import jscodec
from chat.frames import DIALOG_FULL, MESSAGES_FULL, USERS_FULL
from chat.hub import Hub
from chat.limits import Limits
from chat.protocol import ChatRoom
from tests.chatclient import Client
from tests.chatkit import Chat, err
from tests.servers import ROOT, free_port, server_process

STRUCTURE = err("null", "structure")


def settings_probe(**env: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process with `env` over the defaults; print CHAT_LOG."""
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.CHAT_LOG)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("LOG", "DATABASE_URL", "REDIS_URL")}
    clean["DJANGO_SETTINGS_MODULE"] = "courseware.settings"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def ours(id_json: str, error: str) -> str:
    return f'{{"id":{id_json},"type":"ERROR","payload":{{"error":"{error}"}}}}'


# -- JSON depth ------------------------------------------------------------------------------


def test_a_frame_nested_past_the_limit_is_answered_as_unparseable_json():
    """Depth counts the envelope: a login nests 3 deep, so it passes a limit of 3."""
    chat = Chat(max_json_depth=3)
    (a,) = chat.open()
    assert json.loads(chat.login(a, "ann")[0][1])["type"] == "USER_LOGIN"
    at_limit = {"id": "ok", "type": "USER_ACTIVE", "payload": {"extra": [1]}}
    assert json.loads(chat.send(a, at_limit)[0][1])["id"] == "ok"
    past = {"id": "deep", "type": "USER_ACTIVE", "payload": {"extra": [[1]]}}
    assert chat.send(a, past) == [(a, STRUCTURE)]
    # Brackets inside strings do not count, escaped quotes and backslashes included.
    text = '{"id":"s","type":"USER_ACTIVE","payload":{"t":"\\\\\\"[[[[{{{{"}}'
    assert json.loads(chat.send(a, text)[0][1])["id"] == "s"


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 1_000_000,  # unterminated, a megabyte of it
        '{"id":"d","type":"USER_ACTIVE","payload":' + nested(500_000) + "}",
        '{"id":"d","type":"USER_ACTIVE","payload":' + nested(1024) + "}",  # 1025 with the {}
        '{"id":"\\ud800","type":"USER_ACTIVE","payload":' + nested(5000) + "}",
        '{"id":"d","type":"USER_ACTIVE","payload":[1e400,' + nested(5000) + "]}",
    ],
    ids=["brackets", "deep-payload", "one-past", "lone-surrogate", "huge-number"],
)
def test_the_default_limit_refuses_deep_frames_in_milliseconds(frame):
    """JSON.parse would take any depth; we stop at 1024 in C code instead of a slow
    parser that held the process for seconds per megabyte."""
    chat = Chat()
    (a,) = chat.open()
    chat.login(a, "ann")
    started = time.perf_counter()
    assert chat.send(a, frame) == [(a, STRUCTURE)]
    assert time.perf_counter() - started < 0.25


@pytest.mark.parametrize("max_depth", [1, 2, 7, 1023])
def test_the_depth_check_is_exact_whatever_the_content(max_depth):
    for inner in ["1", '"\\ud800"', "1e400", '"[{\\\\"', '{"k":"v"}']:
        depth = max_depth - (1 if inner.startswith("{") else 0)
        assert jscodec.loads(nested(depth, inner), max_depth) is not None
        with pytest.raises(jscodec.TooDeep):
            jscodec.loads(nested(depth + 1, inner), max_depth)


@pytest.mark.parametrize(
    "text", ["[" + "[]," * 100_000 + "0]", "[" * 100_000, "[" + "[]," * 100_000, "{" * 20_000]
)
def test_large_frames_are_parsed_with_the_collector_paused_and_it_comes_back(text, monkeypatch):
    """The collector's passes over a frame's new arrays made parsing five times slower."""
    seen: list[bool] = []
    real = jscodec.orjson.loads
    monkeypatch.setattr(jscodec.orjson, "loads", lambda t: seen.append(gc.isenabled()) or real(t))
    with contextlib.suppress(jscodec.InvalidJSON):
        jscodec.loads(text)
    assert seen and not any(seen)
    assert gc.isenabled()


def test_a_depth_limit_past_what_orjson_parses_is_refused_at_start():
    result = settings_probe(CHAT_MAX_JSON_DEPTH="2000")
    assert result.returncode != 0
    assert "CHAT_MAX_JSON_DEPTH must be 1 to 1024" in result.stderr


# -- users and messages held ----------------------------------------------------------------


def test_new_users_past_the_cap_are_refused_and_known_ones_still_log_in():
    chat = Chat(limits=Limits(users=2))
    a, b, c = chat.open(3)
    chat.login(a, "ann")
    chat.login(b, "ben")
    assert chat.login(c, "cid") == [(c, ours('"in-cid"', USERS_FULL))]
    chat.logout(a, "ann")
    assert json.loads(chat.login(c, "ann")[-1][1])["type"] == "USER_LOGIN"


def test_long_logins_count_against_the_stored_characters():
    chat = Chat(limits=Limits(stored_chars=1000))
    a, b = chat.open(2)
    assert json.loads(chat.login(a, "x" * 900)[-1][1])["type"] == "USER_LOGIN"
    assert chat.login(b, "y" * 200) == [(b, ours('"in-' + "y" * 200 + '"', USERS_FULL))]


def texts(chat: Chat, conn: int, peer: str) -> list[str]:
    history = chat.request(conn, "h", "MSG_FROM_USER", {"user": {"login": peer}})[-1][1]
    return [m["text"] for m in json.loads(history)["payload"]["messages"]]


def test_past_the_room_cap_a_send_goes_through_and_the_oldest_message_is_forgotten():
    """A full room keeps working (a load test run twice, a busy cohort): the oldest message,
    of any dialog, makes room; a read of it then gets the usual unknown-id error."""
    chat = Chat(limits=Limits(messages=2))
    a, b, c = chat.open(3)
    for conn, login in [(a, "ann"), (b, "ben"), (c, "cid")]:
        chat.login(conn, login)
    first = chat.message(a, "ben", "one")
    chat.message(a, "cid", "two")
    answer = chat.request(a, "m3", "MSG_SEND", {"message": {"to": "ben", "text": "three"}})
    assert [json.loads(text)["type"] for _, text in answer] == ["MSG_SEND", "MSG_SEND"]
    assert texts(chat, b, "ann") == ["three"]
    assert texts(chat, c, "ann") == ["two"]
    read = chat.request(b, "r", "MSG_READ", {"message": {"id": first}})
    assert read == [(b, err('"r"', "message_id"))]
    assert chat.room.state.budget.messages == 2


def test_past_the_room_character_cap_old_messages_make_room_for_sends_and_edits():
    chat = Chat(limits=Limits(stored_chars=1200))
    a, b = chat.open(2)
    chat.login(a, "ann")
    chat.login(b, "ben")
    sent = [chat.message(a, "ben", str(i) * 200, id_=f"m{i}") for i in range(5)]
    assert texts(chat, b, "ann") == [str(i) * 200 for i in range(2, 5)]
    grow = {"message": {"id": sent[4], "text": "z" * 500}}
    assert json.loads(chat.request(a, "e", "MSG_EDIT", grow)[-1][1])["type"] == "MSG_EDIT"
    assert texts(chat, b, "ann") == ["3" * 200, "z" * 500]
    budget = chat.room.state.budget
    assert budget.chars <= 1200 and budget.messages == 2


def test_an_edit_too_large_for_the_whole_room_is_refused_and_the_text_kept():
    chat = Chat(limits=Limits(stored_chars=800))
    a, b = chat.open(2)
    chat.login(a, "ann")
    chat.login(b, "ben")
    only = chat.message(a, "ben", "short")
    grow = {"message": {"id": only, "text": "z" * 1000}}
    assert chat.request(a, "e", "MSG_EDIT", grow) == [(a, ours('"e"', MESSAGES_FULL))]
    assert texts(chat, b, "ann") == ["short"]


def test_a_dialog_past_its_cap_refuses_sends_and_edits_while_others_go_on():
    """The cap bounds one MSG_FROM_USER answer; refused edits leave the text unchanged."""
    chat = Chat(limits=Limits(dialog_chars=2000))
    a, b, c = chat.open(3)
    for conn, login in [(a, "ann"), (b, "ben"), (c, "cid")]:
        chat.login(conn, login)
    sent = [chat.message(a, "ben", "x" * 300, id_=f"m{i}") for i in range(4)]
    big = {"message": {"to": "ben", "text": "x" * 900}}
    assert chat.request(a, "full", "MSG_SEND", big) == [(a, ours('"full"', DIALOG_FULL))]
    grow = {"message": {"id": sent[0], "text": "y" * 1500}}
    assert chat.request(a, "e", "MSG_EDIT", grow) == [(a, ours('"e"', DIALOG_FULL))]
    other = chat.request(a, "ok", "MSG_SEND", {"message": {"to": "cid", "text": "hi"}})
    assert json.loads(other[-1][1])["type"] == "MSG_SEND"
    history = chat.request(b, "h", "MSG_FROM_USER", {"user": {"login": "ann"}})[-1][1]
    messages = json.loads(history)["payload"]["messages"]
    assert [m["text"] for m in messages] == ["x" * 300] * 4
    assert len(history) < 2000 + 100


def test_the_clear_interval_frees_every_count():
    chat = Chat(limits=Limits(users=1, messages=1))
    (a,) = chat.open()
    chat.login(a, "ann")
    chat.room.clear()
    (a,) = chat.open()
    assert json.loads(chat.login(a, "ben")[-1][1])["type"] == "USER_LOGIN"


# -- the frame log ---------------------------------------------------------------------------


async def _written(message: dict) -> None:
    """An ASGI send whose peer reads at once."""


def test_long_frames_are_cut_in_the_log(caplog):
    hub = Hub(ChatRoom(), max_queue_bytes=1 << 20, log="ALL", log_chars=60)
    conn = hub.open(_written, abort=lambda: None)
    with caplog.at_level(logging.INFO, logger="chat.frames"):
        hub.receive(conn, json.dumps({"id": "j", "type": "JUNK", "payload": {"p": "z" * 50_000}}))
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.frames"]
    lines = [line for line in lines if not line.startswith("connection")]
    assert [line.split(" ", 1)[0] for line in lines] == ["incoming", "outgoing"]
    assert all(len(line) < 150 for line in lines)
    assert "(49" in lines[0] and "more characters)" in lines[0]


def test_the_default_log_level_is_error():
    """Connections and error frames, not every frame: LOG=ALL must be asked for."""
    result = settings_probe()
    assert result.stdout.strip() == "ERROR", result.stderr


def test_a_real_server_rotates_its_chat_log_file(tmp_path: Path):
    """LOG=ALL with a 4 kB file and two kept: 40 frames of junk leave three files, none
    much over the cap, and the frames in them cut to CHAT_LOG_FRAME_CHARS."""
    port = free_port()
    log_file = tmp_path / "chat.log"
    env = {
        "LOG": "ALL",
        "CHAT_LOG_FILE": str(log_file),
        "CHAT_LOG_FILE_BYTES": "4000",
        "CHAT_LOG_FILE_COUNT": "2",
        "CHAT_LOG_FRAME_CHARS": "100",
    }
    args = ["chatserver", "--port", str(port), "--host", "127.0.0.1"]
    with server_process(args, ports=[port], env=env):

        async def scenario() -> None:
            client = await Client.open(f"ws://127.0.0.1:{port}")
            for i in range(40):
                await client.request(f"j{i}", "JUNK", {"pad": "z" * 5000})
                assert (await client.frame())["type"] == "ERROR"
            await client.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["chat.log", "chat.log.1", "chat.log.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size < 4000 + 400
        assert "z" * 101 not in path.read_text()
