"""The chat server's operations side: LOG levels, password masking, the port settings."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import call_command

from chat.hub import Hub
from chat.management.commands import chatserver
from chat.protocol import ChatRoom

SECRET = "hunter2-Sekret"


async def _written(message: dict) -> None:
    """An ASGI send whose peer always reads at once."""


def scenario(hub: Hub) -> None:
    """A login, two malformed frames, a client-sent "error" frame, a message whose text is
    "ERROR", a logout; then the socket closes."""
    conn = hub.open(_written, abort=lambda: None)
    user = {"login": "ann", "password": SECRET}
    hub.receive(conn, json.dumps({"id": "1", "type": "USER_LOGIN", "payload": {"user": user}}))
    hub.receive(conn, "not json")
    hub.receive(conn, json.dumps({"id": "2", "type": "ERROR"}))  # no payload: malformed
    hub.receive(conn, json.dumps({"id": "3", "type": "error", "payload": {}}))
    to_self = {"message": {"to": "ann", "text": "ERROR"}}
    hub.receive(conn, json.dumps({"id": "5", "type": "MSG_SEND", "payload": to_self}))
    hub.receive(conn, json.dumps({"id": "4", "type": "USER_LOGOUT", "payload": {"user": user}}))
    hub.close(conn)


def logged(caplog, level: str) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="chat.frames"):
        scenario(Hub(ChatRoom(), max_queue_bytes=1000, log=level))
    return [r.getMessage() for r in caplog.records if r.name == "chat.frames"]


def kinds(lines: list[str]) -> list[str]:
    return [line.split(" ", 1)[0] for line in lines]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # Malformed frames are answered but, as by the reference, not logged as incoming.
        (
            "ALL",
            ["connection", "incoming", "outgoing", "outgoing", "outgoing"]
            + ["incoming", "outgoing"] * 3
            + ["connection"],
        ),
        ("incoming", ["connection", *["incoming"] * 4, "connection"]),
        ("OUTCOMING", ["connection", *["outgoing"] * 6, "connection"]),
        ("Error", ["connection", *["outgoing"] * 2, "incoming", *["outgoing"] * 2, "connection"]),
        ("none", []),
    ],
)
def test_each_log_level_logs_what_it_says_case_insensitively(caplog, level, expected):
    """As the reference: ERROR keeps frames of type ERROR (any case) either way, not a text
    that says ERROR; NONE logs nothing."""
    lines = logged(caplog, level)
    assert kinds(lines) == expected
    if level.upper() == "ERROR":
        frames = [line for line in lines if not line.startswith("connection")]
        assert all('"type":"ERROR"' in f or '"type": "error"' in f for f in frames)


@pytest.mark.parametrize("level", ["ALL", "INCOMING", "OUTCOMING", "ERROR", "NONE"])
def test_no_log_line_ever_holds_a_password(caplog, level):
    lines = logged(caplog, level)
    assert not any(SECRET in line for line in lines)
    if level in ("ALL", "INCOMING"):
        logins = [line for line in lines if '"type": "USER_LOGIN"' in line]
        assert logins and all('"password": "***"' in line for line in logins)


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({"PORT": "5001", "SERVER_PORT": "5002"}, 5001),
        ({"PORT": "", "SERVER_PORT": "5002"}, 5002),
        ({"SERVER_PORT": "5002"}, 5002),
        ({}, 4000),
        ({"PORT": "", "SERVER_PORT": ""}, 4000),
    ],
)
def test_the_port_is_port_else_server_port_else_4000(monkeypatch, settings, env, port):
    settings.CHAT_PORT = 4000
    for name in ("PORT", "SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert chatserver.default_port() == port


@pytest.fixture
def served(monkeypatch):
    """What chatserver would bind, without starting a server."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        chatserver.serving,
        "run",
        lambda app, binds, *, server, **hooks: calls.append((binds, server)),
    )
    return calls


def test_the_port_option_beats_both_environment_variables(monkeypatch, served, settings):
    settings.CHAT_HOSTS = ["127.0.0.1", "::1"]
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.setenv("SERVER_PORT", "5002")
    out = io.StringIO()
    call_command("chatserver", "--port", "5003", stdout=out)
    call_command("chatserver", stdout=out)
    assert served == [
        ([("127.0.0.1", 5003), ("::1", 5003)], "uvicorn"),
        ([("127.0.0.1", 5001), ("::1", 5001)], "uvicorn"),
    ]
    assert "ws://localhost:5003/" in out.getvalue()


def test_serving_the_chat_runs_the_hooks_the_grader_registered(monkeypatch, settings):
    """chat.cluster imports nothing of the grader: grader.apps put its console listener in
    chat.hooks, and start_serving (the `serve` and `chatserver` start-up) runs every hook."""
    from chat import cluster, hooks
    from grader.control import start_listening

    assert start_listening in hooks._at_serving  # registered once, by GraderConfig.ready
    hooks.at_serving(start_listening)
    assert hooks._at_serving.count(start_listening) == 1
    ran: list[str] = []
    monkeypatch.setattr(hooks, "_at_serving", [lambda: ran.append("first")])
    hooks.at_serving(lambda: ran.append("second"))
    settings.REDIS_URL = ""  # no cluster to join: only the hooks run
    cluster.start_serving()
    assert ran == ["first", "second"]
