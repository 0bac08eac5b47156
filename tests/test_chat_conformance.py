"""Regressions from the differential run against RS School's reference server.

bench/chat_conformance.py plays whole sessions against our server and a running reference.
CI has no reference, so what that run established is pinned here: the reference's own
one-frame answers (tests/chat_reference_answers.json, with their provenance) replayed
against our core, and the one difference the run found, which was in the transport.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator

import chat.routing
from chat.hub import reset_hub
from chat.protocol import ChatRoom, SendText

ANSWERS = json.loads(Path(__file__).with_name("chat_reference_answers.json").read_text())["answers"]


def frame_of(answer: dict) -> str | bytes:
    """The frame as it went over the wire: binary frames are stored as latin-1 code points."""
    return answer["frame"].encode("latin-1") if answer["kind"] == "binary" else answer["frame"]


def label(answer: dict) -> str:
    text = answer["frame"]
    return f"{answer['kind']}:{text[:40]}" + ("…" if len(text) > 40 else "")


def test_the_pinned_answers_cover_every_envelope_error_and_id_echo_rule():
    replies = [answer["reply"] for answer in ANSWERS]
    for error in [
        "incorrect request structure",
        "incorrect type parameters",
        "the user was not authorized cannot be executed",
    ]:
        assert any(f'"error":"{error}"' in reply for reply in replies)
    echoed = {json.loads(reply)["id"].__class__.__name__ for reply in replies}
    assert echoed == {"NoneType", "str", "int", "float", "bool", "dict", "list"}
    assert any(answer["kind"] == "binary" for answer in ANSWERS)


@pytest.mark.parametrize("answer", ANSWERS, ids=label)
def test_a_fresh_connection_gets_the_references_exact_answer(answer):
    world = ChatRoom()
    conn = world.connect()
    assert world.receive(conn, frame_of(answer)) == [SendText(conn, answer["reply"])]


@pytest.fixture
def fresh_hub():
    reset_hub()
    yield
    reset_hub()


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["chat", "json"], "chat"), (["fun-chat"], "fun-chat"), (None, None)],
)
async def test_the_first_requested_subprotocol_is_accepted_as_the_references_ws_does(
    fresh_hub, offered, chosen
):
    # A browser fails a handshake that asked for a subprotocol and got none back; the
    # reference's ws picks the client's first one, so clients that pass one work there.
    client = WebsocketCommunicator(chat.routing.application, "/", subprotocols=offered)
    assert await client.connect() == (True, chosen)
    await client.send_to(text_data='{"id":"s","type":"USER_ACTIVE","payload":null}')
    reply = json.loads(await client.receive_from(timeout=2))
    assert reply["payload"] == {"error": "the user was not authorized cannot be executed"}
    await client.disconnect()
