"""What the site's WebSocket consumers share."""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name


class NoSweepDispatch:
    """Channels' dispatch without its database-thread hop before every event.

    Since Channels 4.2, `AsyncConsumer.dispatch` awaits `aclose_old_connections()` before
    each handler: one trip to the site's single database thread per frame and per group
    event, queued behind every page request of that process. A consumer that touches the
    database only through `database_sync_to_async` (which closes stale connections before
    and after each call, on that same thread) gains nothing from it; under a cohort it
    doubled the hops of every saved answer. Mix it in before the Channels base class.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
