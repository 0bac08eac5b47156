"""The item rules on hand-made recordings, and the recorder that makes real ones."""

from __future__ import annotations

import json

import pytest

from chat.consumers import peer_of
from chat.protocol import ChatRoom
from grader import checks
from grader.recorder import MAX_TEXT, Frame, Recorder, fingerprint
from tests.checkscript import BOT, STUDENT, Script, with_bot

# -- 5.1 and 5.4 ------------------------------------------------------------------------------


def test_users_listed_passes_when_both_lists_follow_each_login():
    s = Script()
    s.login(1)
    s.lists(1, [BOT], ["zoe"])
    s.add("close", 1, dt=5)
    result = s.verdict("5.1")
    assert result.status == checks.PASSED
    assert [s.frames[i - 1].type for i in result.evidence][:2] == ["USER_ACTIVE", "USER_ACTIVE"]


def test_users_listed_fails_without_the_offline_users_and_names_the_missing_request():
    s = Script()
    s.login(1)
    s.reply(s.request(1, "USER_ACTIVE"), {"users": []})
    s.add("close", 1, dt=5)
    result = s.verdict("5.1")
    assert result.status == checks.FAILED
    assert "USER_INACTIVE" in result.summary


def test_a_session_cut_short_before_its_window_is_not_judged():
    s = Script()
    s.login(1)
    s.add("kick", 1, dt=0.5)  # closed half a second after the login, before any list
    assert s.verdict("5.1").status == checks.NOT_OBSERVED
    assert s.verdict("5.4").status == checks.NOT_OBSERVED


def test_users_listed_is_not_observed_when_the_student_never_logs_in():
    s = Script()
    s.login(1, login="someone-else")
    s.lists(1, [], [])
    result = s.verdict("5.1")
    assert result.status == checks.NOT_OBSERVED and "'ann'" in result.summary


def test_unread_counts_need_one_request_per_listed_user_within_the_window():
    s = Script()
    s.login(1)
    s.lists(1, [BOT], ["zoe", "yan"])
    s.reply(s.request(1, "MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": BOT}}), {"count": 2})
    s.history(1, "zoe")
    s.history(1, "yan", messages=1)
    s.add("close", 1, dt=5)
    assert s.verdict("5.4").status == checks.PASSED

    late = Script()
    late.login(1)
    late.lists(1, [BOT], ["zoe"])
    late.history(1, BOT)
    late.history(1, "zoe", dt=10)  # far too late
    late.add("close", 1, dt=1)
    result = late.verdict("5.4")
    assert result.status == checks.FAILED and "'zoe'" in result.summary


# -- 6.2, 6.12, 6.13, 7.3 -----------------------------------------------------------------------


def test_history_fails_when_the_client_writes_to_the_bot_without_ever_fetching_it():
    s = with_bot()
    s.login(1)
    s.request(1, "MSG_SEND", {"message": {"to": BOT, "text": "hello"}})
    result = s.verdict("6.2")
    assert result.status == checks.FAILED and "never asked" in result.summary

    s.history(1, BOT, messages=3)
    assert s.verdict("6.2").status == checks.PASSED


def test_a_client_logged_in_before_the_run_began_is_known_by_its_frames_login():
    s = with_bot()  # no USER_LOGIN in the recording: the student was online already
    s.history(1, BOT, messages=2)
    result = s.verdict("6.2")
    assert result.status == checks.PASSED and "2 message(s)" in result.summary


def test_history_is_not_observed_when_the_dialogue_was_never_used():
    s = with_bot()
    s.login(1)
    assert s.verdict("6.2").status == checks.NOT_OBSERVED


def test_deleting_passes_on_the_servers_yes_and_fails_on_someone_elses_message():
    s = with_bot()
    s.login(1)
    own = s.request(1, "MSG_DELETE", {"message": {"id": "m-own"}})
    s.push("b", "MSG_DELETE", {"message": {"id": "m-own"}}, login=BOT, bot=True, cause=own.seq)
    s.reply(own, {"message": {"id": "m-own", "status": {"isDeleted": True}}})
    result = s.verdict("6.12")
    assert result.status == checks.PASSED
    assert any("told at once" in d for d in result.details)

    other = s.request(1, "MSG_DELETE", {"message": {"id": "m-bot"}})
    s.reply(other, {"error": "user not sender cannot be executed"}, kind="ERROR")
    assert s.verdict("6.12").status == checks.FAILED


def test_an_edit_to_an_empty_text_fails_6_13_and_is_not_observed_without_edits():
    s = with_bot()
    s.login(1)
    assert s.verdict("6.13").status == checks.NOT_OBSERVED
    edit = s.request(1, "MSG_EDIT", {"message": {"id": "m1", "text": ""}})
    s.reply(edit, {"message": {"id": "m1", "text": "", "status": {"isEdited": True}}})
    result = s.verdict("6.13")
    assert result.status == checks.FAILED and "empty" in result.summary


def test_an_empty_message_fails_7_3_but_whitespace_is_a_message():
    """7.3 passes only once the grader confirms trying an empty message; one that arrives fails."""
    s = with_bot()
    s.login(1)
    s.prompt(checks.S_ACTIONS)
    s.request(1, "MSG_SEND", {"message": {"to": BOT, "text": " "}})
    untried = s.verdict("7.3")
    assert untried.status == checks.NOT_OBSERVED and "did not confirm" in untried.summary
    s.confirm(checks.S_ACTIONS, dt=20)
    assert s.verdict("7.3").status == checks.PASSED
    s.request(1, "MSG_SEND", {"message": {"to": BOT, "text": ""}})
    assert s.verdict("7.3").status == checks.FAILED


# -- 8.1, 8.2 -------------------------------------------------------------------------------------


def cut_and_return(s: Script) -> str:
    s.login(1)
    s.add("kick", 1)
    msg = s.bot_sends(delivered=False)
    s.mark(checks.M_CUT, msg=msg, delivered=False)
    s.login(2)
    return msg


def test_delivery_passes_when_the_relogin_fetches_the_history_and_the_bot_is_told():
    s = with_bot()
    msg = cut_and_return(s)
    fetch = s.history(2, BOT, messages=1)
    s.push(
        "b",
        "MSG_DELIVER",
        {"message": {"id": msg, "status": {"isDelivered": True}}},
        login=BOT,
        bot=True,
        cause=fetch.seq,
    )
    result = s.verdict("8.1")
    assert result.status == checks.PASSED and "after the student logged in again" in result.summary


def test_delivery_fails_when_the_client_logs_in_but_never_fetches_that_history():
    s = with_bot()
    cut_and_return(s)
    s.lists(2, [BOT], [])
    s.add("close", 2, dt=5)
    result = s.verdict("8.1")
    assert result.status == checks.FAILED and "stayed undelivered" in result.summary


def test_delivery_is_not_observed_if_the_client_never_came_back():
    s = with_bot()
    s.login(1)
    s.add("kick", 1)
    s.mark(checks.M_CUT, msg=s.bot_sends(delivered=False), delivered=False)
    assert s.verdict("8.1").status == checks.NOT_OBSERVED


def test_read_status_is_not_observed_when_the_dialogue_was_never_opened():
    s = with_bot()
    s.login(1)
    s.mark(checks.M_MESSAGES, unread=[s.bot_sends()])
    assert s.verdict("8.2").status == checks.NOT_OBSERVED


# -- 11.1, 11.2 -----------------------------------------------------------------------------------


def loss(s: Script) -> None:
    s.login(1)
    s.mark(checks.M_LOSS, outage=3)
    s.mark("clear")
    s.add("kick", 1)


def test_reconnect_and_relogin_pass_with_the_times_they_took():
    s = Script()
    loss(s)
    s.add("refused", dt=0.5)
    s.add("refused", dt=1.0)
    s.t += 2
    s.login(2)
    reconnect, relogin = s.verdict("11.1"), s.verdict("11.2")
    assert reconnect.status == relogin.status == checks.PASSED
    assert "reconnected 3.5" in reconnect.summary
    assert any("2 connection attempt(s) were refused" in d for d in reconnect.details)
    assert "after the loss" in relogin.summary


def test_a_reconnect_without_a_login_passes_11_1_and_fails_11_2():
    s = Script()
    loss(s)
    s.add("open", 2, dt=1)
    s.add("close", 2, dt=9)
    assert s.verdict("11.1").status == checks.PASSED
    relogin = s.verdict("11.2")
    assert relogin.status == checks.FAILED and "never logged" in relogin.summary


def test_a_client_that_gives_up_or_never_tries_fails_both():
    """Refused attempts and then silence is giving up; no attempt at all is said so."""
    s = Script()
    loss(s)
    s.add("refused", dt=0.2)
    s.mark(checks.M_END, dt=10)
    reconnect = s.verdict("11.1")
    assert reconnect.status == checks.FAILED and "gave up" in reconnect.summary
    assert s.verdict("11.2").status == checks.FAILED

    silent = Script()
    loss(silent)
    silent.mark(checks.M_END, dt=10)
    assert "no attempt" in silent.verdict("11.1").summary


def test_without_a_simulated_loss_11_1_and_11_2_are_not_observed():
    s = Script()
    s.login(1)
    assert s.verdict("11.1").status == s.verdict("11.2").status == checks.NOT_OBSERVED


# -- protocol hygiene -----------------------------------------------------------------------------


def test_login_errors_are_noted_but_protocol_errors_fail_with_their_requests():
    s = Script()
    s.add("open", 1)
    wrong = s.request(1, "USER_LOGIN", {"user": {"login": STUDENT, "password": "bad"}}, login=None)
    s.reply(wrong, {"error": "incorrect password"}, kind="ERROR", login=None)
    s.login(1)
    result = s.verdict("P.1")
    assert result.status == checks.PASSED and "1 login error" in result.details[0]

    bad = s.request(1, "MSG_READ", {"message": {"id": "nope"}})
    s.reply(bad, {"error": "incorrect message id"}, kind="ERROR")
    result = s.verdict("P.1")
    assert result.status == checks.FAILED
    assert bad.seq in result.evidence


def test_a_burst_explained_by_the_user_list_is_no_flood_but_repeats_are():
    s = Script()
    s.login(1)
    users = [f"u{i}" for i in range(20)]
    s.lists(1, users, [])
    for user in users:
        s.history(1, user)
    assert s.verdict("P.2").status == checks.PASSED

    for _ in range(checks.Limits().repeats + 1):
        s.request(1, "USER_ACTIVE", dt=0.05)
    result = s.verdict("P.2")
    assert result.status == checks.FAILED and "same USER_ACTIVE request" in result.summary


# -- the recorder ------------------------------------------------------------------------------


@pytest.fixture
def recorder() -> tuple[Recorder, list[Frame]]:
    room = ChatRoom()
    rec = Recorder(room, clock=lambda: 1.0)
    got: list[Frame] = []
    rec.sinks.append(got.append)
    return rec, got


def test_the_recorder_masks_passwords_and_never_fingerprints_them(recorder):
    rec, got = recorder
    login = '{"id":"1","type":"USER_LOGIN","payload":{"user":{"login":"ann","password":"s3cret"}}}'
    rec.incoming(1, login)
    rec.incoming(1, login.replace("s3cret", "other"))
    first, second = got
    assert "s3cret" not in first.text and '"password":"***"' in first.text
    assert first.info == {"key": second.info["key"], "login": "ann"}  # same key: no password in it


def test_the_recorder_keeps_the_digest_of_a_long_frame_but_cuts_its_text(recorder):
    rec, got = recorder
    text = "x" * (MAX_TEXT * 2)
    rec.outgoing(
        1,
        json.dumps(
            {"id": None, "type": "MSG_SEND", "payload": {"message": {"to": "b", "text": text}}}
        ),
    )
    frame = got[0]
    assert len(frame.text) == MAX_TEXT
    assert frame.info["text_len"] == MAX_TEXT * 2 and frame.info["cut"] > MAX_TEXT


def test_the_recorder_makes_frames_safe_for_a_json_column(recorder):
    rec, got = recorder
    rec.incoming(
        1, '{"id":"\\ud800","type":"MSG_SEND","payload":{"message":{"to":"\\u0000b","text":""}}}'
    )
    rec.incoming(1, "not json \ud800")
    frame, broken = got
    assert frame.id == "\ufffd" and frame.info["to"] == "\ufffdb" and frame.info["text_len"] == 0
    assert (
        broken.type is None and broken.info == {"malformed": True} and "\ud800" not in broken.text
    )
    json.dumps([f.as_dict() for f in got]).encode("utf-8")  # no lone surrogate anywhere


def test_replies_and_pushes_point_at_the_request_that_caused_them(recorder):
    rec, got = recorder
    rec.incoming(1, '{"id":"a","type":"USER_ACTIVE","payload":null}')
    rec.outgoing(2, '{"id":null,"type":"USER_EXTERNAL_LOGIN","payload":{"user":{"login":"x"}}}')
    rec.outgoing(1, '{"id":"a","type":"USER_ACTIVE","payload":{"users":[]}}')
    request, push, reply = got
    assert push.cause == reply.cause == request.seq


def test_the_recorder_keeps_each_sockets_handshake_for_attribution(recorder):
    """Opened and refused sockets carry address, port, Origin and User-Agent; bots none."""
    rec, got = recorder
    peer = {"addr": "127.0.0.1", "port": 50000, "origin": "http://localhost:5173", "agent": "A"}
    rec.opened(1, peer)
    rec.refused({**peer, "port": 50001})
    rec.expect_bot()
    rec.opened(2, {})
    opened, refused, bot = got
    assert opened.info == peer and refused.info["port"] == 50001
    assert fingerprint(opened.info) == fingerprint(refused.info) is not None
    assert bot.bot and fingerprint(bot.info) is None


def test_a_sockets_handshake_is_read_from_its_asgi_scope():
    scope = {
        "client": ("10.0.0.7", 41234),
        "headers": [(b"origin", b"http://localhost:5173"), (b"user-agent", b"Chromium/1")],
    }
    assert peer_of(scope) == {
        "addr": "10.0.0.7",
        "port": 41234,
        "origin": "http://localhost:5173",
        "agent": "Chromium/1",
    }
    assert peer_of({})["addr"] is None  # no client known: nothing to tie sockets by
