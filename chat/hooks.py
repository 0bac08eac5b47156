"""Where other apps plug into the chat server; the chat itself imports none of them.

Two extension points, both filled by the grader app (grader.apps) at start-up:

- a **tap** on a room's hub (`Hub.tap`): told of every connection event and every frame in
  and out, e.g. to record them for the grader console. A hub without one pays a single
  attribute test per frame;
- **serving hooks**: called once in a chat-serving process's event loop (`serve`,
  `chatserver`) after the process joined the cluster, e.g. to answer console commands.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol


class Tap(Protocol):
    """What the hub calls; every method must be cheap and must never raise."""

    def opened(self, conn: Hashable, peer: dict[str, Any]) -> None: ...
    def incoming(self, conn: Hashable, frame: str | bytes) -> None: ...
    def outgoing(self, conn: Hashable, text: str) -> None: ...
    def kicked(self, conn: Hashable) -> None: ...
    def closed(self, conn: Hashable) -> None: ...
    def cleared(self) -> None: ...
    def refused(self, peer: dict[str, Any]) -> None: ...


_at_serving: list[Callable[[], None]] = []


def at_serving(hook: Callable[[], None]) -> None:
    """Call `hook` when a process starts serving the chat (once, however often registered)."""
    if hook not in _at_serving:
        _at_serving.append(hook)


def serving_started() -> None:
    """Run the serving hooks, in the order they were registered."""
    for hook in _at_serving:
        hook()
