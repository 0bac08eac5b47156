"""What one chat room may hold, and its running account of what it holds.

The reference has no limits (§10): every user and message stays until the process ends, so
one client could grow the process without end. Ours are wide enough for any cohort's
session; a request past one is answered with an ERROR of our own (chat.frames), and the
room carries on. Sizes are counted in characters of the JSON the room would send back.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from chat.frames import DIALOG_FULL, MESSAGES_FULL, USERS_FULL


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps of one room (settings CHAT_MAX_USERS, CHAT_MAX_MESSAGES, ...)."""

    users: int = 10_000
    messages: int = 100_000
    stored_chars: int = 32 << 20  # logins, passwords and messages together
    # One dialog's messages as MSG_FROM_USER lists them: this bounds a history answer.
    dialog_chars: int = 128 << 10


class Budget:
    """Counts a room's users and messages against its Limits; each admit_* says no or records."""

    __slots__ = ("chars", "dialogs", "limits", "messages", "users")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.users = 0
        self.messages = 0
        self.chars = 0
        self.dialogs: dict[Hashable, int] = {}

    def admit_user(self, login: str, password: str) -> str | None:
        """A new user: None and counted, or the error to answer."""
        size = len(login) + len(password)
        if self.users >= self.limits.users or self.chars + size > self.limits.stored_chars:
            return USERS_FULL
        self.users += 1
        self.chars += size
        return None

    def admit_message(self, dialog: Hashable, size: int) -> str | None:
        """A new message of `size` characters in `dialog`: None and counted, or the error."""
        if self.dialogs.get(dialog, 0) + size > self.limits.dialog_chars:
            return DIALOG_FULL
        if self.messages >= self.limits.messages or self.chars + size > self.limits.stored_chars:
            return MESSAGES_FULL
        self.messages += 1
        self.chars += size
        self.dialogs[dialog] = self.dialogs.get(dialog, 0) + size
        return None

    def resize_message(self, dialog: Hashable, old: int, new: int) -> str | None:
        """An edit from `old` to `new` characters: None and counted, or the error."""
        grows = new - old
        if grows > 0:
            if self.dialogs.get(dialog, 0) + grows > self.limits.dialog_chars:
                return DIALOG_FULL
            if self.chars + grows > self.limits.stored_chars:
                return MESSAGES_FULL
        self.chars += grows
        self.dialogs[dialog] = self.dialogs.get(dialog, 0) + grows
        return None

    def forget_user(self, login: str, password: str) -> None:
        self.users -= 1
        self.chars -= len(login) + len(password)

    def forget_message(self, dialog: Hashable, size: int) -> None:
        self.messages -= 1
        self.chars -= size
        left = self.dialogs[dialog] - size
        if left:
            self.dialogs[dialog] = left
        else:  # a load test's many short dialogs must not pile up here
            del self.dialogs[dialog]

    def clear(self) -> None:
        self.users = self.messages = self.chars = 0
        self.dialogs.clear()
