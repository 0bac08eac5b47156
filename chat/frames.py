"""What the chat core hands the transport: actions, error strings and frame texts.

Frames are assembled from pre-encoded JSON pieces so that one push text can be sent to many
connections. Key order and spelling are the reference's (§2, §5): id, type, payload.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from chat import jscodec

__all__ = ["Action", "Close", "SendText"]

# §7: every error string the reference sends, byte for byte.
STRUCTURE = "incorrect request structure"
TYPE = "incorrect type parameters"
PAYLOAD = "incorrect payload parameters"
NOT_AUTH = "the user was not authorized cannot be executed"
ANOTHER_USER = "another user is already authorized in this connection"
ALREADY = "a user with this login is already authorized"
PASSWORD = "incorrect password"
NO_USER = "there is no user with this login"
NOT_LOGGED_IN = "the user was not authorized"
SAME_LOGIN = "sender and recipient logins are the same"
NO_RECIPIENT = "the user with the specified login does not exist"
BAD_MESSAGE_ID = "incorrect message id"
NOT_RECIPIENT = "user not recipient cannot be executed"
NOT_SENDER = "user not sender cannot be executed"
# Ours: the reference has no limits (§10). Said when a room is full (chat.limits).
USERS_FULL = "the server cannot register more users"
MESSAGES_FULL = "the server cannot store more messages"
DIALOG_FULL = "the dialog cannot hold more messages"
# Documented by the reference's README for unexpected errors (§7); we send it only if a bug
# of ours raises, where the reference would crash the whole process instead (§12).
INTERNAL = "internal server error"


# Hashable and compared by value like frozen dataclasses, but with a plain __init__: a
# frozen one sets each field through object.__setattr__, five times slower, and a login
# makes one SendText per online user. Nothing mutates an action after it is made.
@dataclass(slots=True, unsafe_hash=True)
class SendText:
    """Write `text` as one text frame to `conn`."""

    conn: Hashable
    text: str


@dataclass(slots=True, unsafe_hash=True)
class Close:
    """Close `conn` with no status code (the reference's ws.close(): the peer sees 1005)."""

    conn: Hashable


Action = SendText | Close


def error_frame(id_json: str, error: str) -> str:
    """An ERROR frame (§6.14); id_json is the echoed id, already JSON text."""
    return f'{{"id":{id_json},"type":"ERROR","payload":{{"error":"{error}"}}}}'


def frame(id_json: str, kind: str, payload_json: str) -> str:
    """A frame from JSON texts."""
    return f'{{"id":{id_json},"type":"{kind}","payload":{payload_json}}}'


def push(kind: str, payload_json: str) -> str:
    """A frame the server initiates: its id is always null (§2)."""
    return f'{{"id":null,"type":"{kind}","payload":{payload_json}}}'


def user_json(login: str, online: bool) -> str:
    """The user object of §5; the password is never sent back."""
    return f'{{"login":{jscodec.string(login)},"isLogined":{"true" if online else "false"}}}'


def user_payload(login: str, online: bool) -> str:
    """{"user": <user object>}: USER_LOGIN/USER_LOGOUT replies and the presence pushes."""
    return f'{{"user":{user_json(login, online)}}}'


STRUCTURE_ERROR = error_frame("null", STRUCTURE)
