"""The score items a chat server can observe, judged from a recorded frame list.

Pure functions over Frames (grader.recorder) and the markers a check run leaves on the
timeline (grader.checkrun): no sockets, clock or database, so every rule is unit-tested on
hand-made recordings. Item numbers and points are the task's score table ("task item 8.2"; see
docs/fun-chat-protocol.md §15).

Each item is PASSED when the server saw the client do its part, FAILED when it saw the
client do something wrong or leave out something it must do on its own, and NOT_OBSERVED
when the recording cannot tell (for example, the grader never performed the action). What
the screen shows stays the grader's call.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.checks.dialogue import delete_own, edit_own, history, no_empty_message
from grader.checks.hygiene import floods, protocol_errors
from grader.checks.lists import unread_counts, users_listed
from grader.checks.reconnect import reconnects, relogs_in
from grader.checks.recording import (
    FAILED,
    ITEM_BY_CODE,
    ITEMS,
    M_BOT,
    M_CONFIRMED,
    M_CUT,
    M_END,
    M_LOSS,
    M_MESSAGES,
    M_NO_ATTEMPT,
    M_ONLINE,
    M_OPEN_MESSAGE,
    M_SKIPPED,
    M_START,
    M_STEP,
    NOT_OBSERVED,
    PASSED,
    S_ACTIONS,
    S_CLICK,
    S_COUNTER,
    S_EDITED,
    S_OPEN,
    S_RELOAD,
    Item,
    Limits,
    Recording,
    Result,
    clock,
)
from grader.checks.status import delivered, read
from grader.recorder import MARK, OPEN, REFUSED, Frame

__all__ = [
    "FAILED",
    "ITEMS",
    "ITEM_BY_CODE",
    "M_BOT",
    "M_CONFIRMED",
    "M_CUT",
    "M_END",
    "M_LOSS",
    "M_MESSAGES",
    "M_NO_ATTEMPT",
    "M_ONLINE",
    "M_OPEN_MESSAGE",
    "M_SKIPPED",
    "M_START",
    "M_STEP",
    "NOT_OBSERVED",
    "PASSED",
    "RULES",
    "S_ACTIONS",
    "S_CLICK",
    "S_COUNTER",
    "S_EDITED",
    "S_OPEN",
    "S_RELOAD",
    "Item",
    "Limits",
    "Result",
    "clock",
    "evaluate",
    "relevant",
]

RULES = (
    users_listed,
    unread_counts,
    history,
    delete_own,
    edit_own,
    no_empty_message,
    delivered,
    read,
    reconnects,
    relogs_in,
    protocol_errors,
    floods,
)


def evaluate(frames: Sequence[Frame], *, login: str, limits: Limits | None = None) -> list[Result]:
    """Every item's verdict, in the task's order."""
    rec = Recording(frames, login=login, limits=limits or Limits())
    return [rule(rec) for rule in RULES]


def relevant(frames: Sequence[Frame], *, login: str) -> list[Frame]:
    """The frames a report keeps: the student's and the bots' connections, and the timeline."""
    rec = Recording(frames, login=login, limits=Limits())
    loss = rec.mark(M_LOSS)
    return [
        f
        for f in rec.frames
        if f.dir in (MARK, REFUSED)
        or f.bot
        or rec.student(f)
        or (loss is not None and f.seq > loss.seq and f.dir == OPEN)
    ]
