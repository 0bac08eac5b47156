"""A room's stored messages: by id, and by dialog in send order, counted by its Budget."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from chat.frames import MESSAGES_FULL
from chat.limits import Budget

Pair = tuple[str, str]


class Message:
    """A stored message (§4), compared by identity."""

    __slots__ = ("datetime", "delivered", "edited", "id", "read", "sender", "size", "text", "to")

    def __init__(self, id: str, sender: str, to: str, text: str, datetime: int) -> None:
        self.id = id
        self.sender = sender
        self.to = to
        self.text = text
        self.datetime = datetime
        self.delivered = False
        self.read = False
        self.edited = False
        self.size = 0  # characters in a history answer (chat.limits)

    def payload(self) -> dict[str, object]:
        """The message object of §5 in the reference's key order; isDeleted is never sent."""
        status = {"isDelivered": self.delivered, "isReaded": self.read, "isEdited": self.edited}
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.to,
            "text": self.text,
            "datetime": self.datetime,
            "status": status,
        }


def pair_of(a: str, b: str) -> tuple[str, str]:
    """The key of the conversation between two logins."""
    return (a, b) if a < b else (b, a)


class MessageStore:
    """Every message of a room. Past the room's caps on messages or characters the oldest
    messages are forgotten to make room; past one dialog's cap a request is refused.

    The reference keeps every message until it stops. A room that refused every send once
    full would be dead for the whole cohort (and for a load test run twice); the oldest
    message is the one nobody reads. The dialog cap is never lifted this way: it is what
    keeps one history answer bounded.
    """

    __slots__ = ("budget", "by_id", "threads")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        # Send order, the oldest first. An OrderedDict finds its first entry at once; a dict
        # emptied from the front scans every removed slot before it (quadratic eviction).
        self.by_id: OrderedDict[str, Message] = OrderedDict()
        self.threads: dict[Pair, list[Message]] = {}  # by dialog, in send order

    def thread(self, a: str, b: str) -> list[Message]:
        return self.threads.get(pair_of(a, b), [])

    def add(self, message: Message) -> str | None:
        """Store a new message (its size set); None, or the error to answer."""
        pair = pair_of(message.sender, message.to)
        full = self._evicting(lambda: self.budget.admit_message(pair, message.size))
        if full is None:
            self.by_id[message.id] = message
            self.threads.setdefault(pair, []).append(message)
        return full

    def resize(self, message: Message, old_size: int) -> str | None:
        """Count an edit that took `message` from `old_size` to its size; None, or the error."""
        pair = pair_of(message.sender, message.to)
        return self._evicting(
            lambda: self.budget.resize_message(pair, old_size, message.size), keep=message
        )

    def drop(self, message: Message) -> None:
        del self.by_id[message.id]
        pair = pair_of(message.sender, message.to)
        thread = self.threads[pair]
        thread.remove(message)  # by identity; an evicted one is the first
        if not thread:
            del self.threads[pair]
        self.budget.forget_message(pair, message.size)

    def forget_login(self, login: str) -> None:
        """Every message to or from `login`."""
        for pair in [p for p in self.threads if login in p]:
            for message in list(self.threads[pair]):
                self.drop(message)

    def clear(self) -> None:
        self.by_id.clear()
        self.threads.clear()

    def _evicting(self, admit: Callable[[], str | None], keep: Message | None = None) -> str | None:
        """`admit()`, forgetting the oldest messages (never `keep`) for as long as the
        room's caps on messages and characters are what refuses."""
        full = admit()
        while full == MESSAGES_FULL and self.by_id:
            oldest = next(iter(self.by_id.values()))
            if oldest is keep:
                break
            self.drop(oldest)
            full = admit()
        return full
