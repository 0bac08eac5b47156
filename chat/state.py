"""The chat's state and the reference's per-type handlers (§4, §6, §8).

Handlers run after the envelope checks and the auth gate (chat.protocol). Each returns the
actions of one request: pushes to other connections first, then the one reply (§9).
Everything lives in one ChatState instance: no globals, so a process can hold several.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import cast

from chat import jscodec
from chat.frames import (
    ALREADY,
    ANOTHER_USER,
    BAD_MESSAGE_ID,
    NO_RECIPIENT,
    NO_USER,
    NOT_LOGGED_IN,
    NOT_RECIPIENT,
    NOT_SENDER,
    PASSWORD,
    PAYLOAD,
    SAME_LOGIN,
    Action,
    Close,
    SendText,
    error_frame,
    frame,
    push,
    user_json,
    user_payload,
)
from chat.limits import Budget, Limits
from chat.messages import Message, MessageStore

Conn = Hashable  # the transport-facing connection id
Handler = Callable[[Conn, "User | None", str, object], list[Action]]


def _field(container: object, key: str) -> object:
    """container.key as JavaScript reads a parsed value; None stands for undefined too."""
    return container.get(key) if isinstance(container, dict) else None


def _strings(container: object, *keys: str) -> tuple[str, ...] | None:
    """The named fields if all are strings, else None (incorrect payload parameters).

    A null container answers None as well: the reference crashes on it (§12) and we answer
    incorrect payload parameters, as §12 recommends.
    """
    if not isinstance(container, dict):
        return None
    values = tuple(map(container.get, keys))  # plain loops: this runs for every request
    for value in values:
        if not isinstance(value, str):
            return None
    return cast("tuple[str, ...]", values)  # each one checked just above


class User:
    """A registered user; `conn` is the connection they are logged in on, if any."""

    __slots__ = ("conn", "login", "password")

    def __init__(self, login: str, password: str) -> None:
        self.login = login
        self.password = password
        self.conn: Hashable | None = None


class ChatState:
    """Connections, users and messages, and what each request does to them."""

    def __init__(
        self,
        *,
        clock_ms: Callable[[], int],
        new_uuid: Callable[[], str],
        limits: Limits | None = None,
    ) -> None:
        self.budget = Budget(limits or Limits())
        self._clock_ms = clock_ms
        self._new_uuid = new_uuid
        self._opened = 0
        # Insertion order is opening order, which is fan-out order (§9); the value is the
        # user logged in on that connection.
        self.conns: dict[Hashable, User | None] = {}
        self._users: dict[str, User] = {}  # registration order (§6.5)
        self.store = MessageStore(self.budget)
        self.handlers: dict[str, Handler] = {
            "USER_LOGIN": self._login,
            "USER_LOGOUT": self._logout,
            "USER_ACTIVE": self._active,
            "USER_INACTIVE": self._inactive,
            "MSG_SEND": self._send,
            "MSG_FROM_USER": self._history,
            "MSG_COUNT_NOT_READED_FROM_USER": self._count,
            "MSG_READ": self._read,
            "MSG_DELETE": self._delete,
            "MSG_EDIT": self._edit,
        }

    # -- connections ------------------------------------------------------------------------

    def open(self) -> int:
        """A new unauthenticated connection; ids increase in opening order."""
        self._opened += 1
        self.conns[self._opened] = None
        return self._opened

    def close(self, conn: Hashable) -> list[Action]:
        """The socket closed: its user is offline at once, and the others hear it (§8.3)."""
        user = self.conns.pop(conn, None)
        if user is None:
            return []  # unknown, or not logged in: nobody is told (§6.4)
        user.conn = None
        return self._to_online(push("USER_EXTERNAL_LOGOUT", user_payload(user.login, False)))

    def clear(self) -> list[Action]:
        """The CLEAR_INTERVAL tick (§8.4): close every socket, then forget everyone."""
        actions: list[Action] = []
        # One by one in opening order. The reference runs each close handler before moving
        # on, so connections not yet closed hear of every logged-in one closed before them.
        for conn, user in list(self.conns.items()):
            actions.append(Close(conn))
            self.conns[conn] = None
            if user is not None:
                user.conn = None
                logout = push("USER_EXTERNAL_LOGOUT", user_payload(user.login, False))
                actions += self._to_online(logout)
        self.conns.clear()
        self._users.clear()
        self.store.clear()
        self.budget.clear()
        return actions

    def forget(self, login: str) -> bool:
        """Drop an offline user and every message to or from them; False if online or unknown.

        Not in the reference: the grader console uses it so its checker bots do not pile up
        in later students' user lists. Nobody is told, as the user was offline already.
        """
        user = self._users.get(login)
        if user is None or user.conn is not None:
            return False
        del self._users[login]
        self.budget.forget_user(login, user.password)
        self.store.forget_login(login)
        return True

    def _to_online(self, text: str, besides: Hashable = None) -> list[Action]:
        """One pre-encoded push to every logged-in connection but `besides`."""
        return [SendText(c, text) for c, u in self.conns.items() if u is not None and c != besides]

    # -- USER_* (§6.1-6.6) ------------------------------------------------------------------

    def _login(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """USER_LOGIN: the first login creates the user; the password is checked offline only."""
        fields = _strings(_field(payload, "user"), "login", "password")
        if fields is None:
            return [SendText(conn, error_frame(id_json, PAYLOAD))]
        login, password = fields
        if me is not None and me.login != login:
            return [SendText(conn, error_frame(id_json, ANOTHER_USER))]
        user = self._users.get(login)
        if user is None:
            full = self.budget.admit_user(login, password)
            if full is not None:
                return [SendText(conn, error_frame(id_json, full))]
            user = self._users[login] = User(login, password)
        elif user.conn is not None:  # before the password check (§6.1 step 4, §11.6)
            return [SendText(conn, error_frame(id_json, ALREADY))]
        elif user.password != password:
            return [SendText(conn, error_frame(id_json, PASSWORD))]
        user.conn = conn
        self.conns[conn] = user
        body = user_payload(login, True)
        actions = self._to_online(push("USER_EXTERNAL_LOGIN", body), besides=conn)
        actions.append(SendText(conn, frame(id_json, "USER_LOGIN", body)))
        return actions

    def _logout(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """USER_LOGOUT: from the user's own connection only; the socket stays open (§11.7)."""
        fields = _strings(_field(payload, "user"), "login", "password")
        if fields is None:
            return [SendText(conn, error_frame(id_json, PAYLOAD))]
        user = self._users.get(fields[0])
        if user is None:  # even on an unauthenticated connection (§6.2 step 2)
            return [SendText(conn, error_frame(id_json, NO_USER))]
        if user.password != fields[1]:
            return [SendText(conn, error_frame(id_json, PASSWORD))]
        if user is not me:  # offline, or online on another connection (§6.2 step 4)
            return [SendText(conn, error_frame(id_json, NOT_LOGGED_IN))]
        user.conn = None
        self.conns[conn] = None
        body = user_payload(user.login, False)
        actions = self._to_online(push("USER_EXTERNAL_LOGOUT", body))
        actions.append(SendText(conn, frame(id_json, "USER_LOGOUT", body)))
        return actions

    def _users_json(self, online: bool) -> str:
        """{"users":[...]}: the online or the offline users, in registration order."""
        users = self._users.values()
        listed = ",".join(
            user_json(u.login, online) for u in users if (u.conn is not None) == online
        )
        return f'{{"users":[{listed}]}}'

    def _active(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """USER_ACTIVE: the requester included (§11.4); the payload is ignored (§6.5)."""
        return [SendText(conn, frame(id_json, "USER_ACTIVE", self._users_json(True)))]

    def _inactive(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """USER_INACTIVE: every registered user who is offline; the payload is ignored."""
        return [SendText(conn, frame(id_json, "USER_INACTIVE", self._users_json(False)))]

    # -- MSG_* (§6.7-6.13); the auth gate has already ensured `me` --------------------------

    def _send(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """MSG_SEND: stored; pushed to the recipient alone, if online, which delivers it."""
        assert me is not None
        fields = _strings(_field(payload, "message"), "to", "text")
        if fields is None:
            return [SendText(conn, error_frame(id_json, PAYLOAD))]
        to, text = fields
        if to == me.login:
            return [SendText(conn, error_frame(id_json, SAME_LOGIN))]
        recipient = self._users.get(to)
        if recipient is None:
            return [SendText(conn, error_frame(id_json, NO_RECIPIENT))]
        now = int(self._clock_ms())  # one clock reading for the id and datetime (§5)
        message = Message(f"{self._new_uuid()}_{now}", me.login, to, text, now)
        message.delivered = recipient.conn is not None
        body = jscodec.dumps({"message": message.payload()})
        message.size = len(body) - 11  # its entry in a history answer, and a comma
        full = self.store.add(message)
        if full is not None:
            return [SendText(conn, error_frame(id_json, full))]
        actions: list[Action] = []
        if recipient.conn is not None:
            actions.append(SendText(recipient.conn, push("MSG_SEND", body)))
        actions.append(SendText(conn, frame(id_json, "MSG_SEND", body)))
        return actions

    def _peer(self, me: User, payload: object) -> User | str:
        """The user named by payload.user.login (MSG_FROM_USER, MSG_COUNT_...), or an error."""
        fields = _strings(_field(payload, "user"), "login")
        if fields is None:
            return PAYLOAD
        if fields[0] == me.login:
            return SAME_LOGIN
        return self._users.get(fields[0]) or NO_RECIPIENT

    def _history(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """MSG_FROM_USER: both directions by datetime; marks the peer's messages delivered."""
        assert me is not None
        peer = self._peer(me, payload)
        if isinstance(peer, str):
            return [SendText(conn, error_frame(id_json, peer))]
        thread = self.store.thread(me.login, peer.login)
        mine = [m for m in thread if m.sender == me.login]
        theirs = [m for m in thread if m.sender != me.login]
        actions: list[Action] = []
        for message in theirs:  # one MSG_DELIVER per message, in send order (§6.8)
            if not message.delivered:
                message.delivered = True
                if peer.conn is not None:
                    status = {"id": message.id, "status": {"isDelivered": True}}
                    body = jscodec.dumps({"message": status})
                    actions.append(SendText(peer.conn, push("MSG_DELIVER", body)))
        # Stable sort of [mine] + [theirs]: equal datetimes list the requester's first (§11.8).
        history = [m.payload() for m in sorted(mine + theirs, key=lambda m: m.datetime)]
        body = jscodec.dumps({"messages": history})
        actions.append(SendText(conn, frame(id_json, "MSG_FROM_USER", body)))
        return actions

    def _count(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """MSG_COUNT_NOT_READED_FROM_USER: the peer's unread messages to me; no side effect."""
        assert me is not None
        peer = self._peer(me, payload)
        if isinstance(peer, str):
            return [SendText(conn, error_frame(id_json, peer))]
        thread = self.store.thread(me.login, peer.login)
        count = sum(1 for m in thread if m.sender == peer.login and not m.read)
        body = f'{{"count":{count}}}'
        return [SendText(conn, frame(id_json, "MSG_COUNT_NOT_READED_FROM_USER", body))]

    def _target(self, payload: object, *more: str) -> tuple[Message, tuple[str, ...]] | str:
        """The message named by payload.message.id, with the `more` string fields; or an error."""
        fields = _strings(_field(payload, "message"), "id", *more)
        if fields is None:
            return PAYLOAD
        message = self.store.by_id.get(fields[0])
        return (message, fields) if message is not None else BAD_MESSAGE_ID

    def _read(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """MSG_READ: by the recipient; repeating it succeeds and pushes again (§11.5)."""
        assert me is not None
        target = self._target(payload)
        if isinstance(target, str):
            return [SendText(conn, error_frame(id_json, target))]
        message = target[0]
        if message.to != me.login:
            return [SendText(conn, error_frame(id_json, NOT_RECIPIENT))]
        message.read = True
        body = jscodec.dumps({"message": {"id": message.id, "status": {"isReaded": True}}})
        return self._reply_and_tell(self._users[message.sender], "MSG_READ", body, conn, id_json)

    def _delete(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """MSG_DELETE: by the sender; the message is removed, no tombstone (§11.10)."""
        assert me is not None
        target = self._target(payload)
        if isinstance(target, str):
            return [SendText(conn, error_frame(id_json, target))]
        message = target[0]
        if message.sender != me.login:
            return [SendText(conn, error_frame(id_json, NOT_SENDER))]
        self.store.drop(message)
        body = jscodec.dumps({"message": {"id": message.id, "status": {"isDeleted": True}}})
        return self._reply_and_tell(self._users[message.to], "MSG_DELETE", body, conn, id_json)

    def _edit(self, conn: Conn, me: User | None, id_json: str, payload: object) -> list[Action]:
        """MSG_EDIT: by the sender; new text and isEdited, datetime and flags unchanged."""
        assert me is not None
        target = self._target(payload, "text")
        if isinstance(target, str):
            return [SendText(conn, error_frame(id_json, target))]
        message, (_, text) = target
        if message.sender != me.login:
            return [SendText(conn, error_frame(id_json, NOT_SENDER))]
        old_text, old_size = message.text, message.size
        message.text = text
        message.size = len(jscodec.dumps(message.payload())) + 1  # flags only get shorter
        full = self.store.resize(message, old_size)
        if full is not None:
            message.text, message.size = old_text, old_size
            return [SendText(conn, error_frame(id_json, full))]
        message.edited = True
        edited = {"id": message.id, "text": text, "status": {"isEdited": True}}
        body = jscodec.dumps({"message": edited})
        return self._reply_and_tell(self._users[message.to], "MSG_EDIT", body, conn, id_json)

    @staticmethod
    def _reply_and_tell(
        other: User, kind: str, body: str, conn: Hashable, id_json: str
    ) -> list[Action]:
        """The same payload pushed to `other` if online, then as the reply (§6.15)."""
        reply = SendText(conn, frame(id_json, kind, body))
        if other.conn is None:
            return [reply]
        return [SendText(other.conn, push(kind, body)), reply]
