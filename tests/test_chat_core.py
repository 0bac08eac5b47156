"""The chat core (chat.protocol.ChatRoom) against the spec, with no sockets.

Spec: docs/fun-chat-protocol.md, cited as §n. The clock and the uuid source are
injected, so every frame is compared as the exact text the reference would send.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from chat.protocol import ChatRoom
from tests.chatkit import CLOSED, T0, Chat, err, rendered, uid

SERVER_ONLY = [
    "ERROR",
    "USER_EXTERNAL_LOGIN",
    "USER_EXTERNAL_LOGOUT",
    "MSG_DELIVER",
    "MSG_DELETED_FROM_SERVER",
    "MSG_READED_FROM_SERVER",
    "MSG_SENDED_FROM_SERVER",
    "MSG_EDITED_FROM_SERVER",
]
AUTH_ONLY = [
    "USER_ACTIVE",
    "USER_INACTIVE",
    "MSG_SEND",
    "MSG_FROM_USER",
    "MSG_COUNT_NOT_READED_FROM_USER",
    "MSG_READ",
    "MSG_DELETE",
    "MSG_EDIT",
]


def user_frame(id_json: str, type_: str, login: str, online: bool) -> str:
    user = f'{{"login":"{login}","isLogined":{"true" if online else "false"}}}'
    return f'{{"id":{id_json},"type":"{type_}","payload":{{"user":{user}}}}}'


def message_json(n: int, sender: str, to: str, text: str, ms: int, *flags: bool) -> str:
    delivered, read, edited = ("true" if f else "false" for f in flags)
    return (
        f'{{"id":"{uid(n)}_{ms}","from":"{sender}","to":"{to}","text":"{text}","datetime":{ms},'
        f'"status":{{"isDelivered":{delivered},"isReaded":{read},"isEdited":{edited}}}}}'
    )


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.fixture
def pair(chat) -> tuple[int, int]:
    """ann on the first connection, ben on the second; ann's login push consumed."""
    a, b = chat.open(2)
    chat.login(a, "ann")
    chat.login(b, "ben")
    return a, b


# -- §3 step 1-2: structure errors and the id rule of §2 ---------------------------------


@pytest.mark.parametrize(
    "text", ["not json", "", " ", "{", '{"id":"x",}', "{'id':'x'}", "NaN", "[1,]", '"open']
)
def test_invalid_json_gets_a_structure_error_with_a_null_id(chat, text):
    (a,) = chat.open()
    assert chat.send(a, text) == [(a, err("null", "structure"))]


@pytest.mark.parametrize("text", ["null", "5", '"str"', "[]", '[{"id":"x"}]', "true"])
def test_a_top_level_value_that_is_not_an_object_gets_a_structure_error(chat, text):
    """The literal null crashes the reference (§12); §12 recommends this answer instead."""
    (a,) = chat.open()
    assert chat.send(a, text) == [(a, err("null", "structure"))]


@pytest.mark.parametrize(
    ("text", "echoed"),
    [
        ('{"id":7,"type":"USER_LOGIN","payload":{}}', "7"),
        ('{"id":"s-4","type":"USER_LOGIN"}', '"s-4"'),
        ('{"id":"s-5","type":"USER_LOGIN","payload":"str"}', '"s-5"'),
        ('{"id":"s-6","type":5,"payload":{}}', '"s-6"'),
        ('{"id":"s-7","type":null,"payload":{}}', '"s-7"'),
        ('{"id":"s-8","type":"USER_ACTIVE","payload":true}', '"s-8"'),
        ('{"id":"s-9","type":"USER_ACTIVE","payload":0}', '"s-9"'),
        ('{"id":true,"type":"USER_ACTIVE","payload":{}}', "true"),
        ('{"id":1.50,"type":"USER_ACTIVE","payload":{}}', "1.5"),
        ('{"id":1e21,"type":"USER_ACTIVE","payload":{}}', "1e+21"),
        ('{"id":12345678901234567890,"type":"X","payload":{}}', "12345678901234567000"),
        ('{"id":[],"type":"X","payload":{}}', "[]"),
        ('{"id":{"b":1,"1":2},"type":"X","payload":{}}', '{"1":2,"b":1}'),
        ('{"id":"","type":1,"payload":{}}', "null"),
        ('{"id":0,"type":"USER_LOGIN","payload":{}}', "null"),
        ('{"id":-0.0,"type":"USER_LOGIN","payload":{}}', "null"),
        ('{"id":false,"type":"USER_LOGIN","payload":{}}', "null"),
        ('{"type":"USER_LOGIN","payload":{}}', "null"),
        ('{"id":null,"type":"USER_LOGIN"}', "null"),
        ("{}", "null"),
    ],
)
def test_a_structure_error_echoes_the_id_only_when_it_is_truthy(chat, text, echoed):
    """§2: `(id) || null`, whatever the id's JSON type; numbers print as JavaScript's do."""
    (a,) = chat.open()
    assert chat.send(a, text) == [(a, err(echoed, "structure"))]


def test_the_envelope_check_runs_before_the_type_and_auth_checks(chat):
    (a,) = chat.open()
    frame = '{"id":"x","type":"HELLO","payload":"not an object"}'
    assert chat.send(a, frame) == [(a, err('"x"', "structure"))]
    frame = '{"id":"y","type":"MSG_SEND"}'
    assert chat.send(a, frame) == [(a, err('"y"', "structure"))]


def test_extra_top_level_and_payload_fields_are_ignored(chat):
    (a,) = chat.open()
    frame = {
        "id": "x",
        "type": "USER_LOGIN",
        "extra": 1,
        "payload": {"user": {"login": "ann", "password": "pw", "age": 3}, "more": []},
    }
    assert chat.send(a, frame) == [(a, user_frame('"x"', "USER_LOGIN", "ann", True))]


# -- §3 steps 3-4: the type check ----------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [*SERVER_ONLY, "HELLO", "user_login", "Msg_Send", "", " USER_LOGIN"]
)
def test_unknown_wrong_case_and_server_only_types_get_a_type_error(chat, kind):
    (a,) = chat.open()
    assert chat.request(a, "t", kind, {}) == [(a, err('"t"', "type"))]


def test_the_type_check_comes_before_the_auth_gate(chat):
    (a,) = chat.open()
    assert chat.request(a, "t", "MSG_DELIVER", None) == [(a, err('"t"', "type"))]


@pytest.mark.parametrize("id_", ["", None, "ann", 'with "quotes" and \\', "юникод ✓"])
def test_every_other_error_echoes_the_id_verbatim_including_empty_and_null(chat, id_):
    (a,) = chat.open()
    id_json = json.dumps(id_, ensure_ascii=False)
    assert chat.request(a, id_, "HELLO", {}) == [(a, err(id_json, "type"))]
    assert chat.request(a, id_, "USER_ACTIVE", None) == [(a, err(id_json, "not_auth"))]


def test_a_lone_surrogate_id_is_echoed_as_javascript_prints_it(chat):
    (a,) = chat.open()
    frame = '{"id":"\\uD800x","type":"X","payload":{}}'
    assert chat.send(a, frame) == [(a, err('"\\ud800x"', "type"))]


# -- §3 step 5: the auth gate, before payload validation -----------------------------------


@pytest.mark.parametrize("kind", AUTH_ONLY)
@pytest.mark.parametrize("payload", [None, {}, [], {"message": 5}, {"user": None}])
def test_the_auth_gate_answers_before_payload_validation(chat, kind, payload):
    (a,) = chat.open()
    assert chat.request(a, "g", kind, payload) == [(a, err('"g"', "not_auth"))]


def test_the_auth_gate_applies_again_after_a_logout(chat):
    (a,) = chat.open()
    chat.login(a, "ann")
    chat.logout(a, "ann")
    assert chat.request(a, "g", "USER_ACTIVE", None) == [(a, err('"g"', "not_auth"))]


# -- §3 step 6: payload validation, per type -----------------------------------------------

BAD_USER_PAYLOADS = [
    None,  # crashes the reference (§12)
    {"user": None},  # crashes the reference (§12)
    {},
    [],
    {"login": "ann", "password": "x"},
    {"user": {"login": "ann"}},
    {"user": {"password": "x"}},
    {"user": {"login": "ann", "password": 123}},
    {"user": {"login": 5, "password": "x"}},
    {"user": {"login": None, "password": "x"}},
    {"user": "ann"},
    {"user": []},
]


@pytest.mark.parametrize("kind", ["USER_LOGIN", "USER_LOGOUT"])
@pytest.mark.parametrize("payload", BAD_USER_PAYLOADS)
def test_login_and_logout_with_a_bad_payload_get_a_payload_error(chat, kind, payload):
    (a,) = chat.open()
    assert chat.request(a, "p", kind, payload) == [(a, err('"p"', "payload"))]


def test_a_logged_in_connection_checks_the_login_payload_before_anything_else(chat):
    (a,) = chat.open()
    chat.login(a, "ann")
    assert chat.request(a, "p", "USER_LOGIN", {"user": None}) == [(a, err('"p"', "payload"))]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("MSG_SEND", None),  # crashes the reference (§12)
        ("MSG_SEND", {}),
        ("MSG_SEND", {"message": None}),
        ("MSG_SEND", {"message": ""}),
        ("MSG_SEND", {"message": {"to": "ben"}}),
        ("MSG_SEND", {"message": {"text": "hi"}}),
        ("MSG_SEND", {"message": {"to": "ben", "text": 5}}),
        ("MSG_SEND", {"message": {"to": None, "text": "hi"}}),
        ("MSG_SEND", {"message": ["ben", "hi"]}),
        ("MSG_FROM_USER", None),
        ("MSG_FROM_USER", {"user": None}),
        ("MSG_FROM_USER", {"user": {}}),
        ("MSG_FROM_USER", {"user": {"login": 7}}),
        ("MSG_FROM_USER", {"login": "ben"}),
        ("MSG_COUNT_NOT_READED_FROM_USER", None),
        ("MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": []}}),
        ("MSG_READ", None),
        ("MSG_READ", {"message": {}}),
        ("MSG_READ", {"message": {"id": 5}}),
        ("MSG_READ", {"id": "x"}),
        ("MSG_DELETE", None),
        ("MSG_DELETE", {"message": {"id": None}}),
        ("MSG_EDIT", None),
        ("MSG_EDIT", {"message": {"id": "x"}}),
        ("MSG_EDIT", {"message": {"text": "x"}}),
        ("MSG_EDIT", {"message": {"id": "x", "text": 1}}),
    ],
)
def test_an_authenticated_request_with_a_bad_payload_gets_a_payload_error(
    chat, pair, kind, payload
):
    a, _ = pair
    assert chat.request(a, "p", kind, payload) == [(a, err('"p"', "payload"))]


def test_payload_validation_comes_before_the_business_checks(chat, pair):
    a, _ = pair
    # MSG_EDIT of an unknown id without text: the payload error, not the id error
    frame = {"message": {"id": "nope"}}
    assert chat.request(a, "p", "MSG_EDIT", frame) == [(a, err('"p"', "payload"))]
    # MSG_SEND to oneself with numeric text: the payload error, not "same"
    frame = {"message": {"to": "ann", "text": 1}}
    assert chat.request(a, "p", "MSG_SEND", frame) == [(a, err('"p"', "payload"))]


# -- §6.1 USER_LOGIN ------------------------------------------------------------------------


def test_the_first_login_creates_the_user_and_tells_every_other_logged_in_connection(chat):
    a, b, _idle = chat.open(3)
    assert chat.login(a, "ann") == [(a, user_frame('"in-ann"', "USER_LOGIN", "ann", True))]
    assert chat.login(b, "ben", "pwB") == [
        (a, user_frame("null", "USER_EXTERNAL_LOGIN", "ben", True)),
        (b, user_frame('"in-ben"', "USER_LOGIN", "ben", True)),
    ]


def test_a_connection_logged_in_as_one_user_cannot_log_in_as_another(chat):
    a, b = chat.open(2)
    chat.login(a, "ann")
    chat.login(b, "ben")
    # "another user" comes before both "already authorized" and the password check
    assert chat.login(a, "ben", "wrong") == [(a, err('"in-ben"', "another"))]
    assert chat.login(a, "cat") == [(a, err('"in-cat"', "another"))]
    inactive = chat.reply(a, "i", "USER_INACTIVE", None)
    assert inactive == '{"id":"i","type":"USER_INACTIVE","payload":{"users":[]}}'  # no cat


def test_logging_in_again_as_oneself_is_already_authorized(chat):
    (a,) = chat.open()
    chat.login(a, "ann")
    assert chat.login(a, "ann") == [(a, err('"in-ann"', "already"))]


def test_a_wrong_password_for_a_user_online_elsewhere_is_already_authorized(chat):
    """§11.6: the online check comes before the password check."""
    a, b = chat.open(2)
    chat.login(a, "ann", "right")
    assert chat.login(b, "ann", "wrong") == [(b, err('"in-ann"', "already"))]
    assert chat.login(b, "ann", "right") == [(b, err('"in-ann"', "already"))]


def test_an_offline_user_must_give_the_first_password_exactly(chat):
    a, b = chat.open(2)
    chat.login(a, "ann", "Secret")
    chat.logout(a, "ann", "Secret")
    for wrong in ["secret", "Secret ", ""]:
        assert chat.login(b, "ann", wrong) == [(b, err('"in-ann"', "password"))]
    assert chat.login(b, "ann", "Secret") == [
        (b, user_frame('"in-ann"', "USER_LOGIN", "ann", True))
    ]


def test_a_failed_login_leaves_the_connection_free_to_log_in_as_anyone(chat):
    a, b = chat.open(2)
    chat.login(a, "ann")
    assert chat.login(b, "ann") == [(b, err('"in-ann"', "already"))]
    assert chat.request(b, "g", "USER_ACTIVE", None) == [(b, err('"g"', "not_auth"))]
    assert chat.login(b, "ben")[-1] == (b, user_frame('"in-ben"', "USER_LOGIN", "ben", True))


def test_empty_and_unicode_logins_and_passwords_are_valid_and_exact(chat):
    a, b = chat.open(2)
    assert chat.login(a, "", "") == [(a, user_frame('"in-"', "USER_LOGIN", "", True))]
    assert chat.login(b, "Ann ✓", "пароль")[-1] == (
        b,
        user_frame('"in-Ann ✓"', "USER_LOGIN", "Ann ✓", True),
    )
    assert chat.reply(a, "u", "USER_ACTIVE", None) == (
        '{"id":"u","type":"USER_ACTIVE","payload":{"users":[{"login":"","isLogined":true},'
        '{"login":"Ann ✓","isLogined":true}]}}'
    )


# -- §6.2 USER_LOGOUT -----------------------------------------------------------------------


def test_a_logout_answers_and_tells_the_other_logged_in_connections(chat):
    a, b, _idle = chat.open(3)
    chat.login(a, "ann")
    chat.login(b, "ben")
    assert chat.logout(b, "ben") == [
        (a, user_frame("null", "USER_EXTERNAL_LOGOUT", "ben", False)),
        (b, user_frame('"out-ben"', "USER_LOGOUT", "ben", False)),
    ]


def test_logout_errors_come_in_the_spec_order(chat):
    a, b, c = chat.open(3)
    # unknown login, even on an unauthenticated connection
    assert chat.logout(c, "ghost") == [(c, err('"out-ghost"', "no_user"))]
    chat.login(a, "ann")
    chat.login(b, "ben")
    # ben is online elsewhere: a wrong password is reported first
    assert chat.logout(a, "ben", "wrong") == [(a, err('"out-ben"', "password"))]
    # the right password, but ben is logged in on another connection
    assert chat.logout(a, "ben") == [(a, err('"out-ben"', "not_logged_in"))]
    chat.logout(b, "ben")
    # and ben, now offline, cannot be logged out twice
    assert chat.logout(b, "ben") == [(b, err('"out-ben"', "not_logged_in"))]


def test_after_logout_the_socket_stays_open_and_unauthenticated(chat):
    """§11.7: no Close; the auth gate applies; no pushes reach it; it can log in again."""
    a, b = chat.open(2)
    chat.login(a, "ann")
    actions = chat.logout(a, "ann")
    assert CLOSED not in [text for _, text in actions]
    assert chat.request(a, "g", "USER_ACTIVE", {}) == [(a, err('"g"', "not_auth"))]
    assert chat.login(b, "ben") == [(b, user_frame('"in-ben"', "USER_LOGIN", "ben", True))]
    assert chat.login(a, "cat")[-1] == (a, user_frame('"in-cat"', "USER_LOGIN", "cat", True))


# -- §6.5-6.6 USER_ACTIVE / USER_INACTIVE ---------------------------------------------------


def test_user_lists_are_in_registration_order_and_include_the_requester(chat):
    """§11.4: the requester is in USER_ACTIVE; the payload's content is ignored."""
    a, b, c = chat.open(3)
    for conn, login in [(c, "zed"), (a, "ann"), (b, "moe")]:
        chat.login(conn, login)
    chat.logout(b, "moe")
    chat.login(b, "bob")
    active = '{"id":"x","type":"USER_ACTIVE","payload":{"users":[{"login":"zed","isLogined":true},{"login":"ann","isLogined":true},{"login":"bob","isLogined":true}]}}'  # noqa: E501
    for payload in [None, {}, {"anything": 1}, [1, 2]]:
        assert chat.reply(a, "x", "USER_ACTIVE", payload) == active
    inactive = chat.reply(a, "y", "USER_INACTIVE", None)
    assert inactive == (
        '{"id":"y","type":"USER_INACTIVE","payload":{"users":[{"login":"moe","isLogined":false}]}}'
    )


# -- §6.7 MSG_SEND --------------------------------------------------------------------------


def test_a_message_to_an_online_user_is_pushed_to_them_alone_before_the_reply(chat):
    a, b, c = chat.open(3)
    for conn, login in [(a, "ann"), (b, "ben"), (c, "cat")]:
        chat.login(conn, login)
    message = message_json(1, "ann", "ben", "hello ben", T0, True, False, False)
    actions = chat.request(a, "a-2", "MSG_SEND", {"message": {"to": "ben", "text": "hello ben"}})
    assert actions == [
        (b, f'{{"id":null,"type":"MSG_SEND","payload":{{"message":{message}}}}}'),
        (a, f'{{"id":"a-2","type":"MSG_SEND","payload":{{"message":{message}}}}}'),
    ]


def test_a_message_to_an_offline_user_is_stored_undelivered_and_pushed_to_nobody(chat):
    a, b = chat.open(2)
    chat.login(b, "ben")
    chat.logout(b, "ben")
    chat.login(a, "ann")
    message = message_json(1, "ann", "ben", "later", T0, False, False, False)
    assert chat.request(a, "s", "MSG_SEND", {"message": {"to": "ben", "text": "later"}}) == [
        (a, f'{{"id":"s","type":"MSG_SEND","payload":{{"message":{message}}}}}'),
    ]


def test_empty_text_is_accepted(chat, pair):
    a, b = pair
    actions = chat.request(a, "e", "MSG_SEND", {"message": {"to": "ben", "text": ""}})
    assert [conn for conn, _ in actions] == [b, a]
    assert '"text":"","datetime"' in actions[1][1]


def test_message_send_errors(chat, pair):
    a, _ = pair
    for to, key in [("ann", "same"), ("ghost", "no_recipient"), ("", "no_recipient")]:
        frame = {"message": {"to": to, "text": "x"}}
        assert chat.request(a, "m", "MSG_SEND", frame) == [(a, err('"m"', key))]
    history = chat.reply(a, "h", "MSG_FROM_USER", {"user": {"login": "ben"}})
    assert history == '{"id":"h","type":"MSG_FROM_USER","payload":{"messages":[]}}'


def test_message_ids_are_a_uuid4_and_the_creation_millisecond(pair):
    """§5, §11.11 with the real clock and uuid: datetime is Date.now(), in milliseconds."""
    world = ChatRoom()
    a, b = world.connect(), world.connect()
    for conn, login in [(a, "ann"), (b, "ben")]:
        world.receive(
            conn,
            json.dumps(
                {
                    "id": "l",
                    "type": "USER_LOGIN",
                    "payload": {"user": {"login": login, "password": "p"}},
                }
            ),
        )
    before = time.time() * 1000
    frame = {"id": "s", "type": "MSG_SEND", "payload": {"message": {"to": "ben", "text": "t"}}}
    reply = world.receive(a, json.dumps(frame))[-1]
    after = time.time() * 1000
    message = json.loads(reply.text)["payload"]["message"]
    assert isinstance(message["datetime"], int)
    assert before - 1 <= message["datetime"] <= after + 1
    uuid_part, ms = message["id"].rsplit("_", 1)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid_part
    )
    assert int(ms) == message["datetime"]


# -- §6.8 MSG_FROM_USER and MSG_DELIVER -----------------------------------------------------


def test_history_marks_the_peers_messages_delivered_with_pushes_in_send_order_first(chat):
    """§9: MSG_DELIVER pushes go to the online sender, in send order, before the reply."""
    a, b = chat.open(2)
    chat.login(b, "ben")
    chat.logout(b, "ben")
    chat.login(a, "ann")
    ids = []
    for i, text in enumerate(["one", "two", "three"]):
        chat.ms = T0 + 10 * i
        ids.append(chat.message(a, "ben", text))
    assert chat.login(b, "ben")[0] == (a, user_frame("null", "USER_EXTERNAL_LOGIN", "ben", True))
    chat.ms = T0 + 100
    actions = chat.request(b, "h-6", "MSG_FROM_USER", {"user": {"login": "ann"}})
    delivers = [
        (
            a,
            f'{{"id":null,"type":"MSG_DELIVER","payload":{{"message":{{"id":"{i}","status":{{"isDelivered":true}}}}}}}}',
        )
        for i in ids
    ]
    history = ",".join(
        message_json(n + 1, "ann", "ben", text, T0 + 10 * n, True, False, False)
        for n, text in enumerate(["one", "two", "three"])
    )
    assert actions == [
        *delivers,
        (b, f'{{"id":"h-6","type":"MSG_FROM_USER","payload":{{"messages":[{history}]}}}}'),
    ]
    # delivered once: the next fetch pushes nothing
    assert [
        conn for conn, _ in chat.request(b, "h-7", "MSG_FROM_USER", {"user": {"login": "ann"}})
    ] == [b]


def test_logging_in_or_counting_unread_delivers_nothing(chat):
    """§11.3: delivery is marked by MSG_FROM_USER alone."""
    a, b = chat.open(2)
    chat.login(b, "ben")
    chat.logout(b, "ben")
    chat.login(a, "ann")
    chat.message(a, "ben", "later")
    assert [conn for conn, _ in chat.login(b, "ben")] == [a, b]  # the login push only
    count = chat.reply(b, "c", "MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": "ann"}})
    assert count == '{"id":"c","type":"MSG_COUNT_NOT_READED_FROM_USER","payload":{"count":1}}'
    own = chat.reply(a, "h", "MSG_FROM_USER", {"user": {"login": "ben"}})
    assert '"isDelivered":false' in own  # the sender's own fetch delivers nothing either


def test_history_delivers_silently_when_the_sender_is_offline(chat):
    a, b = chat.open(2)
    chat.login(b, "ben")
    chat.logout(b, "ben")
    chat.login(a, "ann")
    chat.message(a, "ben", "later")
    chat.logout(a, "ann")
    chat.login(b, "ben")
    history = chat.reply(b, "h", "MSG_FROM_USER", {"user": {"login": "ann"}})
    assert '"isDelivered":true' in history


def test_history_covers_both_directions_only_between_the_two_by_datetime(chat):
    a, b, c = chat.open(3)
    for conn, login in [(a, "ann"), (b, "ben"), (c, "cat")]:
        chat.login(conn, login)
    chat.ms = T0 + 5
    chat.message(a, "ben", "late")
    chat.ms = T0 + 1
    chat.message(b, "ann", "early")  # a clock that went back still sorts by datetime
    chat.message(c, "ann", "other thread")
    history = json.loads(chat.reply(a, "h", "MSG_FROM_USER", {"user": {"login": "ben"}}))
    assert [m["text"] for m in history["payload"]["messages"]] == ["early", "late"]


def test_history_ties_at_the_same_millisecond_list_the_requesters_messages_first(chat, pair):
    """§11.8: a stable sort over [requester's] + [peer's], whatever the real order."""
    a, b = pair
    chat.message(b, "ann", "ben-1")
    chat.message(a, "ben", "ann-1")
    chat.message(b, "ann", "ben-2")
    chat.message(a, "ben", "ann-2")

    def texts(conn, peer):
        reply = chat.reply(conn, "h", "MSG_FROM_USER", {"user": {"login": peer}})
        return [m["text"] for m in json.loads(reply)["payload"]["messages"]]

    assert texts(a, "ben") == ["ann-1", "ann-2", "ben-1", "ben-2"]
    assert texts(b, "ann") == ["ben-1", "ben-2", "ann-1", "ann-2"]


def test_history_and_count_errors(chat, pair):
    a, _ = pair
    for kind in ["MSG_FROM_USER", "MSG_COUNT_NOT_READED_FROM_USER"]:
        for login, key in [("ann", "same"), ("ghost", "no_recipient"), ("", "no_recipient")]:
            assert chat.request(a, "q", kind, {"user": {"login": login}}) == [(a, err('"q"', key))]


# -- §6.9 and §6.11-6.13: count, read, delete, edit -----------------------------------------


def test_read_pushes_to_the_sender_then_answers_and_a_repeat_pushes_again(chat, pair):
    """§11.5: MSG_READ of a read message is no error and notifies the sender again."""
    a, b = pair
    msg = chat.message(a, "ben", "hi")
    body = f'{{"message":{{"id":"{msg}","status":{{"isReaded":true}}}}}}'
    for attempt in ["r-4", "r-5"]:
        assert chat.request(b, attempt, "MSG_READ", {"message": {"id": msg}}) == [
            (a, f'{{"id":null,"type":"MSG_READ","payload":{body}}}'),
            (b, f'{{"id":"{attempt}","type":"MSG_READ","payload":{body}}}'),
        ]


def test_read_touches_only_the_read_flag_and_drops_the_unread_count(chat):
    a, b = chat.open(2)
    chat.login(b, "ben")
    chat.logout(b, "ben")
    chat.login(a, "ann")
    first = chat.message(a, "ben", "one")
    chat.message(a, "ben", "two")
    chat.logout(a, "ann")
    chat.login(b, "ben")
    # the sender is offline: the read is answered with no push
    assert chat.request(b, "r", "MSG_READ", {"message": {"id": first}}) == [
        (
            b,
            f'{{"id":"r","type":"MSG_READ","payload":{{"message":{{"id":"{first}","status":{{"isReaded":true}}}}}}}}',
        ),
    ]
    count = chat.reply(b, "c", "MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": "ann"}})
    assert count.endswith('"payload":{"count":1}}')
    status = json.loads(chat.reply(b, "h", "MSG_FROM_USER", {"user": {"login": "ann"}}))
    # delivered by this fetch, not by the read
    assert [m["status"] for m in status["payload"]["messages"]] == [
        {"isDelivered": True, "isReaded": True, "isEdited": False},
        {"isDelivered": True, "isReaded": False, "isEdited": False},
    ]


def test_count_is_of_the_peers_unread_messages_to_me_only(chat, pair):
    a, b = pair
    chat.message(a, "ben", "1")
    chat.message(a, "ben", "2")
    chat.message(b, "ann", "3")
    count = chat.reply(b, "c", "MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": "ann"}})
    assert count == '{"id":"c","type":"MSG_COUNT_NOT_READED_FROM_USER","payload":{"count":2}}'
    again = chat.reply(b, "c", "MSG_COUNT_NOT_READED_FROM_USER", {"user": {"login": "ann"}})
    assert again == count  # counting has no side effect


def test_read_errors(chat, pair):
    a, b = pair
    (c,) = chat.open()
    chat.login(c, "cat")
    msg = chat.message(a, "ben", "hi")
    assert chat.request(b, "r", "MSG_READ", {"message": {"id": "nope"}}) == [
        (b, err('"r"', "message_id"))
    ]
    for conn in [a, c]:  # the sender and a third party
        assert chat.request(conn, "r", "MSG_READ", {"message": {"id": msg}}) == [
            (conn, err('"r"', "not_recipient"))
        ]


def test_edit_pushes_to_the_recipient_and_keeps_datetime_and_flags(chat, pair):
    a, b = pair
    msg = chat.message(a, "ben", "hi B")
    chat.request(b, "r", "MSG_READ", {"message": {"id": msg}})
    chat.ms = T0 + 5000
    body = f'{{"message":{{"id":"{msg}","text":"hi B (edited)","status":{{"isEdited":true}}}}}}'
    edit = {"message": {"id": msg, "text": "hi B (edited)"}}
    assert chat.request(a, "ed-3", "MSG_EDIT", edit) == [
        (b, f'{{"id":null,"type":"MSG_EDIT","payload":{body}}}'),
        (a, f'{{"id":"ed-3","type":"MSG_EDIT","payload":{body}}}'),
    ]
    history = chat.reply(b, "h", "MSG_FROM_USER", {"user": {"login": "ann"}})
    edited = message_json(1, "ann", "ben", "hi B (edited)", T0, True, True, True)
    assert history == f'{{"id":"h","type":"MSG_FROM_USER","payload":{{"messages":[{edited}]}}}}'


def test_edit_accepts_empty_or_unchanged_text(chat, pair):
    a, _ = pair
    msg = chat.message(a, "ben", "same")
    for text in ["same", ""]:
        actions = chat.request(a, "e", "MSG_EDIT", {"message": {"id": msg, "text": text}})
        assert json.loads(actions[-1][1])["type"] == "MSG_EDIT"


def test_delete_pushes_to_the_recipient_and_leaves_no_tombstone(chat, pair):
    """§11.10: the message vanishes from history, the unread count drops, its id is gone."""
    a, b = pair
    keep = chat.message(a, "ben", "keep")
    gone = chat.message(a, "ben", "gone")
    count = {"user": {"login": "ann"}}
    assert chat.reply(b, "c", "MSG_COUNT_NOT_READED_FROM_USER", count).endswith('{"count":2}}')
    body = f'{{"message":{{"id":"{gone}","status":{{"isDeleted":true}}}}}}'
    assert chat.request(a, "d-2", "MSG_DELETE", {"message": {"id": gone}}) == [
        (b, f'{{"id":null,"type":"MSG_DELETE","payload":{body}}}'),
        (a, f'{{"id":"d-2","type":"MSG_DELETE","payload":{body}}}'),
    ]
    assert chat.reply(b, "c", "MSG_COUNT_NOT_READED_FROM_USER", count).endswith('{"count":1}}')
    history = json.loads(chat.reply(b, "h", "MSG_FROM_USER", count))["payload"]["messages"]
    assert [m["id"] for m in history] == [keep]
    assert "isDeleted" not in json.dumps(history)
    for kind, payload in [
        ("MSG_DELETE", {"message": {"id": gone}}),
        ("MSG_READ", {"message": {"id": gone}}),
        ("MSG_EDIT", {"message": {"id": gone, "text": "x"}}),
    ]:
        conn = b if kind == "MSG_READ" else a
        assert chat.request(conn, "z", kind, payload) == [(conn, err('"z"', "message_id"))]


def test_delete_and_edit_by_anyone_but_the_sender_are_refused(chat, pair):
    a, b = pair
    (c,) = chat.open()
    chat.login(c, "cat")
    msg = chat.message(a, "ben", "hi")
    for conn in [b, c]:  # the recipient and a third party
        for kind, payload in [
            ("MSG_DELETE", {"message": {"id": msg}}),
            ("MSG_EDIT", {"message": {"id": msg, "text": "hack"}}),
        ]:
            assert chat.request(conn, "x", kind, payload) == [(conn, err('"x"', "not_sender"))]
    for kind, payload in [
        ("MSG_DELETE", {"message": {"id": "nope"}}),
        ("MSG_EDIT", {"message": {"id": "nope", "text": "x"}}),
    ]:
        assert chat.request(b, "x", kind, payload) == [(b, err('"x"', "message_id"))]


def test_pushes_for_read_edit_and_delete_skip_an_offline_party(chat, pair):
    a, b = pair
    msg = chat.message(a, "ben", "hi")
    chat.logout(b, "ben")
    assert [
        c for c, _ in chat.request(a, "e", "MSG_EDIT", {"message": {"id": msg, "text": "x"}})
    ] == [a]
    chat.login(b, "ben")
    chat.logout(a, "ann")
    assert [c for c, _ in chat.request(b, "r", "MSG_READ", {"message": {"id": msg}})] == [b]
    chat.login(a, "ann")
    chat.logout(b, "ben")
    assert [c for c, _ in chat.request(a, "d", "MSG_DELETE", {"message": {"id": msg}})] == [a]


def test_status_spellings_are_the_references(chat, pair):
    """§11.1: isReaded and isLogined, never isRead or isLoggedIn."""
    a, _ = pair
    texts = [
        t for _, t in chat.request(a, "s", "MSG_SEND", {"message": {"to": "ben", "text": "x"}})
    ]
    texts += [t for _, t in chat.login(*chat.open(), "cat")]
    joined = "".join(texts)
    assert '"isReaded":false' in joined and '"isLogined":true' in joined
    assert '"isRead"' not in joined and "isLoggedIn" not in joined


# -- §9 ordering ----------------------------------------------------------------------------


def test_broadcasts_follow_connection_opening_order_not_login_order(chat):
    c1, _c2, c3, c4, c5 = chat.open(5)  # c2 stays unauthenticated
    for conn, login in [(c4, "d"), (c1, "a"), (c3, "c")]:
        chat.login(conn, login)
    actions = chat.login(c5, "e")
    assert [conn for conn, _ in actions] == [c1, c3, c4, c5]
    assert [conn for conn, _ in chat.logout(c5, "e")] == [c1, c3, c4, c5]
    assert [conn for conn, _ in rendered(chat.room.disconnect(c3))] == [c1, c4]


def test_unauthenticated_and_logged_out_connections_get_no_pushes(chat):
    a, _idle, gone = chat.open(3)
    chat.login(gone, "gus")
    chat.logout(gone, "gus")
    assert [conn for conn, _ in chat.login(a, "ann")] == [a]


# -- disconnect (§6.4, §8.3) ----------------------------------------------------------------


def test_closing_a_logged_in_socket_logs_the_user_out_for_the_others_only(chat):
    a, b, _idle = chat.open(3)
    chat.login(a, "ann", "pwA")
    chat.login(b, "ben")
    assert rendered(chat.room.disconnect(a)) == [
        (b, user_frame("null", "USER_EXTERNAL_LOGOUT", "ann", False)),
    ]
    assert chat.reply(b, "u", "USER_INACTIVE", None) == (
        '{"id":"u","type":"USER_INACTIVE","payload":{"users":[{"login":"ann","isLogined":false}]}}'
    )
    (again,) = chat.open()
    assert chat.login(again, "ann", "wrong") == [(again, err('"in-ann"', "password"))]
    assert chat.login(again, "ann", "pwA")[-1] == (
        again,
        user_frame('"in-ann"', "USER_LOGIN", "ann", True),
    )


def test_closing_an_unauthenticated_or_logged_out_socket_tells_nobody(chat):
    a, b, c = chat.open(3)
    chat.login(a, "ann")
    chat.login(c, "cat")
    chat.logout(c, "cat")
    assert chat.room.disconnect(b) == []
    assert chat.room.disconnect(c) == []
    assert chat.room.disconnect(c) == []  # twice is harmless
    assert chat.room.disconnect(999) == []


def test_a_frame_from_a_closed_connection_is_ignored(chat):
    (a,) = chat.open()
    chat.login(a, "ann")
    chat.room.disconnect(a)
    assert chat.login(a, "ann") == []


# -- clear() (§8.4) -------------------------------------------------------------------------


def test_clear_closes_in_opening_order_and_the_rest_hear_each_logged_in_one_go(chat):
    c1, c2, c3, c4 = chat.open(4)
    chat.login(c1, "ann")
    chat.login(c3, "ben")
    chat.login(c4, "cat")
    chat.message(c1, "ben", "forgotten")
    out_ann = user_frame("null", "USER_EXTERNAL_LOGOUT", "ann", False)
    out_ben = user_frame("null", "USER_EXTERNAL_LOGOUT", "ben", False)
    assert rendered(chat.room.clear()) == [
        (c1, CLOSED),
        (c3, out_ann),
        (c4, out_ann),
        (c2, CLOSED),
        (c3, CLOSED),
        (c4, out_ben),
        (c4, CLOSED),
    ]
    # The old connections are gone; their close events are no-ops.
    assert chat.login(c2, "x") == []
    assert chat.room.disconnect(c3) == []


def test_after_clear_users_and_messages_are_gone_and_a_new_password_works(chat):
    a, b = chat.open(2)
    chat.login(a, "ann", "old")
    chat.login(b, "ben")
    msg = chat.message(a, "ben", "forgotten")
    chat.room.clear()
    c, d = chat.open(2)
    assert chat.login(c, "ann", "new") == [(c, user_frame('"in-ann"', "USER_LOGIN", "ann", True))]
    assert chat.reply(c, "i", "USER_INACTIVE", None).endswith('{"users":[]}}')
    frame = {"message": {"to": "ben", "text": "x"}}
    assert chat.request(c, "s", "MSG_SEND", frame) == [(c, err('"s"', "no_recipient"))]
    chat.login(d, "ben")
    assert chat.request(d, "r", "MSG_READ", {"message": {"id": msg}}) == [
        (d, err('"r"', "message_id"))
    ]
    assert json.loads(chat.reply(c, "h", "MSG_FROM_USER", {"user": {"login": "ben"}}))[
        "payload"
    ] == {"messages": []}


def test_clear_of_an_empty_world_does_nothing(chat):
    assert chat.room.clear() == []


# -- §12: the reference's crash inputs get the recommended ERROR ----------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("null", err("null", "structure")),
        ('{"id":"c1","type":"USER_LOGIN","payload":null}', err('"c1"', "payload")),
        ('{"id":"c2","type":"USER_LOGIN","payload":{"user":null}}', err('"c2"', "payload")),
        ('{"id":"c3","type":"USER_LOGOUT","payload":null}', err('"c3"', "payload")),
        ('{"id":"c4","type":"USER_LOGOUT","payload":{"user":null}}', err('"c4"', "payload")),
        *[
            (f'{{"id":"c-{kind}","type":"{kind}","payload":null}}', err(f'"c-{kind}"', "payload"))
            for kind in AUTH_ONLY[2:]
        ],
    ],
)
def test_the_references_crash_inputs_get_an_error_and_the_world_carries_on(
    chat, pair, frame, expected
):
    a, b = pair
    assert chat.send(a, frame) == [(a, expected)]
    actions = chat.request(a, "after", "MSG_SEND", {"message": {"to": "ben", "text": "still here"}})
    assert [conn for conn, _ in actions] == [b, a]


# -- frames: size limit, binary, JSON fidelity ----------------------------------------------


def test_a_frame_over_the_size_limit_gets_a_structure_error_and_nothing_else():
    chat = Chat(max_frame_bytes=120)
    (a,) = chat.open()
    login = '{"id":"l","type":"USER_LOGIN","payload":{"user":{"login":"ann","password":"pw"}}}'
    padded = login[:-1] + ',"p":"' + "x" * (120 - len(login) - 7) + '"}'
    assert len(padded) == 120
    assert chat.send(a, padded) == [(a, user_frame('"l"', "USER_LOGIN", "ann", True))]
    chat.room.disconnect(a)
    (b,) = chat.open()
    over = login[:-1] + ',"p":"' + "x" * 200 + '"}'
    assert chat.send(b, over) == [(b, err("null", "structure"))]
    assert chat.send(b, over.encode()) == [(b, err("null", "structure"))]
    # the limit is on UTF-8 bytes: 108 characters, but 148 bytes
    euros = login[:-1] + ',"p":"' + "€" * 20 + '"}'
    assert len(euros) < 120 and chat.send(b, euros) == [(b, err("null", "structure"))]
    # the refused login did not happen
    assert chat.request(b, "g", "USER_ACTIVE", None) == [(b, err('"g"', "not_auth"))]


def test_a_binary_frame_is_parsed_like_a_text_frame(chat):
    (a,) = chat.open()
    frame = b'{"id":"b","type":"USER_LOGIN","payload":{"user":{"login":"ann","password":"pw"}}}'
    assert chat.send(a, frame) == [(a, user_frame('"b"', "USER_LOGIN", "ann", True))]
    assert chat.send(a, bytearray(b"not json")) == [(a, err("null", "structure"))]


def test_invalid_utf8_in_a_binary_frame_reads_as_replacement_characters(chat):
    (a,) = chat.open()
    frame = b'{"id":"\xff","type":"USER_LOGIN","payload":{"user":{"login":"a\xc3","password":""}}}'
    assert chat.send(a, frame) == [(a, user_frame('"\ufffd"', "USER_LOGIN", "a\ufffd", True))]


def test_deep_nesting_within_the_limit_and_huge_numbers_in_an_ignored_payload_are_fine(chat, pair):
    """1024 levels (CHAT_MAX_JSON_DEPTH's default) parse; deeper is tests/test_chat_bounds.py."""
    a, _ = pair
    deep = '{"id":"d","type":"USER_ACTIVE","payload":' + "[" * 1023 + "]" * 1023 + "}"
    assert chat.send(a, deep)[0][1].startswith('{"id":"d","type":"USER_ACTIVE"')
    huge = '{"id":"n","type":"USER_ACTIVE","payload":{"n":1e400,"m":' + "9" * 5000 + "}}"
    assert chat.send(a, huge)[0][1].startswith('{"id":"n","type":"USER_ACTIVE"')


def test_texts_round_trip_exactly_as_javascript_prints_them(chat, pair):
    a, _ = pair
    text = 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f \u2028 emoji 😀 lone \ud800'
    frame = json.dumps(
        {"id": "x", "type": "MSG_SEND", "payload": {"message": {"to": "ben", "text": text}}}
    )
    reply = chat.send(a, frame)[-1][1]
    expected = (
        '"text":"quote \\" backslash \\\\ newline \\n tab \\t nul \\u0000 del \x7f \u2028 '
        'emoji 😀 lone \\ud800"'
    )
    assert expected in reply
